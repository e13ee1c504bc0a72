/* payload.c — parse and validate the run payload (see payload.h for the field list).
 * The seed's Lambda did `int(event["file_limit"])`, so "11" and 11 both work; we accept exactly that:
 * a JSON integer, or a string of decimal digits (surrounding blanks allowed, as Python's int() does).
 * Everything else — "eleven", 11.5, true, null — is an error that names the field and shows the value. */
#include "payload.h"

#include "../store/store.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const known_fields[] = {"bucket",  "file_limit",  "batch_size",  "object_type", "S3_object_name",
                                           "script",  "result_path", "data_bucket", "data_prefix", "world_size",
                                           "weights", "precision",   "workers",     "threads",     "store",
                                           "catalog", "run_id",      "calibration", "tta",         "catalog_csv",
                                           NULL};

/* Show a JSON value briefly in a message: strings quoted, others printed, long ones cut. */
static void show(const cJSON *v, char *buf, size_t n) {
    if (!v) {
        snprintf(buf, n, "nothing");
        return;
    }
    if (cJSON_IsString(v)) {
        snprintf(buf, n, "\"%.60s%s\"", v->valuestring, strlen(v->valuestring) > 60 ? "..." : "");
        return;
    }
    char *s = cJSON_PrintUnformatted(v);
    snprintf(buf, n, "%.60s%s", s ? s : "?", s && strlen(s) > 60 ? "..." : "");
    free(s);
}

/* An integer field: a JSON number with no fraction, or a numeric string. min is the smallest legal value. */
static int get_int(const cJSON *o, const char *name, const char *field, int required, int64_t min, int64_t *out,
                   int *given, cai_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);
    if (given) *given = 0;
    if (!v) {
        if (required) return cai_seterr(err, CAI_EPAYLOAD, "%s: missing required field \"%s\"", name, field);
        return CAI_OK;
    }
    char shown[96];
    show(v, shown, sizeof shown);
    int64_t x;
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (!isfinite(d) || d != floor(d) || fabs(d) > 9.0e15)
            return cai_seterr(err, CAI_EPAYLOAD, "%s: field \"%s\": expected an integer, got %s", name, field, shown);
        x = (int64_t)d;
    } else if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        while (isspace((unsigned char)*s)) s++;
        const char *e = s;
        if (*e == '-' || *e == '+') e++;
        const char *digits = e;
        while (isdigit((unsigned char)*e)) e++;
        const char *end = e;
        while (isspace((unsigned char)*e)) e++;
        if (end == digits || *e || end - s > 18)
            return cai_seterr(err, CAI_EPAYLOAD, "%s: field \"%s\": expected an integer or a numeric string, got %s",
                              name, field, shown);
        x = strtoll(s, NULL, 10);
    } else {
        return cai_seterr(err, CAI_EPAYLOAD, "%s: field \"%s\": expected an integer%s, got %s", name, field,
                          " or a numeric string", shown);
    }
    if (x < min)
        return cai_seterr(err, CAI_EPAYLOAD, "%s: field \"%s\": must be at least %lld, got %s", name, field,
                          (long long)min, shown);
    *out = x;
    if (given) *given = 1;
    return CAI_OK;
}

/* A string field; `path_like` trims leading/trailing '/' (S3 prefixes) and rejects ".." segments. */
static int get_str(const cJSON *o, const char *name, const char *field, int required, int path_like, char **out,
                   cai_err *err) {
    *out = NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);
    if (!v) {
        if (required) return cai_seterr(err, CAI_EPAYLOAD, "%s: missing required field \"%s\"", name, field);
        return CAI_OK;
    }
    if (!cJSON_IsString(v)) {
        char shown[96];
        show(v, shown, sizeof shown);
        return cai_seterr(err, CAI_EPAYLOAD, "%s: field \"%s\": expected a string, got %s", name, field, shown);
    }
    const char *s = v->valuestring;
    size_t n = strlen(s);
    if (path_like) {
        while (*s == '/') s++, n--;
        while (n && s[n - 1] == '/') n--;
    }
    if (n == 0 && required) return cai_seterr(err, CAI_EPAYLOAD, "%s: field \"%s\": must not be empty", name, field);
    if (n > CAI_PAYLOAD_MAX_STRING)
        return cai_seterr(err, CAI_EPAYLOAD, "%s: field \"%s\": at most %d characters, got %zu", name, field,
                          CAI_PAYLOAD_MAX_STRING, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20)
            return cai_seterr(err, CAI_EPAYLOAD, "%s: field \"%s\": contains a control character", name, field);
    if (path_like) {
        /* ".." would let a payload write results outside its bucket on the local store. */
        const char *p = s, *end = s + n;
        while (p < end) {
            const char *q = memchr(p, '/', (size_t)(end - p));
            size_t len = q ? (size_t)(q - p) : (size_t)(end - p);
            if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
                return cai_seterr(err, CAI_EPAYLOAD, "%s: field \"%s\": \"%s\" has an empty, '.' or '..' segment", name,
                                  field, v->valuestring);
            p += len + 1;
        }
    }
    *out = strndup(s, n);
    if (!*out) return cai_seterr(err, CAI_ENOMEM, "%s: out of memory", name);
    return CAI_OK;
}

/* Before cJSON sees the text: a NUL byte, or a "\u0000" escape inside a string, would silently cut the string
 * (cJSON's strings are C strings: "r\u0000/../x" became "r"), and nesting beyond the limit would only come back
 * as "not valid JSON". One pass over the text, tracking strings and escapes, finds all three. */
static int prescan(const char *json, size_t len, const char *name, cai_err *err) {
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)json[i];
        if (c == 0) return cai_seterr(err, CAI_EPAYLOAD, "%s: a NUL byte at byte %zu (not allowed anywhere)", name, i);
        if (in_str) {
            if (c == '"') in_str = 0;
            else if (c == '\\' && i + 1 < len) {
                if (json[i + 1] == 'u' && i + 5 < len && json[i + 2] == '0' && json[i + 3] == '0' &&
                    json[i + 4] == '0' && json[i + 5] == '0')
                    return cai_seterr(
                        err, CAI_EPAYLOAD,
                        "%s: a \\u0000 (NUL) escape in a string at byte %zu (not allowed: it would cut the "
                        "string short)",
                        name, i);
                i++; /* skip the escaped character (a '"' or '\\' among them) */
            }
        } else if (c == '"') in_str = 1;
        else if (c == '{' || c == '[') {
            if (++depth > CAI_PAYLOAD_MAX_DEPTH)
                return cai_seterr(err, CAI_EPAYLOAD, "%s: nested deeper than %d levels at byte %zu", name,
                                  CAI_PAYLOAD_MAX_DEPTH, i);
        } else if (c == '}' || c == ']') depth--;
    }
    return CAI_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Duplicate keys in any object: JSON leaves them undefined (cJSON takes the first, Python the last), so the
 * payload we run and the payload.json others read could disagree. Refused by name. */
static int check_dups(const cJSON *v, const char *name, cai_err *err) {
    if (!cJSON_IsObject(v) && !cJSON_IsArray(v)) return CAI_OK;
    if (cJSON_IsObject(v)) {
        size_t n = 0;
        for (const cJSON *c = v->child; c; c = c->next) n++;
        if (n > 1) {
            const char **names = malloc(n * sizeof *names);
            if (!names) return cai_seterr(err, CAI_ENOMEM, "%s: out of memory", name);
            size_t k = 0;
            for (const cJSON *c = v->child; c; c = c->next) names[k++] = c->string ? c->string : "";
            qsort(names, n, sizeof *names, cmp_str);
            for (size_t i = 1; i < n; i++)
                if (!strcmp(names[i], names[i - 1])) {
                    int rc = cai_seterr(err, CAI_EPAYLOAD,
                                        "%s: duplicate key \"%.64s\"%s%.64s%s (a key may appear once)", name, names[i],
                                        v->string ? " in \"" : "", v->string ? v->string : "", v->string ? "\"" : "");
                    free(names);
                    return rc;
                }
            free(names);
        }
    }
    for (const cJSON *c = v->child; c; c = c->next) {
        int rc = check_dups(c, name, err);
        if (rc) return rc;
    }
    return CAI_OK;
}

/* A bucket: one store path segment, as S3 would accept its characters (local buckets are directories). */
static int check_bucket_name(const char *name, const char *field, const char *b, cai_err *err) {
    size_t n = strlen(b);
    if (n > CAI_PAYLOAD_MAX_BUCKET)
        return cai_seterr(err, CAI_EPAYLOAD, "%s: field \"%s\": a bucket name has at most %d characters, got %zu", name,
                          field, CAI_PAYLOAD_MAX_BUCKET, n);
    if (!strcmp(b, ".") || !strcmp(b, ".."))
        return cai_seterr(err, CAI_EPAYLOAD, "%s: field \"%s\": \"%s\" is not a bucket name", name, field, b);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];
        if (!isalnum(c) && c != '-' && c != '.' && c != '_')
            return cai_seterr(err, CAI_EPAYLOAD,
                              "%s: field \"%s\": a bucket name holds letters, digits, '-', '.' and '_' only, got "
                              "\"%.64s\"",
                              name, field, b);
    }
    return CAI_OK;
}

/* A key prefix: its length and segment count must leave room for what the run puts under it
 * ("predictions/<rank>.csv" below result_path; "<N>.safetensors" below data_prefix). */
static int check_prefix_limits(const char *name, const char *field, const char *s, int extra_segments, cai_err *err) {
    size_t n = strlen(s);
    if (n > CAI_STORE_MAX_KEY - 64)
        return cai_seterr(err, CAI_EPAYLOAD, "%s: field \"%s\": at most %d characters, got %zu", name, field,
                          CAI_STORE_MAX_KEY - 64, n);
    int segs = 1;
    for (const char *p = s; *p; p++) segs += *p == '/';
    if (segs > CAI_STORE_MAX_SEGMENTS - extra_segments)
        return cai_seterr(err, CAI_EPAYLOAD, "%s: field \"%s\": at most %d path segments, got %d", name, field,
                          CAI_STORE_MAX_SEGMENTS - extra_segments, segs);
    return CAI_OK;
}

int64_t cai_payload_max_world_size(int64_t file_limit) {
    int64_t a = file_limit > INT64_MAX / 2 ? INT64_MAX : 2 * file_limit, b = file_limit + 64;
    return a > b ? a : b;
}

void cai_payload_free(cai_payload *p) {
    if (!p) return;
    free(p->bucket);
    free(p->result_path);
    free(p->data_bucket);
    free(p->data_prefix);
    free(p->weights);
    free(p->store);
    free(p->run_id);
    free(p->calibration);
    cJSON_Delete(p->raw);
    memset(p, 0, sizeof *p);
}

/* The seed's fields: buckets, file_limit, batch_size, result_path, data_prefix, world_size. */
static int parse_seed_fields(cJSON *o, const char *name, cai_payload *p, cai_err *err) {
    int rc;
    int64_t v;
    int given;
    if ((rc = get_str(o, name, "bucket", 1, 0, &p->bucket, err))) return rc;
    if (strchr(p->bucket, '/')) {
        rc = cai_seterr(err, CAI_EPAYLOAD, "%s: field \"bucket\": a bucket name has no '/', got \"%.64s\"", name,
                        p->bucket);
        return rc;
    }
    if ((rc = check_bucket_name(name, "bucket", p->bucket, err))) return rc;
    if ((rc = get_int(o, name, "file_limit", 1, 1, &p->file_limit, NULL, err))) return rc;
    if ((rc = get_int(o, name, "batch_size", 1, 1, &p->batch_size, NULL, err))) return rc;
    if (p->batch_size > 1 << 20) {
        rc = cai_seterr(err, CAI_EPAYLOAD, "%s: field \"batch_size\": at most 1048576, got %lld", name,
                        (long long)p->batch_size);
        return rc;
    }
    if ((rc = get_str(o, name, "result_path", 1, 1, &p->result_path, err))) return rc;
    if ((rc = check_prefix_limits(name, "result_path", p->result_path, 2, err))) return rc;
    if ((rc = get_str(o, name, "data_bucket", 1, 0, &p->data_bucket, err))) return rc;
    if (strchr(p->data_bucket, '/')) {
        rc = cai_seterr(err, CAI_EPAYLOAD, "%s: field \"data_bucket\": a bucket name has no '/', got \"%.64s\"", name,
                        p->data_bucket);
        return rc;
    }
    if ((rc = check_bucket_name(name, "data_bucket", p->data_bucket, err))) return rc;
    if ((rc = get_str(o, name, "data_prefix", 1, 1, &p->data_prefix, err))) return rc;
    if ((rc = check_prefix_limits(name, "data_prefix", p->data_prefix, 1, err))) return rc;
    if ((rc = get_int(o, name, "world_size", 0, 1, &v, &given, err))) return rc;
    p->world_size = given ? v : p->file_limit;
    p->world_size_given = given;
    /* A rank beyond the partitions only writes an empty record (one Lambda invocation each on AWS), so a few are
     * the seed's behaviour and harmless, but a 150-byte payload must not make a million of them: refused. */
    if (p->world_size > cai_payload_max_world_size(p->file_limit)) {
        rc = cai_seterr(err, CAI_EPAYLOAD,
                        "%s: field \"world_size\": %lld is far above file_limit %lld (at most %lld: every rank beyond "
                        "the partitions only writes an empty record)",
                        name, (long long)p->world_size, (long long)p->file_limit,
                        (long long)cai_payload_max_world_size(p->file_limit));
        return rc;
    }
    return CAI_OK;
}

/* The seed's code-location fields: must be strings when present (the seed used them as such). */
static int parse_code_fields(cJSON *o, const char *name, cai_payload *p, cai_err *err) {
    int rc;
    const char *seedstr[] = {"object_type", "S3_object_name", "script"};
    cJSON **dst[] = {&p->object_type, &p->s3_object_name, &p->script};
    for (int i = 0; i < 3; i++) {
        cJSON *x = cJSON_GetObjectItemCaseSensitive(o, seedstr[i]);
        if (x && !cJSON_IsString(x) && !cJSON_IsNull(x)) {
            char shown[96];
            show(x, shown, sizeof shown);
            rc = cai_seterr(err, CAI_EPAYLOAD, "%s: field \"%s\": expected a string, got %s", name, seedstr[i], shown);
            return rc;
        }
        *dst[i] = x;
    }
    return CAI_OK;
}

/* CAI's optional fields: weights, precision, workers, threads, store, run_id. */
static int parse_cai_fields(cJSON *o, const char *name, cai_payload *p, cai_err *err) {
    int rc;
    int64_t v;
    int given;
    if ((rc = get_str(o, name, "weights", 0, 0, &p->weights, err))) return rc;
    if (p->weights && !*p->weights) {
        rc = cai_seterr(err, CAI_EPAYLOAD, "%s: field \"weights\": must not be empty", name);
        return rc;
    }
    char *prec = NULL;
    if ((rc = get_str(o, name, "precision", 0, 0, &prec, err))) return rc;
    if (prec) {
        if (cai_precision_parse(prec, &p->precision)) {
            rc = cai_seterr(err, CAI_EPAYLOAD,
                            "%s: field \"precision\": expected \"auto\", \"fp32\" or \"int8\", got \"%s\"", name, prec);
            free(prec);
            return rc;
        }
        p->precision_given = 1;
        free(prec);
    }
    if ((rc = get_int(o, name, "workers", 0, 1, &v, &given, err))) return rc;
    if (given) {
        if (v > 4096) {
            rc = cai_seterr(err, CAI_EPAYLOAD, "%s: field \"workers\": at most 4096, got %lld", name, (long long)v);
            return rc;
        }
        p->workers = (int)v;
    }
    if ((rc = get_int(o, name, "threads", 0, 1, &v, &given, err))) return rc;
    if (given) {
        if (v > 1024) {
            rc = cai_seterr(err, CAI_EPAYLOAD, "%s: field \"threads\": at most 1024, got %lld", name, (long long)v);
            return rc;
        }
        p->threads = (int)v;
    }
    if ((rc = get_str(o, name, "store", 0, 0, &p->store, err))) return rc;
    if ((rc = get_str(o, name, "run_id", 0, 0, &p->run_id, err))) return rc;
    return CAI_OK;
}

/* The catalog and its extras: calibration (a local path or a key in bucket), tta (1 or 8), catalog_csv. */
static int parse_catalog_fields(cJSON *o, const char *name, cai_payload *p, cai_err *err) {
    int rc;
    int64_t v;
    int given;
    cJSON *cat = cJSON_GetObjectItemCaseSensitive(o, "catalog");
    if (cat) {
        if (cJSON_IsBool(cat)) p->catalog = cJSON_IsTrue(cat);
        else if (cJSON_IsString(cat) && (!strcasecmp(cat->valuestring, "on") || !strcasecmp(cat->valuestring, "true")))
            p->catalog = 1;
        else if (cJSON_IsString(cat) &&
                 (!strcasecmp(cat->valuestring, "off") || !strcasecmp(cat->valuestring, "false")))
            p->catalog = 0;
        else {
            char shown[96];
            show(cat, shown, sizeof shown);
            rc = cai_seterr(err, CAI_EPAYLOAD, "%s: field \"catalog\": expected true/false or \"on\"/\"off\", got %s",
                            name, shown);
            return rc;
        }
    }
    /* Catalog extras: calibration (a local path or a key in bucket), tta (1 or 8), catalog_csv. */
    if ((rc = get_str(o, name, "calibration", 0, 0, &p->calibration, err))) return rc;
    if (p->calibration && !*p->calibration) {
        rc = cai_seterr(err, CAI_EPAYLOAD, "%s: field \"calibration\": must not be empty", name);
        return rc;
    }
    if ((rc = get_int(o, name, "tta", 0, 1, &v, &given, err))) return rc;
    p->tta = 1;
    if (given) {
        if (v != 1 && v != 8) {
            rc = cai_seterr(err, CAI_EPAYLOAD, "%s: field \"tta\": expected 1 or 8, got %lld", name, (long long)v);
            return rc;
        }
        p->tta = (int)v;
    }
    cJSON *cc = cJSON_GetObjectItemCaseSensitive(o, "catalog_csv");
    if (cc && !cJSON_IsBool(cc)) {
        rc = cai_seterr(err, CAI_EPAYLOAD, "%s: field \"catalog_csv\": expected true or false", name);
        return rc;
    }
    p->catalog_csv = cJSON_IsTrue(cc);
    return CAI_OK;
}

/* Unknown fields: warn (forward compatibility: a newer payload should still run). */
static void warn_unknown(const cJSON *o, const char *name, cai_payload *p) {
    for (cJSON *it = o->child; it; it = it->next) {
        int known = 0;
        for (int i = 0; known_fields[i]; i++)
            if (it->string && !strcmp(it->string, known_fields[i])) known = 1;
        if (!known && p->nwarnings < CAI_PAYLOAD_MAX_WARNINGS)
            snprintf(p->warnings[p->nwarnings++], sizeof p->warnings[0], "%s: unknown field \"%.64s\" ignored", name,
                     it->string ? it->string : "?");
    }
}

int cai_payload_parse(const char *json, size_t len, const char *name, cai_payload *p, cai_err *err) {
    memset(p, 0, sizeof *p);
    if (!name) name = "payload";
    int rc = prescan(json, len, name, err);
    if (rc) return rc;
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!o) {
        size_t off = end && end >= json ? (size_t)(end - json) : 0;
        return cai_seterr(err, CAI_EPAYLOAD, "%s: not valid JSON (error near byte %zu)", name, off);
    }
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return cai_seterr(err, CAI_EPAYLOAD, "%s: expected a JSON object", name);
    }
    p->raw = o;
    p->catalog = 1;
    if ((rc = check_dups(o, name, err)) || (rc = parse_seed_fields(o, name, p, err)) ||
        (rc = parse_code_fields(o, name, p, err)) || (rc = parse_cai_fields(o, name, p, err)) ||
        (rc = parse_catalog_fields(o, name, p, err)))
        goto fail;
    warn_unknown(o, name, p);
    return CAI_OK;
fail:
    cai_payload_free(p);
    return rc;
}
