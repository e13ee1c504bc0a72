/* model.h — the AstroMAE redshift model: load weights from safetensors, run forward passes.
 * Owns: the Config (blueprint), the Weights (memory-mapped, BN folded at load), oneDNN primitives and
 * per-batch activation buffers. Must not touch: partitions, stores, the pipeline. */
#ifndef CAI_MODEL_H
#define CAI_MODEL_H

#include <stdint.h>

#include "../common/err.h"
#include "../common/util.h"

/* auto (0, so the default wherever a precision is left unset): int8 where the CPU has VNNI (AVX512_VNNI or
 * AVX_VNNI: int8 GEMMs ~3x fp32 there), fp32 elsewhere. Resolved at load; cai_model_precision says which. */
typedef enum { CAI_PREC_AUTO = 0, CAI_PREC_FP32 = 1, CAI_PREC_INT8 = 2 } cai_precision;

typedef struct cai_model cai_model;     /* read-only after load: share it between threads */
typedef struct cai_session cai_session; /* one per thread of use: activation buffers + primitives */

/* Image geometry the model expects. */
#define CAI_BANDS 5
#define CAI_IMG 32
#define CAI_IMG_FLOATS (CAI_BANDS * CAI_IMG * CAI_IMG) /* 5120 floats per galaxy */

/* Weights file = safetensors whose tensor names/shapes/dtypes are exactly the checkpoint's state_dict
 * (without DataParallel's "module." prefix; every key kept, num_batches_tracked included). Hyper-parameters
 * the state_dict lacks live in __metadata__ (all values are strings):
 *   "cai.format"   "astromae-weights/1"
 *   "variant"      "vit" | "vitae"             (also detectable from the keys: attn.q_bias/PCM.* => vitae)
 *   "embed_dim" "192"  "depth" "12"  "num_heads" "3"  "mlp_ratio" "4"  "patch_size" "8"
 *   "ln_eps" "1e-06" (block norms)  "fc_norm_eps" "1e-06"  "attn_scale" "0.125"
 *   "bn_eps" "1e-05" (Inception ConvBlocks)  "pcm_bn_eps" "1e-05"
 *   "pcm_kernel" "1"  "pcm_groups" "48"  "pcm_padding" "0"  "class_token" "true"   (vitae only)
 *   "source"       the checkpoint file name it was converted from
 * A missing key takes the seed's default listed here. */

/* Write deterministic untrained weights (PyTorch-style init, non-trivial BatchNorm statistics and q/v
 * biases) for `variant` ("vit" or "vitae") from `seed`. For demos, tests and benchmarks without a real
 * checkpoint: predictions from these are not physical. */
int cai_weights_random(const char *path, const char *variant, uint64_t seed, cai_err *err);

/* Load and validate weights (see model.c for the key list). Detects the block variant from the keys;
 * hyper-parameters come from __metadata__, with the seed's defaults when absent. */
int cai_model_load(const char *path, cai_precision prec, cai_model **out, cai_err *err);
void cai_model_free(cai_model *m);

/* What `auto` becomes on this CPU (fp32 and int8 stay as they are). */
cai_precision cai_precision_resolve(cai_precision p);
/* "auto", "fp32" or "int8". */
const char *cai_precision_label(cai_precision p);
/* The precision the model was loaded in: fp32 or int8, never auto. */
cai_precision cai_model_precision(const cai_model *m);

/* "vit" or "vitae"; number of parameters; bytes of weights. */
const char *cai_model_variant(const cai_model *m);
int64_t cai_model_nparams(const cai_model *m);
/* Multiply-accumulates per galaxy (from the Config; ~1.1e8), and how long cai_model_load took. */
double cai_model_macs(const cai_model *m);
double cai_model_load_seconds(const cai_model *m);

/* Measured matmul throughput on the model's own block GEMM shapes (K, N in {192, 576, 768}), in GFLOP/s
 * (fp32) or GOP/s (int8 u8 x s8 -> s32), for about `seconds`, threaded as a session is: each of `threads`
 * threads multiplies its own sub-batch (M = 17 * min(128, batch / threads) rows) alone. The fp32 limit of
 * the engine is peak / (2 * macs). */
int cai_gemm_peak(int threads, cai_precision prec, int batch, double seconds, double *gflops, cai_err *err);

/* A session uses `threads` threads (0 = all cores), each with its own lane (activation buffers, oneDNN
 * primitives): a thread runs whole sub-batches of at most 128 galaxies alone (faster in cache, no barriers
 * between layers, and peak RSS does not grow with the batch); a call smaller than threads × 128 galaxies
 * is shared out evenly, at least 8 galaxies per thread. */
cai_session *cai_session_new(const cai_model *m, int max_batch, int threads, cai_err *err);
void cai_session_free(cai_session *s);

/* Seconds spent so far by this session in: [0] ViT branch, [1] Inception branch, [2] magnitude branch,
 * [3] head (for `cai bench`'s breakdown). */
void cai_session_profile(const cai_session *s, double seconds[4]);

/* Predict n >= 1 redshifts. images: float32 (n,5,32,32); mags: (n,5) of mag_dtype; out: n floats.
 * Any n works: larger than max_batch is processed in chunks. A NaN in a galaxy's input gives NaN for
 * that galaxy only. */
int cai_predict(cai_session *s, const float *images, const void *mags, cai_dtype mag_dtype, int64_t n,
                float *out, cai_err *err);

#endif
