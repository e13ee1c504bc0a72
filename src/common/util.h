/* util.h — small process-level helpers shared by every module: files, clocks, memory, checksums.
 * Owns: nothing stateful. Must not touch: model, store or pipeline logic. */
#ifndef CAI_UTIL_H
#define CAI_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef enum { CAI_F32 = 0, CAI_F64 = 1 } cai_dtype;

/* A file's whole contents, read-only. Memory-mapped when possible (len > 0), else heap.
 * Release with cai_file_unmap. */
typedef struct {
    const uint8_t *data;
    size_t len;
    int mapped; /* 1: munmap on release; 0: free */
} cai_file;

int cai_file_map(const char *path, cai_file *f, cai_err *err);
void cai_file_unmap(cai_file *f);

/* Read a whole file into a NUL-terminated heap buffer (*len excludes the NUL). */
int cai_read_file(const char *path, char **out, size_t *len, cai_err *err);

/* Write atomically: write to "<path>.tmp.<pid>", fsync, rename. Readers never see half a file. */
int cai_write_file_atomic(const char *path, const void *data, size_t len, cai_err *err);

/* mkdir -p for the directory part of `path` (everything before the last '/'). */
int cai_mkdirs_for(const char *path, cai_err *err);
/* mkdir -p of `dir` itself. */
int cai_mkdirs(const char *dir, cai_err *err);

/* Clocks: wall time as Unix seconds (for start/end timestamps), monotonic seconds (for durations),
 * and this process's CPU time (user+sys) in seconds. */
double cai_wall_now(void);
double cai_mono_now(void);
double cai_cpu_now(void);

/* ISO-8601 UTC with milliseconds, e.g. "2026-11-25T15:37:46.123Z". buf >= 32 bytes. */
void cai_iso8601(double unix_seconds, char *buf, size_t n);
/* The reverse, as AWS writes times: "2026-11-25T23:00:00Z", "...+01:00", fractions of a second allowed.
 * Unix seconds, or -1 when `s` is not such a time (every field range-checked, nothing after it). */
double cai_iso8601_parse(const char *s);

/* Peak resident set size of this process, in MB (from getrusage; ru_maxrss). */
double cai_peak_rss_mb(void);

/* Number of online CPUs (>= 1). */
int cai_ncpu(void);

/* SHA-256 (OpenSSL). hex must hold 65 bytes. */
void cai_sha256(const void *data, size_t len, uint8_t out[32]);
void cai_sha256_hex(const void *data, size_t len, char hex[65]);

/* Overflow-checked size arithmetic for parsers: return 0 on success, -1 on overflow. */
static inline int cai_mul_overflow(uint64_t a, uint64_t b, uint64_t *r) {
    return __builtin_mul_overflow(a, b, r) ? -1 : 0;
}
static inline int cai_add_overflow(uint64_t a, uint64_t b, uint64_t *r) {
    return __builtin_add_overflow(a, b, r) ? -1 : 0;
}

#endif
