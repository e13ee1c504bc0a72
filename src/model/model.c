/* model.c — cai_model_load: map the safetensors file, validate it against the blueprint, keep it mapped. */
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "model_internal.h"

cai_precision cai_precision_resolve(cai_precision p) {
    if (p != CAI_PREC_AUTO) return p;
    return cai_cpu_has_vnni() ? CAI_PREC_INT8 : CAI_PREC_FP32;
}

int cai_model_load(const char *path, cai_precision prec, cai_model **out, cai_err *err) {
    *out = NULL;
    if (prec != CAI_PREC_AUTO && prec != CAI_PREC_FP32 && prec != CAI_PREC_INT8)
        return cai_seterr(err, CAI_EARG, "model: unknown precision %d", (int)prec);
    prec = cai_precision_resolve(prec);
    double t0 = cai_mono_now();
    cai_model *m = calloc(1, sizeof *m);
    if (!m) return cai_seterr(err, CAI_ENOMEM, "%s: out of memory", path);
    int rc = cai_st_open(path, &m->st, err);
    if (rc) {
        free(m);
        return rc;
    }
    rc = cai_weights_load(&m->st, path, &m->cfg, &m->w, prec == CAI_PREC_INT8, err);
    if (rc) {
        cai_st_close(&m->st);
        free(m);
        return rc;
    }
    m->prec = prec;
    /* CAI_WEIGHTS_PACK=0 keeps the matmul weights in their plain layout (oneDNN repacks them in every call):
     * only so that bench/env_ab.sh can measure the packed copies against it on the same build. */
    const char *wp = getenv("CAI_WEIGHTS_PACK");
    if (!(wp && !strcmp(wp, "0")) && !(m->pack = cai_wpack_new())) {
        cai_model_free(m);
        return cai_seterr(err, CAI_ENOMEM, "%s: out of memory", path);
    }
    m->k = cai_kernels_get(); /* before calibration, which runs the forward pass */
    /* CAI_INT8_SCALES=dynamic: activation scales measured per sub-batch instead of calibrated at load; slower
     * (two more passes per int8 layer), kept to compare (BENCHMARKS.md). */
    const char *qs = getenv("CAI_INT8_SCALES");
    if (qs && *qs && strcmp(qs, "static") && strcmp(qs, "dynamic")) {
        cai_model_free(m);
        return cai_seterr(err, CAI_EARG, "CAI_INT8_SCALES: expected \"static\" or \"dynamic\", got \"%s\"", qs);
    }
    m->qdyn = prec == CAI_PREC_INT8 && qs && !strcmp(qs, "dynamic");
    if (prec == CAI_PREC_INT8 && !m->qdyn && (rc = cai_calibrate(m, err))) {
        cai_err_prefix(err, "%s: int8 calibration: ", path);
        cai_model_free(m);
        return rc;
    }
    for (int i = 0; i < m->st.ntensors; i++) {
        const cai_st_tensor *t = &m->st.tensors[i];
        if (t->dtype != CAI_ST_F32) continue; /* num_batches_tracked is not a parameter */
        if (!strncmp(t->name, "inception_model.conv2d_init.", 28)) continue; /* same module as vis_inception.0 */
        size_t ln = strlen(t->name); /* BatchNorm running statistics are buffers, not parameters */
        if ((ln > 13 && !strcmp(t->name + ln - 13, ".running_mean")) ||
            (ln > 12 && !strcmp(t->name + ln - 12, ".running_var")))
            continue;
        m->nparams += (int64_t)(t->nbytes / 4);
    }
    m->load_seconds = cai_mono_now() - t0;
    *out = m;
    return CAI_OK;
}

void cai_model_free(cai_model *m) {
    if (!m) return;
    cai_wpack_free(m->pack);
    cai_weights_free(&m->w, &m->cfg);
    cai_st_close(&m->st);
    free(m);
}

const char *cai_precision_label(cai_precision p) {
    return p == CAI_PREC_INT8 ? "int8" : p == CAI_PREC_FP32 ? "fp32" : "auto";
}
cai_precision cai_model_precision(const cai_model *m) { return m->prec; }
const char *cai_model_variant(const cai_model *m) { return m->cfg.vitae ? "vitae" : "vit"; }
int64_t cai_model_nparams(const cai_model *m) { return m->nparams; }
double cai_model_macs(const cai_model *m) { return cai_config_macs(&m->cfg); }
double cai_model_load_seconds(const cai_model *m) { return m->load_seconds; }
