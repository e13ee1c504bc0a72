/* cmd_aws.c — `cai aws deploy | run | status | logs | fetch`: operate the AWS engine (deploy/aws/template.yaml).
 * CloudFormation, Step Functions and CloudWatch Logs go through the `aws` CLI (src/engine/aws.c); bytes go
 * through CAI's S3 store (uploads with src/store/sync.c: parallel, unchanged objects skipped). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/util.h"
#include "../format/zip.h"
#include "../engine/aws.h"
#include "../pipeline/payload.h"
#include "../store/store.h"
#include "../store/sync.h"
#include "args.h"
#include "commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cai aws <deploy|run|status|logs|fetch> [options]\n"
            "\n"
            "  deploy --stack S --code-bucket B --data-bucket D --result-bucket R [--data-prefix P]\n"
            "         [--result-prefix P] [--zip build/lambda/cai-lambda.zip] [--weights W.safetensors]\n"
            "         [--data DIR] [--template deploy/aws/template.yaml] [--param Key=Value]... [--no-preflight]\n"
            "      upload the package (and weights, and DIR's partitions to D/P) in parallel, skipping objects\n"
            "      already there with the same checksum, then `aws cloudformation deploy` the template.\n"
            "      --data-prefix and --result-prefix are required on the first deploy (the roles may touch only\n"
            "      what is under them; '' means the whole bucket); later deploys keep every parameter not given.\n"
            "      Pre-flight: refuses a package with no weights.safetensors unless weights are (or were) given,\n"
            "      a stack stuck in ROLLBACK_COMPLETE, and concurrency the account cannot grant\n"
            "  run --stack S PAYLOAD.json [--name NAME] [--follow] [--state-machine-arn ARN]\n"
            "      check the payload here, then start an execution with it; prints the execution ARN\n"
            "  run --resume EXECUTION_ARN|s3://BUCKET/RESULT_PATH [--stack S | --state-machine-arn ARN] [--follow]\n"
            "      rerun only the ranks of that run with no complete record (failed, timed out, never started),\n"
            "      then Summarize over all of them\n"
            "  status EXECUTION_ARN [--follow] [--interval SECONDS]\n"
            "      status and Distributed Map progress; the wall time from Step Functions' start/stop dates\n"
            "  logs --stack S [--stage initialize|worker|summarize] [--since MINUTES] [--limit N] [--filter P]\n"
            "      the newest N (default 100) CloudWatch log events of one function in the window (default:\n"
            "      worker, last 30 minutes), oldest first\n"
            "  credentials\n"
            "      which link of the default chain gives the credentials (key id masked), their expiry, and the\n"
            "      Region with where it came from; the error lists every link tried\n"
            "  fetch EXECUTION_ARN [-o DIR]\n"
            "      download combined_data.json, summary.json, the catalog (predictions.csv/.fits) and\n"
            "      payload.json of the run; writes DIR/execution.json with the measured wall time\n"
            "\n"
            "Common: --endpoint-url URL (moto, LocalStack: also used for S3), --region R, --profile P.\n"
            "Credentials and the Region come from the AWS default chain (environment, AWS_PROFILE/default in\n"
            "~/.aws/credentials and ~/.aws/config incl. credential_process, container, EC2 instance role), the\n"
            "same for CAI's S3 requests and for the `aws` CLI, which gets the resolved profile and Region.\n"
            "The `aws` CLI must be installed (or CAI_AWS_CLI).\n");
}

typedef struct {
    cai_aws aws;
    const char *stack, *code_bucket, *data_bucket, *result_bucket, *data_prefix, *result_prefix;
    const char *zip, *weights, *data_dir, *tmpl, *name, *sm_arn, *stage, *filter, *outdir, *resume;
    const char *params[32];
    int nparams;
    int follow, no_preflight;
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
        O_PROFILE,
        O_RESUME,
        O_PARAM,
        O_FOLLOW,
        O_NOPRE,
        O_INTERVAL,
        O_SINCE,
        O_LIMIT
    };
    static const struct option lopts[] = {{"stack", required_argument, 0, O_STACK},
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
                                          {"profile", required_argument, 0, O_PROFILE},
                                          {"resume", required_argument, 0, O_RESUME},
                                          {"param", required_argument, 0, O_PARAM},
                                          {"follow", no_argument, 0, O_FOLLOW},
                                          {"no-preflight", no_argument, 0, O_NOPRE},
                                          {"interval", required_argument, 0, O_INTERVAL},
                                          {"since", required_argument, 0, O_SINCE},
                                          {"limit", required_argument, 0, O_LIMIT},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    /* The options follow the subcommand: getopt sees "cai aws" then argv[2...]. */
    char *sub[argc > 1 ? argc : 2];
    int nsub = 0;
    sub[nsub++] = argv[0];
    for (int i = 2; i < argc; i++) sub[nsub++] = argv[i];
    sub[nsub] = NULL;
    int c, li = 0;
    optind = 1;
    while ((c = getopt_long(nsub, sub, "o:h", lopts, &li)) != -1) {
        char fl[64];
        snprintf(fl, sizeof fl, "--%s", c >= 256 ? lopts[li].name : "");
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
        case O_PROFILE: o->aws.profile = optarg; break;
        case O_RESUME: o->resume = optarg; break;
        case O_PARAM:
            if (o->nparams >= 32 || !strchr(optarg, '='))
                return fprintf(stderr, "cai aws: --param: expected Key=Value (at most 32), got \"%s\"\n", optarg), -1;
            o->params[o->nparams++] = optarg;
            break;
        case O_FOLLOW: o->follow = 1; break;
        case O_NOPRE: o->no_preflight = 1; break;
        case O_INTERVAL:
        case O_SINCE: {
            char *end;
            double d = strtod(optarg, &end);
            if (end == optarg || *end || !(d > 0 && d < 1e6))
                return fprintf(stderr, "cai aws: %s: expected a positive number, got \"%s\"\n", fl, optarg), -1;
            if (c == O_INTERVAL) o->interval = d;
            else o->since_min = d;
            break;
        }
        case O_LIMIT: {
            int64_t v;
            if (cai_arg_int("aws", fl, optarg, 1, 10000, &v)) return -1;
            o->limit = (long)v;
            break;
        }
        case 'h': usage(stdout); exit(0);
        default: return -1; /* getopt named the flag */
        }
    }
    for (int i = optind; i < nsub; i++) {
        if (o->npos >= 4) return fprintf(stderr, "cai aws: too many arguments (from \"%s\")\n", sub[i]), -1;
        o->pos[o->npos++] = sub[i];
    }
    /* Our S3 store follows the same endpoint, profile and Region as the CLI. */
    if (o->aws.endpoint_url && !getenv("AWS_ENDPOINT_URL")) setenv("AWS_ENDPOINT_URL", o->aws.endpoint_url, 1);
    if (o->aws.profile) setenv("AWS_PROFILE", o->aws.profile, 1);
    if (o->aws.region) setenv("AWS_REGION", o->aws.region, 1);
    /* And the CLI gets the Region our chain resolves (env, then the profile's config), so both sides agree
     * even where the CLI's own lookup would differ (AWS_REGION is not read by AWS CLI v1). */
    if (!o->aws.region) {
        static char region[64];
        cai_err e = {0};
        if (cai_aws_region(region, sizeof region, &e) == 0) o->aws.region = region;
    }
    return 0;
}

static int need(const char *v, const char *flag, const char *cmd) {
    if (v) return 0;
    fprintf(stderr, "cai aws %s: %s is required (see cai aws --help)\n", cmd, flag);
    return -1;
}

/* ---------------------------------------------------------------- deploy */

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
static double jnum(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

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

/* The stack as CloudFormation knows it (Stacks[0] of describe-stacks --stack-name, which the deployer policy
 * allows on the stack alone), or NULL when there is none. "does not exist" is the CLI's answer for a first
 * deploy: kept off the terminal; any other failure is reported. */
static cJSON *stack_find(opts *o, cai_err *err) {
    char ep[4096];
    snprintf(ep, sizeof ep, "%s/cai-aws-stderr.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(ep);
    if (fd < 0) {
        cai_seterr(err, CAI_EIO, "mkstemp: %s", strerror(errno));
        return NULL;
    }
    close(fd);
    cai_aws q = o->aws;
    q.stderr_path = ep;
    const char *args[] = {"cloudformation", "describe-stacks", "--stack-name", o->stack, NULL};
    cJSON *all = NULL;
    cai_err e = {0};
    int rc = cai_aws_run(&q, args, &all, &e);
    char *msg = NULL;
    size_t ml = 0;
    cai_err re = {0};
    if (rc) cai_read_file(ep, &msg, &ml, &re);
    unlink(ep);
    if (rc) {
        int absent = msg && strstr(msg, "does not exist");
        if (!absent) {
            if (msg) fputs(msg, stderr);
            *err = e;
        }
        free(msg);
        return NULL;
    }
    cJSON *found = NULL;
    const cJSON *s = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(all, "Stacks"), 0);
    const char *st = jstr(s, "StackStatus");
    if (s && !(st && !strcmp(st, "DELETE_COMPLETE"))) found = cJSON_Duplicate(s, 1);
    cJSON_Delete(all);
    return found;
}

/* A parameter's value in the existing stack, or NULL. */
static const char *stack_param(const cJSON *stack, const char *key) {
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(stack, "Parameters")) {
        const char *k = jstr(p, "ParameterKey");
        if (k && !strcmp(k, key)) return jstr(p, "ParameterValue");
    }
    return NULL;
}

/* --param KEY=V's value, or NULL. */
static const char *given_param(const opts *o, const char *key) {
    size_t n = strlen(key);
    for (int i = 0; i < o->nparams; i++)
        if (!strncmp(o->params[i], key, n) && o->params[i][n] == '=') return o->params[i] + n + 1;
    return NULL;
}

/* A parameter's effective value for this deploy: given, else the stack's (kept), else the template's default. */
static long param_num(const opts *o, const cJSON *stack, const char *key, long dflt) {
    const char *v = given_param(o, key);
    if (!v) v = stack_param(stack, key);
    return v ? strtol(v, NULL, 10) : dflt;
}

/* Does the package bring weights.safetensors? (Read from the zip's central directory.) */
static int zip_has_weights(const char *zip, cai_err *err) {
    cai_file f;
    if (cai_file_map(zip, &f, err)) return -1;
    cai_zip z;
    int rc = cai_zip_open(f.data, f.len, zip, &z, err);
    int has = rc ? -1 : cai_zip_find(&z, "weights.safetensors") != NULL;
    if (!rc) cai_zip_close(&z);
    cai_file_unmap(&f);
    return has;
}

/* Template defaults the pre-flight needs (deploy/aws/template.yaml; aws_template.sh checks they agree). */
#define TPL_MAX_CONCURRENCY 50
#define TPL_WORKER_RESERVED 50
#define TPL_MEMORY_MB 3008

static int preflight_account(opts *o, const cJSON *stack) {
    long mem = param_num(o, stack, "MemorySize", TPL_MEMORY_MB);
    if (mem > 3008)
        fprintf(stderr,
                "cai aws deploy: note: MemorySize %ld MB: new accounts accept at most 3008 MB until AWS raises "
                "the limit (a refusal rolls the stack back); ask AWS Support for 10,240 MB first\n",
                mem);
    const char *args[] = {"lambda", "get-account-settings", NULL};
    cJSON *r = NULL;
    cai_err e = {0};
    if (cai_aws_run(&o->aws, args, &r, &e)) {
        fprintf(stderr,
                "cai aws deploy: warning: could not read the account's Lambda limits (%s); concurrency not "
                "checked\n",
                e.msg);
        return 0;
    }
    const cJSON *lim = cJSON_GetObjectItemCaseSensitive(r, "AccountLimit");
    cai_aws_concurrency c = {
        .account_limit = (long)jnum(lim, "ConcurrentExecutions"),
        .unreserved = (long)jnum(lim, "UnreservedConcurrentExecutions"),
        .own_reserved = stack ? param_num(o, stack, "WorkerReservedConcurrency", 0) : 0,
        .reserved = param_num(o, stack, "WorkerReservedConcurrency", TPL_WORKER_RESERVED),
        .max_concurrency = param_num(o, stack, "MaxConcurrency", TPL_MAX_CONCURRENCY),
    };
    /* own_reserved: what the stack's worker holds now, given back when the deploy changes it. Only known for
     * an existing stack, from its parameter (the value CloudFormation applied). */
    if (stack) {
        const char *prev = stack_param(stack, "WorkerReservedConcurrency");
        c.own_reserved = prev ? strtol(prev, NULL, 10) : 0;
    }
    cJSON_Delete(r);
    if (c.account_limit <= 0) return 0;
    printf("account: Lambda concurrency %ld (%ld unreserved); worker reserves %ld, map runs %ld at once\n",
           c.account_limit, c.unreserved, c.reserved, c.max_concurrency);
    if (cai_aws_check_concurrency(&c, &e)) {
        fprintf(stderr, "cai aws deploy: %s\n", e.msg);
        return 2;
    }
    return 0;
}

/* Pre-flight: everything that would make the stack fail or the workers fail at init. 0 with *stack_out the
 * existing stack (NULL on a first deploy), else the exit status (the problem printed). */
static int deploy_preflight(opts *o, cJSON **stack_out) {
    *stack_out = NULL;
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
    cJSON *stack = stack_find(o, &err);
    if (err.code) return die(&err);
    const char *status = jstr(stack, "StackStatus");
    int rc = 0;
    if (status && !strcmp(status, "ROLLBACK_COMPLETE")) {
        fprintf(stderr,
                "cai aws deploy: stack %s is in ROLLBACK_COMPLETE: its first deploy failed (see `aws "
                "cloudformation describe-stack-events --stack-name %s`) and CloudFormation cannot update it. "
                "Delete it (`aws cloudformation delete-stack --stack-name %s`) and deploy again\n",
                o->stack, o->stack, o->stack);
        rc = 1;
    } else if (!stack && (!o->data_prefix || !o->result_prefix)) {
        /* A parameter not passed keeps its value (aws cloudformation deploy sends UsePreviousValue for it), so
         * a redeploy never resets the weights key or widens the roles to the whole bucket. A first deploy must
         * say which prefixes the roles may touch. */
        fprintf(stderr,
                "cai aws deploy: %s is required on the first deploy of stack %s: the functions may read "
                "(write) only under it (pass '' to allow the whole bucket)\n",
                !o->data_prefix ? "--data-prefix" : "--result-prefix", o->stack);
        rc = 2;
    }
    const char *prev_wkey = stack_param(stack, "WeightsKey");
    if (!rc && !o->weights && (!prev_wkey || !*prev_wkey)) {
        int has = zip_has_weights(o->zip, &err);
        if (has < 0) rc = die(&err);
        else if (!has && !o->no_preflight) {
            fprintf(stderr,
                    "cai aws deploy: %s has no weights.safetensors, and no --weights was given%s: every "
                    "worker would fail at init. Pass --weights W.safetensors, or package them with "
                    "scripts/lambda-package.sh --weights W.safetensors\n",
                    o->zip, stack ? " (nor by an earlier deploy)" : "");
            rc = 2;
        }
    }
    if (!rc && !o->no_preflight) rc = preflight_account(o, stack);
    if (rc) cJSON_Delete(stack);
    else *stack_out = stack;
    return rc;
}

/* Upload the package and the weights under content-addressed keys (a new zip is a new key, so CloudFormation
 * sees a change and updates the code), check that weights kept from an earlier deploy are still there, and
 * upload --data's partitions. zkey and wkey (128 bytes; wkey "" without --weights) get the keys. */
static int deploy_upload(opts *o, const cJSON *stack, char *zkey, char *wkey, cai_err *err) {
    char zsha[13], wsha[13] = "", zname[64], wname[64] = "";
    if (file_sha12(o->zip, zsha, err)) return err->code;
    snprintf(zname, sizeof zname, "cai-lambda-%s.zip", zsha);
    snprintf(zkey, 128, "cai/%s", zname);
    if (o->weights) {
        if (file_sha12(o->weights, wsha, err)) return err->code;
        snprintf(wname, sizeof wname, "weights-%s.safetensors", wsha);
        snprintf(wkey, 128, "cai/%s", wname);
    }
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/cai-aws-deploy.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    char *dir = mkdtemp(tmpl);
    if (!dir) return cai_seterr(err, CAI_EIO, "mkdtemp: %s", strerror(errno));
    const char *names[] = {zname, o->weights ? wname : NULL, NULL};
    cai_store *st = NULL;
    int rc = stage_file(o->zip, dir, zname, err);
    if (!rc && o->weights) rc = stage_file(o->weights, dir, wname, err);
    if (!rc) rc = cai_store_open("s3://", &st, err);
    cai_sync_opts so = {.threads = 0, .dry_run = 0, .log = NULL};
    cai_sync_result res;
    char line[256];
    if (!rc) {
        rc = cai_sync_upload(st, dir, o->code_bucket, "cai/", &so, &res, err);
        cai_sync_summary(&res, line, sizeof line);
        printf("code  s3://%s/cai/: %s\n", o->code_bucket, line);
    }
    rm_tree_shallow(dir, names);
    const char *prev_wkey = stack_param(stack, "WeightsKey");
    if (!rc && !o->weights && prev_wkey && *prev_wkey && !o->no_preflight) {
        uint64_t sz;
        cai_err he = {0};
        if (cai_store_head(st, o->code_bucket, prev_wkey, &sz, &he))
            rc = cai_seterr(err, he.code,
                            "the stack's weights s3://%s/%s (kept from the last deploy): %s; pass "
                            "--weights W.safetensors",
                            o->code_bucket, prev_wkey, he.msg);
    }
    if (!rc && o->data_dir) {
        const char *data_prefix = o->data_prefix ? o->data_prefix : stack_param(stack, "DataPrefix");
        if (!data_prefix) data_prefix = "";
        rc = cai_sync_upload(st, o->data_dir, o->data_bucket, data_prefix, &so, &res, err);
        cai_sync_summary(&res, line, sizeof line);
        printf("data  s3://%s/%s: %s\n", o->data_bucket, data_prefix, line);
    }
    cai_store_close(st);
    return rc;
}

/* `aws cloudformation deploy`: only the parameters given, plus the code, which is new whenever the zip is. */
static int deploy_stack(opts *o, int first_deploy, const char *zkey, const char *wkey) {
    cai_err err = {0};
    char p[16][1200];
    int np = 0;
    snprintf(p[np++], sizeof p[0], "CodeBucket=%s", o->code_bucket);
    snprintf(p[np++], sizeof p[0], "CodeKey=%s", zkey);
    if (o->weights || first_deploy) snprintf(p[np++], sizeof p[0], "WeightsKey=%s", wkey);
    snprintf(p[np++], sizeof p[0], "DataBucket=%s", o->data_bucket);
    if (o->data_prefix) snprintf(p[np++], sizeof p[0], "DataPrefix=%s", o->data_prefix);
    snprintf(p[np++], sizeof p[0], "ResultBucket=%s", o->result_bucket);
    if (o->result_prefix) snprintf(p[np++], sizeof p[0], "ResultPrefix=%s", o->result_prefix);
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

static int do_deploy(opts *o) {
    cJSON *stack;
    int rc = deploy_preflight(o, &stack);
    if (rc) return rc;
    char zkey[128], wkey[128] = "";
    cai_err err = {0};
    rc = deploy_upload(o, stack, zkey, wkey, &err);
    int first_deploy = stack == NULL;
    cJSON_Delete(stack);
    if (rc) return die(&err);
    return deploy_stack(o, first_deploy, zkey, wkey);
}

/* ---------------------------------------------------------------- status */

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

static int start_and_follow(opts *o, const char *arn, const char *input);

/* --resume: the run's payload (from the execution's input, or <result_path>/payload.json), the ranks with no
 * complete record, a job list of just those next to the run's, and a new execution that maps over it (the
 * state machine's Resume state skips Initialize) and then summarizes the whole run. */
static int do_resume(opts *o) {
    if (o->npos) return fprintf(stderr, "cai aws run --resume: takes no PAYLOAD.json (the run's own is used)\n"), 2;
    cai_err err = {0};
    char *payload = NULL, sm[1024] = "";
    cai_store *st = NULL;
    int rc = 0;
    if (!strncmp(o->resume, "arn:", 4)) {
        cJSON *desc = NULL;
        const char *a[] = {"stepfunctions", "describe-execution", "--execution-arn", o->resume, NULL};
        if (cai_aws_run(&o->aws, a, &desc, &err)) return die(&err);
        const char *in = jstr(desc, "input"), *sma = jstr(desc, "stateMachineArn");
        if (in) payload = strdup(in);
        if (sma) snprintf(sm, sizeof sm, "%s", sma);
        cJSON_Delete(desc);
        if (!payload) return fprintf(stderr, "cai aws run --resume: execution %s has no input\n", o->resume), 1;
    } else if (!strncmp(o->resume, "s3://", 5) && strchr(o->resume + 5, '/')) {
        const char *b = o->resume + 5, *slash = strchr(b, '/');
        char bucket[256], key[2200];
        snprintf(bucket, sizeof bucket, "%.*s", (int)(slash - b), b);
        snprintf(key, sizeof key, "%s/payload.json", slash + 1);
        uint8_t *d = NULL;
        size_t n = 0;
        if (cai_store_open("s3://", &st, &err) || cai_store_get(st, bucket, key, &d, &n, &err)) {
            cai_store_close(st);
            return die(&err);
        }
        payload = strndup((const char *)d, n);
        free(d);
        if (!payload) {
            cai_store_close(st);
            return fprintf(stderr, "cai aws run --resume: out of memory\n"), 1;
        }
    } else {
        return fprintf(stderr,
                       "cai aws run --resume: expected an execution ARN or s3://BUCKET/RESULT_PATH, got \"%s\"\n",
                       o->resume),
               2;
    }
    if (o->sm_arn) snprintf(sm, sizeof sm, "%s", o->sm_arn);
    else if (o->stack && cai_aws_stack_resource(&o->aws, o->stack, "StateMachine", sm, sizeof sm, &err)) rc = err.code;
    if (!rc && !sm[0])
        rc = cai_seterr(&err, CAI_EARG, "--resume with a run location needs --stack or --state-machine-arn");
    cai_payload p;
    int have_p = 0;
    if (!rc && !(rc = cai_payload_parse(payload, strlen(payload), "the run's payload", &p, &err))) have_p = 1;
    if (!rc && !st) rc = cai_store_open("s3://", &st, &err);
    char **lines = NULL;
    size_t n = 0, total = 0;
    if (!rc) rc = cai_aws_resume_jobs(st, p.bucket, p.result_path, &lines, &n, &total, &err);
    char key[2300] = "";
    cJSON *input = NULL;
    if (!rc && n == 0) {
        printf("nothing to rerun: all %zu ranks of s3://%s/%s are complete\n", total, p.bucket, p.result_path);
    } else if (!rc) {
        /* The job list of the ranks to rerun, beside the run's own: a new key per resume. */
        char stamp[40];
        cai_iso8601(cai_wall_now(), stamp, sizeof stamp);
        for (char *c = stamp; *c; c++)
            if (*c == ':' || *c == '.') *c = '-';
        snprintf(key, sizeof key, "%s/jobs-resume-%s.jsonl", p.result_path, stamp);
        size_t len = 0;
        for (size_t i = 0; i < n; i++) len += strlen(lines[i]) + 1;
        char *buf = malloc(len + 1), *w = buf;
        if (!buf) rc = cai_seterr(&err, CAI_ENOMEM, "out of memory");
        for (size_t i = 0; buf && i < n; i++) w += sprintf(w, "%s\n", lines[i]);
        if (!rc) rc = cai_store_put(st, p.bucket, key, buf, len, &err);
        free(buf);
        if (!rc) {
            printf("resume: %zu of %zu ranks to rerun -> s3://%s/%s\n", n, total, p.bucket, key);
            input = cJSON_Parse(payload);
            cJSON_DeleteItemFromObjectCaseSensitive(input, "cai_resume");
            cJSON *r = cJSON_AddObjectToObject(input, "cai_resume");
            cJSON *jl = cJSON_AddObjectToObject(r, "job_list");
            cJSON_AddStringToObject(jl, "bucket", p.bucket);
            cJSON_AddStringToObject(jl, "key", key);
            cJSON_AddNumberToObject(r, "count", (double)n);
            cJSON_AddStringToObject(r, "of", o->resume);
        }
    }
    for (size_t i = 0; i < n; i++) free(lines[i]);
    free(lines);
    cai_store_close(st);
    if (have_p) cai_payload_free(&p);
    free(payload);
    if (rc) {
        cJSON_Delete(input);
        return die(&err);
    }
    if (!input) return 0;
    char *in = cJSON_PrintUnformatted(input);
    cJSON_Delete(input);
    if (!in) return fprintf(stderr, "cai aws run: out of memory\n"), 1;
    /* A recognisable execution name: resume-<UTC time>-<pid> (unless --name). */
    char nm[80];
    if (!o->name) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        snprintf(nm, sizeof nm, "resume-%04d%02d%02dT%02d%02d%02dZ-%ld", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, (long)getpid());
        o->name = nm;
    }
    int r = start_and_follow(o, sm, in);
    free(in);
    return r;
}

static int do_run(opts *o) {
    if (o->resume) return do_resume(o);
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
    int rc = start_and_follow(o, arn, json);
    free(json);
    return rc;
}

static int start_and_follow(opts *o, const char *arn, const char *input) {
    cai_err err = {0};
    const char *args[10] = {"stepfunctions", "start-execution", "--state-machine-arn", arn, "--input", input};
    int k = 6;
    if (o->name) args[k++] = "--name", args[k++] = o->name;
    args[k] = NULL;
    cJSON *r = NULL;
    if (cai_aws_run(&o->aws, args, &r, &err)) return die(&err);
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

/* By timestamp, then by ingestion order (stable for events of the same millisecond). */
static int cmp_event_time(const void *a, const void *b) {
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    double tx = jnum(x, "timestamp"), ty = jnum(y, "timestamp");
    if (tx != ty) return tx < ty ? -1 : 1;
    double ix = jnum(x, "ingestionTime"), iy = jnum(y, "ingestionTime");
    return ix < iy ? -1 : ix > iy;
}

static int do_logs(opts *o) {
    if (need(o->stack, "--stack", "logs")) return 2;
    if (strcmp(o->stage, "initialize") && strcmp(o->stage, "worker") && strcmp(o->stage, "summarize"))
        return fprintf(stderr, "cai aws logs: --stage: expected initialize, worker or summarize\n"), 2;
    char group[512], start[32];
    snprintf(group, sizeof group, "/aws/lambda/%s-%s", o->stack, o->stage);
    snprintf(start, sizeof start, "%.0f", (cai_wall_now() - o->since_min * 60) * 1000);
    /* No --limit to the API: FilterLogEvents answers oldest first, a limit would stop the CLI's paging at the
     * oldest N, and pages may be empty with a nextToken. The CLI pages through the whole window; we keep the
     * newest N. */
    const char *args[16] = {"logs", "filter-log-events", "--log-group-name", group, "--start-time", start};
    int k = 6;
    if (o->filter) args[k++] = "--filter-pattern", args[k++] = o->filter;
    args[k] = NULL;
    cai_err err = {0};
    cJSON *r = NULL;
    if (cai_aws_run(&o->aws, args, &r, &err)) return die(&err);
    cJSON *events = cJSON_GetObjectItemCaseSensitive(r, "events");
    int total = cJSON_GetArraySize(events);
    const cJSON **sorted = calloc((size_t)(total > 0 ? total : 1), sizeof *sorted);
    if (!sorted) return cJSON_Delete(r), fprintf(stderr, "cai aws logs: out of memory\n"), 1;
    int ns = 0;
    const cJSON *ev;
    cJSON_ArrayForEach(ev, events) sorted[ns++] = ev;
    qsort(sorted, (size_t)ns, sizeof *sorted, cmp_event_time);
    int first = ns > o->limit ? ns - (int)o->limit : 0, n = 0;
    for (int i = first; i < ns; i++) {
        ev = sorted[i];
        char ts[40];
        cai_iso8601(jnum(ev, "timestamp") / 1000.0, ts, sizeof ts);
        const char *m = jstr(ev, "message");
        size_t l = m ? strlen(m) : 0;
        while (l && (m[l - 1] == '\n' || m[l - 1] == '\r')) l--;
        printf("%s %s %.*s\n", ts, jstr(ev, "logStreamName") ? jstr(ev, "logStreamName") : "", (int)l, m ? m : "");
        n++;
    }
    fprintf(stderr, "%d events from %s in the last %.0f min%s\n", n, group, o->since_min,
            ns > n ? " (the newest; --limit shows more)" : "");
    free(sorted);
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

/* ---------------------------------------------------------------- credentials */

static int do_credentials(opts *o) {
    (void)o;
    cai_err err = {0};
    cai_aws_provider *p;
    if (cai_aws_provider_open(&p, &err)) return die(&err);
    cai_aws_creds c;
    int rc = cai_aws_provider_get(p, &c, &err);
    cai_aws_provider_close(p);
    if (rc) return die(&err);
    size_t n = strlen(c.key_id);
    printf("credentials: %s\n", c.source);
    printf("access key:  %.4s%s%s\n", c.key_id, n > 8 ? "..." : "", n > 8 ? c.key_id + n - 4 : "");
    printf("session:     %s\n", c.token[0] ? "temporary (session token)" : "long-term key");
    if (c.expires > 0) {
        char iso[40];
        cai_iso8601(c.expires, iso, sizeof iso);
        printf("expires:     %s (in %.0f s; refreshed 5 min before)\n", iso, c.expires - cai_wall_now());
    }
    char region[64], from[300];
    cai_err re = {0};
    if (cai_aws_region_from(region, sizeof region, from, sizeof from, &re) == 0)
        printf("region:      %s (%s)\n", region, from);
    else printf("region:      us-east-1 (default: %s)\n", re.msg);
    explicit_bzero(&c, sizeof c);
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
    if (!strcmp(sub, "credentials")) return do_credentials(&o);
    fprintf(stderr, "cai aws: unknown subcommand '%s'\n\n", sub);
    usage(stderr);
    return 2;
}
