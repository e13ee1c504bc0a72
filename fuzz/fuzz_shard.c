/* fuzz_shard.c — libFuzzer target for the partition dispatch (data/partition.c) and the CAI shard reader
 * (data/shard.c): parse, then touch every galaxy the view vouches for. A heap copy of exactly `size` bytes
 * makes any read past the input visible to ASan. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/partition.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *p = malloc(size ? size : 1);
    memcpy(p, data, size);
    for (unsigned flags = 0; flags <= CAI_PARTITION_NO_VERIFY; flags++) {
        cai_partition part;
        cai_err err = {0};
        if (cai_partition_parse_ex(p, size, "fuzz", flags, &part, &err) != CAI_OK) {
            if (!err.msg[0]) abort(); /* every failure says why */
            continue;
        }
        volatile double acc = 0;
        size_t msz = part.mag_dtype == CAI_F64 ? 8 : 4;
        for (int64_t i = 0; i < part.n; i++) {
            acc += part.images[i * 5120] + part.images[i * 5120 + 5119];
            acc += ((const uint8_t *)part.mags)[i * 5 * msz + 5 * msz - 1];
            if (part.labels) acc += part.labels[i];
            if (part.ids) acc += (double)part.ids[i];
        }
        (void)acc;
        cai_partition_close(&part);
    }
    free(p);
    return 0;
}
