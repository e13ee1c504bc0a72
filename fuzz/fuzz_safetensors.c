/* fuzz_safetensors.c — libFuzzer target for the safetensors reader (format/safetensors.c, cai_st_parse):
 * parse, then look up every tensor and metadata key and touch every data byte the reader vouched for. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *p = malloc(size ? size : 1);
    memcpy(p, data, size);
    cai_safetensors st;
    cai_err err = {0};
    if (cai_st_parse(p, size, "fuzz.safetensors", &st, &err) == CAI_OK) {
        for (int i = 0; i < st.ntensors; i++) {
            const cai_st_tensor *t = &st.tensors[i];
            if (cai_st_find(&st, t->name) == NULL) abort();
            uint64_t n = 1;
            for (int k = 0; k < t->ndim; k++) n *= (uint64_t)t->shape[k];
            if (n * cai_st_dtype_size(t->dtype) != t->nbytes) abort(); /* the reader's own promise */
            volatile uint8_t acc = 0;
            for (uint64_t k = 0; k < t->nbytes; k++) acc ^= ((const uint8_t *)t->data)[k];
        }
        for (int i = 0; i < st.nmeta; i++)
            if (cai_st_meta(&st, st.meta_keys[i]) == NULL) abort();
        cai_st_close(&st);
    }
    free(p);
    return 0;
}
