/* test_lambda.c — the Lambda runtime's event handling without HTTP (cai_lambda_handle), its configuration
 * from the environment, and the `cai aws` time parser. The HTTP loop itself is tested against the Runtime
 * API stand-in (tests/integration/lambda_runtime.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "engine/aws.h"
#include "engine/lambda.h"

static void clear_env(void) {
    const char *vars[] = {"CAI_STAGE",         "CAI_STORE",        "CAI_WEIGHTS",
                          "CAI_PRECISION",     "CAI_THREADS",      "CAI_DEADLINE_MARGIN_S",
                          "CAI_WEIGHTS_CACHE", "LAMBDA_TASK_ROOT", "CAI_CALIBRATION"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);
}

static void test_config_defaults_and_errors(void **state) {
    (void)state;
    clear_env();
    cai_lambda_config c;
    cai_err e = {0};
    setenv("LAMBDA_TASK_ROOT", "/var/task", 1);
    assert_int_equal(cai_lambda_config_from_env(&c, &e), 0);
    assert_int_equal(c.stage, CAI_STAGE_AUTO);
    assert_string_equal(c.store_url, "s3://");
    assert_string_equal(c.weights, "/var/task/weights.safetensors");
    assert_true(c.margin_s == 10.0);
    assert_string_equal(c.calibration, ""); /* none unless set */
    setenv("CAI_CALIBRATION", "calib/astromae-v1.json", 1);
    assert_int_equal(cai_lambda_config_from_env(&c, &e), 0);
    assert_string_equal(c.calibration, "calib/astromae-v1.json");
    unsetenv("CAI_CALIBRATION");

    setenv("CAI_STAGE", "Worker", 1);
    assert_int_equal(cai_lambda_config_from_env(&c, &e), 0);
    assert_int_equal(c.stage, CAI_STAGE_WORKER);

    setenv("CAI_STAGE", "mapper", 1);
    assert_int_equal(cai_lambda_config_from_env(&c, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "CAI_STAGE"));
    assert_non_null(strstr(e.msg, "mapper"));
    unsetenv("CAI_STAGE");

    setenv("CAI_DEADLINE_MARGIN_S", "ten", 1);
    assert_int_equal(cai_lambda_config_from_env(&c, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "CAI_DEADLINE_MARGIN_S"));
    setenv("CAI_DEADLINE_MARGIN_S", "-1", 1);
    assert_int_equal(cai_lambda_config_from_env(&c, &e), CAI_EARG);
    unsetenv("CAI_DEADLINE_MARGIN_S");

    setenv("CAI_PRECISION", "fp16", 1);
    assert_int_equal(cai_lambda_config_from_env(&c, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "fp16"));
    clear_env();
}

/* An environment that touches no store or model: echo, or a worker event refused before it starts. */
static cai_lambda_env *env_for(cai_lambda_stage stage) {
    cai_lambda_config c;
    cai_err e = {0};
    clear_env();
    setenv("CAI_STORE", "/nonexistent-store", 1);
    assert_int_equal(cai_lambda_config_from_env(&c, &e), 0);
    c.stage = stage;
    cai_lambda_env *env = NULL;
    assert_int_equal(cai_lambda_env_new(&c, &env, &e), 0);
    clear_env();
    return env;
}

static void test_handle_echo_and_bad_events(void **state) {
    (void)state;
    cai_lambda_env *env = env_for(CAI_STAGE_ECHO);
    char *resp, *ej;
    const char *et;
    const char *ok = "{\"a\": [1, 2]}";
    assert_int_equal(cai_lambda_handle(env, ok, strlen(ok), 0, &resp, &ej, &et), 0);
    assert_null(ej);
    cJSON *r = cJSON_Parse(resp);
    assert_non_null(r);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "event"), "a")), 2);
    cJSON_Delete(r);
    free(resp);

    const char *bad[] = {"{\"a\": ", "[1, 2]", "", "nul"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = cai_lambda_handle(env, bad[i], strlen(bad[i]), 0, &resp, &ej, &et);
        assert_int_equal(rc, CAI_EFORMAT);
        assert_null(resp);
        assert_string_equal(et, "CAI.BadFormat");
        cJSON *j = cJSON_Parse(ej);
        assert_non_null(j);
        assert_string_equal(cJSON_GetObjectItem(j, "errorType")->valuestring, "CAI.BadFormat");
        assert_non_null(strstr(cJSON_GetObjectItem(j, "errorMessage")->valuestring, "event"));
        cJSON_Delete(j);
        free(ej);
    }
    /* Embedded NUL: the length, not strlen, bounds the parse. */
    const char nul[] = "{\"a\":1}\0garbage";
    assert_int_equal(cai_lambda_handle(env, nul, sizeof nul - 1, 0, &resp, &ej, &et), CAI_EFORMAT);
    free(ej);
    assert_int_equal(cai_lambda_env_loads(env), 0);
    cai_lambda_env_free(env);
}

static void test_worker_refused_near_deadline(void **state) {
    (void)state;
    cai_lambda_env *env = env_for(CAI_STAGE_AUTO);
    char *resp, *ej;
    const char *et;
    const char *job = "{\"RANK\": \"3\", \"WORLD_SIZE\": \"4\", \"DATA_PATH\": [\"p/7.pt\", \"p/8.pt\"]}";
    /* 2 s left, margin 10 s: not started, no model loaded, every partition unfinished. */
    int rc = cai_lambda_handle(env, job, strlen(job), cai_wall_now() + 2, &resp, &ej, &et);
    assert_int_equal(rc, CAI_ETIMEOUT);
    assert_string_equal(et, "CAI.DeadlineExceeded");
    cJSON *j = cJSON_Parse(ej);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "rank")->valuestring, "3");
    cJSON *un = cJSON_GetObjectItem(j, "unfinished");
    assert_int_equal(cJSON_GetArraySize(un), 2);
    assert_string_equal(cJSON_GetArrayItem(un, 1)->valuestring, "p/8.pt");
    assert_non_null(strstr(cJSON_GetObjectItem(j, "errorMessage")->valuestring, "nothing was written"));
    cJSON_Delete(j);
    free(ej);
    assert_int_equal(cai_lambda_env_loads(env), 0);

    /* A single-key DATA_PATH and a null one. */
    const char *one = "{\"RANK\": \"0\", \"DATA_PATH\": \"p/1.pt\"}", *none = "{\"RANK\": \"1\", \"DATA_PATH\": null}";
    assert_int_equal(cai_lambda_handle(env, one, strlen(one), cai_wall_now() - 1, &resp, &ej, &et), CAI_ETIMEOUT);
    j = cJSON_Parse(ej);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "unfinished")), 1);
    cJSON_Delete(j);
    free(ej);
    assert_int_equal(cai_lambda_handle(env, none, strlen(none), cai_wall_now(), &resp, &ej, &et), CAI_ETIMEOUT);
    j = cJSON_Parse(ej);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "unfinished")), 0);
    cJSON_Delete(j);
    free(ej);
    cai_lambda_env_free(env);
}

static void test_summarize_event_needs_fields(void **state) {
    (void)state;
    cai_lambda_env *env = env_for(CAI_STAGE_SUMMARIZE);
    char *resp, *ej;
    const char *et;
    const char *ev = "{\"bucket\": \"b\"}";
    int rc = cai_lambda_handle(env, ev, strlen(ev), 0, &resp, &ej, &et);
    /* The store path does not exist: either the store refuses to open or the event is refused first;
     * both are clean errors with a JSON body. */
    assert_int_not_equal(rc, 0);
    assert_null(resp);
    cJSON *j = cJSON_Parse(ej);
    assert_non_null(j);
    assert_non_null(cJSON_GetObjectItem(j, "errorMessage"));
    cJSON_Delete(j);
    free(ej);
    cai_lambda_env_free(env);
}

static void test_error_types_and_stage_names(void **state) {
    (void)state;
    assert_string_equal(cai_lambda_error_type(CAI_EPAYLOAD), "CAI.BadPayload");
    assert_string_equal(cai_lambda_error_type(CAI_ETIMEOUT), "CAI.DeadlineExceeded");
    assert_string_equal(cai_lambda_error_type(CAI_ENET), "CAI.Network");
    /* Permanent and retryable S3 errors are different types: the state machine retries only the latter. */
    assert_string_equal(cai_lambda_error_type(CAI_ES3), "CAI.S3");
    assert_string_equal(cai_lambda_error_type(CAI_ES3_RETRY), "CAI.S3Transient");
    for (int c = 0; c < CAI_ECODE_COUNT; c++) assert_non_null(strstr(cai_lambda_error_type((cai_code)c), "CAI."));
    cai_lambda_stage s;
    assert_int_equal(cai_lambda_stage_parse("summarize", &s), 0);
    assert_int_equal(s, CAI_STAGE_SUMMARIZE);
    assert_string_equal(cai_lambda_stage_name(s), "summarize");
    assert_int_equal(cai_lambda_stage_parse("", &s), -1);
}

static void test_runtime_api_address_is_checked(void **state) {
    (void)state;
    cai_lambda_rt *rt = NULL;
    cai_err e = {0};
    assert_int_equal(cai_lambda_rt_open(NULL, &rt, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "AWS_LAMBDA_RUNTIME_API"));
    assert_int_equal(cai_lambda_rt_open("127.0.0.1:9001/../x", &rt, &e), CAI_EARG);
    assert_int_equal(cai_lambda_rt_open("host:1 -X", &rt, &e), CAI_EARG);
    assert_null(rt);
    assert_int_equal(cai_lambda_rt_open("127.0.0.1:9001", &rt, &e), 0);
    cai_lambda_rt_close(rt);
}

static void test_aws_time(void **state) {
    (void)state;
    cJSON *v = cJSON_CreateString("2026-11-25T16:00:00.250000+00:00");
    double t = cai_aws_time(v);
    cJSON_Delete(v);
    assert_true(t > 0);
    v = cJSON_CreateString("2026-11-25T17:00:01.250+01:00");
    double t2 = cai_aws_time(v);
    cJSON_Delete(v);
    assert_true(t2 - t > 0.999 && t2 - t < 1.001);
    v = cJSON_CreateString("1970-01-02T00:00:00Z");
    assert_true(cai_aws_time(v) == 86400.0);
    cJSON_Delete(v);
    v = cJSON_CreateNumber(1795623859.031);
    assert_true(cai_aws_time(v) == 1795623859.031);
    cJSON_Delete(v);
    const char *bad[] = {"2026-11-25",
                         "2026-13-01T00:00:00Z",
                         "2026-11-25T16:00:00+0100",
                         "2026-11-25T16:00:00Zjunk",
                         "2026-11-25T16:00:00.Z",
                         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = cJSON_CreateString(bad[i]);
        assert_true(cai_aws_time(v) == -1);
        cJSON_Delete(v);
    }
    assert_true(cai_aws_time(NULL) == -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults_and_errors),
        cmocka_unit_test(test_handle_echo_and_bad_events),
        cmocka_unit_test(test_worker_refused_near_deadline),
        cmocka_unit_test(test_summarize_event_needs_fields),
        cmocka_unit_test(test_error_types_and_stage_names),
        cmocka_unit_test(test_runtime_api_address_is_checked),
        cmocka_unit_test(test_aws_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
