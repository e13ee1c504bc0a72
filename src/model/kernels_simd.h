/* kernels_simd.h — AVX2 pieces the own kernels (kernels_avx2.c, kernels_avx512.c) and forward.c share.
 * Owns: the 8×8 transposes (PCM's input and output, attention's Kᵀ), the residual add fused into one, and the
 * 8-float u8 quantization. Must not touch: other arithmetic (a kernel's result comes from its own file).
 * AVX2 intrinsics only: the baseline build (-march=x86-64-v3) compiles them, and an AVX-512 function
 * (target attribute, a superset) may inline them. */
#ifndef CAI_MODEL_KERNELS_SIMD_H
#define CAI_MODEL_KERNELS_SIMD_H

#include <immintrin.h>
#include <stdint.h>

#include "kernels.h"

/* The 8×8 transpose of r0..r7 in registers (unpack / shuffle / lane permute), results in o0..o7. */
#define CAI_T8(r0, r1, r2, r3, r4, r5, r6, r7, o0, o1, o2, o3, o4, o5, o6, o7)                                         \
    do {                                                                                                               \
        const __m256 t0_ = _mm256_unpacklo_ps(r0, r1), t1_ = _mm256_unpackhi_ps(r0, r1);                               \
        const __m256 t2_ = _mm256_unpacklo_ps(r2, r3), t3_ = _mm256_unpackhi_ps(r2, r3);                               \
        const __m256 t4_ = _mm256_unpacklo_ps(r4, r5), t5_ = _mm256_unpackhi_ps(r4, r5);                               \
        const __m256 t6_ = _mm256_unpacklo_ps(r6, r7), t7_ = _mm256_unpackhi_ps(r6, r7);                               \
        const __m256 u0_ = _mm256_shuffle_ps(t0_, t2_, 0x44), u1_ = _mm256_shuffle_ps(t0_, t2_, 0xEE);                 \
        const __m256 u2_ = _mm256_shuffle_ps(t1_, t3_, 0x44), u3_ = _mm256_shuffle_ps(t1_, t3_, 0xEE);                 \
        const __m256 u4_ = _mm256_shuffle_ps(t4_, t6_, 0x44), u5_ = _mm256_shuffle_ps(t4_, t6_, 0xEE);                 \
        const __m256 u6_ = _mm256_shuffle_ps(t5_, t7_, 0x44), u7_ = _mm256_shuffle_ps(t5_, t7_, 0xEE);                 \
        o0 = _mm256_permute2f128_ps(u0_, u4_, 0x20), o1 = _mm256_permute2f128_ps(u1_, u5_, 0x20);                      \
        o2 = _mm256_permute2f128_ps(u2_, u6_, 0x20), o3 = _mm256_permute2f128_ps(u3_, u7_, 0x20);                      \
        o4 = _mm256_permute2f128_ps(u0_, u4_, 0x31), o5 = _mm256_permute2f128_ps(u1_, u5_, 0x31);                      \
        o6 = _mm256_permute2f128_ps(u2_, u6_, 0x31), o7 = _mm256_permute2f128_ps(u3_, u7_, 0x31);                      \
    } while (0)

/* dst[k·ldd + i] = rows[i][k] for an 8×8 block: 8 vector stores instead of 64 scalar stores with a stride. */
static inline void cai_transpose8(const float *const rows[8], float *dst, int64_t ldd) {
    __m256 o0, o1, o2, o3, o4, o5, o6, o7;
    CAI_T8(_mm256_loadu_ps(rows[0]), _mm256_loadu_ps(rows[1]), _mm256_loadu_ps(rows[2]), _mm256_loadu_ps(rows[3]),
           _mm256_loadu_ps(rows[4]), _mm256_loadu_ps(rows[5]), _mm256_loadu_ps(rows[6]), _mm256_loadu_ps(rows[7]), o0,
           o1, o2, o3, o4, o5, o6, o7);
    _mm256_storeu_ps(dst, o0), _mm256_storeu_ps(dst + ldd, o1), _mm256_storeu_ps(dst + 2 * ldd, o2);
    _mm256_storeu_ps(dst + 3 * ldd, o3), _mm256_storeu_ps(dst + 4 * ldd, o4), _mm256_storeu_ps(dst + 5 * ldd, o5);
    _mm256_storeu_ps(dst + 6 * ldd, o6), _mm256_storeu_ps(dst + 7 * ldd, o7);
}

/* dst[k·ldd + i] = src[i·lds + k] (+ add[k·ldd + i] where add is given) for an 8×8 block. Strided rows
 * instead of a pointer array: GCC vectorized the array's address arithmetic (vpmuldq and vmovq per row)
 * and the kernels spent more on that than on the shuffles. */
static inline void cai_transpose8s(const float *src, int64_t lds, float *dst, int64_t ldd, const float *add) {
    __m256 o0, o1, o2, o3, o4, o5, o6, o7;
    CAI_T8(_mm256_loadu_ps(src), _mm256_loadu_ps(src + lds), _mm256_loadu_ps(src + 2 * lds),
           _mm256_loadu_ps(src + 3 * lds), _mm256_loadu_ps(src + 4 * lds), _mm256_loadu_ps(src + 5 * lds),
           _mm256_loadu_ps(src + 6 * lds), _mm256_loadu_ps(src + 7 * lds), o0, o1, o2, o3, o4, o5, o6, o7);
    if (add) {
        o0 = _mm256_add_ps(o0, _mm256_loadu_ps(add)), o1 = _mm256_add_ps(o1, _mm256_loadu_ps(add + ldd));
        o2 = _mm256_add_ps(o2, _mm256_loadu_ps(add + 2 * ldd)), o3 = _mm256_add_ps(o3, _mm256_loadu_ps(add + 3 * ldd));
        o4 = _mm256_add_ps(o4, _mm256_loadu_ps(add + 4 * ldd)), o5 = _mm256_add_ps(o5, _mm256_loadu_ps(add + 5 * ldd));
        o6 = _mm256_add_ps(o6, _mm256_loadu_ps(add + 6 * ldd)), o7 = _mm256_add_ps(o7, _mm256_loadu_ps(add + 7 * ldd));
    }
    _mm256_storeu_ps(dst, o0), _mm256_storeu_ps(dst + ldd, o1), _mm256_storeu_ps(dst + 2 * ldd, o2);
    _mm256_storeu_ps(dst + 3 * ldd, o3), _mm256_storeu_ps(dst + 4 * ldd, o4), _mm256_storeu_ps(dst + 5 * ldd, o5);
    _mm256_storeu_ps(dst + 6 * ldd, o6), _mm256_storeu_ps(dst + 7 * ldd, o7);
}

/* PCM's input, token-major xb (CAI_PCM_NP tokens × D) to channel-major xT (D × CAI_PCM_NP); D % 8 == 0. */
static inline void cai_pcm_transpose_in(const float *xb, float *xT, int D) {
    for (int t0 = 0; t0 < CAI_PCM_NP; t0 += 8)
        for (int c0 = 0; c0 < D; c0 += 8)
            cai_transpose8s(xb + (int64_t)t0 * D + c0, D, xT + c0 * CAI_PCM_NP + t0, CAI_PCM_NP, NULL);
}

/* u8 quantization of 8 floats, as cai_quant1 (kernels.h): round(v·inv + zp) to nearest even (as oneDNN's u8
 * dst), saturated to [0, 255]; NaN becomes 0 (max returns its second operand for NaN), deterministically. */
static inline void cai_quant8(uint8_t *dst, __m256 v, __m256 inv, __m256 zp) {
    v = _mm256_fmadd_ps(v, inv, zp);
    v = _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(255.0f));
    __m256i i = _mm256_cvtps_epi32(v);
    __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
    _mm_storel_epi64((__m128i *)dst, _mm_packus_epi16(w, w));
}

#endif
