/* tmpdir.h — scratch directories for the unit tests, under $TMPDIR (tests/run.sh gives each test its own;
 * /tmp when unset), removed afterwards. Header-only, tests only; every unit test that writes files uses it.
 *   cai_test_mkdtemp(buf, size, "tag")  makes "$TMPDIR/cai-tag-XXXXXX" in buf; 0 or -1
 *   cai_test_rmtree(dir)                removes dir and everything under it (no shell); 0 or -1
 *   TMPDIR_GROUP("tag")                 for a cmocka group: `dir`, setup(), teardown() and path_of(name)
 *                                       ("<dir>/<name>", four rotating buffers: up to four live at once) */
#ifndef CAI_TEST_TMPDIR_H
#define CAI_TEST_TMPDIR_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Room for "$TMPDIR/cai-tag-XXXXXX": small enough that "<dir>/<name>" fits the tests' 256-byte path buffers. */
#define CAI_TEST_DIR_MAX 100

__attribute__((unused)) static int cai_test_mkdtemp(char *buf, size_t size, const char *tag) {
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    int n = snprintf(buf, size, "%s/cai-%s-XXXXXX", base, tag);
    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "tmpdir.h: TMPDIR \"%s\" is too long for a %zu-byte scratch path\n", base, size);
        return -1;
    }
    if (!mkdtemp(buf)) {
        perror(buf);
        return -1;
    }
    return 0;
}

/* Depth-first, never following symbolic links (a link is removed, not what it points at). */
__attribute__((unused)) static int cai_test_rmtree(const char *dir) {
    struct stat st;
    if (lstat(dir, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) return unlink(dir);
    DIR *d = opendir(dir);
    if (!d) return -1;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        size_t n = strlen(dir) + strlen(de->d_name) + 2;
        char *p = malloc(n);
        if (!p) {
            rc = -1;
            break;
        }
        snprintf(p, n, "%s/%s", dir, de->d_name);
        if (cai_test_rmtree(p)) rc = -1;
        free(p);
    }
    closedir(d);
    return rmdir(dir) || rc ? -1 : 0;
}

#define TMPDIR_GROUP(tag)                                                                                              \
    static char dir[CAI_TEST_DIR_MAX];                                                                                 \
    static int setup(void **state) {                                                                                   \
        (void)state;                                                                                                   \
        return cai_test_mkdtemp(dir, sizeof dir, tag);                                                                 \
    }                                                                                                                  \
    static int teardown(void **state) {                                                                                \
        (void)state;                                                                                                   \
        return cai_test_rmtree(dir);                                                                                   \
    }                                                                                                                  \
    static inline const char *path_of(const char *name) {                                                              \
        static char p[4][CAI_TEST_DIR_MAX + 160];                                                                      \
        static int k;                                                                                                  \
        k = (k + 1) % 4;                                                                                               \
        snprintf(p[k], sizeof p[k], "%s/%s", dir, name);                                                               \
        return p[k];                                                                                                   \
    }

#endif
