/* test_metrics.c — photo-z metrics on values worked out by hand (see the comments). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/metrics.h"

static void test_known_values(void **state) {
    (void)state;
    /* p − z = [0, .1, .1, 0]; Δ = [0, .1/1.1, .1/1.2, 0] = [0, .090909, .083333, 0]
     * MAE .05; MSE .005; bias = .174242/4 = .0435606; median Δ = (0 + .083333)/2 = .0416667;
     * |Δ − med| = [.0416667, .0492424, .0416667, .0416667] → median .0416667 → σ_NMAD = 1.48 × that = .0616667;
     * mean z = .225, Σ(z − z̄)² = .1075 → R² = 1 − .02/.1075 = .8139535; |Δ| > .05 for 2 of 4 → η = .5 */
    float p[] = {0.1f, 0.2f, 0.3f, 0.5f}, z[] = {0.1f, 0.1f, 0.2f, 0.5f};
    cai_metrics m;
    cai_err e = {0};
    assert_int_equal(cai_metrics_compute(p, z, 4, &m, &e), CAI_OK);
    assert_int_equal(m.n, 4);
    assert_float_equal(m.mae, 0.05, 1e-6);
    assert_float_equal(m.mse, 0.005, 1e-6);
    assert_float_equal(m.bias, 0.0435606, 1e-6);
    assert_float_equal(m.sigma_nmad, 0.0616667, 1e-6);
    assert_float_equal(m.r2, 0.8139535, 1e-5);
    assert_float_equal(m.eta, 0.5, 1e-12);
    assert_int_equal(m.outliers, 2);
}

static void test_odd_count_median_and_perfect(void **state) {
    (void)state;
    float z[] = {0.05f, 0.1f, 0.2f};
    cai_metrics m;
    assert_int_equal(cai_metrics_compute(z, z, 3, &m, NULL), CAI_OK);
    assert_float_equal(m.mae, 0, 1e-12);
    assert_float_equal(m.sigma_nmad, 0, 1e-12);
    assert_float_equal(m.r2, 1, 1e-12);
    assert_float_equal(m.eta, 0, 1e-12);
    /* odd n: the middle value. Δ = [.1/1.05, 0, 0] → median 0; |Δ| = [.095238, 0, 0] → median 0 */
    float p[] = {0.15f, 0.1f, 0.2f};
    assert_int_equal(cai_metrics_compute(p, z, 3, &m, NULL), CAI_OK);
    assert_float_equal(m.sigma_nmad, 0, 1e-7);
    assert_int_equal(m.outliers, 1);
}

static void test_non_finite_pairs_are_skipped(void **state) {
    (void)state;
    float p[] = {0.1f, NAN, 0.3f, INFINITY}, z[] = {0.1f, 0.2f, NAN, 0.1f};
    cai_metrics m;
    assert_int_equal(cai_metrics_compute(p, z, 4, &m, NULL), CAI_OK);
    assert_int_equal(m.n, 1);
    assert_int_equal(m.skipped, 3);
    assert_float_equal(m.mae, 0, 1e-12);
    assert_true(isnan(m.r2)); /* one z: no variance */
}

static void test_empty_is_nan_not_error(void **state) {
    (void)state;
    cai_metrics m;
    assert_int_equal(cai_metrics_compute(NULL, NULL, 0, &m, NULL), CAI_OK);
    assert_int_equal(m.n, 0);
    assert_true(isnan(m.mae) && isnan(m.sigma_nmad) && isnan(m.eta));
    cJSON *j = cai_metrics_json(&m);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "mae"))); /* NaN is not valid JSON: null */
    assert_int_equal(cJSON_GetObjectItem(j, "n")->valueint, 0);
    cJSON_Delete(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_odd_count_median_and_perfect),
        cmocka_unit_test(test_non_finite_pairs_are_skipped),
        cmocka_unit_test(test_empty_is_nan_not_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
