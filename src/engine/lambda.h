/* lambda.h — the AWS Lambda custom runtime behind `bootstrap` (`cai lambda`): the Runtime API client,
 * the per-execution-environment state (the model, loaded once) and the dispatch of each event to a stage.
 * Owns: HTTP to $AWS_LAMBDA_RUNTIME_API (next / response / error / init error), request ids, deadlines,
 * the event and response JSON of the three functions. Its log lines (CloudWatch keeps the process's stderr)
 * go through common/diag.h, which `cai lambda` prints. Must not touch: what the stages do (pipeline/), the
 * model's internals (model/), how bytes reach S3 (store/). */
#ifndef CAI_LAMBDA_H
#define CAI_LAMBDA_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "../common/err.h"
#include "../model/model.h"

/* Largest event we accept (Lambda's synchronous payload limit is 6 MB) and the largest answer we read
 * from the Runtime API after a POST. Anything longer is a protocol error, not something to buffer. */
#define CAI_LAMBDA_MAX_EVENT (6u * 1024 * 1024 + 65536)
#define CAI_LAMBDA_MAX_REPLY 65536
/* Step Functions' state payload limit: the Initialize and Summarize answers must stay below it. */
#define CAI_LAMBDA_STATE_LIMIT (256u * 1024)

typedef enum {
    CAI_STAGE_AUTO = 0, /* infer from the event: RANK → worker, file_limit → initialize, else summarize */
    CAI_STAGE_INITIALIZE,
    CAI_STAGE_WORKER,
    CAI_STAGE_SUMMARIZE,
    CAI_STAGE_ECHO /* diagnostic: answer with the event and the runtime's state; touches no data */
} cai_lambda_stage;

/* Configuration, normally from the function's environment (cai_lambda_config_from_env):
 *   CAI_STAGE        initialize | worker | summarize | auto | echo      (template sets one per function)
 *   CAI_STORE        store URL, default "s3://" (the payload's buckets as they are)
 *   CAI_WEIGHTS      local path or s3://BUCKET/KEY; default $LAMBDA_TASK_ROOT/weights.safetensors
 *   CAI_PRECISION    auto | fp32 | int8 (default auto: int8 where the CPU has VNNI)
 *   CAI_THREADS      worker threads, 0 = all vCPUs
 *   CAI_DEADLINE_MARGIN_S  seconds kept free before the invocation deadline (default 10)
 *   CAI_WEIGHTS_CACHE      where S3 weights are downloaded (default /tmp/cai-weights.safetensors)
 *   CAI_CALIBRATION        calib.json from `cai calibrate` (a path in the package or a key in the run's
 *                          bucket): worker and summarize add the calibrated columns (unset: the payload's) */
typedef struct {
    cai_lambda_stage stage;
    char store_url[1024];
    char weights[1024];
    char weights_cache[1024];
    char calibration[1024]; /* "" when unset */
    cai_precision precision;
    int threads;
    double margin_s;
} cai_lambda_config;

int cai_lambda_config_from_env(cai_lambda_config *c, cai_err *err);
const char *cai_lambda_stage_name(cai_lambda_stage s);
int cai_lambda_stage_parse(const char *s, cai_lambda_stage *out);

/* ---- Runtime API client (one connection, reused) ---- */
typedef struct cai_lambda_rt cai_lambda_rt;

typedef struct {
    char request_id[128]; /* validated: [A-Za-z0-9._-], it goes into URL paths */
    int64_t deadline_ms;  /* Unix milliseconds from Lambda-Runtime-Deadline-Ms; 0 when absent */
    char trace_id[256];   /* Lambda-Runtime-Trace-Id, exported as _X_AMZN_TRACE_ID */
    char *body;           /* NUL-terminated; len excludes the NUL */
    size_t len;
} cai_lambda_event;

/* api: host:port, as in $AWS_LAMBDA_RUNTIME_API. */
int cai_lambda_rt_open(const char *api, cai_lambda_rt **out, cai_err *err);
void cai_lambda_rt_close(cai_lambda_rt *rt);
/* Blocks until the next invocation (long poll: no timeout). */
int cai_lambda_next(cai_lambda_rt *rt, cai_lambda_event *ev, cai_err *err);
void cai_lambda_event_free(cai_lambda_event *ev);
int cai_lambda_respond(cai_lambda_rt *rt, const char *request_id, const char *json, size_t len, cai_err *err);
/* error_json: {"errorMessage","errorType",...}; type also goes into Lambda-Runtime-Function-Error-Type. */
int cai_lambda_fail(cai_lambda_rt *rt, const char *request_id, const char *type, const char *error_json, cai_err *err);
int cai_lambda_init_error(cai_lambda_rt *rt, const char *type, const char *error_json, cai_err *err);

/* ---- Handling one event (no HTTP: unit-testable) ---- */
typedef struct cai_lambda_env cai_lambda_env; /* one per execution environment */

/* Set up the environment. With stage worker the weights are loaded here (an error is an init error);
 * with auto they are loaded on the first worker event, once. */
int cai_lambda_env_new(const cai_lambda_config *c, cai_lambda_env **out, cai_err *err);
void cai_lambda_env_free(cai_lambda_env *e);
/* How many times this environment loaded weights (the test pins it at 1). */
int cai_lambda_env_loads(const cai_lambda_env *e);

/* Run one event. On success *response is the JSON answer (heap). On failure *error_json (heap) is the
 * {"errorMessage","errorType",...} body, *error_type its errorType, and the return is the cai_code.
 * deadline_unix: 0 = none. */
int cai_lambda_handle(cai_lambda_env *e, const char *body, size_t len, double deadline_unix, char **response,
                      char **error_json, const char **error_type);

/* errorType for a code: "CAI.BadPayload", "CAI.DeadlineExceeded", ... (Step Functions Retry/Catch match it). */
const char *cai_lambda_error_type(cai_code code);

/* Report a failure that happened before the loop could start (e.g. a bad CAI_* variable) through
 * POST /runtime/init/error, so it shows in the function's logs and the invoke result. Best effort. */
void cai_lambda_report_init_error(const char *api, const cai_err *e);

/* The loop: open the Runtime API, set up the environment (init error on failure), then next → handle →
 * response/error, max_events times (0 = until the Runtime API goes away). */
int cai_lambda_main(const char *api, const cai_lambda_config *c, long max_events, cai_err *err);

#endif
