/* convert.h — turn a PyTorch AstroMAE checkpoint (the seed's whole-model DataParallel pickle, or a plain
 * state_dict) into CAI's safetensors weights file, with hyper-parameters in __metadata__ (contract: model.h).
 * Owns: walking module objects into state_dict names, reading hyper-parameters off module attributes.
 * Must not touch: the forward pass (model.c) or how pickles are decoded (format/torchpickle.c). */
#ifndef CAI_CONVERT_H
#define CAI_CONVERT_H

#include <stdint.h>

#include "../common/err.h"

typedef struct {
    int ntensors;    /* tensors written */
    int64_t nvalues; /* elements over every tensor written (num_batches_tracked included) */
    char variant[8]; /* "vit" / "vitae" as detected from the keys */
    int whole_model; /* 1: read from module objects (hyper-parameters from attributes); 0: state_dict */
} cai_convert_info;

/* Read `in` (a torch.save ZIP archive), write `out` (safetensors, atomically). */
int cai_convert_checkpoint(const char *in, const char *out, cai_convert_info *info, cai_err *err);

#endif
