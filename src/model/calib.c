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

/* u8 (scale, zero point) for the range [lo, hi] seen in calibration. */
static void params(float lo, float hi, float *scale, float *zp) {
    lo = lo < 0 ? lo * CALIB_MARGIN : 0, hi = hi > 0 ? hi * CALIB_MARGIN : 0; /* 0 must be exact */
    float sc = hi > lo && isfinite(hi - lo) ? (hi - lo) / 255.0f : 1.0f;
    *scale = sc, *zp = nearbyintf(-lo / sc);
}

/* One layer's input parameters from the range [lo, hi] seen in calibration, and its epilogue constants. */
static void set_input(cai_linear *l, float lo, float hi) {
    params(lo, hi, &l->a_scale, &l->a_zp);
    const float sc = l->a_scale;
    for (int o = 0; o < l->out; o++) {
        l->oscale[o] = sc * l->wscale[o];
        /* oneDNN computes oscale · (acc + bias); acc = Σ q·w with q = a/sc + zp, so Σ a·w = sc·(acc − zp·Σw)·ws */
        l->qbias[o] = (l->b ? l->b[o] / l->oscale[o] : 0.0f) - l->a_zp * (float)l->wsum[o];
    }
}

/* magnitude_block.2-.8: one u8 scale per input channel. Their inputs are ReLU outputs whose channels'
 * ranges differ by orders of magnitude, so one scale per tensor left most channels a few levels (the
 * magnitude MLP in int8 so moved the median |dz| on 4,096 galaxies from 1.8e-4 to 3.7e-4). Channel i
 * gets c_i = max_i / 255 (floored at 1/256 of the widest channel's, so that a channel idle in
 * calibration does not blow up its weights), which is free at run time: c_i multiplies column i of the
 * weights before they are quantized per output channel, and divides the producer's output scale for
 * channel i (its u8 dst is then round(value / c_i), zero point 0: the ReLU is the saturation at 0). The
 * producer of magnitude_block.2's input is fp32 (magnitude_block.0): forward.c quantizes it per channel. */
static void set_channels(cai_weights *w, const float *chan, int width) {
    for (int i = 1; i < 5; i++) {
        cai_linear *l = &w->mag[i];
        if (!l->wq || !l->cscale) continue;
        const float *mx = chan + (size_t)(i - 1) * width;
        float top = 0;
        for (int k = 0; k < l->in; k++) top = mx[k] > top && isfinite(mx[k]) ? mx[k] : top;
        top = top > 0 ? top : 255.0f;
        for (int k = 0; k < l->in; k++) {
            float hi = isfinite(mx[k]) && mx[k] > top / 256 ? mx[k] : top / 256;
            l->cscale[k] = hi * CALIB_MARGIN / 255.0f;
        }
        cai_linear_quantize(l, l->cscale);
        l->a_scale = 1, l->a_zp = 0;
        for (int o = 0; o < l->out; o++) {
            l->oscale[o] = l->wscale[o];
            l->qbias[o] = l->b ? l->b[o] / l->wscale[o] : 0.0f;
        }
    }
    for (int i = 1; i < 4; i++) /* an int8 producer writes its successor's u8 per channel */
        if (w->mag[i].wq && w->mag[i + 1].wq && w->mag[i + 1].cscale)
            for (int o = 0; o < w->mag[i].out; o++) w->mag[i].oscale[o] /= w->mag[i + 1].cscale[o];
}

int cai_calibrate(cai_model *m, cai_err *err) {
    const int n = CALIB_GALAXIES, depth = m->cfg.depth;
    float *img = malloc((size_t)n * CAI_IMG_FLOATS * sizeof(float)), *mag = malloc((size_t)n * 5 * sizeof(float));
    float(*r)[4][2] = malloc((size_t)depth * sizeof *r), xr[CAI_QX_N][2];
    float *chan = malloc((size_t)4 * m->cfg.mag_width * sizeof(float));
    int rc = !img || !mag || !r || !chan ? cai_seterr(err, CAI_ENOMEM, "calibration: out of memory") : CAI_OK;
    if (!rc) {
        calib_galaxies(n, img, mag);
        rc = cai_forward_ranges(m, img, mag, n, r, xr, chan, err);
    }
    cai_weights *w = &m->w; /* the int8 layers beyond the blocks (weights.c chooses which are int8) */
    cai_linear *x[CAI_QX_N] = {[CAI_QX_HEAD] = &w->head,   [CAI_QX_VIT0] = &w->vit0,   [CAI_QX_VIT2] = &w->vit2,
                               [CAI_QX_INC10] = &w->inc10, [CAI_QX_INC12] = &w->inc12, [CAI_QX_MAG1] = &w->mag[1],
                               [CAI_QX_MAG2] = &w->mag[2], [CAI_QX_MAG3] = &w->mag[3], [CAI_QX_MAG4] = &w->mag[4]};
    for (int i = 0; !rc && i < CAI_QX_N; i++)
        if (x[i]->wq) set_input(x[i], xr[i][0], xr[i][1]);
    if (!rc) set_channels(w, chan, m->cfg.mag_width); /* after set_input: replaces the magnitude layers' */
    free(chan);
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
