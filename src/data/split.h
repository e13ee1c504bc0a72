/* split.h — stream a data set (one file or a directory of partitions, either format) into fixed-size
 * partitions named 1..N like the seed's, plus a manifest.
 * Owns: input ordering, the galaxies-per-partition table, the streaming copy. Must not touch: the formats'
 * internals (partition/shard/seedpt do that), stores (local directories only; `aws s3 sync` the result). */
#ifndef CAI_SPLIT_H
#define CAI_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "partition.h"

#define CAI_BYTES_PER_GALAXY 20524 /* image f32 5x32x32 + magnitude f64 x5 + redshift f32: the seed's figure */

/* Galaxies per partition for a partition size in MB: the seed's table for 25/50/75/100 MB (1,278, 2,556,
 * 3,834, 5,113), otherwise ceil(mb * 2^20 / 20,524). Returns 0 for mb <= 0. */
int64_t cai_split_galaxies_for_mb(double mb);

/* The partition files of `input`: the file itself, or the directory's *.pt / *.safetensors files in numeric
 * order of their leading number (1, 2, ..., 10, not 1, 10, 2); names without a number follow, sorted by
 * name. Hidden files, temporaries and the manifest are skipped. *paths (and each string) is freed by the
 * caller (cai_split_free_list). */
int cai_split_list_inputs(const char *input, char ***paths, int *n, cai_err *err);
void cai_split_free_list(char **paths, int n);

typedef struct {
    const char *input;
    const char *outdir;
    int64_t per_partition;  /* galaxies per output partition (> 0) */
    cai_part_format format; /* output: CAI_PART_SHARD (default) or CAI_PART_SEEDPT */
    int64_t id_offset;      /* ids for inputs without ids (seed .pt): id_offset + running index */
    int force;              /* replace an existing data set in outdir */
    const char *ids_table;  /* FITS or CSV of objid and/or ra, dec to attach (idtable.h); NULL: none */
    const char *ids_column; /* its column matching the galaxy id; NULL: match by row order */
    void (*progress)(void *ctx, int64_t galaxies_done, int64_t partitions_done);
    void *ctx;
} cai_split_opts;

typedef struct {
    int inputs;
    int64_t galaxies, partitions, last_partition;
    uint64_t bytes;
    double seconds, peak_rss_mb;
} cai_split_report;

/* Streams: input files are mapped one at a time and their pages dropped as galaxies are copied out; one
 * output partition is held in memory and written as soon as it fills. Input ids are kept (shards);
 * inputs without ids get id_offset + the galaxy's position in the whole input. All inputs must agree on
 * having labels; --format pt needs them. */
int cai_split_run(const cai_split_opts *o, cai_split_report *r, cai_err *err);

#endif
