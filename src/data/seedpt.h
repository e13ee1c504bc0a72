/* seedpt.h — the seed's partition files: torch.save(TensorDataset(image f32 (N,5,32,32),
 * magnitude f64 (N,5), redshift f32 (N,))), read through the restricted ZIP+pickle reader.
 * Owns: recognising that layout and writing it. Must not touch: the model, stores. */
#ifndef CAI_SEEDPT_H
#define CAI_SEEDPT_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

typedef struct {
    int64_t n;
    const float *images;   /* (n,5,32,32), points into the buffer (or `owned` if it had to be copied) */
    const double *mags;    /* (n,5) float64 */
    const float *redshift; /* (n,) */
    void *owned;           /* non-NULL when data had to be copied for alignment; freed by close */
} cai_seedpt;

/* Parse a seed partition held in memory (the buffer must outlive `out`). Validates the ZIP, the pickle,
 * the class (torch.utils.data.dataset.TensorDataset), the three tensors' dtypes and shapes, and that all
 * three have the same N. `name` (file or key) appears in every error message. */
int cai_seedpt_parse(const void *buf, size_t len, const char *name, cai_seedpt *out, cai_err *err);
void cai_seedpt_close(cai_seedpt *p);

/* Write the same layout torch.save would (ZIP of data.pkl + data/0..2 + version), readable by
 * torch.load. */
int cai_seedpt_write(const char *path, int64_t n, const float *images, const double *mags, const float *redshift,
                     cai_err *err);

#endif
