/* diag.h — how libcai tells its caller something that is not an error (a warning about an input, a
 * progress line): through one callback the program installs. libcai itself never prints.
 * Owns: the callback slot and the formatting. Must not touch: where or how messages are shown (the CLI's
 * callback prints them to stderr; a program that installs none sees nothing). */
#ifndef CAI_DIAG_H
#define CAI_DIAG_H

typedef enum {
    CAI_DIAG_WARN,     /* a problem that did not stop anything: "unknown field "x" ignored" */
    CAI_DIAG_INFO,     /* one line of progress or a report: "3 ranks (3 to run) on 2 worker processes" */
    CAI_DIAG_PROGRESS, /* a transient status line, redrawn in place on a terminal */
} cai_diag_level;

/* `msg` has no trailing newline and is valid only during the call. */
typedef void (*cai_diag_fn)(void *ctx, cai_diag_level level, const char *msg);

/* Install the process's callback (NULL: drop diagnostics). Set it before starting threads; it is called
 * from whichever thread reports, so it must be thread-safe (one fprintf is). */
void cai_diag_set(cai_diag_fn fn, void *ctx);

/* Report a message (printf-style; longer than 2 KB is cut). */
void cai_diag(cai_diag_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
