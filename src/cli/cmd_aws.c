/* cmd_aws.c — `cai aws deploy | run | status | logs | fetch`: operate the AWS engine (deploy/aws/template.yaml).
 * CloudFormation, Step Functions and CloudWatch Logs go through the `aws` CLI (src/engine/aws.c); bytes go
 * through CAI's S3 store (uploads with src/store/sync.c: parallel, unchanged objects skipped). */
#include <getopt.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "../common/util.h"
#include "../engine/aws.h"
#include "../pipeline/payload.h"
#include "../store/store.h"
#include "../store/sync.h"
#include "commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cai aws <deploy|run|status|logs|fetch> [options]\n"
            "\n"
            "  deploy --stack S --code-bucket B --data-bucket D --result-bucket R [--data-prefix P]\n"
            "         [--result-prefix P] [--zip build/lambda/cai-lambda.zip] [--weights W.safetensors]\n"
            "         [--data DIR] [--template deploy/aws/template.yaml] [--param Key=Value]...\n"
            "      upload the package (and weights, and DIR's partitions to D/P) in parallel, skipping objects\n"
            "      already there with the same checksum, then `aws cloudformation deploy` the template\n"
            "  run --stack S PAYLOAD.json [--name NAME] [--follow] [--state-machine-arn ARN]\n"
            "      check the payload here, then start an execution with it; prints the execution ARN\n"
            "  status EXECUTION_ARN [--follow] [--interval SECONDS]\n"
            "      status and Distributed Map progress; the wall time from Step Functions' start/stop dates\n"
            "  logs --stack S [--stage initialize|worker|summarize] [--since MINUTES] [--limit N] [--filter P]\n"
            "      recent CloudWatch log events of one function (default: worker, last 30 minutes)\n"
            "  fetch EXECUTION_ARN [-o DIR]\n"
            "      download combined_data.json, summary.json, the catalog (predictions.csv/.fits) and\n"
            "      payload.json of the run; writes DIR/execution.json with the measured wall time\n"
            "\n"
            "Common: --endpoint-url URL (moto, LocalStack: also used for S3), --region R. Credentials and the\n"
            "region come from the usual AWS variables/profiles. The `aws` CLI must be installed (or CAI_AWS_CLI).\n");
}

typedef struct {
    cai_aws aws;
    const char *stack, *code_bucket, *data_bucket, *result_bucket, *data_prefix, *result_prefix;
    const char *zip, *weights, *data_dir, *tmpl, *name, *sm_arn, *stage, *filter, *outdir;
    const char *params[32];
    int nparams;
    int follow;
    double interval, since_min;
    long limit;
    const char *pos[4];
    int npos;
} opts;

static int die(const cai_err *e) {
    fprintf(stderr, "cai aws: %s\n", e->msg);
    return cai_exit_status(e->code);
}

static int parse(int argc, char **argv, opts *o) {
    memset(o, 0, sizeof *o);
    o->zip = "build/lambda/cai-lambda.zip";
    o->tmpl = "deploy/aws/template.yaml";
    o->stage = "worker";
    o->interval = 5;
    o->since_min = 30;
    o->limit = 100;
    o->data_prefix = "";
    o->result_prefix = "";
    o->outdir = ".";
    enum {
        O_STACK = 256,
        O_CODE,
        O_DATAB,
        O_RESB,
        O_DATAP,
        O_RESP,
        O_ZIP,
        O_WEIGHTS,
        O_DATA,
        O_TMPL,
        O_NAME,
        O_SM,
        O_STAGE,
        O_FILTER,
        O_ENDPOINT,
        O_REGION,
        O_PARAM,
        O_FOLLOW,
        O_INTERVAL,
        O_SINCE,
        O_LIMIT
    };
    static const struct option tab[] = {{"stack", required_argument, 0, O_STACK},
                                        {"code-bucket", required_argument, 0, O_CODE},
                                        {"data-bucket", required_argument, 0, O_DATAB},
                                        {"result-bucket", required_argument, 0, O_RESB},
                                        {"data-prefix", required_argument, 0, O_DATAP},
                                        {"result-prefix", required_argument, 0, O_RESP},
                                        {"zip", required_argument, 0, O_ZIP},
                                        {"weights", required_argument, 0, O_WEIGHTS},
                                        {"data", required_argument, 0, O_DATA},
                                        {"template", required_argument, 0, O_TMPL},
                                        {"name", required_argument, 0, O_NAME},
                                        {"state-machine-arn", required_argument, 0, O_SM},
                                        {"stage", required_argument, 0, O_STAGE},
                                        {"filter", required_argument, 0, O_FILTER},
                                        {"out", required_argument, 0, 'o'},
                                        {"endpoint-url", required_argument, 0, O_ENDPOINT},
                                        {"region", required_argument, 0, O_REGION},
                                        {"param", required_argument, 0, O_PARAM},
                                        {"follow", no_argument, 0, O_FOLLOW},
                                        {"interval", required_argument, 0, O_INTERVAL},
                                        {"since", required_argument, 0, O_SINCE},
                                        {"limit", required_argument, 0, O_LIMIT},
                                        {"help", no_argument, 0, 'h'},
                                        {0, 0, 0, 0}};
    /* The subcommand is argv[1]: getopt sees argv + 1, named "cai aws <sub>" in its messages. */
    char prog[64];
    snprintf(prog, sizeof prog, "cai aws %s", argv[1]);
    char *sub = argv[1];
    argv[1] = prog;
    int c, bad = 0;
    int64_t limit = 0;
    optind = 1;
    while (!bad && (c = getopt_long(argc - 1, argv + 1, "ho:", tab, NULL)) != -1) {
        switch (c) {
        case O_STACK: o->stack = optarg; break;
        case O_CODE: o->code_bucket = optarg; break;
        case O_DATAB: o->data_bucket = optarg; break;
        case O_RESB: o->result_bucket = optarg; break;
        case O_DATAP: o->data_prefix = optarg; break;
        case O_RESP: o->result_prefix = optarg; break;
        case O_ZIP: o->zip = optarg; break;
        case O_WEIGHTS: o->weights = optarg; break;
        case O_DATA: o->data_dir = optarg; break;
        case O_TMPL: o->tmpl = optarg; break;
        case O_NAME: o->name = optarg; break;
        case O_SM: o->sm_arn = optarg; break;
        case O_STAGE: o->stage = optarg; break;
        case O_FILTER: o->filter = optarg; break;
        case 'o': o->outdir = optarg; break;
        case O_ENDPOINT: o->aws.endpoint_url = optarg; break;
        case O_REGION: o->aws.region = optarg; break;
        case O_PARAM:
            if (o->nparams >= 32 || !strchr(optarg, '=')) {
                fprintf(stderr, "cai aws: --param: expected Key=Value (at most 32), got \"%s\"\n", optarg);
                bad = 1;
            } else o->params[o->nparams++] = optarg;
            break;
        case O_FOLLOW: o->follow = 1; break;
        case O_INTERVAL: bad = cai_arg_double("aws", "--interval", optarg, 1e-3, 1e6, &o->interval); break;
        case O_SINCE: bad = cai_arg_double("aws", "--since", optarg, 1e-3, 1e6, &o->since_min); break;
        case O_LIMIT:
            bad = cai_arg_int("aws", "--limit", optarg, 1, 10000, &limit);
            o->limit = (long)limit;
            break;
        case 'h': usage(stdout); exit(0);
        default: bad = 1; break;
        }
    }
    argv[1] = sub;
    if (bad) return -1;
    for (int i = optind + 1; i < argc; i++) {
        if (o->npos >= 4) return fprintf(stderr, "cai aws: too many arguments\n"), -1;
        o->pos[o->npos++] = argv[i];
    }
    /* Our S3 store follows the same endpoint as the CLI. */
    if (o->aws.endpoint_url && !getenv("AWS_ENDPOINT_URL")) setenv("AWS_ENDPOINT_URL", o->aws.endpoint_url, 1);
    if (o->aws.region && !getenv("AWS_REGION")) setenv("AWS_REGION", o->aws.region, 1);
    return 0;
}

static int need(const char *v, const char *flag, const char *cmd) {
    if (v) return 0;
    fprintf(stderr, "cai aws %s: %s is required (see cai aws --help)\n", cmd, flag);
    return -1;
}

/* ---------------------------------------------------------------- deploy */

/* Put `src` into dir/name: a hard link when possible (no copy of an 80 MB zip), else a copy. */
static int stage_file(const char *src, const char *dir, const char *name, cai_err *err) {
    char dst[4096];
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    if (link(src, dst) == 0) return 0;
    cai_file f;
    if (cai_file_map(src, &f, err)) return err->code;
    int r = cai_write_file_atomic(dst, f.data, f.len, err);
    cai_file_unmap(&f);
    return r;
}

static int file_sha12(const char *path, char out[13], cai_err *err) {
    cai_file f;
    if (cai_file_map(path, &f, err)) return err->code;
    char hex[65];
    cai_sha256_hex(f.data, f.len, hex);
    cai_file_unmap(&f);
    memcpy(out, hex, 12);
    out[12] = 0;
    return 0;
}

static void rm_tree_shallow(const char *dir, const char *const *names) {
    char p[4096];
    for (int i = 0; names[i]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

static int do_deploy(opts *o) {
    if (need(o->stack, "--stack", "deploy") || need(o->code_bucket, "--code-bucket", "deploy") ||
        need(o->data_bucket, "--data-bucket", "deploy") || need(o->result_bucket, "--result-bucket", "deploy"))
        return 2;
    cai_err err = {0};
    struct stat sb;
    if (stat(o->zip, &sb))
        return fprintf(stderr, "cai aws deploy: %s: %s (build it with `make lambda-package`)\n", o->zip,
                       strerror(errno)),
               1;
    if (stat(o->tmpl, &sb))
        return fprintf(stderr, "cai aws deploy: template %s: %s (run from the source tree or pass --template)\n",
                       o->tmpl, strerror(errno)),
               1;
    /* Content-addressed keys: a new zip is a new key, so CloudFormation sees a change and updates the code. */
    char zsha[13], wsha[13] = "", zkey[128], wkey[128] = "", zname[64], wname[64] = "";
    if (file_sha12(o->zip, zsha, &err)) return die(&err);
    snprintf(zname, sizeof zname, "cai-lambda-%s.zip", zsha);
    snprintf(zkey, sizeof zkey, "cai/%s", zname);
    if (o->weights) {
        if (file_sha12(o->weights, wsha, &err)) return die(&err);
        snprintf(wname, sizeof wname, "weights-%s.safetensors", wsha);
        snprintf(wkey, sizeof wkey, "cai/%s", wname);
    }
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/cai-aws-deploy.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    char *dir = mkdtemp(tmpl);
    if (!dir) return fprintf(stderr, "cai aws deploy: mkdtemp: %s\n", strerror(errno)), 1;
    const char *names[] = {zname, o->weights ? wname : NULL, NULL};
    cai_store *st = NULL;
    int rc = stage_file(o->zip, dir, zname, &err);
    if (!rc && o->weights) rc = stage_file(o->weights, dir, wname, &err);
    if (!rc) rc = cai_store_open("s3://", &st, &err);
    cai_sync_opts so = {.threads = 0, .dry_run = 0, .log = NULL};
    cai_sync_result res;
    char line[256];
    if (!rc) {
        rc = cai_sync_upload(st, dir, o->code_bucket, "cai/", &so, &res, &err);
        cai_sync_summary(&res, line, sizeof line);
        printf("code  s3://%s/cai/: %s\n", o->code_bucket, line);
    }
    rm_tree_shallow(dir, names);
    if (!rc && o->data_dir) {
        rc = cai_sync_upload(st, o->data_dir, o->data_bucket, o->data_prefix, &so, &res, &err);
        cai_sync_summary(&res, line, sizeof line);
        printf("data  s3://%s/%s: %s\n", o->data_bucket, o->data_prefix, line);
    }
    cai_store_close(st);
    if (rc) return die(&err);

    /* The deploy itself. */
    char p[16][1200];
    int np = 0;
    snprintf(p[np++], sizeof p[0], "CodeBucket=%s", o->code_bucket);
    snprintf(p[np++], sizeof p[0], "CodeKey=%s", zkey);
    snprintf(p[np++], sizeof p[0], "WeightsKey=%s", wkey);
    snprintf(p[np++], sizeof p[0], "DataBucket=%s", o->data_bucket);
    snprintf(p[np++], sizeof p[0], "DataPrefix=%s", o->data_prefix);
    snprintf(p[np++], sizeof p[0], "ResultBucket=%s", o->result_bucket);
    snprintf(p[np++], sizeof p[0], "ResultPrefix=%s", o->result_prefix);
    const char *args[64];
    int k = 0;
    args[k++] = "cloudformation";
    args[k++] = "deploy";
    args[k++] = "--template-file";
    args[k++] = o->tmpl;
    args[k++] = "--stack-name";
    args[k++] = o->stack;
    args[k++] = "--capabilities";
    args[k++] = "CAPABILITY_IAM";
    args[k++] = "--no-fail-on-empty-changeset";
    args[k++] = "--parameter-overrides";
    for (int i = 0; i < np; i++) args[k++] = p[i];
    for (int i = 0; i < o->nparams; i++) args[k++] = o->params[i];
    args[k] = NULL;
    printf("deploying stack %s (%s)\n", o->stack, o->tmpl);
    if (cai_aws_run(&o->aws, args, NULL, &err)) return die(&err);
    char arn[1024];
    if (cai_aws_stack_resource(&o->aws, o->stack, "StateMachine", arn, sizeof arn, &err)) return die(&err);
    printf("state machine: %s\nnext: cai aws run --stack %s PAYLOAD.json --follow\n", arn, o->stack);
    return 0;
}

/* ---------------------------------------------------------------- status */

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
static double jnum(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* describe-execution, plus the Distributed Map's item counts when a map run exists. */
static int describe(opts *o, const char *exec_arn, cJSON **desc, cJSON **counts, cai_err *err) {
    *counts = NULL;
    const char *a1[] = {"stepfunctions", "describe-execution", "--execution-arn", exec_arn, NULL};
    if (cai_aws_run(&o->aws, a1, desc, err)) return err->code;
    if (!*desc) return cai_seterr(err, CAI_EFORMAT, "describe-execution %s: empty answer", exec_arn);
    const char *a2[] = {"stepfunctions", "list-map-runs", "--execution-arn", exec_arn, NULL};
    cJSON *runs = NULL;
    cai_err e2 = {0};
    if (cai_aws_run(&o->aws, a2, &runs, &e2) == 0) {
        const cJSON *r0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(runs, "mapRuns"), 0);
        const char *mr = jstr(r0, "mapRunArn");
        if (mr) {
            const char *a3[] = {"stepfunctions", "describe-map-run", "--map-run-arn", mr, NULL};
            cJSON *d = NULL;
            if (cai_aws_run(&o->aws, a3, &d, &e2) == 0) {
                *counts = cJSON_DetachItemFromObjectCaseSensitive(d, "itemCounts");
                cJSON_Delete(d);
            }
        }
    }
    cJSON_Delete(runs);
    return 0;
}

static double wall_of(const cJSON *desc, double *start) {
    *start = cai_aws_time(cJSON_GetObjectItemCaseSensitive(desc, "startDate"));
    double stop = cai_aws_time(cJSON_GetObjectItemCaseSensitive(desc, "stopDate"));
    return *start > 0 && stop > 0 ? stop - *start : -1;
}

static void print_status(const cJSON *desc, const cJSON *counts) {
    const char *status = jstr(desc, "status");
    double start, wall = wall_of(desc, &start);
    printf("%-9s", status ? status : "?");
    if (counts)
        printf("  map: %.0f/%.0f succeeded, %.0f failed, %.0f running, %.0f pending", jnum(counts, "succeeded"),
               jnum(counts, "total"), jnum(counts, "failed") + jnum(counts, "timedOut") + jnum(counts, "aborted"),
               jnum(counts, "running"), jnum(counts, "pending"));
    if (wall >= 0) printf("  wall %.3f s", wall);
    else if (start > 0) printf("  elapsed %.1f s", cai_wall_now() - start);
    printf("\n");
    fflush(stdout);
}

static int follow_status(opts *o, const char *exec_arn) {
    cai_err err = {0};
    for (;;) {
        cJSON *desc = NULL, *counts = NULL;
        if (describe(o, exec_arn, &desc, &counts, &err)) return die(&err);
        print_status(desc, counts);
        const char *status = jstr(desc, "status");
        int running = status && !strcmp(status, "RUNNING");
        if (!running || !o->follow) {
            double start, wall = wall_of(desc, &start);
            if (!running && wall >= 0) printf("wall time: %.3f s (Step Functions startDate -> stopDate)\n", wall);
            if (!running && status && strcmp(status, "SUCCEEDED")) {
                const char *e = jstr(desc, "error"), *c = jstr(desc, "cause");
                printf("error: %s\ncause: %s\n", e ? e : "-", c ? c : "-");
            }
            int rc = running || (status && !strcmp(status, "SUCCEEDED")) ? 0 : 1;
            cJSON_Delete(desc);
            cJSON_Delete(counts);
            return rc;
        }
        cJSON_Delete(desc);
        cJSON_Delete(counts);
        struct timespec ts = {(time_t)o->interval, (long)((o->interval - floor(o->interval)) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* ---------------------------------------------------------------- run */

static int do_run(opts *o) {
    if (o->npos != 1) return fprintf(stderr, "cai aws run: expected one PAYLOAD.json\n"), 2;
    if (!o->sm_arn && need(o->stack, "--stack", "run")) return 2;
    cai_err err = {0};
    char *json;
    size_t len;
    if (cai_read_file(o->pos[0], &json, &len, &err)) return die(&err);
    /* Check it here: a typo should cost nothing, not a failed execution. */
    cai_payload p;
    if (cai_payload_parse(json, len, o->pos[0], &p, &err)) {
        free(json);
        return die(&err);
    }
    for (int i = 0; i < p.nwarnings; i++) fprintf(stderr, "cai aws run: warning: %s\n", p.warnings[i]);
    cai_payload_free(&p);
    char arn[1024];
    if (o->sm_arn) snprintf(arn, sizeof arn, "%s", o->sm_arn);
    else if (cai_aws_stack_resource(&o->aws, o->stack, "StateMachine", arn, sizeof arn, &err)) {
        free(json);
        return die(&err);
    }
    const char *args[10] = {"stepfunctions", "start-execution", "--state-machine-arn", arn, "--input", json};
    int k = 6;
    if (o->name) args[k++] = "--name", args[k++] = o->name;
    args[k] = NULL;
    cJSON *r = NULL;
    int rc = cai_aws_run(&o->aws, args, &r, &err);
    free(json);
    if (rc) return die(&err);
    const char *ex = jstr(r, "executionArn");
    if (!ex) {
        cJSON_Delete(r);
        return fprintf(stderr, "cai aws run: start-execution answered without an executionArn\n"), 1;
    }
    char exarn[1024];
    snprintf(exarn, sizeof exarn, "%s", ex);
    cJSON_Delete(r);
    printf("execution: %s\n", exarn);
    if (!o->follow) {
        printf("follow it: cai aws status %s --follow\n", exarn);
        return 0;
    }
    return follow_status(o, exarn);
}

static int do_status(opts *o) {
    if (o->npos != 1) return fprintf(stderr, "cai aws status: expected one EXECUTION_ARN\n"), 2;
    return follow_status(o, o->pos[0]);
}

/* ---------------------------------------------------------------- logs */

static int do_logs(opts *o) {
    if (need(o->stack, "--stack", "logs")) return 2;
    if (strcmp(o->stage, "initialize") && strcmp(o->stage, "worker") && strcmp(o->stage, "summarize"))
        return fprintf(stderr, "cai aws logs: --stage: expected initialize, worker or summarize\n"), 2;
    char group[512], start[32], limit[32];
    snprintf(group, sizeof group, "/aws/lambda/%s-%s", o->stack, o->stage);
    snprintf(start, sizeof start, "%.0f", (cai_wall_now() - o->since_min * 60) * 1000);
    snprintf(limit, sizeof limit, "%ld", o->limit);
    const char *args[16] = {"logs", "filter-log-events", "--log-group-name", group, "--start-time", start, "--limit",
                            limit};
    int k = 8;
    if (o->filter) args[k++] = "--filter-pattern", args[k++] = o->filter;
    args[k] = NULL;
    cai_err err = {0};
    cJSON *r = NULL;
    if (cai_aws_run(&o->aws, args, &r, &err)) return die(&err);
    const cJSON *ev;
    int n = 0;
    cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(r, "events")) {
        char ts[40];
        cai_iso8601(jnum(ev, "timestamp") / 1000.0, ts, sizeof ts);
        const char *m = jstr(ev, "message");
        size_t l = m ? strlen(m) : 0;
        while (l && (m[l - 1] == '\n' || m[l - 1] == '\r')) l--;
        printf("%s %s %.*s\n", ts, jstr(ev, "logStreamName") ? jstr(ev, "logStreamName") : "", (int)l, m ? m : "");
        n++;
    }
    fprintf(stderr, "%d events from %s in the last %.0f min\n", n, group, o->since_min);
    cJSON_Delete(r);
    return 0;
}

/* ---------------------------------------------------------------- fetch */

static int do_fetch(opts *o) {
    if (o->npos != 1) return fprintf(stderr, "cai aws fetch: expected one EXECUTION_ARN\n"), 2;
    cai_err err = {0};
    cJSON *desc = NULL, *counts = NULL;
    if (describe(o, o->pos[0], &desc, &counts, &err)) return die(&err);
    const char *input = jstr(desc, "input");
    cai_payload p;
    if (!input || cai_payload_parse(input, strlen(input), "execution input", &p, &err)) {
        if (!input) cai_seterr(&err, CAI_EFORMAT, "execution %s: no input in describe-execution", o->pos[0]);
        cJSON_Delete(desc);
        cJSON_Delete(counts);
        return die(&err);
    }
    cai_store *st;
    if (cai_store_open("s3://", &st, &err) || cai_mkdirs(o->outdir, &err)) {
        cai_payload_free(&p);
        cJSON_Delete(desc);
        cJSON_Delete(counts);
        return die(&err);
    }
    static const struct {
        const char *name;
        int required;
    } files[] = {{"combined_data.json", 1},
                 {"summary.json", 1},
                 {"predictions.csv", 0},
                 {"predictions.fits", 0},
                 {"payload.json", 0}};
    int missing = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char key[2200], path[4400];
        snprintf(key, sizeof key, "%s/%s", p.result_path, files[i].name);
        snprintf(path, sizeof path, "%s/%s", o->outdir, files[i].name);
        uint8_t *d = NULL;
        size_t n = 0;
        cai_err e = {0};
        if (cai_store_get(st, p.bucket, key, &d, &n, &e)) {
            fprintf(stderr, "cai aws fetch: %s s3://%s/%s: %s\n", files[i].required ? "missing" : "(optional) no",
                    p.bucket, key, e.msg);
            missing += files[i].required;
            continue;
        }
        int r = cai_write_file_atomic(path, d, n, &e);
        free(d);
        if (r) {
            cai_store_close(st);
            cai_payload_free(&p);
            cJSON_Delete(desc);
            cJSON_Delete(counts);
            return die(&e);
        }
        printf("%-20s %10zu bytes  <- s3://%s/%s\n", files[i].name, n, p.bucket, key);
    }
    cai_store_close(st);
    /* The measured wall time, from the service's own timestamps. */
    double start, wall = wall_of(desc, &start);
    cJSON *ex = cJSON_CreateObject();
    cJSON_AddStringToObject(ex, "executionArn", o->pos[0]);
    cJSON_AddStringToObject(ex, "status", jstr(desc, "status") ? jstr(desc, "status") : "?");
    /* The CLI prints dates as ISO strings or Unix seconds depending on its version/config: keep both forms. */
    static const char *const dk[] = {"startDate", "stopDate"};
    for (int i = 0; i < 2; i++) {
        double t = cai_aws_time(cJSON_GetObjectItemCaseSensitive(desc, dk[i]));
        if (t <= 0) continue;
        char iso[40], key[32];
        cai_iso8601(t, iso, sizeof iso);
        cJSON_AddStringToObject(ex, dk[i], iso);
        snprintf(key, sizeof key, "%s_unix", dk[i]);
        cJSON_AddNumberToObject(ex, key, t);
    }
    if (wall >= 0) cJSON_AddNumberToObject(ex, "wall_seconds", wall);
    else cJSON_AddNullToObject(ex, "wall_seconds");
    if (counts) cJSON_AddItemToObject(ex, "map_item_counts", cJSON_Duplicate(counts, 1));
    cJSON_AddStringToObject(ex, "bucket", p.bucket);
    cJSON_AddStringToObject(ex, "result_path", p.result_path);
    char *txt = cJSON_Print(ex);
    char path[4400];
    snprintf(path, sizeof path, "%s/execution.json", o->outdir);
    int r = txt ? cai_write_file_atomic(path, txt, strlen(txt), &err) : cai_seterr(&err, CAI_ENOMEM, "out of memory");
    free(txt);
    cJSON_Delete(ex);
    printf("status: %s\n", jstr(desc, "status") ? jstr(desc, "status") : "?");
    if (wall >= 0) printf("wall time: %.3f s (Step Functions startDate -> stopDate)\n", wall);
    else printf("wall time: not yet (the execution has not stopped)\n");
    cai_payload_free(&p);
    cJSON_Delete(desc);
    cJSON_Delete(counts);
    if (r) return die(&err);
    if (missing) return fprintf(stderr, "cai aws fetch: %d required file(s) missing\n", missing), 1;
    return 0;
}

int cmd_aws(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    opts o;
    if (parse(argc, argv, &o)) return 2;
    const char *sub = argv[1];
    if (!strcmp(sub, "deploy")) return do_deploy(&o);
    if (!strcmp(sub, "run")) return do_run(&o);
    if (!strcmp(sub, "status")) return do_status(&o);
    if (!strcmp(sub, "logs")) return do_logs(&o);
    if (!strcmp(sub, "fetch")) return do_fetch(&o);
    fprintf(stderr, "cai aws: unknown subcommand '%s'\n\n", sub);
    usage(stderr);
    return 2;
}
