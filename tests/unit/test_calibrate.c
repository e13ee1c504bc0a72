/* test_calibrate.c — calibration (coverage on a held-out synthetic set, JSON round trip, bad files named,
 * other weights refused, flags), predictions rows with optional columns, and the TTA transforms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/synth.h"
#include "model/tta.h"
#include "pipeline/calibrate.h"
#include "pipeline/flags.h"
#include "pipeline/predictions.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static uint64_t rng_state;
static double urand(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) / 9007199254740992.0;
}
static double nrand(void) { return sqrt(-2 * log(urand())) * cos(6.283185307179586 * urand()); }

/* n synthetic galaxies (true z and ugriz from cai_synth_galaxy) and a photo-z model whose error grows with
 * redshift and faintness, with 3% catastrophic outliers: what a CNN on SDSS looks like, roughly. */
static void make_set(uint64_t seed, int64_t n, float *p, float *z, float *m) {
    static float img[CAI_SYNTH_NPIX];
    rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t i = 0; i < n; i++) {
        double mag[5];
        cai_synth_galaxy(seed, i, img, mag, &z[i], NULL);
        for (int b = 0; b < 5; b++) m[i * 5 + b] = (float)mag[b];
        double sig = 0.01 + 0.02 * z[i] + 0.006 * fmax(0, mag[2] - 15);
        p[i] = urand() < 0.03 ? (float)(0.6 * urand()) : (float)(z[i] + (1 + z[i]) * sig * nrand());
    }
}

static void test_coverage_held_out(void **state) {
    (void)state;
    enum { N = 5000 };
    float *p = malloc(N * sizeof *p), *z = malloc(N * sizeof *z), *m = malloc(N * 5 * sizeof *m);
    make_set(11, N, p, z, m);
    cai_calib c;
    cai_err e = {0};
    cai_calib_opts o = {250, 8, 4}; /* 8 z bins of 625, each split in two by r magnitude */
    assert_int_equal(cai_calib_build(p, z, m, N, SHA_A, 1, &o, &c, &e), CAI_OK);
    assert_int_equal(c.nz, 8);
    assert_true(c.zb[0].nsub >= 2); /* magnitude sub-bins where there are enough galaxies */
    /* held out: another seed */
    make_set(12, N, p, z, m);
    int in68 = 0, in95 = 0;
    for (int i = 0; i < N; i++) {
        cai_pred_row r;
        cai_pred_row_init(&r);
        r.prediction = p[i];
        memcpy(r.mag, m + i * 5, sizeof r.mag);
        cai_calib_apply(&c, &r);
        assert_true(r.cal[CAI_CAL_LO95] <= r.cal[CAI_CAL_LO68] && r.cal[CAI_CAL_LO68] <= r.cal[CAI_CAL_HI68] &&
                    r.cal[CAI_CAL_HI68] <= r.cal[CAI_CAL_HI95]);
        assert_true(r.cal[CAI_CAL_ERR] >= 0 && r.cal[CAI_CAL_POUT] >= 0 && r.cal[CAI_CAL_POUT] <= 1);
        in68 += z[i] >= r.cal[CAI_CAL_LO68] && z[i] <= r.cal[CAI_CAL_HI68];
        in95 += z[i] >= r.cal[CAI_CAL_LO95] && z[i] <= r.cal[CAI_CAL_HI95];
    }
    double c68 = (double)in68 / N, c95 = (double)in95 / N;
    printf("held-out coverage: 68%% interval %.4f, 95%% interval %.4f\n", c68, c95);
    assert_true(fabs(c68 - 0.68) <= 0.03);
    assert_true(fabs(c95 - 0.95) <= 0.02);
    cai_calib_free(&c);
    free(p), free(z), free(m);
}

/* Δ quantiles → z bounds: a bin whose residuals are exactly ±0.1 maps p = 0.5 to z = (0.5 ∓ 0.1)/(1 ± 0.1). */
static void test_interval_arithmetic(void **state) {
    (void)state;
    enum { N = 400 };
    float p[N], z[N];
    for (int i = 0; i < N; i++) {
        double d = i % 2 ? 0.1 : -0.1; /* Δ = ±0.1 exactly */
        z[i] = 0.3f + 0.0001f * (float)i;
        p[i] = (float)(z[i] + d * (1 + z[i]));
    }
    cai_calib_opts o = {1000, 1, 1};
    cai_calib c;
    assert_int_equal(cai_calib_build(p, z, NULL, N, SHA_A, 1, &o, &c, NULL), CAI_OK);
    assert_int_equal(c.nz, 1);
    assert_false(c.has_mags);
    cai_pred_row r;
    cai_pred_row_init(&r);
    r.prediction = 0.5f;
    cai_calib_apply(&c, &r);
    assert_float_equal(r.cal[CAI_CAL_LO95], (0.5 - 0.1) / 1.1, 1e-5);
    assert_float_equal(r.cal[CAI_CAL_HI95], (0.5 + 0.1) / 0.9, 1e-5);
    assert_float_equal(r.cal[CAI_CAL_POUT], 0.0, 1e-9); /* |Δ| = 0.1 is not above 0.15 */
    assert_float_equal(c.all.out05, 1.0, 1e-9);
    /* outside the calibration's predicted-z range, and a NaN prediction */
    r.prediction = 5.0f;
    cai_calib_apply(&c, &r);
    assert_true(r.flags & CAI_FLAG_Z_RANGE);
    r.prediction = NAN;
    cai_calib_apply(&c, &r);
    assert_true(r.flags & CAI_FLAG_PRED_NONFINITE);
    assert_true(isnan(r.cal[CAI_CAL_ERR]));
    cai_calib_free(&c);
    /* too few usable pairs */
    float bad[3] = {NAN, 0.1f, 0.2f};
    cai_err e = {0};
    assert_int_equal(cai_calib_build(bad, bad, NULL, 3, SHA_A, 1, NULL, &c, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "at least 20"));
}

static void test_json_round_trip_and_refusals(void **state) {
    (void)state;
    enum { N = 1500 };
    float *p = malloc(N * sizeof *p), *z = malloc(N * sizeof *z), *m = malloc(N * 5 * sizeof *m);
    make_set(21, N, p, z, m);
    cai_calib c, d;
    assert_int_equal(cai_calib_build(p, z, m, N, SHA_A, 1, NULL, &c, NULL), CAI_OK);
    cJSON *j = cai_calib_to_json(&c, NULL);
    char *txt = cJSON_Print(j);
    cai_err e = {0};
    assert_int_equal(cai_calib_parse(txt, strlen(txt), "calib.json", &d, &e), CAI_OK);
    assert_int_equal(strlen(d.sha256), 64);
    assert_int_equal(d.nz, c.nz);
    for (int i = 0; i < 200; i++) { /* same intervals from the file as from memory */
        cai_pred_row a, b;
        cai_pred_row_init(&a);
        a.prediction = p[i];
        memcpy(a.mag, m + i * 5, sizeof a.mag);
        b = a;
        cai_calib_apply(&c, &a);
        cai_calib_apply(&d, &b);
        for (int k = 0; k < CAI_CAL_N; k++) assert_float_equal(a.cal[k], b.cal[k], 1e-6);
        assert_int_equal(a.flags, b.flags);
    }
    /* other weights / other TTA setting: refused by name */
    assert_int_equal(cai_calib_check(&d, "calib.json", SHA_A, 1, &e), CAI_OK);
    assert_int_equal(cai_calib_check(&d, "calib.json", SHA_B, 1, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "calib.json"));
    assert_non_null(strstr(e.msg, "aaaaaaaaaaaaaaaa"));
    assert_non_null(strstr(e.msg, "bbbbbbbbbbbbbbbb"));
    assert_int_equal(cai_calib_check(&d, "calib.json", SHA_A, 8, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "--tta 8"));
    cai_calib_free(&d);
    /* bad files: each names the field */
    struct {
        const char *path, *repl;
        const char *want;
    } bad[] = {
        {"format", "\"cai-calibration/0\"", "\"format\""},
        {"weights_sha256", "\"xyz\"", "\"weights_sha256\""},
        {"tta", "3", "\"tta\""},
        {"overall", "7", "\"overall\""},
        {"by_z_pred", "[]", "\"by_z_pred\""},
        {"z_pred_range", "[1, 0]", "\"z_pred_range\""},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        cJSON *x = cJSON_Duplicate(j, 1);
        cJSON_ReplaceItemInObjectCaseSensitive(x, bad[k].path, cJSON_Parse(bad[k].repl));
        char *t = cJSON_PrintUnformatted(x);
        if (cai_calib_parse(t, strlen(t), "c.json", &d, &e) == CAI_OK) fail_msg("case %zu parsed", k);
        if (!strstr(e.msg, bad[k].want)) fail_msg("case %zu: \"%s\" lacks %s", k, e.msg, bad[k].want);
        assert_non_null(strstr(e.msg, "c.json"));
        free(t);
        cJSON_Delete(x);
    }
    /* quantiles out of order in a bin, a missing count, overlapping bins */
    cJSON *x = cJSON_Duplicate(j, 1);
    cJSON *b0 = cJSON_GetArrayItem(cJSON_GetObjectItem(x, "by_z_pred"), 0);
    cJSON_ReplaceItemInObjectCaseSensitive(b0, "quantiles", cJSON_Parse("[0.1, 0.0, 0.2, 0.3, 0.4]"));
    char *t = cJSON_PrintUnformatted(x);
    assert_int_equal(cai_calib_parse(t, strlen(t), "c.json", &d, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "by_z_pred[0].quantiles"));
    free(t);
    cJSON_DeleteItemFromObjectCaseSensitive(b0, "n");
    t = cJSON_PrintUnformatted(x);
    assert_int_equal(cai_calib_parse(t, strlen(t), "c.json", &d, &e), CAI_EKEY);
    assert_non_null(strstr(e.msg, "by_z_pred[0].n"));
    free(t);
    cJSON_Delete(x);
    x = cJSON_Duplicate(j, 1);
    cJSON *b1 = cJSON_GetArrayItem(cJSON_GetObjectItem(x, "by_z_pred"), 1);
    cJSON_ReplaceItemInObjectCaseSensitive(b1, "z_pred_lo", cJSON_CreateNumber(-5));
    t = cJSON_PrintUnformatted(x);
    assert_int_equal(cai_calib_parse(t, strlen(t), "c.json", &d, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "non-overlapping"));
    free(t);
    cJSON_Delete(x);
    assert_int_equal(cai_calib_parse("[1]", 3, "c.json", &d, &e), CAI_EFORMAT);
    assert_int_equal(cai_calib_parse("{\"format\":", 10, "c.json", &d, &e), CAI_EFORMAT);
    free(txt);
    cJSON_Delete(j);
    cai_calib_free(&c);
    free(p), free(z), free(m);
}

static void test_input_flags(void **state) {
    (void)state;
    static float img[CAI_SYNTH_NPIX];
    double mag[5];
    float z;
    cai_synth_galaxy(1, 0, img, mag, &z, NULL);
    assert_int_equal(cai_flags_input(img, mag, CAI_F64), 0);
    img[1030] = NAN;
    assert_int_equal(cai_flags_input(img, mag, CAI_F64), CAI_FLAG_PIX_NONFINITE);
    img[1030] = 0;
    memset(img + 3 * 1024, 0, 1024 * sizeof(float)); /* band i empty */
    mag[4] = INFINITY;
    assert_int_equal(cai_flags_input(img, mag, CAI_F64), CAI_FLAG_EMPTY_BAND | CAI_FLAG_MAG_NONFINITE);
    for (int b = 0; b < CAI_FLAG_NBITS; b++) assert_non_null(cai_flag_desc(b));
    assert_null(cai_flag_desc(CAI_FLAG_NBITS));
}

typedef struct {
    cai_pred_row rows[4];
    int n;
} collect;
static int on_row(const cai_pred_row *r, void *ctx) {
    collect *c = ctx;
    if (c->n < 4) c->rows[c->n++] = *r;
    return 0;
}

static void test_prediction_rows(void **state) {
    (void)state;
    char *buf;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    cai_pred_row r;
    cai_pred_row_init(&r);
    r.galaxy_id = 7, r.partition = 3, r.index = 1, r.prediction = 0.125f, r.has_label = 1, r.label = 0.25f;
    r.has_objid = 1, r.objid = 1237648720693755918LL, r.ra = 123.456789012345678, r.dec = -1.5;
    for (int b = 0; b < 5; b++) r.mag[b] = 17.0f + (float)b;
    r.flags = CAI_FLAG_Z_RANGE, r.z_std = 0.01f;
    for (int k = 0; k < CAI_CAL_N; k++) r.cal[k] = 0.1f * (float)k;
    cai_pred_header_write(f, CAI_PCOL_ALL);
    cai_pred_row_write(f, &r, CAI_PCOL_ALL);
    cai_pred_row_init(&r); /* all optional fields absent */
    r.partition = 3, r.index = 2, r.prediction = 0.5f;
    cai_pred_row_write(f, &r, CAI_PCOL_ALL);
    fclose(f);
    collect c = {0};
    cai_err e = {0};
    assert_int_equal(cai_predictions_parse(buf, len, "p.csv", on_row, &c, &e), CAI_OK);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.rows[0].objid, 1237648720693755918LL);
    assert_true(c.rows[0].ra == 123.456789012345678); /* %.17g: doubles round-trip */
    assert_int_equal(c.rows[0].flags, CAI_FLAG_Z_RANGE);
    assert_float_equal(c.rows[0].cal[CAI_CAL_POUT], 0.5f, 1e-7);
    assert_int_equal(c.rows[0].cols, CAI_PCOL_ALL);
    assert_false(c.rows[1].has_objid);
    assert_true(isnan(c.rows[1].ra) && isnan(c.rows[1].mag[2]) && isnan(c.rows[1].z_std) && !c.rows[1].has_label);
    free(buf);
    /* the original 5-column format still reads; a subset of groups too */
    const char *old = "galaxy_id,partition,index,prediction,label\n,1,0,0.1,\n";
    c.n = 0;
    assert_int_equal(cai_predictions_parse(old, strlen(old), "o.csv", on_row, &c, &e), CAI_OK);
    assert_int_equal(c.rows[0].cols, 0);
    const char *sub = "galaxy_id,partition,index,prediction,label,flags,z_std\n1,1,0,0.1,,4,0.5\n";
    c.n = 0;
    assert_int_equal(cai_predictions_parse(sub, strlen(sub), "s.csv", on_row, &c, &e), CAI_OK);
    assert_int_equal(c.rows[0].flags, 4);
    /* bad: unknown/out-of-order columns, wrong field counts, bad flags, truncated */
    const char *bads[][2] = {
        {"galaxy_id,partition,index,prediction,label,zz\n", "unexpected columns \",zz\""},
        {"galaxy_id,partition,index,prediction,label,flags,objid\n", "unexpected columns \",objid\""},
        {"galaxy_id,partition,index,prediction,label,flags\n1,1,0,0.1,\n", "expected 6 comma-separated fields"},
        {"galaxy_id,partition,index,prediction,label,flags\n1,1,0,0.1,,-3\n", "malformed row"},
        /* a negative id would write back as an empty field (no id): found by fuzz_catalog */
        {"galaxy_id,partition,index,prediction,label\n-17,1,0,0.1,\n", "malformed row"},
        {"galaxy_id,partition,index,prediction,label,flags\n1,1,0,0.1,,\n", "malformed row"},
        {"galaxy_id,partition,index,prediction,label,ra,dec\n1,1,0,0.1,,abc,1\n", "malformed row"},
        {"galaxy_id,partition,index,prediction,label\n1,1,0,0.1,", "truncated"},
        {"nope\n", "expected the header"},
        {"", "expected the header"},
    };
    for (size_t k = 0; k < sizeof bads / sizeof bads[0]; k++) {
        c.n = 0;
        assert_int_equal(cai_predictions_parse(bads[k][0], strlen(bads[k][0]), "b.csv", on_row, &c, &e), CAI_EFORMAT);
        if (!strstr(e.msg, bads[k][1])) fail_msg("case %zu: \"%s\" lacks \"%s\"", k, e.msg, bads[k][1]);
    }
}

/* The 8 views are the dihedral group: all distinct on an asymmetric plane, 4 quarter turns = identity,
 * a flip twice = identity. */
static void test_tta_transforms(void **state) {
    (void)state;
    float src[1024], v[8][1024], tmp[1024], tmp2[1024];
    for (int i = 0; i < 1024; i++) src[i] = (float)i;
    for (int t = 0; t < 8; t++) cai_tta_plane(src, v[t], t);
    assert_memory_equal(v[0], src, sizeof src);
    for (int a = 0; a < 8; a++)
        for (int b = a + 1; b < 8; b++) assert_memory_not_equal(v[a], v[b], sizeof src);
    memcpy(tmp, src, sizeof tmp);
    for (int k = 0; k < 4; k++) {
        cai_tta_plane(tmp, tmp2, 1);
        memcpy(tmp, tmp2, sizeof tmp);
    }
    assert_memory_equal(tmp, src, sizeof src);
    cai_tta_plane(v[4], tmp, 4);
    assert_memory_equal(tmp, src, sizeof src);
    /* a quarter turn moves the top-left corner to the bottom-left (counter-clockwise) */
    assert_float_equal(v[1][31 * 32 + 0], src[0], 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coverage_held_out),
        cmocka_unit_test(test_interval_arithmetic),
        cmocka_unit_test(test_json_round_trip_and_refusals),
        cmocka_unit_test(test_input_flags),
        cmocka_unit_test(test_prediction_rows),
        cmocka_unit_test(test_tta_transforms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
