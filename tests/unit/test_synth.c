/* test_synth.c — synthetic galaxies: determinism (per galaxy, whatever the chunking/threads) and physical
 * plausibility measured on the output (redshift range and median, colour-redshift and size-redshift trends,
 * magnitudes consistent with image fluxes), and the written data set (files, manifest, both formats). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/util.h"
#include "data/manifest.h"
#include "data/partition.h"
#include "data/synth.h"
#include "tmpdir.h"

#define NP CAI_SYNTH_NPIX

typedef struct {
    int64_t n;
    float *img;
    double *mag;
    float *z;
} set;
static set gen(uint64_t seed, int64_t id0, int64_t n, int threads) {
    set s = {n, malloc((size_t)n * NP * 4), malloc((size_t)n * 5 * 8), malloc((size_t)n * 4)};
    cai_synth_galaxies(seed, id0, n, s.img, s.mag, s.z, threads);
    return s;
}
static void drop(set *s) {
    free(s->img);
    free(s->mag);
    free(s->z);
}

static void test_same_seed_same_bytes_any_chunking(void **state) {
    (void)state;
    set a = gen(42, 0, 40, 1), b = gen(42, 0, 40, 2);
    assert_memory_equal(a.img, b.img, 40 * NP * 4);
    assert_memory_equal(a.mag, b.mag, 40 * 5 * 8);
    assert_memory_equal(a.z, b.z, 40 * 4);
    /* Chunked differently: 0..16 and 17..39, and galaxy 23 alone. */
    set c1 = gen(42, 0, 17, 2), c2 = gen(42, 17, 23, 1);
    assert_memory_equal(c1.img, a.img, 17 * NP * 4);
    assert_memory_equal(c2.img, a.img + 17 * NP, 23 * NP * 4);
    assert_memory_equal(c2.mag, a.mag + 17 * 5, 23 * 5 * 8);
    float one[NP], z1;
    double m1[5];
    cai_synth_galaxy(42, 23, one, m1, &z1, NULL);
    assert_memory_equal(one, a.img + 23 * NP, sizeof one);
    assert_memory_equal(m1, a.mag + 23 * 5, sizeof m1);
    assert_true(z1 == a.z[23]);
    /* Another seed gives other galaxies; neighbouring ids differ. */
    set d = gen(43, 0, 40, 2);
    assert_true(memcmp(d.img, a.img, 40 * NP * 4) != 0);
    assert_true(memcmp(a.img, a.img + NP, NP * 4) != 0);
    drop(&a);
    drop(&b);
    drop(&c1);
    drop(&c2);
    drop(&d);
}

static int cmp_f(const void *x, const void *y) {
    float a = *(const float *)x, b = *(const float *)y;
    return a < b ? -1 : a > b;
}

/* r-band size: flux-weighted RMS radius over pixels above 3 sky sigma (keeps the noise out). */
static double size_px(const float *r) {
    double w = 0, sx = 0, sy = 0;
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++) {
            double v = r[y * 32 + x];
            if (v < 0.075) continue;
            w += v;
            sx += v * x;
            sy += v * y;
        }
    if (w <= 0) return 0;
    double cx = sx / w, cy = sy / w, m2 = 0;
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++) {
            double v = r[y * 32 + x];
            if (v < 0.075) continue;
            m2 += v * ((x - cx) * (x - cx) + (y - cy) * (y - cy));
        }
    return sqrt(m2 / w);
}

static void test_plausible_like_sdss_mgs(void **state) {
    (void)state;
    const int64_t n = 3000;
    set s = gen(2019, 0, n, 0);
    float *zs = malloc(n * sizeof *zs);
    memcpy(zs, s.z, n * sizeof *zs);
    qsort(zs, n, sizeof *zs, cmp_f);
    assert_true(zs[0] > 0 && zs[n - 1] < 0.4f);
    double median = zs[n / 2];
    if (median < 0.08 || median > 0.13) fail_msg("median z %.3f, expected ~0.1", median);
    assert_true(zs[n / 20] < 0.06);     /* a low-z tail */
    assert_true(zs[n - n / 20] > 0.18); /* and a high-z one */
    free(zs);

    double gr_lo = 0, gr_hi = 0, ug_lo = 0, ug_hi = 0, sz_lo = 0, sz_hi = 0, ratio[5] = {0};
    int nlo = 0, nhi = 0, rbright = 0, rfaint = 0;
    for (int64_t i = 0; i < n; i++) {
        const double *m = s.mag + i * 5;
        for (int b = 0; b < 5; b++) assert_true(isfinite(m[b]) && m[b] > 10 && m[b] < 30);
        if (m[2] < 13.5) rbright++;
        if (m[2] > 18.3) rfaint++;
        double sz = size_px(s.img + i * NP + 2 * 1024);
        if (s.z[i] < 0.07) {
            gr_lo += m[1] - m[2];
            ug_lo += m[0] - m[1];
            sz_lo += sz;
            nlo++;
        } else if (s.z[i] > 0.15) {
            gr_hi += m[1] - m[2];
            ug_hi += m[0] - m[1];
            sz_hi += sz;
            nhi++;
        }
        /* Magnitudes consistent with the image: the cutout holds most of the galaxy's flux. */
        for (int b = 1; b < 4; b++) {
            double sum = 0;
            for (int k = 0; k < 1024; k++) sum += s.img[i * NP + b * 1024 + k];
            ratio[b] += sum / pow(10, -0.4 * (m[b] - 22.5));
        }
    }
    assert_true(nlo > 100 && nhi > 100);
    gr_lo /= nlo, gr_hi /= nhi, ug_lo /= nlo, ug_hi /= nhi, sz_lo /= nlo, sz_hi /= nhi;
    print_message("g-r %.3f -> %.3f, u-g %.3f -> %.3f, size %.2f -> %.2f px (z<0.07 -> z>0.15)\n", gr_lo, gr_hi, ug_lo,
                  ug_hi, sz_lo, sz_hi);
    if (gr_hi - gr_lo < 0.15) fail_msg("g-r does not redden with z: %.3f -> %.3f", gr_lo, gr_hi);
    if (ug_hi - ug_lo < 0.1) fail_msg("u-g does not redden with z: %.3f -> %.3f", ug_lo, ug_hi);
    if (sz_lo < 1.25 * sz_hi) fail_msg("galaxies do not shrink with z: %.2f -> %.2f px", sz_lo, sz_hi);
    /* r within the MGS range (14 .. 17.77) up to measurement noise. */
    assert_true(rbright < n / 100 && rfaint < n / 100);
    for (int b = 1; b < 4; b++) {
        double r = ratio[b] / n;
        if (r < 0.8 || r > 1.05) fail_msg("band %d: image flux / magnitude flux = %.3f", b, r);
    }
    drop(&s);
}

static void test_truth_fields(void **state) {
    (void)state;
    float img[NP], z;
    double m[5];
    for (int64_t id = 0; id < 50; id++) {
        cai_synth_truth t;
        cai_synth_galaxy(5, id, img, m, &z, &t);
        assert_true(fabs(t.z - z) < 1e-6);
        assert_true(t.bt >= 0 && t.bt <= 1 && t.q > 0.15 && t.q <= 1);
        assert_true(t.re_disk_px >= 0.3 && t.re_disk_px <= 25);
        assert_true(t.mag_true[2] > 13.9 && t.mag_true[2] < 17.8);
        assert_true(t.psf_fwhm_px[2] > 2.5 && t.psf_fwhm_px[2] < 4.5);
        /* Observed magnitudes scatter around the truth by at most a few tenths. */
        for (int b = 0; b < 5; b++) assert_true(fabs(m[b] - t.mag_true[b]) < 2.6);
    }
}

static char *tmpdir(void) {
    char d[CAI_TEST_DIR_MAX];
    assert_int_equal(cai_test_mkdtemp(d, sizeof d, "synth"), 0);
    return strdup(d);
}
static void rmrf(const char *d) { assert_int_equal(cai_test_rmtree(d), 0); }

static void check_written(const char *dir, cai_part_format fmt, const set *ref) {
    char path[512];
    snprintf(path, sizeof path, "%s/manifest.jsonl", dir);
    cai_manifest m;
    cai_err e = {0};
    assert_int_equal(cai_manifest_load(path, &m, &e), CAI_OK);
    assert_int_equal(m.n, 3);
    assert_int_equal(m.galaxies, 25);
    int64_t want[] = {10, 10, 5}, row = 0;
    for (int i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof key, "%d.%s", i + 1, fmt == CAI_PART_SHARD ? "safetensors" : "pt");
        assert_string_equal(m.v[i].key, key);
        assert_int_equal(m.v[i].galaxies, want[i]);
        assert_int_equal(m.v[i].id_first, 100 + row);
        assert_int_equal(m.v[i].id_last, 100 + row + want[i] - 1);
        assert_int_equal(m.v[i].format, fmt);
        snprintf(path, sizeof path, "%s/%s", dir, key);
        cai_file f;
        assert_int_equal(cai_file_map(path, &f, &e), CAI_OK);
        assert_int_equal(cai_manifest_verify_bytes(&m.v[i], f.data, f.len, &e), CAI_OK);
        cai_partition p;
        assert_int_equal(cai_partition_parse(f.data, f.len, path, &p, &e), CAI_OK);
        assert_int_equal(p.format, fmt);
        assert_int_equal(p.n, want[i]);
        assert_memory_equal(p.images, ref->img + row * NP, (size_t)want[i] * NP * 4);
        assert_memory_equal(p.mags, ref->mag + row * 5, (size_t)want[i] * 5 * 8);
        assert_memory_equal(p.labels, ref->z + row, (size_t)want[i] * 4);
        if (fmt == CAI_PART_SHARD) {
            assert_non_null(p.ids);
            for (int64_t k = 0; k < want[i]; k++) assert_int_equal(p.ids[k], 100 + row + k);
        }
        cai_partition_close(&p);
        cai_file_unmap(&f);
        row += want[i];
    }
    cai_manifest_free(&m);
}

static void test_write_both_formats(void **state) {
    (void)state;
    set ref = gen(9, 100, 25, 1);
    for (int k = 0; k < 2; k++) {
        cai_part_format fmt = k ? CAI_PART_SEEDPT : CAI_PART_SHARD;
        char *dir = tmpdir();
        cai_synth_opts o = {.galaxies = 25, .seed = 9, .id_offset = 100, .per_file = 10, .format = fmt, .outdir = dir};
        cai_synth_report r;
        cai_err e = {0};
        assert_int_equal(cai_synth_write(&o, &r, &e), CAI_OK);
        assert_int_equal(r.files, 3);
        assert_int_equal(r.galaxies, 25);
        check_written(dir, fmt, &ref);
        /* A second run into the same directory is refused, unless forced. */
        assert_int_equal(cai_synth_write(&o, &r, &e), CAI_EARG);
        assert_non_null(strstr(e.msg, "--force"));
        o.force = 1;
        o.per_file = 25;
        assert_int_equal(cai_synth_write(&o, &r, &e), CAI_OK);
        char p3[300];
        snprintf(p3, sizeof p3, "%s/3.%s", dir, k ? "pt" : "safetensors");
        assert_int_not_equal(access(p3, F_OK), 0); /* stale partitions were removed */
        rmrf(dir);
        free(dir);
    }
    drop(&ref);
    cai_synth_opts bad = {.galaxies = 0, .outdir = "/tmp/x"};
    cai_err e = {0};
    assert_int_equal(cai_synth_write(&bad, NULL, &e), CAI_EARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_bytes_any_chunking),
        cmocka_unit_test(test_plausible_like_sdss_mgs),
        cmocka_unit_test(test_truth_fields),
        cmocka_unit_test(test_write_both_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
