// Int8 GEMM: int8 x int8 products accumulated exactly in int32, then requantized (or dequantized) in the epilogue.
// The implementation picks the ISA at run time: AVX-VNNI / AVX512-VNNI (vpdpbusd), AVX2 (vpmaddwd on
// sign-extended int16: exact, no vpmaddubsw saturation), scalar reference. Every path equals qgemm_ref bit for bit.
//
// Layout: A = weights [M, K] int8 row-major (one row per output channel), packed once at engine build.
//         B = activations [K, N] int8 row-major with leading dimension ldb (Conv: the im2col matrix or the NCHW input).
//         C = [M, N] with leading dimension ldc.
//
// Epilogue, per element (m, n), in exactly this order (float = IEEE binary32, no other rounding anywhere):
//   acc  = sum_k A[m,k] * B[k,n]                              (int32, exact)
//   acc += bias[m]                                             (int32; bias may be null)
//   v    = (float)acc * multiplier[m]                          (one rounding)
//   if residual: v = fmaf((float)residual[m*ldr+n], residual_multiplier, v)
//   int8 output:  q = (int8)nearbyint(min(max(v, qmin), qmax))   (round half to even; qmin/qmax are integers)
//   float output: C = f32_act_clamp(v)                         (clamped to [fmin, fmax])
// Edge cases, identical on every path: int32 sums wrap modulo 2^32 (exact whenever the true value fits, always for
// K < 131072 without bias); qmin/qmax are first intersected with [-128, 127]; a NaN v (only from non-finite
// multipliers) gives qmin in int8 and NaN in float; K = 0 gives acc = 0. A null multiplier (s8/f32 outputs) or a
// packing not made by qpack_a leaves C untouched. Internals and packed layouts: kernels/qgemm-internal.h.
//
// Threads: the calls are thread-safe (a QPackedA is read-only once packed); `pool` may be null.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace int8rt {

class ThreadPool;

class QPackedA {
 public:
  int64_t M = 0, K = 0;
  std::vector<int8_t> data;         // layout private to the implementation (may be padded)
  std::vector<int32_t> row_sums;    // sum_k A[m,k], for kernels that shift activations to uint8
  int isa = 0;                      // which kernel family the packing is for (qgemm_internal::FamilyId); the
                                    // family chosen when qpack_a ran, which every later qgemm on it uses
};
Status qpack_a(const int8_t* A, int64_t lda, int64_t M, int64_t K, QPackedA* out);

struct QEpilogue {
  const int32_t* bias = nullptr;     // length M
  const float* multiplier = nullptr; // length M (required)
  const int8_t* residual = nullptr;  // M x N, leading dimension ldr
  int64_t ldr = 0;
  float residual_multiplier = 0.f;
  int32_t qmin = -128, qmax = 127;   // int8 output clamp (Relu: qmin = 0)
  float fmin = -INFINITY, fmax = INFINITY;  // float output clamp
};

// C (int8) = requantize(A * B).
void qgemm_s8(const QPackedA& A, int64_t N, const int8_t* B, int64_t ldb, int8_t* C, int64_t ldc,
              const QEpilogue& ep, ThreadPool* pool);
// C (float) = dequantize(A * B): the same epilogue with a float result (int8-dynamic, int8 -> fp32 boundaries).
void qgemm_s8_f32(const QPackedA& A, int64_t N, const int8_t* B, int64_t ldb, float* C, int64_t ldc,
                  const QEpilogue& ep, ThreadPool* pool);
// Raw int32 accumulators (tests, MatMulInteger/ConvInteger): C = A * B.
void qgemm_s8_s32(const QPackedA& A, int64_t N, const int8_t* B, int64_t ldb, int32_t* C, int64_t ldc,
                  ThreadPool* pool);

// Implicit-im2col B for 2-D convolutions (1-D ones with IH = OH = kh = 1): B[k, n] is the im2col matrix of one image
// and group, built while B is packed, never stored. Row k = (c * kh + ky) * kw + kx (channel, tap), column
// n = oy * OW + ox (output pixel), and B[k, n] = img[c][iy][ix] with iy = oy * sh - pt + ky * dh,
// ix = ox * sw - pl + kx * dw, or 0 when (iy, ix) falls into the padding (exact for int8 with zero point 0). This is
// the index map of conv_params::im2col_2d (ops/conv_params.h), so the GEMM equals qgemm_s8 on that matrix bit for bit.
struct QIm2col {
  const int8_t* img = nullptr;  // C planes of IH x IW, contiguous
  int64_t C = 0, IH = 1, IW = 1, OH = 1, OW = 1;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0;
};
// C (int8, [M, OH * OW], ldc) = requantize(A * B) with B the im2col matrix of `src`; A.K must be C * kh * kw.
// Nothing is written when the descriptor does not fit A (or has a non-positive size or step).
void qgemm_s8_im2col(const QPackedA& A, const QIm2col& src, int8_t* C, int64_t ldc, const QEpilogue& ep,
                     ThreadPool* pool);
// Whether `A`'s kernel family packs an im2col B straight from the image with its own packer. Without one,
// qgemm_s8_im2col still works (it builds each 16-column panel's rows in a small buffer, then packs them), but an
// explicit im2col matrix and qgemm_s8 are then usually faster.
bool qgemm_im2col_is_fused(const QPackedA& A);
// The raw int32 accumulators of the same product (tests).
void qgemm_s8_s32_im2col(const QPackedA& A, const QIm2col& src, int32_t* C, int64_t ldc, ThreadPool* pool);

// Scalar references, the test oracle (unpacked A).
void qgemm_ref_s32(int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda, const int8_t* B, int64_t ldb,
                   int32_t* C, int64_t ldc);
void qgemm_ref_s8(int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda, const int8_t* B, int64_t ldb,
                  int8_t* C, int64_t ldc, const QEpilogue& ep);
void qgemm_ref_f32(int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda, const int8_t* B, int64_t ldb,
                   float* C, int64_t ldc, const QEpilogue& ep);

// Which kernel family qpack_a packs for on this CPU (INT8RT_ISA applies), e.g. "qgemm_s8_avx512vnni_8x16",
// "qgemm_s8_avxvnni_6x16", "qgemm_s8_avx2_6x16", "qgemm_s8_scalar_4x16".
std::string qgemm_kernel_name();

}  // namespace int8rt
