/* idtable.h — a table of survey ids and positions (objid, ra, dec) read from FITS or CSV, to attach to
 * galaxies that have none (the seed's .pt partitions) with `cai split --ids TABLE`.
 * Owns: reading and validating the table, and looking a galaxy up (by row order or by an id column).
 * Must not touch: partition formats, the split itself (split.c). */
#ifndef CAI_IDTABLE_H
#define CAI_IDTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

typedef struct {
    int64_t n;
    int64_t *objid;   /* NULL when the table has no objid column */
    double *ra, *dec; /* NULL when the table has no ra/dec columns */
    int64_t *key;     /* the match column (NULL: row order) */
    int64_t *order;   /* row numbers sorted by key (for lookups) */
    char name[512];
} cai_idtable;

/* Read `path`: FITS (first table extension; cfitsio) when it starts with "SIMPLE", else CSV with a header
 * line (lines starting with '#' are comments). Columns, case-insensitive: objid (integer >= 0), ra
 * (degrees, [0, 360)), dec (degrees, [-90, 90]); at least objid or ra+dec. key_col (may be NULL) names the
 * column holding each row's galaxy id in the input (unique); without it rows are matched in order. Every
 * error names the file, the column and the row. */
int cai_idtable_read(const char *path, const char *key_col, cai_idtable *t, cai_err *err);
void cai_idtable_free(cai_idtable *t);

/* Row for galaxy number `pos` (0-based, in input order) with id `gid`: row order uses pos, a key column
 * uses gid. Returns -1 when there is none. */
int64_t cai_idtable_row(const cai_idtable *t, int64_t pos, int64_t gid);

#endif
