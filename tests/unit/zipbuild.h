/* zipbuild.h — test helper: assemble small ZIP archives in memory, byte by byte, so tests can tamper with
 * any field (sizes, CRCs, offsets, names). Stored or raw-deflate entries; no alignment padding. */
#ifndef CAI_TEST_ZIPBUILD_H
#define CAI_TEST_ZIPBUILD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef struct {
    const char *name;
    const void *data;
    size_t len;
    int method; /* 0 stored, 8 deflate */
} zb_entry;

typedef struct {
    uint8_t *buf;
    size_t len, cap;
    size_t hoff[16]; /* local header offset of each entry */
    size_t coff[16]; /* central directory record offset of each entry */
    size_t cd_off, eocd_off;
} zb_out;

/* Not reformatted: each record is written one field group per line, as APPNOTE lays them out. */
/* clang-format off */
__attribute__((unused)) static void zb_put(zb_out *o, const void *p, size_t n) {
    if (o->len + n > o->cap) {
        o->cap = (o->len + n) * 2 + 256;
        o->buf = realloc(o->buf, o->cap);
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}
__attribute__((unused)) static void zb_u16(zb_out *o, uint32_t v) { uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)}; zb_put(o, b, 2); }
__attribute__((unused)) static void zb_u32(zb_out *o, uint32_t v) { zb_u16(o, v & 0xFFFF); zb_u16(o, v >> 16); }
__attribute__((unused)) static void zb_set32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24); }

/* Build the archive; the caller frees o->buf. */
__attribute__((unused)) static void zb_build(const zb_entry *e, int n, zb_out *o) {
    memset(o, 0, sizeof *o);
    uint8_t *comp[16];
    size_t clen[16];
    uint32_t crc[16];
    for (int i = 0; i < n; i++) {
        crc[i] = (uint32_t)crc32(0, e[i].data, (uInt)e[i].len);
        if (e[i].method == 8) {
            z_stream s;
            memset(&s, 0, sizeof s);
            deflateInit2(&s, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
            uLong bound = deflateBound(&s, (uLong)e[i].len) + 16;
            comp[i] = malloc(bound);
            s.next_in = (Bytef *)e[i].data;
            s.avail_in = (uInt)e[i].len;
            s.next_out = comp[i];
            s.avail_out = (uInt)bound;
            deflate(&s, Z_FINISH);
            clen[i] = bound - s.avail_out;
            deflateEnd(&s);
        } else {
            comp[i] = malloc(e[i].len + 1);
            memcpy(comp[i], e[i].data, e[i].len);
            clen[i] = e[i].len;
        }
        o->hoff[i] = o->len;
        size_t nl = strlen(e[i].name);
        zb_u32(o, 0x04034b50); zb_u16(o, 20); zb_u16(o, 0); zb_u16(o, (uint32_t)e[i].method);
        zb_u16(o, 0); zb_u16(o, 0x21); zb_u32(o, crc[i]); zb_u32(o, (uint32_t)clen[i]); zb_u32(o, (uint32_t)e[i].len);
        zb_u16(o, (uint32_t)nl); zb_u16(o, 0);
        zb_put(o, e[i].name, nl);
        zb_put(o, comp[i], clen[i]);
    }
    o->cd_off = o->len;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(e[i].name);
        o->coff[i] = o->len;
        zb_u32(o, 0x02014b50); zb_u16(o, 20); zb_u16(o, 20); zb_u16(o, 0); zb_u16(o, (uint32_t)e[i].method);
        zb_u16(o, 0); zb_u16(o, 0x21); zb_u32(o, crc[i]); zb_u32(o, (uint32_t)clen[i]); zb_u32(o, (uint32_t)e[i].len);
        zb_u16(o, (uint32_t)nl); zb_u16(o, 0); zb_u16(o, 0); zb_u16(o, 0); zb_u16(o, 0); zb_u32(o, 0);
        zb_u32(o, (uint32_t)o->hoff[i]);
        zb_put(o, e[i].name, nl);
        free(comp[i]);
    }
    size_t cd_size = o->len - o->cd_off;
    o->eocd_off = o->len;
    zb_u32(o, 0x06054b50); zb_u16(o, 0); zb_u16(o, 0); zb_u16(o, (uint32_t)n); zb_u16(o, (uint32_t)n);
    zb_u32(o, (uint32_t)cd_size); zb_u32(o, (uint32_t)o->cd_off); zb_u16(o, 0);
}

/* clang-format on */

#endif
