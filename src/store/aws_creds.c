/* aws_creds.c — the AWS default credential chain (aws_creds.h). Every outside input is bounded: files at
 * most 1 MiB and lines 4 KiB, process and HTTP answers 64 KiB, each field checked against its buffer.
 *
 * Why not the AWS C SDK: Debian 12 does not package it (nor aws-c-auth); the chain is four small,
 * documented links, and libcurl (already linked for S3) speaks the two HTTP ones. */
#define _GNU_SOURCE
#include "aws_creds.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "../common/util.h"

extern char **environ;

#define FILE_CAP (1u << 20)
#define LINE_CAP 4096
#define ANSWER_CAP (64u << 10)
#define REFRESH_BEFORE_S 300.0

typedef enum { LINK_ENV, LINK_PROFILE, LINK_PROCESS, LINK_CONTAINER, LINK_IMDS } link_kind;

struct cai_aws_provider {
    pthread_mutex_t mu;
    link_kind kind;
    cai_aws_creds cur;
    int fetches;
    char process[LINE_CAP]; /* credential_process command */
    char url[1024];         /* container credentials URL, or the IMDS endpoint */
    char profile[256], where[300];
};

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- files */

static void file_path(char *out, size_t n, const char *var, const char *rel) {
    const char *v = env(var);
    if (v) {
        snprintf(out, n, "%s", v);
        return;
    }
    const char *home = env("HOME");
    snprintf(out, n, "%s/.aws/%s", home ? home : "", rel);
}

/* The whole file (NUL-terminated), CAI_ENOTFOUND when absent. */
static int read_small(const char *path, char **out, size_t *len, cai_err *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT || errno == ENOTDIR) return cai_seterr(err, CAI_ENOTFOUND, "%s: no such file", path);
        return cai_seterr(err, CAI_EIO, "%s: %s", path, strerror(errno));
    }
    char *buf = malloc(FILE_CAP + 1);
    size_t n = buf ? fread(buf, 1, FILE_CAP + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf) return cai_seterr(err, CAI_ENOMEM, "%s: out of memory", path);
    if (bad || n > FILE_CAP) {
        free(buf);
        return cai_seterr(err, CAI_EFORMAT, "%s: %s", path, bad ? "read error" : "larger than 1 MiB");
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = 0;
    return s;
}

int cai_aws_ini_section(const char *text, size_t len, const char *file, const char *section, int is_config,
                        void (*on_kv)(void *ctx, const char *key, const char *value), void *ctx, cai_err *err) {
    char want[300];
    if (is_config && strcmp(section, "default")) snprintf(want, sizeof want, "profile %s", section);
    else snprintf(want, sizeof want, "%s", section);
    int in = 0, found = 0;
    size_t lineno = 0;
    for (size_t off = 0; off < len;) {
        size_t e = off;
        while (e < len && text[e] != '\n') e++;
        lineno++;
        if (e - off >= LINE_CAP)
            return cai_seterr(err, CAI_EFORMAT, "%s line %zu: longer than %d bytes", file, lineno, LINE_CAP);
        if (memchr(text + off, 0, e - off))
            return cai_seterr(err, CAI_EFORMAT, "%s line %zu: a NUL byte", file, lineno);
        char line[LINE_CAP];
        memcpy(line, text + off, e - off);
        line[e - off] = 0;
        off = e + 1;
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';') continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close) return cai_seterr(err, CAI_EFORMAT, "%s line %zu: expected [section]", file, lineno);
            *close = 0;
            char *name = trim(s + 1);
            /* "[profile  x]": the SDKs accept any run of blanks after "profile" */
            char norm[300];
            if (!strncmp(name, "profile", 7) && (name[7] == ' ' || name[7] == '\t'))
                snprintf(norm, sizeof norm, "profile %s", trim(name + 8));
            else snprintf(norm, sizeof norm, "%s", name);
            in = !strcmp(norm, want);
            found |= in;
            continue;
        }
        if (!in) continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            /* An indented line continues a nested value (s3 = \n  max_concurrent_requests = 20): not ours. */
            if (line[0] == ' ' || line[0] == '\t') continue;
            return cai_seterr(err, CAI_EFORMAT, "%s line %zu: expected key = value", file, lineno);
        }
        if (line[0] == ' ' || line[0] == '\t') continue; /* a nested setting */
        *eq = 0;
        on_kv(ctx, trim(s), trim(eq + 1));
    }
    return found ? 0 : CAI_ENOTFOUND;
}

typedef struct {
    char key_id[129], secret[257], token[4097], process[LINE_CAP], region[64];
    int sso, too_long;
} profile_kv;

static void copy_field(char *dst, size_t n, const char *v, int *too_long) {
    if (strlen(v) >= n) *too_long = 1;
    else strcpy(dst, v);
}

static void on_profile_kv(void *ctx, const char *k, const char *v) {
    profile_kv *p = ctx;
    if (!strcmp(k, "aws_access_key_id")) copy_field(p->key_id, sizeof p->key_id, v, &p->too_long);
    else if (!strcmp(k, "aws_secret_access_key")) copy_field(p->secret, sizeof p->secret, v, &p->too_long);
    else if (!strcmp(k, "aws_session_token")) copy_field(p->token, sizeof p->token, v, &p->too_long);
    else if (!strcmp(k, "credential_process")) copy_field(p->process, sizeof p->process, v, &p->too_long);
    else if (!strcmp(k, "region")) copy_field(p->region, sizeof p->region, v, &p->too_long);
    else if (!strcmp(k, "sso_session") || !strcmp(k, "sso_start_url") || !strcmp(k, "sso_role_name")) p->sso = 1;
}

/* Read the profile's section from a file into kv. 0 found, CAI_ENOTFOUND (file or section), else an error. */
static int profile_read(const char *path, const char *profile, int is_config, profile_kv *kv, cai_err *err) {
    char *text;
    size_t len;
    int rc = read_small(path, &text, &len, err);
    if (rc) return rc;
    rc = cai_aws_ini_section(text, len, path, profile, is_config, on_profile_kv, kv, err);
    free(text);
    if (rc == CAI_ENOTFOUND)
        cai_seterr(err, CAI_ENOTFOUND, "%s: no [%s%s] section", path,
                   is_config && strcmp(profile, "default") ? "profile " : "", profile);
    if (!rc && kv->too_long) rc = cai_seterr(err, CAI_EFORMAT, "%s: profile %s: a value is too long", path, profile);
    return rc;
}

/* ---------------------------------------------------------------- JSON answers */

static int put_field(char *dst, size_t n, const cJSON *o, const char *key, int required, const char *what,
                     cai_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        dst[0] = 0;
        return required ? cai_seterr(err, CAI_EAUTH, "%s: no \"%s\" in the answer", what, key) : 0;
    }
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= n || (required && !*v->valuestring))
        return cai_seterr(err, CAI_EAUTH, "%s: \"%s\": expected a string of at most %zu bytes", what, key, n - 1);
    strcpy(dst, v->valuestring);
    return 0;
}

/* {AccessKeyId, SecretAccessKey, Token|SessionToken, Expiration}: what credential_process, the container
 * endpoint and IMDS answer. */
static int creds_from_json(const char *body, size_t len, const char *what, cai_aws_creds *c, cai_err *err) {
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return cai_seterr(err, CAI_EAUTH, "%s: the answer is not a JSON object", what);
    }
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(j, "Version");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "Code");
    int rc = 0;
    if (ver && !(cJSON_IsNumber(ver) && ver->valuedouble == 1))
        rc = cai_seterr(err, CAI_EAUTH, "%s: \"Version\": expected 1", what);
    else if (cJSON_IsString(code) && strcmp(code->valuestring, "Success"))
        rc = cai_seterr(err, CAI_EAUTH, "%s: \"Code\" is \"%.64s\", not Success", what, code->valuestring);
    if (!rc) rc = put_field(c->key_id, sizeof c->key_id, j, "AccessKeyId", 1, what, err);
    if (!rc) rc = put_field(c->secret, sizeof c->secret, j, "SecretAccessKey", 1, what, err);
    if (!rc) rc = put_field(c->token, sizeof c->token, j, "Token", 0, what, err);
    if (!rc && !c->token[0]) rc = put_field(c->token, sizeof c->token, j, "SessionToken", 0, what, err);
    c->expires = 0;
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(j, "Expiration");
    if (!rc && cJSON_IsString(ex) && *ex->valuestring) {
        c->expires = cai_iso8601_parse(ex->valuestring);
        if (c->expires < 0)
            rc = cai_seterr(err, CAI_EAUTH, "%s: \"Expiration\": expected an ISO 8601 time, got \"%.40s\"", what,
                            ex->valuestring);
    }
    cJSON_Delete(j);
    return rc;
}

/* ---------------------------------------------------------------- credential_process */

/* Split a command line as the SDKs do (shlex: blanks separate, '...' and "..." quote, \ escapes in "..."). */
static int split_args(const char *cmd, char *buf, size_t n, char **argv, int maxv) {
    int argc = 0;
    size_t w = 0;
    const char *p = cmd;
    while (*p) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        if (argc >= maxv - 1) return -1;
        argv[argc++] = buf + w;
        while (*p && *p != ' ' && *p != '\t') {
            if (*p == '\'' || *p == '"') {
                char q = *p++;
                while (*p && *p != q) {
                    if (q == '"' && *p == '\\' && p[1]) p++;
                    if (w + 1 >= n) return -1;
                    buf[w++] = *p++;
                }
                if (*p != q) return -1;
                p++;
            } else {
                if (*p == '\\' && p[1]) p++;
                if (w + 1 >= n) return -1;
                buf[w++] = *p++;
            }
        }
        if (w + 1 >= n) return -1;
        buf[w++] = 0;
    }
    argv[argc] = NULL;
    return argc;
}

static int fetch_process(const char *cmd, const char *what, cai_aws_creds *c, cai_err *err) {
    char buf[LINE_CAP + 64], *argv[128];
    int argc = split_args(cmd, buf, sizeof buf, argv, 128);
    if (argc <= 0) return cai_seterr(err, CAI_EAUTH, "%s: credential_process: cannot split \"%.200s\"", what, cmd);
    int pfd[2];
    if (pipe(pfd)) return cai_seterr(err, CAI_EIO, "%s: credential_process: pipe: %s", what, strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, pfd[0]);
    posix_spawn_file_actions_addclose(&fa, pfd[1]);
    pid_t pid;
    int src = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (src) {
        close(pfd[0]);
        return cai_seterr(err, CAI_EAUTH, "%s: credential_process: cannot run '%s': %s", what, argv[0], strerror(src));
    }
    char *out = malloc(ANSWER_CAP + 1);
    size_t len = 0;
    int over = 0;
    for (;;) {
        char sink[4096];
        char *dst = out && len < ANSWER_CAP ? out + len : sink;
        size_t room = out && len < ANSWER_CAP ? ANSWER_CAP - len : sizeof sink;
        ssize_t r = read(pfd[0], dst, room);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (dst == sink) over = 1;
        else len += (size_t)r;
    }
    close(pfd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    int rc = 0;
    if (!out) rc = cai_seterr(err, CAI_ENOMEM, "%s: out of memory", what);
    else if (!WIFEXITED(status) || WEXITSTATUS(status))
        rc = cai_seterr(err, CAI_EAUTH, "%s: credential_process '%s' failed (exit %d; its message is above)", what,
                        argv[0], WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    else if (over) rc = cai_seterr(err, CAI_EAUTH, "%s: credential_process: output longer than 64 KiB", what);
    else {
        char w2[400];
        snprintf(w2, sizeof w2, "%s: credential_process", what);
        rc = creds_from_json(out, len, w2, c, err);
    }
    free(out);
    return rc;
}

/* ---------------------------------------------------------------- HTTP links */

typedef struct {
    char *p;
    size_t n;
    int over;
} http_body;

static size_t on_http(char *d, size_t sz, size_t nm, void *u) {
    http_body *b = u;
    size_t k = sz * nm;
    if (b->n + k > ANSWER_CAP) {
        b->over = 1;
        return 0;
    }
    memcpy(b->p + b->n, d, k);
    b->n += k;
    b->p[b->n] = 0;
    return k;
}

/* One request with short timeouts (these endpoints are link-local: they answer at once or not at all).
 * Returns the HTTP status (>= 100) or -1 with err set; body in *out (heap, NUL-terminated). */
static long http_call(const char *method, const char *url, const char *hdr1, const char *hdr2, char **out,
                      cai_err *err) {
    *out = NULL;
    CURL *h = curl_easy_init();
    http_body b = {malloc(ANSWER_CAP + 1), 0, 0};
    if (!h || !b.p) {
        if (h) curl_easy_cleanup(h);
        free(b.p);
        cai_seterr(err, CAI_ENOMEM, "%s: out of memory", url);
        return -1;
    }
    b.p[0] = 0;
    struct curl_slist *hl = NULL;
    if (hdr1) hl = curl_slist_append(hl, hdr1);
    if (hdr2) hl = curl_slist_append(hl, hdr2);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*"); /* link-local endpoints: never through a proxy */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_http);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    if (!strcmp(method, "PUT")) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    }
    CURLcode cc = curl_easy_perform(h);
    long st = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    if (cc != CURLE_OK) {
        free(b.p);
        cai_seterr(err, CAI_ENET, "%s %s: %s", method, url,
                   b.over ? "answer longer than 64 KiB" : curl_easy_strerror(cc));
        return -1;
    }
    *out = b.p;
    return st;
}

static int fetch_container(cai_aws_provider *p, cai_aws_creds *c, cai_err *err) {
    char tokbuf[4200] = "", hdr[4300];
    const char *tf = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"), *tok = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (tf) { /* EKS Pod Identity: the token file is rotated, so it is read again on every fetch */
        char *t;
        size_t n;
        if (read_small(tf, &t, &n, err)) return cai_err_prefix(err, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: ");
        while (n && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' ')) t[--n] = 0;
        if (n >= sizeof tokbuf || strchr(t, '\n') || strchr(t, '\r')) {
            free(t);
            return cai_seterr(err, CAI_EAUTH, "%s: expected one line of at most %zu bytes", tf, sizeof tokbuf - 1);
        }
        strcpy(tokbuf, t);
        free(t);
    } else if (tok) {
        if (strlen(tok) >= sizeof tokbuf || strpbrk(tok, "\r\n"))
            return cai_seterr(err, CAI_EAUTH,
                              "AWS_CONTAINER_AUTHORIZATION_TOKEN: expected one line of at most %zu bytes",
                              sizeof tokbuf - 1);
        strcpy(tokbuf, tok);
    }
    if (tokbuf[0]) snprintf(hdr, sizeof hdr, "Authorization: %s", tokbuf);
    char *body;
    long st = http_call("GET", p->url, tokbuf[0] ? hdr : NULL, NULL, &body, err);
    if (st < 0) return cai_err_prefix(err, "container credentials: ");
    int rc = 0;
    if (st != 200) rc = cai_seterr(err, CAI_EAUTH, "container credentials %s: HTTP %ld: %.200s", p->url, st, body);
    else rc = creds_from_json(body, strlen(body), "container credentials", c, err);
    free(body);
    return rc;
}

static int fetch_imds(cai_aws_provider *p, cai_aws_creds *c, cai_err *err) {
    char url[1200], *token = NULL, *role = NULL, *body = NULL, hdr[200];
    snprintf(url, sizeof url, "%s/latest/api/token", p->url);
    long st = http_call("PUT", url, "X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL, &token, err);
    if (st < 0) return cai_err_prefix(err, "EC2 instance metadata (IMDSv2): ");
    int rc = 0;
    size_t tl = strlen(token);
    while (tl && (token[tl - 1] == '\n' || token[tl - 1] == '\r')) token[--tl] = 0;
    if (st != 200 || !tl || tl > 150 || strpbrk(token, "\r\n"))
        rc = cai_seterr(err, CAI_EAUTH, "EC2 instance metadata %s: no session token (HTTP %ld)", url, st);
    if (!rc) {
        snprintf(hdr, sizeof hdr, "X-aws-ec2-metadata-token: %s", token);
        snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/", p->url);
        st = http_call("GET", url, hdr, NULL, &role, err);
        if (st < 0) rc = cai_err_prefix(err, "EC2 instance metadata: ");
        else if (st != 200)
            rc = cai_seterr(err, CAI_EAUTH, "EC2 instance metadata %s: HTTP %ld (no instance role?)", url, st);
    }
    if (!rc) {
        char *nl = strpbrk(role, "\r\n");
        if (nl) *nl = 0;
        for (const char *q = role; *q; q++)
            if (!isalnum((unsigned char)*q) && !strchr("+=,.@_-", *q)) {
                rc = cai_seterr(err, CAI_EAUTH, "EC2 instance metadata: not a role name: \"%.64s\"", role);
                break;
            }
        if (!rc && (!*role || strlen(role) > 128))
            rc = cai_seterr(err, CAI_EAUTH, "EC2 instance metadata: no instance role");
    }
    if (!rc) {
        snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/%s", p->url, role);
        st = http_call("GET", url, hdr, NULL, &body, err);
        if (st < 0) rc = cai_err_prefix(err, "EC2 instance metadata: ");
        else if (st != 200) rc = cai_seterr(err, CAI_EAUTH, "EC2 instance metadata %s: HTTP %ld", url, st);
        else rc = creds_from_json(body, strlen(body), "EC2 instance metadata", c, err);
    }
    if (!rc) snprintf(c->source, sizeof c->source, "EC2 instance role %.64s (%.200s)", role, p->url);
    free(token);
    free(role);
    free(body);
    return rc;
}

/* Fetch from the provider's link (open and refresh). */
static int fetch(cai_aws_provider *p, cai_aws_creds *c, cai_err *err) {
    memset(c, 0, sizeof *c);
    int rc = 0;
    switch (p->kind) {
    case LINK_PROCESS:
        rc = fetch_process(p->process, p->where, c, err);
        if (!rc) snprintf(c->source, sizeof c->source, "credential_process of %.270s", p->where);
        break;
    case LINK_CONTAINER:
        rc = fetch_container(p, c, err);
        if (!rc) snprintf(c->source, sizeof c->source, "container credentials (%.250s)", p->url);
        break;
    case LINK_IMDS: rc = fetch_imds(p, c, err); break;
    default: rc = cai_seterr(err, CAI_EINTERNAL, "aws credentials: static credentials cannot be fetched again");
    }
    if (!rc && strchr(c->key_id, ':')) rc = cai_seterr(err, CAI_EAUTH, "%s: the access key id contains ':'", c->source);
    if (!rc) p->fetches++;
    return rc;
}

/* ---------------------------------------------------------------- the chain */

static void tried(char *buf, size_t n, const char *fmt, const char *a, const char *b) {
    size_t l = strlen(buf);
    if (l + 4 >= n) return;
    snprintf(buf + l, n - l, "%s", l ? "; " : "");
    l = strlen(buf);
    snprintf(buf + l, n - l, fmt, a, b);
}

/* Each link of the chain: NEXT_LINK when it does not apply (its reason appended to `why`), else the outcome
 * that ends the chain: 0 (credentials in p->cur) or an error code. */
enum { NEXT_LINK = -1 };

/* 1. the environment */
static int link_env(cai_aws_provider *p, char *why, size_t nwhy, cai_err *err) {
    cai_aws_creds *c = &p->cur;
    const char *id = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
    if (id && secret) {
        const char *tok = env("AWS_SESSION_TOKEN");
        if (strlen(id) >= sizeof c->key_id || strlen(secret) >= sizeof c->secret ||
            (tok && strlen(tok) >= sizeof c->token))
            return cai_seterr(err, CAI_EAUTH,
                              "environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_SESSION_TOKEN too long");
        if (strchr(id, ':')) return cai_seterr(err, CAI_EAUTH, "environment: AWS_ACCESS_KEY_ID contains ':'");
        strcpy(c->key_id, id);
        strcpy(c->secret, secret);
        if (tok) strcpy(c->token, tok);
        snprintf(c->source, sizeof c->source, "environment (AWS_ACCESS_KEY_ID%s)", tok ? " + AWS_SESSION_TOKEN" : "");
        p->kind = LINK_ENV;
        p->fetches = 1;
        return 0;
    }
    if (id || secret)
        return cai_seterr(err, CAI_EAUTH, "environment: %s is set but %s is not",
                          id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                          id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
    tried(why, nwhy, "environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY not set)%s%s", "", "");
    return NEXT_LINK;
}

/* 2. the profile, in the credentials file then the config file: keys, else credential_process */
static int link_profile(cai_aws_provider *p, char *why, size_t nwhy, cai_err *err) {
    cai_aws_creds *c = &p->cur;
    const char *prof = env("AWS_PROFILE");
    int explicit_prof = prof != NULL;
    if (!prof) prof = env("AWS_DEFAULT_PROFILE");
    if (!prof) prof = "default";
    snprintf(p->profile, sizeof p->profile, "%s", prof);
    char cred_path[1024], conf_path[1024];
    file_path(cred_path, sizeof cred_path, "AWS_SHARED_CREDENTIALS_FILE", "credentials");
    file_path(conf_path, sizeof conf_path, "AWS_CONFIG_FILE", "config");
    profile_kv kc = {0}, kf = {0};
    cai_err ec = {0}, ef = {0};
    int rc1 = profile_read(cred_path, prof, 0, &kc, &ec);
    int rc2 = profile_read(conf_path, prof, 1, &kf, &ef);
    if (rc1 && rc1 != CAI_ENOTFOUND) return cai_seterr(err, ec.code, "%s", ec.msg);
    if (rc2 && rc2 != CAI_ENOTFOUND) return cai_seterr(err, ef.code, "%s", ef.msg);
    profile_kv *k = kc.key_id[0] ? &kc : kf.key_id[0] ? &kf : NULL;
    const char *kfile = k == &kc ? cred_path : conf_path;
    if (k) {
        if (!k->secret[0])
            return cai_seterr(err, CAI_EAUTH, "%s: profile %s: aws_access_key_id without aws_secret_access_key", kfile,
                              prof);
        if (strchr(k->key_id, ':'))
            return cai_seterr(err, CAI_EAUTH, "%s: profile %s: aws_access_key_id contains ':'", kfile, prof);
        strcpy(c->key_id, k->key_id);
        strcpy(c->secret, k->secret);
        strcpy(c->token, k->token);
        snprintf(c->source, sizeof c->source, "profile \"%.64s\" in %.200s", prof, kfile);
        p->kind = LINK_PROFILE;
        p->fetches = 1;
        return 0;
    }
    const char *proc = kc.process[0] ? kc.process : kf.process[0] ? kf.process : NULL;
    if (proc) {
        snprintf(p->process, sizeof p->process, "%s", proc);
        snprintf(p->where, sizeof p->where, "profile \"%.64s\" in %.200s", prof, kc.process[0] ? cred_path : conf_path);
        p->kind = LINK_PROCESS;
        return fetch(p, c, err);
    }
    if (kf.sso)
        return cai_seterr(err, CAI_EAUTH,
                          "%s: profile %s uses AWS IAM Identity Center (SSO), which cai does not log in to: add "
                          "`credential_process = aws configure export-credentials --profile %s --format process` "
                          "to the profile (after `aws sso login --profile %s`)",
                          conf_path, prof, prof, prof);
    if (explicit_prof && rc1 == CAI_ENOTFOUND && rc2 == CAI_ENOTFOUND)
        return cai_seterr(err, CAI_EAUTH, "AWS_PROFILE=%s: no such profile (%s; %s)", prof, ec.msg, ef.msg);
    char a[600];
    snprintf(a, sizeof a, "profile \"%.64s\" in %.200s and %.200s", prof, cred_path, conf_path);
    tried(why, nwhy, "%s (%s)", a,
          rc1 == CAI_ENOTFOUND && rc2 == CAI_ENOTFOUND ? "no such files or sections" : "no keys or credential_process");
    return NEXT_LINK;
}

/* 3. container credentials (ECS task role, EKS Pod Identity) */
static int link_container(cai_aws_provider *p, char *why, size_t nwhy, cai_err *err) {
    const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"), *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (!rel && !full) {
        tried(why, nwhy, "container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/FULL_URI not set)%s%s", "", "");
        return NEXT_LINK;
    }
    if (rel) {
        const char *host = env("CAI_AWS_CONTAINER_HOST");
        if (rel[0] != '/')
            return cai_seterr(err, CAI_EAUTH,
                              "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: expected a path starting with '/'");
        snprintf(p->url, sizeof p->url, "http://%s%s", host ? host : "169.254.170.2", rel);
    } else {
        /* As the SDKs: https anywhere, http only to loopback or the ECS/EKS link-local addresses. */
        int ok = !strncmp(full, "https://", 8);
        static const char *const hosts[] = {
            "http://127.",          "http://localhost:",     "http://localhost/",     "http://[::1]",
            "http://169.254.170.2", "http://169.254.170.23", "http://[fd00:ec2::23]", NULL};
        for (int i = 0; !ok && hosts[i]; i++) ok = !strncmp(full, hosts[i], strlen(hosts[i]));
        if (!ok)
            return cai_seterr(err, CAI_EAUTH,
                              "AWS_CONTAINER_CREDENTIALS_FULL_URI: expected https://, or http:// to "
                              "loopback or 169.254.170.2/.23, got \"%.200s\"",
                              full);
        snprintf(p->url, sizeof p->url, "%s", full);
    }
    p->kind = LINK_CONTAINER;
    return fetch(p, &p->cur, err);
}

/* 4. EC2 instance metadata, IMDSv2 (its failure is not an error: the chain just ends without credentials) */
static int link_imds(cai_aws_provider *p, char *why, size_t nwhy) {
    const char *dis = env("AWS_EC2_METADATA_DISABLED");
    const char *ep = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    snprintf(p->url, sizeof p->url, "%s", ep ? ep : "http://169.254.169.254");
    size_t l = strlen(p->url);
    while (l && p->url[l - 1] == '/') p->url[--l] = 0;
    if (dis && !strcasecmp(dis, "true")) {
        tried(why, nwhy, "EC2 instance metadata (AWS_EC2_METADATA_DISABLED=true)%s%s", "", "");
        return NEXT_LINK;
    }
    p->kind = LINK_IMDS;
    cai_err ie = {0};
    if (fetch(p, &p->cur, &ie) == 0) return 0;
    tried(why, nwhy, "EC2 instance metadata at %s (%s)", p->url, ie.msg);
    return NEXT_LINK;
}

int cai_aws_provider_open(cai_aws_provider **out, cai_err *err) {
    *out = NULL;
    cai_aws_provider *p = calloc(1, sizeof *p);
    if (!p) return cai_seterr(err, CAI_ENOMEM, "aws credentials: out of memory");
    pthread_mutex_init(&p->mu, NULL);
    char why[900] = "";
    int rc = link_env(p, why, sizeof why, err);
    if (rc == NEXT_LINK) rc = link_profile(p, why, sizeof why, err);
    if (rc == NEXT_LINK) rc = link_container(p, why, sizeof why, err);
    if (rc == NEXT_LINK) rc = link_imds(p, why, sizeof why);
    if (rc == NEXT_LINK) rc = cai_seterr(err, CAI_EAUTH, "no AWS credentials found. Tried: %s", why);
    if (rc) {
        cai_aws_provider_close(p);
        return rc;
    }
    *out = p;
    return 0;
}

int cai_aws_provider_get(cai_aws_provider *p, cai_aws_creds *out, cai_err *err) {
    pthread_mutex_lock(&p->mu);
    int rc = 0;
    double t = now_s();
    if (p->cur.expires > 0 && t > p->cur.expires - REFRESH_BEFORE_S &&
        (p->kind == LINK_PROCESS || p->kind == LINK_CONTAINER || p->kind == LINK_IMDS)) {
        cai_aws_creds fresh;
        cai_err fe = {0};
        if (fetch(p, &fresh, &fe) == 0) p->cur = fresh;
        else if (t >= p->cur.expires) /* still valid: keep them and try again on the next request */
            rc = cai_seterr(err, fe.code, "%s: the credentials expired and could not be refreshed: %s", p->cur.source,
                            fe.msg);
    }
    if (!rc) *out = p->cur;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int cai_aws_provider_fetches(const cai_aws_provider *p) { return p->fetches; }

void cai_aws_provider_close(cai_aws_provider *p) {
    if (!p) return;
    pthread_mutex_destroy(&p->mu);
    explicit_bzero(&p->cur, sizeof p->cur);
    free(p);
}

/* ---------------------------------------------------------------- Region */

int cai_aws_region_from(char *out, size_t n, char *from, size_t from_n, cai_err *err) {
    const char *names[] = {"AWS_REGION", "AWS_DEFAULT_REGION"};
    for (int i = 0; i < 2; i++) {
        const char *v = env(names[i]);
        if (v) {
            if (strlen(v) >= n) return cai_seterr(err, CAI_EARG, "%s: too long", names[i]);
            strcpy(out, v);
            if (from) snprintf(from, from_n, "%s", names[i]);
            return 0;
        }
    }
    const char *prof = env("AWS_PROFILE");
    if (!prof) prof = env("AWS_DEFAULT_PROFILE");
    if (!prof) prof = "default";
    char conf[1024];
    file_path(conf, sizeof conf, "AWS_CONFIG_FILE", "config");
    profile_kv kv = {0};
    cai_err e = {0};
    int rc = profile_read(conf, prof, 1, &kv, &e);
    if (rc && rc != CAI_ENOTFOUND) {
        *err = e;
        return rc;
    }
    if (!rc && kv.region[0]) {
        if (strlen(kv.region) >= n) return cai_seterr(err, CAI_EARG, "%s: profile %s: region too long", conf, prof);
        strcpy(out, kv.region);
        if (from) snprintf(from, from_n, "profile \"%.64s\" in %.200s", prof, conf);
        return 0;
    }
    return cai_seterr(err, CAI_ENOTFOUND,
                      "no Region: AWS_REGION, AWS_DEFAULT_REGION and the region of profile %s in %s "
                      "are all unset",
                      prof, conf);
}

int cai_aws_region(char *out, size_t n, cai_err *err) { return cai_aws_region_from(out, n, NULL, 0, err); }
