/* model_internal.h — the cai_model struct, shared by model.c (load) and forward.c (sessions). Not for
 * use outside src/model. */
#ifndef CAI_MODEL_INTERNAL_H
#define CAI_MODEL_INTERNAL_H

#include "config.h"
#include "dnn.h"
#include "kernels.h"
#include "model.h"
#include "../format/safetensors.h"
#include "weights.h"

struct cai_model {
    cai_config cfg;
    cai_weights w;
    cai_safetensors st; /* keeps the file mapped: most weights point into it */
    cai_precision prec;
    int qdyn; /* int8 with dynamic per-batch activation scales (CAI_INT8_SCALES=dynamic) instead of calibrated */
    int64_t nparams;
    double load_seconds;
    const cai_kernels *k; /* own kernels for this CPU (AVX2 or AVX-512), chosen at load */
    cai_wpack *pack;      /* matmul weights in oneDNN's preferred layout, packed on first use (dnn.h) */
};

/* int8: static activation scales from one fp32 run on a fixed synthetic batch (calib.c). */
int cai_calibrate(cai_model *m, cai_err *err);
/* The fp32 forward pass on n galaxies (float32 magnitudes), recording per block the [min, max] of the
 * int8 blocks' four quantized inputs (forward.c). */
int cai_forward_ranges(const cai_model *m, const float *images, const float *mags, int n, float (*ranges)[4][2],
                       cai_err *err);

#endif
