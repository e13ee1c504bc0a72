/* fuzz_pickle.c — libFuzzer target for the restricted pickle VM (format/torchpickle.c) and the partition reader.
 * First byte even: the rest is a bare data.pkl run against a fixed small archive whose storages "f/data/0"
 * (64 bytes) and "f/data/1" (deflated) let tensor records be built; odd: the rest is a whole archive, run
 * through cai_tp_load_archive and cai_seedpt_parse. Every tensor found is copied out, so a view that escapes
 * its storage shows up under ASan. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/unit/zipbuild.h"
#include "data/seedpt.h"
#include "format/torchpickle.h"
#include "format/zip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t visits;

static void walk(const cai_tp_obj *o, int depth) {
    if (!o || depth > 40 || ++visits > 20000) return;
    if (o->kind == CAI_TP_TENSOR) {
        const cai_tp_tensor *t = o->tensor;
        size_t es = cai_tp_dtype_size(t->dtype);
        if (t->numel > 0 && (uint64_t)t->numel * es <= (1u << 20)) {
            void *dst = malloc((size_t)t->numel * es);
            if (dst) cai_tp_tensor_copy(t, dst);
            free(dst);
        }
        return;
    }
    if (o->kind == CAI_TP_DICT)
        for (size_t i = 0; i < 2 * o->n; i++) walk(o->items[i], depth + 1);
    else if (o->kind == CAI_TP_TUPLE || o->kind == CAI_TP_LIST || o->kind == CAI_TP_SET)
        for (size_t i = 0; i < o->n; i++) walk(o->items[i], depth + 1);
    if (o->kind == CAI_TP_OBJECT || o->kind == CAI_TP_DICT) walk(o->state, depth + 1);
    if (o->kind == CAI_TP_OBJECT) walk(o->args, depth + 1);
    (void)cai_tp_attr(o, "_parameters");
    (void)cai_tp_class(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static zb_out fixed;
    static cai_zip z;
    static int ready;
    if (!ready) {
        static uint8_t st0[64], st1[256];
        for (int i = 0; i < 64; i++) st0[i] = (uint8_t)(i * 7);
        zb_entry e[2] = {{"f/data/0", st0, sizeof st0, 0}, {"f/data/1", st1, sizeof st1, 8}};
        zb_build(e, 2, &fixed);
        cai_err err = {0};
        if (cai_zip_open(fixed.buf, fixed.len, "fixed", &z, &err) != CAI_OK) abort();
        ready = 1;
    }
    if (size < 1) return 0;
    cai_err err = {0};
    cai_tp_doc *d = NULL;
    visits = 0;
    if ((data[0] & 1) == 0) {
        /* exact-size heap copy so reads past the end are caught */
        uint8_t *p = malloc(size - 1 ? size - 1 : 1);
        memcpy(p, data + 1, size - 1);
        if (cai_tp_load(p, size - 1, "fuzz.pkl", &z, "f", &d, &err) == CAI_OK) walk(cai_tp_root(d), 0);
        cai_tp_free(d);
        free(p);
    } else {
        uint8_t *p = malloc(size - 1 ? size - 1 : 1);
        memcpy(p, data + 1, size - 1);
        if (cai_tp_load_archive(p, size - 1, "fuzz.pt", 1, &d, &err) == CAI_OK) walk(cai_tp_root(d), 0);
        cai_tp_free(d);
        cai_seedpt sp;
        if (cai_seedpt_parse(p, size - 1, "fuzz.pt", &sp, &err) == CAI_OK) {
            volatile float acc = 0;
            for (int64_t i = 0; i < sp.n; i++)
                acc += sp.images[i * 5120 + 5119] + (float)sp.mags[i * 5 + 4] + sp.redshift[i];
            cai_seedpt_close(&sp);
        }
        free(p);
    }
    return 0;
}
