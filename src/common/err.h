/* err.h — CAI's error codes and the error record every fallible call fills in.
 * Owns: the code list, the message buffer, cai_strerror(). Must not touch: I/O, logging policy
 * (callers decide whether and how to print). Modelled on curl: one enum, one strerror, a detail string
 * that names the file/field/key and says what was expected. */
#ifndef CAI_ERR_H
#define CAI_ERR_H

#include <stddef.h>

typedef enum {
    CAI_OK = 0,
    CAI_EARG,        /* bad command-line argument or API argument */
    CAI_EIO,         /* read/write/open failed (errno detail in message) */
    CAI_ENOMEM,      /* allocation failed */
    CAI_EFORMAT,     /* malformed input file: ZIP, pickle, safetensors, shard, JSON, FITS */
    CAI_ESHAPE,      /* a tensor has the wrong shape or dtype */
    CAI_EKEY,        /* a required key/field is missing, or an unexpected one is present */
    CAI_EFORBIDDEN,  /* a pickle names a global outside the allow-list */
    CAI_ENOTFOUND,   /* object/file/partition does not exist */
    CAI_EPAYLOAD,    /* run payload is invalid (names the field) */
    CAI_ES3,         /* S3 returned an error (S3 code + key in message) */
    CAI_EAUTH,       /* credentials rejected */
    CAI_ENET,        /* network/transport failure after retries */
    CAI_ETIMEOUT,    /* deadline reached */
    CAI_EINCOMPLETE, /* completeness check failed: missing/duplicated predictions or failed ranks */
    CAI_EDNNL,       /* oneDNN returned an error */
    CAI_EINTERNAL,   /* a bug: an invariant did not hold */
    CAI_EBUSY,       /* held by someone else: another run holds the result_path's lock; the object exists */
    CAI_ECHANGED,    /* --resume: a done rank was computed from other weights, data or settings */
    CAI_ES3_RETRY,   /* S3 kept answering a retryable error (throttling, 5xx) until the retries ran out */
    CAI_ECODE_COUNT
} cai_code;

typedef struct {
    cai_code code;
    char msg[1024];
} cai_err;

/* Record an error: sets err->code and formats err->msg. Returns `code`, so callers can write
 * `return cai_seterr(err, CAI_EFORMAT, "%s: ...", path);`. err may be NULL. */
int cai_seterr(cai_err *err, cai_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix an existing error message with context ("partition 7.pt: "), keeping its code. */
int cai_err_prefix(cai_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A short constant description of a code, e.g. "malformed input". */
const char *cai_strerror(cai_code code);

/* Process exit status for a code: 0 ok, 2 usage/input errors, 1 everything else. */
int cai_exit_status(cai_code code);

#endif
