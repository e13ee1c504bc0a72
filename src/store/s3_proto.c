/* s3_proto.c — see s3_proto.h. Every scan is bounded by an explicit end pointer: S3 bodies are outside
 * input, so no function here relies on a NUL terminator inside the body or trusts a length it reads. */
#define _GNU_SOURCE /* memmem */
#include "s3_proto.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/buf.h"
#include "../common/util.h"

int cai_s3_uri_encode(cai_s3_buf *out, const char *s, size_t n, int keep_slash) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
            if (cai_s3_buf_add(out, &s[i], 1)) return -1;
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            if (cai_s3_buf_add(out, e, 3)) return -1;
        }
    }
    if (!out->p && cai_s3_buf_add(out, "", 0)) return -1; /* an empty string is still a string */
    return 0;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

char *cai_s3_url_decode(const char *s, size_t n) {
    char *o = malloc(n + 1);
    if (!o) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '+') c = ' ';
        else if (c == '%') {
            if (n - i < 3) goto bad;
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0) goto bad;
            c = h * 16 + l;
            i += 2;
        }
        if (c == 0) goto bad;
        o[j++] = (char)c;
    }
    o[j] = 0;
    return o;
bad:
    free(o);
    return NULL;
}

/* memmem over [p, end) */
static const char *find(const char *p, const char *end, const char *needle, size_t nl) {
    if (p >= end || (size_t)(end - p) < nl) return NULL;
    return memmem(p, (size_t)(end - p), needle, nl);
}

const char *cai_s3_xml_find(const char *p, const char *end, const char *tag, size_t *len) {
    char open[80], close[82];
    size_t tl = strlen(tag);
    if (tl == 0 || tl > 64) return NULL;
    open[0] = '<';
    memcpy(open + 1, tag, tl);
    open[tl + 1] = '>';
    close[0] = '<';
    close[1] = '/';
    memcpy(close + 2, tag, tl);
    close[tl + 2] = '>';
    const char *a = find(p, end, open, tl + 2);
    if (!a) return NULL;
    a += tl + 2;
    const char *b = find(a, end, close, tl + 3);
    if (!b) return NULL;
    *len = (size_t)(b - a);
    return a;
}

static size_t utf8_put(char *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

char *cai_s3_xml_text(const char *p, size_t n) {
    /* Decoded text is never longer than the source: the longest output (4 UTF-8 bytes) needs the
     * shortest entity "&#N;" of a code point >= 0x10000, which is at least 8 characters. */
    char *o = malloc(n + 1);
    if (!o) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n;) {
        if (p[i] == 0) goto bad;
        if (p[i] != '&') {
            o[j++] = p[i++];
            continue;
        }
        const char *semi = memchr(p + i, ';', n - i < 16 ? n - i : 16);
        if (!semi) goto bad;
        const char *ent = p + i + 1;
        size_t el = (size_t)(semi - ent);
        if (el == 3 && !memcmp(ent, "amp", 3)) o[j++] = '&';
        else if (el == 2 && !memcmp(ent, "lt", 2)) o[j++] = '<';
        else if (el == 2 && !memcmp(ent, "gt", 2)) o[j++] = '>';
        else if (el == 4 && !memcmp(ent, "quot", 4)) o[j++] = '"';
        else if (el == 4 && !memcmp(ent, "apos", 4)) o[j++] = '\'';
        else if (el >= 2 && ent[0] == '#') {
            uint32_t cp = 0;
            int base = (ent[1] == 'x' || ent[1] == 'X') ? 16 : 10;
            size_t k = base == 16 ? 2 : 1;
            if (k >= el) goto bad;
            for (; k < el; k++) {
                int v = base == 16 ? hexval(ent[k]) : (isdigit((unsigned char)ent[k]) ? ent[k] - '0' : -1);
                if (v < 0) goto bad;
                cp = cp * (uint32_t)base + (uint32_t)v;
                if (cp > 0x10FFFF) goto bad;
            }
            if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) goto bad;
            j += utf8_put(o + j, cp);
        } else goto bad;
        i = (size_t)(semi - p) + 1;
    }
    o[j] = 0;
    return o;
bad:
    free(o);
    return NULL;
}

static int parse_u64(const char *p, size_t n, uint64_t *out) {
    if (n == 0 || n > 20) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i])) return -1;
        if (cai_mul_overflow(v, 10, &v) || cai_add_overflow(v, (uint64_t)(p[i] - '0'), &v)) return -1;
    }
    *out = v;
    return 0;
}

int cai_s3_parse_list_page(const char *body, size_t n, int url_encoded, const char *strip, cai_keylist *out,
                           size_t *cap, int *truncated, char **next_token, cai_err *err) {
    const char *end = body + n;
    size_t sl = strlen(strip);
    *truncated = 0;
    *next_token = NULL;
    if (!find(body, end, "<ListBucketResult", 17)) {
        /* quote the start of the body, bounded by n (it need not be NUL-terminated) and made printable */
        char head[61];
        size_t hl = n < 60 ? n : 60;
        for (size_t i = 0; i < hl; i++) head[i] = (body[i] >= 0x20 && body[i] < 0x7f) ? body[i] : '?';
        head[hl] = 0;
        return cai_seterr(err, CAI_EFORMAT, "ListObjectsV2 response: expected <ListBucketResult>, got '%s'",
                          n ? head : "(empty body)");
    }
    const char *p = body;
    for (;;) {
        const char *c = find(p, end, "<Contents>", 10);
        if (!c) break;
        const char *ce = find(c, end, "</Contents>", 11);
        if (!ce) return cai_seterr(err, CAI_EFORMAT, "ListObjectsV2 response: <Contents> without </Contents>");
        size_t kl, zl;
        const char *k = cai_s3_xml_find(c, ce, "Key", &kl);
        const char *z = cai_s3_xml_find(c, ce, "Size", &zl);
        if (!k || !z) return cai_seterr(err, CAI_EFORMAT, "ListObjectsV2 response: <Contents> without <Key> or <Size>");
        uint64_t size;
        if (parse_u64(z, zl, &size))
            return cai_seterr(err, CAI_EFORMAT, "ListObjectsV2 response: <Size> is not a byte count: %.*s",
                              (int)(zl > 40 ? 40 : zl), z);
        char *xk = cai_s3_xml_text(k, kl);
        if (!xk) return cai_seterr(err, CAI_EFORMAT, "ListObjectsV2 response: bad XML text in <Key>");
        char *key = xk;
        if (url_encoded) {
            key = cai_s3_url_decode(xk, strlen(xk));
            free(xk);
            if (!key) return cai_seterr(err, CAI_EFORMAT, "ListObjectsV2 response: bad URL encoding in <Key>");
        }
        if (strncmp(key, strip, sl) != 0) {
            cai_seterr(err, CAI_EFORMAT, "ListObjectsV2 response: key '%.200s' is outside the listed prefix '%.200s'",
                       key, strip);
            free(key);
            return CAI_EFORMAT;
        }
        if (sl) memmove(key, key + sl, strlen(key + sl) + 1);
        size_t ck = *cap, cs = *cap; /* two arrays, one capacity: kept only once both have grown */
        if (cai_grow(&out->keys, &ck, out->n + 1, sizeof *out->keys, 1024) ||
            cai_grow(&out->sizes, &cs, out->n + 1, sizeof *out->sizes, 1024)) {
            free(key);
            return cai_seterr(err, CAI_ENOMEM, "ListObjectsV2: out of memory at %zu keys", out->n);
        }
        *cap = ck < cs ? ck : cs;
        out->keys[out->n] = key;
        out->sizes[out->n] = size;
        out->n++;
        p = ce + 11;
    }
    /* IsTruncated and NextContinuationToken sit outside <Contents>; a key named "<IsTruncated>" is escaped
     * as &lt;IsTruncated&gt; in XML, so the raw search cannot be fooled by key text. */
    size_t tl;
    const char *t = cai_s3_xml_find(body, end, "IsTruncated", &tl);
    if (t && tl == 4 && !memcmp(t, "true", 4)) *truncated = 1;
    else if (t && !(tl == 5 && !memcmp(t, "false", 5)))
        return cai_seterr(err, CAI_EFORMAT, "ListObjectsV2 response: <IsTruncated> is neither true nor false");
    if (*truncated) {
        const char *tok = cai_s3_xml_find(body, end, "NextContinuationToken", &tl);
        if (!tok || tl == 0)
            return cai_seterr(err, CAI_EFORMAT, "ListObjectsV2 response: truncated but no <NextContinuationToken>");
        *next_token = cai_s3_xml_text(tok, tl);
        if (!*next_token) return cai_seterr(err, CAI_EFORMAT, "ListObjectsV2 response: bad <NextContinuationToken>");
    }
    return CAI_OK;
}

static void copy_text(const char *p, size_t n, char *dst, size_t cap) {
    if (!cap) return;
    dst[0] = 0;
    if (!p) return;
    char *t = cai_s3_xml_text(p, n);
    const char *src = t ? t : "";
    size_t l = strlen(src);
    if (l >= cap) l = cap - 1;
    memcpy(dst, src, l);
    dst[l] = 0;
    for (size_t i = 0; i < l; i++) /* one line, printable: it lands in an error message */
        if ((unsigned char)dst[i] < 0x20) dst[i] = ' ';
    free(t);
}

void cai_s3_parse_error(const char *body, size_t n, char *code, size_t code_cap, char *msg, size_t msg_cap) {
    const char *end = body ? body + n : NULL;
    size_t cl = 0, ml = 0;
    const char *c = body ? cai_s3_xml_find(body, end, "Code", &cl) : NULL;
    const char *m = body ? cai_s3_xml_find(body, end, "Message", &ml) : NULL;
    copy_text(c, cl, code, code_cap);
    copy_text(m, ml, msg, msg_cap);
}

const char *cai_s3_status_code_name(long status) {
    switch (status) {
    case 301: return "PermanentRedirect";
    case 307: return "TemporaryRedirect";
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 409: return "Conflict";
    case 412: return "PreconditionFailed";
    case 416: return "InvalidRange";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 502: return "BadGateway";
    case 503: return "ServiceUnavailable";
    case 504: return "GatewayTimeout";
    default: return "HTTPError";
    }
}

static int in_list(const char *code, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(code, *list)) return 1;
    return 0;
}

int cai_s3_retryable(long status, const char *code) {
    static const char *const codes[] = {
        "SlowDown",           "Throttling",           "ThrottlingException",      "RequestTimeout",   "InternalError",
        "ServiceUnavailable", "RequestLimitExceeded", "TooManyRequestsException", "OperationAborted", NULL};
    if (status >= 500 || status == 429) return 1;
    return code && in_list(code, codes);
}

cai_code cai_s3_classify(long status, const char *code) {
    static const char *const auth[] = {"SignatureDoesNotMatch",
                                       "InvalidAccessKeyId",
                                       "AccessDenied",
                                       "ExpiredToken",
                                       "InvalidToken",
                                       "TokenRefreshRequired",
                                       "AuthorizationHeaderMalformed",
                                       "InvalidSecurity",
                                       "MissingSecurityHeader",
                                       "RequestTimeTooSkewed",
                                       "AccountProblem",
                                       "AllAccessDisabled",
                                       "InvalidClientTokenId",
                                       "UnrecognizedClientException",
                                       "Forbidden",
                                       "Unauthorized",
                                       NULL};
    static const char *const notfound[] = {"NoSuchKey", "NoSuchBucket", "NotFound", "NoSuchUpload", NULL};
    if (code && *code) {
        if (in_list(code, auth)) return CAI_EAUTH;
        if (in_list(code, notfound)) return CAI_ENOTFOUND;
        return cai_s3_retryable(status, code) ? CAI_ES3_RETRY : CAI_ES3;
    }
    if (cai_s3_retryable(status, NULL)) return CAI_ES3_RETRY;
    if (status == 401 || status == 403) return CAI_EAUTH;
    if (status == 404) return CAI_ENOTFOUND;
    return CAI_ES3;
}

int cai_s3_bucket_ok(const char *b) {
    size_t n = strlen(b);
    if (n == 0 || n > 255) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-') return 0;
    }
    return 1;
}

int cai_s3_parse_url(const char *url, char **bucket, char **prefix, cai_err *err) {
    *bucket = *prefix = NULL;
    if (strncmp(url, "s3://", 5) != 0)
        return cai_seterr(err, CAI_EARG, "store '%s': expected s3://[BUCKET[/PREFIX]]", url);
    const char *p = url + 5;
    if (!*p) return CAI_OK;
    const char *slash = strchr(p, '/');
    size_t bl = slash ? (size_t)(slash - p) : strlen(p);
    char *b = strndup(p, bl);
    if (!b) return cai_seterr(err, CAI_ENOMEM, "store '%s': out of memory", url);
    if (!cai_s3_bucket_ok(b)) {
        free(b);
        return cai_seterr(err, CAI_EARG,
                          "store '%s': '%.*s' is not a valid bucket name (expected letters, digits, '.', '-')", url,
                          (int)bl, p);
    }
    const char *q = slash ? slash : p + bl;
    while (*q == '/') q++;
    size_t ql = strlen(q);
    while (ql && q[ql - 1] == '/') ql--;
    char *pre = strndup(q, ql);
    if (!pre) {
        free(b);
        return cai_seterr(err, CAI_ENOMEM, "store '%s': out of memory", url);
    }
    *bucket = b;
    *prefix = pre;
    return CAI_OK;
}

int cai_s3_parse_size(const char *s, uint64_t *out) {
    if (!s || !*s) return -1;
    uint64_t v = 0;
    const char *p = s;
    for (; isdigit((unsigned char)*p); p++)
        if (cai_mul_overflow(v, 10, &v) || cai_add_overflow(v, (uint64_t)(*p - '0'), &v)) return -1;
    if (p == s) return -1;
    uint64_t m = 1;
    if (*p) {
        switch (tolower((unsigned char)*p)) {
        case 'k': m = 1ull << 10; break;
        case 'm': m = 1ull << 20; break;
        case 'g': m = 1ull << 30; break;
        default: return -1;
        }
        p++;
        if (*p == 'i' || *p == 'I') p++;
        if (*p == 'b' || *p == 'B') p++;
        if (*p) return -1;
    }
    return cai_mul_overflow(v, m, out);
}
