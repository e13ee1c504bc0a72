/* manifest.h — the manifest of a partitioned data set: DIR/manifest.jsonl, one JSON object per partition in
 * order, plus the sidecar DIR/manifest.json with totals.
 * Owns: writing (streamed, atomic) and reading/validating those files. Must not touch: the partitions'
 * contents, stores (callers hand in bytes), job planning (the pipeline decides what to do with entries).
 *
 * One line per partition (fields in this order; readers ignore fields they do not know):
 *   {"key":"1.safetensors","galaxies":1278,"bytes":26240576,"sha256":"<64 hex of the whole file>",
 *    "id_first":0,"id_last":1277,"format":"shard"}
 * key is relative to the manifest's directory (prefix); id_first/id_last are null when galaxies is 0;
 * format is "shard" (CAI shard) or "pt" (the seed's torch.save layout).
 * Why JSONL and a sidecar, not one JSON document: a Step Functions Distributed Map's ItemReader reads JSONL
 * directly (each line one item) and a 10^5-partition manifest can be written and read one line at a time;
 * a header line inside the JSONL would become a bogus item, so the totals live in manifest.json:
 *   {"format":"cai-manifest/1","partitions":8,"galaxies":10000,"bytes":...,"id_first":0,"id_last":9999,
 *    "galaxies_per_partition":1278,"partition_format":"shard","manifest_sha256":"<sha of manifest.jsonl>"} */
#ifndef CAI_MANIFEST_H
#define CAI_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "partition.h"

#define CAI_MANIFEST_JSONL "manifest.jsonl"
#define CAI_MANIFEST_SIDECAR "manifest.json"
#define CAI_MANIFEST_KEY_MAX 1024 /* S3's key limit */

typedef struct {
    const char *key; /* relative key; see each API for how long it stays valid */
    int64_t galaxies;
    uint64_t bytes;
    char sha256[65];           /* lowercase hex of the whole partition object */
    int64_t id_first, id_last; /* only meaningful when galaxies > 0 */
    cai_part_format format;
    int64_t line; /* reader: 1-based line number in the manifest */
} cai_manifest_entry;

/* ---- Writer: entries are appended to DIR/manifest.jsonl.tmp.<pid> as they come, and renamed into place by
 * finish (readers never see half a manifest). */
typedef struct cai_manifest_writer cai_manifest_writer;
int cai_manifest_writer_open(const char *dir, cai_manifest_writer **w, cai_err *err);
int cai_manifest_writer_add(cai_manifest_writer *w, const cai_manifest_entry *e, cai_err *err);
/* Close, rename, and write the sidecar (galaxies_per_partition: the nominal size, 0 if not meaningful).
 * Frees w whatever happens. */
int cai_manifest_writer_finish(cai_manifest_writer *w, int64_t galaxies_per_partition, cai_err *err);
/* Give up: remove the temporary file, free w. */
void cai_manifest_writer_abort(cai_manifest_writer *w);

/* ---- Reader, streaming: iterate lines of a manifest held in memory (the buffer must outlive the iterator).
 * Blank lines are skipped. `name` (e.g. "data/25MB/manifest.jsonl") prefixes every message, with the line:
 *   manifest.jsonl:17: field "galaxies": expected a non-negative integer
 * cai_manifest_next returns 1 with *e filled (e->key points into the iterator, valid until the next call),
 * 0 at the end, or -1 with err set (code CAI_EFORMAT, or CAI_EKEY for a missing field). */
typedef struct {
    const char *buf;
    size_t len, pos;
    int64_t line;
    const char *name;
    char key[CAI_MANIFEST_KEY_MAX + 1];
} cai_manifest_iter;
void cai_manifest_iter_init(cai_manifest_iter *it, const void *buf, size_t len, const char *name);
int cai_manifest_next(cai_manifest_iter *it, cai_manifest_entry *e, cai_err *err);

/* ---- Reader, whole: every entry in an array (keys owned by m), validated line by line as above and as a
 * whole: no key twice (the message names both lines), no empty manifest. */
typedef struct {
    cai_manifest_entry *v;
    int64_t n;
    int64_t galaxies; /* sum over entries */
    uint64_t bytes;   /* sum over entries */
} cai_manifest;
int cai_manifest_parse(const void *buf, size_t len, const char *name, cai_manifest *m, cai_err *err);
int cai_manifest_load(const char *path, cai_manifest *m, cai_err *err);
void cai_manifest_free(cai_manifest *m);

/* Size and sha256 (hex) of a file, as an entry needs them (maps the file, hashes, unmaps). */
int cai_manifest_hash_file(const char *path, uint64_t *bytes, char hex[65], cai_err *err);

/* Check a partition's bytes against its entry (size and sha256). Errors name the key. */
int cai_manifest_verify_bytes(const cai_manifest_entry *e, const void *buf, size_t len, cai_err *err);

#endif
