/* zip.c — restricted ZIP reader and streaming writer (see zip.h for what is accepted and refused).
 *
 * Layout reminders (APPNOTE 6.3): an archive ends with the end-of-central-directory record (EOCD, 22 bytes +
 * comment); ZIP64 archives put a ZIP64 EOCD record and a 20-byte locator just before it. The central
 * directory lists every entry with its sizes, CRC and the offset of its local header; the local header
 * repeats name and method, and — when flag bit 3 is set, as torch.save does — leaves CRC and sizes zero and
 * puts them in a data descriptor after the data. We trust nothing: every field is range-checked against the
 * buffer before it is used, and the local copy must agree with the central one. */
#define _GNU_SOURCE
#include "zip.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../common/buf.h"
#include "../common/util.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOC64 0x07064b50u
#define SIG_DESC 0x08074b50u

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }

/* Entry names come from the file: print them safely (printable ASCII, bounded length). */
static const char *safe(const char *s, size_t n, char out[160]) {
    size_t j = 0;
    for (size_t i = 0; i < n && j < 150; i++) {
        unsigned char c = (unsigned char)s[i];
        out[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (n > 150) {
        out[j++] = '.';
        out[j++] = '.';
        out[j++] = '.';
    }
    out[j] = 0;
    return out;
}

/* [off, off+n) lies inside a buffer of `len` bytes. */
static int in_range(uint64_t off, uint64_t n, uint64_t len) {
    uint64_t end;
    return cai_add_overflow(off, n, &end) == 0 && end <= len;
}

void cai_zip_close(cai_zip *z) {
    if (!z) return;
    for (size_t i = 0; i < z->n; i++) free(z->entries[i].name);
    free(z->entries);
    free(z->by_name);
    free(z->name);
    memset(z, 0, sizeof *z);
}

/* Walk an extra-field block looking for the ZIP64 record (id 1). Returns a pointer to its payload and its
 * size, or NULL; -1 through *bad if the block itself is malformed. */
static const uint8_t *find_zip64(const uint8_t *ex, size_t exlen, size_t *sz, int *bad) {
    size_t p = 0;
    *bad = 0;
    while (p + 4 <= exlen) {
        uint16_t id = rd16(ex + p), n = rd16(ex + p + 2);
        if (p + 4 + n > exlen) {
            *bad = 1;
            return NULL;
        }
        if (id == 1) {
            *sz = n;
            return ex + p + 4;
        }
        p += 4 + (size_t)n;
    }
    if (p != exlen) *bad = 1; /* trailing bytes shorter than a field header */
    return NULL;
}

static int bad_name(const char *s, size_t n) {
    if (n == 0 || s[0] == '/' || s[0] == '\\') return 1;
    if (memchr(s, 0, n)) return 1;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '/' || s[i] == '\\') {
            if (i - start == 2 && s[start] == '.' && s[start + 1] == '.') return 1;
            start = i + 1;
        }
    }
    return 0;
}

static int cmp_off(const void *a, const void *b) {
    const cai_zip_entry *x = *(cai_zip_entry *const *)a, *y = *(cai_zip_entry *const *)b;
    return x->header_off < y->header_off ? -1 : x->header_off > y->header_off;
}
static int cmp_name(const void *a, const void *b) {
    return strcmp((*(cai_zip_entry *const *)a)->name, (*(cai_zip_entry *const *)b)->name);
}

#define FAIL(code, ...)                                                                                                \
    do {                                                                                                               \
        rc = cai_seterr(err, code, __VA_ARGS__);                                                                       \
        goto fail;                                                                                                     \
    } while (0)

/* Step 1: the end-of-central-directory record. It is the last 22 bytes plus a comment of up to 65535 bytes:
 * search that window backwards and require the comment to end exactly at the end of the buffer. */
static int find_eocd(const uint8_t *buf, size_t len, const char *name, size_t *eocd_out, cai_err *err) {
    if (len >= 2 && buf[0] == 0x80 && buf[1] <= 5)
        return cai_seterr(err, CAI_EFORMAT,
                          "%s: not a ZIP archive: this is a bare pickle (torch.save's legacy format, torch < 1.6, "
                          "or pickle.dump); re-save it with a current torch.save",
                          name);
    if (len < 22) return cai_seterr(err, CAI_EFORMAT, "%s: not a ZIP archive (only %zu bytes)", name, len);
    size_t lo = len - 22 > 65535 ? len - 22 - 65535 : 0;
    for (size_t i = len - 22 + 1; i-- > lo;) {
        if (rd32(buf + i) == SIG_EOCD && i + 22 + rd16(buf + i + 20) == len) {
            *eocd_out = i;
            return CAI_OK;
        }
    }
    return cai_seterr(err, CAI_EFORMAT, "%s: not a ZIP archive, or truncated (no end-of-central-directory record)",
                      name);
}

/* Where the central directory is, from the end record or its ZIP64 successor. */
typedef struct {
    uint64_t n_total, cd_size, cd_off;
    uint64_t cd_limit; /* the central directory must end before the end records */
} cdir_loc;

/* Step 2: the end records (ZIP64 when a locator precedes the EOCD), each bound checked. */
static int read_end_records(const uint8_t *buf, size_t eocd, const char *name, cdir_loc *cd, cai_err *err) {
    const uint8_t *e = buf + eocd;
    uint64_t disk = rd16(e + 4), cd_disk = rd16(e + 6), n_disk = rd16(e + 8), n_total = rd16(e + 10);
    uint64_t cd_size = rd32(e + 12), cd_off = rd32(e + 16);
    uint64_t cd_limit = eocd;
    if (eocd >= 20 && rd32(buf + eocd - 20) == SIG_LOC64) {
        const uint8_t *loc = buf + eocd - 20;
        uint64_t z64 = rd64(loc + 8);
        if (rd32(loc + 4) != 0 || rd32(loc + 16) > 1)
            return cai_seterr(err, CAI_EFORMAT, "%s: multi-disk ZIP archives are not supported", name);
        if (!in_range(z64, 56, eocd - 20) || rd32(buf + z64) != SIG_EOCD64)
            return cai_seterr(err, CAI_EFORMAT, "%s: ZIP64 end record out of range or missing (offset %llu)", name,
                              (unsigned long long)z64);
        const uint8_t *r = buf + z64;
        disk = rd32(r + 16);
        cd_disk = rd32(r + 20);
        n_disk = rd64(r + 24);
        n_total = rd64(r + 32);
        cd_size = rd64(r + 40);
        cd_off = rd64(r + 48);
        cd_limit = z64;
    } else if (n_total == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu) {
        return cai_seterr(err, CAI_EFORMAT, "%s: end record says ZIP64 but there is no ZIP64 locator", name);
    }
    if (disk != 0 || cd_disk != 0 || n_disk != n_total)
        return cai_seterr(err, CAI_EFORMAT, "%s: multi-disk ZIP archives are not supported", name);
    if (!in_range(cd_off, cd_size, cd_limit))
        return cai_seterr(err, CAI_EFORMAT, "%s: central directory (offset %llu, %llu bytes) lies outside the archive",
                          name, (unsigned long long)cd_off, (unsigned long long)cd_size);
    if (n_total > CAI_ZIP_MAX_ENTRIES)
        return cai_seterr(err, CAI_EFORMAT, "%s: %llu entries, more than the limit of %d", name,
                          (unsigned long long)n_total, CAI_ZIP_MAX_ENTRIES);
    if (n_total * 46 > cd_size)
        return cai_seterr(err, CAI_EFORMAT, "%s: central directory of %llu bytes cannot hold %llu entries", name,
                          (unsigned long long)cd_size, (unsigned long long)n_total);
    *cd = (cdir_loc){n_total, cd_size, cd_off, cd_limit};
    return CAI_OK;
}

/* One central-directory entry's fields, with ZIP64 values substituted. */
typedef struct {
    uint16_t flags, method, nl, el, cl;
    uint32_t crc;
    uint64_t csize, usize, hoff;
    const char *nm; /* the name: nl bytes, not NUL-terminated */
} central;

/* Step 3a: the fixed part and the name of central entry k at offset p (bounded by cd_end). */
static int read_central(const uint8_t *buf, uint64_t p, uint64_t cd_end, const char *name, uint64_t k, central *c,
                        char sn[160], cai_err *err) {
    if (!in_range(p, 46, cd_end) || rd32(buf + p) != SIG_CENTRAL)
        return cai_seterr(err, CAI_EFORMAT, "%s: central directory entry %llu is truncated or corrupt", name,
                          (unsigned long long)k);
    const uint8_t *h = buf + p;
    c->flags = rd16(h + 8);
    c->method = rd16(h + 10);
    c->crc = rd32(h + 16);
    c->csize = rd32(h + 20);
    c->usize = rd32(h + 24);
    c->hoff = rd32(h + 42);
    c->nl = rd16(h + 28);
    c->el = rd16(h + 30);
    c->cl = rd16(h + 32);
    if (!in_range(p + 46, (uint64_t)c->nl + c->el + c->cl, cd_end))
        return cai_seterr(err, CAI_EFORMAT, "%s: central directory entry %llu runs past the directory", name,
                          (unsigned long long)k);
    c->nm = (const char *)h + 46;
    safe(c->nm, c->nl, sn);
    if (bad_name(c->nm, c->nl))
        return cai_seterr(err, CAI_EFORMAT, "%s: entry \"%s\": unsafe or empty name (absolute, '..' or NUL)", name, sn);
    return CAI_OK;
}

/* Step 3b: the ZIP64 extra field (sizes, offset, disk) and what CAI supports (one disk, no encryption,
 * stored or deflate). */
static int check_central(const uint8_t *buf, uint64_t p, const char *name, const char *sn, central *c, cai_err *err) {
    const uint8_t *h = buf + p;
    uint32_t dstart = rd16(h + 34);
    int bad = 0;
    size_t x64n = 0;
    const uint8_t *x64 = find_zip64(h + 46 + c->nl, c->el, &x64n, &bad);
    if (bad) return cai_seterr(err, CAI_EFORMAT, "%s: entry \"%s\": malformed extra field", name, sn);
    size_t xp = 0;
    uint64_t *fields[3] = {&c->usize, &c->csize, &c->hoff};
    for (int f = 0; f < 3; f++) {
        if (*fields[f] != 0xFFFFFFFFu) continue;
        if (!x64 || xp + 8 > x64n)
            return cai_seterr(err, CAI_EFORMAT,
                              "%s: entry \"%s\": ZIP64 size/offset marker without a ZIP64 extra field", name, sn);
        *fields[f] = rd64(x64 + xp);
        xp += 8;
    }
    if (dstart == 0xFFFF) {
        if (!x64 || xp + 4 > x64n)
            return cai_seterr(err, CAI_EFORMAT, "%s: entry \"%s\": bad ZIP64 disk number", name, sn);
        dstart = rd32(x64 + xp);
    }
    if (dstart != 0)
        return cai_seterr(err, CAI_EFORMAT, "%s: entry \"%s\": multi-disk archives are not supported", name, sn);
    if (c->flags & 0x41) return cai_seterr(err, CAI_EFORMAT, "%s: entry \"%s\" is encrypted: not supported", name, sn);
    if (c->method != 0 && c->method != 8)
        return cai_seterr(err, CAI_EFORMAT,
                          "%s: entry \"%s\": compression method %u not supported (only stored and deflate)", name, sn,
                          c->method);
    if (c->method == 0 && c->csize != c->usize)
        return cai_seterr(err, CAI_EFORMAT, "%s: entry \"%s\": stored entry with compressed size %llu != size %llu",
                          name, sn, (unsigned long long)c->csize, (unsigned long long)c->usize);
    return CAI_OK;
}

/* Step 4: the local header (and data descriptor) must agree with the central directory, and the entry's
 * bytes must lie before it. Gives where the data starts and where the entry's bytes end. */
static int check_local(const uint8_t *buf, uint64_t cd_off, const char *name, const char *sn, const central *c,
                       uint64_t *data_off_out, uint64_t *end_out, cai_err *err) {
    uint64_t hoff = c->hoff;
    if (!in_range(hoff, 30, cd_off) || rd32(buf + hoff) != SIG_LOCAL)
        return cai_seterr(err, CAI_EFORMAT, "%s: entry \"%s\": local header missing or out of range (offset %llu)",
                          name, sn, (unsigned long long)hoff);
    const uint8_t *l = buf + hoff;
    uint16_t lflags = rd16(l + 6), lmethod = rd16(l + 8), lnl = rd16(l + 26), lel = rd16(l + 28);
    uint64_t lcrc = rd32(l + 14), lcs = rd32(l + 18), lus = rd32(l + 22);
    if (!in_range(hoff + 30, (uint64_t)lnl + lel, cd_off))
        return cai_seterr(err, CAI_EFORMAT, "%s: entry \"%s\": local header runs past the data area", name, sn);
    if (lnl != c->nl || memcmp(l + 30, c->nm, c->nl) != 0)
        return cai_seterr(err, CAI_EFORMAT, "%s: entry \"%s\": local header names a different entry", name, sn);
    if (lmethod != c->method)
        return cai_seterr(err, CAI_EFORMAT, "%s: entry \"%s\": local method %u != central method %u", name, sn, lmethod,
                          c->method);
    int bad = 0;
    size_t l64n = 0;
    const uint8_t *l64 = find_zip64(l + 30 + lnl, lel, &l64n, &bad);
    if (bad) return cai_seterr(err, CAI_EFORMAT, "%s: entry \"%s\": malformed local extra field", name, sn);
    int zip64_local = 0;
    if (lus == 0xFFFFFFFFu || lcs == 0xFFFFFFFFu) {
        if (!l64 || l64n < 16)
            return cai_seterr(err, CAI_EFORMAT, "%s: entry \"%s\": local ZIP64 marker without a ZIP64 extra field",
                              name, sn);
        lus = rd64(l64);
        lcs = rd64(l64 + 8);
        zip64_local = 1;
    } else if (l64) {
        zip64_local = 1;
    }
    int desc = (lflags & 8) != 0;
    if (!(desc && lcrc == 0 && lcs == 0 && lus == 0) && (lcrc != c->crc || lcs != c->csize || lus != c->usize))
        return cai_seterr(err, CAI_EFORMAT,
                          "%s: entry \"%s\": local header (crc %08llx, %llu/%llu bytes) disagrees with the central "
                          "directory (crc %08x, %llu/%llu bytes)",
                          name, sn, (unsigned long long)lcrc, (unsigned long long)lcs, (unsigned long long)lus, c->crc,
                          (unsigned long long)c->csize, (unsigned long long)c->usize);
    uint64_t data_off = hoff + 30 + lnl + lel;
    if (!in_range(data_off, c->csize, cd_off))
        return cai_seterr(err, CAI_EFORMAT,
                          "%s: entry \"%s\": %llu bytes of data at offset %llu run past the data area "
                          "(truncated archive?)",
                          name, sn, (unsigned long long)c->csize, (unsigned long long)data_off);
    uint64_t end = data_off + c->csize;
    if (desc) { /* optional signature, CRC, sizes (8-byte sizes for ZIP64 entries) */
        int sig = in_range(end, 4, cd_off) && rd32(buf + end) == SIG_DESC;
        uint64_t dlen = (sig ? 4 : 0) + 4 + (zip64_local ? 16 : 8);
        if (!in_range(end, dlen, cd_off))
            return cai_seterr(err, CAI_EFORMAT, "%s: entry \"%s\": data descriptor runs past the data area", name, sn);
        const uint8_t *d = buf + end + (sig ? 4 : 0);
        uint64_t dcs = zip64_local ? rd64(d + 4) : rd32(d + 4);
        uint64_t dus = zip64_local ? rd64(d + 12) : rd32(d + 8);
        if (rd32(d) != c->crc || dcs != c->csize || dus != c->usize)
            return cai_seterr(err, CAI_EFORMAT,
                              "%s: entry \"%s\": data descriptor disagrees with the central directory", name, sn);
        end += dlen;
    }
    *data_off_out = data_off;
    *end_out = end;
    return CAI_OK;
}

/* Step 5: no two entries may share bytes (overlapping entries are how "zip bombs" multiply data), and no
 * name may appear twice. Leaves `order` sorted by name, for cai_zip_find's binary search. */
static int check_layout(cai_zip *z, cai_zip_entry **order, const uint64_t *span_end, const char *name, cai_err *err) {
    char sn[160], sn2[160];
    for (size_t k = 0; k < z->n; k++) order[k] = &z->entries[k];
    qsort(order, z->n, sizeof *order, cmp_off);
    for (size_t k = 0; k + 1 < z->n; k++) {
        size_t a = (size_t)(order[k] - z->entries);
        if (span_end[a] > order[k + 1]->header_off)
            return cai_seterr(err, CAI_EFORMAT, "%s: entries \"%s\" and \"%s\" overlap", name,
                              safe(order[k]->name, strlen(order[k]->name), sn),
                              safe(order[k + 1]->name, strlen(order[k + 1]->name), sn2));
    }
    qsort(order, z->n, sizeof *order, cmp_name);
    for (size_t k = 0; k + 1 < z->n; k++)
        if (strcmp(order[k]->name, order[k + 1]->name) == 0)
            return cai_seterr(err, CAI_EFORMAT, "%s: duplicate entry name \"%s\"", name,
                              safe(order[k]->name, strlen(order[k]->name), sn));
    return CAI_OK;
}

int cai_zip_open(const void *vbuf, size_t len, const char *name, cai_zip *z, cai_err *err) {
    const uint8_t *buf = vbuf;
    int rc = CAI_OK;
    char sn[160];
    cai_zip_entry **order = NULL;
    uint64_t *span_end = NULL;
    memset(z, 0, sizeof *z);
    if (!name) name = "(archive)";
    z->buf = buf;
    z->len = len;
    z->name = strdup(name);
    if (!z->name) return cai_seterr(err, CAI_ENOMEM, "%s: out of memory", name);

    size_t eocd = 0;
    cdir_loc cd = {0};
    if ((rc = find_eocd(buf, len, name, &eocd, err)) || (rc = read_end_records(buf, eocd, name, &cd, err))) goto fail;
    uint64_t n_total = cd.n_total;
    z->entries = calloc(n_total ? n_total : 1, sizeof *z->entries);
    span_end = calloc(n_total ? n_total : 1, sizeof *span_end);
    order = calloc(n_total ? n_total : 1, sizeof *order);
    if (!z->entries || !span_end || !order) FAIL(CAI_ENOMEM, "%s: out of memory", name);

    uint64_t p = cd.cd_off, cd_end = cd.cd_off + cd.cd_size;
    for (uint64_t k = 0; k < n_total; k++) {
        central c;
        if ((rc = read_central(buf, p, cd_end, name, k, &c, sn, err))) goto fail;
        cai_zip_entry *ent = &z->entries[k];
        ent->name = malloc((size_t)c.nl + 1);
        if (!ent->name) FAIL(CAI_ENOMEM, "%s: out of memory", name);
        memcpy(ent->name, c.nm, c.nl);
        ent->name[c.nl] = 0;
        z->n = k + 1;
        uint64_t data_off = 0, end = 0;
        if ((rc = check_central(buf, p, name, sn, &c, err)) ||
            (rc = check_local(buf, cd.cd_off, name, sn, &c, &data_off, &end, err)))
            goto fail;
        ent->method = c.method;
        ent->crc = c.crc;
        ent->csize = c.csize;
        ent->usize = c.usize;
        ent->header_off = c.hoff;
        ent->data_off = data_off;
        span_end[k] = end;
        p += 46 + (uint64_t)c.nl + c.el + c.cl;
    }
    if ((rc = check_layout(z, order, span_end, name, err))) goto fail;
    z->by_name = order;
    free(span_end);
    return CAI_OK;
fail:
    free(order);
    free(span_end);
    cai_zip_close(z);
    return rc;
}

const cai_zip_entry *cai_zip_find(const cai_zip *z, const char *name) {
    size_t lo = 0, hi = z->by_name ? z->n : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(z->by_name[mid]->name, name);
        if (c == 0) return z->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static uint32_t crc_of(const uint8_t *p, size_t n) { return (uint32_t)crc32_z(0, p, n); }

int cai_zip_entry_data(const cai_zip *z, const cai_zip_entry *e, int verify_crc, const uint8_t **data, size_t *len,
                       void **owned, cai_err *err) {
    char sn[160];
    *data = NULL;
    *len = 0;
    *owned = NULL;
    safe(e->name, strlen(e->name), sn);
    if (e->usize > SIZE_MAX / 2) return cai_seterr(err, CAI_EFORMAT, "%s: entry \"%s\" is too large", z->name, sn);
    const uint8_t *src = z->buf + e->data_off;
    if (e->method == 0) {
        if (verify_crc && crc_of(src, (size_t)e->usize) != e->crc)
            return cai_seterr(err, CAI_EFORMAT, "%s: entry \"%s\": CRC-32 mismatch (corrupt data)", z->name, sn);
        *data = src;
        *len = (size_t)e->usize;
        return CAI_OK;
    }
    /* Deflate: inflate into exactly usize bytes; a stream that ends early or wants more is corrupt. Deflate
     * cannot expand more than ~1032:1, so a claimed size far beyond that is refused before allocating. */
    if (e->usize / 1032 > e->csize + 1)
        return cai_seterr(err, CAI_EFORMAT, "%s: entry \"%s\": claimed size %llu impossible for %llu compressed bytes",
                          z->name, sn, (unsigned long long)e->usize, (unsigned long long)e->csize);
    uint8_t *out = malloc(e->usize ? (size_t)e->usize : 1);
    if (!out) return cai_seterr(err, CAI_ENOMEM, "%s: entry \"%s\": out of memory", z->name, sn);
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, -MAX_WBITS) != Z_OK) {
        free(out);
        return cai_seterr(err, CAI_ENOMEM, "%s: inflateInit failed", z->name);
    }
    uint64_t in_left = e->csize, out_left = e->usize;
    const uint8_t *ip = src;
    uint8_t *op = out;
    int zr = Z_OK;
    while (zr == Z_OK) {
        uInt ic = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
        uInt oc = out_left > (1u << 30) ? (1u << 30) : (uInt)out_left;
        s.next_in = (Bytef *)ip;
        s.avail_in = ic;
        s.next_out = op;
        s.avail_out = oc;
        zr = inflate(&s, Z_NO_FLUSH);
        ip += ic - s.avail_in;
        in_left -= ic - s.avail_in;
        op += oc - s.avail_out;
        out_left -= oc - s.avail_out;
        if (zr == Z_OK && ic == s.avail_in && oc == s.avail_out) break; /* no progress */
        if (zr == Z_BUF_ERROR) break;
    }
    inflateEnd(&s);
    if (zr != Z_STREAM_END || out_left != 0) {
        free(out);
        return cai_seterr(err, CAI_EFORMAT, "%s: entry \"%s\": corrupt deflate stream or wrong size", z->name, sn);
    }
    if (verify_crc && crc_of(out, (size_t)e->usize) != e->crc) {
        free(out);
        return cai_seterr(err, CAI_EFORMAT, "%s: entry \"%s\": CRC-32 mismatch (corrupt data)", z->name, sn);
    }
    *data = out;
    *len = (size_t)e->usize;
    *owned = out;
    return CAI_OK;
}

/* ---------------------------------------------------------------------------------------------------------
 * Writer */

typedef struct {
    char *name;
    uint64_t hoff, size;
    uint32_t crc;
    int zip64;
} wentry;

struct cai_zip_writer {
    FILE *fp;
    char *path, *tmp;
    uint64_t pos;
    wentry *e;
    size_t n, cap;
    int in_entry;
    uint32_t crc;
    uint64_t size;
};

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}
static void put64(uint8_t *p, uint64_t v) {
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static int wwrite(cai_zip_writer *w, const void *p, size_t n, cai_err *err) {
    if (n && fwrite(p, 1, n, w->fp) != n)
        return cai_seterr(err, CAI_EIO, "%s: write failed: %s", w->path, strerror(errno));
    w->pos += n;
    return CAI_OK;
}

cai_zip_writer *cai_zip_writer_open(const char *path, cai_err *err) {
    cai_zip_writer *w = calloc(1, sizeof *w);
    if (!w) {
        cai_seterr(err, CAI_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    w->path = strdup(path);
    if (!w->path || asprintf(&w->tmp, "%s.tmp.%d", path, (int)getpid()) < 0) {
        w->tmp = NULL;
        cai_zip_writer_abort(w);
        cai_seterr(err, CAI_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    if (cai_mkdirs_for(path, err) != CAI_OK) {
        cai_zip_writer_abort(w);
        return NULL;
    }
    w->fp = fopen(w->tmp, "wb");
    if (!w->fp) {
        cai_seterr(err, CAI_EIO, "%s: cannot create: %s", w->tmp, strerror(errno));
        cai_zip_writer_abort(w);
        return NULL;
    }
    setvbuf(w->fp, NULL, _IOFBF, 1 << 20);
    return w;
}

int cai_zip_writer_begin(cai_zip_writer *w, const char *name, uint64_t size_hint, cai_err *err) {
    size_t nl = strlen(name);
    if (w->in_entry || nl == 0 || nl > 0xFFFF)
        return cai_seterr(err, CAI_EARG, "%s: bad zip entry \"%s\"", w->path, name);
    if (cai_grow(&w->e, &w->cap, w->n + 1, sizeof *w->e, 8))
        return cai_seterr(err, CAI_ENOMEM, "%s: out of memory", w->path);
    wentry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    if (!e->name) return cai_seterr(err, CAI_ENOMEM, "%s: out of memory", w->path);
    w->n++;
    e->hoff = w->pos;
    e->zip64 = size_hint >= 0xFFFFFFFFu;
    size_t z64 = e->zip64 ? 20 : 0;
    /* Pad with an "FB" extra field of 'Z's so the data starts on a 64-byte boundary (torch does the same). */
    uint64_t base = w->pos + 30 + nl + z64 + 4;
    size_t pad = (size_t)((64 - base % 64) % 64);
    uint8_t h[30 + 20 + 4 + 64];
    memset(h, 0, sizeof h);
    put32(h, SIG_LOCAL);
    put16(h + 4, e->zip64 ? 45 : 20);
    put16(h + 12, 0x21); /* DOS date 1980-01-01 */
    if (e->zip64) {
        put32(h + 18, 0xFFFFFFFFu);
        put32(h + 22, 0xFFFFFFFFu);
    }
    put16(h + 26, (uint16_t)nl);
    put16(h + 28, (uint16_t)(z64 + 4 + pad));
    int rc;
    if ((rc = wwrite(w, h, 30, err)) || (rc = wwrite(w, name, nl, err))) return rc;
    uint8_t x[20 + 4 + 64];
    memset(x, 'Z', sizeof x);
    size_t xl = 0;
    if (e->zip64) {
        put16(x, 1);
        put16(x + 2, 16);
        memset(x + 4, 0, 16);
        xl = 20;
    }
    put16(x + xl, 0x4246);
    put16(x + xl + 2, (uint16_t)pad);
    xl += 4 + pad;
    if ((rc = wwrite(w, x, xl, err))) return rc;
    w->in_entry = 1;
    w->crc = 0;
    w->size = 0;
    return CAI_OK;
}

int cai_zip_writer_data(cai_zip_writer *w, const void *data, size_t len, cai_err *err) {
    if (!w->in_entry) return cai_seterr(err, CAI_EARG, "%s: zip data outside an entry", w->path);
    w->crc = (uint32_t)crc32_z(w->crc, data, len);
    w->size += len;
    return wwrite(w, data, len, err);
}

int cai_zip_writer_end(cai_zip_writer *w, cai_err *err) {
    if (!w->in_entry) return cai_seterr(err, CAI_EARG, "%s: zip entry end without begin", w->path);
    wentry *e = &w->e[w->n - 1];
    w->in_entry = 0;
    e->crc = w->crc;
    e->size = w->size;
    if (!e->zip64 && e->size >= 0xFFFFFFFFu)
        return cai_seterr(err, CAI_EINTERNAL, "%s: entry \"%s\" exceeds 4 GiB but was not declared ZIP64", w->path,
                          e->name);
    uint8_t b[12];
    put32(b, e->crc);
    put32(b + 4, e->zip64 ? 0xFFFFFFFFu : (uint32_t)e->size);
    put32(b + 8, e->zip64 ? 0xFFFFFFFFu : (uint32_t)e->size);
    if (fseeko(w->fp, (off_t)(e->hoff + 14), SEEK_SET) != 0 || fwrite(b, 1, 12, w->fp) != 12)
        return cai_seterr(err, CAI_EIO, "%s: seek/write failed: %s", w->path, strerror(errno));
    if (e->zip64) {
        uint8_t s[16];
        put64(s, e->size);
        put64(s + 8, e->size);
        if (fseeko(w->fp, (off_t)(e->hoff + 30 + strlen(e->name) + 4), SEEK_SET) != 0 || fwrite(s, 1, 16, w->fp) != 16)
            return cai_seterr(err, CAI_EIO, "%s: seek/write failed: %s", w->path, strerror(errno));
    }
    if (fseeko(w->fp, (off_t)w->pos, SEEK_SET) != 0)
        return cai_seterr(err, CAI_EIO, "%s: seek failed: %s", w->path, strerror(errno));
    return CAI_OK;
}

int cai_zip_writer_finish(cai_zip_writer *w, cai_err *err) {
    int rc = CAI_OK;
    if (w->in_entry) {
        rc = cai_seterr(err, CAI_EARG, "%s: unfinished zip entry", w->path);
        goto out;
    }
    uint64_t cd_off = w->pos;
    for (size_t i = 0; i < w->n; i++) {
        wentry *e = &w->e[i];
        size_t nl = strlen(e->name);
        int big_off = e->hoff >= 0xFFFFFFFFu;
        uint8_t c[46], x[4 + 24];
        size_t xl = 0;
        memset(c, 0, sizeof c);
        if (e->zip64 || big_off) {
            put16(x, 1);
            if (e->zip64) {
                put64(x + 4 + xl, e->size);
                put64(x + 12 + xl, e->size);
                xl += 16;
            }
            if (big_off) {
                put64(x + 4 + xl, e->hoff);
                xl += 8;
            }
            put16(x + 2, (uint16_t)xl);
            xl += 4;
        }
        put32(c, SIG_CENTRAL);
        put16(c + 4, 45);
        put16(c + 6, (e->zip64 || big_off) ? 45 : 20);
        put16(c + 14, 0x21);
        put32(c + 16, e->crc);
        put32(c + 20, e->zip64 ? 0xFFFFFFFFu : (uint32_t)e->size);
        put32(c + 24, e->zip64 ? 0xFFFFFFFFu : (uint32_t)e->size);
        put16(c + 28, (uint16_t)nl);
        put16(c + 30, (uint16_t)xl);
        put32(c + 42, big_off ? 0xFFFFFFFFu : (uint32_t)e->hoff);
        if ((rc = wwrite(w, c, 46, err)) || (rc = wwrite(w, e->name, nl, err)) || (rc = wwrite(w, x, xl, err)))
            goto out;
    }
    uint64_t cd_size = w->pos - cd_off;
    int z64 = w->n >= 0xFFFF || cd_off >= 0xFFFFFFFFu || cd_size >= 0xFFFFFFFFu;
    if (z64) {
        uint8_t r[56 + 20];
        memset(r, 0, sizeof r);
        put32(r, SIG_EOCD64);
        put64(r + 4, 44);
        put16(r + 12, 45);
        put16(r + 14, 45);
        put64(r + 24, w->n);
        put64(r + 32, w->n);
        put64(r + 40, cd_size);
        put64(r + 48, cd_off);
        put32(r + 56, SIG_LOC64);
        put64(r + 56 + 8, w->pos);
        put32(r + 56 + 16, 1);
        if ((rc = wwrite(w, r, sizeof r, err))) goto out;
    }
    uint8_t eo[22];
    memset(eo, 0, sizeof eo);
    put32(eo, SIG_EOCD);
    put16(eo + 8, z64 ? 0xFFFF : (uint16_t)w->n);
    put16(eo + 10, z64 ? 0xFFFF : (uint16_t)w->n);
    put32(eo + 12, z64 ? 0xFFFFFFFFu : (uint32_t)cd_size);
    put32(eo + 16, z64 ? 0xFFFFFFFFu : (uint32_t)cd_off);
    if ((rc = wwrite(w, eo, 22, err))) goto out;
    if (fflush(w->fp) != 0 || fsync(fileno(w->fp)) != 0) {
        rc = cai_seterr(err, CAI_EIO, "%s: flush failed: %s", w->tmp, strerror(errno));
        goto out;
    }
    if (fclose(w->fp) != 0) {
        w->fp = NULL;
        rc = cai_seterr(err, CAI_EIO, "%s: close failed: %s", w->tmp, strerror(errno));
        goto out;
    }
    w->fp = NULL;
    if (rename(w->tmp, w->path) != 0) {
        rc = cai_seterr(err, CAI_EIO, "%s: rename failed: %s", w->path, strerror(errno));
        goto out;
    }
    free(w->tmp);
    w->tmp = NULL; /* so abort does not unlink */
out:
    cai_zip_writer_abort(w);
    return rc;
}

void cai_zip_writer_abort(cai_zip_writer *w) {
    if (!w) return;
    if (w->fp) fclose(w->fp);
    if (w->tmp) unlink(w->tmp);
    for (size_t i = 0; i < w->n; i++) free(w->e[i].name);
    free(w->e);
    free(w->tmp);
    free(w->path);
    free(w);
}
