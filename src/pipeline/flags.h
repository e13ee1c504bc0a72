/* flags.h — the per-galaxy quality bitmask FLAGS of the catalog: what each bit means, the bits an input
 * galaxy earns by itself (non-finite or empty data), and their descriptions for file headers and docs.
 * Owns: the bit values (a public contract: never renumber). Must not touch: files, calibration logic
 * (calibrate.c sets the calibration-range bits). */
#ifndef CAI_FLAGS_H
#define CAI_FLAGS_H

#include <stdint.h>

#include "../common/util.h"

#define CAI_FLAG_PIX_NONFINITE 0x01u  /* a pixel of the cutout is NaN or infinite */
#define CAI_FLAG_MAG_NONFINITE 0x02u  /* a magnitude is NaN or infinite */
#define CAI_FLAG_EMPTY_BAND 0x04u     /* a band's 32x32 cutout is all zero */
#define CAI_FLAG_MAG_RANGE 0x08u      /* a magnitude lies outside the calibration set's range */
#define CAI_FLAG_Z_RANGE 0x10u        /* the prediction lies outside the calibration set's predicted-z range */
#define CAI_FLAG_PRED_NONFINITE 0x20u /* the prediction is NaN or infinite */
#define CAI_FLAG_NBITS 6

/* Bits 0, 1, 2 for one galaxy: image (5,32,32) float32, mags (5,) of mag_dtype. */
uint32_t cai_flags_input(const float *image, const void *mags, cai_dtype mag_dtype);

/* Short description of bit b (0-based), e.g. "a pixel is NaN or infinite"; NULL past the last bit. */
const char *cai_flag_desc(int b);

#endif
