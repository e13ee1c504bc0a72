/* test_seedpt.c — the seed's partition files: C write → C parse round trips (N = 0, 1, 7), zero-copy reads,
 * truncation at every length and single-byte corruption of a written file.
 *
 * Also a helper for tests/integration/convert_pickles.sh: with CAI_SEEDPT_IN=path set, it parses that file
 * (printing "ok N" or the error on stderr, exit 3) and, with CAI_SEEDPT_OUT=path, writes it back out with
 * cai_seedpt_write, so torch can compare what C read and wrote. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "data/seedpt.h"
#include "format/zip.h"
#include "tmpdir.h"
#include "zipbuild.h"

TMPDIR_GROUP("seedpt")

static void make(int64_t n, float **img, double **mag, float **z) {
    *img = malloc((size_t)(n ? n : 1) * 5120 * 4);
    *mag = malloc((size_t)(n ? n : 1) * 5 * 8);
    *z = malloc((size_t)(n ? n : 1) * 4);
    for (int64_t i = 0; i < n * 5120; i++) (*img)[i] = (float)(i % 977) * 0.25f - 3.0f;
    for (int64_t i = 0; i < n * 5; i++) (*mag)[i] = 15.0 + (double)i / 7.0;
    for (int64_t i = 0; i < n; i++) (*z)[i] = 0.01f * (float)i;
}

static void test_roundtrip(void **state) {
    (void)state;
    int64_t ns[] = {0, 1, 7};
    for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
        int64_t n = ns[k];
        float *img, *z;
        double *mag;
        make(n, &img, &mag, &z);
        char path[128];
        snprintf(path, sizeof path, "%s/%lld.pt", dir, (long long)n);
        cai_err e = {0};
        assert_int_equal(cai_seedpt_write(path, n, img, mag, z, &e), CAI_OK);
        cai_file f;
        assert_int_equal(cai_file_map(path, &f, &e), CAI_OK);
        cai_seedpt p;
        if (cai_seedpt_parse(f.data, f.len, path, &p, &e)) fail_msg("%s", e.msg);
        assert_int_equal(p.n, n);
        assert_null(p.owned); /* written aligned and stored: read in place */
        if (n) {
            assert_true((const uint8_t *)p.images > f.data && (const uint8_t *)p.images < f.data + f.len);
            assert_int_equal((uintptr_t)p.images % 64, 0);
            assert_int_equal((uintptr_t)p.mags % 64, 0);
            assert_memory_equal(p.images, img, (size_t)n * 5120 * 4);
            assert_memory_equal(p.mags, mag, (size_t)n * 5 * 8);
            assert_memory_equal(p.redshift, z, (size_t)n * 4);
        }
        cai_seedpt_close(&p);
        cai_file_unmap(&f);
        free(img);
        free(mag);
        free(z);
    }
}

static void test_truncated_and_corrupt(void **state) {
    (void)state;
    float *img, *z;
    double *mag;
    make(1, &img, &mag, &z);
    char path[128];
    snprintf(path, sizeof path, "%s/t.pt", dir);
    cai_err e = {0};
    assert_int_equal(cai_seedpt_write(path, 1, img, mag, z, &e), CAI_OK);
    char *buf;
    size_t len;
    assert_int_equal(cai_read_file(path, &buf, &len, &e), CAI_OK);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, buf, cut);
        cai_seedpt p;
        int rc = cai_seedpt_parse(copy, cut, "t.pt", &p, &e);
        assert_int_not_equal(rc, CAI_OK);
        assert_non_null(strstr(e.msg, "t.pt"));
        assert_null(p.images);
        free(copy);
    }
    /* Flip each byte: the CRC check catches data damage, the parser catches structure damage; a parse
     * that still succeeds must return exactly the original values. */
    uint8_t *copy = malloc(len);
    for (size_t i = 0; i < len; i += (i < 700 || i > len - 700) ? 1 : 97) {
        memcpy(copy, buf, len);
        copy[i] ^= 0x21;
        cai_seedpt p;
        if (cai_seedpt_parse(copy, len, "t.pt", &p, &e) == CAI_OK) {
            assert_int_equal(p.n, 1);
            assert_memory_equal(p.images, img, 5120 * 4);
            assert_memory_equal(p.mags, mag, 5 * 8);
            assert_memory_equal(p.redshift, z, 4);
            cai_seedpt_close(&p);
        } else {
            assert_non_null(strstr(e.msg, "t.pt"));
        }
    }
    free(copy);
    free(buf);
    free(img);
    free(mag);
    free(z);
}

static void test_write_errors(void **state) {
    (void)state;
    cai_err e = {0};
    float f = 0;
    double d = 0;
    assert_int_equal(cai_seedpt_write("/proc/nonexistent-dir/x.pt", 1, &f, &d, &f, &e) != CAI_OK, 1);
    assert_int_equal(cai_seedpt_write("/tmp/x.pt", -1, &f, &d, &f, &e), CAI_EARG);
    assert_int_equal(cai_seedpt_write("/tmp/x.pt", 2, NULL, &d, &f, &e), CAI_EARG);
}

/* Re-assemble a written 2-galaxy partition with one byte-string replaced in its data.pkl (the archive is
 * rebuilt, so CRCs stay right and only the meaning changes), then parse it. */
static int parse_patched(const char *from, size_t flen, const char *to, size_t tlen, cai_err *e) {
    float *img, *z;
    double *mag;
    make(2, &img, &mag, &z);
    char path[128];
    snprintf(path, sizeof path, "%s/p.pt", dir);
    assert_int_equal(cai_seedpt_write(path, 2, img, mag, z, e), CAI_OK);
    cai_file f;
    assert_int_equal(cai_file_map(path, &f, e), CAI_OK);
    cai_zip zz;
    assert_int_equal(cai_zip_open(f.data, f.len, path, &zz, e), CAI_OK);
    zb_entry ent[5];
    uint8_t *pk = NULL;
    size_t pkn = 0;
    assert_int_equal(zz.n, 5);
    for (size_t i = 0; i < zz.n; i++) {
        const uint8_t *d;
        size_t n;
        void *own;
        assert_int_equal(cai_zip_entry_data(&zz, &zz.entries[i], 1, &d, &n, &own, e), CAI_OK);
        ent[i] = (zb_entry){zz.entries[i].name, d, n, 0};
        if (strstr(zz.entries[i].name, "data.pkl")) {
            const uint8_t *hit = memmem(d, n, from, flen);
            assert_non_null(hit);
            pk = malloc(n - flen + tlen);
            size_t at = (size_t)(hit - d);
            memcpy(pk, d, at);
            memcpy(pk + at, to, tlen);
            memcpy(pk + at + tlen, hit + flen, n - at - flen);
            pkn = n - flen + tlen;
            ent[i].data = pk;
            ent[i].len = pkn;
        }
    }
    zb_out o;
    zb_build(ent, 5, &o);
    cai_seedpt p;
    int rc = cai_seedpt_parse(o.buf, o.len, "p.pt", &p, e);
    if (rc == CAI_OK) cai_seedpt_close(&p);
    free(o.buf);
    free(pk);
    cai_zip_close(&zz);
    cai_file_unmap(&f);
    free(img);
    free(mag);
    free(z);
    return rc;
}

#define PATCH(a, b) a, sizeof(a) - 1, b, sizeof(b) - 1

static void test_bad_layouts(void **state) {
    (void)state;
    cai_err e = {0};
    /* unchanged: parses */
    assert_int_equal(parse_patched(PATCH("TensorDataset", "TensorDataset"), &e), CAI_OK);
    /* redshift (N-1,) */
    assert_int_equal(parse_patched(PATCH("K\x02\x85q\x1a", "K\x01\x85q\x1a"), &e), CAI_ESHAPE);
    assert_string_equal(e.msg, "p.pt: tensors disagree on N: image 2, magnitude 2, redshift 1");
    /* magnitude stored as float32 */
    assert_int_equal(parse_patched(PATCH("ctorch\nDoubleStorage\n", "ctorch\nFloatStorage\n"), &e), CAI_ESHAPE);
    assert_string_equal(e.msg, "p.pt: tensor 1 (magnitude): expected float64 (N,5), got float32 (2,5)");
    /* image (N,5,16,64): same storage, wrong shape */
    assert_int_equal(parse_patched(PATCH("K\x02K\x05K K t", "K\x02K\x05K\x10K@t"), &e), CAI_ESHAPE);
    assert_string_equal(e.msg, "p.pt: tensor 0 (image): expected float32 (N,5,32,32), got float32 (2,5,16,64)");
    /* image shape that escapes its storage */
    assert_int_equal(parse_patched(PATCH("K\x02K\x05K K t", "K\x03K\x05K K t"), &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "reaches past the end of storage 0"));
    /* another dataset class: not on the allow-list at all */
    assert_int_equal(parse_patched(PATCH("TensorDataset", "ConcatDataset"), &e), CAI_EFORBIDDEN);
    assert_non_null(strstr(e.msg, "torch.utils.data.dataset ConcatDataset"));
    /* broken structure (TUPLE2 where torch wrote TUPLE3): refused, never misread */
    assert_int_equal(parse_patched(PATCH("\x87q\x1fsb.", "\x86q\x1fsb."), &e), CAI_EFORMAT);
}

/* Integration helper mode (see the header comment). */
static int env_mode(const char *in, const char *out) {
    cai_err e = {0};
    cai_file f;
    if (cai_file_map(in, &f, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 3;
    }
    cai_seedpt p;
    if (cai_seedpt_parse(f.data, f.len, in, &p, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        cai_file_unmap(&f);
        return 3;
    }
    printf("ok %lld%s\n", (long long)p.n, p.owned ? " (copied)" : " (zero-copy)");
    int rc = 0;
    if (out && cai_seedpt_write(out, p.n, p.images, p.mags, p.redshift, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        rc = 3;
    }
    cai_seedpt_close(&p);
    cai_file_unmap(&f);
    return rc;
}

int main(void) {
    const char *in = getenv("CAI_SEEDPT_IN");
    if (in && *in) return env_mode(in, getenv("CAI_SEEDPT_OUT"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_truncated_and_corrupt),
        cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_bad_layouts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
