/* seedpt.c — the seed's partition files (torch.save of a TensorDataset), read through the restricted
 * ZIP+pickle reader and written in the same layout torch.save uses, so torch.load reads ours. */
#include "seedpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "../format/torchpickle.h"
#include "../format/zip.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "seedpt.c assumes a little-endian host (torch storages are little-endian)"
#endif

#define TENSOR_DATASET "torch.utils.data.dataset.TensorDataset"

static void describe(const cai_tp_tensor *t, char *buf, size_t n) {
    size_t j = (size_t)snprintf(buf, n, "%s (", cai_tp_dtype_name(t->dtype));
    for (int i = 0; i < t->ndim && j < n; i++)
        j += (size_t)snprintf(buf + j, n - j, "%s%lld", i ? "," : "", (long long)t->shape[i]);
    if (j < n) snprintf(buf + j, n - j, "%s)", t->ndim == 1 ? "," : "");
}

/* Check dtype and shape: dims[0] < 0 means "any N" (taken from the tensor). */
static int check(const cai_tp_tensor *t, const char *name, int idx, const char *what, cai_tp_dtype dt, int ndim,
                 const int64_t *dims, const char *expect, cai_err *err) {
    int ok = t->dtype == dt && t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        if (dims[i] >= 0 && t->shape[i] != dims[i]) ok = 0;
    if (ok) return CAI_OK;
    char got[160];
    describe(t, got, sizeof got);
    return cai_seterr(err, CAI_ESHAPE, "%s: tensor %d (%s): expected %s, got %s", name, idx, what, expect, got);
}

int cai_seedpt_parse(const void *buf, size_t len, const char *name, cai_seedpt *out, cai_err *err) {
    memset(out, 0, sizeof *out);
    if (!name) name = "(partition)";
    cai_tp_doc *d = NULL;
    int rc = cai_tp_load_archive(buf, len, name, 1, &d, err);
    if (rc) return rc;
    const cai_tp_obj *root = cai_tp_root(d);
    const char *cls = cai_tp_class(root);
    if (root->kind != CAI_TP_OBJECT || strcmp(cls, TENSOR_DATASET) != 0) {
        rc = cai_seterr(err, CAI_EFORMAT, "%s: expected a %s, got %s%s%s", name, TENSOR_DATASET,
                        cai_tp_kind_name(root->kind), cls ? " " : "", cls ? cls : "");
        goto done;
    }
    const cai_tp_obj *ts = cai_tp_attr(root, "tensors");
    if (!ts || (ts->kind != CAI_TP_TUPLE && ts->kind != CAI_TP_LIST)) {
        rc = cai_seterr(err, CAI_EFORMAT, "%s: TensorDataset has no 'tensors' tuple", name);
        goto done;
    }
    if (ts->n != 3) {
        rc = cai_seterr(err, CAI_ESHAPE, "%s: expected 3 tensors (image, magnitude, redshift), got %zu", name, ts->n);
        goto done;
    }
    const cai_tp_tensor *t[3];
    for (int i = 0; i < 3; i++) {
        if (ts->items[i]->kind != CAI_TP_TENSOR) {
            rc = cai_seterr(err, CAI_EFORMAT, "%s: item %d of 'tensors' is a %s, not a tensor", name, i,
                            cai_tp_kind_name(ts->items[i]->kind));
            goto done;
        }
        t[i] = ts->items[i]->tensor;
    }
    const int64_t img_dims[4] = {-1, 5, 32, 32}, mag_dims[2] = {-1, 5}, z_dims[1] = {-1};
    if ((rc = check(t[0], name, 0, "image", CAI_TP_F32, 4, img_dims, "float32 (N,5,32,32)", err)) ||
        (rc = check(t[1], name, 1, "magnitude", CAI_TP_F64, 2, mag_dims, "float64 (N,5)", err)) ||
        (rc = check(t[2], name, 2, "redshift", CAI_TP_F32, 1, z_dims, "float32 (N,)", err)))
        goto done;
    int64_t n = t[0]->shape[0];
    if (t[1]->shape[0] != n || t[2]->shape[0] != n) {
        rc = cai_seterr(err, CAI_ESHAPE, "%s: tensors disagree on N: image %lld, magnitude %lld, redshift %lld", name,
                        (long long)n, (long long)t[1]->shape[0], (long long)t[2]->shape[0]);
        goto done;
    }
    out->n = n;
    /* Zero-copy when every tensor is contiguous, aligned and inside the caller's buffer (stored entries,
     * which is what torch writes); otherwise one heap block holds copies of all three. */
    int zero_copy = 1;
    for (int i = 0; i < 3; i++) {
        const void *p = cai_tp_tensor_data(t[i]);
        if (t[i]->numel > 0 && (!cai_tp_tensor_contiguous(t[i]) || t[i]->storage->owned ||
                                (uintptr_t)p % cai_tp_dtype_size(t[i]->dtype) != 0))
            zero_copy = 0;
    }
    if (zero_copy) {
        out->images = cai_tp_tensor_data(t[0]);
        out->mags = cai_tp_tensor_data(t[1]);
        out->redshift = cai_tp_tensor_data(t[2]);
    } else {
        size_t b0 = (size_t)t[0]->numel * 4, b1 = (size_t)t[1]->numel * 8, b2 = (size_t)t[2]->numel * 4;
        uint8_t *blk = malloc(b0 + b1 + b2 + 16);
        if (!blk) {
            rc = cai_seterr(err, CAI_ENOMEM, "%s: out of memory copying %lld galaxies", name, (long long)n);
            goto done;
        }
        /* b0 is a multiple of 4*5120, so b0 keeps the doubles 8-aligned. */
        cai_tp_tensor_copy(t[0], blk);
        cai_tp_tensor_copy(t[1], blk + b0);
        cai_tp_tensor_copy(t[2], blk + b0 + b1);
        out->owned = blk;
        out->images = (const float *)blk;
        out->mags = (const double *)(blk + b0);
        out->redshift = (const float *)(blk + b0 + b1);
    }
    rc = CAI_OK;
done:
    cai_tp_free(d);
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}

void cai_seedpt_close(cai_seedpt *p) {
    if (!p) return;
    free(p->owned);
    memset(p, 0, sizeof *p);
}

/* ---- writer: the pickle torch 1.13 writes for TensorDataset, opcode for opcode ------------------------ */

typedef struct {
    uint8_t b[1024];
    size_t n;
} pk;

static void raw(pk *p, const void *s, size_t n) {
    if (p->n + n <= sizeof p->b) memcpy(p->b + p->n, s, n);
    p->n += n;
}
/* Not reformatted: the pickle below is written one opcode group per line, as pickletools shows it. */
/* clang-format off */
static void op(pk *p, uint8_t c) { raw(p, &c, 1); }
static void put(pk *p, int idx) { op(p, 'q'); op(p, (uint8_t)idx); } /* BINPUT (indices stay < 256) */
static void get(pk *p, int idx) { op(p, 'h'); op(p, (uint8_t)idx); } /* BINGET */
static void str(pk *p, const char *s) {
    uint32_t n = (uint32_t)strlen(s);
    op(p, 'X');
    uint8_t l[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
    raw(p, l, 4);
    raw(p, s, n);
}
static void glob(pk *p, const char *mod, const char *name) {
    op(p, 'c');
    raw(p, mod, strlen(mod));
    op(p, '\n');
    raw(p, name, strlen(name));
    op(p, '\n');
}
static void num(pk *p, int64_t v) { /* as Python's pickler chooses: BININT1/2, BININT, LONG1 */
    if (v >= 0 && v < 256) { op(p, 'K'); op(p, (uint8_t)v); }
    else if (v >= 0 && v < 65536) { op(p, 'M'); op(p, (uint8_t)v); op(p, (uint8_t)(v >> 8)); }
    else if (v >= INT32_MIN && v <= INT32_MAX) {
        op(p, 'J');
        for (int i = 0; i < 4; i++) op(p, (uint8_t)((uint64_t)v >> (8 * i)));
    } else {
        uint8_t b[9];
        int n = 0;
        uint64_t u = (uint64_t)v;
        do { b[n++] = (uint8_t)u; u >>= 8; } while (n < 8 && (u != 0 || (b[n - 1] & 0x80)));
        op(p, 0x8a);
        op(p, (uint8_t)n);
        raw(p, b, (size_t)n);
    }
}

static void build_pickle(pk *p, int64_t n) {
    op(p, 0x80); op(p, 2);
    glob(p, "torch.utils.data.dataset", "TensorDataset"); put(p, 0);
    op(p, ')'); op(p, 0x81); put(p, 1);
    op(p, '}'); put(p, 2);
    str(p, "tensors"); put(p, 3);
    glob(p, "torch._utils", "_rebuild_tensor_v2"); put(p, 4);
    /* image */
    op(p, '('); op(p, '(');
    str(p, "storage"); put(p, 5);
    glob(p, "torch", "FloatStorage"); put(p, 6);
    str(p, "0"); put(p, 7);
    str(p, "cpu"); put(p, 8);
    num(p, n * 5120); op(p, 't'); put(p, 9);
    op(p, 'Q'); num(p, 0);
    op(p, '('); num(p, n); num(p, 5); num(p, 32); num(p, 32); op(p, 't'); put(p, 10);
    op(p, '('); num(p, 5120); num(p, 1024); num(p, 32); num(p, 1); op(p, 't'); put(p, 11);
    op(p, 0x89);
    glob(p, "collections", "OrderedDict"); put(p, 12);
    op(p, ')'); op(p, 'R'); put(p, 13);
    op(p, 't'); put(p, 14); op(p, 'R'); put(p, 15);
    /* magnitude */
    get(p, 4); op(p, '('); op(p, '(');
    get(p, 5); glob(p, "torch", "DoubleStorage"); put(p, 16);
    str(p, "1"); put(p, 17); get(p, 8);
    num(p, n * 5); op(p, 't'); put(p, 18);
    op(p, 'Q'); num(p, 0);
    num(p, n); num(p, 5); op(p, 0x86); put(p, 19);
    num(p, 5); num(p, 1); op(p, 0x86); put(p, 20);
    op(p, 0x89); get(p, 12); op(p, ')'); op(p, 'R'); put(p, 21);
    op(p, 't'); put(p, 22); op(p, 'R'); put(p, 23);
    /* redshift */
    get(p, 4); op(p, '('); op(p, '(');
    get(p, 5); get(p, 6); str(p, "2"); put(p, 24); get(p, 8);
    num(p, n); op(p, 't'); put(p, 25);
    op(p, 'Q'); num(p, 0);
    num(p, n); op(p, 0x85); put(p, 26);
    num(p, 1); op(p, 0x85); put(p, 27);
    op(p, 0x89); get(p, 12); op(p, ')'); op(p, 'R'); put(p, 28);
    op(p, 't'); put(p, 29); op(p, 'R'); put(p, 30);
    op(p, 0x87); put(p, 31);
    op(p, 's'); op(p, 'b'); op(p, '.');
}
/* clang-format on */

static int entry(cai_zip_writer *w, const char *name, const void *data, uint64_t len, cai_err *err) {
    int rc = cai_zip_writer_begin(w, name, len, err);
    const uint8_t *p = data;
    /* Chunks keep each fwrite and CRC call bounded; the OS does the buffering. */
    for (uint64_t off = 0; !rc && off < len; off += 8u << 20) {
        size_t c = (size_t)(len - off < (8u << 20) ? len - off : (8u << 20));
        rc = cai_zip_writer_data(w, p + off, c, err);
    }
    return rc ? rc : cai_zip_writer_end(w, err);
}

int cai_seedpt_write(const char *path, int64_t n, const float *images, const double *mags, const float *redshift,
                     cai_err *err) {
    if (n < 0 || n > (INT64_MAX / 5120 / 4) || (n > 0 && (!images || !mags || !redshift)))
        return cai_seterr(err, CAI_EARG, "%s: bad galaxy count %lld or NULL data", path, (long long)n);
    pk p = {.n = 0};
    build_pickle(&p, n);
    if (p.n > sizeof p.b) return cai_seterr(err, CAI_EINTERNAL, "%s: pickle buffer too small", path);
    cai_zip_writer *w = cai_zip_writer_open(path, err);
    if (!w) return err ? err->code : CAI_EIO;
    int rc;
    if ((rc = entry(w, "archive/data.pkl", p.b, p.n, err)) ||
        (rc = entry(w, "archive/data/0", images, (uint64_t)n * 5120 * 4, err)) ||
        (rc = entry(w, "archive/data/1", mags, (uint64_t)n * 5 * 8, err)) ||
        (rc = entry(w, "archive/data/2", redshift, (uint64_t)n * 4, err)) ||
        (rc = entry(w, "archive/version", "3\n", 2, err))) {
        cai_zip_writer_abort(w);
        return rc;
    }
    return cai_zip_writer_finish(w, err);
}
