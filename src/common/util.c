#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"

int cai_file_map(const char *path, cai_file *f, cai_err *err) {
    memset(f, 0, sizeof *f);
    /* O_NONBLOCK: a FIFO (a weights path pointing at one) must be refused below, not block the open. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return cai_seterr(err, errno == ENOENT ? CAI_ENOTFOUND : CAI_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return cai_seterr(err, CAI_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return cai_seterr(err, CAI_EIO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) { /* mmap of 0 bytes fails; an empty file is a valid (empty) buffer */
        close(fd);
        f->data = (const uint8_t *)"";
        return CAI_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return cai_seterr(err, CAI_EIO, "%s: cannot mmap: %s", path, strerror(errno));
    f->data = p;
    f->len = (size_t)st.st_size;
    f->mapped = 1;
    return CAI_OK;
}

void cai_file_unmap(cai_file *f) {
    if (!f) return;
    if (f->mapped && f->len) munmap((void *)f->data, f->len);
    else if (!f->mapped && f->len) free((void *)f->data);
    memset(f, 0, sizeof *f);
}

int cai_read_file(const char *path, char **out, size_t *len, cai_err *err) {
    *out = NULL;
    if (len) *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return cai_seterr(err, errno == ENOENT ? CAI_ENOTFOUND : CAI_EIO, "%s: cannot open: %s", path, strerror(errno));
    cai_buf b = {0};
    for (;;) {
        if (cai_buf_reserve(&b, 4096)) {
            cai_buf_free(&b);
            fclose(fp);
            return cai_seterr(err, CAI_ENOMEM, "%s: out of memory", path);
        }
        size_t r = fread(b.p + b.n, 1, b.cap - b.n - 1, fp);
        b.n += r;
        b.p[b.n] = 0;
        if (r == 0) break;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        cai_buf_free(&b);
        return cai_seterr(err, CAI_EIO, "%s: read error", path);
    }
    if (len) *len = b.n;
    *out = cai_buf_take(&b);
    return CAI_OK;
}

int cai_mkdirs(const char *dir, cai_err *err) {
    char tmp[4096];
    size_t n = strlen(dir);
    if (n == 0) return CAI_OK;
    if (n >= sizeof tmp) return cai_seterr(err, CAI_EARG, "%s: path too long", dir);
    memcpy(tmp, dir, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
            return cai_seterr(err, CAI_EIO, "%s: cannot create directory: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
        return cai_seterr(err, CAI_EIO, "%s: cannot create directory: %s", tmp, strerror(errno));
    return CAI_OK;
}

int cai_mkdirs_for(const char *path, cai_err *err) {
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return CAI_OK;
    char dir[4096];
    size_t n = (size_t)(slash - path);
    if (n >= sizeof dir) return cai_seterr(err, CAI_EARG, "%s: path too long", path);
    memcpy(dir, path, n);
    dir[n] = 0;
    return cai_mkdirs(dir, err);
}

int cai_write_file_atomic(const char *path, const void *data, size_t len, cai_err *err) {
    int rc = cai_mkdirs_for(path, err);
    if (rc) return rc;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return cai_seterr(err, CAI_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return cai_seterr(err, CAI_EIO, "%s: write failed: %s", path, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 && errno != EINVAL) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return cai_seterr(err, CAI_EIO, "%s: fsync failed: %s", path, strerror(e));
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return cai_seterr(err, CAI_EIO, "%s: rename failed: %s", path, strerror(e));
    }
    return CAI_OK;
}

double cai_wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double cai_mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double cai_cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cai_iso8601(double t, char *buf, size_t n) {
    time_t s = (time_t)t;
    int ms = (int)((t - (double)s) * 1000.0);
    if (ms < 0) ms = 0;
    if (ms > 999) ms = 999;
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ms);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm): no timegm, no TZ. */
static long long days_from_civil(long long y, unsigned m, unsigned d) {
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

double cai_iso8601_parse(const char *s) {
    int Y, M, D, h, m, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &n) != 6 || n != 19) return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60) return -1;
    const char *p = s + 19;
    double frac = 0, scale = 0.1;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) return -1;
        while (isdigit((unsigned char)*p)) frac += (*p++ - '0') * scale, scale /= 10;
    }
    long off = 0;
    if (*p == 'Z') p++;
    else if (*p == '+' || *p == '-') {
        int oh, om, k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5) return -1;
        off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
        p += 6;
    }
    if (*p) return -1;
    long long days = days_from_civil(Y, (unsigned)M, (unsigned)D);
    return (double)(days * 86400LL + h * 3600LL + m * 60LL + sec - off) + frac;
}

double cai_peak_rss_mb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0.0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux: kilobytes */
}

int cai_ncpu(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void cai_sha256(const void *data, size_t len, uint8_t out[32]) { SHA256(data, len, out); }

void cai_sha256_hex(const void *data, size_t len, char hex[65]) {
    uint8_t d[32];
    SHA256(data, len, d);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    hex[64] = 0;
}
