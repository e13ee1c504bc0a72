/* mpi.c — the MPI engine, `cai-mpi` (run as `mpirun -n P cai mpi PAYLOAD.json ...` or under
 * `srun --mpi=pmix`; `cai mpi` execs this binary). It is linked on its own with mpicc so that `cai` and the
 * Lambda package carry no MPI; it calls the same three stages as every engine (pipeline/stages.h).
 *
 * Rank 0 runs Initialize, then hands out jobs one at a time: a rank asks for its next job when it reports the
 * last one, so a slow node takes fewer jobs and never holds the run back. Rank 0 also works, in a second
 * thread (only its main thread calls MPI: MPI_THREAD_FUNNELED), so `-n 2` computes on two ranks; it polls
 * for requests with MPI_Iprobe and a 1 ms sleep rather than a blocking receive, because Open MPI's blocking
 * receive spins and would take a core from the computing thread. Rank 0 runs Summarize at the end.
 *
 * A rank that dies takes the MPI job down (that is what mpirun and srun do); the launcher names the dead
 * process, and rank 0, stopped by the launcher, names the CAI ranks that were in flight and on which MPI rank
 * (pid, host). Finished ranks' records are already in the store, so `--resume` runs only the rest. */
#define _GNU_SOURCE
#include <cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <mpi.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/err.h"
#include "../common/util.h"
#include "../model/model.h"
#include "../pipeline/calibrate.h"
#include "../pipeline/payload.h"
#include "../pipeline/rank_record.h"
#include "../pipeline/record.h"
#include "../pipeline/runplan.h"
#include "../pipeline/stages.h"
#include "../pipeline/weightfile.h"
#include "../store/store.h"
#include "array.h"

enum { TAG_REPORT = 1, TAG_JOB = 2 };

/* A worker's report of its last job (rank -1: none yet) — also its request for the next one. */
typedef struct {
    int32_t rank;
    int32_t rc;
    int64_t galaxies;
    double wall;
    int32_t pid;
    int32_t quit; /* 1: this rank cannot work (its store did not open); send it nothing */
    char host[64];
    char msg[900];
} report;

/* What rank 0 broadcasts after Initialize. */
typedef struct {
    int32_t status; /* 0: go; else the exit status every rank returns */
    int32_t precision;
    char store[1024];
    char weights[4096];
    char bucket[1024];
} setup;

typedef struct {
    const char *payload, *store, *weights;
    int threads, precision_set, resume, resume_changed, force, root_works, quiet;
    cai_precision precision;
} mpi_opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: mpirun -n P cai mpi PAYLOAD.json [--store DIR|s3://...] [--weights W] [options]\n"
            "       srun --mpi=pmix -n P cai mpi PAYLOAD.json ...\n\n"
            "The MPI engine: rank 0 runs Initialize and hands out jobs one at a time (a rank asks for its next\n"
            "job when it finishes one); every rank, rank 0 included, runs the shared worker; rank 0 runs\n"
            "Summarize and prints the report.\n"
            "  --store S         the store (default: the payload's \"store\", else .); every rank must reach it\n"
            "  --weights W       a path every rank can read, or a key in the payload's bucket\n"
            "  --threads T       threads per rank (default: SLURM_CPUS_PER_TASK, else cores / ranks on the node)\n"
            "  --precision P     auto (default: int8 where the CPU has VNNI), fp32 or int8\n"
            "  --resume          skip ranks this run already completed from the same weights and data; refuse\n"
            "                    if a done rank was made from other inputs (--resume=changed reruns those)\n"
            "  --force           take over the result_path lock of a run that is gone (after a crash)\n"
            "  --no-root-worker  rank 0 only hands out jobs (for many ranks on many nodes)\n"
            "  --quiet           no per-job lines\n");
}

static int parse_args(int argc, char **argv, mpi_opts *o, int say) {
    static const struct option opts[] = {
        {"store", required_argument, 0, 's'},    {"weights", required_argument, 0, 'w'},
        {"threads", required_argument, 0, 't'},  {"precision", required_argument, 0, 'p'},
        {"resume", optional_argument, 0, 'r'},   {"force", no_argument, 0, 'F'},
        {"no-root-worker", no_argument, 0, 'N'}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->root_works = 1;
    int c;
    opterr = say;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 's': o->store = optarg; break;
        case 'w': o->weights = optarg; break;
        case 't': {
            long v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 1 || v > 1024) {
                if (say) fprintf(stderr, "cai mpi: --threads: expected an integer in [1, 1024], got \"%s\"\n", optarg);
                return 2;
            }
            o->threads = (int)v;
            break;
        }
        case 'p':
            if (cai_precision_parse(optarg, &o->precision)) {
                if (say)
                    fprintf(stderr, "cai mpi: --precision: expected " CAI_PRECISION_EXPECTED ", got \"%s\"\n", optarg);
                return 2;
            }
            o->precision_set = 1;
            break;
        case 'r':
            o->resume = 1;
            if (optarg && strcmp(optarg, "changed") == 0) o->resume_changed = 1;
            else if (optarg) {
                if (say) fprintf(stderr, "cai mpi: --resume: expected no value or \"changed\", got \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 'F': o->force = 1; break;
        case 'N': o->root_works = 0; break;
        case 'q': o->quiet = 1; break;
        case 'h':
            if (say) usage(stdout);
            return -1;
        default:
            if (say) usage(stderr);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        if (say) fprintf(stderr, "cai mpi: expected exactly one PAYLOAD.json\n");
        return 2;
    }
    o->payload = argv[optind];
    return 0;
}

/* ---- the worker side (every rank; rank 0's in a thread) ---- */

typedef struct {
    cai_store *st;
    const setup *su;
    int threads;
    cai_model *model;
    char wpath[4096];
    cai_worker_opts wo;
    cJSON *info;
} worker_ctx;

static void worker_init(worker_ctx *w, cai_store *st, const setup *su, int threads, int mpi_rank, int mpi_size) {
    memset(w, 0, sizeof *w);
    w->st = st, w->su = su, w->threads = threads;
    cai_err e = {0};
    /* Load once for all this rank's jobs; when it fails, each job records why (the worker loads again). */
    if (cai_weightfile_resolve(st, su->bucket, su->weights, w->wpath, sizeof w->wpath, &e) == CAI_OK)
        cai_model_load(w->wpath, (cai_precision)su->precision, &w->model, &e);
    w->info = cJSON_CreateObject();
    cJSON *m = cJSON_AddObjectToObject(w->info, "mpi");
    cJSON_AddNumberToObject(m, "rank", mpi_rank);
    cJSON_AddNumberToObject(m, "size", mpi_size);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    cJSON_AddStringToObject(m, "host", host);
    cJSON_AddNumberToObject(m, "pid", (double)getpid());
    cJSON *slurm = cai_array_engine_info(getenv("SLURM_JOB_ID") ? "slurm" : NULL);
    const cJSON *s = slurm ? cJSON_GetObjectItemCaseSensitive(slurm, "slurm") : NULL;
    if (s) cJSON_AddItemToObject(w->info, "slurm", cJSON_Duplicate(s, 1));
    cJSON_Delete(slurm);
    w->wo = (cai_worker_opts){.weights = w->wpath[0] ? w->wpath : su->weights,
                              .model = w->model,
                              .threads = threads,
                              .precision = (cai_precision)su->precision,
                              .engine = "mpi",
                              .engine_info = w->info};
}

static void worker_free(worker_ctx *w) {
    if (w->model) cai_model_free(w->model);
    cJSON_Delete(w->info);
}

static void worker_do(worker_ctx *w, const char *job_txt, int len, report *r) {
    memset(r, 0, sizeof *r);
    r->pid = (int32_t)getpid();
    gethostname(r->host, sizeof r->host - 1);
    cJSON *job = cJSON_ParseWithLength(job_txt, (size_t)len);
    int64_t rk = cai_job_rank(job);
    r->rank = rk >= 0 && rk <= INT32_MAX ? (int)rk : -1;
    double t0 = cai_mono_now();
    cJSON *rec = NULL;
    cai_err e = {0};
    r->rc = job ? cai_worker_run(w->st, job, &w->wo, &rec, &e) : cai_seterr(&e, CAI_EINTERNAL, "job does not parse");
    r->wall = cai_mono_now() - t0;
    cai_rank_record rr = {0};
    r->galaxies =
        rec && cai_rank_record_read(rec, "rank record", &rr, NULL) == CAI_OK && rr.galaxies > 0 ? rr.galaxies : 0;
    cai_rank_record_free(&rr);
    if (r->rc) snprintf(r->msg, sizeof r->msg, "%.880s", e.msg[0] ? e.msg : cai_strerror((cai_code)r->rc));
    cJSON_Delete(rec);
    cJSON_Delete(job);
}

/* A rank other than 0: report, receive the next job (empty: stop), run it, repeat. */
static void worker_loop(worker_ctx *w) {
    report r;
    memset(&r, 0, sizeof r);
    r.rank = -1;
    r.pid = (int32_t)getpid();
    gethostname(r.host, sizeof r.host - 1);
    char *buf = NULL;
    for (;;) {
        MPI_Send(&r, (int)sizeof r, MPI_BYTE, 0, TAG_REPORT, MPI_COMM_WORLD);
        MPI_Status s;
        int n = 0;
        MPI_Probe(0, TAG_JOB, MPI_COMM_WORLD, &s);
        MPI_Get_count(&s, MPI_BYTE, &n);
        char *nb = realloc(buf, (size_t)n + 1);
        if (!nb) MPI_Abort(MPI_COMM_WORLD, 1);
        buf = nb;
        MPI_Recv(buf, n, MPI_BYTE, 0, TAG_JOB, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (n == 0) break;
        worker_do(w, buf, n, &r);
    }
    free(buf);
}

/* ---- rank 0: the dispatcher ---- */

/* A rank's life on rank 0, as in the local engine. */
typedef enum {
    RANK_TODO = 0, /* to be handed out */
    RANK_RUNNING,  /* an MPI rank has it */
    RANK_OK,       /* finished; its record is written */
    RANK_FAILED,   /* finished with an error */
    RANK_SKIPPED,  /* --resume: already complete and valid */
} rank_phase;

typedef struct {
    rank_phase state;
    char why[900];
} rank_state;

typedef struct {
    pthread_mutex_t mu;
    char **txt; /* job text by rank */
    int *len;
    rank_state *rs;
    int nr, next;
    /* rank 0's own worker thread */
    worker_ctx *w;
    report done; /* its last report, handed to the dispatcher */
    int have_done, stop;
    pthread_t th;
} dispatch;

static int take_next(dispatch *d) { /* under mu */
    while (d->next < d->nr && d->rs[d->next].state == RANK_SKIPPED) d->next++;
    if (d->next >= d->nr) return -1;
    d->rs[d->next].state = RANK_RUNNING;
    return d->next++;
}

/* In flight, for the message rank 0 prints when the launcher stops it (a rank died). Written by the main
 * thread, read by the signal handler: a plain buffer, rewritten whole each time. */
static char inflight_msg[4096];
static int *inflight; /* by MPI rank: the CAI rank it runs, -1 */
static int32_t *inflight_pid;
static char (*inflight_host)[64];
static int inflight_n;

static void update_inflight(void) {
    size_t l =
        (size_t)snprintf(inflight_msg, sizeof inflight_msg,
                         "cai mpi: stopped by the MPI launcher (a rank died or the job was cancelled); in flight:");
    int any = 0;
    for (int i = 0; i < inflight_n && l < sizeof inflight_msg - 200; i++)
        if (inflight[i] >= 0) {
            l +=
                (size_t)snprintf(inflight_msg + l, sizeof inflight_msg - l, " job rank %d on MPI rank %d (pid %d, %s);",
                                 inflight[i], i, (int)inflight_pid[i], inflight_host[i]);
            any = 1;
        }
    if (!any) l += (size_t)snprintf(inflight_msg + l, sizeof inflight_msg - l, " none;");
    snprintf(
        inflight_msg + l, sizeof inflight_msg - l,
        " finished ranks are kept: rerun with --resume --force to finish (--force: this stopped run's lock stays behind)\n");
}

static void on_term(int sig) {
    ssize_t w = write(2, inflight_msg, strlen(inflight_msg));
    (void)w;
    signal(sig, SIG_DFL);
    raise(sig);
}

static void *root_worker_main(void *arg) {
    dispatch *d = arg;
    for (;;) {
        pthread_mutex_lock(&d->mu);
        int r = d->stop ? -1 : take_next(d);
        pthread_mutex_unlock(&d->mu);
        if (r < 0) break;
        report rep;
        worker_do(d->w, d->txt[r], d->len[r], &rep);
        rep.rank = r;
        pthread_mutex_lock(&d->mu);
        while (d->have_done) { /* the dispatcher has not taken the last one yet */
            pthread_mutex_unlock(&d->mu);
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
            pthread_mutex_lock(&d->mu);
        }
        d->done = rep;
        d->have_done = 1;
        pthread_mutex_unlock(&d->mu);
    }
    return NULL;
}

static const char *strip_rank(const char *msg) {
    if (strncmp(msg, "rank ", 5) != 0) return msg;
    const char *p = msg + 5;
    while (*p >= '0' && *p <= '9') p++;
    return p[0] == ':' && p[1] == ' ' ? p + 2 : msg;
}

/* Record one finished job; print its line. */
static void account(dispatch *d, const report *r, int from, int quiet, long long *galaxies, int *ndone, int *nfail) {
    if (r->rank < 0 || r->rank >= d->nr) return;
    rank_state *s = &d->rs[r->rank];
    (*ndone)++;
    *galaxies += r->galaxies;
    if (r->rc == 0) {
        s->state = RANK_OK;
        if (!quiet)
            fprintf(stderr, "cai mpi: rank %d done on MPI rank %d (%s): %lld galaxies in %.2fs\n", r->rank, from,
                    r->host, (long long)r->galaxies, r->wall);
    } else {
        s->state = RANK_FAILED;
        (*nfail)++;
        snprintf(s->why, sizeof s->why, "%s", strip_rank(r->msg));
        fprintf(stderr, "cai mpi: rank %d FAILED on MPI rank %d (%s): %s\n", r->rank, from, r->host, s->why);
    }
}

static double jnum(const cJSON *o, const char *k) {
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* Rank 0's whole run: what it read and decided, and the counts the map stage keeps. */
typedef struct {
    const mpi_opts *o;
    int size, threads;
    double t_start;
    setup su; /* broadcast to the other ranks */
    char *ptxt;
    size_t plen;
    cai_payload p;
    const char *url;
    cai_store *st;
    cai_run_plan plan;
    dispatch d;
    int nr, to_run, skipped;
    long long galaxies;
    int ndone, nfail;
    char wabs[4096];
} root_run;

/* Payload, store, the run's identity, its lock on result_path, Initialize and the resume checks: exactly as
 * every engine (pipeline/runplan.h). A done rank is kept only if this run made it from the same weights and
 * data. Then the job texts the workers get, and the setup they are sent. */
static int root_prepare(root_run *R, cai_err *err) {
    const mpi_opts *o = R->o;
    cai_payload *p = &R->p;
    int rc = cai_read_file(o->payload, &R->ptxt, &R->plen, err);
    if (!rc) rc = cai_payload_parse(R->ptxt, R->plen, o->payload, p, err);
    if (!rc) {
        R->url = o->store ? o->store : p->store ? p->store : ".";
        rc = cai_store_open(R->url, &R->st, err);
    }
    if (!rc) rc = cai_run_open(R->st, p, R->ptxt, R->plen, o->resume, o->force, &R->plan, err);
    if (rc) return rc;
    int nr = R->nr = R->plan.nr;
    const char *wspec = o->weights ? o->weights : p->weights;
    cai_precision prec = o->precision_set ? o->precision : p->precision;
    cai_weightfile_info wi = {0};
    if (wspec) {
        char wpath[4096];
        rc = cai_weightfile_resolve(R->st, p->bucket, wspec, wpath, sizeof wpath, err);
        if (!rc) rc = cai_weightfile_describe(wpath, &wi, err);
    }
    char calsha[65] = ""; /* a calibration must be for these weights; its sha256 is part of a rank's identity */
    if (!rc && p->calibration) {
        cai_calib cal;
        rc = cai_calib_fetch(R->st, p->bucket, p->calibration, &cal, err);
        if (!rc) rc = cai_calib_check(&cal, p->calibration, wspec ? wi.sha256 : NULL, p->tta, err);
        if (!rc) snprintf(calsha, sizeof calsha, "%s", cal.sha256);
        cai_calib_free(&cal);
    }
    if (!rc)
        rc = cai_run_select(R->st, &R->plan,
                            o->resume ? (o->resume_changed ? CAI_RESUME_CHANGED : CAI_RESUME_STRICT) : 0,
                            wspec ? wi.sha256 : NULL, cai_precision_name(cai_precision_resolve(prec)), calsha, err);
    if (rc) return rc;
    if (R->plan.changed)
        fprintf(stderr,
                "cai mpi: --resume=changed: %d done rank(s) changed since they ran (e.g. %s): running them again\n",
                R->plan.changed, R->plan.changed_msg);
    R->to_run = R->plan.to_run;
    R->skipped = R->plan.skipped;
    dispatch *d = &R->d;
    d->nr = nr;
    d->txt = calloc((size_t)(nr ? nr : 1), sizeof *d->txt);
    d->len = calloc((size_t)(nr ? nr : 1), sizeof *d->len);
    d->rs = calloc((size_t)(nr ? nr : 1), sizeof *d->rs);
    if (!d->txt || !d->len || !d->rs) return cai_seterr(err, CAI_ENOMEM, "out of memory");
    for (int i = 0; i < nr; i++) {
        if (!R->plan.todo[i]) d->rs[i].state = RANK_SKIPPED;
        d->txt[i] = cJSON_PrintUnformatted(R->plan.job_at[i]);
        d->len[i] = d->txt[i] ? (int)strlen(d->txt[i]) : 0;
        if (!d->txt[i]) return cai_seterr(err, CAI_ENOMEM, "out of memory");
    }
    if (R->to_run > 0 && !wspec)
        return cai_seterr(err, CAI_EARG, "no weights: pass --weights W.safetensors or set \"weights\" in the payload");
    if (wspec) {
        if (realpath(wspec, R->wabs)) wspec = R->wabs; /* every rank, whatever its directory */
        snprintf(R->su.weights, sizeof R->su.weights, "%s", wspec);
        snprintf(R->su.store, sizeof R->su.store, "%s", R->url);
        snprintf(R->su.bucket, sizeof R->su.bucket, "%s", p->bucket);
        R->su.precision = (int32_t)prec;
    }
    return CAI_OK;
}

/* The in-flight table the SIGTERM message is made from (one slot per MPI rank); -1 if out of memory. */
static int inflight_init(int size) {
    inflight_n = size;
    inflight = malloc((size_t)size * sizeof *inflight);
    inflight_pid = calloc((size_t)size, sizeof *inflight_pid);
    inflight_host = calloc((size_t)size, sizeof *inflight_host);
    if (!inflight || !inflight_pid || !inflight_host) return -1;
    for (int k = 0; k < size; k++) inflight[k] = -1;
    update_inflight();
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    return 0;
}

static void inflight_free(void) {
    free(inflight);
    free(inflight_pid);
    free(inflight_host);
    inflight = NULL;
    inflight_pid = NULL;
    inflight_host = NULL;
}

/* A report from MPI rank `src`: account for it and send that rank its next job (or an empty message: stop).
 * 1 when the rank was told to stop. */
static int root_on_report(root_run *R, int src) {
    dispatch *d = &R->d;
    report r;
    MPI_Recv(&r, (int)sizeof r, MPI_BYTE, src, TAG_REPORT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (src > 0 && src < R->size && inflight[src] >= 0) r.rank = inflight[src]; /* the job we sent it */
    pthread_mutex_lock(&d->mu);
    account(d, &r, src, R->o->quiet, &R->galaxies, &R->ndone, &R->nfail);
    int next = R->su.status == 0 && !r.quit ? take_next(d) : -1;
    pthread_mutex_unlock(&d->mu);
    inflight[src] = next;
    inflight_pid[src] = r.pid;
    snprintf(inflight_host[src], 64, "%s", r.host);
    update_inflight();
    if (next >= 0) {
        MPI_Send(d->txt[next], d->len[next], MPI_BYTE, src, TAG_JOB, MPI_COMM_WORLD);
        return 0;
    }
    MPI_Send(NULL, 0, MPI_BYTE, src, TAG_JOB, MPI_COMM_WORLD);
    return 1;
}

/* The map stage: hand out jobs until every other rank is told to stop and rank 0's own worker thread (with
 * --root-worker) has run its share. */
static void root_map(root_run *R) {
    dispatch *d = &R->d;
    const mpi_opts *o = R->o;
    worker_ctx w0;
    int root_thread = 0;
    if (R->su.status == 0 && o->root_works) {
        worker_init(&w0, R->st, &R->su, R->threads, 0, R->size);
        d->w = &w0;
        inflight_pid[0] = (int32_t)getpid();
        gethostname(inflight_host[0], 63);
        root_thread = pthread_create(&d->th, NULL, root_worker_main, d) == 0;
    }
    int stopped = 0; /* other ranks told to stop */
    while (stopped < R->size - 1 || (root_thread && R->ndone < R->to_run)) {
        int flag = 0;
        MPI_Status s;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_REPORT, MPI_COMM_WORLD, &flag, &s);
        if (flag) {
            stopped += root_on_report(R, s.MPI_SOURCE);
            continue;
        }
        if (root_thread) {
            pthread_mutex_lock(&d->mu);
            if (d->have_done) {
                account(d, &d->done, 0, o->quiet, &R->galaxies, &R->ndone, &R->nfail);
                d->have_done = 0;
            }
            pthread_mutex_unlock(&d->mu);
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (root_thread) {
        pthread_join(d->th, NULL);
        if (d->have_done) account(d, &d->done, 0, o->quiet, &R->galaxies, &R->ndone, &R->nfail), d->have_done = 0;
    }
    if (R->su.status == 0 && o->root_works) worker_free(&w0);
}

/* Summarize, even after failures (what finished is kept and checked), and print the report. The exit status. */
static int root_summarize(root_run *R, double map_s) {
    cJSON *sum = NULL;
    cai_err se = {0};
    int src = cai_summarize(R->st, R->p.bucket, R->p.result_path, &sum, &se);
    char failed[1024] = "";
    size_t fl = 0;
    for (int k = 0; k < R->nr; k++)
        if (R->d.rs[k].state == RANK_FAILED && fl < sizeof failed - 100)
            fl += (size_t)snprintf(failed + fl, sizeof failed - fl, "%srank %d: %.300s", fl ? "; " : "", k,
                                   R->d.rs[k].why);
    printf("\n== cai mpi report ==\n");
    printf("ranks:        %d (%d run, %d already complete, %d failed) on %d MPI processes\n", R->nr, R->to_run,
           R->skipped, R->nfail, R->size);
    printf("galaxies:     %.0f\n", jnum(sum, "galaxies"));
    printf("wall time:    %.2f s (this command: initialize + map + summarize)\n", cai_mono_now() - R->t_start);
    printf("map stage:    %.2f s for %lld galaxies -> %.1f galaxies/s\n", map_s, R->galaxies,
           map_s > 0 ? (double)R->galaxies / map_s : 0.0);
    const cJSON *c = sum ? cJSON_GetObjectItemCaseSensitive(sum, "complete") : NULL;
    printf("complete:     %s\n", cJSON_IsTrue(c) ? "yes: exactly one prediction per input galaxy" : "NO");
    fflush(stdout);
    cJSON_Delete(sum);
    if (R->nfail) {
        fprintf(stderr, "cai mpi: %d of %d ranks failed: %s (rerun with --resume to finish)\n", R->nfail, R->nr,
                failed);
        return 1;
    }
    if (src) {
        fprintf(stderr, "cai mpi: %s\n", se.msg);
        return cai_exit_status(se.code);
    }
    return 0;
}

static int root(const mpi_opts *o, int size, int threads) {
    root_run R = {.o = o, .size = size, .threads = threads, .t_start = cai_mono_now()};
    pthread_mutex_init(&R.d.mu, NULL);
    cai_err err = {0};
    int rc = root_prepare(&R, &err);
    setup *su = &R.su;
    if (rc) {
        fprintf(stderr, "cai mpi: %s\n", err.msg[0] ? err.msg : cai_strerror(err.code));
        su->status = cai_exit_status(err.code);
        if (!su->status) su->status = 1;
    } else if (R.to_run == 0) {
        su->status = -1; /* nothing to run: the other ranks stop, rank 0 summarizes */
    }
    MPI_Bcast(su, (int)sizeof *su, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (su->status > 0) goto out;

    int workers = size - 1 + (o->root_works ? 1 : 0);
    if (o->resume && R.skipped)
        fprintf(stderr, "cai mpi: --resume: %d of %d ranks already complete, %d to run\n", R.skipped, R.nr, R.to_run);
    if (R.to_run > 0)
        fprintf(stderr, "cai mpi: %d ranks (%d to run) on %d MPI process%s (%d computing) x %d thread%s, store %s\n",
                R.nr, R.to_run, size, size == 1 ? "" : "es", workers, threads, threads == 1 ? "" : "s", R.url);
    if (inflight_init(size)) {
        /* the other ranks already have the setup: without the table rank 0 cannot dispatch, so MPI stops them */
        fprintf(stderr, "cai mpi: out of memory for %d MPI ranks' in-flight table\n", size);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    double map0 = cai_mono_now();
    root_map(&R);
    su->status = root_summarize(&R, cai_mono_now() - map0);
out:
    for (int k = 0; R.d.txt && k < R.nr; k++) free(R.d.txt[k]);
    free(R.d.txt);
    free(R.d.len);
    free(R.d.rs);
    inflight_free();
    cai_run_close(R.st, &R.plan);
    cai_store_close(R.st);
    cai_payload_free(&R.p);
    free(R.ptxt);
    return su->status;
}

/* Threads per rank: --threads, SLURM_CPUS_PER_TASK, else the node's cores over the ranks on the node. */
static int pick_threads(const mpi_opts *o, int *threads) {
    if (o->threads > 0) return *threads = o->threads, 0;
    cai_err e = {0};
    if (cai_array_threads_from_env(threads, &e)) {
        fprintf(stderr, "cai mpi: %s\n", e.msg);
        return -1;
    }
    if (*threads > 0) return 0;
    MPI_Comm node;
    int local = 1;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_size(node, &local);
        MPI_Comm_free(&node);
    }
    *threads = cai_ncpu() / (local > 0 ? local : 1);
    if (*threads < 1) *threads = 1;
    return 0;
}

int main(int argc, char **argv) {
    int provided = 0, rank = 0, size = 1;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    mpi_opts o;
    int prc = parse_args(argc, argv, &o, rank == 0);
    int threads = 1;
    if (prc == 0 && pick_threads(&o, &threads)) prc = 2;
    /* Every rank parsed the same argv, but the environment may differ: agree on the worst. */
    int worst = prc;
    MPI_Allreduce(&prc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (worst != 0) {
        MPI_Finalize();
        return worst < 0 ? 0 : worst;
    }
    if (!o.root_works && size < 2) {
        if (rank == 0) fprintf(stderr, "cai mpi: --no-root-worker needs at least 2 MPI processes\n");
        MPI_Finalize();
        return 2;
    }
    int status = 0;
    if (rank == 0) {
        status = root(&o, size, threads);
    } else {
        setup su;
        MPI_Bcast(&su, (int)sizeof su, MPI_BYTE, 0, MPI_COMM_WORLD);
        if (su.status == 0 || su.status == -1) {
            cai_store *st = NULL;
            cai_err e = {0};
            worker_ctx w;
            if (su.status == 0 && cai_store_open(su.store, &st, &e) == CAI_OK) {
                worker_init(&w, st, &su, threads, rank, size);
                worker_loop(&w);
                worker_free(&w);
            } else {
                /* no store here (or nothing to run): still answer rank 0, which waits for every rank */
                if (su.status == 0) fprintf(stderr, "cai mpi: MPI rank %d: %s\n", rank, e.msg);
                report r;
                memset(&r, 0, sizeof r);
                r.rank = -1;
                r.quit = 1;
                MPI_Send(&r, (int)sizeof r, MPI_BYTE, 0, TAG_REPORT, MPI_COMM_WORLD);
                MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_JOB, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                if (su.status == 0) status = 1;
            }
            cai_store_close(st);
        }
    }
    MPI_Finalize();
    return status;
}
