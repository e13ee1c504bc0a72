/* partition.c — detect a partition's format by its magic and give one view of either.
 * The seed's .pt files are ZIP archives (torch.save); CAI shards are safetensors. Nothing else is guessed at:
 * an unknown file is an error that names it and says what was expected. */
#include "partition.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "seedpt.h"
#include "shard.h"

typedef struct {
    cai_file file; /* set when opened from a path */
    int has_file;
    cai_seedpt pt;
    cai_shard shard;
} part_impl;

cai_part_format cai_partition_detect(const void *buf, size_t len) {
    const uint8_t *b = buf;
    if (len >= 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4) return CAI_PART_SEEDPT;
    if (len >= 9 && b[8] == '{') {
        uint64_t h = 0;
        for (int i = 7; i >= 0; i--) h = (h << 8) | b[i];
        /* A plausible header length (the reference caps headers at 100 MB). Whether it fits in the file is
         * the parser's to say, so that a truncated shard is reported as one. */
        if (h >= 2 && h <= 100u * 1024 * 1024) return CAI_PART_SHARD;
    }
    return 0;
}

const char *cai_part_format_name(cai_part_format f) {
    return f == CAI_PART_SEEDPT ? "pt" : f == CAI_PART_SHARD ? "shard" : "unknown";
}

/* Describe the first bytes of an unrecognised file, for the error message: whether it looks like text, and
 * the hex of at most 8 bytes. Never the text itself: the message lands in rank records, combined_data.json
 * and logs, and the file may be anything a path or link pointed at (issue 9: /etc/shadow's first line). */
static void describe(const uint8_t *b, size_t len, char *out, size_t n) {
    int text = len > 0;
    size_t k = len < 16 ? len : 16;
    for (size_t i = 0; i < k; i++)
        if (b[i] < 0x09 || (b[i] > 0x0d && b[i] < 0x20) || b[i] >= 0x7f) text = 0;
    size_t o = (size_t)snprintf(out, n, "%s starting", text ? "text" : "binary data");
    for (size_t i = 0; i < (k < 8 ? k : 8) && o + 4 < n; i++) o += (size_t)snprintf(out + o, n - o, " %02x", b[i]);
}

static void drop_range(const cai_file *f, const void *ptr, size_t bytes);
static void drop_cb(void *ctx, const void *ptr, size_t n) { drop_range(ctx, ptr, n); }

/* `mapping`: the file mapping `buf` lives in, when there is one. Then a shard's checksums are verified in
 * chunks whose pages are dropped behind the hash, so opening a multi-GB shard does not pull it all into RSS. */
static int parse_impl(const void *buf, size_t len, const char *name, unsigned flags, const cai_file *mapping,
                      cai_partition *p, cai_err *err) {
    memset(p, 0, sizeof *p);
    if (!name) name = "partition";
    if (len == 0)
        return cai_seterr(err, CAI_EFORMAT, "%s: empty file (expected a seed .pt partition or a CAI shard)", name);
    cai_part_format f = cai_partition_detect(buf, len);
    if (!f) {
        char what[96];
        describe(buf, len, what, sizeof what);
        return cai_seterr(err, CAI_EFORMAT,
                          "%s: not a partition: %zu bytes of %s (expected a seed .pt, which is a ZIP starting "
                          "\"PK\\x03\\x04\", or a CAI shard, which is safetensors)",
                          name, len, what);
    }
    part_impl *im = calloc(1, sizeof *im);
    if (!im) return cai_seterr(err, CAI_ENOMEM, "%s: out of memory", name);
    int rc;
    if (f == CAI_PART_SEEDPT) {
        rc = cai_seedpt_parse(buf, len, name, &im->pt, err);
        if (!rc) {
            p->n = im->pt.n;
            p->images = im->pt.images;
            p->mags = im->pt.mags;
            p->mag_dtype = CAI_F64;
            p->labels = im->pt.redshift;
            p->ids = NULL;
        }
    } else {
        int mapped = mapping && mapping->mapped;
        rc = cai_shard_parse_ex(buf, len, name, (flags & CAI_PARTITION_NO_VERIFY) ? CAI_SHARD_NO_VERIFY : 0,
                                mapped ? drop_cb : NULL, (void *)mapping, &im->shard, err);
        if (!rc) {
            p->n = im->shard.n;
            p->images = im->shard.images;
            p->mags = im->shard.mags;
            p->mag_dtype = im->shard.mag_dtype;
            p->labels = im->shard.redshift;
            p->ids = im->shard.ids;
            p->objid = im->shard.objid;
            p->ra = im->shard.ra;
            p->dec = im->shard.dec;
        }
    }
    if (rc) {
        free(im);
        memset(p, 0, sizeof *p);
        return rc;
    }
    p->format = f;
    p->impl = im;
    return CAI_OK;
}

int cai_partition_parse_ex(const void *buf, size_t len, const char *name, unsigned flags, cai_partition *p,
                           cai_err *err) {
    return parse_impl(buf, len, name, flags, NULL, p, err);
}

int cai_partition_parse(const void *buf, size_t len, const char *name, cai_partition *p, cai_err *err) {
    return parse_impl(buf, len, name, 0, NULL, p, err);
}

int cai_partition_open(const char *path, cai_partition *p, cai_err *err) {
    memset(p, 0, sizeof *p);
    cai_file f;
    int rc = cai_file_map(path, &f, err);
    if (rc) return rc;
    rc = parse_impl(f.data, f.len, path, 0, &f, p, err);
    if (rc) {
        cai_file_unmap(&f);
        return rc;
    }
    part_impl *im = p->impl;
    im->file = f;
    im->has_file = 1;
    return CAI_OK;
}

void cai_partition_close(cai_partition *p) {
    if (!p) return;
    part_impl *im = p->impl;
    if (im) {
        if (p->format == CAI_PART_SEEDPT) cai_seedpt_close(&im->pt);
        else if (p->format == CAI_PART_SHARD) cai_shard_close(&im->shard);
        if (im->has_file) cai_file_unmap(&im->file);
        free(im);
    }
    memset(p, 0, sizeof *p);
}

/* Drop whole pages of [ptr, ptr+bytes) if they lie inside the file mapping. Partial pages at either end are
 * kept: they may hold bytes of neighbouring galaxies or of another tensor that are still needed. */
static void drop_range(const cai_file *f, const void *ptr, size_t bytes) {
    if (!f->mapped || !bytes) return;
    uintptr_t lo = (uintptr_t)f->data, hi = lo + f->len, a = (uintptr_t)ptr, b = a + bytes;
    if (a < lo || b > hi) return;
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t s = (a + pg - 1) / pg * pg, e = b / pg * pg;
    if (e > s) madvise((void *)s, e - s, MADV_DONTNEED);
}

void cai_partition_release(cai_partition *p, int64_t first, int64_t count) {
    if (!p || !p->impl || first < 0 || count <= 0 || first > p->n || count > p->n - first) return;
    part_impl *im = p->impl;
    if (!im->has_file) return;
    size_t msz = p->mag_dtype == CAI_F64 ? 8 : 4;
    drop_range(&im->file, p->images + first * 5 * 32 * 32, (size_t)count * 5 * 32 * 32 * sizeof(float));
    drop_range(&im->file, (const uint8_t *)p->mags + (size_t)first * 5 * msz, (size_t)count * 5 * msz);
    if (p->labels) drop_range(&im->file, p->labels + first, (size_t)count * sizeof(float));
    if (p->ids) drop_range(&im->file, p->ids + first, (size_t)count * sizeof(int64_t));
}
