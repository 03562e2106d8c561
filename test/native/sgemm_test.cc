// The SGEMM engine against the scalar reference (sgemm_ref): every entry point, transposes, alpha/beta, each
// epilogue field, awkward shapes (1, primes, tile and block edges, long K), strided operands, 1 and 2 threads,
// and both kernel families (the AVX2 one where the CPU has it, and the portable one).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "kernels/sgemm-internal.h"
#include "kernels/sgemm.h"

namespace int8rt {
namespace {

struct Shape {
  int64_t M, N, K;
};

// Shapes around the 6x16 tile, the K block (256), the M block (144) and the GEMV paths.
const Shape kShapes[] = {
    {1, 1, 1},    {1, 1, 7},     {1, 17, 5},   {17, 1, 5},    {2, 3, 4},     {6, 16, 8},   {7, 13, 19},
    {5, 9, 3},    {12, 32, 256}, {13, 33, 257}, {37, 41, 53}, {1, 100, 300}, {100, 1, 300}, {150, 40, 30},
    {11, 150, 29}, {3, 70, 600}, {61, 7, 513},  {145, 18, 9}, {8, 8, 1},     {1, 64, 64},  {64, 1, 64},
};

std::vector<float> random_vec(size_t n, std::mt19937* rng) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(*rng);
  return v;
}

// |got - want| within a relative 1e-5, widened for long sums.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, int64_t K, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  const float scale = 1e-5f * std::max(1.f, float(K) / 64.f);
  int bad = 0;
  for (size_t i = 0; i < got.size(); i++) {
    const float tol = scale * (1.f + std::fabs(want[i]));
    if (!(std::fabs(got[i] - want[i]) <= tol) && !(std::isnan(got[i]) && std::isnan(want[i]))) {
      if (++bad <= 3) ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i];
    }
  }
  EXPECT_EQ(bad, 0) << what;
}

std::string describe(const Shape& s, bool ta, bool tb, int threads) {
  return "M=" + std::to_string(s.M) + " N=" + std::to_string(s.N) + " K=" + std::to_string(s.K) +
         " ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) + " threads=" + std::to_string(threads);
}

// Operands for op(A)[M,K] op(B)[K,N] with padded leading dimensions (ld > row length) to catch stride bugs.
struct Operands {
  int64_t lda, ldb, ldc;
  std::vector<float> A, B, C0;
  Operands(const Shape& s, bool ta, bool tb, std::mt19937* rng) {
    const int64_t ar = ta ? s.K : s.M, ac = ta ? s.M : s.K;
    const int64_t br = tb ? s.N : s.K, bc = tb ? s.K : s.N;
    lda = ac + 3;
    ldb = bc + 1;
    ldc = s.N + 2;
    // Exactly as long as the last row needs, so that an over-read shows under AddressSanitizer.
    A = random_vec(size_t(std::max<int64_t>((ar - 1) * lda + ac, 1)), rng);
    B = random_vec(size_t(std::max<int64_t>((br - 1) * ldb + bc, 1)), rng);
    C0 = random_vec(size_t((s.M - 1) * ldc + s.N), rng);
  }
};

class SgemmKernels : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    const std::string which = GetParam();
    if (which == "scalar") {
      sgemm_internal::set_kernels_for_testing(&sgemm_internal::scalar_kernels());
    } else {
#if defined(__x86_64__) || defined(_M_X64)
      if (!use_avx2()) GTEST_SKIP() << "no AVX2+FMA on this CPU";
      sgemm_internal::set_kernels_for_testing(&sgemm_internal::avx2_kernels());
#elif defined(__aarch64__)
      sgemm_internal::set_kernels_for_testing(&sgemm_internal::neon_kernels());  // the SIMD kernels of this CPU
#else
      GTEST_SKIP() << "no SIMD kernels for this architecture";
#endif
    }
  }
  void TearDown() override { sgemm_internal::set_kernels_for_testing(nullptr); }
};

TEST_P(SgemmKernels, GeneralMatchesReference) {
  std::mt19937 rng(11);
  const float alphas[][2] = {{1.f, 0.f}, {0.5f, 1.5f}, {-2.f, 0.25f}};
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    for (const Shape& s : kShapes)
      for (int t = 0; t < 4; t++) {
        const bool ta = t & 1, tb = t & 2;
        Operands op(s, ta, tb, &rng);
        for (const auto& ab : alphas) {
          std::vector<float> C = op.C0, R = op.C0;
          sgemm(ta, tb, s.M, s.N, s.K, ab[0], op.A.data(), op.lda, op.B.data(), op.ldb, ab[1], C.data(), op.ldc,
                &pool);
          sgemm_ref(ta, tb, s.M, s.N, s.K, ab[0], op.A.data(), op.lda, op.B.data(), op.ldb, ab[1], R.data(), op.ldc,
                    GemmEpilogue());
          expect_close(C, R, s.K, describe(s, ta, tb, threads) + " alpha=" + std::to_string(ab[0]));
        }
      }
  }
}

// Large enough for several M, N and K blocks and for both threads to get work.
TEST_P(SgemmKernels, LargeBlockedMatchesReference) {
  std::mt19937 rng(5);
  const Shape shapes[] = {{301, 4100, 40}, {290, 170, 700}, {1, 5000, 70}, {300, 1, 1000}};
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    for (const Shape& s : shapes) {
      Operands op(s, false, false, &rng);
      std::vector<float> C = op.C0, R = op.C0;
      sgemm(false, false, s.M, s.N, s.K, 1.f, op.A.data(), op.lda, op.B.data(), op.ldb, 1.f, C.data(), op.ldc, &pool);
      sgemm_ref(false, false, s.M, s.N, s.K, 1.f, op.A.data(), op.lda, op.B.data(), op.ldb, 1.f, R.data(), op.ldc,
                GemmEpilogue());
      expect_close(C, R, s.K, describe(s, false, false, threads));
    }
  }
}

// Each epilogue field alone, then all of them, through the three entry points.
TEST_P(SgemmKernels, EpilogueMatchesReference) {
  std::mt19937 rng(3);
  const Shape shapes[] = {{7, 13, 19}, {1, 40, 33}, {40, 1, 33}, {20, 35, 300}, {6, 16, 4}};
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    for (const Shape& s : shapes) {
      const std::vector<float> brow = random_vec(size_t(s.M), &rng), bcol = random_vec(size_t(s.N), &rng);
      const int64_t ldr = s.N + 5;
      const std::vector<float> res = random_vec(size_t((s.M - 1) * ldr + s.N), &rng);
      for (int variant = 0; variant < 7; variant++) {
        GemmEpilogue ep;
        if (variant == 0 || variant == 6) ep.bias_row = brow.data();
        if (variant == 1 || variant == 6) ep.bias_col = bcol.data();
        if (variant == 2 || variant == 6) ep.residual = res.data(), ep.ldr = ldr;
        if (variant == 3 || variant == 6) ep.clip_min = 0.f;
        if (variant == 4 || variant == 6) ep.clip_max = 0.5f;
        if (variant == 5) ep.clip_min = -0.25f, ep.clip_max = 0.25f;
        const std::string what = describe(s, false, false, threads) + " epilogue variant " + std::to_string(variant);
        for (int t = 0; t < 4; t++) {
          const bool ta = t & 1, tb = t & 2;
          Operands op(s, ta, tb, &rng);
          std::vector<float> R = op.C0;
          sgemm_ref(ta, tb, s.M, s.N, s.K, 1.f, op.A.data(), op.lda, op.B.data(), op.ldb, 0.f, R.data(), op.ldc, ep);
          std::vector<float> C = op.C0;
          sgemm(ta, tb, s.M, s.N, s.K, 1.f, op.A.data(), op.lda, op.B.data(), op.ldb, 0.f, C.data(), op.ldc, ep,
                &pool);
          expect_close(C, R, s.K, what + " sgemm");

          PackedA pa;
          ASSERT_TRUE(pack_a(op.A.data(), op.lda, ta, s.M, s.K, &pa).ok());
          C = op.C0;
          sgemm_packed_a(pa, s.N, op.B.data(), op.ldb, tb, C.data(), op.ldc, ep, &pool);
          expect_close(C, R, s.K, what + " packed_a ta=" + std::to_string(ta) + " tb=" + std::to_string(tb));

          PackedB pb;
          ASSERT_TRUE(pack_b(op.B.data(), op.ldb, tb, s.K, s.N, &pb).ok());
          C = op.C0;
          sgemm_packed_b(s.M, op.A.data(), op.lda, ta, pb, C.data(), op.ldc, ep, &pool);
          expect_close(C, R, s.K, what + " packed_b ta=" + std::to_string(ta) + " tb=" + std::to_string(tb));
        }
      }
    }
  }
}

TEST_P(SgemmKernels, PackedOperandsMatchReference) {
  std::mt19937 rng(9);
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    for (const Shape& s : kShapes)
      for (int t = 0; t < 4; t++) {
        const bool ta = t & 1, tb = t & 2;
        Operands op(s, ta, tb, &rng);
        std::vector<float> R = op.C0;
        sgemm_ref(ta, tb, s.M, s.N, s.K, 1.f, op.A.data(), op.lda, op.B.data(), op.ldb, 0.f, R.data(), op.ldc,
                  GemmEpilogue());
        PackedA pa;
        ASSERT_TRUE(pack_a(op.A.data(), op.lda, ta, s.M, s.K, &pa).ok());
        EXPECT_EQ(pa.M, s.M);
        EXPECT_EQ(pa.K, s.K);
        std::vector<float> C = op.C0;
        sgemm_packed_a(pa, s.N, op.B.data(), op.ldb, tb, C.data(), op.ldc, GemmEpilogue(), &pool);
        expect_close(C, R, s.K, describe(s, ta, tb, threads) + " packed_a");

        PackedB pb;
        ASSERT_TRUE(pack_b(op.B.data(), op.ldb, tb, s.K, s.N, &pb).ok());
        EXPECT_EQ(pb.K, s.K);
        EXPECT_EQ(pb.N, s.N);
        C = op.C0;
        sgemm_packed_b(s.M, op.A.data(), op.lda, ta, pb, C.data(), op.ldc, GemmEpilogue(), &pool);
        expect_close(C, R, s.K, describe(s, ta, tb, threads) + " packed_b");
      }
  }
}

// The conv use: weights packed once, reused for many inputs, the residual added in place (residual == C).
TEST_P(SgemmKernels, ResidualMayAliasOutput) {
  std::mt19937 rng(21);
  const int64_t M = 20, N = 50, K = 600;  // three K blocks: the residual must be read before C is overwritten
  const std::vector<float> A = random_vec(size_t(M * K), &rng), B = random_vec(size_t(K * N), &rng);
  const std::vector<float> res = random_vec(size_t(M * N), &rng);
  GemmEpilogue ep;
  ep.residual = res.data();
  ep.ldr = N;
  ep.clip_min = 0.f;
  std::vector<float> R(size_t(M * N));
  sgemm_ref(false, false, M, N, K, 1.f, A.data(), K, B.data(), N, 0.f, R.data(), N, ep);
  PackedA pa;
  ASSERT_TRUE(pack_a(A.data(), K, false, M, K, &pa).ok());
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    std::vector<float> C = res;
    GemmEpilogue in_place = ep;
    in_place.residual = C.data();
    sgemm_packed_a(pa, N, B.data(), N, false, C.data(), N, in_place, &pool);
    expect_close(C, R, K, "in-place residual, threads=" + std::to_string(threads));
  }
}

TEST_P(SgemmKernels, EmptyAndZeroK) {
  ThreadPool pool(2);
  // K == 0: C = epilogue(beta * C).
  std::vector<float> C = {1.f, -2.f, 3.f, -4.f}, bias = {10.f, 20.f};
  GemmEpilogue ep;
  ep.bias_col = bias.data();
  ep.clip_min = 0.f;
  sgemm(false, false, 2, 2, 0, 1.f, nullptr, 1, nullptr, 2, 0.5f, C.data(), 2, ep, &pool);
  EXPECT_EQ(C, (std::vector<float>{10.5f, 19.f, 11.5f, 18.f}));
  // M == 0 or N == 0: nothing is touched.
  std::vector<float> D = {7.f};
  sgemm(false, false, 0, 1, 3, 1.f, nullptr, 3, nullptr, 1, 0.f, D.data(), 1, &pool);
  sgemm(false, false, 1, 0, 3, 1.f, nullptr, 3, nullptr, 1, 0.f, D.data(), 1, &pool);
  EXPECT_EQ(D[0], 7.f);
  PackedA pa;
  ASSERT_TRUE(pack_a(nullptr, 1, false, 0, 5, &pa).ok());
  sgemm_packed_a(pa, 3, nullptr, 3, false, D.data(), 3, GemmEpilogue(), &pool);
  EXPECT_EQ(D[0], 7.f);
}

TEST_P(SgemmKernels, ClampKeepsNaN) {
  const std::vector<float> A = {NAN, 1.f};
  GemmEpilogue ep;
  ep.clip_min = 0.f;
  ep.clip_max = 6.f;
  for (int64_t n : {1, 20}) {  // the GEMV path and the block path
    std::vector<float> Bn(static_cast<size_t>(2 * n), 1.f), Cn(static_cast<size_t>(n));
    sgemm(false, false, 1, n, 2, 1.f, A.data(), 2, Bn.data(), n, 0.f, Cn.data(), n, ep, nullptr);
    for (float v : Cn) EXPECT_TRUE(std::isnan(v));
    PackedB pb;
    ASSERT_TRUE(pack_b(Bn.data(), n, false, 2, n, &pb).ok());
    sgemm_packed_b(1, A.data(), 2, false, pb, Cn.data(), n, ep, nullptr);
    for (float v : Cn) EXPECT_TRUE(std::isnan(v));
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, SgemmKernels, ::testing::Values("native", "scalar"),
                         [](const ::testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

TEST(Sgemm, PackRejectsBadArguments) {
  PackedA pa;
  EXPECT_FALSE(pack_a(nullptr, 4, false, 2, 4, &pa).ok());
  std::vector<float> A(8);
  EXPECT_FALSE(pack_a(A.data(), 2, false, 2, 4, &pa).ok());  // lda < K
  EXPECT_FALSE(pack_a(A.data(), 4, false, -1, 4, &pa).ok());
  PackedB pb;
  EXPECT_FALSE(pack_b(A.data(), 1, false, 2, 4, &pb).ok());  // ldb < N
  EXPECT_TRUE(pack_b(A.data(), 4, false, 2, 4, &pb).ok());
}

TEST(Sgemm, KernelNameNamesTheIsa) {
  const std::string name = sgemm_kernel_name();
  EXPECT_EQ(name, use_avx2() ? "avx2_6x16" : use_neon() ? "neon_6x16" : "scalar_6x16");
}

}  // namespace
}  // namespace int8rt
