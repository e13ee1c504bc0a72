/* plan.c — a small model of a CAI run on Lambda, searched exhaustively.
 *
 * One invocation: start-up + download (partition / S3 bandwidth) + inference (galaxies / throughput at
 * the vCPUs its memory buys: memory / 1,769 MB, at most 6). The map: ceil(ranks / concurrency) waves of
 * invocations, plus Initialize/Summarize, plus Lambda's scaling ramp (1,000 more concurrent executions
 * every 10 s). Cost: cost.c's all-in bill for those invocations. The space is small (partition sizes ×
 * memory sizes × wave counts), so we try everything and keep the best by the user's criterion. */
#include "plan.h"

#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "stats.h"
#include "combined.h"
#include "rank_record.h"

static const double P_CAND[] = {1, 2, 5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 100, 125, 150, 200, 250, 300, 400, 500};
static const int M_CAND[] = {512, 1024, 1769, 3538, 5307, 7076, 8845, 10240};
#define NP (sizeof P_CAND / sizeof P_CAND[0])
#define NM (sizeof M_CAND / sizeof M_CAND[0])

void cai_plan_req_default(cai_plan_req *r) {
    memset(r, 0, sizeof *r);
    r->rate_per_vcpu = CAI_PLAN_DEFAULT_RATE;
    r->startup_s = CAI_PLAN_DEFAULT_STARTUP_S;
    r->s3_mbps = CAI_PLAN_DEFAULT_S3_MBPS;
    r->account_concurrency = CAI_DEFAULT_ACCOUNT_CONCURRENCY;
    r->max_concurrency = 0; /* 0: the account's */
    r->arch = CAI_ARCH_X86_64;
}

double cai_plan_throughput(const cai_plan_req *r, double v) {
    if (r->n_curve <= 0) return r->rate_per_vcpu * v;
    const double *T = r->curve_threads, *G = r->curve_gps;
    int n = r->n_curve;
    if (v <= T[0]) return G[0] * v / T[0];
    for (int i = 1; i < n; i++)
        if (v <= T[i]) return G[i - 1] + (G[i] - G[i - 1]) * (v - T[i - 1]) / (T[i] - T[i - 1]);
    /* Beyond the measured thread counts: keep the last per-thread rate (optimistic if scaling falls off). */
    return G[n - 1] * v / T[n - 1];
}

/* Memory a partition needs: the file, its decoded tensors, the model and oneDNN's scratch (estimate). */
static int need_mb(double partition_mb) { return (int)(384 + 2 * partition_mb); }

static double ramp_s(long concurrency) { return 10.0 * (double)((concurrency - 1) / 1000); }

void cai_plan_eval(const cai_plan_req *r, double P, int M, long C, cai_plan_choice *c) {
    memset(c, 0, sizeof *c);
    long g = (long)floor(P * CAI_GALAXIES_PER_MB);
    if (g < 1) g = 1;
    if ((double)g > r->galaxies) g = (long)ceil(r->galaxies); /* one partition holds everything */
    c->partition_mb = P;
    c->galaxies_per_rank = g;
    c->ranks = (long)ceil(r->galaxies / (double)g);
    c->memory_mb = M;
    c->vcpus = fmin(6.0, M / CAI_LAMBDA_MB_PER_VCPU);
    c->gps = cai_plan_throughput(r, c->vcpus);
    c->t_startup = r->startup_s;
    c->t_download = (double)g * CAI_BYTES_PER_GALAXY / 1048576.0 / r->s3_mbps;
    c->t_infer = c->gps > 0 ? (double)g / c->gps : INFINITY;
    c->t_invocation = c->t_startup + c->t_download + c->t_infer;
    if (C < 1) C = 1;
    if (C > c->ranks) C = c->ranks;
    c->concurrency = C;
    c->waves = (c->ranks + C - 1) / C;
    c->makespan_s = CAI_PLAN_ORCHESTRATION_S + ramp_s(C) + (double)c->waves * c->t_invocation;
    cai_cost_inputs in;
    cai_cost_inputs_default(&in);
    in.invocations = c->ranks;
    in.billed_seconds = (double)c->ranks * cai_cost_billed_seconds(c->t_invocation);
    in.memory_mb = M;
    in.arch = r->arch;
    in.galaxies = r->galaxies;
    long get, put, list;
    cai_cost_estimate_s3(c->ranks, c->ranks, &get, &put, &list);
    in.s3_get = get, in.s3_put = put, in.s3_list = list;
    cai_cost_compute(&in, &cai_prices_2026, &c->bill, NULL);
}

static void say(char *buf, size_t len, size_t *off, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void say(char *buf, size_t len, size_t *off, const char *fmt, ...) {
    if (!buf || *off >= len) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *off, len - *off, fmt, ap);
    va_end(ap);
    if (n > 0) *off += (size_t)n < len - *off ? (size_t)n : len - *off - 1;
}

/* Near-ties: plans within 1% of the best by the main criterion count as equal, and the other criterion
 * decides (a plan twice as fast for 0.5% more money is the better answer). Two passes keep it transitive. */
#define CAI_PLAN_TIE 1.01

static size_t pick(const cai_plan_req *r, const cai_plan_choice *v, size_t n) {
    size_t bi = 0;
    if (r->deadline_s > 0) { /* cheapest within the deadline */
        double lo = INFINITY;
        for (size_t i = 0; i < n; i++) lo = fmin(lo, v[i].bill.total);
        double best_t = INFINITY;
        for (size_t i = 0; i < n; i++)
            if (v[i].bill.total <= lo * CAI_PLAN_TIE && v[i].makespan_s < best_t) best_t = v[i].makespan_s, bi = i;
    } else { /* budget only: fastest within the budget */
        double lo = INFINITY;
        for (size_t i = 0; i < n; i++) lo = fmin(lo, v[i].makespan_s);
        double best_c = INFINITY;
        for (size_t i = 0; i < n; i++)
            if (v[i].makespan_s <= lo * CAI_PLAN_TIE && v[i].bill.total < best_c) best_c = v[i].bill.total, bi = i;
    }
    return bi;
}

int cai_plan_choose(const cai_plan_req *r, cai_plan_choice *out, char *why, size_t why_len, cai_err *err) {
    memset(out, 0, sizeof *out);
    if (!(r->galaxies >= 1) || r->galaxies > 1e13) return cai_seterr(err, CAI_EARG, "galaxies: expected a count >= 1");
    if (!(r->deadline_s > 0) && !(r->budget_usd > 0))
        return cai_seterr(err, CAI_EARG, "give a deadline (seconds) or a budget (USD)");
    if (!(r->startup_s >= 0) || !(r->s3_mbps > 0))
        return cai_seterr(err, CAI_EARG, "start-up must be >= 0 s and S3 bandwidth > 0 MB/s");
    if (cai_plan_throughput(r, 1.0) <= 0) return cai_seterr(err, CAI_EARG, "throughput must be > 0 galaxies/s");
    long acct = r->account_concurrency > 0 ? r->account_concurrency : CAI_DEFAULT_ACCOUNT_CONCURRENCY;
    long cmax = r->max_concurrency > 0 ? r->max_concurrency : acct;
    if (cmax > CAI_MAP_MAX_CONCURRENCY)
        return cai_seterr(err, CAI_EARG,
                          "concurrency %ld: a Distributed Map runs at most %d children at once "
                          "(MaxConcurrency)",
                          cmax, CAI_MAP_MAX_CONCURRENCY);
    if (cmax > acct)
        return cai_seterr(err, CAI_EARG,
                          "concurrency %ld is above the account's Lambda concurrency (%ld; the default "
                          "quota is 1,000): ask AWS for a quota increase, then pass --account-concurrency",
                          cmax, acct);
    if (r->memory_mb && (r->memory_mb < 128 || r->memory_mb > 10240))
        return cai_seterr(err, CAI_EARG, "memory %d MB: Lambda allows 128 to 10,240 MB", r->memory_mb);

    double plist[NP + 1];
    size_t np = 0;
    if (r->partition_mb > 0) plist[np++] = r->partition_mb;
    else
        for (size_t i = 0; i < NP; i++) plist[np++] = P_CAND[i];
    int mlist[NM + 1];
    size_t nm = 0;
    if (r->memory_mb) mlist[nm++] = r->memory_mb;
    else
        for (size_t i = 0; i < NM; i++) mlist[nm++] = M_CAND[i];

    cai_plan_choice best = {0}, cheapest = {0}, fastest = {0}, c;
    cai_plan_choice ok[NP * NM + 1];
    size_t nok = 0;
    int any_fits = 0;
    for (size_t i = 0; i < np; i++)
        for (size_t j = 0; j < nm; j++) {
            if (mlist[j] < need_mb(plist[i])) continue;
            cai_plan_eval(r, plist[i], mlist[j], cmax, &c);
            if (c.t_invocation > CAI_LAMBDA_TIMEOUT_S) continue;
            any_fits = 1;
            if (!cheapest.ranks || c.bill.total < cheapest.bill.total) cheapest = c;
            if (!fastest.ranks || c.makespan_s < fastest.makespan_s) fastest = c;
            if (r->budget_usd > 0 && c.bill.total > r->budget_usd) continue;
            if (r->deadline_s > 0) {
                if (c.makespan_s > r->deadline_s) continue;
                /* The fewest concurrent executions that still meet the deadline: same bill, less of the
                 * account's concurrency held. More waves = less concurrency. */
                long lo_c = c.concurrency;
                for (long w = c.waves + 1; w <= c.ranks && w <= 100000; w++) {
                    long cc = (c.ranks + w - 1) / w;
                    double ms =
                        CAI_PLAN_ORCHESTRATION_S + ramp_s(cc) + (double)((c.ranks + cc - 1) / cc) * c.t_invocation;
                    if (CAI_PLAN_ORCHESTRATION_S + (double)w * c.t_invocation > r->deadline_s) break;
                    if (ms <= r->deadline_s) lo_c = cc;
                }
                if (lo_c != c.concurrency) cai_plan_eval(r, plist[i], mlist[j], lo_c, &c);
            }
            if (nok < sizeof ok / sizeof ok[0]) ok[nok++] = c;
        }
    if (nok) best = ok[pick(r, ok, nok)];
    if (!any_fits)
        return cai_seterr(err, CAI_EARG,
                          "no partition size fits: each needs memory above %d MB or runs past Lambda's "
                          "15-minute limit at this throughput",
                          r->memory_mb);
    double floor_s = CAI_PLAN_ORCHESTRATION_S + r->startup_s;
    if (!best.ranks) {
        if (r->deadline_s > 0 && r->deadline_s < floor_s)
            return cai_seterr(err, CAI_EARG,
                              "deadline %.1f s is below the cold-start floor: every run needs %.1f s "
                              "(%.1f s Initialize/Summarize + %.1f s start-up) before any galaxy is done",
                              r->deadline_s, floor_s, CAI_PLAN_ORCHESTRATION_S, r->startup_s);
        if (r->deadline_s > 0 && fastest.makespan_s > r->deadline_s)
            return cai_seterr(err, CAI_EARG,
                              "deadline %.1f s cannot be met: the fastest plan (%g MB partitions, %d MB, "
                              "concurrency %ld, %ld waves) takes %.1f s%s",
                              r->deadline_s, fastest.partition_mb, fastest.memory_mb, fastest.concurrency,
                              fastest.waves, fastest.makespan_s,
                              cmax < CAI_MAP_MAX_CONCURRENCY && fastest.ranks >= cmax / 2
                                  ? "; more concurrency (a Lambda quota increase, then --account-concurrency) "
                                    "would allow smaller partitions"
                                  : "");
        if (r->budget_usd > 0 && cheapest.bill.total > r->budget_usd)
            return cai_seterr(err, CAI_EARG,
                              "budget $%.4f is below the minimum bill: the cheapest plan (%g MB "
                              "partitions, %d MB) costs $%.4f",
                              r->budget_usd, cheapest.partition_mb, cheapest.memory_mb, cheapest.bill.total);
        return cai_seterr(err, CAI_EARG,
                          "no plan meets both the deadline (%.1f s) and the budget ($%.4f): the "
                          "fastest takes %.1f s for $%.4f, the cheapest costs $%.4f and takes %.1f s",
                          r->deadline_s, r->budget_usd, fastest.makespan_s, fastest.bill.total, cheapest.bill.total,
                          cheapest.makespan_s);
    }
    *out = best;
    size_t off = 0;
    if (why && why_len) why[0] = 0;
    say(why, why_len, &off,
        "partition %g MB (%ld galaxies) -> %ld ranks; Lambda %d MB (%.2f vCPU, %s); "
        "MaxConcurrency %ld (%ld wave%s)\n",
        best.partition_mb, best.galaxies_per_rank, best.ranks, best.memory_mb, best.vcpus,
        r->arch == CAI_ARCH_ARM64 ? "arm64" : "x86_64", best.concurrency, best.waves, best.waves == 1 ? "" : "s");
    say(why, why_len, &off,
        "per invocation: %.2f s start-up + %.2f s download (%.0f MB/s) + %.2f s inference "
        "(%.0f galaxies/s) = %.2f s\n",
        best.t_startup, best.t_download, r->s3_mbps, best.t_infer, best.gps, best.t_invocation);
    say(why, why_len, &off,
        "run: about %.1f s (incl. %.0f s Initialize/Summarize%s); bill about $%.4f ($%.4f per "
        "million galaxies)\n",
        best.makespan_s, CAI_PLAN_ORCHESTRATION_S, ramp_s(best.concurrency) > 0 ? " and Lambda's scaling ramp" : "",
        best.bill.total, best.bill.per_million_galaxies);
    if (r->deadline_s > 0) {
        say(why, why_len, &off,
            "why: the cheapest plan that finishes within %.0f s (within 1%% of the cheapest, "
            "the fastest)",
            r->deadline_s);
        if (cheapest.bill.total < best.bill.total * 0.9999)
            say(why, why_len, &off, "; the cheapest overall (%g MB, %d MB) costs $%.4f and takes %.1f s",
                cheapest.partition_mb, cheapest.memory_mb, cheapest.bill.total, cheapest.makespan_s);
        else
            say(why, why_len, &off,
                "; it is also the cheapest overall (bigger partitions bill less start-up, "
                "smaller ones finish sooner)");
        if (best.concurrency < (best.ranks < cmax ? best.ranks : cmax))
            say(why, why_len, &off, "; concurrency held to %ld since more would not change the bill", best.concurrency);
        say(why, why_len, &off, "\n");
    } else {
        say(why, why_len, &off, "why: the fastest plan within $%.2f (within 1%% of the fastest, the cheapest)",
            r->budget_usd);
        if (fastest.makespan_s < best.makespan_s * 0.9999)
            say(why, why_len, &off, "; the fastest overall (%g MB, %d MB) takes %.1f s but costs $%.4f",
                fastest.partition_mb, fastest.memory_mb, fastest.makespan_s, fastest.bill.total);
        say(why, why_len, &off, "\n");
    }
    if (r->n_curve > 0 && best.vcpus > r->curve_threads[r->n_curve - 1])
        say(why, why_len, &off, "note: %.2f vCPU is beyond the measured %g threads; throughput extrapolated\n",
            best.vcpus, r->curve_threads[r->n_curve - 1]);
    return CAI_OK;
}

/* ---------- measured inputs ---------- */

static void add_point(cai_plan_req *r, double t, double g) {
    for (int i = 0; i < r->n_curve; i++)
        if (r->curve_threads[i] == t) {
            if (g > r->curve_gps[i]) r->curve_gps[i] = g; /* best batch size at this thread count */
            return;
        }
    if (r->n_curve >= 64) return;
    int i = r->n_curve++;
    while (i > 0 && r->curve_threads[i - 1] > t) {
        r->curve_threads[i] = r->curve_threads[i - 1];
        r->curve_gps[i] = r->curve_gps[i - 1];
        i--;
    }
    r->curve_threads[i] = t;
    r->curve_gps[i] = g;
}

static int bench_obj(const cJSON *o, const char *name, int line, cai_plan_req *r, cai_err *err) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "threads");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "galaxies_per_s");
    if (!t || !g) return 0; /* other lines (headers, notes) are not measurements */
    if (!cJSON_IsNumber(t) || !(t->valuedouble >= 1) || t->valuedouble > 1024)
        return cai_seterr(err, CAI_EFORMAT, "%s: line %d: field \"threads\": expected an integer >= 1", name, line);
    if (!cJSON_IsNumber(g) || !(g->valuedouble > 0) || !isfinite(g->valuedouble))
        return cai_seterr(err, CAI_EFORMAT, "%s: line %d: field \"galaxies_per_s\": expected a number > 0", name, line);
    add_point(r, t->valuedouble, g->valuedouble);
    return 0;
}

int cai_plan_load_bench(const char *text, size_t len, const char *name, cai_plan_req *r, cai_err *err) {
    r->n_curve = 0;
    /* One JSON document (array or object) only if nothing but whitespace follows it; else JSON lines. */
    const char *end = NULL;
    cJSON *all = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (all && end)
        for (const char *q = end; q < text + len; q++)
            if (*q != ' ' && *q != '\n' && *q != '\r' && *q != '\t' && *q != 0) {
                cJSON_Delete(all);
                all = NULL;
                break;
            }
    int rc = 0;
    if (all && cJSON_IsArray(all)) {
        for (int i = 0; i < cJSON_GetArraySize(all) && !rc; i++)
            rc = bench_obj(cJSON_GetArrayItem(all, i), name, i + 1, r, err);
    } else if (all && cJSON_IsObject(all)) {
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(all, "results");
        if (cJSON_IsArray(res))
            for (int i = 0; i < cJSON_GetArraySize(res) && !rc; i++)
                rc = bench_obj(cJSON_GetArrayItem(res, i), name, i + 1, r, err);
        else rc = bench_obj(all, name, 1, r, err);
    } else { /* JSON lines */
        size_t s = 0;
        int line = 0;
        while (s < len && !rc) {
            size_t e = s;
            while (e < len && text[e] != '\n') e++;
            line++;
            size_t a = s;
            while (a < e && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r')) a++;
            if (a < e && text[a] == '{') {
                cJSON *o = cJSON_ParseWithLength(text + a, e - a);
                if (!o) rc = cai_seterr(err, CAI_EFORMAT, "%s: line %d: malformed JSON", name, line);
                else rc = bench_obj(o, name, line, r, err);
                cJSON_Delete(o);
            }
            s = e + 1;
        }
    }
    cJSON_Delete(all);
    if (rc) return rc;
    if (r->n_curve == 0)
        return cai_seterr(err, CAI_EFORMAT,
                          "%s: no measurements (expected lines like "
                          "{\"threads\":4,\"batch\":256,\"galaxies_per_s\":900})",
                          name);
    r->rate_per_vcpu = r->curve_gps[0] / r->curve_threads[0];
    return CAI_OK;
}

int cai_plan_load_run(const char *run_dir, cai_plan_req *r, char *note, size_t note_len, cai_err *err) {
    char path[1200];
    cJSON *arr;
    int rc = cai_combined_load(run_dir, &arr, path, sizeof path, err);
    if (rc) return rc;
    /* CAI records: galaxies / (wall seconds × threads). Seed records: sample_persec on the seed's
     * 10,240 MB Lambda (5.79 vCPU). Wall time includes reading the partition: a conservative rate. */
    double gal = 0, vcpu_s = 0, seed_rate = 0;
    int cai_n = 0, seed_n = 0;
    int i = 0;
    for (const cJSON *o = arr->child; o; o = o->next, i++) {
        char rname[1300];
        snprintf(rname, sizeof rname, "%s: record %d", path, i);
        cai_rank_record rr;
        if ((rc = cai_rank_record_read(o, rname, &rr, err))) {
            cJSON_Delete(arr);
            return rc;
        }
        cai_rank_record_free(&rr); /* the partitions are not used here */
        if (rr.galaxies > 0 && rr.wall_seconds > 0 && rr.threads >= 1) {
            gal += (double)rr.galaxies;
            vcpu_s += rr.wall_seconds * (double)rr.threads;
            cai_n++;
        } else if (rr.sample_persec > 0 && rr.galaxies < 0) {
            seed_rate += rr.sample_persec;
            seed_n++;
        }
    }
    cJSON_Delete(arr);
    r->n_curve = 0;
    if (cai_n > 0) {
        r->rate_per_vcpu = gal / vcpu_s;
        if (note)
            snprintf(note, note_len,
                     "rate %.1f galaxies/s per vCPU from %d CAI rank records (galaxies / "
                     "(wall_seconds x threads))",
                     r->rate_per_vcpu, cai_n);
        return CAI_OK;
    }
    if (seed_n > 0) {
        r->rate_per_vcpu = seed_rate / seed_n / (10240 / CAI_LAMBDA_MB_PER_VCPU);
        if (note)
            snprintf(note, note_len,
                     "rate %.1f galaxies/s per vCPU from %d seed records (sample_persec on the "
                     "seed's 10,240 MB = 5.79 vCPU Lambda)",
                     r->rate_per_vcpu, seed_n);
        return CAI_OK;
    }
    return cai_seterr(err, CAI_EKEY,
                      "%s: no record carries galaxies + wall_seconds + threads (CAI) or "
                      "sample_persec (seed)",
                      path);
}
