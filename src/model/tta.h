/* tta.h — test-time augmentation: predict each galaxy under the 8 symmetries of the square (4 rotations ×
 * optional flip) and report their mean and spread. The sky has no preferred orientation, so a model's
 * answer should not depend on one; the spread measures how much it does. Costs 8× the compute.
 * Owns: the 8 pixel transforms and the averaging. Uses only the public model API (model.h); must not touch
 * the forward pass's internals. */
#ifndef CAI_TTA_H
#define CAI_TTA_H

#include <stdint.h>

#include "model.h"

#define CAI_TTA_N 8

/* dst = transform t (0..7) of src, one (32,32) plane: t&3 quarter-turns counter-clockwise, then a
 * left-right flip when t&4. Transform 0 is the identity. */
void cai_tta_plane(const float *src, float *dst, int t);

/* Like cai_predict, for n galaxies: mean[i] = mean of the 8 predictions, spread[i] = their standard
 * deviation (population, /8; may be NULL). A non-finite prediction in any view gives NaN for both. */
int cai_predict_tta(cai_session *s, const float *images, const void *mags, cai_dtype mag_dtype, int64_t n, float *mean,
                    float *spread, cai_err *err);

#endif
