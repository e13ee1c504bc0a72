/* bench_data.c — the data layer's costs: synth galaxies/s, shard serialize and parse (with and without the
 * checksum), seed .pt parse, manifest parse at 10^5 partitions. Usage: bench_data [galaxies (default 1278)].
 * Results depend on machine load: the load average is printed first. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "data/manifest.h"
#include "data/partition.h"
#include "data/seedpt.h"
#include "data/shard.h"
#include "data/synth.h"

static double best_of(int reps, double (*fn)(void *), void *ctx) {
    double b = 1e30;
    for (int i = 0; i < reps; i++) {
        double t = fn(ctx);
        if (t < b) b = t;
    }
    return b;
}

typedef struct {
    const uint8_t *buf;
    size_t len;
    unsigned flags;
} parse_ctx;

static double time_parse(void *c) {
    parse_ctx *p = c;
    cai_partition part;
    cai_err e = {0};
    double t0 = cai_mono_now();
    if (cai_partition_parse_ex(p->buf, p->len, "bench", p->flags, &part, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    double t = cai_mono_now() - t0;
    cai_partition_close(&part);
    return t;
}

int main(int argc, char **argv) {
    int64_t n = argc > 1 ? atoll(argv[1]) : 1278;
    if (n <= 0) return 2;
    double la[3] = {0};
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &la[0], &la[1], &la[2]) != 3) la[0] = -1;
        fclose(f);
    }
    printf("bench_data: %" PRId64 " galaxies, %d cpus, load average %.2f %.2f %.2f\n", n, cai_ncpu(), la[0], la[1],
           la[2]);
    float *img = malloc((size_t)n * CAI_SYNTH_NPIX * 4), *z = malloc((size_t)n * 4);
    double *mag = malloc((size_t)n * 40);
    int64_t *ids = malloc((size_t)n * 8);
    for (int64_t i = 0; i < n; i++) ids[i] = i;

    double c0 = cai_cpu_now(), t0 = cai_mono_now();
    cai_synth_galaxies(1, 0, n, img, mag, z, 1);
    double c1 = cai_cpu_now(), t1 = cai_mono_now();
    cai_synth_galaxies(1, 0, n, img, mag, z, 0);
    double t2 = cai_mono_now();
    printf("synth, 1 thread:     %8.0f galaxies/s (%.3f ms CPU each)\n", n / (t1 - t0), (c1 - c0) / n * 1e3);
    printf("synth, %d threads:    %8.0f galaxies/s\n", cai_ncpu(), n / (t2 - t1));

    cai_shard_data d = {n, img, mag, ids, z, "1", NULL, NULL, NULL};
    uint8_t *buf;
    size_t len;
    cai_err e = {0};
    t0 = cai_mono_now();
    if (cai_shard_serialize(&d, &buf, &len, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    t1 = cai_mono_now();
    double mb = len / 1048576.0;
    printf("shard serialize:     %8.0f MB/s (%.1f MB, incl. per-tensor sha256)\n", mb / (t1 - t0), mb);
    parse_ctx pc = {buf, len, 0};
    double tv = best_of(5, time_parse, &pc);
    pc.flags = CAI_PARTITION_NO_VERIFY;
    double tn = best_of(5, time_parse, &pc);
    printf("shard parse+verify:  %8.0f MB/s (%.1f ms)\n", mb / tv, tv * 1e3);
    printf("shard parse only:    %8.0f MB/s (%.3f ms: zero-copy view)\n", mb / tn, tn * 1e3);
    free(buf);

    char dir[] = "/tmp/cai-bench-data-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char path[128];
    snprintf(path, sizeof path, "%s/1.pt", dir);
    if (cai_seedpt_write(path, n, img, mag, z, &e) == CAI_OK) {
        cai_file fl;
        if (cai_file_map(path, &fl, &e) == CAI_OK) {
            parse_ctx pp = {fl.data, fl.len, 0};
            double tp = best_of(5, time_parse, &pp);
            printf("seed .pt parse:      %8.0f MB/s (%.1f ms, ZIP CRC + restricted pickle)\n", fl.len / 1048576.0 / tp,
                   tp * 1e3);
            cai_file_unmap(&fl);
        }
        unlink(path);
    }

    cai_manifest_writer *w;
    if (cai_manifest_writer_open(dir, &w, &e) == CAI_OK) {
        t0 = cai_mono_now();
        for (int i = 0; i < 100000; i++) {
            char key[32];
            snprintf(key, sizeof key, "%d.safetensors", i + 1);
            cai_manifest_entry en = {.key = key, .galaxies = 1278, .bytes = 26240728, .id_first = (int64_t)i * 1278,
                                     .id_last = (int64_t)i * 1278 + 1277, .format = CAI_PART_SHARD};
            memset(en.sha256, 'a', 64);
            cai_manifest_writer_add(w, &en, &e);
        }
        cai_manifest_writer_finish(w, 1278, &e);
        t1 = cai_mono_now();
        snprintf(path, sizeof path, "%s/manifest.jsonl", dir);
        cai_manifest m;
        t2 = cai_mono_now();
        if (cai_manifest_load(path, &m, &e) == CAI_OK) {
            double t3 = cai_mono_now();
            printf("manifest, 1e5 parts: write %.2f s, load+validate %.2f s\n", t1 - t0, t3 - t2);
            cai_manifest_free(&m);
        }
        unlink(path);
        snprintf(path, sizeof path, "%s/manifest.json", dir);
        unlink(path);
    }
    rmdir(dir);
    free(img);
    free(z);
    free(mag);
    free(ids);
    return 0;
}
