/* partition.h — one partition of galaxies, whatever its file format (seed .pt or CAI shard).
 * Owns: format detection and a uniform view of images/magnitudes/ids/labels. Must not touch: where the
 * bytes came from (store) or what is done with them (model, pipeline). */
#ifndef CAI_PARTITION_H
#define CAI_PARTITION_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "../common/util.h"

typedef enum { CAI_PART_SEEDPT = 1, CAI_PART_SHARD = 2 } cai_part_format;

typedef struct {
    cai_part_format format;
    int64_t n;
    const float *images; /* (n,5,32,32) float32 */
    const void *mags;    /* (n,5), mag_dtype */
    cai_dtype mag_dtype;
    const float *labels;    /* (n,) true redshift, or NULL */
    const int64_t *ids;     /* (n,) galaxy ids, or NULL (seed .pt has none: callers use index) */
    const int64_t *objid;   /* (n,) survey object ids, or NULL */
    const double *ra, *dec; /* (n,) degrees, or NULL */
    void *impl;             /* format-specific state */
} cai_partition;

/* Parse from a buffer the caller keeps alive until cai_partition_close. `name` goes into messages.
 * The format is chosen by the first bytes: "PK\x03\x04" (ZIP) is a seed .pt, an 8-byte length followed by
 * '{' is a CAI shard; anything else (empty, text, truncated header) is CAI_EFORMAT naming the file.
 * Shards have their checksums verified. */
int cai_partition_parse(const void *buf, size_t len, const char *name, cai_partition *p, cai_err *err);
/* Same, with flags: CAI_PARTITION_NO_VERIFY skips a shard's per-tensor sha256 (only for callers that already
 * verified the whole object, e.g. against the manifest). */
#define CAI_PARTITION_NO_VERIFY 1u
int cai_partition_parse_ex(const void *buf, size_t len, const char *name, unsigned flags, cai_partition *p,
                           cai_err *err);
/* Map a file and parse it; the mapping is released by close. */
int cai_partition_open(const char *path, cai_partition *p, cai_err *err);
void cai_partition_close(cai_partition *p);

/* The naming rule of partition files, one for writers (split, synth) and readers (Initialize, the worker):
 * "<N>.pt" (the seed's) or "<N>.safetensors" (a CAI shard), N decimal without sign or leading '+', at most
 * 18 digits, no directory. cai_partition_number: N of such a name, or -1 for any other name.
 * cai_partition_name: the name of partition N in format f (out must hold 32 bytes). */
#define CAI_PARTITION_NAME_MAX 32
int cai_partition_number(const char *base, uint64_t *num);
void cai_partition_name(uint64_t num, cai_part_format f, char out[CAI_PARTITION_NAME_MAX]);

/* Which format the bytes look like (0 when neither); does not validate beyond the magic. */
cai_part_format cai_partition_detect(const void *buf, size_t len);
const char *cai_part_format_name(cai_part_format f); /* "pt", "shard" */

/* Tell the kernel that galaxies [first, first+count) will not be read again: their pages of a file-backed
 * mapping are dropped (MADV_DONTNEED), so streaming through a huge mapped partition keeps RSS bounded.
 * A no-op for data not in a private file mapping (heap copies, caller buffers). */
void cai_partition_release(cai_partition *p, int64_t first, int64_t count);

#endif
