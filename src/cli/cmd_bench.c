/* cmd_bench.c — `cai bench`: galaxies/s of the engine per (threads, batch, precision) on synthetic galaxies,
 * the precisions measured side by side (interleaved slices, so a busy machine slows both alike), weight
 * load time, peak RSS, the CPU and ISA path, the machine's measured GEMM peak on the model's own shapes →
 * the fp32 limit, and int8's deviation from fp32.
 * Also `cai bench --make-weights OUT` writes deterministic random weights (demos, tests, no torch). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
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

/* What `cai bench` was asked for. */
typedef struct {
    const char *weights, *make, *variant;
    int threads[16], nthreads, batches[16], nbatches, json;
    double seconds, gemm_seconds;
    uint64_t seed;
    cai_precision precs[3];
    int nprec;
    int64_t dz_n;
} bench_opts;

/* --precision LIST: one to three of auto, fp32, int8. */
static int parse_precisions(const char *v, bench_opts *o) {
    int n = 0;
    char buf[64];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *sp, *tok = strtok_r(buf, ",", &sp); tok; tok = strtok_r(NULL, ",", &sp)) {
        cai_precision p;
        if (cai_precision_parse(tok, &p) || n == 3) return -1;
        o->precs[n++] = p;
    }
    if (!n) return -1;
    o->nprec = n;
    return 0;
}

/* 0: run; 1: --help was printed (exit 0); 2: a bad flag, reported (exit 2). */
static int parse_bench_args(int argc, char **argv, bench_opts *o) {
    enum { O_WEIGHTS = 256, O_MAKE, O_VARIANT, O_SEED, O_THREADS, O_BATCH, O_SECS, O_GEMM, O_PREC, O_DZ, O_JSON };
    static const struct option opts[] = {{"weights", required_argument, 0, O_WEIGHTS},
                                         {"make-weights", required_argument, 0, O_MAKE},
                                         {"variant", required_argument, 0, O_VARIANT},
                                         {"seed", required_argument, 0, O_SEED},
                                         {"threads", required_argument, 0, O_THREADS},
                                         {"batch", required_argument, 0, O_BATCH},
                                         {"seconds", required_argument, 0, O_SECS},
                                         {"gemm-seconds", required_argument, 0, O_GEMM},
                                         {"precision", required_argument, 0, O_PREC},
                                         {"dz-galaxies", required_argument, 0, O_DZ},
                                         {"json", no_argument, 0, O_JSON},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c, li = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, &li)) != -1) {
        char fl[64];
        snprintf(fl, sizeof fl, "--%s", c >= 256 ? opts[li].name : "");
        int bad = 0;
        int64_t v;
        switch (c) {
        case O_WEIGHTS: o->weights = optarg; break;
        case O_MAKE: o->make = optarg; break;
        case O_VARIANT: o->variant = optarg; break;
        case O_SEED:
            bad = cai_arg_int("bench", fl, optarg, 0, INT64_MAX, &v);
            o->seed = (uint64_t)v;
            break;
        case O_THREADS:
            if ((o->nthreads = parse_list(optarg, o->threads, 16, 1024)) < 1) {
                fprintf(stderr, "cai bench: --threads: expected a list like 1,2, got \"%s\"\n", optarg);
                bad = 1;
            }
            break;
        case O_BATCH:
            if ((o->nbatches = parse_list(optarg, o->batches, 16, 65536)) < 1) {
                fprintf(stderr, "cai bench: --batch: expected a list like 32,128,512, got \"%s\"\n", optarg);
                bad = 1;
            }
            break;
        case O_SECS:
        case O_GEMM: {
            double x;
            char *end;
            x = strtod(optarg, &end);
            if (end == optarg || *end || !(x >= 0) || x > 3600) {
                fprintf(stderr, "cai bench: %s: expected seconds in [0, 3600], got \"%s\"\n", fl, optarg);
                bad = 1;
            } else if (c == O_SECS) o->seconds = x;
            else o->gemm_seconds = x;
            break;
        }
        case O_PREC:
            if (parse_precisions(optarg, o)) {
                fprintf(stderr,
                        "cai bench: --precision: expected " CAI_PRECISION_EXPECTED
                        " (or a list of them, up to 3), got \"%s\"\n",
                        optarg);
                bad = 1;
            }
            break;
        case O_DZ: bad = cai_arg_int("bench", fl, optarg, 1, 1000000, &o->dz_n); break;
        case O_JSON: o->json = 1; break;
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return 2;
        }
        if (bad) return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "cai bench: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    return 0;
}

/* One model per precision (auto resolved at load: the label says what it became). Load time: the first load
 * pays page-cache misses; the best of a few warm loads is reported too. */
typedef struct {
    cai_model *ms[3];
    double load_first[3], load_best[3];
    int have8; /* one of them is int8 */
} bench_models;

static int load_models(const bench_opts *o, const char *weights, bench_models *bm, cai_err *err) {
    for (int k = 0; k < o->nprec; k++) {
        for (int i = 0; i < 4; i++) {
            cai_model *m2;
            double t = cai_mono_now();
            if (cai_model_load(weights, o->precs[k], &m2, err)) return -1;
            double d = cai_mono_now() - t;
            if (i == 0) bm->load_first[k] = bm->load_best[k] = d, bm->ms[k] = m2;
            else bm->load_best[k] = d < bm->load_best[k] ? d : bm->load_best[k], cai_model_free(m2);
        }
        bm->have8 |= cai_model_precision(bm->ms[k]) == CAI_PREC_INT8;
    }
    return 0;
}

/* Deterministic synthetic galaxies (as many as the largest batch, at least 1024; room for --dz-galaxies)
 * and the output buffers. */
typedef struct {
    int64_t ng, nbuf;
    float *img, *z, *out, *out2;
    double *mag;
} bench_data;

static void bench_data_free(bench_data *d) { free(d->img), free(d->z), free(d->mag), free(d->out), free(d->out2); }

static int make_inputs(const bench_opts *o, bench_data *d, cai_err *err) {
    int maxb = 0;
    for (int i = 0; i < o->nbatches; i++) maxb = o->batches[i] > maxb ? o->batches[i] : maxb;
    d->ng = maxb > 1024 ? maxb : 1024;
    d->nbuf = d->ng > o->dz_n ? d->ng : o->dz_n;
    size_t n = (size_t)d->nbuf;
    d->img = malloc(n * CAI_IMG_FLOATS * sizeof(float)), d->z = malloc(n * sizeof(float));
    d->mag = malloc(n * 5 * sizeof(double));
    d->out = malloc(n * sizeof(float)), d->out2 = malloc(n * sizeof(float));
    if (!d->img || !d->z || !d->mag || !d->out || !d->out2)
        return cai_seterr(err, CAI_ENOMEM, "out of memory for %lld galaxies", (long long)d->nbuf), -1;
    cai_synth_galaxies(7, 0, d->ng, d->img, d->mag, d->z, 0);
    return 0;
}

static void print_header(const bench_opts *o, const bench_models *bm, const char *weights, int random_weights,
                         double macs) {
    char cpu[512];
    cai_cpu_describe(cpu, sizeof cpu);
    const cai_cpu *cc = cai_cpu_get();
    if (!o->json) {
        printf("cai bench: %s weights %s, %.1f M MAC/galaxy\n", cai_model_variant(bm->ms[0]),
               random_weights ? "(random)" : weights, macs / 1e6);
        printf("CPU: %s; %d logical CPUs\n", cpu, cai_ncpu());
        for (int k = 0; k < o->nprec; k++)
            printf("%s%s: load %.1f ms (first %.1f ms)\n", o->precs[k] == CAI_PREC_AUTO ? "auto -> " : "",
                   cai_precision_label(cai_model_precision(bm->ms[k])), bm->load_best[k] * 1e3,
                   bm->load_first[k] * 1e3);
        return;
    }
    printf("{\"variant\":\"%s\",\"macs_per_galaxy\":%.0f,\"ncpu\":%d,\"cpu\":{\"model\":\"",
           cai_model_variant(bm->ms[0]), macs, cai_ncpu());
    for (const char *q = cc->model; *q; q++)
        if (*q != '"' && *q != '\\' && (unsigned char)*q >= 0x20) putchar(*q);
    printf(
        "\",\"avx2\":%s,\"avx512\":%s,\"avx512_vnni\":%s,\"avx_vnni\":%s,\"amx\":%s,\"dnnl_isa\":\"%s\","
        "\"kernels\":\"%s\"},\"precisions\":[",
        cc->avx2 ? "true" : "false", cc->avx512f ? "true" : "false", cc->avx512_vnni ? "true" : "false",
        cc->avx_vnni ? "true" : "false", cc->amx_int8 ? "true" : "false", cc->dnnl_isa, cai_cpu_isa_path());
    for (int k = 0; k < o->nprec; k++)
        printf("%s{\"requested\":\"%s\",\"precision\":\"%s\",\"load_ms\":%.2f,\"load_first_ms\":%.2f}", k ? "," : "",
               cai_precision_label(o->precs[k]), cai_precision_label(cai_model_precision(bm->ms[k])),
               bm->load_best[k] * 1e3, bm->load_first[k] * 1e3);
    printf("],\"results\":[");
}

/* One thread count's GEMM peaks (fp32, and int8 when measured). */
typedef struct {
    int threads;
    double peak, peak8, limit; /* GFLOP/s, GOP/s, galaxies/s the fp32 peak allows */
} bench_peak;

/* Interleaved: slices of ~0.2 s per precision in turn until each has had `seconds`. */
static int measure_cell(const bench_opts *o, cai_session **ss, const bench_data *d, int B, int64_t *done, double *spent,
                        cai_err *err) {
    int64_t off[3] = {0};
    for (int more = 1; more;) {
        more = 0;
        for (int k = 0; k < o->nprec; k++) {
            if (spent[k] >= o->seconds && done[k] > 0) continue;
            double t0 = cai_mono_now(), t = t0;
            while (t - t0 < 0.2 || t0 == t) {
                if (off[k] + B > d->ng) off[k] = 0;
                if (cai_predict(ss[k], d->img + off[k] * CAI_IMG_FLOATS, d->mag + off[k] * 5, CAI_F64, B, d->out, err))
                    return -1;
                off[k] += B, done[k] += B;
                t = cai_mono_now();
            }
            spent[k] += t - t0;
            more |= spent[k] < o->seconds;
        }
    }
    return 0;
}

static void print_cell(const bench_opts *o, const bench_models *bm, cai_session **ss, const bench_peak *pk, int B,
                       const double *gps, double gps32, int *first) {
    for (int k = 0; k < o->nprec; k++) {
        const int is8 = cai_model_precision(bm->ms[k]) == CAI_PREC_INT8;
        double prof[4], rss = cai_peak_rss_mb();
        cai_session_profile(ss[k], prof);
        double ptot = prof[0] + prof[1] + prof[2] + prof[3];
        double pct = pk->limit > 0 ? 100 * gps[k] / pk->limit : 0;
        if (o->json) {
            printf(
                "%s{\"threads\":%d,\"batch\":%d,\"precision\":\"%s\",\"requested\":\"%s\",\"galaxies_per_s\":%.2f,"
                "\"galaxies_per_s_per_thread\":%.2f,\"gemm_peak_gflops\":%.1f,\"fp32_limit_galaxies_per_s\":%.1f,"
                "\"percent_of_fp32_limit\":%.1f,\"peak_rss_mb\":%.1f",
                *first ? "" : ",", pk->threads, B, cai_precision_label(cai_model_precision(bm->ms[k])),
                cai_precision_label(o->precs[k]), gps[k], gps[k] / pk->threads, pk->peak, pk->limit, pct, rss);
            if (is8) printf(",\"int8_gemm_peak_gops\":%.1f", pk->peak8);
            if (gps32 > 0) printf(",\"vs_fp32\":%.3f", gps[k] / gps32);
            printf("}");
        } else {
            printf(
                "threads %d  batch %4d  %-4s %s %8.1f galaxies/s  (%.1f%% of fp32 limit %.0f/s from GEMM peak "
                "%.1f GFLOP/s)",
                pk->threads, B, cai_precision_label(cai_model_precision(bm->ms[k])),
                o->precs[k] == CAI_PREC_AUTO ? "(auto)" : "      ", gps[k], pct, pk->limit, pk->peak);
            if (gps32 > 0 && cai_model_precision(bm->ms[k]) != CAI_PREC_FP32) printf("  %.2fx fp32", gps[k] / gps32);
            printf("  peak RSS %.0f MB\n", rss);
            if (ptot > 0)
                printf("          time split: ViT %.0f%%  Inception %.0f%%  magnitude %.0f%%  head %.0f%%\n",
                       100 * prof[0] / ptot, 100 * prof[1] / ptot, 100 * prof[2] / ptot, 100 * prof[3] / ptot);
        }
        *first = 0;
    }
}

/* One (threads, batch) cell: every precision measured side by side, then its rows printed. */
static int run_cell(const bench_opts *o, const bench_models *bm, const bench_data *d, const bench_peak *pk, int B,
                    int *first, cai_err *err) {
    cai_session *ss[3] = {0};
    int64_t done[3] = {0};
    double spent[3] = {0};
    int rc = 0;
    for (int k = 0; k < o->nprec && !rc; k++) {
        if (!(ss[k] = cai_session_new(bm->ms[k], B, pk->threads, err))) rc = -1;
        else if (cai_predict(ss[k], d->img, d->mag, CAI_F64, B, d->out, err)) rc = -1; /* warm-up */
    }
    if (!rc) rc = measure_cell(o, ss, d, B, done, spent, err);
    if (!rc) {
        double gps[3], gps32 = 0;
        for (int k = 0; k < o->nprec; k++) {
            gps[k] = (double)done[k] / spent[k];
            if (cai_model_precision(bm->ms[k]) == CAI_PREC_FP32 && gps32 == 0) gps32 = gps[k];
        }
        print_cell(o, bm, ss, pk, B, gps, gps32, first);
    }
    for (int k = 0; k < o->nprec; k++) cai_session_free(ss[k]);
    return rc;
}

/* int8: deviation from fp32 on --dz-galaxies galaxies (max and median |dz|). */
static int int8_deviation(const bench_opts *o, const bench_models *bm, const char *weights, bench_data *d, double *dmax,
                          double *dmed, cai_err *err) {
    int64_t ng = d->ng, dz_n = o->dz_n;
    if (dz_n > ng) cai_synth_galaxies(7, ng, dz_n - ng, d->img + ng * CAI_IMG_FLOATS, d->mag + ng * 5, d->z + ng, 0);
    cai_model *m8 = NULL, *mf = NULL;
    for (int k = 0; k < o->nprec; k++)
        if (cai_model_precision(bm->ms[k]) == CAI_PREC_INT8) m8 = bm->ms[k];
    if (cai_model_load(weights, CAI_PREC_FP32, &mf, err)) return -1;
    int th = o->threads[o->nthreads - 1];
    cai_session *s8 = cai_session_new(m8, 512, th, err);
    cai_session *sf = s8 ? cai_session_new(mf, 512, th, err) : NULL;
    int bad = !s8 || !sf || cai_predict(s8, d->img, d->mag, CAI_F64, dz_n, d->out, err) ||
              cai_predict(sf, d->img, d->mag, CAI_F64, dz_n, d->out2, err);
    cai_session_free(s8);
    cai_session_free(sf);
    cai_model_free(mf);
    if (bad) return -1;
    float *out = d->out;
    for (int64_t i = 0; i < dz_n; i++) out[i] = fabsf(out[i] - d->out2[i]);
    qsort(out, (size_t)dz_n, sizeof(float), cmp_float);
    *dmax = out[dz_n - 1];
    *dmed = dz_n % 2 ? out[dz_n / 2] : 0.5 * (out[dz_n / 2 - 1] + out[dz_n / 2]);
    return 0;
}

/* Every (threads, batch) cell, then int8's deviation and the totals. */
static int run_bench(const bench_opts *o, const bench_models *bm, const char *weights, bench_data *d, double rss0,
                     cai_err *err) {
    const double macs = cai_model_macs(bm->ms[0]);
    int first = 1;
    for (int ti = 0; ti < o->nthreads; ti++) {
        bench_peak pk = {o->threads[ti], 0, 0, 0};
        if (o->gemm_seconds > 0) {
            if (cai_gemm_peak(pk.threads, CAI_PREC_FP32, 512, o->gemm_seconds, &pk.peak, err)) return -1;
            if (bm->have8 && cai_gemm_peak(pk.threads, CAI_PREC_INT8, 512, o->gemm_seconds, &pk.peak8, err)) return -1;
        }
        pk.limit = pk.peak * 1e9 / (2 * macs);
        for (int bi = 0; bi < o->nbatches; bi++) {
            if (run_cell(o, bm, d, &pk, o->batches[bi], &first, err)) return -1;
            if (!o->json && bm->have8 && bi == o->nbatches - 1)
                printf("          int8 GEMM peak %.1f GOP/s (%.2fx fp32)\n", pk.peak8,
                       pk.peak > 0 ? pk.peak8 / pk.peak : 0);
            fflush(stdout);
        }
    }
    double dmax = -1, dmed = -1;
    if (bm->have8) {
        if (int8_deviation(o, bm, weights, d, &dmax, &dmed, err)) return -1;
        if (!o->json)
            printf("int8 vs fp32 over %lld synthetic galaxies: max |dz| %.3g, median |dz| %.3g\n", (long long)o->dz_n,
                   dmax, dmed);
    }
    if (o->json) {
        printf("],\"peak_rss_mb\":%.1f,\"rss_before_load_mb\":%.1f", cai_peak_rss_mb(), rss0);
        if (dmax >= 0)
            printf(",\"int8_vs_fp32\":{\"galaxies\":%lld,\"max_abs_dz\":%.4g,\"median_abs_dz\":%.4g}",
                   (long long)o->dz_n, dmax, dmed);
        printf("}\n");
    } else {
        printf("peak RSS %.1f MB (whole process, all cells)\n", cai_peak_rss_mb());
    }
    return 0;
}

int cmd_bench(int argc, char **argv) {
    bench_opts o = {.variant = "vitae",
                    .threads = {1, 2},
                    .nthreads = 2,
                    .batches = {32, 128, 512},
                    .nbatches = 3,
                    .seconds = 3,
                    .gemm_seconds = 1,
                    .seed = 1,
                    .precs = {CAI_PREC_FP32, CAI_PREC_INT8},
                    .nprec = 2,
                    .dz_n = 4096};
    int pa = parse_bench_args(argc, argv, &o);
    if (pa) return pa == 1 ? 0 : 2;
    cai_err err = {0};
    if (o.make) {
        if (cai_weights_random(o.make, o.variant, o.seed, &err)) {
            fprintf(stderr, "cai bench: %s\n", err.msg);
            return cai_exit_status(err.code);
        }
        fprintf(stderr, "cai bench: wrote random %s weights (seed %llu) to %s\n", o.variant, (unsigned long long)o.seed,
                o.make);
        return 0;
    }
    char tmpw[256] = "";
    const char *weights = o.weights;
    if (!weights) {
        const char *td = getenv("TMPDIR");
        snprintf(tmpw, sizeof tmpw, "%s/cai-bench-%d.safetensors", td && *td ? td : "/tmp", (int)getpid());
        if (cai_weights_random(tmpw, o.variant, o.seed, &err)) {
            fprintf(stderr, "cai bench: %s\n", err.msg);
            return cai_exit_status(err.code);
        }
        weights = tmpw;
    }
    bench_models bm = {0};
    bench_data d = {0};
    double rss0 = cai_peak_rss_mb();
    int bad = load_models(&o, weights, &bm, &err) || make_inputs(&o, &d, &err);
    if (!bad) {
        print_header(&o, &bm, weights, weights == tmpw, cai_model_macs(bm.ms[0]));
        bad = run_bench(&o, &bm, weights, &d, rss0, &err);
    }
    bench_data_free(&d);
    for (int k = 0; k < o.nprec; k++) cai_model_free(bm.ms[k]);
    if (*tmpw) unlink(tmpw);
    if (!bad) return 0;
    fprintf(stderr, "cai bench: %s\n", err.msg);
    return cai_exit_status(err.code ? err.code : CAI_EINTERNAL);
}
