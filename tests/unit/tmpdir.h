/* tmpdir.h — a scratch directory for one cmocka test group: TMPDIR_GROUP("tag") defines `dir`,
 * setup() (mkdtemp /tmp/cai-<tag>-XXXXXX) and teardown() (rm -rf), and path_of(name) → "<dir>/<name>"
 * (four rotating buffers, so up to four paths can be live in one call). Header-only, tests only. */
#ifndef CAI_TEST_TMPDIR_H
#define CAI_TEST_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TMPDIR_GROUP(tag)                                                                                              \
    static char dir[64];                                                                                               \
    static int setup(void **state) {                                                                                   \
        (void)state;                                                                                                   \
        strcpy(dir, "/tmp/cai-" tag "-XXXXXX");                                                                        \
        return mkdtemp(dir) ? 0 : -1;                                                                                  \
    }                                                                                                                  \
    static int teardown(void **state) {                                                                                \
        (void)state;                                                                                                   \
        char cmd[128];                                                                                                 \
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);                                                                 \
        return system(cmd);                                                                                            \
    }                                                                                                                  \
    static inline const char *path_of(const char *name) {                                                              \
        static char p[4][256];                                                                                         \
        static int k;                                                                                                  \
        k = (k + 1) % 4;                                                                                               \
        snprintf(p[k], sizeof p[k], "%s/%s", dir, name);                                                               \
        return p[k];                                                                                                   \
    }

#endif
