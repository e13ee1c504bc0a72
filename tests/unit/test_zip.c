/* test_zip.c — the restricted ZIP reader and the streaming writer: good archives, then every kind of bad
 * one (truncated at every length, corrupt CRC, disagreeing headers, overlaps, duplicates, unsafe names,
 * huge claimed sizes). A bad archive must give an error naming the archive (and entry), never a crash. */
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
#include "format/zip.h"
#include "zipbuild.h"
#include "tmpdir.h"

static const char hello[] = "hello, galaxies";
static char big[4096];

static void fill_big(void) {
    for (size_t i = 0; i < sizeof big; i++) big[i] = (char)('a' + i % 7);
}

static void build_two(zb_out *o, int method2) {
    fill_big();
    zb_entry e[2] = {{"arch/data.pkl", hello, sizeof hello - 1, 0}, {"arch/data/0", big, sizeof big, method2}};
    zb_build(e, 2, o);
}

static void expect_fail(const uint8_t *buf, size_t len, cai_code code, const char *needle) {
    cai_zip z;
    cai_err e = {0};
    int rc = cai_zip_open(buf, len, "t.zip", &z, &e);
    if (rc == CAI_OK) {
        /* structure OK: then reading every entry (with CRC) must be what fails */
        for (size_t i = 0; i < z.n && rc == CAI_OK; i++) {
            const uint8_t *d;
            size_t n;
            void *own;
            rc = cai_zip_entry_data(&z, &z.entries[i], 1, &d, &n, &own, &e);
            free(own);
        }
        cai_zip_close(&z);
    }
    if (rc == CAI_OK) fail_msg("expected an error containing \"%s\"", needle);
    assert_int_equal(rc, code);
    if (!strstr(e.msg, needle)) fail_msg("message \"%s\" lacks \"%s\"", e.msg, needle);
    assert_non_null(strstr(e.msg, "t.zip"));
}

static void test_reads_stored_and_deflated(void **state) {
    (void)state;
    for (int m = 0; m <= 8; m += 8) {
        zb_out o;
        build_two(&o, m);
        cai_zip z;
        cai_err e = {0};
        assert_int_equal(cai_zip_open(o.buf, o.len, "t.zip", &z, &e), CAI_OK);
        assert_int_equal(z.n, 2);
        const cai_zip_entry *a = cai_zip_find(&z, "arch/data.pkl"), *b = cai_zip_find(&z, "arch/data/0");
        assert_non_null(a);
        assert_non_null(b);
        assert_null(cai_zip_find(&z, "arch/data/1"));
        const uint8_t *d;
        size_t n;
        void *own;
        assert_int_equal(cai_zip_entry_data(&z, a, 1, &d, &n, &own, &e), CAI_OK);
        assert_null(own); /* stored: zero-copy into the buffer */
        assert_ptr_equal(d, o.buf + o.hoff[0] + 30 + strlen("arch/data.pkl"));
        assert_memory_equal(d, hello, n);
        assert_int_equal(cai_zip_entry_data(&z, b, 1, &d, &n, &own, &e), CAI_OK);
        assert_int_equal(n, sizeof big);
        assert_memory_equal(d, big, n);
        if (m == 8) assert_non_null(own);
        free(own);
        cai_zip_close(&z);
        free(o.buf);
    }
}

static void test_truncated_at_every_length(void **state) {
    (void)state;
    for (int m = 0; m <= 8; m += 8) {
        zb_out o;
        build_two(&o, m);
        for (size_t len = 0; len < o.len; len++) {
            uint8_t *copy = malloc(len ? len : 1); /* exact-size copy: ASan sees any overread */
            memcpy(copy, o.buf, len);
            cai_zip z;
            cai_err e = {0};
            int rc = cai_zip_open(copy, len, "t.zip", &z, &e);
            assert_int_not_equal(rc, CAI_OK);
            assert_non_null(strstr(e.msg, "t.zip"));
            free(copy);
        }
        free(o.buf);
    }
}

/* Flip every byte in turn: any outcome but a crash (or a silent wrong read of entry data) is fine. */
static void test_every_byte_corrupted(void **state) {
    (void)state;
    zb_out o;
    build_two(&o, 8);
    for (size_t i = 0; i < o.len; i++) {
        uint8_t *copy = malloc(o.len);
        memcpy(copy, o.buf, o.len);
        copy[i] ^= 0x5a;
        cai_zip z;
        cai_err e = {0};
        if (cai_zip_open(copy, o.len, "t.zip", &z, &e) == CAI_OK) {
            for (size_t k = 0; k < z.n; k++) {
                const uint8_t *d;
                size_t n;
                void *own;
                if (cai_zip_entry_data(&z, &z.entries[k], 1, &d, &n, &own, &e) == CAI_OK) {
                    /* CRC checked: whatever is returned is the original content */
                    if (!strcmp(z.entries[k].name, "arch/data.pkl")) assert_memory_equal(d, hello, n);
                    else if (n == sizeof big) assert_memory_equal(d, big, n);
                }
                free(own);
            }
            cai_zip_close(&z);
        }
        free(copy);
    }
    free(o.buf);
}

static void test_corrupt_crc(void **state) {
    (void)state;
    zb_out o;
    build_two(&o, 0);
    o.buf[o.hoff[1] + 30 + strlen("arch/data/0") + 5] ^= 1; /* a data byte */
    expect_fail(o.buf, o.len, CAI_EFORMAT, "CRC-32 mismatch");
    free(o.buf);
    build_two(&o, 8);
    o.buf[o.hoff[1] + 30 + strlen("arch/data/0") + 3] ^= 0x10; /* deflate stream */
    expect_fail(o.buf, o.len, CAI_EFORMAT, "arch/data/0");
    free(o.buf);
}

static void test_local_central_disagree(void **state) {
    (void)state;
    zb_out o;
    build_two(&o, 0);
    zb_set32(o.buf + o.hoff[0] + 14, 0x12345678); /* local CRC */
    expect_fail(o.buf, o.len, CAI_EFORMAT, "disagrees with the central directory");
    free(o.buf);
    build_two(&o, 0);
    o.buf[o.hoff[0] + 30] = 'X'; /* local name */
    expect_fail(o.buf, o.len, CAI_EFORMAT, "names a different entry");
    free(o.buf);
    build_two(&o, 8);
    o.buf[o.hoff[1] + 8] = 0; /* local method stored, central deflate */
    expect_fail(o.buf, o.len, CAI_EFORMAT, "local method");
    free(o.buf);
}

static void test_overlap_and_huge_sizes(void **state) {
    (void)state;
    zb_out o;
    build_two(&o, 0);
    /* entry 0 claims 40 more bytes, in both headers: its data now covers entry 1's local header */
    uint32_t n0 = (uint32_t)(sizeof hello - 1 + 40);
    for (int k = 0; k < 2; k++) {
        uint8_t *h = k ? o.buf + o.coff[0] + 20 : o.buf + o.hoff[0] + 18;
        zb_set32(h, n0);
        zb_set32(h + 4, n0);
    }
    expect_fail(o.buf, o.len, CAI_EFORMAT, "overlap");
    free(o.buf);
    build_two(&o, 0);
    for (int k = 0; k < 2; k++) {
        uint8_t *h = k ? o.buf + o.coff[1] + 20 : o.buf + o.hoff[1] + 18;
        zb_set32(h, 0xFFFFFFF0u);
        zb_set32(h + 4, 0xFFFFFFF0u);
    }
    expect_fail(o.buf, o.len, CAI_EFORMAT, "run past the data area");
    free(o.buf);
    /* a deflate entry claiming an impossible expansion is refused before allocating */
    build_two(&o, 8);
    zb_set32(o.buf + o.coff[1] + 24, 0xFFFFFFF0u);
    zb_set32(o.buf + o.hoff[1] + 22, 0xFFFFFFF0u);
    expect_fail(o.buf, o.len, CAI_EFORMAT, "impossible");
    free(o.buf);
    /* ZIP64 marker without a ZIP64 extra field */
    build_two(&o, 0);
    zb_set32(o.buf + o.coff[1] + 42, 0xFFFFFFFFu);
    expect_fail(o.buf, o.len, CAI_EFORMAT, "ZIP64");
    free(o.buf);
    /* central directory offset beyond the file */
    build_two(&o, 0);
    zb_set32(o.buf + o.eocd_off + 16, 0x7FFFFFF0u);
    expect_fail(o.buf, o.len, CAI_EFORMAT, "central directory");
    free(o.buf);
    /* entry count that cannot fit the directory */
    build_two(&o, 0);
    o.buf[o.eocd_off + 8] = 0xFE;
    o.buf[o.eocd_off + 10] = 0xFE;
    expect_fail(o.buf, o.len, CAI_EFORMAT, "cannot hold");
    free(o.buf);
}

static void test_names(void **state) {
    (void)state;
    const char *bad[] = {"../evil", "a/../../b", "/etc/passwd", "a\\..\\b"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        zb_entry e[1] = {{bad[i], hello, 3, 0}};
        zb_out o;
        zb_build(e, 1, &o);
        expect_fail(o.buf, o.len, CAI_EFORMAT, "unsafe");
        free(o.buf);
    }
    zb_entry e[2] = {{"a/data.pkl", hello, 3, 0}, {"a/data.pkl", hello, 4, 0}};
    zb_out o;
    zb_build(e, 2, &o);
    expect_fail(o.buf, o.len, CAI_EFORMAT, "duplicate entry name \"a/data.pkl\"");
    free(o.buf);
}

static void test_not_zip(void **state) {
    (void)state;
    const uint8_t pickle[] = {0x80, 0x02, 'N', '.'};
    expect_fail(pickle, sizeof pickle, CAI_EFORMAT, "legacy");
    uint8_t zeros[100] = {0};
    expect_fail(zeros, sizeof zeros, CAI_EFORMAT, "not a ZIP archive");
    expect_fail(zeros, 0, CAI_EFORMAT, "not a ZIP archive");
}

static void test_writer_roundtrip_aligned(void **state) {
    (void)state;
    char dir[CAI_TEST_DIR_MAX];
    assert_int_equal(cai_test_mkdtemp(dir, sizeof dir, "zip"), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/x.zip", dir);
    fill_big();
    cai_err e = {0};
    cai_zip_writer *w = cai_zip_writer_open(path, &e);
    assert_non_null(w);
    assert_int_equal(cai_zip_writer_begin(w, "p/data.pkl", 0, &e), CAI_OK);
    assert_int_equal(cai_zip_writer_data(w, hello, 5, &e), CAI_OK);
    assert_int_equal(cai_zip_writer_data(w, hello + 5, sizeof hello - 6, &e), CAI_OK);
    assert_int_equal(cai_zip_writer_end(w, &e), CAI_OK);
    assert_int_equal(cai_zip_writer_begin(w, "p/data/0", sizeof big, &e), CAI_OK);
    assert_int_equal(cai_zip_writer_data(w, big, sizeof big, &e), CAI_OK);
    assert_int_equal(cai_zip_writer_end(w, &e), CAI_OK);
    assert_int_equal(cai_zip_writer_begin(w, "p/empty", 0, &e), CAI_OK);
    assert_int_equal(cai_zip_writer_end(w, &e), CAI_OK);
    assert_int_equal(cai_zip_writer_finish(w, &e), CAI_OK);
    cai_file f;
    assert_int_equal(cai_file_map(path, &f, &e), CAI_OK);
    cai_zip z;
    assert_int_equal(cai_zip_open(f.data, f.len, path, &z, &e), CAI_OK);
    assert_int_equal(z.n, 3);
    for (size_t i = 0; i < z.n; i++) {
        assert_int_equal(z.entries[i].data_off % 64, 0);
        const uint8_t *d;
        size_t n;
        void *own;
        assert_int_equal(cai_zip_entry_data(&z, &z.entries[i], 1, &d, &n, &own, &e), CAI_OK);
        if (i == 0) assert_memory_equal(d, hello, sizeof hello - 1);
        if (i == 1) assert_memory_equal(d, big, sizeof big);
        if (i == 2) assert_int_equal(n, 0);
    }
    cai_zip_close(&z);
    cai_file_unmap(&f);
    /* an aborted writer leaves nothing behind */
    snprintf(path, sizeof path, "%s/y.zip", dir);
    w = cai_zip_writer_open(path, &e);
    assert_non_null(w);
    assert_int_equal(cai_zip_writer_begin(w, "p/data.pkl", 0, &e), CAI_OK);
    cai_zip_writer_abort(w);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(cai_test_rmtree(dir), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_stored_and_deflated),
        cmocka_unit_test(test_truncated_at_every_length),
        cmocka_unit_test(test_every_byte_corrupted),
        cmocka_unit_test(test_corrupt_crc),
        cmocka_unit_test(test_local_central_disagree),
        cmocka_unit_test(test_overlap_and_huge_sizes),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_not_zip),
        cmocka_unit_test(test_writer_roundtrip_aligned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
