/* dnn.c — oneDNN engine and the Linear-layer matmul primitive (see dnn.h). */
#include "dnn.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static dnnl_engine_t g_engine;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void engine_init(void) {
    if (dnnl_engine_create(&g_engine, dnnl_cpu, 0) != dnnl_success) g_engine = NULL;
}
dnnl_engine_t cai_dnn_engine(void) {
    pthread_once(&g_once, engine_init);
    return g_engine;
}

int cai_dnn_check(dnnl_status_t st, const char *what, cai_err *err) {
    if (st == dnnl_success) return CAI_OK;
    return cai_seterr(err, CAI_EDNNL, "oneDNN: %s failed (status %d)", what, (int)st);
}

#define CHK(call, what)                                                                                                \
    do {                                                                                                               \
        dnnl_status_t st_ = (call);                                                                                    \
        if (st_ != dnnl_success) {                                                                                     \
            rc = cai_dnn_check(st_, what, err);                                                                        \
            goto out;                                                                                                  \
        }                                                                                                              \
    } while (0)

/* ------------------------------------------------------------------------------------------------ */
/* Packed weights                                                                                    */

typedef struct {
    const void *src;       /* the weights as the model holds them */
    dnnl_memory_desc_t md; /* the layout of the copy */
    void *data;            /* the copy (owned) */
} wpack_entry;

struct cai_wpack {
    pthread_mutex_t mu;
    wpack_entry *e;
    int n, cap;
    size_t bytes;
};

cai_wpack *cai_wpack_new(void) {
    cai_wpack *p = calloc(1, sizeof *p);
    if (p && pthread_mutex_init(&p->mu, NULL)) {
        free(p);
        return NULL;
    }
    return p;
}

void cai_wpack_free(cai_wpack *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) free(p->e[i].data);
    free(p->e);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

size_t cai_wpack_bytes(const cai_wpack *p) { return p ? p->bytes : 0; }

/* A copy of src (layout from) in layout to: a oneDNN reorder on a private stream. */
static int wpack_make(const void *src, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, void **out,
                      cai_err *err) {
    int rc = CAI_OK;
    dnnl_engine_t eng = cai_dnn_engine();
    dnnl_memory_t mf = NULL, mt = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t re = NULL;
    dnnl_stream_t s = NULL;
    void *buf = NULL;
    const size_t bytes = dnnl_memory_desc_get_size(to);
    if (posix_memalign(&buf, 64, bytes + 64)) {
        buf = NULL;
        rc = cai_seterr(err, CAI_ENOMEM, "packed weights: out of memory (%zu bytes)", bytes);
        goto out;
    }
    CHK(dnnl_stream_create(&s, eng, dnnl_stream_default_flags), "weights pack stream");
    CHK(dnnl_memory_create(&mf, from, eng, (void *)src), "weights pack memory");
    CHK(dnnl_memory_create(&mt, to, eng, buf), "weights pack memory");
    CHK(dnnl_reorder_primitive_desc_create(&pd, from, eng, to, eng, NULL), "weights pack reorder");
    CHK(dnnl_primitive_create(&re, pd), "weights pack reorder");
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, mf}, {DNNL_ARG_TO, mt}};
    CHK(dnnl_primitive_execute(re, s, 2, args), "weights pack reorder");
    CHK(dnnl_stream_wait(s), "weights pack reorder");
out:
    if (re) dnnl_primitive_destroy(re);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (mf) dnnl_memory_destroy(mf);
    if (mt) dnnl_memory_destroy(mt);
    if (s) dnnl_stream_destroy(s);
    if (rc) free(buf);
    else *out = buf;
    return rc;
}

/* The packed copy of src in layout `to`, made on first request. The lock is held while packing so two
 * threads never pack the same weights twice (each copy is made once per model load). */
static int wpack_get(cai_wpack *p, const void *src, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                     void **out, cai_err *err) {
    int rc = CAI_OK;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n; i++)
        if (p->e[i].src == src && dnnl_memory_desc_equal(&p->e[i].md, to)) {
            *out = p->e[i].data;
            goto out;
        }
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        wpack_entry *e = realloc(p->e, (size_t)cap * sizeof *e);
        if (!e) {
            rc = cai_seterr(err, CAI_ENOMEM, "packed weights: out of memory");
            goto out;
        }
        p->e = e, p->cap = cap;
    }
    void *data = NULL;
    if ((rc = wpack_make(src, from, to, &data, err))) goto out;
    p->e[p->n++] = (wpack_entry){src, *to, data};
    p->bytes += dnnl_memory_desc_get_size(to);
    *out = data;
out:
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* ------------------------------------------------------------------------------------------------ */
/* Matmul                                                                                            */

int cai_mm_init(cai_mm *mm, int64_t M, int64_t K, int64_t N, int64_t lda, int64_t ldc, int has_bias, int post, int sum,
                const cai_mm_q *q, cai_wpack *pack, cai_err *err) {
    const int int8 = q != NULL;
    memset(mm, 0, sizeof *mm);
    mm->M = M, mm->K = K, mm->N = N, mm->lda = lda, mm->ldc = ldc;
    mm->post = post, mm->sum = sum, mm->has_bias = has_bias, mm->int8 = int8, mm->runtime = int8 && q->runtime;
    int rc = CAI_OK;
    dnnl_engine_t eng = cai_dnn_engine();
    if (!eng) return cai_seterr(err, CAI_EDNNL, "oneDNN: cannot create the CPU engine");
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_dims_t ad = {M, K}, as = {lda, 1};
    dnnl_dims_t wd = {K, N}, ws = {1, K}; /* PyTorch (N,K) row-major = (K,N) with strides (1,K) */
    dnnl_dims_t cd = {M, N}, cs = {ldc, 1};
    dnnl_dims_t bd = {1, N};
    dnnl_data_type_t dt = !int8 ? dnnl_f32 : !q->oscale && !q->runtime ? dnnl_s32 : q->dst_u8 ? dnnl_u8 : dnnl_f32;
    if (int8 && !q->oscale && !q->runtime && (has_bias || post || sum))
        return cai_seterr(err, CAI_EINTERNAL, "int8 matmul without scales takes no epilogue");
    CHK(dnnl_memory_desc_init_by_strides(&mm->a_md, 2, ad, int8 ? dnnl_u8 : dnnl_f32, as), "src desc");
    CHK(dnnl_memory_desc_init_by_strides(&mm->wplain_md, 2, wd, int8 ? dnnl_s8 : dnnl_f32, ws), "weights desc");
    if (pack)
        CHK(dnnl_memory_desc_init_by_tag(&mm->w_md, 2, wd, int8 ? dnnl_s8 : dnnl_f32, dnnl_format_tag_any),
            "weights desc");
    else mm->w_md = mm->wplain_md;
    CHK(dnnl_memory_desc_init_by_strides(&mm->c_md, 2, cd, dt, cs), "dst desc");
    if (has_bias) CHK(dnnl_memory_desc_init_by_tag(&mm->b_md, 2, bd, dnnl_f32, dnnl_ab), "bias desc");
    dnnl_matmul_desc_t desc;
    CHK(dnnl_matmul_desc_init(&desc, &mm->a_md, &mm->w_md, has_bias ? &mm->b_md : NULL, &mm->c_md), "matmul desc");
    CHK(dnnl_primitive_attr_create(&attr), "attr");
    CHK(dnnl_post_ops_create(&po), "post-ops");
    if (sum) CHK(dnnl_post_ops_append_sum(po, 1.0f), "sum post-op");
    if (post == CAI_POST_RELU) CHK(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.f, 0.f), "relu");
    if (post == CAI_POST_GELU) CHK(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_gelu_erf, 0.f, 0.f), "gelu");
    if (int8 && q->runtime) { /* per column, values given at execution */
        const float rt = DNNL_RUNTIME_F32_VAL;
        CHK(dnnl_primitive_attr_set_output_scales(attr, 1, 1 << 1, &rt), "runtime output scales");
    } else if (int8 && q->oscale)
        CHK(dnnl_primitive_attr_set_output_scales(attr, N, 1 << 1, q->oscale), "output scales");
    if (int8 && q->dst_u8) /* requantize for the next layer: round and saturation come with the u8 dst */
        CHK(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, q->dst_inv, q->dst_zp), "requantize");
    CHK(dnnl_primitive_attr_set_post_ops(attr, po), "set post-ops");
    CHK(dnnl_primitive_desc_create(&pd, &desc, attr, eng, NULL), "matmul primitive desc");
    if (pack) { /* the layout the kernel chose for W */
        const dnnl_memory_desc_t *wq = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        if (!wq) {
            rc = cai_seterr(err, CAI_EDNNL, "oneDNN: matmul weights layout query failed");
            goto out;
        }
        mm->w_md = *wq;
        mm->packed = !dnnl_memory_desc_equal(&mm->w_md, &mm->wplain_md);
        mm->pack = pack;
    }
    CHK(dnnl_primitive_create(&mm->prim, pd), "matmul primitive");
out:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (rc) cai_err_prefix(err, "matmul %lldx%lldx%lld: ", (long long)M, (long long)K, (long long)N);
    return rc;
}

void cai_mm_free(cai_mm *mm) {
    if (mm && mm->prim) dnnl_primitive_destroy(mm->prim);
    if (mm) mm->prim = NULL;
}

int cai_mm_run(cai_mm *mm, dnnl_stream_t s, const void *A, const void *W, const float *bias, void *C, cai_err *err) {
    return cai_mm_run_q(mm, s, A, W, bias, NULL, C, err);
}

int cai_mm_run_q(cai_mm *mm, dnnl_stream_t s, const void *A, const void *W, const float *bias, const float *oscale,
                 void *C, cai_err *err) {
    int rc = CAI_OK;
    dnnl_engine_t eng = cai_dnn_engine();
    dnnl_memory_t ma = NULL, mw = NULL, mb = NULL, mc = NULL, mo = NULL;
    dnnl_exec_arg_t args[6];
    int na = 0;
    if (mm->runtime != (oscale != NULL))
        return cai_seterr(err, CAI_EINTERNAL, "matmul: runtime scales given to a static primitive or missing");
    CHK(dnnl_memory_create(&ma, &mm->a_md, eng, (void *)A), "src memory");
    void *wp = (void *)W;
    if (mm->packed && (rc = wpack_get(mm->pack, W, &mm->wplain_md, &mm->w_md, &wp, err))) goto out;
    CHK(dnnl_memory_create(&mw, &mm->w_md, eng, wp), "weights memory");
    CHK(dnnl_memory_create(&mc, &mm->c_md, eng, C), "dst memory");
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, ma};
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, mw};
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST, mc};
    if (mm->has_bias) {
        CHK(dnnl_memory_create(&mb, &mm->b_md, eng, (void *)bias), "bias memory");
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, mb};
    }
    if (oscale) {
        dnnl_memory_desc_t od;
        dnnl_dims_t odims = {mm->N};
        CHK(dnnl_memory_desc_init_by_tag(&od, 1, odims, dnnl_f32, dnnl_a), "scales desc");
        CHK(dnnl_memory_create(&mo, &od, eng, (void *)oscale), "scales memory");
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_OUTPUT_SCALES, mo};
    }
    CHK(dnnl_primitive_execute(mm->prim, s, na, args), "matmul execute");
out:
    if (mo) dnnl_memory_destroy(mo);
    if (ma) dnnl_memory_destroy(ma);
    if (mw) dnnl_memory_destroy(mw);
    if (mb) dnnl_memory_destroy(mb);
    if (mc) dnnl_memory_destroy(mc);
    return rc;
}

/* ------------------------------------------------------------------------------------------------ */
/* Convolution                                                                                       */

int cai_cv_init(cai_cv *cv, int64_t n, int64_t h, int64_t w, int64_t ic, int64_t oc, int64_t k, int64_t pad,
                const float *weights, dnnl_stream_t s, cai_err *err) {
    memset(cv, 0, sizeof *cv);
    cv->n = n, cv->h = h, cv->w = w, cv->ic = ic, cv->oc = oc, cv->k = k, cv->pad = pad;
    int rc = CAI_OK;
    dnnl_engine_t eng = cai_dnn_engine();
    if (!eng) return cai_seterr(err, CAI_EDNNL, "oneDNN: cannot create the CPU engine");
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t re = NULL;
    dnnl_memory_t mu = NULL, mp = NULL;
    dnnl_memory_desc_t wu_md, wany;
    const dnnl_memory_desc_t *q;
    dnnl_dims_t sd = {n, ic, h, w}, dd = {n, oc, h, w}, wd = {oc, ic, k, k}, bd = {oc};
    dnnl_dims_t strides = {1, 1}, pads = {pad, pad};
    CHK(dnnl_memory_desc_init_by_tag(&cv->src_md, 4, sd, dnnl_f32, dnnl_nhwc), "conv src desc");
    CHK(dnnl_memory_desc_init_by_tag(&cv->dst_md, 4, dd, dnnl_f32, dnnl_nhwc), "conv dst desc");
    CHK(dnnl_memory_desc_init_by_tag(&cv->b_md, 1, bd, dnnl_f32, dnnl_a), "conv bias desc");
    CHK(dnnl_memory_desc_init_by_tag(&wu_md, 4, wd, dnnl_f32, dnnl_ohwi), "conv weights desc");
    CHK(dnnl_memory_desc_init_by_tag(&wany, 4, wd, dnnl_f32, dnnl_format_tag_any), "conv weights desc");
    dnnl_convolution_desc_t desc;
    CHK(dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &cv->src_md, &wany,
                                           &cv->b_md, &cv->dst_md, strides, pads, pads),
        "conv desc");
    CHK(dnnl_primitive_desc_create(&pd, &desc, NULL, eng, NULL), "conv primitive desc");
    q = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    if (!q) {
        rc = cai_seterr(err, CAI_EDNNL, "oneDNN: conv weights layout query failed");
        goto out;
    }
    cv->w_md = *q;
    if (posix_memalign(&cv->wp, 64, dnnl_memory_desc_get_size(&cv->w_md) + 64)) {
        cv->wp = NULL;
        rc = cai_seterr(err, CAI_ENOMEM, "conv weights: out of memory");
        goto out;
    }
    CHK(dnnl_memory_create(&mu, &wu_md, eng, (void *)weights), "conv weights memory");
    CHK(dnnl_memory_create(&mp, &cv->w_md, eng, cv->wp), "conv weights memory");
    CHK(dnnl_primitive_desc_destroy(pd), "conv primitive desc");
    pd = NULL;
    CHK(dnnl_reorder_primitive_desc_create(&pd, &wu_md, eng, &cv->w_md, eng, NULL), "conv weights reorder");
    CHK(dnnl_primitive_create(&re, pd), "conv weights reorder");
    dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, mu}, {DNNL_ARG_TO, mp}};
    CHK(dnnl_primitive_execute(re, s, 2, rargs), "conv weights reorder");
    CHK(dnnl_stream_wait(s), "conv weights reorder");
    CHK(dnnl_primitive_desc_destroy(pd), "conv primitive desc");
    pd = NULL;
    CHK(dnnl_primitive_desc_create(&pd, &desc, NULL, eng, NULL), "conv primitive desc");
    CHK(dnnl_primitive_create(&cv->prim, pd), "conv primitive");
out:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (re) dnnl_primitive_destroy(re);
    if (mu) dnnl_memory_destroy(mu);
    if (mp) dnnl_memory_destroy(mp);
    if (rc) {
        cai_cv_free(cv);
        cai_err_prefix(err, "conv %lldx%lldx%lld k%lld: ", (long long)n, (long long)ic, (long long)oc, (long long)k);
    }
    return rc;
}

void cai_cv_free(cai_cv *cv) {
    if (!cv) return;
    if (cv->prim) dnnl_primitive_destroy(cv->prim);
    free(cv->wp);
    cv->prim = NULL, cv->wp = NULL;
}

int cai_cv_run(cai_cv *cv, dnnl_stream_t s, const float *src, const float *bias, float *dst, cai_err *err) {
    int rc = CAI_OK;
    dnnl_engine_t eng = cai_dnn_engine();
    dnnl_memory_t ms = NULL, mw = NULL, mb = NULL, md = NULL;
    CHK(dnnl_memory_create(&ms, &cv->src_md, eng, (void *)src), "conv src memory");
    CHK(dnnl_memory_create(&mw, &cv->w_md, eng, cv->wp), "conv weights memory");
    CHK(dnnl_memory_create(&mb, &cv->b_md, eng, (void *)bias), "conv bias memory");
    CHK(dnnl_memory_create(&md, &cv->dst_md, eng, dst), "conv dst memory");
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_BIAS, mb}, {DNNL_ARG_DST, md}};
    CHK(dnnl_primitive_execute(cv->prim, s, 4, args), "conv execute");
out:
    if (ms) dnnl_memory_destroy(ms);
    if (mw) dnnl_memory_destroy(mw);
    if (mb) dnnl_memory_destroy(mb);
    if (md) dnnl_memory_destroy(md);
    return rc;
}
