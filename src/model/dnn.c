/* dnn.c — oneDNN engine and the Linear-layer matmul primitive (see dnn.h). */
#include "dnn.h"

#include <pthread.h>
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

#define CHK(call, what)                                                                                          \
    do {                                                                                                         \
        dnnl_status_t st_ = (call);                                                                              \
        if (st_ != dnnl_success) {                                                                               \
            rc = cai_dnn_check(st_, what, err);                                                                  \
            goto out;                                                                                            \
        }                                                                                                        \
    } while (0)

int cai_mm_init(cai_mm *mm, int64_t M, int64_t K, int64_t N, int64_t lda, int64_t ldc, int has_bias, int post,
                int sum, const cai_mm_q *q, cai_err *err) {
    const int int8 = q != NULL;
    memset(mm, 0, sizeof *mm);
    mm->M = M, mm->K = K, mm->N = N, mm->lda = lda, mm->ldc = ldc;
    mm->post = post, mm->sum = sum, mm->has_bias = has_bias, mm->int8 = int8;
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
    dnnl_data_type_t dt = !int8 ? dnnl_f32 : !q->oscale ? dnnl_s32 : q->dst_u8 ? dnnl_u8 : dnnl_f32;
    if (int8 && !q->oscale && (has_bias || post || sum))
        return cai_seterr(err, CAI_EINTERNAL, "int8 matmul without scales takes no epilogue");
    CHK(dnnl_memory_desc_init_by_strides(&mm->a_md, 2, ad, int8 ? dnnl_u8 : dnnl_f32, as), "src desc");
    CHK(dnnl_memory_desc_init_by_strides(&mm->w_md, 2, wd, int8 ? dnnl_s8 : dnnl_f32, ws), "weights desc");
    CHK(dnnl_memory_desc_init_by_strides(&mm->c_md, 2, cd, dt, cs), "dst desc");
    if (has_bias) CHK(dnnl_memory_desc_init_by_tag(&mm->b_md, 2, bd, dnnl_f32, dnnl_ab), "bias desc");
    dnnl_matmul_desc_t desc;
    CHK(dnnl_matmul_desc_init(&desc, &mm->a_md, &mm->w_md, has_bias ? &mm->b_md : NULL, &mm->c_md), "matmul desc");
    CHK(dnnl_primitive_attr_create(&attr), "attr");
    CHK(dnnl_post_ops_create(&po), "post-ops");
    if (sum) CHK(dnnl_post_ops_append_sum(po, 1.0f), "sum post-op");
    if (post == CAI_POST_RELU) CHK(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.f, 0.f), "relu");
    if (post == CAI_POST_GELU) CHK(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_gelu_erf, 0.f, 0.f), "gelu");
    if (int8 && q->oscale) CHK(dnnl_primitive_attr_set_output_scales(attr, N, 1 << 1, q->oscale), "output scales");
    if (int8 && q->dst_u8) /* requantize for the next layer: round and saturation come with the u8 dst */
        CHK(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, q->dst_inv, q->dst_zp), "requantize");
    CHK(dnnl_primitive_attr_set_post_ops(attr, po), "set post-ops");
    CHK(dnnl_primitive_desc_create(&pd, &desc, attr, eng, NULL), "matmul primitive desc");
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

int cai_mm_run(cai_mm *mm, dnnl_stream_t s, const void *A, const void *W, const float *bias, void *C,
               cai_err *err) {
    int rc = CAI_OK;
    dnnl_engine_t eng = cai_dnn_engine();
    dnnl_memory_t ma = NULL, mw = NULL, mb = NULL, mc = NULL;
    dnnl_exec_arg_t args[5];
    int na = 0;
    CHK(dnnl_memory_create(&ma, &mm->a_md, eng, (void *)A), "src memory");
    CHK(dnnl_memory_create(&mw, &mm->w_md, eng, (void *)W), "weights memory");
    CHK(dnnl_memory_create(&mc, &mm->c_md, eng, C), "dst memory");
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, ma};
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, mw};
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST, mc};
    if (mm->has_bias) {
        CHK(dnnl_memory_create(&mb, &mm->b_md, eng, (void *)bias), "bias memory");
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, mb};
    }
    CHK(dnnl_primitive_execute(mm->prim, s, na, args), "matmul execute");
out:
    if (ma) dnnl_memory_destroy(ma);
    if (mw) dnnl_memory_destroy(mw);
    if (mb) dnnl_memory_destroy(mb);
    if (mc) dnnl_memory_destroy(mc);
    return rc;
}
