/* args.h — the command-line value parsers every subcommand shares, so a bad flag value reads the same
 * everywhere: `cai <cmd>: <flag>: expected an integer in [min, max], got "x"`.
 * Owns: parsing and the message. Must not touch: what the values mean. */
#ifndef CAI_ARGS_H
#define CAI_ARGS_H

#include <stdint.h>

#include "data/partition.h"

/* Parse a whole decimal integer in [min, max]; on failure print the message and return -1. */
int cai_arg_int(const char *cmd, const char *flag, const char *s, int64_t min, int64_t max, int64_t *out);
/* The same for an int-sized value. */
int cai_arg_int32(const char *cmd, const char *flag, const char *s, int min, int max, int *out);

/* A path-like value (--store, --weights, --job): refuse one that looks like a flag ("--store -q" would
 * otherwise create a directory "-q"). Prints the message and returns -1; "-" alone is allowed (stdin). */
int cai_arg_path(const char *cmd, const char *flag, const char *s);

/* Parse a partition format name: "shard" (CAI shard) or "pt" (the seed's torch layout). */
int cai_arg_format(const char *cmd, const char *s, cai_part_format *out);

#endif
