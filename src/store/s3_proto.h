/* s3_proto.h — the network-free half of the S3 client: SigV4 URI/query encoding, the bounded XML
 * extractor for S3 response bodies (ListObjectsV2, errors, multipart), error classification, s3:// URLs.
 * Owns: pure string transforms, unit-tested without a server. Must not touch: sockets, curl, credentials. */
#ifndef CAI_S3_PROTO_H
#define CAI_S3_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "store.h"

/* A growable byte buffer, always NUL-terminated when p != NULL. */
typedef struct {
    char *p;
    size_t n, cap;
} cai_s3_buf;

int cai_s3_buf_add(cai_s3_buf *b, const void *data, size_t n); /* 0 ok, -1 ENOMEM/overflow */
int cai_s3_buf_str(cai_s3_buf *b, const char *s);
void cai_s3_buf_free(cai_s3_buf *b);

/* SigV4 UriEncode: keep A-Za-z0-9 - . _ ~ (and '/' when keep_slash), %XX (uppercase) for every other byte.
 * Object keys are encoded with keep_slash=1 for the path, query values with keep_slash=0. S3's canonical
 * URI is the path encoded exactly once, so the URL we send is its own canonical form. */
int cai_s3_uri_encode(cai_s3_buf *out, const char *s, size_t n, int keep_slash);

/* Percent-decoding as botocore does for ListObjectsV2 with encoding-type=url (unquote_plus: '+' is a space).
 * Returns a NUL-terminated heap string, or NULL on a malformed escape / embedded NUL / ENOMEM. */
char *cai_s3_url_decode(const char *s, size_t n);

/* The text between <tag> and </tag> (first occurrence in [p, end)), raw, or NULL. `tag` is the bare name;
 * the match is exact ("Key" does not match <KeyCount>). *len gets the text length. */
const char *cai_s3_xml_find(const char *p, const char *end, const char *tag, size_t *len);

/* XML text → NUL-terminated heap string: &amp; &lt; &gt; &quot; &apos; &#N; &#xN; (UTF-8 out).
 * NULL on a malformed entity, a NUL character, or ENOMEM. */
char *cai_s3_xml_text(const char *p, size_t n);

/* One ListObjectsV2 page. Appends each <Contents>' Key (url-decoded when url_encoded) and Size to out
 * (cap: its allocated capacity, updated). strip: a prefix every key must start with and that is removed
 * (the store's mapping prefix; "" for none). *truncated from <IsTruncated>; *next_token (heap, or NULL)
 * from <NextContinuationToken>. CAI_EFORMAT names what was wrong. */
int cai_s3_parse_list_page(const char *body, size_t n, int url_encoded, const char *strip, cai_keylist *out,
                           size_t *cap, int *truncated, char **next_token, cai_err *err);

/* <Error><Code>…</Code><Message>…</Message> from an error body. code/msg get "" when absent. */
void cai_s3_parse_error(const char *body, size_t n, char *code, size_t code_cap, char *msg, size_t msg_cap);

/* The S3 error code HEAD and body-less errors imply, from the status alone ("NotFound", "Forbidden"...). */
const char *cai_s3_status_code_name(long status);

/* Is this response worth retrying? 5xx, 429, SlowDown/Throttling/RequestTimeout/InternalError codes. */
int cai_s3_retryable(long status, const char *code);

/* The CAI error for a final S3 error: CAI_EAUTH for credential/signature/permission codes, CAI_ENOTFOUND
 * for NoSuchKey/NoSuchBucket/404, CAI_ES3_RETRY for what cai_s3_retryable() accepts (throttling, 5xx: worth
 * retrying later, e.g. by the state machine), CAI_ES3 for every other, permanent, error (301 for a bucket in
 * another Region, 400 InvalidArgument, ...), which no retry can fix. */
cai_code cai_s3_classify(long status, const char *code);

/* "s3://" → *bucket = NULL (the payload's buckets as they are); "s3://B[/PREFIX]" → B and PREFIX without
 * leading/trailing '/' ("" when absent). Heap strings; CAI_EARG on a malformed URL or bucket name. */
int cai_s3_parse_url(const char *url, char **bucket, char **prefix, cai_err *err);

/* A bucket name we can put in a URL: 1..255 of [A-Za-z0-9._-] (S3's own rules are stricter; S3 checks). */
int cai_s3_bucket_ok(const char *b);

/* Parse a byte size with an optional k/m/g suffix (binary): "16m" → 16 MiB. 0 ok, -1 malformed. */
int cai_s3_parse_size(const char *s, uint64_t *out);

#endif
