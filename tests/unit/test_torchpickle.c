/* test_torchpickle.c — the restricted pickle VM: values, module objects, tensors over a ZIP archive, and
 * hostile input (forbidden globals, deep nesting, bad memo indices, huge lengths, truncation at every byte,
 * tensor views past their storage). Pickles are hand-built byte strings, opcode by opcode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "format/torchpickle.h"
#include "format/zip.h"
#include "zipbuild.h"

typedef struct {
    uint8_t *b;
    size_t n, cap;
} buf;

static void put(buf *p, const void *s, size_t n) {
    if (p->n + n > p->cap) {
        p->cap = (p->n + n) * 2 + 64;
        p->b = realloc(p->b, p->cap);
    }
    memcpy(p->b + p->n, s, n);
    p->n += n;
}
static void opsz(buf *p, const char *s) { put(p, s, strlen(s)); }
/* String literals may hold NUL bytes: take their size, not strlen. Beware "\x02c" (one hex escape): split
 * literals as "\x80\x02" "c...". */
#define ops(p, lit) put(p, lit, sizeof(lit) - 1)
static void op1(buf *p, uint8_t c) { put(p, &c, 1); }
static void ustr(buf *p, const char *s) { /* BINUNICODE */
    uint32_t n = (uint32_t)strlen(s);
    uint8_t h[5] = {'X', (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
    put(p, h, 5);
    put(p, s, n);
}

static int load(const buf *p, cai_tp_doc **d, cai_err *e) { return cai_tp_load(p->b, p->n, "t.pkl", NULL, "", d, e); }

static void expect_err(const buf *p, cai_code code, const char *needle) {
    cai_tp_doc *d = NULL;
    cai_err e = {0};
    int rc = load(p, &d, &e);
    if (rc == CAI_OK) {
        cai_tp_free(d);
        fail_msg("expected an error containing \"%s\"", needle);
    }
    assert_null(d);
    if ((int)code != rc) fail_msg("code %d, expected %d: %s", rc, code, e.msg);
    if (!strstr(e.msg, needle)) fail_msg("message \"%s\" lacks \"%s\"", e.msg, needle);
    assert_non_null(strstr(e.msg, "t.pkl"));
}

/* Not reformatted: each pickle below is spelled one key or opcode group per line. */
/* clang-format off */
static void test_values(void **state) {
    (void)state;
    buf p = {0};
    ops(&p, "\x80\x02}q\x00(");
    ustr(&p, "i1"); ops(&p, "K\x07");
    ustr(&p, "i2"); ops(&p, "M\x34\x12");
    ustr(&p, "neg"); put(&p, "J\xfe\xff\xff\xff", 5);
    ustr(&p, "long"); put(&p, "\x8a\x05\x00\x00\x00\x00\x80", 7); /* -2^39 */
    ustr(&p, "f"); put(&p, "G\x3e\xb0\xc6\xf7\xa0\xb5\xed\x8d", 9); /* 1e-06 */
    ustr(&p, "t"); put(&p, "\x88\x89N\x87", 4);
    ustr(&p, "l"); ops(&p, "](K\x01K\x02" "e");
    ustr(&p, "i1"); ops(&p, "K\x08"); /* a repeated key: kept in order, lookups see the last value */
    ops(&p, "u.");
    cai_tp_doc *d;
    cai_err e = {0};
    assert_int_equal(load(&p, &d, &e), CAI_OK);
    const cai_tp_obj *r = cai_tp_root(d);
    assert_int_equal(r->kind, CAI_TP_DICT);
    assert_int_equal(r->n, 8);
    assert_int_equal(cai_tp_dict_get(r, "i1")->i, 8);
    assert_int_equal(cai_tp_dict_get(r, "i2")->i, 0x1234);
    assert_int_equal(cai_tp_dict_get(r, "neg")->i, -2);
    assert_int_equal(cai_tp_dict_get(r, "long")->i, -(1ll << 39));
    assert_true(cai_tp_dict_get(r, "f")->f == 1e-6);
    const cai_tp_obj *t = cai_tp_dict_get(r, "t");
    assert_int_equal(t->kind, CAI_TP_TUPLE);
    assert_int_equal(t->n, 3);
    assert_int_equal(t->items[0]->i, 1);
    assert_int_equal(t->items[1]->i, 0);
    assert_int_equal(t->items[2]->kind, CAI_TP_NONE);
    assert_int_equal(cai_tp_dict_get(r, "l")->n, 2);
    assert_null(cai_tp_dict_get(r, "missing"));
    cai_tp_free(d);
    free(p.b);
}

static void test_module_object(void **state) {
    (void)state;
    buf p = {0};
    ops(&p, "\x80\x02" "ctorch.nn.modules.normalization\nLayerNorm\nq\x00)\x81q\x01}q\x02(");
    ustr(&p, "eps"); put(&p, "G\x3e\xb0\xc6\xf7\xa0\xb5\xed\x8d", 9);
    ustr(&p, "_parameters"); ops(&p, "ccollections\nOrderedDict\nq\x03)Rq\x04");
    ustr(&p, "_non_persistent_buffers_set"); ops(&p, "c__builtin__\nset\n]\x85R");
    ustr(&p, "device"); ops(&p, "ctorch\ndevice\n"); ustr(&p, "cuda"); ops(&p, "K\x00\x86R");
    ops(&p, "ub.");
    cai_tp_doc *d;
    cai_err e = {0};
    assert_int_equal(load(&p, &d, &e), CAI_OK);
    const cai_tp_obj *r = cai_tp_root(d);
    assert_string_equal(cai_tp_class(r), "torch.nn.modules.normalization.LayerNorm");
    double eps;
    assert_int_equal(cai_tp_number(cai_tp_attr(r, "eps"), &eps), 0);
    assert_true(eps == 1e-6);
    assert_int_equal(cai_tp_attr(r, "_parameters")->kind, CAI_TP_DICT);
    assert_int_equal(cai_tp_attr(r, "_non_persistent_buffers_set")->kind, CAI_TP_SET);
    assert_string_equal(cai_tp_class(cai_tp_attr(r, "device")), "torch.device");
    cai_tp_free(d);
    free(p.b);
}

static void test_forbidden_globals(void **state) {
    (void)state;
    const char *bad[] = {"os\nsystem\n", "posix\nsystem\n", "builtins\neval\n", "__builtin__\nexec\n",
                         "subprocess\nPopen\n", "builtins\ngetattr\n", "torch\nload\n", "torch._utils\n_rebuild_device_tensor_from_numpy\n",
                         "nt\nsystem\n", "numpy.core.multiarray\n_reconstruct\n", "collections\ndefaultdict\n",
                         "torch.nn\n__import__\n" /* not an identifier path? it is: but torch.nn is not torch.nn. */};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        buf p = {0};
        ops(&p, "\x80\x02" "c");
        opsz(&p, bad[i]);
        ustr(&p, "touch /tmp/cai-pwned");
        ops(&p, "\x85R.");
        char needle[128];
        snprintf(needle, sizeof needle, "global \"%.*s ", (int)(strchr(bad[i], '\n') - bad[i]), bad[i]);
        expect_err(&p, CAI_EFORBIDDEN, needle);
        free(p.b);
    }
    /* STACK_GLOBAL goes through the same allow-list */
    buf p = {0};
    ops(&p, "\x80\x04");
    ustr(&p, "os");
    ustr(&p, "system");
    ops(&p, "\x93.");
    expect_err(&p, CAI_EFORBIDDEN, "global \"os system\"");
    free(p.b);
    /* an allowed class name with odd characters is still refused */
    p = (buf){0};
    ops(&p, "\x80\x02" "ctorch.nn.x y\nA\n.");
    expect_err(&p, CAI_EFORBIDDEN, "is not allowed");
    free(p.b);
}

static void test_nesting_and_limits(void **state) {
    (void)state;
    buf p = {0};
    ops(&p, "\x80\x02");
    for (int i = 0; i < 100000; i++) op1(&p, '(');
    ops(&p, ".");
    expect_err(&p, CAI_EFORMAT, "MARKs nested deeper than 1000");
    free(p.b);
    /* lists nested 5000 deep via EMPTY_LIST/APPEND: no MARK involved */
    p = (buf){0};
    ops(&p, "\x80\x02");
    for (int i = 0; i < 5000; i++) op1(&p, ']');
    for (int i = 0; i < 4999; i++) op1(&p, 'a');
    ops(&p, ".");
    expect_err(&p, CAI_EFORMAT, "nested deeper than 1000");
    free(p.b);
    /* 999 levels are fine */
    p = (buf){0};
    ops(&p, "\x80\x02");
    for (int i = 0; i < 999; i++) op1(&p, ']');
    for (int i = 0; i < 998; i++) op1(&p, 'a');
    ops(&p, ".");
    cai_tp_doc *d;
    cai_err e = {0};
    assert_int_equal(load(&p, &d, &e), CAI_OK);
    cai_tp_free(d);
    free(p.b);
    /* a list that contains itself: a cycle, built and freed without recursion */
    p = (buf){0};
    ops(&p, "\x80\x02]q\x00h\x00" "ah\x00" "a.");
    assert_int_equal(load(&p, &d, &e), CAI_OK);
    assert_ptr_equal(cai_tp_root(d)->items[0], cai_tp_root(d));
    cai_tp_free(d);
    free(p.b);
}

#define S(x) x, sizeof(x) - 1
/* Hostile sizes must stay cheap: a dict of 300,000 keys (SETITEMS is O(1) per key) and a deep memo. */
static void test_big_dict_is_linear(void **state) {
    (void)state;
    buf p = {0};
    ops(&p, "\x80\x02}(");
    for (int i = 0; i < 300000; i++) {
        uint8_t b[6] = {'J', (uint8_t)i, (uint8_t)(i >> 8), (uint8_t)(i >> 16), 0, 'N'};
        put(&p, b, 6);
    }
    ops(&p, "u.");
    cai_tp_doc *d;
    cai_err e = {0};
    double t0 = cai_mono_now();
    assert_int_equal(load(&p, &d, &e), CAI_OK);
    assert_int_equal(cai_tp_root(d)->n, 300000);
    if (cai_mono_now() - t0 > 5.0) fail_msg("300,000 SETITEMS took %.1f s", cai_mono_now() - t0);
    cai_tp_free(d);
    free(p.b);
}

static void test_memo_and_lengths(void **state) {
    (void)state;
    struct { const char *bytes; size_t n; const char *needle; } cases[] = {
        {S("\x80\x02h\x05."), "memo index 5 was never set"},
        {S("\x80\x02j\xff\xff\xff\x7f."), "was never set"},
        {S("\x80\x02Nr\xff\xff\xff\xff."), "beyond the limit"},
        {S("\x80\x02X\xff\xff\xff\xff"), "runs past the end"},
        {S("\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\x7f"), "runs past the end"},
        {S("\x80\x02\x8b\x00\x00\x00\x80"), "does not fit in 64 bits"},
        {S("\x80\x02\x8a\x09"), "does not fit in 64 bits"},
        {S("\x80\x02s."), "stack underflow"},
        {S("\x80\x02t."), "no MARK"},
        {S("\x80\x02."), "stack underflow"},
        {S("\x80\x02(."), "stack underflow"},
        {S("\x80\x02K\x01K\x02s."), "stack underflow"},
        {S("\x80\x02]K\x01K\x02s."), "SETITEM on a list"},
        {S("\x80\x02NN\x85R."), "not a global"},
        {S("\x80\x02\x80\x09"), "protocol 9"},
        {S("\x80\x02(I1\n."), "opcode 0x49 ('I')"},
        {S("\x80\x02(ccollections\nOrderedDict\noN."), "opcode 0x6f"},
        {S("\x80\x02\x00"), "opcode 0x00"},
        {S("\x80\x02" "ctorch\nFloatStorage\n)R."), "not callable"},
        {S("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n)\x81."), "not a class"},
        {S("\x80\x02(K\x01K\x02K\x03tQ."), "persistent id is not"},
        {S("\x80\x02"), "truncated"},
        {S("\x80\x02\x95\x01"), "truncated"},
        {S("\x80\x02" "cos"), "unterminated"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        buf p = {0};
        put(&p, cases[i].bytes, cases[i].n);
        expect_err(&p, CAI_EFORMAT, cases[i].needle);
        free(p.b);
    }
}

/* ---- tensors over an archive ---------------------------------------------------------------------- */

/* _rebuild_tensor_v2((storage 'FloatStorage' key numel), offset, size, stride, False, OrderedDict()) */
static void tensor_pickle(buf *p, const char *key, int numel, int offset, int ndim, const int *size, const int *stride) {
    ops(p, "\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\nq\x00((");
    ustr(p, "storage");
    ops(p, "ctorch\nFloatStorage\n");
    ustr(p, key);
    ustr(p, "cuda:0");
    op1(p, 'K'); op1(p, (uint8_t)numel);
    ops(p, "tQK");
    op1(p, (uint8_t)offset);
    op1(p, '(');
    for (int i = 0; i < ndim; i++) { op1(p, 'K'); op1(p, (uint8_t)size[i]); }
    ops(p, "t(");
    for (int i = 0; i < ndim; i++) { op1(p, 'K'); op1(p, (uint8_t)stride[i]); }
    ops(p, "t\x89" "ccollections\nOrderedDict\n)RtR.");
}

static int run_archive(const buf *pk, const float *data, size_t nfloats, const char *entry, cai_tp_doc **d,
                       uint8_t **zbuf, cai_err *e) {
    zb_entry z[3] = {{"ar/data.pkl", pk->b, pk->n, 0}, {entry, data, nfloats * 4, 0}, {"ar/version", "3\n", 2, 0}};
    zb_out o;
    zb_build(z, 3, &o);
    *zbuf = o.buf;
    return cai_tp_load_archive(o.buf, o.len, "t.pt", 1, d, e);
}

static void test_tensors(void **state) {
    (void)state;
    float data[12];
    for (int i = 0; i < 12; i++) data[i] = (float)i;
    struct { int numel, offset, ndim, size[3], stride[3]; int ok, contiguous; float first, last; const char *needle; } cases[] = {
        {12, 0, 2, {3, 4}, {4, 1}, 1, 1, 0, 11, NULL},
        {12, 2, 1, {10}, {1}, 1, 1, 2, 11, NULL},
        {12, 0, 2, {4, 3}, {1, 4}, 1, 0, 0, 11, NULL}, /* transposed view: copy is data.T */
        {12, 1, 2, {2, 2}, {6, 2}, 1, 0, 1, 9, NULL},
        {12, 0, 0, {0}, {0}, 1, 1, 0, 0, NULL},        /* scalar */
        {12, 0, 2, {0, 5}, {5, 1}, 1, 1, 0, 0, NULL},  /* empty */
        {12, 0, 1, {13}, {1}, 0, 0, 0, 0, "reaches past the end of storage 0"},
        {12, 3, 1, {10}, {1}, 0, 0, 0, 0, "reaches past the end"},
        {12, 0, 2, {3, 4}, {5, 1}, 0, 0, 0, 0, "reaches past the end"},
        {13, 0, 1, {1}, {1}, 0, 0, 0, 0, "entry \"ar/data/0\" holds 48"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        buf p = {0};
        tensor_pickle(&p, "0", cases[i].numel, cases[i].offset, cases[i].ndim, cases[i].size, cases[i].stride);
        cai_tp_doc *d = NULL;
        cai_err e = {0};
        uint8_t *z;
        int rc = run_archive(&p, data, 12, "ar/data/0", &d, &z, &e);
        if (!cases[i].ok) {
            assert_int_equal(rc, CAI_EFORMAT);
            if (!strstr(e.msg, cases[i].needle)) fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, cases[i].needle);
            assert_non_null(strstr(e.msg, "t.pt"));
        } else {
            if (rc) fail_msg("case %zu: %s", i, e.msg);
            const cai_tp_obj *r = cai_tp_root(d);
            assert_int_equal(r->kind, CAI_TP_TENSOR);
            const cai_tp_tensor *t = r->tensor;
            assert_int_equal(t->dtype, CAI_TP_F32);
            assert_int_equal(cai_tp_tensor_contiguous(t), cases[i].contiguous);
            float out[12] = {0};
            cai_tp_tensor_copy(t, out);
            if (t->numel > 0) {
                assert_true(out[0] == cases[i].first);
                assert_true(out[t->numel - 1] == cases[i].last);
                assert_false(t->storage->owned); /* stored entry: zero-copy */
            }
            if (i == 2) { /* transposed: row 0 of the view = column 0 of the data = 0, 4, 8 */
                assert_true(out[1] == 4 && out[2] == 8 && out[3] == 1);
            }
            cai_tp_free(d);
        }
        free(z);
        free(p.b);
    }
    /* storage key with no entry in the archive */
    buf p = {0};
    int sz[1] = {2}, st[1] = {1};
    tensor_pickle(&p, "7", 2, 0, 1, sz, st);
    cai_tp_doc *d = NULL;
    cai_err e = {0};
    uint8_t *z;
    assert_int_equal(run_archive(&p, data, 12, "ar/data/0", &d, &z, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "no entry \"ar/data/7\""));
    free(z);
    /* a persistent id outside an archive */
    assert_int_equal(cai_tp_load(p.b, p.n, "t.pkl", NULL, "", &d, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "outside a torch archive"));
    free(p.b);
}

static void test_truncated_tensor_pickle(void **state) {
    (void)state;
    float data[12] = {0};
    buf p = {0};
    int sz[2] = {3, 4}, st[2] = {4, 1};
    tensor_pickle(&p, "0", 12, 0, 2, sz, st);
    zb_entry ze[2] = {{"ar/data.pkl", p.b, p.n, 0}, {"ar/data/0", data, sizeof data, 0}};
    zb_out o;
    zb_build(ze, 2, &o);
    cai_zip z;
    cai_err e = {0};
    assert_int_equal(cai_zip_open(o.buf, o.len, "t.pt", &z, &e), CAI_OK);
    for (size_t len = 0; len < p.n; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, p.b, len);
        cai_tp_doc *d = NULL;
        int rc = cai_tp_load(copy, len, "t.pkl", &z, "ar", &d, &e);
        assert_int_not_equal(rc, CAI_OK);
        assert_null(d);
        free(copy);
    }
    cai_tp_doc *d = NULL;
    assert_int_equal(cai_tp_load(p.b, p.n, "t.pkl", &z, "ar", &d, &e), CAI_OK);
    cai_tp_free(d);
    /* every single-byte corruption: an error or a valid tree, never a crash */
    for (size_t i = 0; i < p.n; i++) {
        for (int x = 1; x < 256; x += 37) {
            uint8_t *copy = malloc(p.n);
            memcpy(copy, p.b, p.n);
            copy[i] ^= (uint8_t)x;
            d = NULL;
            if (cai_tp_load(copy, p.n, "t.pkl", &z, "ar", &d, &e) == CAI_OK) cai_tp_free(d);
            free(copy);
        }
    }
    cai_zip_close(&z);
    free(o.buf);
    free(p.b);
}

static void test_archive_without_pickle(void **state) {
    (void)state;
    zb_entry ze[1] = {{"ar/version", "3\n", 2, 0}};
    zb_out o;
    zb_build(ze, 1, &o);
    cai_tp_doc *d = NULL;
    cai_err e = {0};
    assert_int_equal(cai_tp_load_archive(o.buf, o.len, "t.pt", 1, &d, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "t.pt: ZIP archive has no <prefix>/data.pkl"));
    free(o.buf);
}

/* clang-format on */

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_module_object),
        cmocka_unit_test(test_forbidden_globals),
        cmocka_unit_test(test_nesting_and_limits),
        cmocka_unit_test(test_memo_and_lengths),
        cmocka_unit_test(test_big_dict_is_linear),
        cmocka_unit_test(test_tensors),
        cmocka_unit_test(test_truncated_tensor_pickle),
        cmocka_unit_test(test_archive_without_pickle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
