// Placeholder dispatch until the AVX2 kernels land: everything goes to the reference.
#include "kernels/sgemm.h"

namespace int8rt {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc, ThreadPool*) {
  sgemm_ref(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, GemmEpilogue());
}

Status pack_a(const float* A, int64_t lda, bool trans_a, int64_t M, int64_t K, PackedA* out) {
  out->M = M;
  out->K = K;
  out->data.resize(size_t(M * K));
  for (int64_t m = 0; m < M; m++)
    for (int64_t k = 0; k < K; k++) out->data[m * K + k] = trans_a ? A[k * lda + m] : A[m * lda + k];
  return Status::OK();
}

void sgemm_packed_a(const PackedA& A, int64_t N, const float* B, int64_t ldb, bool trans_b, float* C, int64_t ldc,
                    const GemmEpilogue& ep, ThreadPool*) {
  sgemm_ref(false, trans_b, A.M, N, A.K, 1.f, A.data.data(), A.K, B, ldb, 0.f, C, ldc, ep);
}

Status pack_b(const float* B, int64_t ldb, bool trans_b, int64_t K, int64_t N, PackedB* out) {
  out->K = K;
  out->N = N;
  out->data.resize(size_t(K * N));
  for (int64_t k = 0; k < K; k++)
    for (int64_t n = 0; n < N; n++) out->data[k * N + n] = trans_b ? B[n * ldb + k] : B[k * ldb + n];
  return Status::OK();
}

void sgemm_packed_b(int64_t M, const float* A, int64_t lda, bool trans_a, const PackedB& B, float* C, int64_t ldc,
                    const GemmEpilogue& ep, ThreadPool*) {
  sgemm_ref(trans_a, false, M, B.N, B.K, 1.f, A, lda, B.data.data(), B.N, 0.f, C, ldc, ep);
}

}  // namespace int8rt
