/* bench_int8.c — int8 against fp32 on a machine that other processes load: each model's whole forward pass
 * on one sub-batch of 128 galaxies (1 thread, the session's one lane runs in the calling thread), measured
 * in this thread's CPU time, the MINIMUM over many interleaved repeats (fp32, int8, fp32, ...), and the
 * time split per branch (cai_session_profile, wall time inside the same passes). Wall-clock galaxies/s
 * (`cai bench`) swings 2x between runs when the machine is shared; this ratio does not.
 *   build/bench/bench_int8 [rounds=30] [variant=vitae]
 * Same random weights (seed 1) and synthetic galaxies (seed 7) as `cai bench`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "data/synth.h"
#include "model/model.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); /* this thread's CPU time: not the time it sat descheduled */
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    enum { B = 128 };
    const int rounds = argc > 1 ? atoi(argv[1]) : 30;
    const char *variant = argc > 2 ? argv[2] : "vitae";
    if (rounds < 1 || (strcmp(variant, "vit") && strcmp(variant, "vitae"))) {
        fprintf(stderr, "usage: bench_int8 [rounds >= 1] [vit|vitae]\n");
        return 2;
    }
    const char *tmp = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/bench_int8_XXXXXX", tmp && *tmp ? tmp : "/tmp"); /* mkstemp's template */
    int fd = mkstemp(path);
    if (fd < 0) return 1;
    close(fd);
    cai_err e = {0};
    cai_model *m[2] = {NULL, NULL};
    cai_session *s[2] = {NULL, NULL};
    float *img = malloc((size_t)B * CAI_IMG_FLOATS * 4), *z = malloc(B * 4), *out = malloc(B * 4);
    double *mags = malloc(B * 5 * 8);
    if (!img || !z || !out || !mags) return 1;
    int rc = cai_weights_random(path, variant, 1, &e);
    for (int p = 0; !rc && p < 2; p++) {
        rc = cai_model_load(path, p ? CAI_PREC_INT8 : CAI_PREC_FP32, &m[p], &e);
        if (!rc && !(s[p] = cai_session_new(m[p], B, 1, &e))) rc = e.code ? e.code : 1;
    }
    unlink(path);
    if (rc) {
        fprintf(stderr, "bench_int8: %s\n", e.msg);
        return 1;
    }
    cai_synth_galaxies(7, 0, B, img, mags, z, 1);
    double best[2] = {1e30, 1e30}, prof[2][4];
    for (int r = 0; r < rounds; r++)
        for (int p = 0; p < 2; p++) {
            double t0 = now();
            if (cai_predict(s[p], img, mags, CAI_F64, B, out, &e)) {
                fprintf(stderr, "bench_int8: %s\n", e.msg);
                return 1;
            }
            double t = now() - t0;
            if (t < best[p]) best[p] = t;
        }
    for (int p = 0; p < 2; p++) cai_session_profile(s[p], prof[p]);
    for (int p = 0; p < 2; p++) {
        double tot = prof[p][0] + prof[p][1] + prof[p][2] + prof[p][3];
        printf(
            "%s  %8.1f us/galaxy (thread CPU time, min of %d)  split ViT %.0f%%  Inception %.0f%%  magnitude %.0f%%  "
            "head %.0f%%\n",
            p ? "int8" : "fp32", best[p] * 1e6 / B, rounds, 100 * prof[p][0] / tot, 100 * prof[p][1] / tot,
            100 * prof[p][2] / tot, 100 * prof[p][3] / tot);
    }
    printf("int8 / fp32 speed: %.2fx (%s, 1 thread, batch %d)\n", best[0] / best[1], variant, B);
    for (int p = 0; p < 2; p++) cai_session_free(s[p]), cai_model_free(m[p]);
    free(img), free(z), free(out), free(mags);
    return 0;
}
