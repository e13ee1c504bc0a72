/* bench_s3.c — S3 store throughput and latency against whatever AWS_ENDPOINT_URL points at (moto on
 * loopback in bench/s3_moto.sh; a real bucket works the same). usage: bench_s3 BUCKET
 * Measures: small PUTs (1 thread, 8 threads through one store), 25 MB GET (the seed's partition size),
 * 64 KB ranged GETs, 25 MB single PUT, 100 MB multipart PUT, a 1,000-key LIST page. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "store/s3.h"
#include "store/store.h"

static const char *bucket;

static void die(const cai_err *e) {
    fprintf(stderr, "bench_s3: %s\n", e->msg);
    exit(1);
}

typedef struct {
    cai_store *s;
    int from, to;
} job;

static void *put_small(void *u) {
    job *j = u;
    cai_err e = {0};
    char key[64], body[1024];
    memset(body, 'x', sizeof body);
    for (int i = j->from; i < j->to; i++) {
        snprintf(key, sizeof key, "bench/small/%06d", i);
        if (cai_store_put(j->s, bucket, key, body, sizeof body, &e)) die(&e);
    }
    return NULL;
}

static void report(const char *what, cai_store *s, double secs, double mb, int n) {
    cai_store_stats st;
    cai_store_stats_get(s, &st);
    printf("%-34s %8.3f s  %6d ops  %8.1f ops/s", what, secs, n, n / secs);
    if (mb > 0) printf("  %8.1f MB/s", mb / secs);
    if (st.num_requests)
        printf("  (requests %llu, latency avg %.1f ms, min %.1f, max %.1f)", (unsigned long long)st.num_requests,
               1e3 * st.total_time / (double)st.num_requests, 1e3 * st.min_time, 1e3 * st.max_time);
    printf("\n");
    cai_store_stats_reset(s);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: bench_s3 BUCKET   (AWS_* environment as for cai)\n");
        return 2;
    }
    bucket = argv[1];
    cai_store *s;
    cai_err e = {0};
    if (cai_store_open("s3://", &s, &e)) die(&e);
    double t;

    job j1 = {s, 0, 200};
    t = cai_mono_now();
    put_small(&j1);
    report("PUT 1 KB, 1 thread", s, cai_mono_now() - t, 0, 200);

    enum { T = 8, N = 1000 };
    pthread_t th[T];
    job js[T];
    t = cai_mono_now();
    for (int i = 0; i < T; i++) {
        js[i] = (job){s, 200 + i * N / T, 200 + (i + 1) * N / T};
        pthread_create(&th[i], NULL, put_small, &js[i]);
    }
    for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
    report("PUT 1 KB, 8 threads, one store", s, cai_mono_now() - t, 0, N);

    cai_keylist l;
    t = cai_mono_now();
    if (cai_store_list(s, bucket, "bench/small/", &l, &e)) die(&e);
    report("LIST 1,200 keys (2 pages)", s, cai_mono_now() - t, 0, 1);
    cai_keylist_free(&l);

    size_t big = 25u << 20;
    uint8_t *d = malloc(100u << 20);
    for (size_t i = 0; i < (100u << 20); i++) d[i] = (uint8_t)(i * 2654435761u >> 13);
    t = cai_mono_now();
    if (cai_store_put(s, bucket, "bench/25MB.bin", d, big, &e)) die(&e);
    report("PUT 25 MB (single, signed sha256)", s, cai_mono_now() - t, 25 * 1.048576, 1);

    t = cai_mono_now();
    for (int i = 0; i < 3; i++) {
        uint8_t *g;
        size_t n;
        if (cai_store_get(s, bucket, "bench/25MB.bin", &g, &n, &e)) die(&e);
        if (n != big || memcmp(g, d, n)) {
            fprintf(stderr, "bench_s3: GET returned different bytes\n");
            return 1;
        }
        free(g);
    }
    report("GET 25 MB x3", s, cai_mono_now() - t, 3 * 25 * 1.048576, 3);

    t = cai_mono_now();
    for (int i = 0; i < 50; i++) {
        uint8_t *g;
        size_t n;
        if (cai_store_get_range(s, bucket, "bench/25MB.bin", (uint64_t)i * 500000, 65536, &g, &n, &e)) die(&e);
        free(g);
    }
    report("GET range 64 KB x50", s, cai_mono_now() - t, 50 * 0.065536, 50);

    t = cai_mono_now();
    if (cai_store_put(s, bucket, "bench/100MB.bin", d, 100u << 20, &e)) die(&e);
    report("PUT 100 MB (multipart, 16 MiB parts)", s, cai_mono_now() - t, 100 * 1.048576, 1);

    t = cai_mono_now();
    char sha[65];
    cai_sha256_hex(d, 100u << 20, sha);
    double hs = cai_mono_now() - t;
    printf("%-34s %8.3f s  (%.0f MB/s: the cost of signing payloads instead of UNSIGNED-PAYLOAD)\n",
           "SHA-256 of 100 MB (local)", hs, 104.8576 / hs);
    free(d);
    cai_store_close(s);
    return 0;
}
