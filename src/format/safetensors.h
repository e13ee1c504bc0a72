/* safetensors.h — reader and writer of the safetensors container (8-byte LE header length, JSON header,
 * Layer format/: file formats shared by model/ and data/; includes only common/.
 * raw little-endian data). Used for model weights and for CAI's own partition shards.
 * Owns: the container only. Must not touch: what the tensors mean (model.c / shard.c decide that). */
#ifndef CAI_SAFETENSORS_H
#define CAI_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "../common/util.h"

#define CAI_ST_MAXDIM 8

typedef enum {
    CAI_ST_F32,
    CAI_ST_F64,
    CAI_ST_F16,
    CAI_ST_BF16,
    CAI_ST_I64,
    CAI_ST_I32,
    CAI_ST_I8,
    CAI_ST_U8,
    CAI_ST_BOOL
} cai_st_dtype;

typedef struct {
    char *name;
    cai_st_dtype dtype;
    int ndim;
    int64_t shape[CAI_ST_MAXDIM];
    uint64_t nbytes;  /* = prod(shape) * dtype size, validated against the offsets */
    const void *data; /* points into the mapped file/buffer; valid until cai_st_close */
} cai_st_tensor;

typedef struct {
    cai_file file; /* owns the mapping when opened with cai_st_open */
    cai_st_tensor *tensors;
    int ntensors;
    char **meta_keys, **meta_vals; /* __metadata__ (string → string) */
    int nmeta;
} cai_safetensors;

/* Open and validate: header length within file, JSON well-formed, every dtype known, every shape
 * non-negative, offsets in range, in order, non-overlapping, and each length = prod(shape)*size.
 * Errors name the file and the tensor. */
int cai_st_open(const char *path, cai_safetensors *st, cai_err *err);
/* Same, over a caller-owned buffer (not copied; must outlive st). `name` is used in messages. */
int cai_st_parse(const void *buf, size_t len, const char *name, cai_safetensors *st, cai_err *err);
void cai_st_close(cai_safetensors *st);

const cai_st_tensor *cai_st_find(const cai_safetensors *st, const char *name);
const char *cai_st_meta(const cai_safetensors *st, const char *key); /* NULL if absent */
size_t cai_st_dtype_size(cai_st_dtype dt);
const char *cai_st_dtype_name(cai_st_dtype dt); /* "F32", ... as in the format */

/* Writer: collect tensors (data is copied at save time, not at add time: keep it alive), then save
 * atomically. Data offsets are aligned to 64 bytes by padding the JSON header with spaces, so that
 * memory-mapped readers get aligned float/double arrays. */
typedef struct cai_st_writer cai_st_writer;
cai_st_writer *cai_st_writer_new(void);
int cai_st_writer_add(cai_st_writer *w, const char *name, cai_st_dtype dt, int ndim, const int64_t *shape,
                      const void *data, cai_err *err);
int cai_st_writer_meta(cai_st_writer *w, const char *key, const char *val, cai_err *err);
int cai_st_writer_save(cai_st_writer *w, const char *path, cai_err *err);
/* Serialize into one heap buffer (for stores that PUT bytes). */
int cai_st_writer_serialize(cai_st_writer *w, uint8_t **out, size_t *len, cai_err *err);
void cai_st_writer_free(cai_st_writer *w);

#endif
