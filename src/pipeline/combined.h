/* combined.h — the one reader of combined_data.json: Summarize's array of every rank record (the seed's
 * file, no 1,000 cap), as `cai stats`, `cai cost` and `cai plan` read it back from a run folder.
 * Owns: reading and parsing the file and checking its shape (an array of objects), with messages that name
 * the file, the byte of a JSON error and the record. Must not touch: what the tools compute from the
 * records (stats.c, cost.c, plan.c), or the record's layout (written by the worker; see record.h). */
#ifndef CAI_COMBINED_H
#define CAI_COMBINED_H

#include <cJSON.h>
#include <stddef.h>

#include "../common/err.h"

#define CAI_COMBINED_NAME "combined_data.json"

/* Parse text (len bytes) into *records: a JSON array whose every element is an object (a rank record).
 * `name` goes into messages: "<name>: malformed JSON near byte N (of M)", "<name>: expected a JSON array
 * of rank records", "<name>: record I: expected an object". The caller frees *records with cJSON_Delete. */
int cai_combined_parse(const char *text, size_t len, const char *name, cJSON **records, cai_err *err);

/* Read and parse <run_dir>/combined_data.json. path (path_len bytes) receives the file's path for the
 * caller's own messages. */
int cai_combined_load(const char *run_dir, cJSON **records, char *path, size_t path_len, cai_err *err);

#endif
