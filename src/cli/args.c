#include "args.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cai_arg_int(const char *cmd, const char *flag, const char *s, int64_t min, int64_t max, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        if (max == INT64_MAX)
            fprintf(stderr, "cai %s: %s: expected an integer >= %" PRId64 ", got \"%s\"\n", cmd, flag, min, s);
        else
            fprintf(stderr, "cai %s: %s: expected an integer in [%" PRId64 ", %" PRId64 "], got \"%s\"\n", cmd,
                    flag, min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cai_arg_int32(const char *cmd, const char *flag, const char *s, int min, int max, int *out) {
    int64_t v;
    if (cai_arg_int(cmd, flag, s, min, max, &v)) return -1;
    *out = (int)v;
    return 0;
}

int cai_arg_path(const char *cmd, const char *flag, const char *s) {
    if (!*s) {
        fprintf(stderr, "cai %s: %s: expected a path, got an empty value\n", cmd, flag);
        return -1;
    }
    if (s[0] == '-' && s[1]) {
        fprintf(stderr, "cai %s: %s: expected a path, got \"%s\", which looks like an option (write ./%s for a "
                        "file of that name)\n", cmd, flag, s, s);
        return -1;
    }
    return 0;
}

int cai_arg_format(const char *cmd, const char *s, cai_part_format *out) {
    if (!strcmp(s, "shard")) *out = CAI_PART_SHARD;
    else if (!strcmp(s, "pt")) *out = CAI_PART_SEEDPT;
    else {
        fprintf(stderr, "cai %s: --format: expected \"shard\" or \"pt\", got \"%s\"\n", cmd, s);
        return -1;
    }
    return 0;
}
