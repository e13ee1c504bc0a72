/* diag.c — see diag.h. */
#include "diag.h"

#include <stdarg.h>
#include <stdio.h>

static cai_diag_fn diag_fn;
static void *diag_ctx;

void cai_diag_set(cai_diag_fn fn, void *ctx) {
    diag_fn = fn;
    diag_ctx = ctx;
}

void cai_diag(cai_diag_level level, const char *fmt, ...) {
    if (!diag_fn) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_fn(diag_ctx, level, msg);
}
