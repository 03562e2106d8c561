// Scalar reference SGEMM: straightforward loops, double-free of any cleverness. The oracle for the fast kernels.
#include <algorithm>

#include "kernels/sgemm.h"

namespace int8rt {

void sgemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const GemmEpilogue& ep) {
  for (int64_t m = 0; m < M; m++) {
    for (int64_t n = 0; n < N; n++) {
      float acc = 0.f;
      for (int64_t k = 0; k < K; k++) {
        float a = trans_a ? A[k * lda + m] : A[m * lda + k];
        float b = trans_b ? B[n * ldb + k] : B[k * ldb + n];
        acc += a * b;
      }
      float c = alpha * acc + (beta == 0.f ? 0.f : beta * C[m * ldc + n]);
      if (ep.bias_row) c += ep.bias_row[m];
      if (ep.bias_col) c += ep.bias_col[n];
      if (ep.residual) c += ep.residual[m * ep.ldr + n];
      C[m * ldc + n] = std::min(std::max(c, ep.clip_min), ep.clip_max);
    }
  }
}

}  // namespace int8rt
