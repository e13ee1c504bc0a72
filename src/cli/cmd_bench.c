/* cmd_bench.c — `cai bench`: galaxies/s of the engine per (threads, batch) on synthetic galaxies, weight
 * load time, peak RSS, and the machine's measured GEMM peak on the model's own shapes → the fp32 limit.
 * Also `cai bench --make-weights OUT` writes deterministic random weights (demos, tests, no torch). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "common/err.h"
#include "common/util.h"
#include "data/synth.h"
#include "model/model.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cai bench [--weights W] [options]\n"
            "       cai bench --make-weights OUT.safetensors [--variant vit|vitae] [--seed S]\n"
            "\n"
            "Measure inference throughput on deterministic synthetic galaxies. Without --weights, random\n"
            "weights of --variant (default vitae, the published checkpoint's) are written to a temp file.\n"
            "\n"
            "  --weights W          safetensors weights\n"
            "  --threads LIST       thread counts, e.g. 1,2 (default 1,2)\n"
            "  --batch LIST         batch sizes, e.g. 32,128,512 (default 32,128,512)\n"
            "  --seconds S          time per (threads, batch) cell (default 3)\n"
            "  --precision P        fp32 (default) or int8; int8 also reports |dz| vs fp32 on 1024 galaxies\n"
            "  --gemm-seconds S     time for the GEMM-peak measurement per thread count (default 1; 0 = skip)\n"
            "  --json               one JSON object on stdout: {\"results\":[{\"threads\":..,\"batch\":..,\n"
            "                       \"galaxies_per_s\":..}, ...], ...}\n");
}

static int parse_list(const char *s, int *out, int max, int lim) {
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 1 || v > lim || n == max) return -1;
        out[n++] = (int)v;
        if (*end == ',') end++;
        else if (*end) return -1;
        p = end;
    }
    return n;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

int cmd_bench(int argc, char **argv) {
    const char *weights = NULL, *make = NULL, *variant = "vitae";
    int threads[16] = {1, 2}, nthreads = 2, batches[16] = {32, 128, 512}, nbatches = 3, json = 0;
    double seconds = 3, gemm_seconds = 1;
    uint64_t seed = 1;
    cai_precision prec = CAI_PREC_FP32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "cai bench: %s needs a value\n", a);
            return 2;
        }
        i++;
        char *end;
        if (!strcmp(a, "--weights")) weights = v;
        else if (!strcmp(a, "--make-weights")) make = v;
        else if (!strcmp(a, "--variant")) variant = v;
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--threads")) {
            if ((nthreads = parse_list(v, threads, 16, 1024)) < 1) {
                fprintf(stderr, "cai bench: --threads: expected a list like 1,2, got \"%s\"\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--batch")) {
            if ((nbatches = parse_list(v, batches, 16, 65536)) < 1) {
                fprintf(stderr, "cai bench: --batch: expected a list like 32,128,512, got \"%s\"\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--seconds") || !strcmp(a, "--gemm-seconds")) {
            double x = strtod(v, &end);
            if (end == v || *end || !(x >= 0) || x > 3600) {
                fprintf(stderr, "cai bench: %s: expected seconds in [0, 3600], got \"%s\"\n", a, v);
                return 2;
            }
            if (!strcmp(a, "--seconds")) seconds = x;
            else gemm_seconds = x;
        } else if (!strcmp(a, "--precision")) {
            if (cai_precision_parse(v, &prec)) {
                fprintf(stderr, "cai bench: --precision: expected " CAI_PRECISION_EXPECTED ", got \"%s\"\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "cai bench: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    cai_err err = {0};
    if (make) {
        if (cai_weights_random(make, variant, seed, &err)) {
            fprintf(stderr, "cai bench: %s\n", err.msg);
            return cai_exit_status(err.code);
        }
        fprintf(stderr, "cai bench: wrote random %s weights (seed %llu) to %s\n", variant, (unsigned long long)seed,
                make);
        return 0;
    }
    char tmpw[256] = "";
    if (!weights) {
        const char *td = getenv("TMPDIR");
        snprintf(tmpw, sizeof tmpw, "%s/cai-bench-%d.safetensors", td && *td ? td : "/tmp", (int)getpid());
        if (cai_weights_random(tmpw, variant, seed, &err)) {
            fprintf(stderr, "cai bench: %s\n", err.msg);
            return cai_exit_status(err.code);
        }
        weights = tmpw;
    }
    int rc = 0, maxb = 0;
    for (int i = 0; i < nbatches; i++) maxb = batches[i] > maxb ? batches[i] : maxb;
    /* Load time: the first load pays page-cache misses; report the best of a few warm loads too. */
    cai_model *m = NULL;
    double rss0 = cai_peak_rss_mb();
    double tl = cai_mono_now();
    if (cai_model_load(weights, prec, &m, &err)) goto fail;
    double load_first = cai_mono_now() - tl, load_best = load_first;
    for (int i = 0; i < 3; i++) {
        cai_model *m2;
        double t = cai_mono_now();
        if (cai_model_load(weights, prec, &m2, &err)) goto fail;
        double d = cai_mono_now() - t;
        load_best = d < load_best ? d : load_best;
        cai_model_free(m2);
    }
    const double macs = cai_model_macs(m);
    /* Inputs: deterministic synthetic galaxies (as many as the largest batch, at least 1024). */
    int64_t ng = maxb > 1024 ? maxb : 1024;
    float *img = malloc((size_t)ng * CAI_IMG_FLOATS * sizeof(float)), *z = malloc((size_t)ng * sizeof(float));
    double *mag = malloc((size_t)ng * 5 * sizeof(double));
    float *out = malloc((size_t)ng * sizeof(float)), *out2 = malloc((size_t)ng * sizeof(float));
    if (!img || !z || !mag || !out || !out2) {
        cai_seterr(&err, CAI_ENOMEM, "out of memory for %lld galaxies", (long long)ng);
        goto fail_free;
    }
    cai_synth_galaxies(7, 0, ng, img, mag, z, 0);
    if (!json)
        printf("cai bench: %s weights %s, %s, %.1f M MAC/galaxy; load %.1f ms (first %.1f ms)\n", cai_model_variant(m),
               weights == tmpw ? "(random)" : weights, cai_precision_name(prec), macs / 1e6,
               load_best * 1e3, load_first * 1e3);
    if (json)
        printf("{\"variant\":\"%s\",\"precision\":\"%s\",\"macs_per_galaxy\":%.0f,\"load_ms\":%.2f,"
               "\"load_first_ms\":%.2f,\"ncpu\":%d,\"results\":[",
               cai_model_variant(m), cai_precision_name(prec), macs, load_best * 1e3,
               load_first * 1e3, cai_ncpu());
    int first = 1;
    for (int ti = 0; ti < nthreads; ti++) {
        double peak = 0, peak8 = 0;
        if (gemm_seconds > 0) {
            if (cai_gemm_peak(threads[ti], CAI_PREC_FP32, 512, gemm_seconds, &peak, &err)) goto fail_free;
            if (prec == CAI_PREC_INT8 && cai_gemm_peak(threads[ti], CAI_PREC_INT8, 512, gemm_seconds, &peak8, &err))
                goto fail_free;
        }
        double limit = peak * 1e9 / (2 * macs);
        for (int bi = 0; bi < nbatches; bi++) {
            int B = batches[bi];
            cai_session *s = cai_session_new(m, B, threads[ti], &err);
            if (!s) goto fail_free;
            if (cai_predict(s, img, mag, CAI_F64, B, out, &err)) { /* warm-up: primitives, page faults */
                cai_session_free(s);
                goto fail_free;
            }
            int64_t done = 0, off = 0;
            double t0 = cai_mono_now(), t = t0;
            while (t - t0 < seconds || done == 0) {
                if (off + B > ng) off = 0;
                if (cai_predict(s, img + off * CAI_IMG_FLOATS, mag + off * 5, CAI_F64, B, out, &err)) {
                    cai_session_free(s);
                    goto fail_free;
                }
                off += B;
                done += B;
                t = cai_mono_now();
            }
            double prof[4];
            cai_session_profile(s, prof);
            double ptot = prof[0] + prof[1] + prof[2] + prof[3];
            cai_session_free(s);
            double gps = (double)done / (t - t0), rss = cai_peak_rss_mb();
            if (!json && ptot > 0)
                printf("          time split: ViT %.0f%%  Inception %.0f%%  magnitude %.0f%%  head %.0f%%\n",
                       100 * prof[0] / ptot, 100 * prof[1] / ptot, 100 * prof[2] / ptot, 100 * prof[3] / ptot);
            if (json) {
                printf("%s{\"threads\":%d,\"batch\":%d,\"galaxies_per_s\":%.2f,\"galaxies_per_s_per_thread\":%.2f,"
                       "\"gemm_peak_gflops\":%.1f,\"fp32_limit_galaxies_per_s\":%.1f,\"peak_rss_mb\":%.1f",
                       first ? "" : ",", threads[ti], B, gps, gps / threads[ti], peak, limit, rss);
                if (prec == CAI_PREC_INT8) printf(",\"int8_gemm_peak_gops\":%.1f", peak8);
                printf("}");
            } else
                printf("threads %d  batch %4d  %8.1f galaxies/s  (%.1f%% of fp32 limit %.0f/s from GEMM peak %.1f "
                       "GFLOP/s%s)  peak RSS %.0f MB\n",
                       threads[ti], B, gps, limit > 0 ? 100 * gps / limit : 0, limit, peak,
                       prec == CAI_PREC_INT8 ? "; int8 GEMM peak below" : "", rss);
            if (!json && prec == CAI_PREC_INT8 && bi == nbatches - 1)
                printf("          int8 GEMM peak %.1f GOP/s (%.2fx fp32)\n", peak8, peak > 0 ? peak8 / peak : 0);
            first = 0;
            fflush(stdout);
        }
    }
    /* int8: deviation from fp32 on the same 1024+ galaxies. */
    double dmax = -1, dmed = -1;
    if (prec == CAI_PREC_INT8) {
        cai_model *mf = NULL;
        if (cai_model_load(weights, CAI_PREC_FP32, &mf, &err)) goto fail_free;
        cai_session *s8 = cai_session_new(m, 512, threads[nthreads - 1], &err);
        cai_session *sf = s8 ? cai_session_new(mf, 512, threads[nthreads - 1], &err) : NULL;
        int bad = !s8 || !sf || cai_predict(s8, img, mag, CAI_F64, ng, out, &err) ||
                  cai_predict(sf, img, mag, CAI_F64, ng, out2, &err);
        cai_session_free(s8);
        cai_session_free(sf);
        cai_model_free(mf);
        if (bad) goto fail_free;
        for (int64_t i = 0; i < ng; i++) out[i] = fabsf(out[i] - out2[i]);
        qsort(out, (size_t)ng, sizeof(float), cmp_float);
        dmax = out[ng - 1];
        dmed = ng % 2 ? out[ng / 2] : 0.5 * (out[ng / 2 - 1] + out[ng / 2]);
        if (!json)
            printf("int8 vs fp32 over %lld synthetic galaxies: max |dz| %.3g, median |dz| %.3g\n", (long long)ng, dmax,
                   dmed);
    }
    if (json) {
        printf("],\"peak_rss_mb\":%.1f,\"rss_before_load_mb\":%.1f", cai_peak_rss_mb(), rss0);
        if (dmax >= 0) printf(",\"int8_vs_fp32\":{\"galaxies\":%lld,\"max_abs_dz\":%.4g,\"median_abs_dz\":%.4g}",
                              (long long)ng, dmax, dmed);
        printf("}\n");
    } else {
        printf("peak RSS %.1f MB (whole process, all cells)\n", cai_peak_rss_mb());
    }
    free(img), free(z), free(mag), free(out), free(out2);
    cai_model_free(m);
    if (*tmpw) unlink(tmpw);
    return 0;
fail_free:
    free(img), free(z), free(mag), free(out), free(out2);
fail:
    rc = err.code ? (int)err.code : CAI_EINTERNAL;
    fprintf(stderr, "cai bench: %s\n", err.msg);
    cai_model_free(m);
    if (*tmpw) unlink(tmpw);
    return cai_exit_status((cai_code)rc);
}
