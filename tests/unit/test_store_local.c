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
#include "tmpdir.h"

static char root[CAI_TEST_DIR_MAX];

static int setup(void **state) {
    (void)state;
    return cai_test_mkdtemp(root, sizeof root, "store");
}

static int teardown(void **state) {
    (void)state;
    return cai_test_rmtree(root);
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_maps_to_root_bucket_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_is_notfound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_cannot_escape_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_recursive_sorted_with_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_many_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_put_fails_cleanly, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
