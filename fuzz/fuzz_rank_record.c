/* fuzz_rank_record.c — libFuzzer target for the rank record's one reader (pipeline/rank_record.c
 * cai_rank_record_parse: records are read back from the store, so they are outside input): any bytes either
 * fail with a message naming the file, or give a record whose accepted fields satisfy the documented
 * invariants, and the writer turns it into an object again. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/rank_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cai_rank_record r;
    cJSON *root = NULL;
    cai_err err = {0};
    if (cai_rank_record_parse((const char *)data, size, "fuzz/0.json", &r, &root, &err) != CAI_OK) {
        if (root || strncmp(err.msg, "fuzz/0.json: ", 13) != 0) abort();
        return 0;
    }
    if (!root || r.rank < 0 || !r.has_status || !r.status_name) abort();
    if (r.status > CAI_RANK_OTHER || (r.nparts && !r.parts)) abort();
    if (r.galaxies < -1 || r.partitions_total < -1 || r.predictions_bytes < -1) abort();
    if (!isnan(r.total_cpu_time) && !isfinite(r.total_cpu_time)) abort();
    for (size_t i = 0; i < r.nparts; i++) {
        const cai_rank_part *p = &r.parts[i];
        if (!p->status_name || p->status > CAI_PART_OTHER || p->galaxies < -1 || p->num_batches < -1) abort();
    }
    cJSON *w = cai_rank_record_json(&r);
    if (!w) abort();
    cJSON_Delete(w);
    cai_rank_record_free(&r);
    cJSON_Delete(root);
    return 0;
}
