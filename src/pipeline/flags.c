/* flags.c — input quality bits (see flags.h). One pass over the 5,120 pixels: cheap next to the forward
 * pass (~1e8 MACs per galaxy). */
#include "flags.h"

#include <math.h>

#include "../model/model.h"

uint32_t cai_flags_input(const float *image, const void *mags, cai_dtype mag_dtype) {
    uint32_t f = 0;
    for (int b = 0; b < CAI_BANDS; b++) {
        const float *px = image + (size_t)b * CAI_IMG * CAI_IMG;
        int any = 0;
        for (int i = 0; i < CAI_IMG * CAI_IMG; i++) {
            if (!isfinite(px[i])) f |= CAI_FLAG_PIX_NONFINITE;
            if (px[i] != 0.0f) any = 1;
        }
        if (!any) f |= CAI_FLAG_EMPTY_BAND;
    }
    for (int b = 0; b < CAI_BANDS; b++) {
        double m = mag_dtype == CAI_F64 ? ((const double *)mags)[b] : (double)((const float *)mags)[b];
        if (!isfinite(m)) f |= CAI_FLAG_MAG_NONFINITE;
    }
    return f;
}

static const char *const desc[CAI_FLAG_NBITS] = {
    "a pixel is NaN or infinite",
    "a magnitude is NaN or infinite",
    "a band's cutout is all zero (empty band)",
    "a magnitude is outside the calibration set's range",
    "the prediction is outside the calibration set's predicted-z range",
    "the prediction is NaN or infinite",
};

const char *cai_flag_desc(int b) { return b >= 0 && b < CAI_FLAG_NBITS ? desc[b] : 0; }
