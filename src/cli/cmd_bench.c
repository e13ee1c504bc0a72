/* cmd_bench.c — `cai bench`: galaxies/s of the engine per (threads, batch, precision) on synthetic galaxies,
 * the precisions measured side by side (interleaved slices, so a busy machine slows both alike), weight
 * load time, peak RSS, the CPU and ISA path, the machine's measured GEMM peak on the model's own shapes →
 * the fp32 limit, and int8's deviation from fp32.
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
#include "model/cpu.h"
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
            "  --precision LIST     precisions measured side by side, interleaved: fp32, int8, auto (default\n"
            "                       fp32,int8); with int8 also |dz| vs fp32 on --dz-galaxies galaxies\n"
            "  --dz-galaxies N      galaxies for the int8-vs-fp32 deviation (default 4096)\n"
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
    cai_precision precs[3] = {CAI_PREC_FP32, CAI_PREC_INT8};
    int nprec = 2;
    int64_t dz_n = 4096;
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
            nprec = 0;
            char buf[64];
            snprintf(buf, sizeof buf, "%s", v);
            for (char *sp, *tok = strtok_r(buf, ",", &sp); tok; tok = strtok_r(NULL, ",", &sp)) {
                cai_precision p;
                if (cai_precision_parse(tok, &p) || nprec == 3) {
                    fprintf(stderr, "cai bench: --precision: expected " CAI_PRECISION_EXPECTED " (or a list of them, up to 3), got \"%s\"\n", v);
                    return 2;
                }
                precs[nprec++] = p;
            }
            if (!nprec) {
                fprintf(stderr, "cai bench: --precision: expected " CAI_PRECISION_EXPECTED " (or a list of them, up to 3), got \"%s\"\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--dz-galaxies")) {
            dz_n = strtoll(v, &end, 10);
            if (*end || end == v || dz_n < 1 || dz_n > 1000000) {
                fprintf(stderr, "cai bench: --dz-galaxies: expected an integer in [1, 1000000], got \"%s\"\n", v);
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
    /* Models: one per precision (auto resolved at load: the label says what it became). Load time: the first
     * load pays page-cache misses; report the best of a few warm loads too. */
    cai_model *ms[3] = {0};
    double load_first[3] = {0}, load_best[3] = {0};
    int have8 = 0, have32 = 0;
    double rss0 = cai_peak_rss_mb();
    for (int k = 0; k < nprec; k++) {
        for (int i = 0; i < 4; i++) {
            cai_model *m2;
            double t = cai_mono_now();
            if (cai_model_load(weights, precs[k], &m2, &err)) goto fail;
            double d = cai_mono_now() - t;
            if (i == 0) load_first[k] = load_best[k] = d, ms[k] = m2;
            else load_best[k] = d < load_best[k] ? d : load_best[k], cai_model_free(m2);
        }
        have8 |= cai_model_precision(ms[k]) == CAI_PREC_INT8;
        have32 |= cai_model_precision(ms[k]) == CAI_PREC_FP32;
    }
    const double macs = cai_model_macs(ms[0]);
    char cpu[512];
    cai_cpu_describe(cpu, sizeof cpu);
    const cai_cpu *cc = cai_cpu_get();
    /* Inputs: deterministic synthetic galaxies (as many as the largest batch, at least 1024). */
    int64_t ng = maxb > 1024 ? maxb : 1024, nbuf = ng > dz_n ? ng : dz_n;
    float *img = malloc((size_t)nbuf * CAI_IMG_FLOATS * sizeof(float)), *z = malloc((size_t)nbuf * sizeof(float));
    double *mag = malloc((size_t)nbuf * 5 * sizeof(double));
    float *out = malloc((size_t)nbuf * sizeof(float)), *out2 = malloc((size_t)nbuf * sizeof(float));
    if (!img || !z || !mag || !out || !out2) {
        cai_seterr(&err, CAI_ENOMEM, "out of memory for %lld galaxies", (long long)nbuf);
        goto fail_free;
    }
    cai_synth_galaxies(7, 0, ng, img, mag, z, 0);
    if (!json) {
        printf("cai bench: %s weights %s, %.1f M MAC/galaxy\n", cai_model_variant(ms[0]),
               weights == tmpw ? "(random)" : weights, macs / 1e6);
        printf("CPU: %s; %d logical CPUs\n", cpu, cai_ncpu());
        for (int k = 0; k < nprec; k++)
            printf("%s%s: load %.1f ms (first %.1f ms)\n", precs[k] == CAI_PREC_AUTO ? "auto -> " : "",
                   cai_precision_label(cai_model_precision(ms[k])), load_best[k] * 1e3, load_first[k] * 1e3);
    } else {
        printf("{\"variant\":\"%s\",\"macs_per_galaxy\":%.0f,\"ncpu\":%d,\"cpu\":{\"model\":\"", cai_model_variant(ms[0]),
               macs, cai_ncpu());
        for (const char *q = cc->model; *q; q++)
            if (*q != '"' && *q != '\\' && (unsigned char)*q >= 0x20) putchar(*q);
        printf("\",\"avx2\":%s,\"avx512\":%s,\"avx512_vnni\":%s,\"avx_vnni\":%s,\"amx\":%s,\"dnnl_isa\":\"%s\","
               "\"kernels\":\"%s\"},\"precisions\":[",
               cc->avx2 ? "true" : "false", cc->avx512f ? "true" : "false", cc->avx512_vnni ? "true" : "false",
               cc->avx_vnni ? "true" : "false", cc->amx_int8 ? "true" : "false", cc->dnnl_isa,
               cai_cpu_isa_path());
        for (int k = 0; k < nprec; k++)
            printf("%s{\"requested\":\"%s\",\"precision\":\"%s\",\"load_ms\":%.2f,\"load_first_ms\":%.2f}", k ? "," : "",
                   cai_precision_label(precs[k]), cai_precision_label(cai_model_precision(ms[k])), load_best[k] * 1e3,
                   load_first[k] * 1e3);
        printf("],\"results\":[");
    }
    int first = 1;
    for (int ti = 0; ti < nthreads; ti++) {
        double peak = 0, peak8 = 0;
        if (gemm_seconds > 0) {
            if (cai_gemm_peak(threads[ti], CAI_PREC_FP32, 512, gemm_seconds, &peak, &err)) goto fail_free;
            if (have8 && cai_gemm_peak(threads[ti], CAI_PREC_INT8, 512, gemm_seconds, &peak8, &err)) goto fail_free;
        }
        double limit = peak * 1e9 / (2 * macs);
        for (int bi = 0; bi < nbatches; bi++) {
            int B = batches[bi];
            cai_session *ss[3] = {0};
            int64_t done[3] = {0}, off[3] = {0};
            double spent[3] = {0};
            for (int k = 0; k < nprec; k++) {
                if (!(ss[k] = cai_session_new(ms[k], B, threads[ti], &err))) goto fail_cell;
                if (cai_predict(ss[k], img, mag, CAI_F64, B, out, &err)) goto fail_cell; /* warm-up */
            }
            /* Interleaved: slices of ~0.2 s per precision in turn until each has had `seconds`. */
            for (int more = 1; more;) {
                more = 0;
                for (int k = 0; k < nprec; k++) {
                    if (spent[k] >= seconds && done[k] > 0) continue;
                    double t0 = cai_mono_now(), t = t0;
                    while (t - t0 < 0.2 || t0 == t) {
                        if (off[k] + B > ng) off[k] = 0;
                        if (cai_predict(ss[k], img + off[k] * CAI_IMG_FLOATS, mag + off[k] * 5, CAI_F64, B, out, &err))
                            goto fail_cell;
                        off[k] += B, done[k] += B;
                        t = cai_mono_now();
                    }
                    spent[k] += t - t0;
                    more |= spent[k] < seconds;
                }
            }
            double gps[3], gps32 = 0;
            for (int k = 0; k < nprec; k++) {
                gps[k] = (double)done[k] / spent[k];
                if (cai_model_precision(ms[k]) == CAI_PREC_FP32 && gps32 == 0) gps32 = gps[k];
            }
            for (int k = 0; k < nprec; k++) {
                const int is8 = cai_model_precision(ms[k]) == CAI_PREC_INT8;
                double prof[4], rss = cai_peak_rss_mb();
                cai_session_profile(ss[k], prof);
                double ptot = prof[0] + prof[1] + prof[2] + prof[3];
                if (json) {
                    printf("%s{\"threads\":%d,\"batch\":%d,\"precision\":\"%s\",\"requested\":\"%s\",\"galaxies_per_s\":%.2f,"
                           "\"galaxies_per_s_per_thread\":%.2f,\"gemm_peak_gflops\":%.1f,\"fp32_limit_galaxies_per_s\":%.1f,"
                           "\"percent_of_fp32_limit\":%.1f,\"peak_rss_mb\":%.1f",
                           first ? "" : ",", threads[ti], B, cai_precision_label(cai_model_precision(ms[k])),
                           cai_precision_label(precs[k]), gps[k], gps[k] / threads[ti], peak, limit,
                           limit > 0 ? 100 * gps[k] / limit : 0, rss);
                    if (is8) printf(",\"int8_gemm_peak_gops\":%.1f", peak8);
                    if (gps32 > 0) printf(",\"vs_fp32\":%.3f", gps[k] / gps32);
                    printf("}");
                } else {
                    printf("threads %d  batch %4d  %-4s %s %8.1f galaxies/s  (%.1f%% of fp32 limit %.0f/s from GEMM peak "
                           "%.1f GFLOP/s)",
                           threads[ti], B, cai_precision_label(cai_model_precision(ms[k])),
                           precs[k] == CAI_PREC_AUTO ? "(auto)" : "      ", gps[k], limit > 0 ? 100 * gps[k] / limit : 0,
                           limit, peak);
                    if (gps32 > 0 && cai_model_precision(ms[k]) != CAI_PREC_FP32) printf("  %.2fx fp32", gps[k] / gps32);
                    printf("  peak RSS %.0f MB\n", rss);
                    if (ptot > 0)
                        printf("          time split: ViT %.0f%%  Inception %.0f%%  magnitude %.0f%%  head %.0f%%\n",
                               100 * prof[0] / ptot, 100 * prof[1] / ptot, 100 * prof[2] / ptot, 100 * prof[3] / ptot);
                }
                first = 0;
            }
            if (!json && have8 && bi == nbatches - 1)
                printf("          int8 GEMM peak %.1f GOP/s (%.2fx fp32)\n", peak8, peak > 0 ? peak8 / peak : 0);
            fflush(stdout);
            for (int k = 0; k < nprec; k++) cai_session_free(ss[k]);
            continue;
        fail_cell:
            for (int k = 0; k < nprec; k++) cai_session_free(ss[k]);
            goto fail_free;
        }
    }
    /* int8: deviation from fp32 on dz_n galaxies. */
    double dmax = -1, dmed = -1;
    if (have8) {
        if (dz_n > ng) cai_synth_galaxies(7, ng, dz_n - ng, img + ng * CAI_IMG_FLOATS, mag + ng * 5, z + ng, 0);
        cai_model *m8 = NULL, *mf = NULL;
        for (int k = 0; k < nprec; k++)
            if (cai_model_precision(ms[k]) == CAI_PREC_INT8) m8 = ms[k];
        if (cai_model_load(weights, CAI_PREC_FP32, &mf, &err)) goto fail_free;
        int th = threads[nthreads - 1];
        cai_session *s8 = cai_session_new(m8, 512, th, &err);
        cai_session *sf = s8 ? cai_session_new(mf, 512, th, &err) : NULL;
        int bad = !s8 || !sf || cai_predict(s8, img, mag, CAI_F64, dz_n, out, &err) ||
                  cai_predict(sf, img, mag, CAI_F64, dz_n, out2, &err);
        cai_session_free(s8);
        cai_session_free(sf);
        cai_model_free(mf);
        if (bad) goto fail_free;
        for (int64_t i = 0; i < dz_n; i++) out[i] = fabsf(out[i] - out2[i]);
        qsort(out, (size_t)dz_n, sizeof(float), cmp_float);
        dmax = out[dz_n - 1];
        dmed = dz_n % 2 ? out[dz_n / 2] : 0.5 * (out[dz_n / 2 - 1] + out[dz_n / 2]);
        if (!json)
            printf("int8 vs fp32 over %lld synthetic galaxies: max |dz| %.3g, median |dz| %.3g\n", (long long)dz_n, dmax,
                   dmed);
    }
    if (json) {
        printf("],\"peak_rss_mb\":%.1f,\"rss_before_load_mb\":%.1f", cai_peak_rss_mb(), rss0);
        if (dmax >= 0) printf(",\"int8_vs_fp32\":{\"galaxies\":%lld,\"max_abs_dz\":%.4g,\"median_abs_dz\":%.4g}",
                              (long long)dz_n, dmax, dmed);
        printf("}\n");
    } else {
        printf("peak RSS %.1f MB (whole process, all cells)\n", cai_peak_rss_mb());
    }
    (void)have32;
    free(img), free(z), free(mag), free(out), free(out2);
    for (int k = 0; k < nprec; k++) cai_model_free(ms[k]);
    if (*tmpw) unlink(tmpw);
    return 0;
fail_free:
    free(img), free(z), free(mag), free(out), free(out2);
fail:
    rc = err.code ? (int)err.code : CAI_EINTERNAL;
    fprintf(stderr, "cai bench: %s\n", err.msg);
    for (int k = 0; k < nprec; k++) cai_model_free(ms[k]);
    if (*tmpw) unlink(tmpw);
    return cai_exit_status((cai_code)rc);
}
