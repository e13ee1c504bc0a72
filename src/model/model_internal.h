/* model_internal.h — the cai_model struct, shared by model.c (load) and forward.c (sessions). Not for
 * use outside src/model. */
#ifndef CAI_MODEL_INTERNAL_H
#define CAI_MODEL_INTERNAL_H

#include "config.h"
#include "model.h"
#include "../format/safetensors.h"
#include "weights.h"

struct cai_model {
    cai_config cfg;
    cai_weights w;
    cai_safetensors st; /* keeps the file mapped: most weights point into it */
    cai_precision prec;
    int64_t nparams;
    double load_seconds;
};

#endif
