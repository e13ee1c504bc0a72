/* buf.h — the one growable buffer of libcai, and the one growth rule for arrays.
 * Owns: capacity growth (doubling from a first size, every size overflow-checked). Must not touch: I/O, or
 * what the bytes and elements mean. Failures are -1 with the buffer or array left exactly as it was, so
 * callers report CAI_ENOMEM naming what they were building. */
#ifndef CAI_BUF_H
#define CAI_BUF_H

#include <stddef.h>

/* Bytes, NUL-terminated whenever p != NULL (so text can be used in place); n excludes the NUL.
 * Zero-initialise ({0}) to start; cai_buf_free to release, or cai_buf_take to keep the bytes. */
typedef struct {
    char *p;
    size_t n, cap;
} cai_buf;

int cai_buf_reserve(cai_buf *b, size_t extra); /* room for `extra` more bytes and the NUL */
int cai_buf_add(cai_buf *b, const void *data, size_t n);
int cai_buf_str(cai_buf *b, const char *s);
int cai_buf_printf(cai_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *cai_buf_take(cai_buf *b); /* the bytes (caller frees; "" when empty, NULL if out of memory); b reset */
void cai_buf_free(cai_buf *b);

/* Make room for `need` elements of `elem` bytes in the array *items whose capacity is *cap elements:
 * capacity doubles (starting at `first`) until it holds `need`. `items` is the address of the array
 * pointer (T **). 0, or -1 (out of memory or a size that overflows) with *items and *cap unchanged. */
int cai_grow(void *items, size_t *cap, size_t need, size_t elem, size_t first);

#endif
