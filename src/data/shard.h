/* shard.h — CAI's own partition format: a safetensors file with the galaxies of one partition.
 * Owns: which tensors and metadata a shard has, their validation and the per-tensor checksums.
 * Must not touch: the safetensors container itself (model/safetensors.c), stores, the model.
 *
 * Layout (cai-shard/1; see docs/data.md):
 *   images      F32 (N,5,32,32)   ugriz cutouts, nanomaggies per pixel
 *   magnitudes  F64 (N,5)         ugriz magnitudes (F32 is accepted on read)
 *   ids         I64 (N,)          galaxy ids
 *   redshift    F32 (N,)          optional: true (spectroscopic) redshift, the label
 *   objid       I64 (N,)          optional: the survey's object id (e.g. SDSS objID), for joins
 *   ra, dec     F64 (N,)          optional (both or neither): J2000 position, degrees
 *   __metadata__: "cai.format"="cai-shard/1", "galaxies"="N", "id_first", "id_last" (decimal; absent when
 *   N=0), "partition" (optional name, e.g. "3"), and "checksum.<tensor>"="sha256:<64 hex>" for every tensor.
 * The checksums are per tensor (over exactly that tensor's bytes) so a reader that range-fetches tensors from
 * object storage can verify what it fetched without the rest of the file.
 * Python: safetensors.torch.load_file("1.safetensors") -> {"images":..., "magnitudes":..., "ids":...}. */
#ifndef CAI_SHARD_H
#define CAI_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "../common/util.h"
#include "../model/safetensors.h"

#define CAI_SHARD_FORMAT "cai-shard/1"

/* Parse flags. Verification is on by default: a flipped bit in a partition would otherwise become a silently
 * wrong redshift. Skip it only when the caller has already checked the whole object (e.g. against the
 * manifest's sha256); hashing costs ~70 ms per 100 MB on this machine. */
#define CAI_SHARD_NO_VERIFY 1u

typedef struct {
    int64_t n;
    const float *images;    /* (n,5,32,32); points into the buffer (zero-copy) */
    const void *mags;       /* (n,5), mag_dtype */
    cai_dtype mag_dtype;
    const int64_t *ids;     /* (n,) */
    const float *redshift;  /* (n,) or NULL */
    const int64_t *objid;   /* (n,) or NULL */
    const double *ra, *dec; /* (n,) degrees, or NULL */
    const char *partition;  /* metadata "partition", or NULL */
    cai_safetensors st;     /* the container (owns the mapping when opened with cai_shard_open) */
} cai_shard;

/* Validate and view a shard held in memory (the buffer must outlive `s`). Checks: cai.format, every
 * required tensor present with the right dtype/shape, no unknown tensors, the same N everywhere,
 * "galaxies"/"id_first"/"id_last" agree with the tensors, natural alignment of every tensor, and (unless
 * CAI_SHARD_NO_VERIFY) each tensor's sha256. Every error names `name`. On error `s` needs no close. */
int cai_shard_parse(const void *buf, size_t len, const char *name, unsigned flags, cai_shard *s, cai_err *err);
/* Verify a shard parsed with CAI_SHARD_NO_VERIFY: each tensor's sha256, hashed in chunks of `chunk` bytes
 * (0: 8 MB). After each chunk, `done(ctx, ptr, len)` (may be NULL) is told those bytes are finished, so a
 * caller streaming a huge mapped file can drop their pages (cai_partition_open does). */
int cai_shard_verify(const cai_shard *s, const char *name, size_t chunk,
                     void (*done)(void *ctx, const void *p, size_t n), void *ctx, cai_err *err);
/* Same, with the verification hashed in chunks and `done(ctx, ptr, len)` told after each (see
 * cai_shard_verify): used to drop a mapped file's pages behind the hash. */
int cai_shard_parse_ex(const void *buf, size_t len, const char *name, unsigned flags,
                       void (*done)(void *ctx, const void *p, size_t n), void *ctx, cai_shard *s, cai_err *err);
/* Map `path` and parse it; the mapping is released by cai_shard_close. */
int cai_shard_open(const char *path, unsigned flags, cai_shard *s, cai_err *err);
void cai_shard_close(cai_shard *s);

/* What to write. redshift, objid, ra/dec and partition may be NULL. Arrays are read, never kept. */
typedef struct {
    int64_t n;
    const float *images;
    const double *mags;
    const int64_t *ids;
    const float *redshift;
    const char *partition;
    const int64_t *objid;   /* optional */
    const double *ra, *dec; /* optional, both or neither */
} cai_shard_data;

/* Serialize into one heap buffer (caller frees), e.g. to PUT it to a store. */
int cai_shard_serialize(const cai_shard_data *d, uint8_t **out, size_t *len, cai_err *err);
/* Write atomically to `path`. Optionally returns the file's size and the sha256 (hex) of its bytes, for the
 * manifest. */
int cai_shard_write(const char *path, const cai_shard_data *d, uint64_t *bytes_out, char sha256_hex_out[65],
                    cai_err *err);

/* Range reads from object storage: the first 8 bytes give the header's length. Returns in *need how many
 * bytes from the start of the object hold the whole header (8 + header length, bounded to 100 MB like the
 * reference safetensors). The header's "data_offsets" then give each tensor's byte range, relative to
 * *need; each fetched range can be checked against its "checksum.<tensor>". */
int cai_shard_header_bytes(const void *first8, size_t len, const char *name, uint64_t *need, cai_err *err);

#endif
