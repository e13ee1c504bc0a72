#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cai_seterr(cai_err *err, cai_code code, const char *fmt, ...) {
    if (!err) return (int)code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return (int)code;
}

int cai_err_prefix(cai_err *err, const char *fmt, ...) {
    if (!err) return CAI_OK;
    char head[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t h = strlen(head);
    if (h >= sizeof err->msg) h = sizeof err->msg - 1;
    memcpy(err->msg, head, h);
    size_t o = strnlen(old, sizeof old);
    if (o > sizeof err->msg - 1 - h) o = sizeof err->msg - 1 - h;
    memcpy(err->msg + h, old, o);
    err->msg[h + o] = 0;
    return (int)err->code;
}

static const char *const names[CAI_ECODE_COUNT] = {
    [CAI_OK] = "ok",
    [CAI_EARG] = "bad argument",
    [CAI_EIO] = "I/O error",
    [CAI_ENOMEM] = "out of memory",
    [CAI_EFORMAT] = "malformed input",
    [CAI_ESHAPE] = "wrong tensor shape or dtype",
    [CAI_EKEY] = "missing or unexpected key",
    [CAI_EFORBIDDEN] = "forbidden pickle global",
    [CAI_ENOTFOUND] = "not found",
    [CAI_EPAYLOAD] = "invalid payload",
    [CAI_ES3] = "S3 error",
    [CAI_EAUTH] = "authentication failed",
    [CAI_ENET] = "network error",
    [CAI_ETIMEOUT] = "deadline reached",
    [CAI_EINCOMPLETE] = "incomplete results",
    [CAI_EDNNL] = "oneDNN error",
    [CAI_EINTERNAL] = "internal error",
    [CAI_EBUSY] = "in use by another run",
    [CAI_ECHANGED] = "inputs changed since the results were made",
    [CAI_ES3_RETRY] = "S3 error (retryable)",
};

const char *cai_strerror(cai_code code) {
    if ((int)code < 0 || code >= CAI_ECODE_COUNT || !names[code]) return "unknown error";
    return names[code];
}

int cai_exit_status(cai_code code) {
    switch (code) {
    case CAI_OK: return 0;
    case CAI_EARG:
    case CAI_EPAYLOAD: return 2;
    default: return 1;
    }
}
