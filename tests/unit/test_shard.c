/* test_shard.c — CAI shards: round trips, zero-copy alignment, and every way a shard can be wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/util.h"
#include "data/shard.h"
#include "format/safetensors.h"
#include "tmpdir.h"

#define IMG (5 * 32 * 32)

typedef struct {
    int64_t n;
    float *images;
    double *mags;
    int64_t *ids;
    float *z;
} galaxies;

static galaxies make(int64_t n, int64_t id0) {
    galaxies g = {n, malloc((size_t)(n ? n : 1) * IMG * 4), malloc((size_t)(n ? n : 1) * 5 * 8),
                  malloc((size_t)(n ? n : 1) * 8), malloc((size_t)(n ? n : 1) * 4)};
    for (int64_t i = 0; i < n; i++) {
        for (int k = 0; k < IMG; k++) g.images[i * IMG + k] = (float)(i * 0.5 + k * 1e-3);
        for (int b = 0; b < 5; b++) g.mags[i * 5 + b] = 15.0 + i + b * 0.25;
        g.ids[i] = id0 + i;
        g.z[i] = 0.01f * (float)(i + 1);
    }
    return g;
}
static void drop(galaxies *g) {
    free(g->images);
    free(g->mags);
    free(g->ids);
    free(g->z);
}

static cai_shard_data data_of(const galaxies *g, int with_z) {
    return (cai_shard_data){g->n, g->images, g->mags, g->ids, with_z ? g->z : NULL, "7", NULL, NULL, NULL};
}

/* objid, ra, dec survive a write and read, and stay 8-byte aligned (zero-copy). */
static void test_roundtrip_ids_positions(void **state) {
    (void)state;
    galaxies g = make(3, 100);
    int64_t objid[3] = {1237648720693755918LL, 5, 0};
    double ra[3] = {0.0, 359.999999999, 123.456}, dec[3] = {-90.0, 90.0, 1.5};
    cai_shard_data d = {g.n, g.images, g.mags, g.ids, g.z, "7", objid, ra, dec};
    uint8_t *buf;
    size_t len;
    cai_err e = {0};
    assert_int_equal(cai_shard_serialize(&d, &buf, &len, &e), CAI_OK);
    cai_shard s;
    assert_int_equal(cai_shard_parse(buf, len, "pos.safetensors", 0, &s, &e), CAI_OK);
    assert_memory_equal(s.objid, objid, sizeof objid);
    assert_memory_equal(s.ra, ra, sizeof ra);
    assert_memory_equal(s.dec, dec, sizeof dec);
    assert_int_equal((uintptr_t)s.ra % 8, 0);
    assert_int_equal((uintptr_t)s.objid % 8, 0);
    cai_shard_close(&s);
    free(buf);
    d.dec = NULL; /* ra without dec: refused by the writer */
    assert_int_equal(cai_shard_serialize(&d, &buf, &len, &e), CAI_EARG);
    drop(&g);
}

static void test_roundtrip_buffer(void **state) {
    (void)state;
    galaxies g = make(3, 100);
    for (int with_z = 0; with_z <= 1; with_z++) {
        cai_shard_data d = data_of(&g, with_z);
        uint8_t *buf;
        size_t len;
        cai_err e = {0};
        assert_int_equal(cai_shard_serialize(&d, &buf, &len, &e), CAI_OK);
        assert_int_equal(len % 4, 0);
        cai_shard s;
        assert_int_equal(cai_shard_parse(buf, len, "mem.safetensors", 0, &s, &e), CAI_OK);
        assert_int_equal(s.n, 3);
        assert_memory_equal(s.images, g.images, 3 * IMG * 4);
        assert_int_equal(s.mag_dtype, CAI_F64);
        assert_memory_equal(s.mags, g.mags, 3 * 5 * 8);
        assert_memory_equal(s.ids, g.ids, 3 * 8);
        if (with_z) assert_memory_equal(s.redshift, g.z, 3 * 4);
        else assert_null(s.redshift);
        assert_string_equal(s.partition, "7");
        assert_null(s.objid);
        assert_null(s.ra);
        assert_string_equal(cai_st_meta(&s.st, "cai.format"), "cai-shard/1");
        assert_string_equal(cai_st_meta(&s.st, "galaxies"), "3");
        assert_string_equal(cai_st_meta(&s.st, "id_first"), "100");
        assert_string_equal(cai_st_meta(&s.st, "id_last"), "102");
        /* Zero-copy: the views point into the buffer, naturally aligned. */
        assert_true((const uint8_t *)s.images > buf && (const uint8_t *)s.images < buf + len);
        assert_int_equal((uintptr_t)s.images % 4, 0);
        assert_int_equal((uintptr_t)s.mags % 8, 0);
        assert_int_equal((uintptr_t)s.ids % 8, 0);
        /* The data region starts 64-byte aligned relative to the file start. */
        uint64_t h = 0;
        for (int i = 7; i >= 0; i--) h = (h << 8) | buf[i];
        assert_int_equal((8 + h) % 64, 0);
        cai_shard_close(&s);
        free(buf);
    }
    drop(&g);
}

static void test_roundtrip_file_and_sha(void **state) {
    (void)state;
    char dir[CAI_TEST_DIR_MAX];
    assert_int_equal(cai_test_mkdtemp(dir, sizeof dir, "shard"), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/1.safetensors", dir);
    galaxies g = make(5, 0);
    cai_shard_data d = data_of(&g, 1);
    uint64_t bytes = 0;
    char sha[65];
    cai_err e = {0};
    assert_int_equal(cai_shard_write(path, &d, &bytes, sha, &e), CAI_OK);
    char *file;
    size_t flen;
    assert_int_equal(cai_read_file(path, &file, &flen, &e), CAI_OK);
    assert_int_equal(flen, bytes);
    char want[65];
    cai_sha256_hex(file, flen, want);
    assert_string_equal(sha, want);
    free(file);
    cai_shard s;
    assert_int_equal(cai_shard_open(path, 0, &s, &e), CAI_OK);
    assert_int_equal(s.n, 5);
    assert_memory_equal(s.redshift, g.z, 5 * 4);
    cai_shard_close(&s);
    drop(&g);
    unlink(path);
    rmdir(dir);
}

static void test_empty_shard(void **state) {
    (void)state;
    galaxies g = make(0, 0);
    cai_shard_data d = data_of(&g, 1);
    uint8_t *buf;
    size_t len;
    cai_err e = {0};
    assert_int_equal(cai_shard_serialize(&d, &buf, &len, &e), CAI_OK);
    cai_shard s;
    assert_int_equal(cai_shard_parse(buf, len, "empty.safetensors", 0, &s, &e), CAI_OK);
    assert_int_equal(s.n, 0);
    cai_shard_close(&s);
    free(buf);
    drop(&g);
}

static void test_truncated_at_many_lengths(void **state) {
    (void)state;
    galaxies g = make(4, 0);
    cai_shard_data d = data_of(&g, 1);
    uint8_t *buf;
    size_t len;
    cai_err e = {0};
    assert_int_equal(cai_shard_serialize(&d, &buf, &len, &e), CAI_OK);
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) h = (h << 8) | buf[i];
    size_t cuts[] = {0, 1, 7, 8, 9, 40, (size_t)h + 7, (size_t)h + 8, (size_t)h + 9, len / 2, len - 4, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        cai_shard s;
        memset(&e, 0, sizeof e);
        int rc = cai_shard_parse(buf, cuts[i], "cut.safetensors", 0, &s, &e);
        if (rc == CAI_OK) fail_msg("truncated at %zu of %zu bytes was accepted", cuts[i], len);
        assert_int_equal(rc, CAI_EFORMAT);
        assert_non_null(strstr(e.msg, "cut.safetensors"));
    }
    free(buf);
    drop(&g);
}

static void test_flipped_byte_is_checksum_error(void **state) {
    (void)state;
    galaxies g = make(4, 0);
    cai_shard_data d = data_of(&g, 1);
    uint8_t *buf;
    size_t len;
    cai_err e = {0};
    assert_int_equal(cai_shard_serialize(&d, &buf, &len, &e), CAI_OK);
    cai_shard s;
    assert_int_equal(cai_shard_parse(buf, len, "ok.safetensors", 0, &s, &e), CAI_OK);
    size_t img_off = (size_t)((const uint8_t *)s.images - buf), id_off = (size_t)((const uint8_t *)s.ids - buf);
    cai_shard_close(&s);
    struct {
        size_t off;
        const char *tensor;
    } flips[] = {{img_off + 1000, "images"}, {id_off + 3, "ids"}, {len - 1, "redshift"}};
    for (int i = 0; i < 3; i++) {
        buf[flips[i].off] ^= 0x10;
        memset(&e, 0, sizeof e);
        assert_int_equal(cai_shard_parse(buf, len, "flip.safetensors", 0, &s, &e), CAI_EFORMAT);
        assert_non_null(strstr(e.msg, "flip.safetensors"));
        assert_non_null(strstr(e.msg, "checksum"));
        assert_non_null(strstr(e.msg, flips[i].tensor));
        if (i == 0) { /* NO_VERIFY is exactly what skips it */
            assert_int_equal(cai_shard_parse(buf, len, "flip.safetensors", CAI_SHARD_NO_VERIFY, &s, &e), CAI_OK);
            cai_shard_close(&s);
        }
        buf[flips[i].off] ^= 0x10;
    }
    assert_int_equal(cai_shard_parse(buf, len, "ok.safetensors", 0, &s, &e), CAI_OK);
    cai_shard_close(&s);
    free(buf);
    drop(&g);
}

/* A hand-built safetensors with arbitrary tensors/metadata; checksums are filled in for every tensor unless
 * `nochecksum` names one. */
typedef struct {
    const char *name;
    cai_st_dtype dt;
    int ndim;
    int64_t shape[4];
} spec;

static int build_custom(const spec *t, int nt, const char *const *meta, const char *nochecksum, uint8_t **buf,
                        size_t *len) {
    cai_st_writer *w = cai_st_writer_new();
    cai_err e = {0};
    void *mem[8] = {0};
    for (int i = 0; i < nt; i++) {
        size_t cnt = 1;
        for (int k = 0; k < t[i].ndim; k++) cnt *= (size_t)t[i].shape[k];
        size_t nb = cnt * cai_st_dtype_size(t[i].dt);
        mem[i] = calloc(1, nb ? nb : 1);
        if (t[i].dt == CAI_ST_I64)
            for (size_t k = 0; k < cnt; k++) ((int64_t *)mem[i])[k] = (int64_t)k;
        assert_int_equal(cai_st_writer_add(w, t[i].name, t[i].dt, t[i].ndim, t[i].shape, mem[i], &e), CAI_OK);
        if (nochecksum && !strcmp(nochecksum, t[i].name)) continue;
        char key[64], val[80], hex[65];
        cai_sha256_hex(mem[i], nb, hex);
        snprintf(key, sizeof key, "checksum.%s", t[i].name);
        snprintf(val, sizeof val, "sha256:%s", hex);
        cai_st_writer_meta(w, key, val, &e);
    }
    for (int i = 0; meta[i]; i += 2) cai_st_writer_meta(w, meta[i], meta[i + 1], &e);
    int rc = cai_st_writer_serialize(w, buf, len, &e);
    cai_st_writer_free(w);
    for (int i = 0; i < nt; i++) free(mem[i]);
    return rc;
}

static void expect_bad(const spec *t, int nt, const char *const *meta, const char *nochecksum, int code,
                       const char *needle) {
    uint8_t *buf;
    size_t len;
    assert_int_equal(build_custom(t, nt, meta, nochecksum, &buf, &len), CAI_OK);
    cai_shard s;
    cai_err e = {0};
    int rc = cai_shard_parse(buf, len, "bad.safetensors", 0, &s, &e);
    if (rc != code || !strstr(e.msg, needle) || !strstr(e.msg, "bad.safetensors"))
        fail_msg("expected code %d with \"%s\", got %d: %s", code, needle, rc, e.msg);
    free(buf);
}

static const char *const good_meta[] = {"cai.format", "cai-shard/1", "galaxies", "2", "id_first",
                                        "0",          "id_last",     "1",        NULL};

static void test_wrong_shapes_dtypes_and_keys(void **state) {
    (void)state;
    spec good[] = {{"images", CAI_ST_F32, 4, {2, 5, 32, 32}},
                   {"magnitudes", CAI_ST_F64, 2, {2, 5}},
                   {"ids", CAI_ST_I64, 1, {2}},
                   {"redshift", CAI_ST_F32, 1, {2}}};
    /* Control: the good spec passes, and F32 magnitudes are accepted. */
    {
        uint8_t *buf;
        size_t len;
        assert_int_equal(build_custom(good, 4, good_meta, NULL, &buf, &len), CAI_OK);
        cai_shard s;
        cai_err e = {0};
        assert_int_equal(cai_shard_parse(buf, len, "good.safetensors", 0, &s, &e), CAI_OK);
        cai_shard_close(&s);
        free(buf);
        spec m32[4];
        memcpy(m32, good, sizeof good);
        m32[1].dt = CAI_ST_F32;
        assert_int_equal(build_custom(m32, 4, good_meta, NULL, &buf, &len), CAI_OK);
        assert_int_equal(cai_shard_parse(buf, len, "good.safetensors", 0, &s, &e), CAI_OK);
        assert_int_equal(s.mag_dtype, CAI_F32);
        cai_shard_close(&s);
        free(buf);
    }
    spec t[4];
    memcpy(t, good, sizeof good);
    t[0].shape[3] = 31; /* images (2,5,32,31) */
    expect_bad(t, 4, good_meta, NULL, CAI_ESHAPE, "\"images\": expected F32 (N,5,32,32), got F32 (2,5,32,31)");
    memcpy(t, good, sizeof good);
    t[0].dt = CAI_ST_F64;
    expect_bad(t, 4, good_meta, NULL, CAI_ESHAPE, "images");
    memcpy(t, good, sizeof good);
    t[2].dt = CAI_ST_I32;
    expect_bad(t, 4, good_meta, NULL, CAI_ESHAPE, "\"ids\": expected I64 (N,)");
    memcpy(t, good, sizeof good);
    t[1].ndim = 1;
    t[1].shape[0] = 10;
    expect_bad(t, 4, good_meta, NULL, CAI_ESHAPE, "magnitudes");
    /* Missing ids. */
    spec noids[] = {good[0], good[1], good[3]};
    expect_bad(noids, 3, good_meta, NULL, CAI_EKEY, "missing tensor \"ids\"");
    spec noimg[] = {good[1], good[2]};
    expect_bad(noimg, 2, good_meta, NULL, CAI_EKEY, "missing tensor \"images\"");
    /* N mismatch between tensors. */
    memcpy(t, good, sizeof good);
    t[3].shape[0] = 3;
    expect_bad(t, 4, good_meta, NULL, CAI_ESHAPE, "\"redshift\" has 3 rows but \"images\" has 2");
    memcpy(t, good, sizeof good);
    t[2].shape[0] = 1;
    expect_bad(t, 4, good_meta, NULL, CAI_ESHAPE, "\"ids\" has 1 rows");
    /* Unknown tensor. */
    spec extra[] = {good[0], good[1], good[2], {"objids", CAI_ST_I64, 1, {2}}};
    expect_bad(extra, 4, good_meta, NULL, CAI_EKEY, "unexpected tensor \"objids\"");
    /* The optional objid / ra / dec: right types and rows, ra and dec together. */
    spec pos[] = {good[0],
                  good[1],
                  good[2],
                  {"objid", CAI_ST_I64, 1, {2}},
                  {"ra", CAI_ST_F64, 1, {2}},
                  {"dec", CAI_ST_F64, 1, {2}}};
    pos[3].dt = CAI_ST_F32;
    expect_bad(pos, 6, good_meta, NULL, CAI_ESHAPE, "\"objid\": expected I64 (N,)");
    pos[3].dt = CAI_ST_I64;
    pos[4].dt = CAI_ST_F32;
    expect_bad(pos, 6, good_meta, NULL, CAI_ESHAPE, "\"ra\": expected F64 (N,) degrees");
    pos[4].dt = CAI_ST_F64;
    pos[5].shape[0] = 3;
    expect_bad(pos, 6, good_meta, NULL, CAI_ESHAPE, "\"dec\" has 3 rows");
    expect_bad(pos, 5, good_meta, NULL, CAI_EKEY, "\"ra\" without \"dec\"");
    /* Metadata problems. */
    const char *nofmt[] = {"galaxies", "2", "id_first", "0", "id_last", "1", NULL};
    expect_bad(good, 4, nofmt, NULL, CAI_EFORMAT, "not a CAI shard");
    const char *v2[] = {"cai.format", "cai-shard/2", "galaxies", "2", "id_first", "0", "id_last", "1", NULL};
    expect_bad(good, 4, v2, NULL, CAI_EFORMAT, "unsupported shard format \"cai-shard/2\"");
    const char *gal[] = {"cai.format", "cai-shard/1", "galaxies", "3", "id_first", "0", "id_last", "1", NULL};
    expect_bad(good, 4, gal, NULL, CAI_ESHAPE, "\"galaxies\" says 3 but the tensors hold 2");
    const char *galx[] = {"cai.format", "cai-shard/1", "galaxies", "two", "id_first", "0", "id_last", "1", NULL};
    expect_bad(good, 4, galx, NULL, CAI_EKEY, "\"galaxies\": expected a non-negative integer, got \"two\"");
    const char *idl[] = {"cai.format", "cai-shard/1", "galaxies", "2", "id_first", "0", "id_last", "5", NULL};
    expect_bad(good, 4, idl, NULL, CAI_EFORMAT, "\"id_last\" is 5 but tensor \"ids\" ends with 1");
    const char *noid[] = {"cai.format", "cai-shard/1", "galaxies", "2", "id_last", "1", NULL};
    expect_bad(good, 4, noid, NULL, CAI_EKEY, "\"id_first\"");
    expect_bad(good, 4, good_meta, "magnitudes", CAI_EKEY, "\"checksum.magnitudes\"");
}

static void test_not_safetensors_and_header_bytes(void **state) {
    (void)state;
    cai_shard s;
    cai_err e = {0};
    const char *txt = "hello, this is text";
    assert_int_equal(cai_shard_parse(txt, strlen(txt), "t.txt", 0, &s, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "t.txt"));
    uint8_t hdr[8] = {0x40, 0, 0, 0, 0, 0, 0, 0};
    uint64_t need = 0;
    assert_int_equal(cai_shard_header_bytes(hdr, 8, "x", &need, &e), CAI_OK);
    assert_int_equal(need, 72);
    uint8_t huge[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    assert_int_equal(cai_shard_header_bytes(huge, 8, "x", &need, &e), CAI_EFORMAT);
    assert_int_equal(cai_shard_header_bytes(hdr, 4, "x", &need, &e), CAI_EFORMAT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_buffer),
        cmocka_unit_test(test_roundtrip_ids_positions),
        cmocka_unit_test(test_roundtrip_file_and_sha),
        cmocka_unit_test(test_empty_shard),
        cmocka_unit_test(test_truncated_at_many_lengths),
        cmocka_unit_test(test_flipped_byte_is_checksum_error),
        cmocka_unit_test(test_wrong_shapes_dtypes_and_keys),
        cmocka_unit_test(test_not_safetensors_and_header_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
