/* test_store_local.c — the local-directory store: bucket B key K <-> ROOT/B/K, atomic put, sorted recursive
 * list with sizes, ranges, head/delete, and keys that try to leave the root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "store/store.h"

static char root[256];

static int setup(void **state) {
    (void)state;
    snprintf(root, sizeof root, "%s/cai-store-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd);
}

static cai_store *open_store(void) {
    cai_store *s = NULL;
    cai_err e = {0};
    assert_int_equal(cai_store_open(root, &s, &e), CAI_OK);
    return s;
}

static void test_put_get_maps_to_root_bucket_key(void **state) {
    (void)state;
    cai_store *s = open_store();
    cai_err e = {0};
    assert_int_equal(cai_store_put(s, "b1", "dir/sub/x.bin", "hello", 5, &e), CAI_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/b1/dir/sub/x.bin", root);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 5);
    uint8_t *d;
    size_t n;
    assert_int_equal(cai_store_get(s, "b1", "dir/sub/x.bin", &d, &n, &e), CAI_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(d, "hello", 5);
    free(d);
    uint64_t size = 0;
    assert_int_equal(cai_store_head(s, "b1", "dir/sub/x.bin", &size, &e), CAI_OK);
    assert_int_equal(size, 5);
    /* overwrite is atomic and complete */
    assert_int_equal(cai_store_put(s, "b1", "dir/sub/x.bin", "hi", 2, &e), CAI_OK);
    assert_int_equal(cai_store_get(s, "b1", "dir/sub/x.bin", &d, &n, &e), CAI_OK);
    assert_int_equal(n, 2);
    free(d);
    /* empty object */
    assert_int_equal(cai_store_put(s, "b1", "empty", "", 0, &e), CAI_OK);
    assert_int_equal(cai_store_get(s, "b1", "empty", &d, &n, &e), CAI_OK);
    assert_int_equal(n, 0);
    free(d);
    cai_store_close(s);
}

static void test_missing_is_notfound(void **state) {
    (void)state;
    cai_store *s = open_store();
    cai_err e = {0};
    uint8_t *d;
    size_t n;
    assert_int_equal(cai_store_get(s, "b1", "nope.pt", &d, &n, &e), CAI_ENOTFOUND);
    assert_non_null(strstr(e.msg, "b1/nope.pt"));
    assert_int_equal(cai_store_head(s, "nobucket", "k", NULL, &e), CAI_ENOTFOUND);
    /* a directory is not an object */
    assert_int_equal(cai_store_put(s, "b1", "d/x", "1", 1, &e), CAI_OK);
    assert_int_equal(cai_store_head(s, "b1", "d", NULL, &e), CAI_ENOTFOUND);
    /* deleting a missing object succeeds (S3 semantics); deleting removes */
    assert_int_equal(cai_store_delete(s, "b1", "never", &e), CAI_OK);
    assert_int_equal(cai_store_delete(s, "b1", "d/x", &e), CAI_OK);
    assert_int_equal(cai_store_head(s, "b1", "d/x", NULL, &e), CAI_ENOTFOUND);
    cai_store_close(s);
}

static void test_keys_cannot_escape_root(void **state) {
    (void)state;
    cai_store *s = open_store();
    cai_err e = {0};
    const char *bad_keys[] = {"../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a/.", "", "a/"};
    for (size_t i = 0; i < sizeof bad_keys / sizeof *bad_keys; i++) {
        e.code = CAI_OK;
        assert_int_equal(cai_store_put(s, "b1", bad_keys[i], "x", 1, &e), CAI_EARG);
        assert_int_equal(e.code, CAI_EARG);
    }
    assert_int_equal(cai_store_put(s, "..", "x", "x", 1, &e), CAI_EARG);
    assert_int_equal(cai_store_put(s, "a/b", "x", "x", 1, &e), CAI_EARG);
    assert_int_equal(cai_store_put(s, "", "x", "x", 1, &e), CAI_EARG);
    cai_keylist kl;
    assert_int_equal(cai_store_list(s, "b1", "../", &kl, &e), CAI_EARG);
    cai_store_close(s);
}

static void test_list_recursive_sorted_with_sizes(void **state) {
    (void)state;
    cai_store *s = open_store();
    cai_err e = {0};
    const char *keys[] = {"p/10.pt", "p/2.pt", "p/1.pt", "p/sub/3.pt", "q/1.pt", "p0"};
    for (size_t i = 0; i < 6; i++) assert_int_equal(cai_store_put(s, "b", keys[i], "abcdefgh", i + 1, &e), CAI_OK);
    /* a leftover temp file from an interrupted atomic put is not an object */
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s/b/p/4.pt.tmp.12345", root);
    FILE *f = fopen(tmp, "w");
    fputs("x", f);
    fclose(f);
    cai_keylist kl;
    assert_int_equal(cai_store_list(s, "b", "p/", &kl, &e), CAI_OK);
    assert_int_equal(kl.n, 4);
    assert_string_equal(kl.keys[0], "p/1.pt"); /* binary order, as S3 lists */
    assert_string_equal(kl.keys[1], "p/10.pt");
    assert_string_equal(kl.keys[2], "p/2.pt");
    assert_string_equal(kl.keys[3], "p/sub/3.pt");
    assert_int_equal(kl.sizes[0], 3);
    assert_int_equal(kl.sizes[1], 1);
    assert_int_equal(kl.sizes[2], 2);
    assert_int_equal(kl.sizes[3], 4);
    cai_keylist_free(&kl);
    /* a prefix that is not a directory boundary */
    assert_int_equal(cai_store_list(s, "b", "p", &kl, &e), CAI_OK);
    assert_int_equal(kl.n, 5); /* p/..., p0 */
    cai_keylist_free(&kl);
    assert_int_equal(cai_store_list(s, "b", "", &kl, &e), CAI_OK);
    assert_int_equal(kl.n, 6);
    cai_keylist_free(&kl);
    /* a missing bucket or prefix lists as empty, as S3 does */
    assert_int_equal(cai_store_list(s, "nobucket", "", &kl, &e), CAI_OK);
    assert_int_equal(kl.n, 0);
    cai_keylist_free(&kl);
    cai_store_close(s);
}

static void test_list_many_keys(void **state) {
    (void)state;
    cai_store *s = open_store();
    cai_err e = {0};
    for (int i = 1; i <= 1500; i++) { /* more than one S3 page (1,000) */
        char k[64];
        snprintf(k, sizeof k, "many/%d.json", i);
        assert_int_equal(cai_store_put(s, "b", k, "{}", 2, &e), CAI_OK);
    }
    cai_keylist kl;
    assert_int_equal(cai_store_list(s, "b", "many/", &kl, &e), CAI_OK);
    assert_int_equal(kl.n, 1500);
    for (size_t i = 1; i < kl.n; i++) assert_true(strcmp(kl.keys[i - 1], kl.keys[i]) < 0);
    cai_keylist_free(&kl);
    cai_store_close(s);
}

static void test_get_range(void **state) {
    (void)state;
    cai_store *s = open_store();
    cai_err e = {0};
    assert_int_equal(cai_store_put(s, "b", "r", "0123456789", 10, &e), CAI_OK);
    uint8_t *d;
    size_t got;
    assert_int_equal(cai_store_get_range(s, "b", "r", 2, 3, &d, &got, &e), CAI_OK);
    assert_int_equal(got, 3);
    assert_memory_equal(d, "234", 3);
    free(d);
    assert_int_equal(cai_store_get_range(s, "b", "r", 8, 100, &d, &got, &e), CAI_OK); /* clipped at the end */
    assert_int_equal(got, 2);
    assert_memory_equal(d, "89", 2);
    free(d);
    assert_int_equal(cai_store_get_range(s, "b", "r", 11, 1, &d, &got, &e), CAI_EARG);
    assert_int_equal(cai_store_get_range(s, "b", "missing", 0, 1, &d, &got, &e), CAI_ENOTFOUND);
    cai_store_close(s);
}

static void test_unwritable_put_fails_cleanly(void **state) {
    (void)state;
    cai_store *s = open_store();
    cai_err e = {0};
    /* a file where a directory must go: mkdir -p fails even for root */
    assert_int_equal(cai_store_put(s, "b", "blocker", "x", 1, &e), CAI_OK);
    assert_int_equal(cai_store_put(s, "b", "blocker/child.json", "x", 1, &e), CAI_EIO);
    assert_non_null(strstr(e.msg, "blocker"));
    cai_store_close(s);
}

/* Issue 9 item 7: a symlink below the root (file or directory) is never followed, for get, range, head or
 * put, and the error never quotes the target's bytes. */
static void test_symlinks_below_root_refused(void **state) {
    (void)state;
    cai_store *s = open_store();
    cai_err e = {0};
    assert_int_equal(cai_store_put(s, "b", "d/1.bin", "ok", 2, &e), CAI_OK);
    char outside[400], link[400], cmd[1200];
    snprintf(outside, sizeof outside, "%s.secret", root);
    FILE *f = fopen(outside, "w");
    assert_non_null(f);
    fputs("root:*:20228:0:99999:7:::\n", f);
    fclose(f);
    snprintf(link, sizeof link, "%s/b/d/3.bin", root);
    assert_int_equal(symlink(outside, link), 0);
    uint8_t *d = NULL;
    size_t n = 0;
    int rc = cai_store_get(s, "b", "d/3.bin", &d, &n, &e);
    assert_int_not_equal(rc, CAI_OK);
    assert_null(d);
    assert_non_null(strstr(e.msg, "symbolic link"));
    assert_null(strstr(e.msg, "root:"));
    assert_int_not_equal(cai_store_get_range(s, "b", "d/3.bin", 0, 4, &d, &n, &e), CAI_OK);
    assert_int_not_equal(cai_store_head(s, "b", "d/3.bin", NULL, &e), CAI_OK);
    /* a linked directory: neither read through nor written through */
    snprintf(cmd, sizeof cmd, "mkdir -p '%s.dir' && echo x > '%s.dir/k' && ln -s '%s.dir' '%s/b/out'", root, root,
             root, root);
    assert_int_equal(system(cmd), 0);
    assert_int_not_equal(cai_store_get(s, "b", "out/k", &d, &n, &e), CAI_OK);
    assert_non_null(strstr(e.msg, "symbolic link"));
    assert_int_not_equal(cai_store_put(s, "b", "out/new", "x", 1, &e), CAI_OK);
    snprintf(cmd, sizeof cmd, "%s.dir/new", root);
    assert_int_not_equal(access(cmd, F_OK), 0);
    /* the link is listed (so a run names it) but its target is not */
    cai_keylist kl;
    assert_int_equal(cai_store_list(s, "b", "", &kl, &e), CAI_OK);
    int saw3 = 0;
    for (size_t i = 0; i < kl.n; i++) {
        if (!strcmp(kl.keys[i], "d/3.bin")) saw3 = 1;
        assert_null(strstr(kl.keys[i], "out/k"));
    }
    assert_true(saw3);
    cai_keylist_free(&kl);
    /* delete removes the link, not its target */
    assert_int_equal(cai_store_delete(s, "b", "d/3.bin", &e), CAI_OK);
    assert_int_equal(access(outside, F_OK), 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s.dir' '%s'", root, outside);
    assert_int_equal(system(cmd), 0);
    cai_store_close(s);
}

/* Issue 9 item 9: a FIFO returns at once with an error (no hang), a directory says it is one, /dev/zero via a
 * link is refused without reading. */
static void test_special_files_refused(void **state) {
    (void)state;
    cai_store *s = open_store();
    cai_err e = {0};
    assert_int_equal(cai_store_put(s, "b", "d/1.bin", "ok", 2, &e), CAI_OK);
    char p[400];
    snprintf(p, sizeof p, "%s/b/d/2.bin", root);
    assert_int_equal(mkfifo(p, 0600), 0);
    uint8_t *d = NULL;
    size_t n = 0;
    assert_int_equal(cai_store_get(s, "b", "d/2.bin", &d, &n, &e), CAI_EIO);
    assert_non_null(strstr(e.msg, "FIFO"));
    assert_int_not_equal(cai_store_get_range(s, "b", "d/2.bin", 0, 8, &d, &n, &e), CAI_OK);
    snprintf(p, sizeof p, "%s/b/d/3.bin", root);
    assert_int_equal(mkdir(p, 0700), 0);
    assert_int_not_equal(cai_store_get(s, "b", "d/3.bin", &d, &n, &e), CAI_OK);
    assert_non_null(strstr(e.msg, "directory"));
    snprintf(p, sizeof p, "%s/b/d/4.bin", root);
    assert_int_equal(symlink("/dev/zero", p), 0);
    assert_int_not_equal(cai_store_get(s, "b", "d/4.bin", &d, &n, &e), CAI_OK);
    assert_null(d);
    cai_store_close(s);
}

/* Every read is bounded: an object above CAI_STORE_MAX_OBJECT_BYTES is refused before it is read. */
static void test_max_object_bytes(void **state) {
    (void)state;
    setenv("CAI_STORE_MAX_OBJECT_BYTES", "10", 1);
    cai_store *s = open_store();
    unsetenv("CAI_STORE_MAX_OBJECT_BYTES");
    cai_err e = {0};
    assert_int_equal(cai_store_put(s, "b", "small", "0123456789", 10, &e), CAI_OK);
    assert_int_equal(cai_store_put(s, "b", "big", "0123456789A", 11, &e), CAI_OK);
    uint8_t *d = NULL;
    size_t n = 0;
    assert_int_equal(cai_store_get(s, "b", "small", &d, &n, &e), CAI_OK);
    assert_int_equal(n, 10);
    free(d);
    d = NULL;
    assert_int_equal(cai_store_get(s, "b", "big", &d, &n, &e), CAI_EIO);
    assert_null(d);
    assert_non_null(strstr(e.msg, "CAI_STORE_MAX_OBJECT_BYTES"));
    cai_store_close(s);
    setenv("CAI_STORE_MAX_OBJECT_BYTES", "-1", 1);
    assert_int_equal(cai_store_open(root, &s, &e), CAI_EARG);
    unsetenv("CAI_STORE_MAX_OBJECT_BYTES");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_maps_to_root_bucket_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_is_notfound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_cannot_escape_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_recursive_sorted_with_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_many_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_put_fails_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlinks_below_root_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_special_files_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_object_bytes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
