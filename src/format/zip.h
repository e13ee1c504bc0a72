/* zip.h — a restricted reader and a small streaming writer of the ZIP archives torch.save produces.
 * Layer format/: file formats shared by model/ and data/; includes only common/.
 * Owns: ZIP structure only (EOCD, ZIP64 records, central directory, local headers, stored/deflated data).
 * Must not touch: what the entries mean (torchpickle.c / seedpt.c decide that).
 *
 * The reader works over a caller-owned buffer (usually a memory-mapped file) and never reads outside it:
 * every length and offset is checked with overflow-checked arithmetic before use. It refuses, with an error
 * naming the archive and the entry: multi-disk archives, encryption, methods other than stored (0) and
 * deflate (8), duplicate names, names that are absolute or contain a ".." component, entries that overlap
 * each other or the central directory, and local headers that disagree with the central directory. */
#ifndef CAI_ZIP_H
#define CAI_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

#define CAI_ZIP_MAX_ENTRIES 1000000 /* torch archives hold one entry per storage: thousands at most */

typedef struct {
    char *name;          /* NUL-terminated copy of the entry name */
    int method;          /* 0 stored, 8 deflate */
    uint32_t crc;        /* CRC-32 from the central directory */
    uint64_t csize;      /* compressed size (== usize when stored) */
    uint64_t usize;      /* uncompressed size */
    uint64_t header_off; /* offset of the local header */
    uint64_t data_off;   /* offset of the (compressed) data */
} cai_zip_entry;

typedef struct {
    const uint8_t *buf;
    size_t len;
    char *name;             /* archive name used in messages */
    cai_zip_entry *entries; /* in central-directory order */
    size_t n;
    cai_zip_entry **by_name; /* the same entries sorted by name (cai_zip_find: binary search) */
} cai_zip;

/* Parse and validate the archive structure. `name` appears in every error. On error *z is left empty
 * (cai_zip_close is still safe to call). */
int cai_zip_open(const void *buf, size_t len, const char *name, cai_zip *z, cai_err *err);
void cai_zip_close(cai_zip *z);

/* Entry by exact name, or NULL. O(log n). */
const cai_zip_entry *cai_zip_find(const cai_zip *z, const char *name);

/* The uncompressed bytes of an entry. Stored entries are returned zero-copy (*owned = NULL, the pointer is
 * into the archive buffer); deflated entries are inflated into a heap buffer returned in *owned (free it).
 * With verify_crc != 0 the CRC-32 is checked too. */
int cai_zip_entry_data(const cai_zip *z, const cai_zip_entry *e, int verify_crc, const uint8_t **data, size_t *len,
                       void **owned, cai_err *err);

/* Streaming writer: entries are written one at a time (begin, any number of data calls, end); the local
 * header is patched with the CRC and sizes when the entry ends, so data never has to be held in memory.
 * Entry data start on 64-byte boundaries (padding in an extra field, as torch.save does), so readers that
 * map the file get aligned tensors. The file is written to "<path>.tmp.<pid>" and renamed on finish. */
typedef struct cai_zip_writer cai_zip_writer;
cai_zip_writer *cai_zip_writer_open(const char *path, cai_err *err);
/* size_hint: the entry's final size if known (>= 4 GiB switches the entry to ZIP64), else 0. */
int cai_zip_writer_begin(cai_zip_writer *w, const char *name, uint64_t size_hint, cai_err *err);
int cai_zip_writer_data(cai_zip_writer *w, const void *data, size_t len, cai_err *err);
int cai_zip_writer_end(cai_zip_writer *w, cai_err *err);
/* Central directory (+ ZIP64 end records when needed), fsync, rename. Frees w in every case. */
int cai_zip_writer_finish(cai_zip_writer *w, cai_err *err);
/* Drop the partial file and free w. */
void cai_zip_writer_abort(cai_zip_writer *w);

#endif
