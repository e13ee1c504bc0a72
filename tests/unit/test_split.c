/* test_split.c — the seed's galaxies-per-file table, numeric input order, and streaming re-partitioning
 * (counts, ids, data identity, manifest checksums, and the errors). Peak RSS of the real command is checked
 * in tests/integration/synth_split.sh (a process-wide figure). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/util.h"
#include "data/manifest.h"
#include "data/partition.h"
#include "data/shard.h"
#include "data/split.h"
#include "data/synth.h"
#include "tmpdir.h"

#define NP CAI_SYNTH_NPIX

TMPDIR_GROUP("split")

static void test_seed_table(void **state) {
    (void)state;
    assert_int_equal(cai_split_galaxies_for_mb(25), 1278);
    assert_int_equal(cai_split_galaxies_for_mb(50), 2556);
    assert_int_equal(cai_split_galaxies_for_mb(75), 3834);
    assert_int_equal(cai_split_galaxies_for_mb(100), 5113);
    assert_int_equal(cai_split_galaxies_for_mb(10), 511); /* ceil(10 * 2^20 / 20524) = ceil(510.9) */
    assert_int_equal(cai_split_galaxies_for_mb(1), 52);
    assert_int_equal(cai_split_galaxies_for_mb(0), 0);
    assert_int_equal(cai_split_galaxies_for_mb(-5), 0);
    /* The seed's full set, 659,817 galaxies: files and last file as in contracts.md. */
    const int64_t total = 659817;
    struct {
        double mb;
        int64_t files, last;
    } t[] = {{25, 517, 369}, {50, 259, 369}, {75, 173, 369}, {100, 130, 240}};
    for (int i = 0; i < 4; i++) {
        int64_t k = cai_split_galaxies_for_mb(t[i].mb), files = (total + k - 1) / k;
        assert_int_equal(files, t[i].files);
        assert_int_equal(total - (files - 1) * k, t[i].last);
    }
}

static void touch(const char *name) {
    FILE *f = fopen(path_of(name), "w");
    assert_non_null(f);
    fclose(f);
}

static void test_numeric_order(void **state) {
    (void)state;
    char sub[128];
    snprintf(sub, sizeof sub, "%s/order", dir);
    cai_err e = {0};
    assert_int_equal(cai_mkdirs(sub, &e), CAI_OK);
    const char *names[] = {"order/10.pt", "order/2.pt", "order/1.pt", "order/100.safetensors", "order/9.pt",
                           "order/b.pt", "order/a.safetensors", "order/.hidden.pt", "order/manifest.jsonl",
                           "order/3.pt.tmp.123", "order/notes.txt"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) touch(names[i]);
    char **paths;
    int n;
    assert_int_equal(cai_split_list_inputs(sub, &paths, &n, &e), CAI_OK);
    const char *want[] = {"1.pt", "2.pt", "9.pt", "10.pt", "100.safetensors", "a.safetensors", "b.pt"};
    assert_int_equal(n, 7);
    for (int i = 0; i < n; i++) assert_string_equal(strrchr(paths[i], '/') + 1, want[i]);
    cai_split_free_list(paths, n);
    /* A single file is its own list; a missing path and an empty directory are errors. */
    assert_int_equal(cai_split_list_inputs(path_of("order/9.pt"), &paths, &n, &e), CAI_OK);
    assert_int_equal(n, 1);
    cai_split_free_list(paths, n);
    assert_int_equal(cai_split_list_inputs(path_of("nope"), &paths, &n, &e), CAI_ENOTFOUND);
    snprintf(sub, sizeof sub, "%s/emptydir", dir);
    assert_int_equal(cai_mkdirs(sub, &e), CAI_OK);
    assert_int_equal(cai_split_list_inputs(sub, &paths, &n, &e), CAI_ENOTFOUND);
    assert_non_null(strstr(e.msg, "no partition files"));
}

/* 60 galaxies written as 4 inputs of 15, in the given format. */
static void make_input(const char *sub, cai_part_format fmt, int64_t id_offset) {
    cai_synth_opts o = {.galaxies = 60, .seed = 11, .id_offset = id_offset, .per_file = 15, .format = fmt,
                        .outdir = path_of(sub), .threads = 1};
    cai_err e = {0};
    assert_int_equal(cai_synth_write(&o, NULL, &e), CAI_OK);
}

/* src0: the synth id of the first input galaxy; id0: the id the output should carry for it. */
static void check_output(const char *sub, int64_t src0, int64_t id0, cai_part_format fmt) {
    float *img = malloc(60 * NP * 4), *z = malloc(60 * 4);
    double *mag = malloc(60 * 40);
    cai_synth_galaxies(11, src0, 60, img, mag, z, 1);
    char path[300];
    snprintf(path, sizeof path, "%s/manifest.jsonl", path_of(sub));
    cai_manifest m;
    cai_err e = {0};
    assert_int_equal(cai_manifest_load(path, &m, &e), CAI_OK);
    assert_int_equal(m.n, 3);
    int64_t want[] = {25, 25, 10}, row = 0;
    for (int i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof key, "%d.%s", i + 1, fmt == CAI_PART_SHARD ? "safetensors" : "pt");
        assert_string_equal(m.v[i].key, key);
        assert_int_equal(m.v[i].galaxies, want[i]);
        assert_int_equal(m.v[i].id_first, id0 + row);
        assert_int_equal(m.v[i].id_last, id0 + row + want[i] - 1);
        snprintf(path, sizeof path, "%s/%s", path_of(sub), key);
        cai_file f;
        assert_int_equal(cai_file_map(path, &f, &e), CAI_OK);
        assert_int_equal(cai_manifest_verify_bytes(&m.v[i], f.data, f.len, &e), CAI_OK);
        cai_partition p;
        assert_int_equal(cai_partition_parse(f.data, f.len, path, &p, &e), CAI_OK);
        assert_int_equal(p.n, want[i]);
        assert_memory_equal(p.images, img + row * NP, (size_t)want[i] * NP * 4);
        assert_memory_equal(p.mags, mag + row * 5, (size_t)want[i] * 40);
        assert_memory_equal(p.labels, z + row, (size_t)want[i] * 4);
        if (p.ids)
            for (int64_t k = 0; k < want[i]; k++) assert_int_equal(p.ids[k], id0 + row + k);
        cai_partition_close(&p);
        cai_file_unmap(&f);
        row += want[i];
    }
    cai_manifest_free(&m);
    free(img);
    free(z);
    free(mag);
}

static void test_split_shards_and_pt(void **state) {
    (void)state;
    make_input("in_shard", CAI_PART_SHARD, 500);
    make_input("in_pt", CAI_PART_SEEDPT, 0);
    cai_split_report r;
    cai_err e = {0};
    /* shard -> shard keeps the input ids */
    cai_split_opts o = {.input = path_of("in_shard"), .outdir = path_of("out1"), .per_partition = 25};
    assert_int_equal(cai_split_run(&o, &r, &e), CAI_OK);
    assert_int_equal(r.inputs, 4);
    assert_int_equal(r.galaxies, 60);
    assert_int_equal(r.partitions, 3);
    assert_int_equal(r.last_partition, 10);
    check_output("out1", 500, 500, CAI_PART_SHARD);
    /* pt -> shard: ids are id_offset + position */
    o = (cai_split_opts){.input = path_of("in_pt"), .outdir = path_of("out2"), .per_partition = 25, .id_offset = 7000};
    assert_int_equal(cai_split_run(&o, &r, &e), CAI_OK);
    check_output("out2", 0, 7000, CAI_PART_SHARD);
    /* shard -> pt (the seed's layout) */
    o = (cai_split_opts){.input = path_of("in_shard"), .outdir = path_of("out3"), .per_partition = 25, .format = CAI_PART_SEEDPT};
    assert_int_equal(cai_split_run(&o, &r, &e), CAI_OK);
    check_output("out3", 500, 500, CAI_PART_SEEDPT);
    /* one file as input */
    o = (cai_split_opts){.input = path_of("in_pt/2.pt"), .outdir = path_of("out4"), .per_partition = 4};
    assert_int_equal(cai_split_run(&o, &r, &e), CAI_OK);
    assert_int_equal(r.partitions, 4);
    assert_int_equal(r.last_partition, 3);
    /* refuses to overwrite, or to write where the input is */
    o = (cai_split_opts){.input = path_of("in_shard"), .outdir = path_of("out1"), .per_partition = 25};
    assert_int_equal(cai_split_run(&o, &r, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "--force"));
    o.force = 1;
    assert_int_equal(cai_split_run(&o, &r, &e), CAI_OK);
    o.outdir = path_of("in_shard");
    assert_int_equal(cai_split_run(&o, &r, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "where the input is"));
    o.outdir = path_of("out5");
    o.per_partition = 0;
    assert_int_equal(cai_split_run(&o, &r, &e), CAI_EARG);
}

static void test_split_bad_inputs(void **state) {
    (void)state;
    cai_err e = {0};
    cai_split_report r;
    /* A corrupt partition in the middle: the error names it. */
    make_input("bad1", CAI_PART_SHARD, 0);
    cai_file f;
    assert_int_equal(cai_file_map(path_of("bad1/3.safetensors"), &f, &e), CAI_OK);
    uint8_t *copy = malloc(f.len);
    memcpy(copy, f.data, f.len);
    copy[f.len - 5] ^= 0xff;
    assert_int_equal(cai_write_file_atomic(path_of("bad1/3.safetensors"), copy, f.len, &e), CAI_OK);
    cai_file_unmap(&f);
    free(copy);
    cai_split_opts o = {.input = path_of("bad1"), .outdir = path_of("bad1_out"), .per_partition = 25};
    assert_int_equal(cai_split_run(&o, &r, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "bad1/3.safetensors"));
    assert_non_null(strstr(e.msg, "checksum"));
    /* A text file posing as a partition. */
    make_input("bad2", CAI_PART_SHARD, 0);
    assert_int_equal(cai_write_file_atomic(path_of("bad2/5.pt"), "not a partition\n", 16, &e), CAI_OK);
    o = (cai_split_opts){.input = path_of("bad2"), .outdir = path_of("bad2_out"), .per_partition = 25};
    assert_int_equal(cai_split_run(&o, &r, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "bad2/5.pt"));
    /* Unlabelled shards: fine as shards, refused as seed .pt; mixed with labelled ones, refused. */
    float img[2 * NP] = {0}, z[2] = {0};
    double mag[10] = {0};
    int64_t ids[2] = {0, 1};
    cai_shard_data d = {2, img, mag, ids, NULL, NULL, NULL, NULL, NULL};
    assert_int_equal(cai_mkdirs(path_of("nolab"), &e), CAI_OK);
    assert_int_equal(cai_shard_write(path_of("nolab/1.safetensors"), &d, NULL, NULL, &e), CAI_OK);
    o = (cai_split_opts){.input = path_of("nolab"), .outdir = path_of("nolab_out"), .per_partition = 1};
    assert_int_equal(cai_split_run(&o, &r, &e), CAI_OK);
    o = (cai_split_opts){.input = path_of("nolab"), .outdir = path_of("nolab_pt"), .per_partition = 1, .format = CAI_PART_SEEDPT};
    assert_int_equal(cai_split_run(&o, &r, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "no redshift labels"));
    d.redshift = z;
    assert_int_equal(cai_shard_write(path_of("nolab/2.safetensors"), &d, NULL, NULL, &e), CAI_OK);
    o = (cai_split_opts){.input = path_of("nolab"), .outdir = path_of("mixed_out"), .per_partition = 1};
    assert_int_equal(cai_split_run(&o, &r, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "nolab/2.safetensors"));
    /* Only empty partitions: nothing to split. */
    d.n = 0;
    assert_int_equal(cai_mkdirs(path_of("empty"), &e), CAI_OK);
    assert_int_equal(cai_shard_write(path_of("empty/1.safetensors"), &d, NULL, NULL, &e), CAI_OK);
    o = (cai_split_opts){.input = path_of("empty"), .outdir = path_of("empty_out"), .per_partition = 1};
    assert_int_equal(cai_split_run(&o, &r, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "no galaxies"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_table),
        cmocka_unit_test(test_numeric_order),
        cmocka_unit_test(test_split_shards_and_pt),
        cmocka_unit_test(test_split_bad_inputs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
