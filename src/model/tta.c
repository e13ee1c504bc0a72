/* tta.c — test-time augmentation over the dihedral group D4 (see tta.h). Galaxies go through in chunks so
 * the 8 copies stay small (64 galaxies × 8 views × 20 KB = 10 MB), and each chunk is one cai_predict call of
 * 8·chunk galaxies, so the session's batching and threads apply as usual. */
#include "tta.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cai_tta_plane(const float *src, float *dst, int t) {
    const int N = CAI_IMG;
    int rot = t & 3, flip = t & 4;
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++) {
            /* source coordinates of destination pixel (y, x) */
            int sy = y, sx = flip ? N - 1 - x : x;
            for (int k = 0; k < rot; k++) { /* inverse of a CCW quarter turn: (y, x) <- (x, N-1-y) */
                int ny = sx, nx = N - 1 - sy;
                sy = ny, sx = nx;
            }
            dst[y * N + x] = src[sy * N + sx];
        }
}

#define TTA_CHUNK 64

int cai_predict_tta(cai_session *s, const float *images, const void *mags, cai_dtype mag_dtype, int64_t n, float *mean,
                    float *spread, cai_err *err) {
    size_t msz = mag_dtype == CAI_F64 ? 8 : 4;
    int64_t cmax = n < TTA_CHUNK ? n : TTA_CHUNK;
    float *img = malloc((size_t)cmax * CAI_TTA_N * CAI_IMG_FLOATS * sizeof *img);
    uint8_t *mg = malloc((size_t)cmax * CAI_TTA_N * 5 * msz);
    float *out = malloc((size_t)cmax * CAI_TTA_N * sizeof *out);
    if (!img || !mg || !out) {
        free(img);
        free(mg);
        free(out);
        return cai_seterr(err, CAI_ENOMEM, "tta: out of memory");
    }
    int rc = CAI_OK;
    for (int64_t s0 = 0; s0 < n && !rc; s0 += cmax) {
        int64_t c = n - s0 < cmax ? n - s0 : cmax;
        /* row g*8 + t: galaxy g under transform t */
        for (int64_t g = 0; g < c; g++)
            for (int t = 0; t < CAI_TTA_N; t++) {
                const float *src = images + (size_t)(s0 + g) * CAI_IMG_FLOATS;
                float *dst = img + ((size_t)g * CAI_TTA_N + (size_t)t) * CAI_IMG_FLOATS;
                for (int b = 0; b < CAI_BANDS; b++)
                    cai_tta_plane(src + b * CAI_IMG * CAI_IMG, dst + b * CAI_IMG * CAI_IMG, t);
                memcpy(mg + ((size_t)g * CAI_TTA_N + (size_t)t) * 5 * msz,
                       (const uint8_t *)mags + (size_t)(s0 + g) * 5 * msz, 5 * msz);
            }
        rc = cai_predict(s, img, mg, mag_dtype, c * CAI_TTA_N, out, err);
        for (int64_t g = 0; !rc && g < c; g++) {
            double sum = 0, sq = 0;
            for (int t = 0; t < CAI_TTA_N; t++) sum += out[g * CAI_TTA_N + t];
            double m = sum / CAI_TTA_N;
            for (int t = 0; t < CAI_TTA_N; t++) {
                double d = out[g * CAI_TTA_N + t] - m;
                sq += d * d;
            }
            int ok = isfinite(m) && isfinite(sq);
            mean[s0 + g] = ok ? (float)m : NAN;
            if (spread) spread[s0 + g] = ok ? (float)sqrt(sq / CAI_TTA_N) : NAN;
        }
    }
    free(img);
    free(mg);
    free(out);
    return rc;
}
