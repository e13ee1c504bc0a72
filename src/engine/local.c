/* local.c — the local engine (see local.h).
 *
 * Why processes, not threads: one rank that crashes (a bug, an OOM kill, a SIGKILL from the user) must not
 * take the others down, and a process boundary is the only isolation C offers. Why the model is loaded in
 * each worker, not once in the parent before fork: GNU OpenMP's thread pool does not survive fork, so the
 * parent never touches the model; each worker loads it once (the weights file is memory-mapped, so the
 * pages are shared through the page cache) and then runs many ranks.
 *
 * Protocol: the parent writes a rank index (int32; -1 = quit) to a worker's task pipe; the worker runs it
 * and writes one fixed-size message to the shared result pipe (smaller than PIPE_BUF, so writes from
 * several workers never interleave). A worker that dies with a rank in flight fails that rank with its exit
 * status or signal, and a fresh worker replaces it while ranks remain. */
#define _GNU_SOURCE
#include "local.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/diag.h"
#include "../common/util.h"
#include "../pipeline/calibrate.h"
#include "../pipeline/payload.h"
#include "../pipeline/rank_record.h"
#include "../pipeline/record.h"
#include "../pipeline/runplan.h"
#include "../pipeline/initialize.h"
#include "../pipeline/stages.h"
#include "../pipeline/weightfile.h"
#include "../store/store.h"

typedef struct {
    int32_t rank;
    int32_t rc;
    int64_t galaxies;
    double wall;
    char msg[900];
} rank_msg;

typedef struct {
    pid_t pid;
    int task_fd;   /* parent's write end */
    int busy_rank; /* -1: idle */
    int alive;
    int status;      /* wait status once reaped */
    double deadline; /* monotonic time by which busy_rank must be done (0: none) */
    int timed_out;   /* killed for passing it */
} worker;

/* Where a rank is in this run. */
typedef enum {
    RANK_TODO = 0, /* to be handed to a worker */
    RANK_RUNNING,  /* a worker has it */
    RANK_OK,       /* finished; its record is written */
    RANK_FAILED,   /* finished with an error, or its worker died */
    RANK_SKIPPED,  /* --resume: already complete and valid */
} rank_phase;

typedef struct {
    rank_phase state;
    int64_t galaxies;
    char why[900];
} rank_state;

static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t n) {
    char *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* The worker process: load the model once, then run ranks until told to quit. Never returns.
 *
 * It opens its own store from the parent's URL and never uses the inherited one: an S3 store keeps its HTTP
 * connections alive, and a forked copy of that connection cache shares the parent's sockets — two processes
 * writing requests on one socket read each other's answers (a partition's GET answered with another
 * partition's bytes, or with a DELETE's empty 204). The inherited handles are simply left alone (not closed:
 * closing a TLS connection would send close_notify on the parent's socket); _exit drops the fds. */
static void worker_main(int task_fd, int result_fd, cai_store *parent_st, cJSON **job_at, int nr, const char *wpath,
                        int threads, cai_precision prec) {
    cai_model *model = NULL;
    cai_err e = {0};
    cai_store *st = NULL;
    cai_err se = {0};
    int src = cai_store_open(parent_st->url, &st, &se);
    if (cai_model_load(wpath, prec, &model, &e) != CAI_OK) model = NULL; /* each rank then records why */
    for (;;) {
        int32_t r;
        if (read_all(task_fd, &r, sizeof r) != 0 || r < 0 || r >= nr) break;
        rank_msg m;
        memset(&m, 0, sizeof m);
        m.rank = r;
        double t0 = cai_mono_now();
        /* prec is the engine's choice (--precision over the payload's): a rank whose model this process failed
         * to load loads it in that too, never in the job's CAI_PRECISION. */
        cai_worker_opts wo = {.weights = wpath,
                              .model = model,
                              .threads = threads,
                              .precision = prec,
                              .precision_set = 1,
                              .engine = "local"};
        cJSON *rec = NULL;
        cai_err we = {0};
        if (src)
            m.rc = src,
            snprintf(we.msg, sizeof we.msg, "worker pid %ld cannot open the store: %.900s", (long)getpid(), se.msg);
        else m.rc = cai_worker_run(st, job_at[r], &wo, &rec, &we);
        m.wall = cai_mono_now() - t0;
        cai_rank_record rr = {0};
        m.galaxies =
            rec && cai_rank_record_read(rec, "rank record", &rr, NULL) == CAI_OK && rr.galaxies > 0 ? rr.galaxies : 0;
        cai_rank_record_free(&rr);
        cJSON_Delete(rec);
        if (m.rc) snprintf(m.msg, sizeof m.msg, "%.880s", we.msg);
        if (write_all(result_fd, &m, sizeof m) != 0) break;
    }
    if (model) cai_model_free(model);
    if (st) cai_store_close(st);
    _exit(0);
}

/* "rank 3: x" -> "x": the engine prints the rank itself. */
static const char *strip_rank(const char *msg) {
    if (strncmp(msg, "rank ", 5) != 0) return msg;
    const char *p = msg + 5;
    while (*p >= '0' && *p <= '9') p++;
    return p[0] == ':' && p[1] == ' ' ? p + 2 : msg;
}

static void describe_status(int status, char *buf, size_t n) {
    if (WIFSIGNALED(status))
        snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status)) snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
    else snprintf(buf, n, "stopped (status 0x%x)", status);
}

typedef struct {
    int bar;
    int quiet;
    int total;
    int done;
    int failed;
    long long galaxies;
    double t0;
} progress;

/* Progress goes to the caller through common/diag.h (the CLI prints it on stderr): a bar redrawn in place
 * (CAI_DIAG_PROGRESS, ended by an empty line when the last rank is in), or one line per rank. */
static void progress_show(progress *p, const char *line) {
    double el = cai_mono_now() - p->t0;
    double gps = el > 0 ? (double)p->galaxies / el : 0;
    if (p->bar) {
        int w = 30, fill = p->total ? (int)((double)w * p->done / p->total) : w;
        char bar[64];
        for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
        bar[w] = 0;
        double eta = p->done ? el / p->done * (p->total - p->done) : 0;
        cai_diag(CAI_DIAG_PROGRESS, "  [%s] %d/%d ranks  %lld galaxies  %.0f gal/s  %s%d failed  ETA %.0fs   ", bar,
                 p->done, p->total, p->galaxies, gps, "", p->failed, eta);
        if (p->done == p->total) cai_diag(CAI_DIAG_INFO, "%s", "");
    } else if (line && !p->quiet) {
        cai_diag(CAI_DIAG_INFO, "cai run: %s (%d/%d ranks, %lld galaxies, %.0f gal/s)", line, p->done, p->total,
                 p->galaxies, gps);
    }
}

/* ---- per-rank timeout ----
 * A rank that never finishes (a worker stopped, a read from a filesystem that hangs) would hold the run forever,
 * so each rank gets a deadline; past it the worker is killed and the rank fails naming the timeout. Default:
 * CAI_RANK_TIMEOUT_BASE seconds (model load, a slow disk) plus the rank's galaxies at a conservative
 * CAI_RANK_TIMEOUT_RATE galaxies/s, far below any measured rate (BENCHMARKS.md), so a slow machine is never
 * mistaken for a stuck one. Galaxies come from the manifest, else from the partitions' sizes on a local store
 * (one image is 5x32x32 float32 = 20 KiB; a stat is free), else (S3 without a manifest, where a HEAD per
 * partition would delay the start) CAI_UNKNOWN_PART_GALAXIES per partition, a 1 GB seed partition.
 * `--rank-timeout S` sets it for every rank; 0 turns it off. */
#define CAI_RANK_TIMEOUT_BASE 300.0
#define CAI_RANK_TIMEOUT_RATE 2.0
#define CAI_GALAXY_BYTES 20480.0
#define CAI_UNKNOWN_PART_GALAXIES 50000.0

static double rank_timeout(cai_store *st, const cai_job *j, double given) {
    if (given >= 0) return given;
    double galaxies = 0;
    int remote = !strncmp(st->url, "s3://", 5);
    for (size_t k = 0; k < j->nkeys; k++) {
        uint64_t size = 0;
        if (j->expected && j->expected[k] >= 0) galaxies += (double)j->expected[k];
        else if (!remote && cai_store_head(st, j->data_bucket, j->keys[k], &size, NULL) == CAI_OK)
            galaxies += (double)size / CAI_GALAXY_BYTES;
        else galaxies += CAI_UNKNOWN_PART_GALAXIES;
    }
    return CAI_RANK_TIMEOUT_BASE + galaxies / CAI_RANK_TIMEOUT_RATE;
}

static int spawn(worker *w, int result_pipe[2], cai_store *st, cJSON **job_at, int nr, const char *wpath, int threads,
                 cai_precision prec, worker *all, int nall, cai_err *err) {
    int tp[2];
    if (pipe(tp) != 0) return cai_seterr(err, CAI_EIO, "local engine: pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(tp[0]);
        close(tp[1]);
        return cai_seterr(err, CAI_EIO, "local engine: fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* The parent's death (even kill -9) takes this worker with it: no orphan keeps writing results. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1); /* the parent died before prctl */
        close(tp[1]);
        close(result_pipe[0]);
        for (int i = 0; i < nall; i++)
            if (all[i].alive && all[i].task_fd >= 0) close(all[i].task_fd);
        signal(SIGPIPE, SIG_DFL);
        worker_main(tp[0], result_pipe[1], st, job_at, nr, wpath, threads, prec);
    }
    close(tp[0]);
    w->pid = pid;
    w->task_fd = tp[1];
    w->busy_rank = -1;
    w->alive = 1;
    w->deadline = 0;
    w->timed_out = 0;
    return CAI_OK;
}

/* ---- the map: a pool of workers and the ranks' states while it runs ---- */
typedef struct {
    cai_store *st;
    cJSON **job_at;
    int nr;
    const char *wpath;
    int threads;
    cai_precision prec;
    rank_state *rs;
    const double *tmo; /* per-rank timeout, seconds (0: none) */
    worker *ws;
    int nw;
    int result_pipe[2];
    int next; /* the next rank to hand out */
    int done; /* ranks finished, failed or not */
    progress pg;
} pool;

/* Hand every idle live worker the next rank to run (skipping ranks --resume found complete). A worker whose
 * task pipe cannot be written keeps no rank; the reaper notices it is gone. */
static void dispatch(pool *pl) {
    for (int i = 0; i < pl->nw; i++) {
        worker *w = &pl->ws[i];
        if (!w->alive || w->busy_rank >= 0) continue;
        if (pl->next >= pl->nr) break;
        int32_t rr = pl->next;
        if (write_all(w->task_fd, &rr, sizeof rr) == 0) {
            w->busy_rank = pl->next;
            w->deadline = pl->tmo[pl->next] > 0 ? cai_mono_now() + pl->tmo[pl->next] : 0;
            pl->rs[pl->next].state = RANK_RUNNING;
            pl->next++;
            while (pl->next < pl->nr && pl->rs[pl->next].state == RANK_SKIPPED) pl->next++;
        }
    }
}

static int pool_spawn(pool *pl, int i, cai_err *err) {
    return spawn(&pl->ws[i], pl->result_pipe, pl->st, pl->job_at, pl->nr, pl->wpath, pl->threads, pl->prec, pl->ws,
                 pl->nw, err);
}

/* Kill a worker whose rank is past its deadline; the reaping then fails the rank. */
static void kill_overdue(pool *pl) {
    double now = cai_mono_now();
    for (int i = 0; i < pl->nw; i++) {
        worker *w = &pl->ws[i];
        if (w->alive && w->busy_rank >= 0 && w->deadline > 0 && now > w->deadline && !w->timed_out) {
            kill(w->pid, SIGKILL);
            w->timed_out = 1;
        }
    }
}

/* A worker's message: the rank it ran is done or failed. Messages for a rank not running are ignored. */
static void on_result(pool *pl, const rank_msg *m) {
    if (m->rank < 0 || m->rank >= pl->nr || pl->rs[m->rank].state != RANK_RUNNING) return;
    rank_state *r = &pl->rs[m->rank];
    for (int i = 0; i < pl->nw; i++)
        if (pl->ws[i].busy_rank == m->rank) pl->ws[i].busy_rank = -1;
    pl->done++;
    r->galaxies = m->galaxies;
    pl->pg.galaxies += m->galaxies;
    char line[1200];
    if (m->rc == 0) {
        r->state = RANK_OK;
        snprintf(line, sizeof line, "rank %d done: %lld galaxies in %.2fs", m->rank, (long long)m->galaxies, m->wall);
    } else {
        r->state = RANK_FAILED;
        pl->pg.failed++;
        snprintf(r->why, sizeof r->why, "%s", m->msg);
        snprintf(line, sizeof line, "rank %d FAILED: %.900s", m->rank, strip_rank(m->msg));
        if (pl->pg.bar) cai_diag(CAI_DIAG_INFO, "\ncai run: %s", line);
    }
    pl->pg.done = pl->done;
    progress_show(&pl->pg, line);
}

/* Reap dead workers; 1 if any was. */
static int reap_dead(pool *pl) {
    int status, reaped = 0;
    pid_t dead;
    while ((dead = waitpid(-1, &status, WNOHANG)) > 0)
        for (int i = 0; i < pl->nw; i++) {
            worker *w = &pl->ws[i];
            if (w->alive && w->pid == dead) {
                w->alive = 0;
                w->status = status;
                close(w->task_fd);
                w->task_fd = -1;
                reaped = 1;
            }
        }
    return reaped;
}

/* Fail the rank each dead worker still held, naming its exit status, signal or timeout. */
static void fail_orphaned(pool *pl) {
    for (int i = 0; i < pl->nw; i++) {
        worker *w = &pl->ws[i];
        int r = w->busy_rank;
        if (w->alive || r < 0) continue;
        char how[128];
        describe_status(w->status, how, sizeof how);
        rank_state *rs = &pl->rs[r];
        rs->state = RANK_FAILED;
        if (w->timed_out)
            snprintf(rs->why, sizeof rs->why,
                     "timed out after %.0f s (--rank-timeout): worker pid %d killed, rank %d not finished", pl->tmo[r],
                     (int)w->pid, r);
        else snprintf(rs->why, sizeof rs->why, "worker pid %d %s while running rank %d", (int)w->pid, how, r);
        w->busy_rank = -1;
        pl->done++;
        pl->pg.done = pl->done;
        pl->pg.failed++;
        char line[1100];
        snprintf(line, sizeof line, "rank %d FAILED: %s", r, rs->why);
        if (pl->pg.bar) cai_diag(CAI_DIAG_INFO, "\ncai run: %s", line);
        progress_show(&pl->pg, line);
    }
}

/* Tell the live workers to quit and wait for them (the run's ranks are all in). */
static void stop_workers(pool *pl) {
    for (int i = 0; i < pl->nw; i++) {
        worker *w = &pl->ws[i];
        if (w->alive && w->task_fd >= 0) {
            int32_t q = -1;
            write_all(w->task_fd, &q, sizeof q);
            close(w->task_fd);
            w->task_fd = -1;
        }
    }
    for (int i = 0; i < pl->nw; i++)
        if (pl->ws[i].alive && pl->ws[i].pid > 0) waitpid(pl->ws[i].pid, NULL, 0), pl->ws[i].alive = 0;
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
}

/* Start `P` workers and run the ranks until every one to run is done or failed. */
static int run_map(pool *pl, int P, int to_run, cai_err *err) {
    int rc;
    signal(SIGPIPE, SIG_IGN);
    if (pipe(pl->result_pipe) != 0) {
        pl->result_pipe[0] = pl->result_pipe[1] = -1;
        return cai_seterr(err, CAI_EIO, "local engine: pipe: %s", strerror(errno));
    }
    pl->ws = calloc((size_t)P, sizeof *pl->ws);
    if (!pl->ws) return cai_seterr(err, CAI_ENOMEM, "local engine: out of memory");
    for (int i = 0; i < P; i++) pl->ws[i].task_fd = -1;
    for (pl->nw = 0; pl->nw < P; pl->nw++)
        if ((rc = pool_spawn(pl, pl->nw, err))) return rc;
    while (pl->next < pl->nr && pl->rs[pl->next].state == RANK_SKIPPED) pl->next++;
    dispatch(pl);
    while (pl->done < to_run) {
        kill_overdue(pl);
        struct pollfd pfd = {pl->result_pipe[0], POLLIN, 0};
        int pr = poll(&pfd, 1, 200);
        if (pr > 0 && (pfd.revents & POLLIN)) {
            rank_msg m;
            if (read_all(pl->result_pipe[0], &m, sizeof m) == 0) on_result(pl, &m);
            dispatch(pl);
            continue;
        }
        /* A worker writes its message before it exits, so once it is reaped its message (if any) is already
         * in the pipe: read that first, then fail what is still in flight. */
        if (reap_dead(pl)) {
            struct pollfd q = {pl->result_pipe[0], POLLIN, 0};
            if (poll(&q, 1, 0) > 0) continue;
        }
        fail_orphaned(pl);
        /* Replace dead workers while ranks remain. */
        for (int i = 0; i < pl->nw; i++)
            if (!pl->ws[i].alive && pl->next < pl->nr && (rc = pool_spawn(pl, i, err))) return rc;
        dispatch(pl);
    }
    stop_workers(pl);
    return CAI_OK;
}

/* After an error: close what is left of the pool (workers still alive quit when their task pipe closes). */
static void pool_free(pool *pl) {
    if (pl->ws) {
        for (int i = 0; i < pl->nw; i++)
            if (pl->ws[i].alive && pl->ws[i].pid > 0) {
                if (pl->ws[i].task_fd >= 0) close(pl->ws[i].task_fd);
                waitpid(pl->ws[i].pid, NULL, 0);
            }
        free(pl->ws);
    }
    if (pl->result_pipe[0] >= 0) close(pl->result_pipe[0]), close(pl->result_pipe[1]);
}

/* ---- the steps of a run ---- */

/* Read and parse the payload. Command-line catalog options become payload fields, so the job items and
 * Summarize see them too. *txt is the text the run's identity is computed from. */
static int load_payload(const cai_local_opts *o, char **txt, size_t *len, cai_payload *p, cai_err *err) {
    char *ptxt;
    size_t plen;
    int rc = cai_read_file(o->payload_path, &ptxt, &plen, err);
    if (rc) return rc;
    if (o->calibration || o->tta > 0 || o->csv) {
        cJSON *pj = cJSON_ParseWithLength(ptxt, plen);
        if (cJSON_IsObject(pj)) {
            if (o->calibration) {
                cJSON_DeleteItemFromObjectCaseSensitive(pj, "calibration");
                cJSON_AddStringToObject(pj, "calibration", o->calibration);
            }
            if (o->tta > 0) {
                cJSON_DeleteItemFromObjectCaseSensitive(pj, "tta");
                cJSON_AddNumberToObject(pj, "tta", o->tta);
            }
            if (o->csv) {
                cJSON_DeleteItemFromObjectCaseSensitive(pj, "catalog_csv");
                cJSON_AddBoolToObject(pj, "catalog_csv", 1);
            }
            char *t2 = cJSON_Print(pj);
            if (t2) {
                free(ptxt);
                ptxt = t2;
                plen = strlen(t2);
            }
        }
        cJSON_Delete(pj); /* not an object: cai_payload_parse reports it below */
    }
    rc = cai_payload_parse(ptxt, plen, o->payload_path, p, err);
    if (rc) {
        free(ptxt);
        return rc;
    }
    /* (payload warnings are reported once, by cai_initialize) */
    *txt = ptxt;
    *len = plen;
    return CAI_OK;
}

/* A calibration must be for these weights (and this TTA setting): refused before anything is written. Its
 * sha256 (into calsha, "" without one) is part of each rank's identity for --resume. */
static int check_calibration(const cai_local_opts *o, cai_store *st, const cai_payload *p, cai_local_result *res,
                             char calsha[65], cai_err *err) {
    calsha[0] = 0;
    if (!p->calibration) return CAI_OK;
    const char *cws = o->weights ? o->weights : p->weights;
    cai_weightfile_info cwi;
    cai_calib cal;
    int rc;
    if (!cws)
        return cai_seterr(err, CAI_EARG, "--calibration %s: no weights to check it against (pass --weights)",
                          p->calibration);
    if ((rc = cai_weightfile_resolve(st, p->bucket, cws, res->weights_path, sizeof res->weights_path, err)) ||
        (rc = cai_weightfile_describe(res->weights_path, &cwi, err)))
        return rc;
    rc = cai_calib_fetch(st, p->bucket, p->calibration, &cal, err);
    if (!rc) rc = cai_calib_check(&cal, p->calibration, cwi.sha256, p->tta, err);
    if (!rc) snprintf(calsha, 65, "%s", cal.sha256);
    cai_calib_free(&cal);
    return rc;
}

/* Mark the ranks --resume skips, report the choice, and give each rank to run its timeout. */
static void mark_ranks(const cai_local_opts *o, pool *pl, const cai_run_plan *plan, double *tmo,
                       cai_local_result *res) {
    int nr = pl->nr;
    for (int r = 0; r < nr; r++)
        if (!plan->todo[r]) pl->rs[r].state = RANK_SKIPPED;
    res->ranks_skipped = plan->skipped;
    res->ranks_changed = plan->changed;
    res->ranks_run = plan->to_run;
    if (plan->changed)
        cai_diag(CAI_DIAG_INFO,
                 "cai run: --resume=changed: %d done rank(s) changed since they ran (e.g. %s): running them again",
                 plan->changed, plan->changed_msg);
    for (int r = 0; r < nr; r++) {
        cai_job j;
        if (pl->rs[r].state == RANK_SKIPPED || cai_job_parse(pl->job_at[r], &j, NULL) != CAI_OK) continue;
        tmo[r] = rank_timeout(pl->st, &j, o->rank_timeout_set ? o->rank_timeout : -1);
        cai_job_free(&j);
    }
    if (o->resume && res->ranks_skipped)
        cai_diag(CAI_DIAG_INFO, "cai run: --resume: %d of %d ranks already complete, %d to run", res->ranks_skipped, nr,
                 plan->to_run);
}

/* Summarize (even after failures: the outputs of the ranks that finished are kept and checked); the error
 * names the failed ranks. */
static int summarize_run(cai_store *st, const cai_payload *p, const rank_state *rs, int nr, cai_local_result *res,
                         cJSON **summary_out, cai_err *err) {
    char failed_msg[1024] = "";
    size_t fl = 0;
    for (int r = 0; r < nr; r++)
        if (rs[r].state == RANK_FAILED) {
            res->ranks_failed++;
            if (fl < sizeof failed_msg - 100)
                fl += (size_t)snprintf(failed_msg + fl, sizeof failed_msg - fl, "%srank %d: %.300s", fl ? "; " : "", r,
                                       strip_rank(rs[r].why));
        }
    cJSON *sum = NULL;
    cai_err se = {0};
    int src = cai_summarize(st, p->bucket, p->result_path, &sum, &se);
    const cJSON *g = sum ? cJSON_GetObjectItemCaseSensitive(sum, "galaxies") : NULL;
    res->galaxies = cJSON_IsNumber(g) ? (long long)g->valuedouble : 0;
    if (summary_out) *summary_out = sum;
    else cJSON_Delete(sum);
    if (res->ranks_failed)
        return cai_seterr(err, CAI_EINCOMPLETE, "%d of %d ranks failed: %s (rerun with --resume to finish)",
                          res->ranks_failed, nr, failed_msg);
    if (src) return cai_seterr(err, se.code, "%s", se.msg);
    return CAI_OK;
}

int cai_local_run(const cai_local_opts *o, cai_local_result *res, cJSON **summary_out, cai_err *err) {
    cai_local_result dummy;
    if (!res) res = &dummy;
    memset(res, 0, sizeof *res);
    if (summary_out) *summary_out = NULL;
    double t_start = cai_mono_now();

    char *ptxt;
    size_t plen;
    cai_payload p;
    int rc = load_payload(o, &ptxt, &plen, &p, err);
    if (rc) return rc;
    const char *url = o->store_url ? o->store_url : p.store ? p.store : ".";
    snprintf(res->store_url, sizeof res->store_url, "%s", url);
    cai_store *st = NULL;
    cai_run_plan plan = {0};
    pool pl = {.result_pipe = {-1, -1}};
    double *tmo = NULL;
    char calsha[65] = "";
    if ((rc = cai_store_open(url, &st, err)) || (rc = check_calibration(o, st, &p, res, calsha, err))) goto out;

    /* 0-1. The run's identity, its hold on result_path (a second run refuses to start, naming the holder)
     *      and Initialize: the same for every engine (pipeline/runplan.h). */
    if ((rc = cai_run_open(st, &p, ptxt, plen, o->resume, o->force, &plan, err))) goto out;
    snprintf(res->run_id, sizeof res->run_id, "%s", plan.run_id);
    int nr = plan.nr;
    res->ranks = nr;
    pl.st = st;
    pl.job_at = plan.job_at;
    pl.nr = nr;
    pl.rs = calloc((size_t)(nr ? nr : 1), sizeof *pl.rs);
    tmo = calloc((size_t)(nr ? nr : 1), sizeof *tmo);
    pl.tmo = tmo;
    if (!pl.rs || !tmo) {
        rc = cai_seterr(err, CAI_ENOMEM, "local engine: out of memory");
        goto out;
    }

    /* 2. Weights: CLI over payload; resolved once (a bucket key is fetched once) and described — before
     *    choosing ranks, since --resume compares each done rank's weights with these. */
    const char *wspec = o->weights ? o->weights : p.weights;
    cai_precision prec = o->precision_set ? o->precision : p.precision;
    cai_weightfile_info wi = {0};
    if (wspec) {
        if ((rc = cai_weightfile_resolve(st, p.bucket, wspec, res->weights_path, sizeof res->weights_path, err)))
            goto out;
        if ((rc = cai_weightfile_describe(res->weights_path, &wi, err))) goto out;
        res->untrained = wi.untrained;
    }

    /* 3. Which ranks to run: every rank, or with --resume those not done from these same inputs. */
    /* `auto` as the workers will resolve it: the records say what ran (int8 or fp32), never "auto" */
    if ((rc = cai_run_select(st, &plan, o->resume, wspec ? wi.sha256 : NULL,
                             cai_precision_name(cai_precision_resolve(prec)), calsha, err)))
        goto out;
    mark_ranks(o, &pl, &plan, tmo, res);
    int to_run = plan.to_run;
    if (to_run > 0 && !wspec) {
        rc = cai_seterr(err, CAI_EARG, "no weights: pass --weights W.safetensors or set \"weights\" in the payload");
        goto out;
    }

    /* 4. The pool. */
    int ncpu = cai_ncpu();
    int P = o->workers > 0 ? o->workers : p.workers > 0 ? p.workers : ncpu;
    if (P > to_run) P = to_run;
    int T = o->threads > 0 ? o->threads : p.threads > 0 ? p.threads : (P > 0 ? ncpu / P : ncpu);
    if (T < 1) T = 1;
    pl.wpath = res->weights_path;
    pl.threads = T;
    pl.prec = prec;
    pl.pg = (progress){o->progress < 0 ? isatty(2) : o->progress, o->quiet, to_run, 0, 0, 0, cai_mono_now()};
    if (to_run > 0) {
        cai_diag(CAI_DIAG_INFO, "cai run: %d ranks (%d to run) on %d worker process%s x %d thread%s, store %s", nr,
                 to_run, P, P == 1 ? "" : "es", T, T == 1 ? "" : "s", url);
        if ((rc = run_map(&pl, P, to_run, err))) goto out;
    }
    res->map_seconds = cai_mono_now() - pl.pg.t0;
    res->galaxies_run = pl.pg.galaxies;

    /* 5. Summarize. */
    rc = summarize_run(st, &p, pl.rs, nr, res, summary_out, err);
out:
    pool_free(&pl);
    cai_run_close(st, &plan);
    res->wall_seconds = cai_mono_now() - t_start;
    free(pl.rs);
    free(tmo);
    cai_store_close(st);
    cai_payload_free(&p);
    free(ptxt);
    return rc;
}
