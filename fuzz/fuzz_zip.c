/* fuzz_zip.c — libFuzzer target for the restricted ZIP reader (format/zip.c): open, then read every entry
 * (stored zero-copy or inflated, CRC checked) and touch every byte returned. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/zip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *p = malloc(size ? size : 1); /* exact-size copy: ASan catches any read past the end */
    memcpy(p, data, size);
    cai_zip z;
    cai_err err = {0};
    if (cai_zip_open(p, size, "fuzz.zip", &z, &err) == CAI_OK) {
        for (size_t i = 0; i < z.n; i++) {
            const uint8_t *d;
            size_t n;
            void *own;
            if (cai_zip_find(&z, z.entries[i].name) == NULL) abort();
            if (cai_zip_entry_data(&z, &z.entries[i], 1, &d, &n, &own, &err) == CAI_OK) {
                volatile uint8_t acc = 0;
                for (size_t k = 0; k < n; k++) acc ^= d[k];
            }
            free(own);
        }
        cai_zip_close(&z);
    }
    free(p);
    return 0;
}
