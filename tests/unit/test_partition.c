/* test_partition.c — format detection and the uniform view over seed .pt files and CAI shards; every kind of
 * file that is not a partition gets an error naming it. */
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
#include "data/partition.h"
#include "data/seedpt.h"
#include "data/shard.h"
#include "data/synth.h"
#include "model/safetensors.h"
#include "tmpdir.h"

#define NP CAI_SYNTH_NPIX

TMPDIR_GROUP("part")

typedef struct {
    int64_t n;
    float *img;
    double *mag;
    float *z;
    int64_t *ids;
} set;
static set gen(int64_t n) {
    set s = {n, malloc((size_t)n * NP * 4), malloc((size_t)n * 40), malloc((size_t)n * 4), malloc((size_t)n * 8)};
    cai_synth_galaxies(3, 0, n, s.img, s.mag, s.z, 1);
    for (int64_t i = 0; i < n; i++) s.ids[i] = 1000 + i;
    return s;
}
static void drop(set *s) {
    free(s->img);
    free(s->mag);
    free(s->z);
    free(s->ids);
}

static void write_raw(const char *path, const void *b, size_t n) {
    cai_err e = {0};
    assert_int_equal(cai_write_file_atomic(path, b, n, &e), CAI_OK);
}

static void test_both_formats_same_view(void **state) {
    (void)state;
    set s = gen(6);
    cai_err e = {0};
    const char *pt = path_of("1.pt"), *sh = path_of("1.safetensors"), *shz = path_of("2.safetensors");
    assert_int_equal(cai_seedpt_write(pt, s.n, s.img, s.mag, s.z, &e), CAI_OK);
    cai_shard_data d = {s.n, s.img, s.mag, s.ids, s.z, "1", NULL, NULL, NULL};
    assert_int_equal(cai_shard_write(sh, &d, NULL, NULL, &e), CAI_OK);
    d.redshift = NULL;
    assert_int_equal(cai_shard_write(shz, &d, NULL, NULL, &e), CAI_OK);

    cai_partition a, b, c;
    assert_int_equal(cai_partition_open(pt, &a, &e), CAI_OK);
    assert_int_equal(cai_partition_open(sh, &b, &e), CAI_OK);
    assert_int_equal(cai_partition_open(shz, &c, &e), CAI_OK);
    assert_int_equal(a.format, CAI_PART_SEEDPT);
    assert_int_equal(b.format, CAI_PART_SHARD);
    assert_string_equal(cai_part_format_name(a.format), "pt");
    assert_string_equal(cai_part_format_name(b.format), "shard");
    assert_int_equal(a.n, 6);
    assert_int_equal(b.n, 6);
    assert_memory_equal(a.images, b.images, 6 * NP * 4);
    assert_int_equal(a.mag_dtype, CAI_F64);
    assert_int_equal(b.mag_dtype, CAI_F64);
    assert_memory_equal(a.mags, b.mags, 6 * 40);
    assert_memory_equal(a.labels, b.labels, 6 * 4);
    assert_null(a.ids); /* the seed's files carry no ids */
    assert_int_equal(b.ids[5], 1005);
    assert_null(c.labels); /* a shard without labels */
    cai_partition_close(&a);
    cai_partition_close(&b);
    cai_partition_close(&c);
    drop(&s);
}

static void expect_err(const void *buf, size_t len, const char *name, int code, const char *needle) {
    cai_partition p;
    cai_err e = {0};
    int rc = cai_partition_parse(buf, len, name, &p, &e);
    if (rc != code || !strstr(e.msg, name) || (needle && !strstr(e.msg, needle)))
        fail_msg("%s (%zu bytes): expected code %d with \"%s\", got %d: %s", name, len, code, needle ? needle : "",
                 rc, e.msg);
}

static void test_not_a_partition(void **state) {
    (void)state;
    expect_err("", 0, "empty.pt", CAI_EFORMAT, "empty file");
    const char *txt = "galaxy,z\n1,0.1\n";
    expect_err(txt, strlen(txt), "notes.csv", CAI_EFORMAT, "text starting 67 61 6c 61 78 79 2c 7a");
    uint8_t bin[64];
    for (int i = 0; i < 64; i++) bin[i] = (uint8_t)(i * 37 + 1);
    expect_err(bin, sizeof bin, "noise.bin", CAI_EFORMAT, "not a partition");
    expect_err("PK", 2, "tiny.pt", CAI_EFORMAT, "not a partition");
    /* A gzip file, a FITS header, a JSON document. */
    expect_err("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10, "x.gz", CAI_EFORMAT, "binary data starting 1f 8b");
    const char *fits = "SIMPLE  =                    T / conforms to FITS standard";
    expect_err(fits, strlen(fits), "x.fits", CAI_EFORMAT, "text starting 53 49 4d 50 4c 45 20 20");
    expect_err("{\"a\":1}", 7, "x.json", CAI_EFORMAT, "not a partition");

    cai_partition p;
    cai_err e = {0};
    assert_int_equal(cai_partition_open(path_of("missing.pt"), &p, &e), CAI_ENOTFOUND);
    assert_non_null(strstr(e.msg, "missing.pt"));
    write_raw(path_of("empty.safetensors"), "", 0);
    assert_int_equal(cai_partition_open(path_of("empty.safetensors"), &p, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "empty.safetensors"));
    assert_non_null(strstr(e.msg, "empty file"));
}

static void test_truncated_both_formats(void **state) {
    (void)state;
    set s = gen(3);
    cai_err e = {0};
    const char *pt = path_of("t.pt");
    assert_int_equal(cai_seedpt_write(pt, s.n, s.img, s.mag, s.z, &e), CAI_OK);
    cai_shard_data d = {s.n, s.img, s.mag, s.ids, s.z, NULL, NULL, NULL, NULL};
    uint8_t *sh;
    size_t shlen;
    assert_int_equal(cai_shard_serialize(&d, &sh, &shlen, &e), CAI_OK);
    cai_file f;
    assert_int_equal(cai_file_map(pt, &f, &e), CAI_OK);
    size_t cuts_pt[] = {4, 30, 100, f.len / 3, f.len / 2, f.len - 100, f.len - 22, f.len - 1};
    for (size_t i = 0; i < sizeof cuts_pt / sizeof cuts_pt[0]; i++) {
        /* Copy into an exact-size heap buffer so ASan sees any read past the cut. */
        uint8_t *b = malloc(cuts_pt[i]);
        memcpy(b, f.data, cuts_pt[i]);
        cai_partition p;
        memset(&e, 0, sizeof e);
        int rc = cai_partition_parse(b, cuts_pt[i], "cut.pt", &p, &e);
        if (rc == CAI_OK) fail_msg("seed .pt cut at %zu of %zu bytes was accepted", cuts_pt[i], f.len);
        assert_non_null(strstr(e.msg, "cut.pt"));
        free(b);
    }
    cai_file_unmap(&f);
    size_t cuts_sh[] = {9, 64, shlen / 2, shlen - 1};
    for (size_t i = 0; i < sizeof cuts_sh / sizeof cuts_sh[0]; i++) {
        uint8_t *b = malloc(cuts_sh[i]);
        memcpy(b, sh, cuts_sh[i]);
        cai_partition p;
        int rc = cai_partition_parse(b, cuts_sh[i], "cut.safetensors", &p, &e);
        if (rc == CAI_OK) fail_msg("shard cut at %zu of %zu bytes was accepted", cuts_sh[i], shlen);
        assert_int_equal(rc, CAI_EFORMAT);
        assert_non_null(strstr(e.msg, "cut.safetensors"));
        free(b);
    }
    /* A flipped data byte: checksum error naming the file; NO_VERIFY is the only way past it. */
    sh[shlen - 10] ^= 1;
    expect_err(sh, shlen, "flip.safetensors", CAI_EFORMAT, "checksum");
    cai_partition p;
    assert_int_equal(cai_partition_parse_ex(sh, shlen, "flip.safetensors", CAI_PARTITION_NO_VERIFY, &p, &e), CAI_OK);
    cai_partition_close(&p);
    free(sh);
    drop(&s);
}

static void test_safetensors_that_is_not_a_shard(void **state) {
    (void)state;
    /* e.g. model weights passed by mistake as data */
    cai_st_writer *w = cai_st_writer_new();
    float wt[6] = {1, 2, 3, 4, 5, 6};
    int64_t shape[2] = {2, 3};
    cai_err e = {0};
    assert_int_equal(cai_st_writer_add(w, "encoder.weight", CAI_ST_F32, 2, shape, wt, &e), CAI_OK);
    uint8_t *buf;
    size_t len;
    assert_int_equal(cai_st_writer_serialize(w, &buf, &len, &e), CAI_OK);
    cai_st_writer_free(w);
    expect_err(buf, len, "weights.safetensors", CAI_EFORMAT, "not a CAI shard");
    free(buf);
}

/* Through cai_partition_open (chunked verification with pages dropped behind): corruption anywhere, ids
 * included, is still reported as a checksum error naming the file and tensor. */
static void test_open_corrupt_file(void **state) {
    (void)state;
    set s = gen(4);
    cai_err e = {0};
    cai_shard_data d = {s.n, s.img, s.mag, s.ids, s.z, NULL, NULL, NULL, NULL};
    uint8_t *buf;
    size_t len;
    assert_int_equal(cai_shard_serialize(&d, &buf, &len, &e), CAI_OK);
    cai_shard sh;
    assert_int_equal(cai_shard_parse(buf, len, "x", 0, &sh, &e), CAI_OK);
    size_t id_off = (size_t)((const uint8_t *)sh.ids - buf), img_off = (size_t)((const uint8_t *)sh.images - buf);
    cai_shard_close(&sh);
    size_t offs[] = {id_off, img_off + 7777};
    const char *tensor[] = {"\"ids\"", "\"images\""};
    for (int i = 0; i < 2; i++) {
        buf[offs[i]] ^= 0x40;
        const char *path = path_of(i ? "c2.safetensors" : "c1.safetensors");
        write_raw(path, buf, len);
        cai_partition p;
        assert_int_equal(cai_partition_open(path, &p, &e), CAI_EFORMAT);
        if (!strstr(e.msg, path) || !strstr(e.msg, "checksum mismatch") || !strstr(e.msg, tensor[i]))
            fail_msg("unexpected message: %s", e.msg);
        buf[offs[i]] ^= 0x40;
    }
    free(buf);
    drop(&s);
}

static long rss_pages(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2) res = 0;
        fclose(f);
    }
    return res;
}

static void test_release_drops_pages_keeps_data(void **state) {
    (void)state;
    set s = gen(1200); /* ~24 MB of images */
    cai_err e = {0};
    const char *sh = path_of("big.safetensors");
    cai_shard_data d = {s.n, s.img, s.mag, s.ids, s.z, NULL, NULL, NULL, NULL};
    assert_int_equal(cai_shard_write(sh, &d, NULL, NULL, &e), CAI_OK);
    long page_kb = sysconf(_SC_PAGESIZE) / 1024, r0 = rss_pages();
    cai_partition p;
    assert_int_equal(cai_partition_open(sh, &p, &e), CAI_OK);
    long r1 = rss_pages(); /* open verified every tensor but dropped the pages behind the hash */
    volatile double sum = 0;
    for (int64_t i = 0; i < p.n * NP; i += 1024) sum += p.images[i];
    long r2 = rss_pages();
    cai_partition_release(&p, 0, p.n);
    long r3 = rss_pages();
    print_message("RSS (MB): before open %ld, after open %ld, after touching %ld, after release %ld\n",
                  r0 * page_kb / 1024, r1 * page_kb / 1024, r2 * page_kb / 1024, r3 * page_kb / 1024);
    assert_true((r1 - r0) * page_kb < 10 * 1024);
    assert_true((r2 - r1) * page_kb > 20 * 1024);
    assert_true((r2 - r3) * page_kb > 20 * 1024);
    /* The data is still there (read back from the file on demand). */
    assert_memory_equal(p.images, s.img, (size_t)s.n * NP * 4);
    assert_memory_equal(p.labels, s.z, (size_t)s.n * 4);
    /* Out-of-range and heap-backed releases are harmless no-ops. */
    cai_partition_release(&p, -1, 5);
    cai_partition_release(&p, p.n, 1);
    cai_partition_release(&p, 0, p.n + 1);
    cai_partition_close(&p);
    drop(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_both_formats_same_view),
        cmocka_unit_test(test_not_a_partition),
        cmocka_unit_test(test_truncated_both_formats),
        cmocka_unit_test(test_safetensors_that_is_not_a_shard),
        cmocka_unit_test(test_open_corrupt_file),
        cmocka_unit_test(test_release_drops_pages_keeps_data),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
