/* test_runlock.c — a run's identity and its lock on result_path (src/pipeline/runlock.h) over the local
 * store: one winner among racing processes, a refusal that names the holder, stale locks taken over only
 * with force, a live holder never broken, release only of our own lock; and put_new's create-if-absent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipeline/runlock.h"
#include "store/store.h"
#include "tmpdir.h"

static char root[CAI_TEST_DIR_MAX];
static cai_store *st;

static int setup(void **state) {
    (void)state;
    if (cai_test_mkdtemp(root, sizeof root, "lock")) return -1;
    cai_err e = {0};
    return cai_store_open(root, &st, &e) ? -1 : 0;
}

static int teardown(void **state) {
    (void)state;
    cai_store_close(st);
    return cai_test_rmtree(root);
}

static void test_put_new_creates_only_once(void **state) {
    (void)state;
    cai_err e = {0};
    assert_int_equal(cai_store_put_new(st, "b", "r/x", "one", 3, &e), CAI_OK);
    assert_int_equal(cai_store_put_new(st, "b", "r/x", "two", 3, &e), CAI_EBUSY);
    uint8_t *d;
    size_t n;
    assert_int_equal(cai_store_get(st, "b", "r/x", &d, &n, &e), CAI_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(d, "one", 3);
    free(d);
    cai_keylist kl;
    assert_int_equal(cai_store_list(st, "b", "r/", &kl, &e), CAI_OK);
    assert_int_equal(kl.n, 1); /* no temp file left behind */
    cai_keylist_free(&kl);
}

static void test_run_ids_differ(void **state) {
    (void)state;
    char a[CAI_RUN_ID_MAX], b[CAI_RUN_ID_MAX];
    cai_run_id_new(a);
    cai_run_id_new(b);
    assert_string_not_equal(a, b);
    assert_true(strlen(a) > 20);
}

/* 8 processes race for one result_path: exactly one wins. */
static void test_one_winner_among_racers(void **state) {
    (void)state;
    int wins = 0;
    pid_t kids[8];
    for (int i = 0; i < 8; i++) {
        if ((kids[i] = fork()) == 0) {
            char id[CAI_RUN_ID_MAX];
            snprintf(id, sizeof id, "racer-%d", i);
            cai_run_lock lk;
            cai_err e = {0};
            _exit(cai_run_lock_acquire(st, "b", "res/1", id, 0, &lk, &e) == CAI_OK ? 0 : 1);
        }
    }
    for (int i = 0; i < 8; i++) {
        int status;
        waitpid(kids[i], &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) wins++;
    }
    assert_int_equal(wins, 1);
}

static void test_second_run_is_refused_by_name(void **state) {
    (void)state;
    cai_run_lock a, b;
    cai_err e = {0};
    assert_int_equal(cai_run_lock_acquire(st, "b", "res/1", "run-a", 0, &a, &e), CAI_OK);
    assert_int_equal(cai_run_lock_acquire(st, "b", "res/1", "run-b", 0, &b, &e), CAI_EBUSY);
    char want[64];
    snprintf(want, sizeof want, "pid %ld on host", (long)getpid());
    assert_non_null(strstr(e.msg, "in use by run run-a"));
    assert_non_null(strstr(e.msg, want));
    /* force never breaks a holder that is alive on this host (here: ourselves) */
    assert_int_equal(cai_run_lock_acquire(st, "b", "res/1", "run-b", 1, &b, &e), CAI_EBUSY);
    /* the same run id again (a store-level retry of our own create) holds it */
    cai_run_lock a2;
    assert_int_equal(cai_run_lock_acquire(st, "b", "res/1", "run-a", 0, &a2, &e), CAI_OK);
    cai_run_lock_release(st, &a);
    assert_int_equal(cai_store_head(st, "b", "res/1/" CAI_RUN_LOCK_NAME, NULL, &e), CAI_ENOTFOUND);
    assert_int_equal(cai_run_lock_acquire(st, "b", "res/1", "run-b", 0, &b, &e), CAI_OK);
    cai_run_lock_release(st, &b);
}

static void test_stale_lock_needs_force(void **state) {
    (void)state;
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    char host[256];
    gethostname(host, sizeof host);
    char body[512];
    snprintf(body, sizeof body,
             "{\"run_id\":\"crashed\",\"pid\":%d,\"host\":\"%s\",\"start_iso\":\"2026-01-01T00:00:00Z\"}", (int)dead,
             host);
    cai_err e = {0};
    assert_int_equal(cai_store_put(st, "b", "res/1/" CAI_RUN_LOCK_NAME, body, strlen(body), &e), CAI_OK);
    cai_run_lock lk;
    assert_int_equal(cai_run_lock_acquire(st, "b", "res/1", "new", 0, &lk, &e), CAI_EBUSY);
    assert_non_null(strstr(e.msg, "stale"));
    /* a resumed run reuses the crashed run's id: the same id from another process is still not ours */
    assert_int_equal(cai_run_lock_acquire(st, "b", "res/1", "crashed", 0, &lk, &e), CAI_EBUSY);
    assert_non_null(strstr(e.msg, "stale"));
    assert_non_null(strstr(e.msg, "--force"));
    assert_int_equal(cai_run_lock_acquire(st, "b", "res/1", "new", 1, &lk, &e), CAI_OK);
    /* someone else takes it over (--force elsewhere): our release leaves theirs alone */
    const char *other = "{\"run_id\":\"other\",\"pid\":1,\"host\":\"elsewhere\"}";
    assert_int_equal(cai_store_put(st, "b", "res/1/" CAI_RUN_LOCK_NAME, other, strlen(other), &e), CAI_OK);
    cai_run_lock_release(st, &lk);
    assert_int_equal(cai_store_head(st, "b", "res/1/" CAI_RUN_LOCK_NAME, NULL, &e), CAI_OK);
}

/* A detached lock (the stages run by different processes): held by the run, named by what holds it, released
 * by run id from any process, broken only with force. */
static void test_detached_lock(void **state) {
    (void)state;
    cai_run_lock a, b;
    cai_err e = {0};
    assert_int_equal(cai_run_lock_acquire_detached(st, "b", "res/1", "run-a", "slurm job 17", 0, &a, &e), CAI_OK);
    /* a store-level retry of our own create holds it; the same run id with another holder does not */
    assert_int_equal(cai_run_lock_acquire_detached(st, "b", "res/1", "run-a", "slurm job 17", 0, &b, &e), CAI_OK);
    assert_int_equal(cai_run_lock_acquire_detached(st, "b", "res/1", "run-a", "slurm job 18", 0, &b, &e), CAI_EBUSY);
    /* another run is refused, and told what holds it */
    assert_int_equal(cai_run_lock_acquire(st, "b", "res/1", "run-b", 0, &b, &e), CAI_EBUSY);
    assert_non_null(strstr(e.msg, "in use by run run-a (slurm job 17 from host "));
    assert_non_null(strstr(e.msg, "--force"));
    /* this process's release of a detached lock is a no-op: only the run's Summarize releases it */
    cai_run_lock_release(st, &a);
    assert_int_equal(cai_store_head(st, "b", "res/1/" CAI_RUN_LOCK_NAME, NULL, &e), CAI_OK);
    /* release by another run's id: refused, lock kept */
    assert_int_equal(cai_run_lock_release_run(st, "b", "res/1", "run-b", &e), CAI_EBUSY);
    assert_non_null(strstr(e.msg, "locked by run run-a"));
    assert_int_equal(cai_store_head(st, "b", "res/1/" CAI_RUN_LOCK_NAME, NULL, &e), CAI_OK);
    /* by its own id: gone; again: nothing to do */
    assert_int_equal(cai_run_lock_release_run(st, "b", "res/1", "run-a", &e), CAI_OK);
    assert_int_equal(cai_store_head(st, "b", "res/1/" CAI_RUN_LOCK_NAME, NULL, &e), CAI_ENOTFOUND);
    assert_int_equal(cai_run_lock_release_run(st, "b", "res/1", "run-a", &e), CAI_OK);
    /* force breaks a detached lock (its holder cannot be checked from here) */
    assert_int_equal(cai_run_lock_acquire_detached(st, "b", "res/1", "run-c", "cai initialize", 0, &a, &e), CAI_OK);
    assert_int_equal(cai_run_lock_acquire(st, "b", "res/1", "run-d", 1, &b, &e), CAI_OK);
    cai_run_lock_release(st, &b);
    assert_int_equal(cai_store_head(st, "b", "res/1/" CAI_RUN_LOCK_NAME, NULL, &e), CAI_ENOTFOUND);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_new_creates_only_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_ids_differ, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_winner_among_racers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_run_is_refused_by_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_lock_needs_force, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detached_lock, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
