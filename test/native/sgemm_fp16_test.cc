// Half-precision packings (precision 'fp16'): pack_a/pack_b with half = true store binary16 panels and widen them
// to float32 at run time, so the packed GEMM must equal the float GEMM run on the half-rounded operand (up to float
// summation order), on every path: blocks, the matrix-vector shapes, epilogues, 1 and 2 threads, both kernel
// families.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/thread_pool.h"
#include "kernels/sgemm-internal.h"
#include "kernels/sgemm.h"

namespace int8rt {
namespace {

struct Shape {
  int64_t M, N, K;
};

const Shape kShapes[] = {
    {1, 1, 1},  {1, 1, 7},     {1, 17, 5},    {17, 1, 5},   {7, 13, 19},  {12, 32, 256}, {13, 33, 257},
    {37, 41, 53}, {1, 100, 300}, {100, 1, 300}, {150, 40, 30}, {3, 70, 600}, {61, 7, 513},  {145, 18, 9},
};

std::vector<float> random_vec(size_t n, std::mt19937* rng) {
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(*rng);
  return v;
}

std::vector<float> half_rounded(const std::vector<float>& v) {
  std::vector<float> r(v.size());
  for (size_t i = 0; i < v.size(); i++) r[i] = half_to_float(float_to_half(v[i]));
  return r;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, int64_t K, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  const float scale = 1e-5f * std::max(1.f, float(K) / 64.f);
  int bad = 0;
  for (size_t i = 0; i < got.size(); i++) {
    const float tol = scale * (1.f + std::fabs(want[i]));
    if (!(std::fabs(got[i] - want[i]) <= tol)) {
      if (++bad <= 3) ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i];
    }
  }
  EXPECT_EQ(bad, 0) << what;
}

class SgemmHalf : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (std::string(GetParam()) == "scalar") {
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

TEST_P(SgemmHalf, PackedHalfEqualsFloatOnRoundedWeights) {
  std::mt19937 rng(5);
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    for (const Shape& s : kShapes)
      for (int t = 0; t < 4; t++) {
        const bool ta = t & 1, tb = t & 2;
        const int64_t lda = (ta ? s.M : s.K) + 2, ldb = (tb ? s.K : s.N) + 1, ldc = s.N + 3;
        const std::vector<float> A = random_vec(size_t((ta ? s.K : s.M) * lda), &rng);
        const std::vector<float> B = random_vec(size_t((tb ? s.N : s.K) * ldb), &rng);
        const std::vector<float> C0 = random_vec(size_t(s.M * ldc), &rng);
        const std::vector<float> bias = random_vec(size_t(s.M + s.N), &rng);
        GemmEpilogue ep;
        ep.bias_row = bias.data();
        ep.clip_min = -1.f;
        const std::string what = "M=" + std::to_string(s.M) + " N=" + std::to_string(s.N) +
                                 " K=" + std::to_string(s.K) + " ta=" + std::to_string(ta) +
                                 " tb=" + std::to_string(tb) + " threads=" + std::to_string(threads);

        // Left operand half (Conv weights).
        const std::vector<float> Ah = half_rounded(A);
        std::vector<float> R = C0;
        sgemm_ref(ta, tb, s.M, s.N, s.K, 1.f, Ah.data(), lda, B.data(), ldb, 0.f, R.data(), ldc, ep);
        PackedA pa;
        ASSERT_TRUE(pack_a(A.data(), lda, ta, s.M, s.K, &pa, /*half=*/true).ok());
        EXPECT_TRUE(pa.half);
        EXPECT_TRUE(pa.data.empty());
        EXPECT_EQ(pa.half_data.size(), size_t((s.M + 5) / 6 * 6 * s.K));
        std::vector<float> C = C0;
        sgemm_packed_a(pa, s.N, B.data(), ldb, tb, C.data(), ldc, ep, &pool);
        expect_close(C, R, s.K, what + " packed_a half");

        // Right operand half (Gemm/MatMul weights).
        ep.bias_row = nullptr;
        ep.bias_col = bias.data() + s.M;
        const std::vector<float> Bh = half_rounded(B);
        R = C0;
        sgemm_ref(ta, tb, s.M, s.N, s.K, 1.f, A.data(), lda, Bh.data(), ldb, 0.f, R.data(), ldc, ep);
        PackedB pb;
        ASSERT_TRUE(pack_b(B.data(), ldb, tb, s.K, s.N, &pb, /*half=*/true).ok());
        EXPECT_TRUE(pb.half);
        EXPECT_TRUE(pb.data.empty());
        C = C0;
        sgemm_packed_b(s.M, A.data(), lda, ta, pb, C.data(), ldc, ep, &pool);
        expect_close(C, R, s.K, what + " packed_b half");
      }
  }
}

// The widening is exact: every finite half, the infinities and NaN survive the round trip through a packing.
TEST(SgemmHalfWiden, PortableAndF16cAgreeOnAllHalves) {
  std::vector<uint16_t> h(65536);
  for (size_t i = 0; i < h.size(); i++) h[i] = uint16_t(i);
  std::vector<float> a(h.size()), b(h.size());
  sgemm_internal::widen_half_portable(h.data(), int64_t(h.size()), a.data());
  for (size_t i = 0; i < h.size(); i++) {
    const float want = half_to_float(h[i]);
    if (std::isnan(want)) EXPECT_TRUE(std::isnan(a[i])) << i;
    else EXPECT_EQ(a[i], want) << i;
  }
#if defined(__x86_64__) || defined(_M_X64)
  if (!use_avx2() || !cpu_features().f16c) GTEST_SKIP() << "no F16C";
  sgemm_internal::widen_half_f16c(h.data() + 3, int64_t(h.size()) - 3, b.data());  // unaligned, with a tail
  for (size_t i = 3; i < h.size(); i++) {
    if (std::isnan(a[i])) EXPECT_TRUE(std::isnan(b[i - 3])) << i;
    else EXPECT_EQ(b[i - 3], a[i]) << i;
  }
#endif
}

INSTANTIATE_TEST_SUITE_P(Kernels, SgemmHalf, ::testing::Values("scalar", "avx2"));

}  // namespace
}  // namespace int8rt
