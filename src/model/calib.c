/* calib.c — static int8 activation scales, calibrated at load: the fp32 model runs once on a fixed batch of
 * synthetic galaxies and each quantized Linear's input gets one (scale, zero point) per tensor from the
 * range it saw there (u8, asymmetric: LayerNorm outputs are not centred and GELU's are almost all ≥ 0).
 *
 * Why static and per tensor: the scales are then constants of the model, so they go into oneDNN's
 * epilogue at primitive creation and the producing kernels quantize as they write; nothing is measured per
 * batch, and one galaxy's values can never change another's quantization. Per-row dynamic scales (the
 * first int8 engine) needed a max pass, a quantize pass and a dequantize pass of our own around every GEMM
 * and ran at 0.4–0.6× fp32 (bench/results/engine.md). A value outside the calibrated range saturates.
 *
 * The batch is generated here, not by src/data/synth.c (the model layer may not reach into data/): smooth
 * exponential-disk galaxies with SDSS-like fluxes, colours and sky noise. The LayerNorm'd activations the
 * blocks quantize depend far more on the weights than on the images, which is why a small batch suffices. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "model_internal.h"

#define CALIB_GALAXIES 32  /* 64 measured the same |dz| (golden, 4,096-galaxy test) and took twice as long at load */
#define CALIB_MARGIN 1.05f /* widen each range by 5%: real data a little outside the synthetic batch still fits */

static double urand(uint64_t *s) { /* xorshift64*, uniform in [0, 1) */
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return (double)((*s * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static double nrand(uint64_t *s) { /* Box-Muller */
    double u = urand(s), v = urand(s);
    return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

/* n galaxies: images (n,5,32,32) in nanomaggies, magnitudes (n,5). */
static void calib_galaxies(int n, float *img, float *mag) {
    static const double sky[5] = {0.07, 0.017, 0.025, 0.04, 0.17}; /* nanomaggies per pixel, ugriz */
    static const double colour[5] = {1.8, 0.8, 0.0, -0.4, -0.7};   /* m_band - m_r, a typical galaxy */
    uint64_t st = 0x9E3779B97F4A7C15ULL;
    for (int g = 0; g < n; g++) {
        const double mr = 14.5 + 3.2 * urand(&st), re = 1.2 + 4.0 * urand(&st), q = 0.3 + 0.7 * urand(&st);
        const double pa = M_PI * urand(&st), cs = cos(pa), sn = sin(pa), red = 0.4 * urand(&st);
        for (int b = 0; b < 5; b++) {
            const double m = mr + colour[b] * (1 + red) + 0.1 * nrand(&st);
            mag[g * 5 + b] = (float)m;
            const double flux = pow(10, (22.5 - m) / 2.5), h = re / 1.678; /* half-light radius → scale */
            double norm = 0;
            float *im = img + ((size_t)g * 5 + b) * 1024;
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++) {
                    double dx = x - 15.5, dy = y - 15.5, u = dx * cs + dy * sn, v = (-dx * sn + dy * cs) / q;
                    double p = exp(-sqrt(u * u + v * v) / h);
                    im[y * 32 + x] = (float)p;
                    norm += p;
                }
            for (int i = 0; i < 1024; i++) im[i] = (float)(flux * im[i] / norm + sky[b] * nrand(&st));
        }
    }
}

/* One layer's input parameters from the range [lo, hi] seen in calibration, and its epilogue constants. */
static void set_input(cai_linear *l, float lo, float hi) {
    lo = lo < 0 ? lo * CALIB_MARGIN : 0, hi = hi > 0 ? hi * CALIB_MARGIN : 0; /* 0 must be exact */
    float sc = hi > lo && isfinite(hi - lo) ? (hi - lo) / 255.0f : 1.0f;
    l->a_scale = sc;
    l->a_zp = nearbyintf(-lo / sc);
    for (int o = 0; o < l->out; o++) {
        l->oscale[o] = sc * l->wscale[o];
        /* oneDNN computes oscale · (acc + bias); acc = Σ q·w with q = a/sc + zp, so Σ a·w = sc·(acc − zp·Σw)·ws */
        l->qbias[o] = (l->b ? l->b[o] / l->oscale[o] : 0.0f) - l->a_zp * (float)l->wsum[o];
    }
}

int cai_calibrate(cai_model *m, cai_err *err) {
    const int n = CALIB_GALAXIES, depth = m->cfg.depth;
    float *img = malloc((size_t)n * CAI_IMG_FLOATS * sizeof(float)), *mag = malloc((size_t)n * 5 * sizeof(float));
    float(*r)[4][2] = malloc((size_t)depth * sizeof *r);
    int rc = !img || !mag || !r ? cai_seterr(err, CAI_ENOMEM, "calibration: out of memory") : CAI_OK;
    if (!rc) {
        calib_galaxies(n, img, mag);
        rc = cai_forward_ranges(m, img, mag, n, r, err);
    }
    for (int l = 0; !rc && l < depth; l++) {
        cai_block *b = &m->w.blocks[l];
        set_input(&b->qkv, r[l][0][0], r[l][0][1]);
        set_input(&b->proj, r[l][1][0], r[l][1][1]);
        set_input(&b->fc1, r[l][2][0], r[l][2][1]);
        set_input(&b->fc2, r[l][3][0], r[l][3][1]);
    }
    free(img), free(mag), free(r);
    return rc;
}
