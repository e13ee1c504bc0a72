/* buf.c — see buf.h. */
#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cai_grow(void *items, size_t *cap, size_t need, size_t elem, size_t first) {
    if (need <= *cap) return 0;
    if (elem == 0 || need > SIZE_MAX / elem) return -1;
    size_t nc = *cap ? *cap : (first ? first : 1);
    while (nc < need) nc = nc > SIZE_MAX / 2 ? need : nc * 2;
    if (nc > SIZE_MAX / elem) nc = need; /* doubling overshot what fits: take exactly what is needed */
    void **pp = items;
    void *p = realloc(*pp, nc * elem);
    if (!p) return -1;
    *pp = p;
    *cap = nc;
    return 0;
}

int cai_buf_reserve(cai_buf *b, size_t extra) {
    if (extra > SIZE_MAX - b->n - 1) return -1;
    return cai_grow(&b->p, &b->cap, b->n + extra + 1, 1, 256);
}

int cai_buf_add(cai_buf *b, const void *data, size_t n) {
    if (cai_buf_reserve(b, n)) return -1;
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

int cai_buf_str(cai_buf *b, const char *s) { return cai_buf_add(b, s, strlen(s)); }

int cai_buf_printf(cai_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0 || cai_buf_reserve(b, (size_t)k)) return -1;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
    return 0;
}

char *cai_buf_take(cai_buf *b) {
    char *p = b->p ? b->p : calloc(1, 1);
    memset(b, 0, sizeof *b);
    return p;
}

void cai_buf_free(cai_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}
