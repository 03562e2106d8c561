#include <gtest/gtest.h>

#include <random>

#include "kernels/sgemm.h"

namespace int8rt {

TEST(Sgemm, PackedAMatchesReference) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  int64_t M = 7, N = 13, K = 19;
  std::vector<float> A(M * K), B(K * N), C(M * N), R(M * N);
  for (auto& v : A) v = u(rng);
  for (auto& v : B) v = u(rng);
  PackedA pa;
  ASSERT_TRUE(pack_a(A.data(), K, false, M, K, &pa).ok());
  sgemm_packed_a(pa, N, B.data(), N, false, C.data(), N, GemmEpilogue(), nullptr);
  sgemm_ref(false, false, M, N, K, 1.f, A.data(), K, B.data(), N, 0.f, R.data(), N, GemmEpilogue());
  for (int64_t i = 0; i < M * N; i++) EXPECT_NEAR(C[i], R[i], 1e-4f);
}

}  // namespace int8rt
