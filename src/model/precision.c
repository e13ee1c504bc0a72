/* precision.c — precision names <-> cai_precision (model.h), for every caller. */
#include <strings.h>

#include "model.h"

int cai_precision_parse(const char *s, cai_precision *out) {
    if (!s) return -1;
    if (!strcasecmp(s, "fp32") || !strcasecmp(s, "float32")) return *out = CAI_PREC_FP32, 0;
    if (!strcasecmp(s, "int8")) return *out = CAI_PREC_INT8, 0;
    if (!strcasecmp(s, "auto")) return *out = CAI_PREC_AUTO, 0;
    return -1;
}

const char *cai_precision_name(cai_precision p) {
    return p == CAI_PREC_INT8 ? "int8" : p == CAI_PREC_FP32 ? "fp32" : "auto";
}
