// Single-precision GEMM: the entry points operators call. The implementation picks the ISA at run time
// (kernels/x86 AVX2+FMA microkernels, kernels/ref scalar reference) and parallelises over the thread pool.
//
// All matrices are row-major. op(X) is X or X^T.  C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C.
#pragma once
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/status.h"

namespace int8rt {

class ThreadPool;

// Applied to each element of C after the product, in this order: + bias_row[m] + bias_col[n] + residual[m,n],
// then clamp to [clip_min, clip_max] (Relu is [0, inf), Clip is [min, max]).
struct GemmEpilogue {
  const float* bias_row = nullptr;  // length M (Conv bias per output channel)
  const float* bias_col = nullptr;  // length N (Gemm/MatMul bias along columns)
  const float* residual = nullptr;  // M x N with leading dimension ldr (fused residual Add)
  int64_t ldr = 0;
  float clip_min = -INFINITY;
  float clip_max = INFINITY;
};

// General GEMM, both operands packed per call.
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc, ThreadPool* pool);
// The same with the epilogue applied after alpha*op(A)*op(B) + beta*C. The residual may alias C (same ldr as ldc).
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const GemmEpilogue& ep, ThreadPool* pool);

// The microkernel family the engine uses on this CPU ("avx2_6x16", "scalar_6x16"), for kernel reports.
const char* sgemm_kernel_name();

// The left operand packed once (Conv weights W[Cout, Cin*kh*kw] at engine build).
//
// Half-precision packings (pack_a/pack_b with half = true, precision 'fp16'): the packed panels are stored as IEEE
// binary16 in `half_data` (same layout, `data` stays empty), which halves the weights' memory. The product is still
// computed in float32: each block of panels is widened to float (F16C where available) into a per-thread buffer
// right before the microkernel reads it, so the result equals the float GEMM run on the half-rounded weights.
class PackedA {
 public:
  int64_t M = 0, K = 0;
  std::vector<float> data;  // layout private to the implementation (kernels/sgemm-internal.h)
  std::vector<uint16_t> half_data;  // the same layout as binary16, when half
  bool half = false;
  int mr = 0;               // panel height used when packing
  int isa = 0;              // the Isa this packing was made for
  int64_t kc = 0;           // K block size of the packing
};
Status pack_a(const float* A, int64_t lda, bool trans_a, int64_t M, int64_t K, PackedA* out, bool half = false);
// C[M,N] = A * op(B) with the epilogue.  B is K x N (ldb) or, when trans_b, N x K.
void sgemm_packed_a(const PackedA& A, int64_t N, const float* B, int64_t ldb, bool trans_b, float* C, int64_t ldc,
                    const GemmEpilogue& ep, ThreadPool* pool);

// The right operand packed once (Gemm/MatMul weights at engine build).
class PackedB {
 public:
  int64_t K = 0, N = 0;
  std::vector<float> data;  // layout private to the implementation (kernels/sgemm-internal.h)
  std::vector<uint16_t> half_data;  // the same layout as binary16, when half (see PackedA)
  bool half = false;
  int nr = 0;               // panel width used when packing
  int isa = 0;
  int64_t kc = 0;           // K block size of the packing
};
Status pack_b(const float* B, int64_t ldb, bool trans_b, int64_t K, int64_t N, PackedB* out, bool half = false);
// C[M,N] = op(A) * B with the epilogue.  A is M x K (lda) or, when trans_a, K x M.
void sgemm_packed_b(int64_t M, const float* A, int64_t lda, bool trans_a, const PackedB& B, float* C, int64_t ldc,
                    const GemmEpilogue& ep, ThreadPool* pool);

// Scalar reference (the test oracle): C = alpha*op(A)*op(B) + beta*C, then the epilogue.
void sgemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const GemmEpilogue& ep);

}  // namespace int8rt
