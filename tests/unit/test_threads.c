/* test_threads.c — a model and a one-thread session start no thread of their own. A worker of `cai run`'s
 * default pool (one process per core, one thread each) must stay one thread: the int8 calibration at load
 * used to run on the default OpenMP team, which left a second, spin-waiting thread in every worker and made
 * the load 10× slower on busy cores. Its own binary, because OpenMP's thread pool lives as long as the
 * process: a test before this one would have started it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/synth.h"
#include "model/model.h"
#include "tmpdir.h"

/* Threads of this process, from /proc/self/task. */
static int nthreads(void) {
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static void test_one_thread_stays_one(void **state) {
    (void)state;
    char dir[CAI_TEST_DIR_MAX], path[CAI_TEST_DIR_MAX + 32];
    assert_int_equal(cai_test_mkdtemp(dir, sizeof dir, "threads"), 0);
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    cai_err e = {0};
    assert_int_equal(cai_weights_random(path, "vitae", 5, &e), CAI_OK);
    assert_int_equal(nthreads(), 1);
    for (int p = 0; p < 2; p++) { /* fp32, then int8 (calibrated at load) */
        cai_model *m = NULL;
        assert_int_equal(cai_model_load(path, p ? CAI_PREC_INT8 : CAI_PREC_FP32, &m, &e), CAI_OK);
        assert_int_equal(nthreads(), 1);
        cai_session *s = cai_session_new(m, 16, 1, &e);
        assert_non_null(s);
        float *img = malloc(16 * CAI_IMG_FLOATS * sizeof(float)), out[16];
        double mags[16 * 5];
        for (int g = 0; g < 16; g++) {
            float z;
            cai_synth_galaxy(3, g, img + (size_t)g * CAI_IMG_FLOATS, mags + 5 * g, &z, NULL);
        }
        assert_int_equal(cai_predict(s, img, mags, CAI_F64, 16, out, &e), CAI_OK);
        assert_int_equal(nthreads(), 1);
        free(img);
        cai_session_free(s);
        cai_model_free(m);
    }
    cai_test_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_one_thread_stays_one)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
