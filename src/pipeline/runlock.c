/* runlock.c — run ids and the result_path lock object (see runlock.h). */
#define _GNU_SOURCE
#include "runlock.h"

#include <cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "../common/diag.h"
#include "../common/util.h"
#include "initialize.h"

void cai_run_id_new(char out[CAI_RUN_ID_MAX]) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) /* no entropy source: time and pid still differ */
        rnd = (uint32_t)(cai_mono_now() * 1e9) ^ ((uint32_t)getpid() << 16);
    char ts[32];
    strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(out, CAI_RUN_ID_MAX, "%s-%ld-%08x", ts, (long)getpid(), rnd);
}

static void hostname(char *h, size_t n) {
    if (gethostname(h, n) != 0) snprintf(h, n, "unknown");
    h[n - 1] = 0;
}

/* A process that has exited but not been reaped (its parent, e.g. an MPI launcher, is still tearing down,
 * or a container's init never reaps) still answers kill(pid, 0): it is gone all the same. Linux only;
 * elsewhere, or when /proc cannot be read, the kill(2) test decides. */
static int zombie(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *rp = strrchr(buf, ')'); /* comm may hold spaces and parentheses: the state follows the last ')' */
    return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

/* What the lock says about its holder, and whether that holder is gone. */
typedef struct {
    char run_id[CAI_RUN_ID_MAX], host[256], start_iso[40], what[128]; /* what: a detached lock's holder */
    long pid;
    int parsed;
    int gone;       /* same host and the pid does not exist */
    int alive_here; /* same host and the pid exists */
} holder;

static void read_holder(cai_store *st, const char *bucket, const char *key, holder *h) {
    memset(h, 0, sizeof *h);
    uint8_t *b;
    size_t l;
    if (cai_store_get(st, bucket, key, &b, &l, NULL) != CAI_OK) return;
    cJSON *j = cJSON_ParseWithLength((const char *)b, l);
    free(b);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return;
    }
    const cJSON *v;
    if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(j, "run_id")))
        snprintf(h->run_id, sizeof h->run_id, "%s", v->valuestring);
    if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(j, "host")))
        snprintf(h->host, sizeof h->host, "%s", v->valuestring);
    if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(j, "start_iso")))
        snprintf(h->start_iso, sizeof h->start_iso, "%s", v->valuestring);
    if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(j, "holder")))
        snprintf(h->what, sizeof h->what, "%s", v->valuestring);
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(j, "pid"))) h->pid = (long)v->valuedouble;
    cJSON_Delete(j);
    h->parsed = h->run_id[0] != 0;
    char me[256];
    hostname(me, sizeof me);
    if (h->parsed && h->pid > 0 && !strcmp(h->host, me)) {
        if (zombie((pid_t)h->pid)) h->gone = 1;
        else if (kill((pid_t)h->pid, 0) == 0 || errno == EPERM) h->alive_here = 1;
        else if (errno == ESRCH) h->gone = 1;
    }
}

/* This process's lock: the run id alone is not enough — a resumed run reuses the id of the run it resumes,
 * whose crashed process may have left the lock behind. */
static int is_ours(const holder *h, const char *run_id, long pid, const char *what) {
    char me[256];
    hostname(me, sizeof me);
    return h->parsed && !strcmp(h->run_id, run_id) && h->pid == pid && !strcmp(h->host, me) &&
           !strcmp(h->what, what ? what : "");
}

/* "pid 4242 on host h" or, for a detached lock, "slurm job 17 from host h". */
static void describe(const holder *h, char *out, size_t n) {
    if (h->what[0]) snprintf(out, n, "%.100s from host %.255s", h->what, h->host[0] ? h->host : "?");
    else snprintf(out, n, "pid %ld on host %.255s", h->pid, h->host[0] ? h->host : "?");
}

static int acquire(cai_store *st, const char *bucket, const char *result_path, const char *run_id, const char *what,
                   int force, cai_run_lock *lk, cai_err *err) {
    long pid = what ? 0 : (long)getpid();
    memset(lk, 0, sizeof *lk);
    snprintf(lk->run_id, sizeof lk->run_id, "%s", run_id);
    snprintf(lk->bucket, sizeof lk->bucket, "%s", bucket);
    snprintf(lk->key, sizeof lk->key, "%s/%s", result_path, CAI_RUN_LOCK_NAME);
    char host[256], iso[40];
    hostname(host, sizeof host);
    double now = cai_wall_now();
    cai_iso8601(now, iso, sizeof iso);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "run_id", run_id);
    cJSON_AddNumberToObject(j, "pid", (double)pid);
    if (what) cJSON_AddStringToObject(j, "holder", what);
    cJSON_AddStringToObject(j, "host", host);
    cJSON_AddNumberToObject(j, "start_unix", now);
    cJSON_AddStringToObject(j, "start_iso", iso);
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!txt) return cai_seterr(err, CAI_ENOMEM, "run lock: out of memory");
    int rc = CAI_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        cai_err pe = {0};
        rc = cai_store_put_new(st, bucket, lk->key, txt, strlen(txt), &pe);
        if (rc == CAI_OK) {
            lk->held = 1;
            break;
        }
        if (rc != CAI_EBUSY) {
            rc = cai_seterr(err, rc, "cannot lock %s/%s: %s", bucket, result_path, pe.msg);
            break;
        }
        holder h;
        read_holder(st, bucket, lk->key, &h);
        if (is_ours(&h, run_id, pid, what)) { /* our own create, retried by the store */
            lk->held = 1;
            rc = CAI_OK;
            break;
        }
        if (force && attempt == 0 && !h.alive_here) {
            char d[512];
            describe(&h, d, sizeof d);
            cai_diag(CAI_DIAG_INFO, "cai: --force: breaking the lock on %s/%s held by run %s (%s, started %s)%s",
                     bucket, result_path, h.parsed ? h.run_id : "(unreadable lock)", d,
                     h.start_iso[0] ? h.start_iso : "?", h.gone ? ": that process is gone" : "");
            cai_store_delete(st, bucket, lk->key, NULL);
            continue;
        }
        if (!h.parsed)
            rc = cai_seterr(err, CAI_EBUSY,
                            "%s/%s is locked by another run (%s/%s exists but is unreadable: being written?); "
                            "retry, or pass --force if no run is using it",
                            bucket, result_path, bucket, lk->key);
        else {
            char d[512];
            describe(&h, d, sizeof d);
            rc = cai_seterr(err, CAI_EBUSY, "%s/%s is in use by run %s (%s, started %s)%s", bucket, result_path,
                            h.run_id, d, h.start_iso,
                            h.gone ? ": that process is no longer running, so the lock is stale (a crash?): rerun "
                                     "with --force to take it over"
                            : h.alive_here ? ": wait for it to finish, or use another result_path"
                                           : ": wait for it to finish; if it crashed, rerun with --force");
        }
        break;
    }
    free(txt);
    return rc;
}

int cai_run_lock_acquire(cai_store *st, const char *bucket, const char *result_path, const char *run_id, int force,
                         cai_run_lock *lk, cai_err *err) {
    return acquire(st, bucket, result_path, run_id, NULL, force, lk, err);
}

int cai_run_lock_acquire_detached(cai_store *st, const char *bucket, const char *result_path, const char *run_id,
                                  const char *what, int force, cai_run_lock *lk, cai_err *err) {
    return acquire(st, bucket, result_path, run_id, what && *what ? what : "a detached run", force, lk, err);
}

void cai_run_lock_release(cai_store *st, cai_run_lock *lk) {
    if (!lk || !lk->held) return;
    holder h;
    read_holder(st, lk->bucket, lk->key, &h);
    if (is_ours(&h, lk->run_id, (long)getpid(), "")) cai_store_delete(st, lk->bucket, lk->key, NULL);
    lk->held = 0;
}

int cai_run_lock_release_run(cai_store *st, const char *bucket, const char *result_path, const char *run_id,
                             cai_err *err) {
    char key[2100];
    snprintf(key, sizeof key, "%s/%s", result_path, CAI_RUN_LOCK_NAME);
    uint64_t size;
    cai_err he = {0};
    int rc = cai_store_head(st, bucket, key, &size, &he);
    if (rc == CAI_ENOTFOUND) return CAI_OK;
    if (rc) return cai_seterr(err, rc, "cannot read the lock %s/%s: %s", bucket, key, he.msg);
    holder h;
    read_holder(st, bucket, key, &h);
    if (!h.parsed || strcmp(h.run_id, run_id) != 0) {
        char d[512];
        describe(&h, d, sizeof d);
        return cai_seterr(err, CAI_EBUSY, "%s/%s is locked by run %s (%s), not by run %s: lock left alone", bucket,
                          result_path, h.parsed ? h.run_id : "(unreadable lock)", d, run_id);
    }
    if ((rc = cai_store_delete(st, bucket, key, &he)))
        return cai_seterr(err, rc, "cannot release %s/%s: %s", bucket, key, he.msg);
    return CAI_OK;
}

int cai_run_lock_release_jobs_run(cai_store *st, const char *bucket, const char *result_path, char *run_id_out,
                                  size_t run_id_cap, cai_err *err) {
    cJSON *jobs = NULL;
    int rc = cai_jobs_read(st, bucket, result_path, &jobs, err);
    const cJSON *ri = !rc && jobs && jobs->child ? cJSON_GetObjectItemCaseSensitive(jobs->child, "CAI_RUN_ID") : NULL;
    if (!rc && !cJSON_IsString(ri))
        rc = cai_seterr(err, CAI_EARG, "%s/%s/jobs.jsonl names no run (CAI_RUN_ID): no lock to release", bucket,
                        result_path);
    if (!rc) {
        if (run_id_out && run_id_cap) snprintf(run_id_out, run_id_cap, "%s", ri->valuestring);
        rc = cai_run_lock_release_run(st, bucket, result_path, ri->valuestring, err);
    }
    cJSON_Delete(jobs);
    return rc;
}
