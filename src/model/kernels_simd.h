/* kernels_simd.h — data movement both ISA paths of the own kernels share (kernels_avx2.c, kernels_avx512.c).
 * Owns: the PCM input transpose. Must not touch: arithmetic (a kernel's result comes from its own file).
 * AVX2 intrinsics only: the baseline build (-march=x86-64-v3) compiles them, and an AVX-512 function
 * (target attribute, a superset) may inline them. */
#ifndef CAI_MODEL_KERNELS_SIMD_H
#define CAI_MODEL_KERNELS_SIMD_H

#include <immintrin.h>
#include <stdint.h>

#include "kernels.h"

/* dst[k·ldd + i] = rows[i][k] for an 8×8 block (unpack / shuffle / lane permute): pure data movement,
 * 8 vector stores instead of 64 scalar stores with a stride. */
static inline void cai_transpose8(const float *const rows[8], float *dst, int64_t ldd) {
    __m256 r0 = _mm256_loadu_ps(rows[0]), r1 = _mm256_loadu_ps(rows[1]), r2 = _mm256_loadu_ps(rows[2]);
    __m256 r3 = _mm256_loadu_ps(rows[3]), r4 = _mm256_loadu_ps(rows[4]), r5 = _mm256_loadu_ps(rows[5]);
    __m256 r6 = _mm256_loadu_ps(rows[6]), r7 = _mm256_loadu_ps(rows[7]);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst + 0 * ldd, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + 1 * ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
}

/* PCM's input, token-major xb (CAI_PCM_NP tokens × D) to channel-major xT (D × CAI_PCM_NP); D % 8 == 0. */
static inline void cai_pcm_transpose_in(const float *xb, float *xT, int D) {
    for (int t0 = 0; t0 < CAI_PCM_NP; t0 += 8)
        for (int c0 = 0; c0 < D; c0 += 8) {
            const float *rows[8];
            for (int r = 0; r < 8; r++) rows[r] = xb + (int64_t)(t0 + r) * D + c0;
            cai_transpose8(rows, xT + c0 * CAI_PCM_NP + t0, CAI_PCM_NP);
        }
}

#endif
