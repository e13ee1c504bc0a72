/* slurm.c — the SLURM engine (see slurm.h).
 *
 * Why scripts on disk and not `sbatch --wrap`: a cluster user reads, edits and resubmits what ran; the two
 * scripts under <run>/slurm/ are exactly what was submitted. Why the scheduler's own dependency
 * (afterany + --kill-on-invalid-dep) and not a waiting process: nothing of ours has to stay alive on the login
 * node, and Summarize runs even when some tasks failed, so the failure is named in summary.json. Why
 * `scontrol show job` and not sacct: sacct needs slurmdbd, which many small clusters (and our test cluster)
 * do not run; the records in the store are the source of truth, the scheduler only adds what it still knows. */
#define _GNU_SOURCE
#include "slurm.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/util.h"
#include "../pipeline/initialize.h"
#include "../pipeline/payload.h"
#include "../pipeline/record.h"
#include "../pipeline/runlock.h"
#include "../pipeline/stages.h"
#include "../store/store.h"

/* ---- running sbatch / scontrol ---- */

/* Run argv (PATH lookup), capture stdout and stderr (each up to RUN_CAPTURE_MAX bytes). Returns the exit
 * status, or -1 (err set) when it could not be run. */
#define RUN_CAPTURE_MAX ((size_t)1 << 20)
static int run_capture(char *const argv[], char **out, char **errs, cai_err *err) {
    int po[2], pe[2];
    *out = *errs = NULL;
    if (pipe(po) != 0) return cai_seterr(err, CAI_EIO, "pipe: %s", strerror(errno)), -1;
    if (pipe(pe) != 0) {
        close(po[0]), close(po[1]);
        return cai_seterr(err, CAI_EIO, "pipe: %s", strerror(errno)), -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
        return cai_seterr(err, CAI_EIO, "fork: %s", strerror(errno)), -1;
    }
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
        int dn = open("/dev/null", O_RDONLY);
        if (dn >= 0) dup2(dn, 0), close(dn);
        execvp(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(po[1]), close(pe[1]);
    cai_buf buf[2] = {{0}, {0}};
    struct pollfd pf[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_n = 2;
    while (open_n > 0) {
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char tmp[4096];
            ssize_t r = read(pf[i].fd, tmp, sizeof tmp);
            if (r <= 0) {
                close(pf[i].fd);
                pf[i].fd = -1;
                open_n--;
                continue;
            }
            /* up to RUN_CAPTURE_MAX bytes of each kept (the rest read and dropped; out of memory: dropped) */
            size_t take = buf[i].n < RUN_CAPTURE_MAX ? RUN_CAPTURE_MAX - buf[i].n : 0;
            if ((size_t)r < take) take = (size_t)r;
            if (take) (void)cai_buf_add(&buf[i], tmp, take);
        }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    *out = cai_buf_take(&buf[0]);
    *errs = cai_buf_take(&buf[1]);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && *errs && strstr(*errs, "cannot run")) {
        cai_seterr(err, CAI_ENOTFOUND, "%s: not found on PATH (is SLURM installed, or the module loaded?)", argv[0]);
        free(*out), free(*errs);
        *out = *errs = NULL;
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static void chomp(char *s) {
    size_t n = s ? strlen(s) : 0;
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) s[--n] = 0;
}

/* sbatch --parsable [extra...] SCRIPT -> the job id ("123", or "123;cluster" -> "123"). */
static int sbatch(const char *script, const char *dep, char *id, size_t n, cai_err *err) {
    char depopt[128];
    char *argv[8];
    int a = 0;
    argv[a++] = "sbatch";
    argv[a++] = "--parsable";
    if (dep) {
        snprintf(depopt, sizeof depopt, "--dependency=afterany:%s", dep);
        argv[a++] = depopt;
        argv[a++] = "--kill-on-invalid-dep=yes";
    }
    argv[a++] = (char *)script;
    argv[a] = NULL;
    char *out, *es;
    int st = run_capture(argv, &out, &es, err);
    if (st < 0) return err->code;
    int rc = CAI_OK;
    if (st != 0) {
        chomp(es);
        rc = cai_seterr(err, CAI_EIO, "sbatch %s: exit status %d: %.700s", script, st, es && *es ? es : "(no message)");
    } else {
        chomp(out);
        char *semi = out ? strchr(out, ';') : NULL;
        if (semi) *semi = 0;
        size_t k = 0;
        while (out && out[k] >= '0' && out[k] <= '9') k++;
        if (!out || k == 0 || out[k] || k >= n)
            rc = cai_seterr(err, CAI_EFORMAT, "sbatch %s: expected a job id from --parsable, got \"%.100s\"", script,
                            out ? out : "");
        else snprintf(id, n, "%s", out);
    }
    free(out), free(es);
    return rc;
}

/* ---- the scripts ---- */

/* Single-quote s for bash. */
static void shq(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++)
        if (*s == '\'') fputs("'\\''", f);
        else fputc(*s, f);
    fputc('\'', f);
}

static int check_line(const char *what, const char *s, cai_err *err) {
    if (s && strpbrk(s, "\n\r"))
        return cai_seterr(err, CAI_EARG, "%s: must be one line (got a newline in \"%.80s\")", what, s);
    return CAI_OK;
}

typedef struct {
    const char *cai, *store, *weights, *bucket, *rp, *dir;
    char array_spec[8192];
} script_ctx;

static void sbatch_common(FILE *f, const cai_slurm_opts *o) {
    if (o->partition) fprintf(f, "#SBATCH --partition=%s\n", o->partition);
    if (o->account) fprintf(f, "#SBATCH --account=%s\n", o->account);
    if (o->time_limit) fprintf(f, "#SBATCH --time=%s\n", o->time_limit);
    if (o->mem) fprintf(f, "#SBATCH --mem=%s\n", o->mem);
    for (int i = 0; i < o->nsbatch_args; i++) fprintf(f, "#SBATCH %s\n", o->sbatch_args[i]);
}

static void prologue(FILE *f, const cai_slurm_opts *o) {
    for (int i = 0; i < o->nprologue; i++) fprintf(f, "%s\n", o->prologue[i]);
}

static char *array_script(const cai_slurm_opts *o, const script_ctx *c, int per_task, size_t *len) {
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f) return NULL;
    int cpus = o->cpus_per_task > 0 ? o->cpus_per_task : 1;
    fprintf(f, "#!/bin/bash\n");
    fprintf(f, "# cai slurm: the Map stage of run %s/%s, one array task per %s (written by cai slurm submit)\n",
            c->bucket, c->rp, per_task > 1 ? "group of ranks" : "rank");
    fprintf(f, "#SBATCH --job-name=cai-map\n");
    fprintf(f, "#SBATCH --array=%s", c->array_spec);
    if (o->array_max > 0) fprintf(f, "%%%d", o->array_max);
    fprintf(f, "\n#SBATCH --output=%s/%%A_%%a.out\n", c->dir);
    fprintf(f, "#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=%d\n", cpus);
    sbatch_common(f, o);
    prologue(f, o);
    fprintf(f, "export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-%d}\n", cpus);
    fprintf(f, "exec ");
    shq(f, c->cai);
    fprintf(f, " worker --store ");
    shq(f, c->store);
    fprintf(f, " --jobs ");
    char jobs[4200];
    snprintf(jobs, sizeof jobs, "%s/%s/jobs.jsonl", c->bucket, c->rp);
    shq(f, jobs);
    fprintf(f, " --index env");
    if (per_task > 1) fprintf(f, " --ranks-per-task %d", per_task);
    if (c->weights) {
        fprintf(f, " --weights ");
        shq(f, c->weights);
    }
    fprintf(f, "\n");
    fclose(f);
    return buf;
}

static char *summarize_script(const cai_slurm_opts *o, const script_ctx *c, size_t *len) {
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f) return NULL;
    fprintf(f, "#!/bin/bash\n");
    fprintf(f, "# cai slurm: the Summarize stage of run %s/%s, after every array task (written by cai slurm submit)\n",
            c->bucket, c->rp);
    fprintf(f, "#SBATCH --job-name=cai-summarize\n");
    fprintf(f, "#SBATCH --output=%s/summarize_%%j.out\n", c->dir);
    fprintf(f, "#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=1\n");
    sbatch_common(f, o);
    prologue(f, o);
    fprintf(f, "exec ");
    shq(f, c->cai);
    fprintf(f, " summarize --store ");
    shq(f, c->store);
    fprintf(f, " ");
    shq(f, c->bucket);
    fprintf(f, " ");
    shq(f, c->rp);
    fprintf(f, " --release-lock\n"); /* the run's lock, taken at submit: released whatever the outcome */
    fclose(f);
    return buf;
}

/* "0-5" for consecutive indices, else "1,4,7" (SLURM's --array syntax). */
static int array_spec(const long long *idx, int n, char *out, size_t cap, cai_err *err) {
    size_t l = 0;
    out[0] = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && idx[j + 1] == idx[j] + 1) j++;
        int w = j > i ? snprintf(out + l, cap - l, "%s%lld-%lld", l ? "," : "", idx[i], idx[j])
                      : snprintf(out + l, cap - l, "%s%lld", l ? "," : "", idx[i]);
        if (w < 0 || (size_t)w >= cap - l)
            return cai_seterr(err, CAI_EARG, "the --array list of %d tasks is too long for one sbatch line", n);
        l += (size_t)w;
        i = j + 1;
    }
    return CAI_OK;
}

/* ---- paths ---- */

static int is_s3_url(const char *u) { return !strncmp(u, "s3://", 5); }

/* An absolute form of a local store URL (the tasks run elsewhere, in another directory). */
static void abs_store(const char *url, char *out, size_t n) {
    const char *p = !strncmp(url, "file://", 7) ? url + 7 : url;
    char rp[PATH_MAX];
    if (is_s3_url(url) || !realpath(p, rp)) snprintf(out, n, "%.2000s", url);
    else snprintf(out, n, "%.2000s", rp);
}

static int write_text(const char *path, const char *txt, size_t len, int exec, cai_err *err) {
    int rc = cai_mkdirs_for(path, err);
    if (!rc) rc = cai_write_file_atomic(path, txt, len, err);
    if (!rc && exec) chmod(path, 0755);
    return rc;
}

/* ---- submit ---- */

static cJSON *read_json_key(cai_store *st, const char *bucket, const char *key, cai_err *err) {
    uint8_t *b;
    size_t l;
    if (cai_store_get(st, bucket, key, &b, &l, err)) return NULL;
    cJSON *j = cJSON_ParseWithLength((const char *)b, l);
    free(b);
    if (!j) cai_seterr(err, CAI_EFORMAT, "%s/%s: not valid JSON", bucket, key);
    return j;
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* "BUCKET/RESULT_PATH" (trailing '/' and '/jobs.jsonl' accepted) -> bucket, rp (heap). */
static int split_run(const char *run, char **bucket, char **rp, cai_err *err) {
    char *s = strdup(run);
    if (!s) return cai_seterr(err, CAI_ENOMEM, "out of memory");
    size_t l = strlen(s);
    while (l && s[l - 1] == '/') s[--l] = 0;
    if (l > 11 && !strcmp(s + l - 11, "/jobs.jsonl")) s[l -= 11] = 0;
    char *sl = strchr(s, '/');
    if (!sl || sl == s || !sl[1]) {
        free(s);
        return cai_seterr(err, CAI_EARG, "run \"%s\": expected BUCKET/RESULT_PATH (the run's folder in the store)",
                          run);
    }
    *sl = 0;
    *bucket = strdup(s);
    *rp = strdup(sl + 1);
    free(s);
    if (!*bucket || !*rp) return cai_seterr(err, CAI_ENOMEM, "out of memory");
    return CAI_OK;
}

/* One `cai slurm submit`: what it read, decided and holds, from the payload to the submitted jobs. */
typedef struct {
    const cai_slurm_opts *o;
    FILE *out;
    cai_slurm_result *res;
    int per_task;
    char *ptxt;
    size_t plen;
    cai_payload p;
    cai_store *st;
    cJSON *jobs, *prev; /* the job list; the first submission's settings (--resume) */
    char *bucket, *rp, *arr_txt, *sum_txt;
    long long *idx; /* the array's task indices */
    int nr, n;      /* ranks in the run; tasks to submit */
    char run_id[CAI_RUN_ID_MAX];
    cai_run_lock lock;
    int array_submitted; /* from then on the lock stays with the run even if a later step fails */
    script_ctx c;
    const char *url, *wspec;
    char store_abs[2048], weights_abs[PATH_MAX], cai_abs[PATH_MAX], dir[4096];
    char apath[4200], spath[4200];
} submit_run;

/* Every value that goes into a script line must be one line. */
static int check_submit_lines(const cai_slurm_opts *o, cai_err *err) {
    int rc;
    if ((rc = check_line("--partition", o->partition, err)) || (rc = check_line("--account", o->account, err)) ||
        (rc = check_line("--time", o->time_limit, err)) || (rc = check_line("--mem", o->mem, err)))
        return rc;
    for (int i = 0; i < o->nsbatch_args; i++)
        if ((rc = check_line("--sbatch-arg", o->sbatch_args[i], err))) return rc;
    for (int i = 0; i < o->nprologue; i++)
        if ((rc = check_line("--prologue", o->prologue[i], err))) return rc;
    return CAI_OK;
}

/* Where the scripts and the tasks' output go: --slurm-dir, else the run's folder in a local store. */
static int submit_dir(submit_run *S, cai_err *err) {
    const cai_slurm_opts *o = S->o;
    if (o->slurm_dir) {
        char tmp[PATH_MAX];
        if (!o->dry_run && cai_mkdirs(o->slurm_dir, err)) return err ? err->code : CAI_EIO;
        snprintf(S->dir, sizeof S->dir, "%s", realpath(o->slurm_dir, tmp) ? tmp : o->slurm_dir);
    } else if (is_s3_url(S->store_abs)) {
        return cai_seterr(err, CAI_EARG,
                          "store %s is S3: give --slurm-dir DIR (a shared file system path for the "
                          "scripts and the tasks' output)",
                          S->url);
    } else if ((size_t)snprintf(S->dir, sizeof S->dir, "%s/%s/%.1000s/slurm", S->store_abs, S->bucket, S->rp) >=
               sizeof S->dir) {
        return cai_seterr(err, CAI_EARG, "run folder path too long: %s/%s/%s", S->store_abs, S->bucket, S->rp);
    }
    snprintf(S->res->slurm_dir, sizeof S->res->slurm_dir, "%s", S->dir);
    return CAI_OK;
}

/* 1. The run: from the payload (a new run), or from the store (--resume); the store, the weights, this
 *    executable and the scripts' folder, all absolute (the tasks run elsewhere). */
static int submit_open(submit_run *S, cai_err *err) {
    const cai_slurm_opts *o = S->o;
    int rc;
    S->url = o->store_url;
    S->wspec = o->weights;
    if (!o->resume_run) {
        if ((rc = cai_read_file(o->payload_path, &S->ptxt, &S->plen, err))) return rc;
        if ((rc = cai_payload_parse(S->ptxt, S->plen, o->payload_path, &S->p, err))) return rc;
        if (!S->url) S->url = S->p.store ? S->p.store : ".";
        if (!S->wspec) S->wspec = S->p.weights;
        S->bucket = strdup(S->p.bucket);
        S->rp = strdup(S->p.result_path);
        if (!S->bucket || !S->rp) return cai_seterr(err, CAI_ENOMEM, "out of memory");
    } else {
        if ((rc = split_run(o->resume_run, &S->bucket, &S->rp, err))) return rc;
        if (!S->url) S->url = ".";
    }
    if ((rc = cai_store_open(S->url, &S->st, err))) return rc;
    if (o->resume_run) {
        char key[4200];
        snprintf(key, sizeof key, "%s/slurm/submit.json", S->rp);
        cai_err pe = {0};
        S->prev = read_json_key(S->st, S->bucket, key, &pe); /* optional: the first submission's settings */
        if (!S->wspec && S->prev) S->wspec = jstr(S->prev, "weights");
    }
    abs_store(S->url, S->store_abs, sizeof S->store_abs);
    /* a local file: absolute; else a bucket key */
    if (S->wspec && realpath(S->wspec, S->weights_abs)) S->wspec = S->weights_abs;
    if (!S->wspec)
        return cai_seterr(err, CAI_EARG, "no weights: pass --weights W.safetensors or set \"weights\" in the payload");
    if (o->cai_path) snprintf(S->cai_abs, sizeof S->cai_abs, "%s", o->cai_path);
    else {
        ssize_t n = readlink("/proc/self/exe", S->cai_abs, sizeof S->cai_abs - 1);
        if (n <= 0)
            return cai_seterr(err, CAI_EIO, "cannot find this executable (/proc/self/exe): %s", strerror(errno));
        S->cai_abs[n] = 0;
    }
    return submit_dir(S, err);
}

/* 1b. The run's identity and its lock on result_path, held by the run from here until its Summarize job
 *     (`cai summarize --release-lock`) ends: a second submit, cai run or cai mpi on this result_path refuses
 *     and names the holder. A resumed run keeps its id (its records still count). */
static int submit_lock(submit_run *S, cai_err *err) {
    const cai_slurm_opts *o = S->o;
    if (o->dry_run) return CAI_OK;
    if (o->resume_run) {
        cJSON *old = NULL;
        if (cai_jobs_read(S->st, S->bucket, S->rp, &old, NULL) == CAI_OK && old && old->child) {
            const cJSON *ri = cJSON_GetObjectItemCaseSensitive(old->child, "CAI_RUN_ID");
            if (cJSON_IsString(ri)) snprintf(S->run_id, sizeof S->run_id, "%s", ri->valuestring);
        }
        cJSON_Delete(old);
    } else if (S->p.run_id && *S->p.run_id) snprintf(S->run_id, sizeof S->run_id, "%s", S->p.run_id);
    if (!S->run_id[0]) cai_run_id_new(S->run_id);
    return cai_run_lock_acquire_detached(S->st, S->bucket, S->rp, S->run_id, "cai slurm submit", o->force, &S->lock,
                                         err);
}

/* Delete a rank's record (a stale one must not pass for done). */
static void delete_record(cai_store *st, const cai_job *j) {
    char key[2048];
    cai_record_key(j->result_path, j->rank, key, sizeof key);
    cai_store_delete(st, j->bucket, key, NULL);
}

/* 2a. A new run: Initialize writes the job list (a dry run takes world_size from the payload and writes
 *     nothing); every task is submitted; stale records at this result_path are removed. */
static int choose_new_run(submit_run *S, cai_err *err) {
    int rc;
    if (S->o->dry_run) S->nr = (int)S->p.world_size;
    else {
        if ((rc = cai_initialize_run(S->st, S->ptxt, S->plen, S->run_id, &S->jobs, err))) return rc;
        S->nr = cJSON_GetArraySize(S->jobs);
    }
    int ntasks = (S->nr + S->per_task - 1) / S->per_task;
    S->idx = calloc((size_t)(ntasks ? ntasks : 1), sizeof *S->idx);
    if (!S->idx) return cai_seterr(err, CAI_ENOMEM, "out of memory");
    for (int t = 0; t < ntasks; t++) S->idx[S->n++] = t;
    if (S->jobs)
        for (cJSON *jb = S->jobs->child; jb; jb = jb->next) {
            cai_job j;
            if (cai_job_parse(jb, &j, NULL) == CAI_OK) {
                delete_record(S->st, &j);
                cai_job_free(&j);
            }
        }
    return CAI_OK;
}

/* 2b. --resume: a new array over exactly the ranks not complete. */
static int choose_resumed_run(submit_run *S, cai_err *err) {
    int rc;
    if ((rc = cai_jobs_read(S->st, S->bucket, S->rp, &S->jobs, err))) return rc;
    S->nr = cJSON_GetArraySize(S->jobs);
    S->idx = calloc((size_t)(S->nr ? S->nr : 1), sizeof *S->idx);
    if (!S->idx) return cai_seterr(err, CAI_ENOMEM, "out of memory");
    S->per_task = 1;
    for (cJSON *jb = S->jobs->child; jb; jb = jb->next) {
        cai_job j;
        if ((rc = cai_job_parse(jb, &j, err))) return rc;
        if (cai_rank_done(S->st, &j, NULL) != CAI_OK) {
            S->idx[S->n++] = j.rank;
            if (!S->o->dry_run) delete_record(S->st, &j);
        }
        cai_job_free(&j);
    }
    fprintf(S->out, "cai slurm: --resume: %d of %d ranks already complete, %d to run\n", S->nr - S->n, S->nr, S->n);
    return CAI_OK;
}

/* 3. The scripts: written beside the run (or, for a dry run, printed with the sbatch lines that would run). */
static int submit_scripts(submit_run *S, cai_err *err) {
    const cai_slurm_opts *o = S->o;
    script_ctx *c = &S->c;
    int rc;
    c->cai = S->cai_abs, c->store = S->store_abs, c->weights = S->wspec, c->bucket = S->bucket, c->rp = S->rp,
    c->dir = S->dir;
    size_t alen = 0, slen = 0;
    const char *tag = o->resume_run ? "-resume" : "";
    snprintf(S->apath, sizeof S->apath, "%s/map%s.sbatch", S->dir, tag);
    snprintf(S->spath, sizeof S->spath, "%s/summarize%s.sbatch", S->dir, tag);
    if (S->n > 0 && !(S->arr_txt = array_script(o, c, S->per_task, &alen)))
        return cai_seterr(err, CAI_ENOMEM, "out of memory");
    if (!(S->sum_txt = summarize_script(o, c, &slen))) return cai_seterr(err, CAI_ENOMEM, "out of memory");
    if (o->dry_run) {
        FILE *out = S->out;
        if (S->n > 0) fprintf(out, "# %s\n%s\n", S->apath, S->arr_txt);
        fprintf(out, "# %s\n%s\n", S->spath, S->sum_txt);
        if (S->n > 0) {
            fprintf(out, "sbatch --parsable %s\n", S->apath);
            fprintf(out, "sbatch --parsable --dependency=afterany:<array job id> --kill-on-invalid-dep=yes %s\n",
                    S->spath);
        } else {
            fprintf(out, "sbatch --parsable %s\n", S->spath);
        }
        return CAI_OK;
    }
    if (S->n > 0 && (rc = write_text(S->apath, S->arr_txt, alen, 1, err))) return rc;
    return write_text(S->spath, S->sum_txt, slen, 1, err);
}

/* 4. Submit: the array, then Summarize after it (afterany: it runs even when tasks failed). */
static int submit_jobs(submit_run *S, cai_err *err) {
    cai_slurm_result *res = S->res;
    int rc, n = S->n;
    if (n > 0 && (rc = sbatch(S->apath, NULL, res->array_job, sizeof res->array_job, err))) return rc;
    S->array_submitted = n > 0;
    if ((rc = sbatch(S->spath, n > 0 ? res->array_job : NULL, res->summarize_job, sizeof res->summarize_job, err))) {
        cai_err_prefix(err,
                       "array job %s submitted, but Summarize failed to submit (the run keeps its lock on %s/%s "
                       "while the array runs: scancel it, then resubmit with --resume --force): ",
                       res->array_job, S->bucket, S->rp);
        return rc;
    }
    S->array_submitted = 1;
    return CAI_OK;
}

/* 5. Record the submission in the run's slurm/submit.json (status and --resume read it back). */
static int record_submission(submit_run *S, cai_err *err) {
    cai_slurm_result *res = S->res;
    int n = S->n;
    cJSON *sub = S->prev ? S->prev : cJSON_CreateObject();
    S->prev = NULL;
    if (!sub) return cai_seterr(err, CAI_ENOMEM, "out of memory");
    if (!jstr(sub, "store")) cJSON_AddStringToObject(sub, "store", S->store_abs);
    if (!jstr(sub, "weights")) cJSON_AddStringToObject(sub, "weights", S->wspec);
    if (!cJSON_GetObjectItemCaseSensitive(sub, "ranks")) cJSON_AddNumberToObject(sub, "ranks", S->nr);
    cJSON *subs = cJSON_GetObjectItemCaseSensitive(sub, "submissions");
    if (!cJSON_IsArray(subs)) {
        cJSON_DeleteItemFromObjectCaseSensitive(sub, "submissions");
        subs = cJSON_AddArrayToObject(sub, "submissions");
    }
    cJSON *one = cJSON_CreateObject();
    char iso[40];
    cai_iso8601(cai_wall_now(), iso, sizeof iso);
    cJSON_AddStringToObject(one, "submitted", iso);
    cJSON_AddBoolToObject(one, "resume", S->o->resume_run != NULL);
    if (n > 0) cJSON_AddStringToObject(one, "array_job_id", res->array_job);
    cJSON_AddStringToObject(one, "summarize_job_id", res->summarize_job);
    cJSON_AddStringToObject(one, "array", n > 0 ? S->c.array_spec : "");
    cJSON_AddNumberToObject(one, "ranks_per_task", S->per_task);
    cJSON_AddStringToObject(one, "map_script", n > 0 ? S->apath : "");
    cJSON_AddStringToObject(one, "summarize_script", S->spath);
    cJSON_AddItemToArray(subs, one);
    char *txt = cJSON_Print(sub);
    cJSON_Delete(sub);
    char key[4200];
    snprintf(key, sizeof key, "%s/slurm/submit.json", S->rp);
    int rc = txt ? cai_store_put(S->st, S->bucket, key, txt, strlen(txt), err)
                 : cai_seterr(err, CAI_ENOMEM, "out of memory");
    free(txt);
    return rc;
}

static void print_submitted(const submit_run *S) {
    const cai_slurm_result *res = S->res;
    FILE *out = S->out;
    int n = S->n;
    if (n > 0)
        fprintf(out, "cai slurm: array job %s: %d task%s (%d rank%s of %d), output %s/%s_*.out\n", res->array_job, n,
                n == 1 ? "" : "s", res->ranks_submitted, res->ranks_submitted == 1 ? "" : "s", S->nr, S->dir,
                res->array_job);
    else fprintf(out, "cai slurm: every rank is complete; only Summarize submitted\n");
    fprintf(out, "cai slurm: summarize job %s (after the array, whatever its outcome)\n", res->summarize_job);
    fprintf(out, "cai slurm: run %s holds %s/%s until that Summarize job ends\n", S->run_id, S->bucket, S->rp);
    fprintf(out, "follow:  squeue -j %s%s%s\n", n > 0 ? res->array_job : "", n > 0 ? "," : "", res->summarize_job);
    fprintf(out, "         cai slurm status %s/%s --store %s\n", S->bucket, S->rp, S->store_abs);
}

int cai_slurm_submit(const cai_slurm_opts *o, FILE *out, cai_slurm_result *res, cai_err *err) {
    cai_slurm_result dummy;
    if (!res) res = &dummy;
    memset(res, 0, sizeof *res);
    int rc = check_submit_lines(o, err);
    if (rc) return rc;
    submit_run S = {.o = o, .out = out, .res = res, .per_task = o->ranks_per_task > 0 ? o->ranks_per_task : 1};
    if ((rc = submit_open(&S, err)) || (rc = submit_lock(&S, err))) goto out;
    if ((rc = o->resume_run ? choose_resumed_run(&S, err) : choose_new_run(&S, err))) goto out;
    res->ranks = S.nr;
    res->tasks = S.n;
    if (S.n > 0 && (rc = array_spec(S.idx, S.n, S.c.array_spec, sizeof S.c.array_spec, err))) goto out;
    for (int i = 0; i < S.n; i++) {
        long long lo = S.idx[i] * S.per_task, hi = lo + S.per_task < S.nr ? lo + S.per_task : S.nr;
        res->ranks_submitted += (int)(hi - lo);
    }
    if ((rc = submit_scripts(&S, err)) || o->dry_run) goto out;
    if ((rc = submit_jobs(&S, err)) || (rc = record_submission(&S, err))) goto out;
    print_submitted(&S);
out:
    /* Nothing was submitted: the lock goes (a submitted array keeps it; its Summarize releases it). */
    if (rc && S.lock.held && !S.array_submitted) cai_run_lock_release_run(S.st, S.bucket, S.rp, S.run_id, NULL);
    free(S.arr_txt);
    free(S.sum_txt);
    free(S.idx);
    free(S.bucket);
    free(S.rp);
    cJSON_Delete(S.prev);
    cJSON_Delete(S.jobs);
    cai_store_close(S.st);
    cai_payload_free(&S.p);
    free(S.ptxt);
    return rc;
}

/* ---- status ---- */

typedef struct {
    char state[32], exit_code[16], job[48];
} task_state;

/* Expand a SLURM index list "0-5%2", "3", "1,4-6" and call back for each index (capped at n). */
static void each_index(const char *spec, long long n, void (*fn)(long long, void *), void *ctx) {
    const char *p = spec;
    while (*p && *p != '%') {
        char *e;
        long long a = strtoll(p, &e, 10), b = a;
        if (e == p) break;
        p = e;
        if (*p == '-') {
            b = strtoll(p + 1, &e, 10);
            if (e == p + 1) break;
            p = e;
        }
        for (long long i = a; i <= b && i < n; i++)
            if (i >= 0) fn(i, ctx);
        if (*p == ',') p++;
        else break;
    }
}

typedef struct {
    task_state *ts;
    const char *state, *exit_code, *job;
    int per_task;
    long long nr;
} fill_ctx;

static void fill_one(long long task, void *vc) {
    fill_ctx *c = vc;
    for (long long r = task * c->per_task; r < (task + 1) * c->per_task && r < c->nr; r++) {
        snprintf(c->ts[r].state, sizeof c->ts[r].state, "%s", c->state);
        snprintf(c->ts[r].exit_code, sizeof c->ts[r].exit_code, "%s", c->exit_code);
        snprintf(c->ts[r].job, sizeof c->ts[r].job, "%s", c->job);
    }
}

/* Value of "Key=" in one `scontrol -o show job` line (space-separated fields) into buf. */
static int field(const char *line, const char *key, char *buf, size_t n) {
    size_t kl = strlen(key);
    for (const char *p = line; (p = strstr(p, key)); p += kl) {
        if (p != line && p[-1] != ' ') continue;
        if (p[kl] != '=') continue;
        const char *v = p + kl + 1, *e = v;
        while (*e && *e != ' ' && *e != '\n') e++;
        snprintf(buf, n, "%.*s", (int)(e - v), v);
        return 1;
    }
    buf[0] = 0;
    return 0;
}

/* The scheduler's view of job `id`: per-array-task states into ts (by rank), or the job's own state. */
static void scontrol_job(const char *id, int per_task, long long nr, task_state *ts, char *own, size_t own_n) {
    char *argv[] = {"scontrol", "-o", "show", "job", (char *)id, NULL};
    char *out = NULL, *es = NULL;
    cai_err e = {0};
    if (own) snprintf(own, own_n, "unknown to the scheduler (finished more than MinJobAge ago?)");
    if (run_capture(argv, &out, &es, &e) != 0 || !out) {
        free(out), free(es);
        return;
    }
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char st[32], ex[16], tid[256], jid[48], ajid[48];
        field(line, "JobState", st, sizeof st);
        field(line, "ExitCode", ex, sizeof ex);
        field(line, "JobId", jid, sizeof jid);
        if (own) snprintf(own, own_n, "job %s %s (exit %s)", jid, st, ex);
        if (ts && field(line, "ArrayTaskId", tid, sizeof tid)) {
            field(line, "ArrayJobId", ajid, sizeof ajid);
            char label[48];
            if (strpbrk(tid, "-,%")) snprintf(label, sizeof label, "%.20s_[%.20s]", ajid, tid);
            else snprintf(label, sizeof label, "%.20s_%.20s", ajid, tid);
            fill_ctx fc = {ts, st, ex, label, per_task, nr};
            each_index(tid, (nr + per_task - 1) / per_task, fill_one, &fc);
        }
    }
    free(out), free(es);
}

int cai_slurm_status(const char *store_url, const char *run, FILE *out, int *complete, cai_err *err) {
    if (complete) *complete = 0;
    char *bucket = NULL, *rp = NULL;
    int rc = split_run(run, &bucket, &rp, err);
    if (rc) return rc;
    cai_store *st = NULL;
    cJSON *jobs = NULL, *sub = NULL;
    task_state *ts = NULL;
    if ((rc = cai_store_open(store_url ? store_url : ".", &st, err))) goto done;
    if ((rc = cai_jobs_read(st, bucket, rp, &jobs, err))) goto done;
    long long nr = cJSON_GetArraySize(jobs);
    ts = calloc((size_t)(nr ? nr : 1), sizeof *ts);
    if (!ts) {
        rc = cai_seterr(err, CAI_ENOMEM, "out of memory");
        goto done;
    }
    char key[4200], sum_state[256] = "";
    snprintf(key, sizeof key, "%s/slurm/submit.json", rp);
    sub = read_json_key(st, bucket, key, NULL);
    const cJSON *subs = sub ? cJSON_GetObjectItemCaseSensitive(sub, "submissions") : NULL;
    const char *last_sum = NULL;
    int nsub = 0;
    /* In submission order: a later (resume) submission's task state replaces an earlier one's. */
    for (const cJSON *s = cJSON_IsArray(subs) ? subs->child : NULL; s; s = s->next, nsub++) {
        const char *aj = jstr(s, "array_job_id"), *sj = jstr(s, "summarize_job_id");
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(s, "ranks_per_task");
        int per = cJSON_IsNumber(k) && k->valuedouble >= 1 ? (int)k->valuedouble : 1;
        if (aj) scontrol_job(aj, per, nr, ts, NULL, 0);
        if (sj) last_sum = sj;
    }
    if (last_sum) scontrol_job(last_sum, 1, 0, NULL, sum_state, sizeof sum_state);

    fprintf(out, "run %s/%s: %lld ranks, %d submission%s\n", bucket, rp, nr, nsub, nsub == 1 ? "" : "s");
    fprintf(out, "%-6s %-9s %-14s %-11s %-6s %s\n", "rank", "state", "slurm task", "job state", "exit", "detail");
    long long ncomplete = 0, nfailed = 0, nmissing = 0, nqueued = 0, galaxies = 0;
    double t0 = INFINITY, t1 = -INFINITY;
    long long r = 0;
    for (cJSON *jb = jobs->child; jb; jb = jb->next, r++) {
        cai_job j;
        const char *state = "missing";
        char detail[700] = "";
        if (cai_job_parse(jb, &j, NULL) == CAI_OK) {
            cai_err de = {0};
            int done = cai_rank_done(st, &j, &de) == CAI_OK;
            char rk[2048];
            cai_record_key(j.result_path, j.rank, rk, sizeof rk);
            cJSON *rec = read_json_key(st, j.bucket, rk, NULL);
            if (rec) {
                const cJSON *a = cJSON_GetObjectItemCaseSensitive(rec, "start_unix");
                const cJSON *b = cJSON_GetObjectItemCaseSensitive(rec, "end_unix");
                const cJSON *g = cJSON_GetObjectItemCaseSensitive(rec, "galaxies");
                if (cJSON_IsNumber(a) && a->valuedouble < t0) t0 = a->valuedouble;
                if (cJSON_IsNumber(b) && b->valuedouble > t1) t1 = b->valuedouble;
                if (done && cJSON_IsNumber(g)) galaxies += (long long)g->valuedouble;
            }
            if (done) {
                state = "complete";
                ncomplete++;
            } else if (rec) {
                state = "failed";
                nfailed++;
                const char *why = jstr(rec, "error");
                const char *rs = jstr(rec, "status");
                snprintf(detail, sizeof detail, "%s: %.600s", rs ? rs : "?", why ? why : de.msg);
            } else if (!strcmp(ts[r].state, "PENDING") || !strcmp(ts[r].state, "RUNNING") ||
                       !strcmp(ts[r].state, "CONFIGURING")) {
                state = ts[r].state[0] == 'P' ? "pending" : "running";
                nqueued++;
            } else {
                nmissing++;
                if (ts[r].state[0]) snprintf(detail, sizeof detail, "no record; the task ended %s", ts[r].state);
                else snprintf(detail, sizeof detail, "no record");
            }
            cJSON_Delete(rec);
            cai_job_free(&j);
        } else {
            nmissing++;
            snprintf(detail, sizeof detail, "job item %lld does not parse", r);
        }
        fprintf(out, "%-6lld %-9s %-14s %-11s %-6s %s\n", r, state, ts[r].job[0] ? ts[r].job : "-",
                ts[r].state[0] ? ts[r].state : "-", ts[r].exit_code[0] ? ts[r].exit_code : "-", detail);
    }
    fprintf(out, "total: %lld complete, %lld failed, %lld missing", ncomplete, nfailed, nmissing);
    if (nqueued) fprintf(out, ", %lld pending or running", nqueued);
    fprintf(out, " of %lld ranks; %lld galaxies predicted\n", nr, galaxies);
    if (t1 > t0) fprintf(out, "wall time (records' first start to last end): %.2f s\n", t1 - t0);
    if (last_sum) fprintf(out, "summarize: %s\n", sum_state);
    snprintf(key, sizeof key, "%s/summary.json", rp);
    cJSON *sj = read_json_key(st, bucket, key, NULL);
    if (sj) {
        const cJSON *cpl = cJSON_GetObjectItemCaseSensitive(sj, "complete");
        fprintf(out, "summary.json: complete=%s\n", cJSON_IsTrue(cpl) ? "true" : "false");
        cJSON_Delete(sj);
    }
    if (!nfailed && !nmissing && !nqueued) {
        if (complete) *complete = 1;
    } else if (!nqueued) {
        fprintf(out, "to finish: cai slurm submit --resume %s/%s --store %s\n", bucket, rp,
                store_url ? store_url : ".");
    }
done:
    free(ts);
    cJSON_Delete(sub);
    cJSON_Delete(jobs);
    cai_store_close(st);
    free(bucket);
    free(rp);
    return rc;
}
