/* test_dnn.c — the oneDNN matmul wrapper's packed weights (dnn.h, cai_wpack): a packed primitive gives
 * the plain one's results (fp32 within rounding of another summation order, int8 exactly: s32 sums are
 * exact), one copy per (weights, layout) whatever M is, a new copy for other weights, and one copy when
 * many threads ask at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "model/dnn.h"

enum { K = 192, N = 576 };

static float frand(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xFFFF) / 65536.0f - 0.5f;
}

/* C = A·Wᵀ (+ bias) through one primitive, fp32. */
static void mm_f32(int64_t M, const float *A, const float *W, const float *b, float *C, cai_wpack *pack) {
    cai_mm mm;
    cai_err e = {0};
    dnnl_stream_t s;
    assert_int_equal(dnnl_stream_create(&s, cai_dnn_engine(), dnnl_stream_default_flags), dnnl_success);
    assert_int_equal(cai_mm_init(&mm, M, K, N, K, N, 1, CAI_POST_NONE, 0, NULL, pack, &e), CAI_OK);
    assert_int_equal(mm.packed, pack != NULL); /* this shape is packed on every ISA oneDNN 2.6 has */
    assert_int_equal(cai_mm_run(&mm, s, A, W, b, C, &e), CAI_OK);
    cai_mm_free(&mm);
    dnnl_stream_destroy(s);
}

static void test_packed_equals_plain_fp32(void **state) {
    (void)state;
    const int64_t M = 100;
    uint32_t seed = 1;
    float *A = malloc(M * K * 4), *W = malloc(K * N * 4), *b = malloc(N * 4);
    float *C0 = malloc(M * N * 4), *C1 = malloc(M * N * 4);
    for (int64_t i = 0; i < M * K; i++) A[i] = frand(&seed);
    for (int64_t i = 0; i < K * N; i++) W[i] = frand(&seed);
    for (int64_t i = 0; i < N; i++) b[i] = frand(&seed);
    cai_wpack *pack = cai_wpack_new();
    assert_non_null(pack);
    mm_f32(M, A, W, b, C0, NULL);
    mm_f32(M, A, W, b, C1, pack);
    double worst = 0;
    for (int64_t i = 0; i < M * N; i++) {
        /* exact reference in double: both must be within float rounding of it */
        const int64_t r = i / N, c = i % N;
        double ref = b[c];
        for (int k = 0; k < K; k++) ref += (double)A[r * K + k] * W[c * K + k];
        const double d = fabs(C1[i] - ref) > fabs(C0[i] - ref) ? fabs(C1[i] - ref) : fabs(C0[i] - ref);
        worst = d > worst ? d : worst;
    }
    assert_true(worst < 2e-5); /* |terms| ≤ 0.25, K = 192: a few float ulps of sums ~1 */
    assert_true(cai_wpack_bytes(pack) >= (size_t)K * N * 4);
    cai_wpack_free(pack);
    free(A), free(W), free(b), free(C0), free(C1);
}

static void test_packed_equals_plain_int8(void **state) {
    (void)state;
    const int64_t M = 64;
    uint8_t *A = malloc(M * K);
    int8_t *W = malloc(K * N);
    int32_t *C0 = malloc(M * N * 4), *C1 = malloc(M * N * 4);
    uint32_t seed = 7;
    for (int64_t i = 0; i < M * K; i++) A[i] = (uint8_t)(frand(&seed) * 255 + 128);
    for (int64_t i = 0; i < K * N; i++) W[i] = (int8_t)(frand(&seed) * 254);
    cai_wpack *pack = cai_wpack_new();
    const cai_mm_q q = {0}; /* plain u8×s8→s32 */
    dnnl_stream_t s;
    cai_err e = {0};
    assert_int_equal(dnnl_stream_create(&s, cai_dnn_engine(), dnnl_stream_default_flags), dnnl_success);
    for (int p = 0; p < 2; p++) {
        cai_mm mm;
        assert_int_equal(cai_mm_init(&mm, M, K, N, K, N, 0, 0, 0, &q, p ? pack : NULL, &e), CAI_OK);
        assert_int_equal(cai_mm_run(&mm, s, A, W, NULL, p ? C1 : C0, &e), CAI_OK);
        cai_mm_free(&mm);
    }
    assert_memory_equal(C0, C1, (size_t)M * N * 4);
    int32_t ref = 0; /* and one element against a plain sum */
    for (int k = 0; k < K; k++) ref += (int32_t)A[5 * K + k] * W[7 * K + k];
    assert_int_equal(C1[5 * N + 7], ref);
    dnnl_stream_destroy(s);
    cai_wpack_free(pack);
    free(A), free(W), free(C0), free(C1);
}

/* Packing happens once per weights: other M reuse the copy; other weights add one. */
static void test_one_copy_per_weights(void **state) {
    (void)state;
    float *A = calloc(256 * K, 4), *W = calloc(K * N, 4), *W2 = calloc(K * N, 4), *C = calloc(256 * N, 4);
    float *b = calloc(N, 4);
    cai_wpack *pack = cai_wpack_new();
    mm_f32(256, A, W, b, C, pack);
    const size_t one = cai_wpack_bytes(pack);
    assert_true(one > 0);
    mm_f32(17, A, W, b, C, pack);
    mm_f32(1, A, W, b, C, pack);
    assert_int_equal(cai_wpack_bytes(pack), one);
    mm_f32(17, A, W2, b, C, pack);
    assert_int_equal(cai_wpack_bytes(pack), 2 * one);
    cai_wpack_free(pack);
    free(A), free(W), free(W2), free(C), free(b);
}

typedef struct {
    cai_wpack *pack;
    const float *W;
    int rc;
} racer;

static void *race(void *arg) {
    racer *r = arg;
    const int64_t M = 34;
    float *A = calloc(M * K, 4), *C = calloc(M * N, 4), *b = calloc(N, 4);
    cai_mm mm;
    cai_err e = {0};
    dnnl_stream_t s;
    r->rc = dnnl_stream_create(&s, cai_dnn_engine(), dnnl_stream_default_flags) != dnnl_success;
    if (!r->rc) r->rc = cai_mm_init(&mm, M, K, N, K, N, 1, 0, 0, NULL, r->pack, &e);
    for (int i = 0; !r->rc && i < 20; i++) r->rc = cai_mm_run(&mm, s, A, r->W, b, C, &e);
    if (!r->rc) cai_mm_free(&mm);
    dnnl_stream_destroy(s);
    free(A), free(C), free(b);
    return NULL;
}

static void test_threads_pack_once(void **state) {
    (void)state;
    float *W = calloc(K * N, 4);
    cai_wpack *pack = cai_wpack_new(), *ref = cai_wpack_new();
    float *A = calloc(K, 4), *C = calloc(N, 4), *b = calloc(N, 4);
    mm_f32(1, A, W, b, C, ref); /* the size of one copy */
    pthread_t t[8];
    racer r[8];
    for (int i = 0; i < 8; i++) {
        r[i] = (racer){pack, W, -1};
        assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].rc, 0);
    }
    assert_int_equal(cai_wpack_bytes(pack), cai_wpack_bytes(ref));
    cai_wpack_free(pack), cai_wpack_free(ref);
    free(W), free(A), free(C), free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packed_equals_plain_fp32),
        cmocka_unit_test(test_packed_equals_plain_int8),
        cmocka_unit_test(test_one_copy_per_weights),
        cmocka_unit_test(test_threads_pack_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
