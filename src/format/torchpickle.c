/* torchpickle.c — restricted pickle VM for torch.save archives (see torchpickle.h for the security stance).
 *
 * The VM follows CPython's _pickle.c for the opcodes torch.save (protocol 2) and protocol 3/4 writers use,
 * but every "call" is replaced by building an inert record: REDUCE on collections.OrderedDict makes a dict,
 * on torch._utils._rebuild_tensor_v2 a tensor view checked against its storage, on an allowed class an
 * OBJECT that only remembers the class name and its arguments. Objects live until cai_tp_free and are
 * shared by pointer (the memo can alias them, and lists can even contain themselves), so nothing here
 * recurses over the tree. */
#include "torchpickle.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/buf.h"
#include "../common/util.h"

struct cai_tp_doc {
    char *name;
    const cai_zip *zip;
    cai_zip ownzip;
    int has_ownzip;
    char *prefix;
    int verify_crc;
    cai_tp_obj **objs;
    size_t nobjs, capobjs;
    cai_tp_storage **storages;
    size_t nstor, capstor;
    cai_tp_storage **by_entry; /* storage of each archive entry already loaded (index as zip->entries) */
    cai_tp_obj *root;
};

/* What an allowed global is. */
enum {
    G_CLASS = 1, /* an inert class: REDUCE/NEWOBJ make an OBJECT */
    G_ODICT,
    G_SET,
    G_FROZENSET,
    G_REBUILD_TENSOR,
    G_REBUILD_PARAM,
    G_REBUILD_PARAM_STATE,
    G_RECONSTRUCTOR,
    G_SIZE,
    G_STORAGE, /* <T>Storage: only meaningful inside a persistent id */
    G_VALUE,   /* a constant such as torch.float32: not callable */
};

typedef struct {
    cai_tp_doc *d;
    const uint8_t *p, *end, *start;
    cai_tp_obj **stack;
    size_t sp, capstack;
    size_t *marks;
    size_t nmarks, capmarks;
    cai_tp_obj **memo;
    size_t capmemo, memo_count;
    cai_err *err;
} vm;

static const struct {
    const char *name;
    cai_tp_dtype dt;
    size_t size;
} dtypes[CAI_TP_DTYPE_COUNT] = {
    [CAI_TP_F32] = {"float32", CAI_TP_F32, 4}, [CAI_TP_F64] = {"float64", CAI_TP_F64, 8},
    [CAI_TP_F16] = {"float16", CAI_TP_F16, 2}, [CAI_TP_BF16] = {"bfloat16", CAI_TP_BF16, 2},
    [CAI_TP_I64] = {"int64", CAI_TP_I64, 8},   [CAI_TP_I32] = {"int32", CAI_TP_I32, 4},
    [CAI_TP_I16] = {"int16", CAI_TP_I16, 2},   [CAI_TP_I8] = {"int8", CAI_TP_I8, 1},
    [CAI_TP_U8] = {"uint8", CAI_TP_U8, 1},     [CAI_TP_BOOLT] = {"bool", CAI_TP_BOOLT, 1},
};
static const struct {
    const char *name;
    cai_tp_dtype dt;
} storage_types[] = {
    {"FloatStorage", CAI_TP_F32},     {"DoubleStorage", CAI_TP_F64}, {"HalfStorage", CAI_TP_F16},
    {"BFloat16Storage", CAI_TP_BF16}, {"LongStorage", CAI_TP_I64},   {"IntStorage", CAI_TP_I32},
    {"ShortStorage", CAI_TP_I16},     {"CharStorage", CAI_TP_I8},    {"ByteStorage", CAI_TP_U8},
    {"BoolStorage", CAI_TP_BOOLT},
};

const char *cai_tp_dtype_name(cai_tp_dtype dt) { return (unsigned)dt < CAI_TP_DTYPE_COUNT ? dtypes[dt].name : "?"; }
size_t cai_tp_dtype_size(cai_tp_dtype dt) { return (unsigned)dt < CAI_TP_DTYPE_COUNT ? dtypes[dt].size : 0; }

const char *cai_tp_kind_name(cai_tp_kind k) {
    static const char *const n[] = {"None", "bool", "int", "float",  "str",    "bytes",   "tuple",
                                    "list", "dict", "set", "global", "object", "storage", "tensor"};
    return (unsigned)k < sizeof n / sizeof *n ? n[k] : "?";
}

/* ------------------------------------------------------------------------------------------------------- */

static int verr(vm *v, cai_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int verr(vm *v, cai_code code, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cai_seterr(v->err, code, "%s: pickle byte %td: %s", v->d->name, v->p - v->start, msg);
}

static cai_tp_obj *new_obj(vm *v, cai_tp_kind kind) {
    cai_tp_doc *d = v->d;
    if (d->nobjs >= CAI_TP_MAX_OBJECTS) {
        verr(v, CAI_EFORMAT, "more than %d objects", CAI_TP_MAX_OBJECTS);
        return NULL;
    }
    if (cai_grow(&d->objs, &d->capobjs, d->nobjs + 1, sizeof *d->objs, 256)) {
        verr(v, CAI_ENOMEM, "out of memory");
        return NULL;
    }
    cai_tp_obj *o = calloc(1, sizeof *o);
    if (!o) {
        verr(v, CAI_ENOMEM, "out of memory");
        return NULL;
    }
    o->kind = kind;
    d->objs[d->nobjs++] = o;
    return o;
}

static cai_tp_obj *new_str(vm *v, cai_tp_kind kind, const char *s, size_t n) {
    cai_tp_obj *o = new_obj(v, kind);
    if (!o) return NULL;
    o->s = malloc(n + 1);
    if (!o->s) {
        verr(v, CAI_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(o->s, s, n);
    o->s[n] = 0;
    o->slen = n;
    return o;
}

static int add_item(vm *v, cai_tp_obj *c, cai_tp_obj *item) {
    if (cai_grow(&c->items, &c->cap, c->n + 1, sizeof *c->items, 4)) return verr(v, CAI_ENOMEM, "out of memory");
    c->items[c->n++] = item;
    if (item->depth + 1 > c->depth) c->depth = item->depth + 1;
    if (c->depth > CAI_TP_MAX_DEPTH) return verr(v, CAI_EFORMAT, "objects nested deeper than %d", CAI_TP_MAX_DEPTH);
    return CAI_OK;
}

/* Dict insert. Appending without looking for an equal key keeps SETITEMS O(1) even for hostile dicts with
 * millions of keys; a repeated key therefore appears twice when iterating (consumers such as the converter
 * refuse duplicate names), and cai_tp_dict_get returns the last value, as Python would. `n` counts pairs
 * while add_item counts pointers, so n is converted around the two add_item calls. */
static int dict_insert(vm *v, cai_tp_obj *d, cai_tp_obj *k, cai_tp_obj *val) {
    size_t pairs = d->n;
    d->n = pairs * 2;
    int rc = add_item(v, d, k);
    if (!rc) rc = add_item(v, d, val);
    d->n = pairs + (rc ? 0 : 1);
    return rc;
}

static int push(vm *v, cai_tp_obj *o) {
    if (!o) return v->err ? (int)v->err->code : CAI_ENOMEM;
    if (v->sp == v->capstack) {
        if (v->sp >= CAI_TP_MAX_STACK) return verr(v, CAI_EFORMAT, "stack deeper than %d", CAI_TP_MAX_STACK);
        if (cai_grow(&v->stack, &v->capstack, v->sp + 1, sizeof *v->stack, 64))
            return verr(v, CAI_ENOMEM, "out of memory");
    }
    v->stack[v->sp++] = o;
    return CAI_OK;
}

/* The stack floor is the last MARK: opcodes may not pop below it. */
static size_t floor_of(vm *v) { return v->nmarks ? v->marks[v->nmarks - 1] : 0; }

static cai_tp_obj *pop(vm *v) {
    if (v->sp <= floor_of(v)) {
        verr(v, CAI_EFORMAT, "stack underflow");
        return NULL;
    }
    return v->stack[--v->sp];
}
static cai_tp_obj *top(vm *v) {
    if (v->sp <= floor_of(v)) {
        verr(v, CAI_EFORMAT, "stack underflow");
        return NULL;
    }
    return v->stack[v->sp - 1];
}
/* Pop to the last MARK: returns the index of the first item above it. */
static int pop_mark(vm *v, size_t *first) {
    if (!v->nmarks) return verr(v, CAI_EFORMAT, "no MARK on the stack");
    *first = v->marks[--v->nmarks];
    return CAI_OK;
}

static int need(vm *v, size_t n) {
    if ((size_t)(v->end - v->p) < n) return verr(v, CAI_EFORMAT, "truncated (needs %zu more bytes)", n);
    return CAI_OK;
}
static uint64_t le(const uint8_t *p, int n) {
    uint64_t x = 0;
    for (int i = n - 1; i >= 0; i--) x = (x << 8) | p[i];
    return x;
}

static cai_tp_obj *new_int(vm *v, int64_t x) {
    cai_tp_obj *o = new_obj(v, CAI_TP_INT);
    if (o) o->i = x;
    return o;
}

/* ---- globals ---------------------------------------------------------------------------------------- */

static int is_ident_path(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '.'))
            return 0;
    return 1;
}
static int starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* Classify module.name. 0 = forbidden. *dt is set for storages. */
static int classify(const char *mod, const char *name, cai_tp_dtype *dt) {
    if (!is_ident_path(mod) || !is_ident_path(name)) return 0;
    int builtins = !strcmp(mod, "builtins") || !strcmp(mod, "__builtin__");
    if (!strcmp(mod, "collections") && !strcmp(name, "OrderedDict")) return G_ODICT;
    if (builtins && !strcmp(name, "set")) return G_SET;
    if (builtins && !strcmp(name, "frozenset")) return G_FROZENSET;
    if (builtins && !strcmp(name, "object")) return G_CLASS;
    if (!strcmp(mod, "copyreg") && !strcmp(name, "_reconstructor")) return G_RECONSTRUCTOR;
    if (!strcmp(mod, "copy_reg") && !strcmp(name, "_reconstructor")) return G_RECONSTRUCTOR;
    if (!strcmp(mod, "functools") && !strcmp(name, "partial")) return G_CLASS;
    if (!strcmp(mod, "torch._utils")) {
        if (!strcmp(name, "_rebuild_tensor_v2")) return G_REBUILD_TENSOR;
        if (!strcmp(name, "_rebuild_parameter")) return G_REBUILD_PARAM;
        if (!strcmp(name, "_rebuild_parameter_with_state")) return G_REBUILD_PARAM_STATE;
        return 0;
    }
    if (!strcmp(mod, "torch")) {
        for (size_t i = 0; i < sizeof storage_types / sizeof *storage_types; i++)
            if (!strcmp(name, storage_types[i].name)) {
                *dt = storage_types[i].dt;
                return G_STORAGE;
            }
        if (!strcmp(name, "Size")) return G_SIZE;
        if (!strcmp(name, "device")) return G_CLASS;
        for (int i = 0; i < CAI_TP_DTYPE_COUNT; i++)
            if (!strcmp(name, dtypes[i].name)) return G_VALUE;
        return 0;
    }
    if (!strcmp(mod, "torch.utils.data.dataset") && !strcmp(name, "TensorDataset")) return G_CLASS;
    /* Module classes of the seed's model: inert names, never imported. */
    if (starts(mod, "torch.nn.") || !strcmp(mod, "blocks") || starts(mod, "blocks.") || !strcmp(mod, "NormalCell") ||
        starts(mod, "NormalCell.") || !strcmp(mod, "timm") || starts(mod, "timm."))
        return G_CLASS;
    return 0;
}

/* ---- torch records ----------------------------------------------------------------------------------- */

static int persistent_load(vm *v, cai_tp_obj *pid, cai_tp_obj **out) {
    cai_tp_doc *d = v->d;
    if (pid->kind != CAI_TP_TUPLE || pid->n != 5 || pid->items[0]->kind != CAI_TP_STR ||
        strcmp(pid->items[0]->s, "storage") != 0)
        return verr(v, CAI_EFORMAT, "persistent id is not ('storage', type, key, location, numel)");
    cai_tp_obj *ty = pid->items[1], *key = pid->items[2], *num = pid->items[4];
    if (ty->kind != CAI_TP_GLOBAL || ty->i != G_STORAGE)
        return verr(v, CAI_EFORMAT, "persistent id: storage type is not a torch <T>Storage");
    if (key->kind != CAI_TP_STR || key->slen == 0 || key->slen > 64 || !is_ident_path(key->s) || strchr(key->s, '.'))
        return verr(v, CAI_EFORMAT, "persistent id: bad storage key");
    if (num->kind != CAI_TP_INT || num->i < 0) return verr(v, CAI_EFORMAT, "persistent id: bad numel");
    cai_tp_dtype dt = (cai_tp_dtype)ty->f; /* stored in f by the GLOBAL handler */
    cai_tp_obj *o = new_obj(v, CAI_TP_STORAGE);
    if (!o) return v->err->code;
    if (!d->zip) return verr(v, CAI_EFORMAT, "persistent id (storage %s) outside a torch archive", key->s);
    char ename[600];
    snprintf(ename, sizeof ename, "%s/data/%s", d->prefix, key->s);
    const cai_zip_entry *e = cai_zip_find(d->zip, ename);
    if (!e) return verr(v, CAI_EFORMAT, "storage %s: archive has no entry \"%s\"", key->s, ename);
    /* One storage per archive entry, however many tensors view it. */
    size_t ei = (size_t)(e - d->zip->entries);
    if (!d->by_entry && !(d->by_entry = calloc(d->zip->n, sizeof *d->by_entry)))
        return verr(v, CAI_ENOMEM, "out of memory");
    if (d->by_entry[ei]) {
        if (d->by_entry[ei]->dtype != dt) return verr(v, CAI_EFORMAT, "storage %s used with two dtypes", key->s);
        o->storage = d->by_entry[ei];
        *out = o;
        return CAI_OK;
    }
    uint64_t want;
    if (cai_mul_overflow((uint64_t)num->i, dtypes[dt].size, &want) || want > e->usize)
        return verr(v, CAI_EFORMAT, "storage %s: %lld %s elements need %llu bytes, entry \"%s\" holds %llu", key->s,
                    (long long)num->i, dtypes[dt].name, (unsigned long long)want, ename, (unsigned long long)e->usize);
    cai_tp_storage *s = calloc(1, sizeof *s);
    if (!s) return verr(v, CAI_ENOMEM, "out of memory");
    if (cai_grow(&d->storages, &d->capstor, d->nstor + 1, sizeof *d->storages, 16)) {
        free(s);
        return verr(v, CAI_ENOMEM, "out of memory");
    }
    d->storages[d->nstor++] = s;
    d->by_entry[ei] = s;
    s->key = strdup(key->s);
    if (!s->key) return verr(v, CAI_ENOMEM, "out of memory");
    s->dtype = dt;
    const uint8_t *data;
    size_t len;
    void *owned;
    int rc = cai_zip_entry_data(d->zip, e, d->verify_crc, &data, &len, &owned, v->err);
    if (rc) return rc;
    s->data = data;
    s->owned = owned != NULL;
    s->nbytes = want;
    o->storage = s;
    *out = o;
    return CAI_OK;
}

static int int_tuple(cai_tp_obj *t, int64_t *out, int max, int *n) {
    if (t->kind != CAI_TP_TUPLE || t->n > (size_t)max) return -1;
    for (size_t i = 0; i < t->n; i++) {
        if (t->items[i]->kind != CAI_TP_INT || t->items[i]->i < 0) return -1;
        out[i] = t->items[i]->i;
    }
    *n = (int)t->n;
    return 0;
}

static int rebuild_tensor(vm *v, cai_tp_obj *args, cai_tp_obj **out) {
    if (args->kind != CAI_TP_TUPLE || args->n < 4 || args->n > 7)
        return verr(v, CAI_EFORMAT, "_rebuild_tensor_v2: expected (storage, offset, size, stride, ...)");
    cai_tp_obj *st = args->items[0], *off = args->items[1];
    if (st->kind != CAI_TP_STORAGE) return verr(v, CAI_EFORMAT, "_rebuild_tensor_v2: first argument is not a storage");
    if (off->kind != CAI_TP_INT || off->i < 0) return verr(v, CAI_EFORMAT, "_rebuild_tensor_v2: bad storage offset");
    cai_tp_tensor *t = calloc(1, sizeof *t);
    cai_tp_obj *o = new_obj(v, CAI_TP_TENSOR);
    if (!o) {
        free(t);
        return v->err->code;
    }
    if (!t) return verr(v, CAI_ENOMEM, "out of memory");
    o->tensor = t;
    t->storage = st->storage;
    t->dtype = st->storage->dtype;
    t->offset = off->i;
    int nd = 0, ns = 0;
    if (int_tuple(args->items[2], t->shape, CAI_TP_MAX_NDIM, &nd) ||
        int_tuple(args->items[3], t->stride, CAI_TP_MAX_NDIM, &ns) || nd != ns)
        return verr(v, CAI_EFORMAT,
                    "_rebuild_tensor_v2: size/stride must be equal-length tuples of "
                    "non-negative ints (at most %d dims)",
                    CAI_TP_MAX_NDIM);
    t->ndim = nd;
    uint64_t numel = 1, maxi = (uint64_t)t->offset;
    for (int i = 0; i < nd; i++) {
        uint64_t span;
        if (cai_mul_overflow(numel, (uint64_t)t->shape[i], &numel) ||
            (t->shape[i] > 0 && (cai_mul_overflow((uint64_t)t->shape[i] - 1, (uint64_t)t->stride[i], &span) ||
                                 cai_add_overflow(maxi, span, &maxi))))
            return verr(v, CAI_EFORMAT, "_rebuild_tensor_v2: size/stride overflow");
    }
    if (numel > (uint64_t)INT64_MAX) return verr(v, CAI_EFORMAT, "_rebuild_tensor_v2: too many elements");
    t->numel = (int64_t)numel;
    uint64_t esz = dtypes[t->dtype].size, need_bytes;
    if (numel > 0 && (cai_mul_overflow(maxi + 1, esz, &need_bytes) || maxi + 1 == 0 || need_bytes > t->storage->nbytes))
        return verr(v, CAI_EFORMAT,
                    "tensor view (offset %lld, %d dims) reaches past the end of storage %s (%llu bytes)",
                    (long long)t->offset, nd, t->storage->key, (unsigned long long)t->storage->nbytes);
    *out = o;
    return CAI_OK;
}

static int make_object(vm *v, cai_tp_obj *cls, cai_tp_obj *args, cai_tp_obj **out) {
    cai_tp_obj *o = new_obj(v, CAI_TP_OBJECT);
    if (!o) return v->err->code;
    o->s = strdup(cls->s);
    if (!o->s) return verr(v, CAI_ENOMEM, "out of memory");
    o->slen = cls->slen;
    o->args = args;
    if (args && args->depth + 1 > o->depth) o->depth = args->depth + 1;
    *out = o;
    return CAI_OK;
}

static int do_call(vm *v, cai_tp_obj *fn, cai_tp_obj *args, int newobj, cai_tp_obj **out) {
    if (fn->kind != CAI_TP_GLOBAL)
        return verr(v, CAI_EFORMAT, "%s: call target is a %s, not a global", newobj ? "NEWOBJ" : "REDUCE",
                    cai_tp_kind_name(fn->kind));
    if (args->kind != CAI_TP_TUPLE)
        return verr(v, CAI_EFORMAT, "call of %s: arguments are a %s, not a tuple", fn->s, cai_tp_kind_name(args->kind));
    switch ((int)fn->i) {
    case G_CLASS: return make_object(v, fn, args, out);
    case G_ODICT:
    case G_SET:
    case G_FROZENSET: {
        cai_tp_obj *o = new_obj(v, fn->i == G_ODICT ? CAI_TP_DICT : CAI_TP_SET);
        if (!o) return v->err->code;
        if (args->n > 1) return verr(v, CAI_EFORMAT, "%s: too many arguments", fn->s);
        if (args->n == 1) {
            cai_tp_obj *src = args->items[0];
            if (src->kind != CAI_TP_LIST && src->kind != CAI_TP_TUPLE)
                return verr(v, CAI_EFORMAT, "%s: argument is a %s, expected a list", fn->s,
                            cai_tp_kind_name(src->kind));
            for (size_t i = 0; i < src->n; i++) {
                cai_tp_obj *it = src->items[i];
                int rc;
                if (o->kind == CAI_TP_SET) rc = add_item(v, o, it);
                else if (it->kind != CAI_TP_TUPLE || it->n != 2)
                    return verr(v, CAI_EFORMAT, "%s: item is not a (key, value) pair", fn->s);
                else rc = dict_insert(v, o, it->items[0], it->items[1]);
                if (rc) return rc;
            }
        }
        *out = o;
        return CAI_OK;
    }
    default: break;
    }
    if (newobj) return verr(v, CAI_EFORMAT, "NEWOBJ on %s, which is not a class", fn->s);
    switch ((int)fn->i) {
    case G_REBUILD_TENSOR: return rebuild_tensor(v, args, out);
    case G_REBUILD_PARAM:
    case G_REBUILD_PARAM_STATE:
        if (args->n < 1 || args->items[0]->kind != CAI_TP_TENSOR)
            return verr(v, CAI_EFORMAT, "%s: first argument is not a tensor", fn->s);
        args->items[0]->tensor->is_parameter = 1;
        *out = args->items[0];
        return CAI_OK;
    case G_RECONSTRUCTOR:
        if (args->n != 3 || args->items[0]->kind != CAI_TP_GLOBAL || args->items[0]->i != G_CLASS)
            return verr(v, CAI_EFORMAT, "copyreg._reconstructor: expected (allowed class, base, state)");
        return make_object(v, args->items[0], args, out);
    case G_SIZE:
        if (args->n == 0) {
            *out = new_obj(v, CAI_TP_TUPLE);
            return *out ? CAI_OK : v->err->code;
        }
        if (args->n != 1 || args->items[0]->kind != CAI_TP_TUPLE)
            return verr(v, CAI_EFORMAT, "torch.Size: expected a tuple");
        *out = args->items[0];
        return CAI_OK;
    default: return verr(v, CAI_EFORMAT, "%s is not callable", fn->s);
    }
}

/* ---- the VM loop ------------------------------------------------------------------------------------- */

static int tuple_from(vm *v, size_t first, cai_tp_obj **out) {
    cai_tp_obj *t = new_obj(v, CAI_TP_TUPLE);
    if (!t) return v->err->code;
    for (size_t i = first; i < v->sp; i++) {
        int rc = add_item(v, t, v->stack[i]);
        if (rc) return rc;
    }
    v->sp = first;
    *out = t;
    return CAI_OK;
}

static int run(vm *v) {
    int rc;
    cai_tp_obj *a = NULL, *b = NULL, *c = NULL;
    size_t first = 0;
    while (1) {
        if ((rc = need(v, 1))) return rc;
        const uint8_t *opp = v->p;
        uint8_t op = *v->p++;
        switch (op) {
        case 0x80: /* PROTO */
            if ((rc = need(v, 1))) return rc;
            if (*v->p > 5) return verr(v, CAI_EFORMAT, "pickle protocol %d not supported", *v->p);
            v->p++;
            break;
        case 0x95: /* FRAME: a length hint only */
            if ((rc = need(v, 8))) return rc;
            v->p += 8;
            break;
        case '.': /* STOP */
            if (!(a = pop(v))) return v->err->code;
            v->d->root = a;
            return CAI_OK;
        case '(': /* MARK */
            if (v->nmarks >= CAI_TP_MAX_DEPTH)
                return verr(v, CAI_EFORMAT, "MARKs nested deeper than %d", CAI_TP_MAX_DEPTH);
            if (cai_grow(&v->marks, &v->capmarks, v->nmarks + 1, sizeof *v->marks, 16))
                return verr(v, CAI_ENOMEM, "out of memory");
            v->marks[v->nmarks++] = v->sp;
            break;
        case '}':
            if ((rc = push(v, new_obj(v, CAI_TP_DICT)))) return rc;
            break;
        case ']':
            if ((rc = push(v, new_obj(v, CAI_TP_LIST)))) return rc;
            break;
        case ')':
            if ((rc = push(v, new_obj(v, CAI_TP_TUPLE)))) return rc;
            break;
        case 0x8f:
            if ((rc = push(v, new_obj(v, CAI_TP_SET)))) return rc;
            break; /* EMPTY_SET */
        case 'N':
            if ((rc = push(v, new_obj(v, CAI_TP_NONE)))) return rc;
            break;
        case 0x88:
        case 0x89:
            if (!(a = new_obj(v, CAI_TP_BOOL))) return v->err->code;
            a->i = op == 0x88;
            if ((rc = push(v, a))) return rc;
            break;
        case 'K':
            if ((rc = need(v, 1)) || (rc = push(v, new_int(v, v->p[0])))) return rc;
            v->p += 1;
            break;
        case 'M':
            if ((rc = need(v, 2)) || (rc = push(v, new_int(v, (int64_t)le(v->p, 2))))) return rc;
            v->p += 2;
            break;
        case 'J':
            if ((rc = need(v, 4)) || (rc = push(v, new_int(v, (int32_t)(uint32_t)le(v->p, 4))))) return rc;
            v->p += 4;
            break;
        case 0x8a:   /* LONG1 */
        case 0x8b: { /* LONG4 */
            size_t n;
            if (op == 0x8a) {
                if ((rc = need(v, 1))) return rc;
                n = *v->p++;
            } else {
                if ((rc = need(v, 4))) return rc;
                n = (size_t)le(v->p, 4);
                v->p += 4;
            }
            if (n > 8) return verr(v, CAI_EFORMAT, "integer of %zu bytes does not fit in 64 bits", n);
            if ((rc = need(v, n))) return rc;
            uint64_t x = le(v->p, (int)n);
            if (n > 0 && n < 8 && (v->p[n - 1] & 0x80)) x |= ~0ull << (8 * n); /* sign-extend */
            v->p += n;
            if ((rc = push(v, new_int(v, (int64_t)x)))) return rc;
            break;
        }
        case 'G': { /* BINFLOAT: big-endian IEEE double */
            if ((rc = need(v, 8))) return rc;
            uint64_t x = 0;
            for (int i = 0; i < 8; i++) x = (x << 8) | v->p[i];
            v->p += 8;
            double f;
            memcpy(&f, &x, 8);
            if (!(a = new_obj(v, CAI_TP_FLOAT))) return v->err->code;
            a->f = f;
            if ((rc = push(v, a))) return rc;
            break;
        }
        case 'X':
        case 0x8c:
        case 0x8d: /* BINUNICODE, SHORT_BINUNICODE, BINUNICODE8 */
        case 'T':
        case 'U': /* BINSTRING, SHORT_BINSTRING (Python 2 str) */
        case 'B':
        case 'C':
        case 0x8e: { /* BINBYTES, SHORT_BINBYTES, BINBYTES8 */
            int w = (op == 0x8c || op == 'U' || op == 'C') ? 1 : (op == 0x8d || op == 0x8e) ? 8 : 4;
            if ((rc = need(v, (size_t)w))) return rc;
            uint64_t n = le(v->p, w);
            v->p += w;
            if (n > (uint64_t)(v->end - v->p))
                return verr(v, CAI_EFORMAT, "string of %llu bytes runs past the end", (unsigned long long)n);
            cai_tp_kind k = (op == 'B' || op == 'C' || op == 0x8e) ? CAI_TP_BYTES : CAI_TP_STR;
            if ((rc = push(v, new_str(v, k, (const char *)v->p, (size_t)n)))) return rc;
            v->p += n;
            break;
        }
        case 0x85:
        case 0x86:
        case 0x87: { /* TUPLE1..3 */
            size_t n = (size_t)(op - 0x84);
            if (v->sp < floor_of(v) + n) return verr(v, CAI_EFORMAT, "stack underflow");
            if ((rc = tuple_from(v, v->sp - n, &a)) || (rc = push(v, a))) return rc;
            break;
        }
        case 't': /* TUPLE */
            if ((rc = pop_mark(v, &first)) || (rc = tuple_from(v, first, &a)) || (rc = push(v, a))) return rc;
            break;
        case 0x91: /* FROZENSET */
            if ((rc = pop_mark(v, &first)) || (rc = tuple_from(v, first, &a))) return rc;
            a->kind = CAI_TP_SET;
            if ((rc = push(v, a))) return rc;
            break;
        case 'a': /* APPEND */
            if (!(b = pop(v)) || !(a = top(v))) return v->err->code;
            if (a->kind != CAI_TP_LIST) return verr(v, CAI_EFORMAT, "APPEND to a %s", cai_tp_kind_name(a->kind));
            if ((rc = add_item(v, a, b))) return rc;
            break;
        case 'e':
        case 0x90: /* APPENDS, ADDITEMS */
            if ((rc = pop_mark(v, &first))) return rc;
            if (first == 0 || first <= floor_of(v)) return verr(v, CAI_EFORMAT, "APPENDS with no list");
            a = v->stack[first - 1];
            if (a->kind != (op == 'e' ? CAI_TP_LIST : CAI_TP_SET))
                return verr(v, CAI_EFORMAT, "%s to a %s", op == 'e' ? "APPENDS" : "ADDITEMS",
                            cai_tp_kind_name(a->kind));
            for (size_t i = first; i < v->sp; i++)
                if ((rc = add_item(v, a, v->stack[i]))) return rc;
            v->sp = first;
            break;
        case 's': /* SETITEM */
            if (!(c = pop(v)) || !(b = pop(v)) || !(a = top(v))) return v->err->code;
            if (a->kind != CAI_TP_DICT) return verr(v, CAI_EFORMAT, "SETITEM on a %s", cai_tp_kind_name(a->kind));
            if ((rc = dict_insert(v, a, b, c))) return rc;
            break;
        case 'u': /* SETITEMS */
            if ((rc = pop_mark(v, &first))) return rc;
            if (first == 0 || first <= floor_of(v)) return verr(v, CAI_EFORMAT, "SETITEMS with no dict");
            if ((v->sp - first) % 2) return verr(v, CAI_EFORMAT, "SETITEMS with an odd number of items");
            a = v->stack[first - 1];
            if (a->kind != CAI_TP_DICT) return verr(v, CAI_EFORMAT, "SETITEMS on a %s", cai_tp_kind_name(a->kind));
            for (size_t i = first; i < v->sp; i += 2)
                if ((rc = dict_insert(v, a, v->stack[i], v->stack[i + 1]))) return rc;
            v->sp = first;
            break;
        case 'q':
        case 'r':
        case 0x94: { /* BINPUT, LONG_BINPUT, MEMOIZE */
            uint64_t idx;
            if (op == 0x94) {
                idx = v->memo_count; /* Python: len(memo) */
            } else {
                int w = op == 'q' ? 1 : 4;
                if ((rc = need(v, (size_t)w))) return rc;
                idx = le(v->p, w);
                v->p += w;
            }
            if (!(a = top(v))) return v->err->code;
            if (idx >= CAI_TP_MAX_MEMO)
                return verr(v, CAI_EFORMAT, "memo index %llu beyond the limit", (unsigned long long)idx);
            if (idx >= v->capmemo) {
                size_t old = v->capmemo;
                if (cai_grow(&v->memo, &v->capmemo, (size_t)idx + 1, sizeof *v->memo, 64))
                    return verr(v, CAI_ENOMEM, "out of memory");
                memset(v->memo + old, 0, (v->capmemo - old) * sizeof *v->memo); /* unset slots read as NULL */
            }
            if (!v->memo[idx]) v->memo_count++;
            v->memo[idx] = a;
            break;
        }
        case 'h':
        case 'j': { /* BINGET, LONG_BINGET */
            int w = op == 'h' ? 1 : 4;
            if ((rc = need(v, (size_t)w))) return rc;
            uint64_t idx = le(v->p, w);
            v->p += w;
            if (idx >= v->capmemo || !v->memo[idx])
                return verr(v, CAI_EFORMAT, "memo index %llu was never set", (unsigned long long)idx);
            if ((rc = push(v, v->memo[idx]))) return rc;
            break;
        }
        case 'c':
        case 0x93: { /* GLOBAL "module\nname\n", STACK_GLOBAL */
            char mod[256], name[256];
            if (op == 'c') {
                for (int part = 0; part < 2; part++) {
                    char *dst = part ? name : mod;
                    const uint8_t *nl = memchr(v->p, '\n', (size_t)(v->end - v->p));
                    if (!nl) return verr(v, CAI_EFORMAT, "GLOBAL: unterminated name");
                    size_t n = (size_t)(nl - v->p);
                    if (n >= 256) return verr(v, CAI_EFORMAT, "GLOBAL: name longer than 255 bytes");
                    memcpy(dst, v->p, n);
                    dst[n] = 0;
                    v->p = nl + 1;
                }
            } else {
                if (!(b = pop(v)) || !(a = pop(v))) return v->err->code;
                if (a->kind != CAI_TP_STR || b->kind != CAI_TP_STR || a->slen >= 256 || b->slen >= 256)
                    return verr(v, CAI_EFORMAT, "STACK_GLOBAL: module and name must be short strings");
                memcpy(mod, a->s, a->slen + 1);
                memcpy(name, b->s, b->slen + 1);
            }
            cai_tp_dtype dt = CAI_TP_F32;
            int kind = classify(mod, name, &dt);
            if (!kind) {
                char sm[96], sn[96];
                size_t j = 0;
                for (const char *s = mod; *s && j < 90; s++) sm[j++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
                sm[j] = 0;
                j = 0;
                for (const char *s = name; *s && j < 90; s++) sn[j++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
                sn[j] = 0;
                v->p = opp;
                return verr(v, CAI_EFORBIDDEN,
                            "global \"%s %s\" is not allowed: CAI never imports or calls anything named in a "
                            "checkpoint, and accepts only torch tensor/module globals",
                            sm, sn);
            }
            char full[520];
            snprintf(full, sizeof full, "%s.%s", mod, name);
            if (!(a = new_str(v, CAI_TP_GLOBAL, full, strlen(full)))) return v->err->code;
            a->i = kind;
            a->f = (double)dt;
            if ((rc = push(v, a))) return rc;
            break;
        }
        case 'R':
        case 0x81: /* REDUCE, NEWOBJ */
            if (!(b = pop(v)) || !(a = pop(v))) return v->err->code;
            if ((rc = do_call(v, a, b, op == 0x81, &c)) || (rc = push(v, c))) return rc;
            break;
        case 'b': /* BUILD */
            if (!(b = pop(v)) || !(a = top(v))) return v->err->code;
            if (a->kind == CAI_TP_OBJECT) {
                /* (dict, slotstate) tuples come from classes with __slots__: keep the dict part. */
                if (b->kind == CAI_TP_TUPLE && b->n == 2 && b->items[0]->kind == CAI_TP_DICT) b = b->items[0];
                a->state = b;
                if (b->depth + 1 > a->depth) a->depth = b->depth + 1;
                if (a->depth > CAI_TP_MAX_DEPTH)
                    return verr(v, CAI_EFORMAT, "objects nested deeper than %d", CAI_TP_MAX_DEPTH);
            } else if (a->kind == CAI_TP_DICT) {
                /* An OrderedDict's instance attributes (a state_dict's _metadata): Python's BUILD sets
                 * attributes, not items, so they go to `state` and never mix with the keys. */
                a->state = b;
                if (b->depth + 1 > a->depth) a->depth = b->depth + 1;
                if (a->depth > CAI_TP_MAX_DEPTH)
                    return verr(v, CAI_EFORMAT, "objects nested deeper than %d", CAI_TP_MAX_DEPTH);
            } else if (a->kind != CAI_TP_TENSOR) { /* tensor state (Parameter hooks): ignored */
                return verr(v, CAI_EFORMAT, "BUILD on a %s", cai_tp_kind_name(a->kind));
            }
            break;
        case 'Q': /* BINPERSID */
            if (!(a = pop(v))) return v->err->code;
            if ((rc = persistent_load(v, a, &b)) || (rc = push(v, b))) return rc;
            break;
        case '0': /* POP */
            if (v->nmarks && v->sp == v->marks[v->nmarks - 1]) {
                v->nmarks--;
                break;
            } /* pops the mark */
            if (!pop(v)) return v->err->code;
            break;
        case '1': /* POP_MARK */
            if ((rc = pop_mark(v, &first))) return rc;
            v->sp = first;
            break;
        case '2': /* DUP */
            if (!(a = top(v)) || (rc = push(v, a))) return v->err ? v->err->code : CAI_EFORMAT;
            break;
        default:
            v->p = opp;
            if (op >= 0x20 && op < 0x7f)
                return verr(v, CAI_EFORMAT, "opcode 0x%02x ('%c') is not supported by this reader", op, op);
            return verr(v, CAI_EFORMAT, "opcode 0x%02x is not supported by this reader", op);
        }
    }
}

static cai_tp_doc *doc_new(const char *name) {
    cai_tp_doc *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->name = strdup(name ? name : "(pickle)");
    if (!d->name) {
        free(d);
        return NULL;
    }
    return d;
}

static int run_pickle(cai_tp_doc *d, const uint8_t *pkl, size_t len, cai_err *err) {
    vm v;
    memset(&v, 0, sizeof v);
    v.d = d;
    v.p = v.start = pkl;
    v.end = pkl + len;
    v.err = err;
    cai_err local = {0};
    if (!v.err) v.err = &local;
    int rc = run(&v);
    free(v.stack);
    free(v.marks);
    free(v.memo);
    return rc;
}

int cai_tp_load(const uint8_t *pkl, size_t len, const char *name, const cai_zip *zip, const char *prefix,
                cai_tp_doc **out, cai_err *err) {
    *out = NULL;
    cai_tp_doc *d = doc_new(name);
    if (!d) return cai_seterr(err, CAI_ENOMEM, "out of memory");
    d->zip = zip;
    d->prefix = strdup(prefix ? prefix : "");
    d->verify_crc = 1;
    if (!d->prefix) {
        cai_tp_free(d);
        return cai_seterr(err, CAI_ENOMEM, "out of memory");
    }
    int rc = run_pickle(d, pkl, len, err);
    if (rc) {
        cai_tp_free(d);
        return rc;
    }
    *out = d;
    return CAI_OK;
}

int cai_tp_load_archive(const void *buf, size_t len, const char *name, int verify_crc, cai_tp_doc **out, cai_err *err) {
    *out = NULL;
    cai_tp_doc *d = doc_new(name);
    if (!d) return cai_seterr(err, CAI_ENOMEM, "out of memory");
    int rc = cai_zip_open(buf, len, d->name, &d->ownzip, err);
    if (rc) {
        cai_tp_free(d);
        return rc;
    }
    d->has_ownzip = 1;
    d->zip = &d->ownzip;
    d->verify_crc = verify_crc;
    /* torch.save writes "<prefix>/data.pkl" with one top-level folder; there must be exactly one. */
    const cai_zip_entry *pe = NULL;
    for (size_t i = 0; i < d->ownzip.n; i++) {
        const char *nm = d->ownzip.entries[i].name, *sl = strchr(nm, '/');
        if (sl && !strcmp(sl + 1, "data.pkl")) {
            if (pe) {
                cai_tp_free(d);
                return cai_seterr(err, CAI_EFORMAT, "%s: more than one data.pkl in the archive", name);
            }
            pe = &d->ownzip.entries[i];
        }
    }
    if (!pe) {
        cai_tp_free(d);
        return cai_seterr(err, CAI_EFORMAT, "%s: ZIP archive has no <prefix>/data.pkl: not a torch.save file", name);
    }
    d->prefix = strndup(pe->name, (size_t)(strchr(pe->name, '/') - pe->name));
    if (!d->prefix) {
        cai_tp_free(d);
        return cai_seterr(err, CAI_ENOMEM, "out of memory");
    }
    const uint8_t *pkl;
    size_t plen;
    void *owned;
    rc = cai_zip_entry_data(d->zip, pe, 1, &pkl, &plen, &owned, err);
    if (rc) {
        cai_tp_free(d);
        return rc;
    }
    rc = run_pickle(d, pkl, plen, err);
    free(owned);
    if (rc) {
        cai_tp_free(d);
        return rc;
    }
    *out = d;
    return CAI_OK;
}

const cai_tp_obj *cai_tp_root(const cai_tp_doc *d) { return d ? d->root : NULL; }
const char *cai_tp_name(const cai_tp_doc *d) { return d ? d->name : ""; }

void cai_tp_free(cai_tp_doc *d) {
    if (!d) return;
    for (size_t i = 0; i < d->nobjs; i++) {
        cai_tp_obj *o = d->objs[i];
        free(o->s);
        free(o->items);
        free(o->tensor);
        free(o);
    }
    free(d->objs);
    for (size_t i = 0; i < d->nstor; i++) {
        if (d->storages[i]->owned) free((void *)d->storages[i]->data);
        free(d->storages[i]->key);
        free(d->storages[i]);
    }
    free(d->storages);
    free(d->by_entry);
    if (d->has_ownzip) cai_zip_close(&d->ownzip);
    free(d->prefix);
    free(d->name);
    free(d);
}

/* ---- walking ----------------------------------------------------------------------------------------- */

const char *cai_tp_class(const cai_tp_obj *o) {
    return o && (o->kind == CAI_TP_OBJECT || o->kind == CAI_TP_GLOBAL) ? o->s : NULL;
}

int cai_tp_is_str(const cai_tp_obj *o, const char *s) {
    return o && o->kind == CAI_TP_STR && o->slen == strlen(s) && memcmp(o->s, s, o->slen) == 0;
}

const cai_tp_obj *cai_tp_dict_get(const cai_tp_obj *dict, const char *key) {
    if (!dict || dict->kind != CAI_TP_DICT) return NULL;
    for (size_t i = dict->n; i-- > 0;) /* last wins, as in Python */
        if (cai_tp_is_str(dict->items[2 * i], key)) return dict->items[2 * i + 1];
    return NULL;
}

const cai_tp_obj *cai_tp_attr(const cai_tp_obj *obj, const char *name) {
    if (!obj || obj->kind != CAI_TP_OBJECT) return NULL;
    return cai_tp_dict_get(obj->state, name);
}

int cai_tp_number(const cai_tp_obj *o, double *out) {
    if (!o) return -1;
    if (o->kind == CAI_TP_INT || o->kind == CAI_TP_BOOL) {
        *out = (double)o->i;
        return 0;
    }
    if (o->kind == CAI_TP_FLOAT) {
        *out = o->f;
        return 0;
    }
    return -1;
}

int cai_tp_tensor_contiguous(const cai_tp_tensor *t) {
    int64_t expect = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != expect) return t->numel == 0;
        expect *= t->shape[i];
    }
    return 1;
}

const void *cai_tp_tensor_data(const cai_tp_tensor *t) {
    if (t->numel == 0) return NULL;
    return t->storage->data + (size_t)t->offset * dtypes[t->dtype].size;
}

void cai_tp_tensor_copy(const cai_tp_tensor *t, void *dst) {
    size_t es = dtypes[t->dtype].size;
    if (t->numel == 0) return;
    if (cai_tp_tensor_contiguous(t)) {
        memcpy(dst, cai_tp_tensor_data(t), (size_t)t->numel * es);
        return;
    }
    int64_t idx[CAI_TP_MAX_NDIM] = {0};
    uint8_t *out = dst;
    const uint8_t *base = t->storage->data;
    for (int64_t k = 0; k < t->numel; k++) {
        int64_t off = t->offset;
        for (int i = 0; i < t->ndim; i++) off += idx[i] * t->stride[i];
        memcpy(out + (size_t)k * es, base + (size_t)off * es, es);
        for (int i = t->ndim - 1; i >= 0; i--) {
            if (++idx[i] < t->shape[i]) break;
            idx[i] = 0;
        }
    }
}
