/* test_aws_creds.c — the network-free parts of the AWS credential chain and the deploy pre-flight: the INI
 * reader of ~/.aws/credentials and ~/.aws/config on good and hostile files, the profile link and the Region
 * from files (no network: IMDS is disabled), the error that lists every link, and the concurrency rule.
 * The HTTP links (container, IMDSv2) and refresh run against stand-ins in tests/integration/aws_creds.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/aws.h"
#include "store/aws_creds.h"

typedef struct {
    char keys[8][64], vals[8][128];
    int n;
} kv_list;

static void on_kv(void *ctx, const char *k, const char *v) {
    kv_list *l = ctx;
    if (l->n < 8) {
        snprintf(l->keys[l->n], sizeof l->keys[0], "%s", k);
        snprintf(l->vals[l->n], sizeof l->vals[0], "%s", v);
        l->n++;
    }
}

static int ini(const char *text, const char *section, int is_config, kv_list *l, cai_err *e) {
    memset(l, 0, sizeof *l);
    return cai_aws_ini_section(text, strlen(text), "test.ini", section, is_config, on_kv, l, e);
}

static void test_ini_good(void **state) {
    (void)state;
    kv_list l;
    cai_err e = {0};
    const char *cred = "# comment\n; another\n[default]\naws_access_key_id=A\n\n[dev]\naws_access_key_id = B  \r\n"
                       "aws_secret_access_key=c=d\n";
    assert_int_equal(ini(cred, "dev", 0, &l, &e), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.keys[0], "aws_access_key_id");
    assert_string_equal(l.vals[1], "c=d"); /* only the first '=' splits */
    /* config: [profile dev], [default] as is; nested settings (indented) are skipped */
    const char *conf = "[default]\nregion=us-west-1\n[profile   dev]\nregion = eu-west-2\ns3 =\n  max_concurrent_requests = 20\n";
    assert_int_equal(ini(conf, "dev", 1, &l, &e), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.vals[0], "eu-west-2");
    assert_string_equal(l.keys[1], "s3");
    assert_int_equal(ini(conf, "default", 1, &l, &e), 0);
    assert_string_equal(l.vals[0], "us-west-1");
    /* [dev] in a config file is not the profile dev */
    assert_int_equal(ini("[dev]\nregion=x\n", "dev", 1, &l, &e), CAI_ENOTFOUND);
    assert_int_equal(ini("", "default", 0, &l, &e), CAI_ENOTFOUND);
}

static void test_ini_hostile(void **state) {
    (void)state;
    kv_list l;
    cai_err e = {0};
    assert_int_equal(ini("[default\nx=y\n", "default", 0, &l, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "test.ini line 1: expected [section]"));
    assert_int_equal(ini("[default]\njust words\n", "default", 0, &l, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "line 2: expected key = value"));
    char *big = malloc(10000);
    memset(big, 'a', 9999);
    big[9999] = 0;
    memcpy(big, "[default]\nk=", 12);
    assert_int_equal(ini(big, "default", 0, &l, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "longer than"));
    free(big);
    const char nul[] = "[default]\nk=v\0w\n";
    memset(&l, 0, sizeof l);
    assert_int_equal(cai_aws_ini_section(nul, sizeof nul - 1, "test.ini", "default", 0, on_kv, &l, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "NUL"));
}

static char dir[] = "/tmp/test_aws_creds.XXXXXX";

static void write_file(const char *name, const char *text) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void clean_env(void) {
    static const char *const vars[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                                       "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
                                       "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                       NULL};
    for (int i = 0; vars[i]; i++) unsetenv(vars[i]);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    char p[256];
    snprintf(p, sizeof p, "%s/credentials", dir);
    setenv("AWS_SHARED_CREDENTIALS_FILE", p, 1);
    snprintf(p, sizeof p, "%s/config", dir);
    setenv("AWS_CONFIG_FILE", p, 1);
}

static void test_chain_files(void **state) {
    (void)state;
    assert_non_null(mkdtemp(dir));
    clean_env();
    cai_err e = {0};
    cai_aws_provider *p = NULL;
    /* nothing: the error lists every link */
    assert_int_equal(cai_aws_provider_open(&p, &e), CAI_EAUTH);
    assert_non_null(strstr(e.msg, "Tried: environment"));
    assert_non_null(strstr(e.msg, "container credentials"));
    assert_non_null(strstr(e.msg, "AWS_EC2_METADATA_DISABLED=true"));
    write_file("credentials", "[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = s\n");
    write_file("config", "[default]\nregion = sa-east-1\n[profile half]\naws_access_key_id = AKIAHALF\n");
    assert_int_equal(cai_aws_provider_open(&p, &e), 0);
    cai_aws_creds c;
    assert_int_equal(cai_aws_provider_get(p, &c, &e), 0);
    assert_string_equal(c.key_id, "AKIAFILE");
    assert_string_equal(c.token, "");
    assert_true(c.expires == 0);
    assert_int_equal(cai_aws_provider_fetches(p), 1);
    cai_aws_provider_close(p);
    char region[64];
    assert_int_equal(cai_aws_region(region, sizeof region, &e), 0);
    assert_string_equal(region, "sa-east-1");
    setenv("AWS_REGION", "ap-northeast-1", 1);
    assert_int_equal(cai_aws_region(region, sizeof region, &e), 0);
    assert_string_equal(region, "ap-northeast-1"); /* the environment wins */
    /* a profile with a key id and no secret */
    setenv("AWS_PROFILE", "half", 1);
    assert_int_equal(cai_aws_provider_open(&p, &e), CAI_EAUTH);
    assert_non_null(strstr(e.msg, "without aws_secret_access_key"));
    /* the environment before any file; ':' in a key id is refused (curl splits USERPWD there) */
    setenv("AWS_ACCESS_KEY_ID", "AKIA:BAD", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "s", 1);
    assert_int_equal(cai_aws_provider_open(&p, &e), CAI_EAUTH);
    assert_non_null(strstr(e.msg, "contains ':'"));
    clean_env();
    char p1[256], p2[256];
    snprintf(p1, sizeof p1, "%s/credentials", dir);
    snprintf(p2, sizeof p2, "%s/config", dir);
    unlink(p1);
    unlink(p2);
    rmdir(dir);
}

static void test_concurrency_rule(void **state) {
    (void)state;
    cai_err e = {0};
    cai_aws_concurrency ok = {.account_limit = 1000, .unreserved = 1000, .reserved = 50, .max_concurrency = 50};
    assert_int_equal(cai_aws_check_concurrency(&ok, &e), 0);
    cai_aws_concurrency tiny = {.account_limit = 10, .unreserved = 10, .reserved = 50, .max_concurrency = 50};
    assert_int_equal(cai_aws_check_concurrency(&tiny, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "WorkerReservedConcurrency=0"));
    /* without a reservation, a small account can still run a few at once */
    cai_aws_concurrency none = {.account_limit = 10, .unreserved = 10, .reserved = 0, .max_concurrency = 5};
    assert_int_equal(cai_aws_check_concurrency(&none, &e), 0);
    none.max_concurrency = 6;
    assert_int_equal(cai_aws_check_concurrency(&none, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "half the account's Lambda concurrency"));
    /* a redeploy gets its own reservation back before the check */
    cai_aws_concurrency re = {.account_limit = 150, .unreserved = 100, .own_reserved = 50, .reserved = 50, .max_concurrency = 50};
    assert_int_equal(cai_aws_check_concurrency(&re, &e), 0);
    re.own_reserved = 0;
    assert_int_equal(cai_aws_check_concurrency(&re, &e), CAI_EARG);
    cai_aws_concurrency over = {.account_limit = 1000, .unreserved = 1000, .reserved = 50, .max_concurrency = 51};
    assert_int_equal(cai_aws_check_concurrency(&over, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "reserved concurrency"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ini_good),
        cmocka_unit_test(test_ini_hostile),
        cmocka_unit_test(test_chain_files),
        cmocka_unit_test(test_concurrency_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
