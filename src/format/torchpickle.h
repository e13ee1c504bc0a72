/* torchpickle.h — a restricted pickle VM for torch.save's data.pkl, building an inert object tree.
 * Layer format/: file formats shared by model/ and data/; includes only common/.
 * Owns: decoding pickle opcodes, the global allow-list, tensor/storage records bounds-checked against the
 * archive. Must not touch: what the objects mean (seedpt.c, convert.c walk the tree).
 *
 * Security stance: nothing named in a pickle is ever imported, called or executed. A GLOBAL is resolved only
 * against a fixed allow-list; allowed classes become names on inert objects, REDUCE/NEWOBJ on them record the
 * arguments, BUILD records the state. Anything else (os.system, builtins.eval, ...) is CAI_EFORBIDDEN.
 * Stack, memo, nesting depth and object count are bounded. */
#ifndef CAI_TORCHPICKLE_H
#define CAI_TORCHPICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "zip.h"

#define CAI_TP_MAX_DEPTH 1000      /* MARK nesting and container nesting */
#define CAI_TP_MAX_OBJECTS 4000000 /* objects created by one pickle */
#define CAI_TP_MAX_STACK 1000000   /* values on the VM stack */
#define CAI_TP_MAX_MEMO (1u << 22) /* memo slots */
#define CAI_TP_MAX_NDIM 16

typedef enum {
    CAI_TP_NONE,
    CAI_TP_BOOL,
    CAI_TP_INT,
    CAI_TP_FLOAT,
    CAI_TP_STR,
    CAI_TP_BYTES,
    CAI_TP_TUPLE,
    CAI_TP_LIST,
    CAI_TP_DICT,   /* dict and OrderedDict: insertion order kept */
    CAI_TP_SET,    /* set / frozenset */
    CAI_TP_GLOBAL, /* an allowed global, e.g. a class name: s = "module.qualname" */
    CAI_TP_OBJECT, /* instance of an allowed class: s = class name, args, state */
    CAI_TP_STORAGE,
    CAI_TP_TENSOR,
} cai_tp_kind;

typedef enum {
    CAI_TP_F32,
    CAI_TP_F64,
    CAI_TP_F16,
    CAI_TP_BF16,
    CAI_TP_I64,
    CAI_TP_I32,
    CAI_TP_I16,
    CAI_TP_I8,
    CAI_TP_U8,
    CAI_TP_BOOLT,
    CAI_TP_DTYPE_COUNT
} cai_tp_dtype;

typedef struct {
    char *key; /* the archive's data/<key> */
    cai_tp_dtype dtype;
    const uint8_t *data; /* into the archive buffer (stored) or owned by the document (inflated) */
    uint64_t nbytes;
    int owned; /* data is a heap copy owned by the document (not inside the archive buffer) */
} cai_tp_storage;

typedef struct {
    cai_tp_storage *storage;
    cai_tp_dtype dtype;
    int ndim;
    int64_t shape[CAI_TP_MAX_NDIM];
    int64_t stride[CAI_TP_MAX_NDIM]; /* in elements */
    int64_t offset;                  /* in elements */
    int64_t numel;
    int is_parameter;
} cai_tp_tensor;

typedef struct cai_tp_obj cai_tp_obj;
struct cai_tp_obj {
    cai_tp_kind kind;
    int depth; /* nesting depth of containers below this one */
    int64_t i; /* BOOL, INT */
    double f;  /* FLOAT */
    char *s;   /* STR, BYTES (not NUL-safe: use slen), GLOBAL and OBJECT: class name */
    size_t slen;
    cai_tp_obj **items; /* TUPLE/LIST/SET: n items; DICT: n pairs, key items[2k], value items[2k+1] */
    size_t n, cap;
    cai_tp_obj *args;        /* OBJECT: constructor arguments (a TUPLE) */
    cai_tp_obj *state;       /* OBJECT/DICT: BUILD state (the instance __dict__), or NULL */
    cai_tp_storage *storage; /* STORAGE */
    cai_tp_tensor *tensor;   /* TENSOR */
};

typedef struct cai_tp_doc cai_tp_doc;

/* Run a pickle. `name` appears in errors. Persistent ids ('storage', <Type>Storage, key, location, numel)
 * resolve to entries "<prefix>/data/<key>" of `zip`; with zip == NULL a persistent id is an error. */
int cai_tp_load(const uint8_t *pkl, size_t len, const char *name, const cai_zip *zip, const char *prefix,
                cai_tp_doc **out, cai_err *err);

/* Open a torch.save ZIP archive held in memory: finds the one "<prefix>/data.pkl", runs it. The buffer must
 * outlive the document. verify_crc: check each entry's CRC-32 as it is used. */
int cai_tp_load_archive(const void *buf, size_t len, const char *name, int verify_crc, cai_tp_doc **out, cai_err *err);

const cai_tp_obj *cai_tp_root(const cai_tp_doc *d);
const char *cai_tp_name(const cai_tp_doc *d); /* the name given at load */
void cai_tp_free(cai_tp_doc *d);

/* Walking. All accept NULL and return NULL/0 on a kind mismatch. */
const char *cai_tp_kind_name(cai_tp_kind k);
const char *cai_tp_dtype_name(cai_tp_dtype dt); /* "float32", ... */
size_t cai_tp_dtype_size(cai_tp_dtype dt);
const char *cai_tp_class(const cai_tp_obj *o);                              /* OBJECT/GLOBAL class name, else NULL */
const cai_tp_obj *cai_tp_dict_get(const cai_tp_obj *dict, const char *key); /* string keys */
const cai_tp_obj *cai_tp_attr(const cai_tp_obj *obj, const char *name);     /* OBJECT state dict entry */
int cai_tp_is_str(const cai_tp_obj *o, const char *s);
/* Numeric value of INT, BOOL or FLOAT; 0 if not numeric (returns -1), 0 on success. */
int cai_tp_number(const cai_tp_obj *o, double *out);

/* Tensors */
int cai_tp_tensor_contiguous(const cai_tp_tensor *t);
/* Pointer to element 0 (valid for contiguous tensors), NULL if the tensor has no elements. */
const void *cai_tp_tensor_data(const cai_tp_tensor *t);
/* Copy the tensor's elements in row-major order into dst (numel * dtype size bytes). */
void cai_tp_tensor_copy(const cai_tp_tensor *t, void *dst);

#endif
