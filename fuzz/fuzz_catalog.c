/* fuzz_catalog.c — libFuzzer target for the catalog's outside inputs: a calibration file (cai_calib_parse;
 * whatever it accepts must apply to any prediction without producing inverted intervals or a probability
 * outside [0, 1]) and a predictions file (cai_predictions_parse; every row it accepts must write back and
 * parse to the same values). The first byte picks the parser. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/calibrate.h"
#include "pipeline/predictions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int take_row(const cai_pred_row *r, void *ctx) {
    *(cai_pred_row *)ctx = *r;
    return 0;
}

static int same_f(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

/* Every accepted row writes back and parses to the same values. */
static int round_trip(const cai_pred_row *r, void *ctx) {
    (*(int *)ctx)++;
    char *buf;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    cai_pred_header_write(f, r->cols);
    cai_pred_row_write(f, r, r->cols);
    fclose(f);
    cai_pred_row b;
    cai_err e = {0};
    if (cai_predictions_parse(buf, len, "rt.csv", take_row, &b, &e) != CAI_OK) abort();
    if (b.galaxy_id != r->galaxy_id || b.partition != r->partition || b.index != r->index || b.flags != r->flags ||
        b.has_objid != r->has_objid || (r->has_objid && b.objid != r->objid) || !same_f(b.prediction, r->prediction) ||
        !same_f(b.ra, r->ra) || !same_f(b.dec, r->dec) || !same_f(b.z_std, r->z_std))
        abort();
    for (int k = 0; k < CAI_CAL_N; k++)
        if (!same_f(b.cal[k], r->cal[k])) abort();
    free(buf);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int which = data[0] & 1;
    char *p = malloc(size);
    memcpy(p, data + 1, size - 1);
    p[size - 1] = 0;
    cai_err err = {0};
    if (which == 0) {
        cai_calib c;
        if (cai_calib_parse(p, size - 1, "fuzz.json", &c, &err) == CAI_OK) {
            const float probes[] = {-1.0f, 0.0f, 0.05f, 0.2f, 1.0f, 7.0f, NAN};
            for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
                cai_pred_row r;
                cai_pred_row_init(&r);
                r.prediction = probes[i];
                r.mag[2] = 17.0f;
                cai_calib_apply(&c, &r);
                if (isfinite(r.cal[CAI_CAL_LO68]) &&
                    (r.cal[CAI_CAL_LO68] > r.cal[CAI_CAL_HI68] || r.cal[CAI_CAL_LO95] > r.cal[CAI_CAL_LO68] ||
                     r.cal[CAI_CAL_HI68] > r.cal[CAI_CAL_HI95] || !(r.cal[CAI_CAL_POUT] >= 0) ||
                     r.cal[CAI_CAL_POUT] > 1))
                    abort();
            }
            cJSON *j = cai_calib_to_json(&c, NULL);
            char *t = cJSON_PrintUnformatted(j);
            cai_calib d;
            if (cai_calib_parse(t, strlen(t), "rt.json", &d, &err) != CAI_OK) abort(); /* what we write, we read */
            cai_calib_free(&d);
            free(t);
            cJSON_Delete(j);
            cai_calib_free(&c);
        } else if (!err.msg[0]) {
            abort();
        }
    } else {
        int n = 0;
        if (cai_predictions_parse(p, size - 1, "fuzz.csv", round_trip, &n, &err) != CAI_OK && !err.msg[0]) abort();
    }
    free(p);
    return 0;
}
