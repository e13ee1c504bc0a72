/* test_model.c — the engine: random weights load with the checkpoint's exact key set; every kind of bad
 * weights file is refused with the key and both shapes named; batch-size invariance; NaN isolation;
 * one model shared by two threads; int8 close to fp32. (Exact agreement with PyTorch is the golden
 * integration test's job: tests/integration/golden*.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/synth.h"
#include "model/cpu.h"
#include "model/model.h"
#include "format/safetensors.h"
#include "tmpdir.h"

static char dir[CAI_TEST_DIR_MAX], vit_path[256], vitae_path[256];

#define NG 513
static float *images;
static double *mags;

static int setup(void **state) {
    (void)state;
    if (cai_test_mkdtemp(dir, sizeof dir, "model")) return -1;
    snprintf(vit_path, sizeof vit_path, "%s/vit.safetensors", dir);
    snprintf(vitae_path, sizeof vitae_path, "%s/vitae.safetensors", dir);
    cai_err e = {0};
    if (cai_weights_random(vit_path, "vit", 11, &e) || cai_weights_random(vitae_path, "vitae", 12, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    images = malloc((size_t)NG * CAI_IMG_FLOATS * sizeof(float));
    mags = malloc((size_t)NG * 5 * sizeof(double));
    float *z = malloc(NG * sizeof(float));
    cai_synth_galaxies(3, 0, NG, images, mags, z, 1);
    free(z);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    free(images);
    free(mags);
    return cai_test_rmtree(dir);
}

static void predict_n(const cai_model *m, int max_batch, int threads, int64_t n, const float *img, const void *mg,
                      cai_dtype dt, float *out) {
    cai_err e = {0};
    cai_session *s = cai_session_new(m, max_batch, threads, &e);
    if (!s) fail_msg("%s", e.msg);
    if (cai_predict(s, img, mg, dt, n, out, &e)) fail_msg("%s", e.msg);
    cai_session_free(s);
}

/* ------------------------------------------------------------------------------------------------ */

/* The random weights hold exactly the spec's key list (names, shapes, dtypes). */
static void check_keys_against_spec(const char *path, const char *keys) {
    FILE *f = fopen(keys, "r");
    if (!f) {
        print_message("(spec %s not found: key-list comparison skipped)\n", keys);
        return;
    }
    cai_safetensors st;
    cai_err e = {0};
    assert_int_equal(cai_st_open(path, &st, &e), CAI_OK);
    char line[512];
    int n = 0;
    assert_non_null(fgets(line, sizeof line, f)); /* "N parameters" */
    while (fgets(line, sizeof line, f)) {
        char name[256], rest[256];
        if (sscanf(line, "%255s %255[^\n]", name, rest) != 2) continue;
        const cai_st_tensor *t = cai_st_find(&st, name);
        if (!t) fail_msg("%s: spec key %s missing", path, name);
        char shape[128] = "(";
        for (int i = 0; i < t->ndim; i++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%lld%s", (long long)t->shape[i],
                     t->ndim == 1      ? ",)"
                     : i + 1 < t->ndim ? ", "
                                       : ")");
        if (t->ndim == 0) strcat(shape, ")");
        char want[300];
        snprintf(want, sizeof want, "%s %s", shape, t->dtype == CAI_ST_F32 ? "float32" : "int64");
        if (strcmp(want, rest)) fail_msg("%s: %s is %s, spec says %s", path, name, want, rest);
        n++;
    }
    fclose(f);
    assert_int_equal(n, st.ntensors);
    cai_st_close(&st);
}

static void test_random_weights_load(void **state) {
    (void)state;
    cai_err e = {0};
    cai_model *m;
    assert_int_equal(cai_model_load(vit_path, CAI_PREC_FP32, &m, &e), CAI_OK);
    assert_string_equal(cai_model_variant(m), "vit");
    assert_int_equal(cai_model_nparams(m), 15801513);
    assert_true(cai_model_macs(m) > 1.0e8 && cai_model_macs(m) < 1.2e8);
    cai_model_free(m);
    assert_int_equal(cai_model_load(vitae_path, CAI_PREC_FP32, &m, &e), CAI_OK);
    assert_string_equal(cai_model_variant(m), "vitae");
    assert_int_equal(cai_model_nparams(m), 15902889); /* = the published checkpoint's 60.6647 MB */
    cai_model_free(m);
    const char *fix = getenv("FIXTURES") ? getenv("FIXTURES") : "tests/fixtures";
    char k[512];
    snprintf(k, sizeof k, "%s/spec/astromae_vit.keys", fix);
    check_keys_against_spec(vit_path, k);
    snprintf(k, sizeof k, "%s/spec/astromae_vitae.keys", fix);
    check_keys_against_spec(vitae_path, k);
    /* Same seed → same bytes. */
    char p2[256];
    snprintf(p2, sizeof p2, "%s/vit2.safetensors", dir);
    assert_int_equal(cai_weights_random(p2, "vit", 11, &e), CAI_OK);
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", vit_path, p2);
    assert_int_equal(system(cmd), 0);
    assert_int_not_equal(cai_weights_random(p2, "vitX", 1, &e), CAI_OK);
}

/* Rewrite `src` into `dst`, applying one edit: drop `drop`, add `add_name` (shape add_shape), or replace
 * `repl` with a tensor of shape/dtype given. Metadata copied, with optional override. */
typedef struct {
    const char *drop;
    const char *add_name;
    int add_ndim;
    int64_t add_shape[4];
    const char *repl;
    cai_st_dtype repl_dt;
    int repl_ndim;
    int64_t repl_shape[4];
    const char *meta_key, *meta_val;
    const char *perturb; /* flip one value of this tensor */
} edit;

static void rewrite(const char *src, const char *dst, const edit *ed) {
    cai_safetensors st;
    cai_err e = {0};
    assert_int_equal(cai_st_open(src, &st, &e), CAI_OK);
    cai_st_writer *w = cai_st_writer_new();
    static float big[192 * 768 * 2];
    float *pert = NULL;
    for (int i = 0; i < st.ntensors; i++) {
        const cai_st_tensor *t = &st.tensors[i];
        if (ed->drop && !strcmp(t->name, ed->drop)) continue;
        if (ed->repl && !strcmp(t->name, ed->repl)) {
            assert_int_equal(cai_st_writer_add(w, t->name, ed->repl_dt, ed->repl_ndim, ed->repl_shape, big, &e),
                             CAI_OK);
            continue;
        }
        const void *data = t->data;
        if (ed->perturb && !strcmp(t->name, ed->perturb)) {
            pert = malloc(t->nbytes);
            memcpy(pert, t->data, t->nbytes);
            pert[0] += 1.0f;
            data = pert;
        }
        assert_int_equal(cai_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, data, &e), CAI_OK);
    }
    if (ed->add_name)
        assert_int_equal(cai_st_writer_add(w, ed->add_name, CAI_ST_F32, ed->add_ndim, ed->add_shape, big, &e), CAI_OK);
    for (int i = 0; i < st.nmeta; i++) assert_int_equal(cai_st_writer_meta(w, st.meta_keys[i], st.meta_vals[i], &e), 0);
    if (ed->meta_key) assert_int_equal(cai_st_writer_meta(w, ed->meta_key, ed->meta_val, &e), CAI_OK);
    assert_int_equal(cai_st_writer_save(w, dst, &e), CAI_OK);
    cai_st_writer_free(w);
    free(pert);
    cai_st_close(&st);
}

static void expect_load_error(const char *src, const edit *ed, int code, const char *s1, const char *s2,
                              const char *s3) {
    char bad[160];
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    rewrite(src, bad, ed);
    cai_model *m = NULL;
    cai_err e = {0};
    int rc = cai_model_load(bad, CAI_PREC_FP32, &m, &e);
    if (rc != code || !strstr(e.msg, s1) || (s2 && !strstr(e.msg, s2)) || (s3 && !strstr(e.msg, s3)))
        fail_msg("rc=%d (want %d) msg='%s' (want '%s', '%s', '%s')", rc, code, e.msg, s1, s2 ? s2 : "", s3 ? s3 : "");
    assert_null(m);
    assert_non_null(strstr(e.msg, "bad.safetensors"));
    unlink(bad);
}

static void test_bad_weights(void **state) {
    (void)state;
    edit ed;
    /* missing key */
    ed = (edit){.drop = "blocks.3.mlp.fc1.bias"};
    expect_load_error(vit_path, &ed, CAI_EKEY, "missing tensor \"blocks.3.mlp.fc1.bias\"", "(768,)", NULL);
    ed = (edit){.drop = "blocks.11.PCM.1.running_var"};
    expect_load_error(vitae_path, &ed, CAI_EKEY, "\"blocks.11.PCM.1.running_var\"", NULL, NULL);
    /* unexpected key */
    ed = (edit){.add_name = "blocks.12.norm1.weight", .add_ndim = 1, .add_shape = {192}};
    expect_load_error(vit_path, &ed, CAI_EKEY, "unexpected tensor \"blocks.12.norm1.weight\"", "(192,)", NULL);
    /* wrong shape: both shapes named */
    ed = (edit){.repl = "blocks.0.attn.proj.weight", .repl_dt = CAI_ST_F32, .repl_ndim = 2, .repl_shape = {192, 191}};
    expect_load_error(vit_path, &ed, CAI_ESHAPE, "\"blocks.0.attn.proj.weight\"", "expected shape (192, 192)",
                      "got (192, 191)");
    ed = (edit){.repl = "patch_embed.proj.weight", .repl_dt = CAI_ST_F32, .repl_ndim = 2, .repl_shape = {192, 320}};
    expect_load_error(vitae_path, &ed, CAI_ESHAPE, "(192, 5, 8, 8)", "(192, 320)", NULL);
    /* wrong dtype */
    ed = (edit){.repl = "head.bias", .repl_dt = CAI_ST_F64, .repl_ndim = 1, .repl_shape = {192}};
    expect_load_error(vit_path, &ed, CAI_ESHAPE, "\"head.bias\"", "(192,) F32", "(192,) F64");
    /* PCM metadata that disagrees with the weight shapes */
    ed = (edit){.meta_key = "pcm_groups", .meta_val = "24"};
    expect_load_error(vitae_path, &ed, CAI_EFORMAT, "pcm_groups=24", NULL, NULL);
    ed = (edit){.meta_key = "num_heads", .meta_val = "three"};
    expect_load_error(vit_path, &ed, CAI_EFORMAT, "\"num_heads\"", "\"three\"", NULL);
    ed = (edit){.meta_key = "variant", .meta_val = "vitae"};
    expect_load_error(vit_path, &ed, CAI_EFORMAT, "\"variant\"", NULL, NULL);
    /* the conv2d_init duplicate must equal vis_inception.0 */
    ed = (edit){.perturb = "inception_model.conv2d_init.weight"};
    expect_load_error(vit_path, &ed, CAI_EFORMAT, "conv2d_init", "differ", NULL);
    /* neither variant's keys */
    ed = (edit){.drop = "blocks.0.attn.qkv.bias"};
    expect_load_error(vit_path, &ed, CAI_EKEY, "variant", NULL, NULL);

    /* Accepted and ignored: dropping the optional keys still loads. */
    char ok[160];
    snprintf(ok, sizeof ok, "%s/ok.safetensors", dir);
    const char *optional[] = {"inception_model.vis_inception.2.branch1.bn.num_batches_tracked",
                              "inception_model.conv2d_init.weight"};
    for (int i = 0; i < 2; i++) {
        ed = (edit){.drop = optional[i]};
        rewrite(vit_path, ok, &ed);
        cai_model *m = NULL;
        cai_err e = {0};
        int rc = cai_model_load(ok, CAI_PREC_FP32, &m, &e);
        if (i == 0) assert_int_equal(rc, CAI_OK);
        else { /* half a duplicate is an error: weight gone, bias still there */ assert_int_equal(rc, CAI_EKEY);
            assert_non_null(strstr(e.msg, "conv2d_init"));
        }
        cai_model_free(m);
    }
    unlink(ok);
    cai_err e = {0};
    cai_model *m = NULL;
    assert_int_equal(cai_model_load("/nonexistent/w.safetensors", CAI_PREC_FP32, &m, &e), CAI_ENOTFOUND);
}

/* Any batch size gives the same answers: 513 galaxies in one call with max batch 512 (chunks 512 + 1),
 * chunks of 7, and one at a time. */
static void test_batch_invariance(void **state) {
    (void)state;
    cai_err e = {0};
    cai_model *m;
    assert_int_equal(cai_model_load(vitae_path, CAI_PREC_FP32, &m, &e), CAI_OK);
    float *a = malloc(NG * sizeof(float)), *b = malloc(NG * sizeof(float)), *c = malloc(NG * sizeof(float));
    predict_n(m, 512, 2, NG, images, mags, CAI_F64, a);
    predict_n(m, 7, 1, NG, images, mags, CAI_F64, b);
    const int n1 = 24;
    predict_n(m, 1, 1, n1, images, mags, CAI_F64, c);
    float spread = 0;
    for (int i = 0; i < NG; i++) {
        assert_true(isfinite(a[i]));
        if (fabsf(a[i] - b[i]) > 1e-6f * (1 + fabsf(a[i])))
            fail_msg("galaxy %d: batch 512 %.9g vs 7 %.9g", i, a[i], b[i]);
        if (i < n1 && fabsf(a[i] - c[i]) > 1e-6f * (1 + fabsf(a[i])))
            fail_msg("galaxy %d: batch 512 %.9g vs 1 %.9g", i, a[i], c[i]);
        spread = fmaxf(spread, fabsf(a[i] - a[0]));
    }
    assert_true(spread > 1e-4f); /* the galaxies do give different answers: the test can fail */
    /* float32 magnitudes give the same answers as float64 ones (they are cast to float32 inside) */
    float *m32 = malloc(NG * 5 * sizeof(float));
    for (int i = 0; i < NG * 5; i++) m32[i] = (float)mags[i];
    predict_n(m, 512, 2, NG, images, m32, CAI_F32, b); /* same threads and batch as `a`: bit-identical */
    assert_memory_equal(a, b, NG * sizeof(float));
    free(m32);
    /* bad arguments */
    assert_null(cai_session_new(m, 0, 1, &e));
    cai_session *s = cai_session_new(m, 4, 1, &e);
    assert_int_equal(cai_predict(s, images, mags, CAI_F64, 0, a, &e), CAI_EARG);
    cai_session_free(s);
    free(a), free(b), free(c);
    cai_model_free(m);
}

/* A NaN anywhere in one galaxy's input gives NaN for that galaxy only. */
static void test_nan_isolation(void **state) {
    (void)state;
    cai_err e = {0};
    const char *paths[2] = {vit_path, vitae_path};
    for (int pv = 0; pv < 4; pv++) { /* vit, vitae; fp32, then int8 (static scales: no galaxy moves another) */
        const int v = pv % 2;
        cai_model *m;
        assert_int_equal(cai_model_load(paths[v], pv < 2 ? CAI_PREC_FP32 : CAI_PREC_INT8, &m, &e), CAI_OK);
        const int n = 40;
        float *img = malloc((size_t)n * CAI_IMG_FLOATS * sizeof(float));
        double *mg = malloc((size_t)n * 5 * sizeof(double));
        memcpy(img, images, (size_t)n * CAI_IMG_FLOATS * sizeof(float));
        memcpy(mg, mags, (size_t)n * 5 * sizeof(double));
        float clean[40], dirty[40];
        predict_n(m, 16, 1, n, img, mg, CAI_F64, clean);
        img[3 * CAI_IMG_FLOATS + 2 * 1024 + 17 * 32 + 5] = NAN; /* galaxy 3: one pixel of band r */
        img[20 * CAI_IMG_FLOATS + 0] = NAN;                     /* galaxy 20: corner pixel (max-pool border) */
        mg[9 * 5 + 4] = NAN;                                    /* galaxy 9: z magnitude */
        img[33 * CAI_IMG_FLOATS + 100] = INFINITY;              /* galaxy 33: +inf */
        /* ±inf magnitudes too (an int8 magnitude MLP, tried in issue 12 part C, turned them finite) */
        mg[12 * 5 + 1] = -INFINITY; /* galaxy 12: g magnitude -inf */
        mg[27 * 5 + 0] = INFINITY;  /* galaxy 27: u magnitude +inf */
        predict_n(m, 16, 1, n, img, mg, CAI_F64, dirty);
        for (int i = 0; i < n; i++) {
            if (i == 3 || i == 20 || i == 9 || i == 33 || i == 12 || i == 27) {
                if (!isnan(dirty[i])) fail_msg("%s galaxy %d: expected NaN, got %g", paths[v], i, dirty[i]);
            } else {
                if (!(fabsf(dirty[i] - clean[i]) <= 1e-6f * (1 + fabsf(clean[i]))))
                    fail_msg("%s galaxy %d: %g vs clean %g", paths[v], i, dirty[i], clean[i]);
            }
        }
        free(img), free(mg);
        cai_model_free(m);
    }
}

/* One read-only model, two threads with their own sessions: same answers as one thread alone. */
typedef struct {
    const cai_model *m;
    int64_t n;
    float *out;
    int rc;
} job;
static void *run_job(void *arg) {
    job *j = arg;
    cai_err e = {0};
    cai_session *s = cai_session_new(j->m, 64, 1, &e);
    j->rc = s ? cai_predict(s, images, mags, CAI_F64, j->n, j->out, &e) : -1;
    cai_session_free(s);
    return NULL;
}

static void test_threads_share_model(void **state) {
    (void)state;
    cai_err e = {0};
    cai_model *m;
    assert_int_equal(cai_model_load(vit_path, CAI_PREC_FP32, &m, &e), CAI_OK);
    const int n = 100;
    float ref[100], o1[100], o2[100];
    predict_n(m, 64, 1, n, images, mags, CAI_F64, ref);
    job a = {m, n, o1, 0}, b = {m, n, o2, 0};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, run_job, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, run_job, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.rc, 0);
    assert_int_equal(b.rc, 0);
    assert_memory_equal(ref, o1, sizeof ref);
    assert_memory_equal(ref, o2, sizeof ref);
    cai_model_free(m);
}

/* int8 (per-channel weights, static per-tensor u8 activations) stays close to fp32. */
static void test_int8_close_to_fp32(void **state) {
    (void)state;
    cai_err e = {0};
    cai_model *mf, *m8;
    assert_int_equal(cai_model_load(vitae_path, CAI_PREC_FP32, &mf, &e), CAI_OK);
    assert_int_equal(cai_model_load(vitae_path, CAI_PREC_INT8, &m8, &e), CAI_OK);
    const int n = 200;
    float f[200], q[200];
    predict_n(mf, 128, 1, n, images, mags, CAI_F64, f);
    predict_n(m8, 128, 1, n, images, mags, CAI_F64, q);
    float dmax = 0, range = 0;
    int same = 1;
    for (int i = 0; i < n; i++) {
        assert_true(isfinite(q[i]));
        dmax = fmaxf(dmax, fabsf(f[i] - q[i]));
        range = fmaxf(range, fabsf(f[i] - f[0]));
        same &= f[i] == q[i];
    }
    print_message("int8 vs fp32: max |dz| %.3g (prediction spread %.3g)\n", dmax, range);
    assert_false(same);                        /* int8 really ran */
    assert_true(dmax < 0.05f * range + 1e-4f); /* and stays within 5% of the spread of predictions */
    cai_model_free(mf);
    cai_model_free(m8);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Issue 12's accuracy bound, on 4,096 synthetic galaxies (another seed than the calibration batch's own
 * generator): max |dz| <= 2e-3 and median |dz| <= 3e-4 between int8 and fp32. The same bound against the
 * PyTorch reference is in tests/integration/golden_model.sh. Fails with the first int8 engine (7-bit
 * weights, per-row dynamic activations: median 2.3e-4 but max up to 9e-4 on 1,024, worse on other weights)
 * only where it exceeds the bound; fails with any broken scale, zero point or bias fold by orders of magnitude. */
static void test_int8_accuracy_4096(void **state) {
    (void)state;
    enum { N = 4096 };
    cai_err e = {0};
    cai_model *mf, *m8;
    assert_int_equal(cai_model_load(vitae_path, CAI_PREC_FP32, &mf, &e), CAI_OK);
    assert_int_equal(cai_model_load(vitae_path, CAI_PREC_INT8, &m8, &e), CAI_OK);
    assert_int_equal(cai_model_precision(m8), CAI_PREC_INT8);
    float *img = malloc((size_t)N * CAI_IMG_FLOATS * sizeof(float)), *z = malloc(N * sizeof(float));
    double *mg = malloc((size_t)N * 5 * sizeof(double));
    float *f = malloc(N * sizeof(float)), *q = malloc(N * sizeof(float));
    assert_non_null(img), assert_non_null(z), assert_non_null(mg), assert_non_null(f), assert_non_null(q);
    cai_synth_galaxies(21, 0, N, img, mg, z, 0);
    predict_n(mf, 512, 2, N, img, mg, CAI_F64, f);
    predict_n(m8, 512, 2, N, img, mg, CAI_F64, q);
    for (int i = 0; i < N; i++) {
        assert_true(isfinite(q[i]));
        f[i] = fabsf(f[i] - q[i]);
    }
    qsort(f, N, sizeof(float), cmp_float);
    float med = 0.5f * (f[N / 2 - 1] + f[N / 2]), mx = f[N - 1];
    print_message("int8 vs fp32 over %d galaxies: max |dz| %.3g, median |dz| %.3g\n", N, mx, med);
    assert_true(mx > 0); /* int8 really ran */
    assert_true(mx <= 2e-3f);
    assert_true(med <= 3e-4f);
    free(img), free(z), free(mg), free(f), free(q);
    cai_model_free(mf);
    cai_model_free(m8);
}

/* CAI_INT8_SCALES=dynamic: activation scales measured per sub-batch instead of calibrated. Within issue 12's
 * bound on 1,024 galaxies, not the static model's output (it really ran), a NaN galaxy leaves the others'
 * scales and so their outputs untouched, and a value other than static/dynamic is refused at load. */
static void test_int8_dynamic_scales(void **state) {
    (void)state;
    enum { N = 1024 };
    cai_err e = {0};
    cai_model *mf, *ms, *md, *bad = NULL;
    assert_int_equal(setenv("CAI_INT8_SCALES", "per-row", 1), 0);
    assert_int_equal(cai_model_load(vitae_path, CAI_PREC_INT8, &bad, &e), CAI_EARG);
    assert_null(bad);
    assert_non_null(strstr(e.msg, "CAI_INT8_SCALES"));
    assert_int_equal(setenv("CAI_INT8_SCALES", "dynamic", 1), 0);
    assert_int_equal(cai_model_load(vitae_path, CAI_PREC_INT8, &md, &e), CAI_OK);
    assert_int_equal(unsetenv("CAI_INT8_SCALES"), 0);
    assert_int_equal(cai_model_load(vitae_path, CAI_PREC_FP32, &mf, &e), CAI_OK);
    assert_int_equal(cai_model_load(vitae_path, CAI_PREC_INT8, &ms, &e), CAI_OK);
    float *img = malloc((size_t)N * CAI_IMG_FLOATS * sizeof(float)), *z = malloc(N * sizeof(float));
    double *mg = malloc((size_t)N * 5 * sizeof(double));
    float *f = malloc(N * sizeof(float)), *q = malloc(N * sizeof(float)), *qs = malloc(N * sizeof(float));
    assert_non_null(img), assert_non_null(z), assert_non_null(mg), assert_non_null(f), assert_non_null(q);
    assert_non_null(qs);
    cai_synth_galaxies(22, 0, N, img, mg, z, 0);
    predict_n(mf, 512, 2, N, img, mg, CAI_F64, f);
    predict_n(md, 512, 2, N, img, mg, CAI_F64, q);
    predict_n(ms, 512, 2, N, img, mg, CAI_F64, qs);
    int same = 1;
    for (int i = 0; i < N; i++) {
        assert_true(isfinite(q[i]));
        same &= q[i] == qs[i];
        f[i] = fabsf(f[i] - q[i]);
    }
    assert_false(same);
    qsort(f, N, sizeof(float), cmp_float);
    float med = 0.5f * (f[N / 2 - 1] + f[N / 2]), mx = f[N - 1];
    print_message("int8 dynamic vs fp32 over %d galaxies: max |dz| %.3g, median |dz| %.3g\n", N, mx, med);
    assert_true(mx > 0 && mx <= 2e-3f && med <= 3e-4f);
    /* NaN (or +inf): that galaxy comes out NaN. The others of its sub-batch lose only its clean values from the range
     * (per-batch scales: that much one galaxy moves another); its NaN rows must not come back finite from
     * the u8 GEMM as garbage that widens the next range: 8.6e-4 without that guard, 2.1e-5 with it. */
    const int n = 40;
    float clean[40], dirty[40], worst = 0;
    predict_n(md, 16, 1, n, img, mg, CAI_F64, clean);
    img[3 * CAI_IMG_FLOATS + 2 * 1024 + 17 * 32 + 5] = NAN;
    img[33 * CAI_IMG_FLOATS + 100] = INFINITY;
    predict_n(md, 16, 1, n, img, mg, CAI_F64, dirty);
    for (int i = 0; i < n; i++)
        if (i == 3 || i == 33) assert_true(isnan(dirty[i]));
        else if (i < 16) worst = fmaxf(worst, fabsf(dirty[i] - clean[i])); /* galaxy 3's sub-batch */
        else if (i < 32) assert_true(dirty[i] == clean[i]);                /* a sub-batch without either */
        else assert_true(isfinite(dirty[i]));                              /* galaxy 33's, of 8 */
    print_message("int8 dynamic: a NaN galaxy moves the others of its sub-batch by at most %.3g\n", worst);
    assert_true(worst <= 1e-4f);
    free(img), free(z), free(mg), free(f), free(q), free(qs);
    cai_model_free(mf), cai_model_free(ms), cai_model_free(md);
}

/* auto resolves at load: int8 exactly where the CPU has VNNI, and the model says which. */
static void test_precision_auto(void **state) {
    (void)state;
    cai_err e = {0};
    cai_model *m;
    assert_int_equal(cai_model_load(vitae_path, CAI_PREC_AUTO, &m, &e), CAI_OK);
    assert_int_equal(cai_model_precision(m), cai_cpu_has_vnni() ? CAI_PREC_INT8 : CAI_PREC_FP32);
    assert_int_equal(cai_precision_resolve(CAI_PREC_FP32), CAI_PREC_FP32);
    assert_int_equal(cai_precision_resolve(CAI_PREC_INT8), CAI_PREC_INT8);
    assert_string_equal(cai_precision_label(cai_model_precision(m)), cai_cpu_has_vnni() ? "int8" : "fp32");
    cai_model_free(m);
    assert_int_equal(cai_model_load(vitae_path, (cai_precision)7, &m, &e), CAI_EARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_weights_load), cmocka_unit_test(test_bad_weights),
        cmocka_unit_test(test_batch_invariance),    cmocka_unit_test(test_nan_isolation),
        cmocka_unit_test(test_threads_share_model), cmocka_unit_test(test_int8_close_to_fp32),
        cmocka_unit_test(test_int8_accuracy_4096),  cmocka_unit_test(test_int8_dynamic_scales),
        cmocka_unit_test(test_precision_auto),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
