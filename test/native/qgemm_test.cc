// The int8 GEMM against its scalar references (qgemm_ref_*), bit for bit: every kernel family this CPU can run
// (scalar, AVX2, AVX-VNNI / AVX512-VNNI) forced in turn, the run-time choice, int32 / int8 / float outputs, each
// epilogue term (bias, per-row multipliers, residual, qmin/qmax incl. Relu, float clamps, ties that round to even),
// awkward shapes (1, primes, tile and block edges, K = 0, K not a multiple of the k group), strided operands,
// all-extreme values, and 1 and 2 threads. Run it also under INT8RT_ISA=avx2 and INT8RT_ISA=scalar.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "kernels/qgemm-internal.h"
#include "kernels/qgemm.h"

namespace int8rt {
namespace {

using qgemm_internal::Kernels;

struct Shape {
  int64_t M, N, K;
};

// Around the tiles (4/6/8 x 16, 8-wide tail panels), the k groups (1/2/4), the B column block (~192 KiB packed:
// K = 1100 splits N = 300) and the A row block (K = 1100 splits M = 300), both at once with a widened A (K = 4608:
// 18-row A blocks and 64-column B blocks in the AVX2 family, so on one thread M = 40 x N = 70 widens three A blocks
// per column block), and the matrix-vector shapes (N = 1).
const Shape kShapes[] = {
    {1, 1, 1},     {1, 1, 7},    {1, 17, 5},    {17, 1, 5},     {2, 3, 4},     {8, 16, 4},    {7, 13, 19},
    {9, 9, 3},     {6, 25, 6},   {5, 24, 2},    {13, 33, 257},  {37, 41, 53},  {1, 100, 300}, {100, 1, 300},
    {64, 49, 576}, {3, 70, 600}, {61, 7, 513},  {145, 18, 9},   {8, 8, 1},     {16, 32, 64},  {4, 5, 0},
    {70, 300, 1100}, {300, 20, 1100}, {12, 8, 4},  {24, 40, 127}, {130, 1, 2049}, {6, 1, 3}, {49, 1, 64},
    {40, 70, 4608},
};

enum class Fill { kRandom, kMinMin, kMaxMin, kAlternating, kSmall };

std::vector<int8_t> fill(size_t n, Fill f, std::mt19937* rng, int which) {
  std::vector<int8_t> v(n);
  std::uniform_int_distribution<int> u(-128, 127);
  for (size_t i = 0; i < n; i++) {
    switch (f) {
      case Fill::kRandom: v[i] = int8_t(u(*rng)); break;
      case Fill::kMinMin: v[i] = -128; break;
      case Fill::kMaxMin: v[i] = which == 0 ? 127 : -128; break;
      case Fill::kAlternating: v[i] = ((i + which) & 1) ? 127 : -128; break;
      case Fill::kSmall: v[i] = int8_t(u(*rng) % 3); break;
    }
  }
  return v;
}

struct Case {
  Shape s;
  Fill fill = Fill::kRandom;
  bool bias = true, residual = false;
  int32_t qmin = -128, qmax = 127;
  float fmin = -INFINITY, fmax = INFINITY;
  bool tight = false;  // leading dimensions equal to the row lengths (over-reads hit the end of the buffers)
};

std::string describe(const Case& c, const Kernels* k, int threads) {
  return std::string(k ? k->name : qgemm_kernel_name().c_str()) + " M=" + std::to_string(c.s.M) +
         " N=" + std::to_string(c.s.N) + " K=" + std::to_string(c.s.K) + " fill=" + std::to_string(int(c.fill)) +
         " bias=" + std::to_string(c.bias) + " residual=" + std::to_string(c.residual) + " q=[" +
         std::to_string(c.qmin) + "," + std::to_string(c.qmax) + "] threads=" + std::to_string(threads);
}

template <typename T>
void expect_same_bits(const std::vector<T>& got, const std::vector<T>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  int bad = 0;
  for (size_t i = 0; i < got.size(); i++) {
    if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0) {
      if (++bad <= 3) ADD_FAILURE() << what << ": element " << i << " got " << +got[i] << " want " << +want[i];
    }
  }
  EXPECT_EQ(bad, 0) << what;
}

// Packs with `k` (nullptr: the run-time choice) and checks the three outputs against the references. Leading
// dimensions are padded, and the padding of C must come back untouched.
void check(const Case& c, const Kernels* k, ThreadPool* pool, std::mt19937* rng) {
  const int64_t M = c.s.M, N = c.s.N, K = c.s.K;
  const int64_t pad = c.tight ? 0 : 1;
  const int64_t lda = K + 3 * pad, ldb = N + 5 * pad, ldc = N + 2 * pad, ldr = N + pad;
  const std::string what = describe(c, k, pool ? pool->num_threads() : 1);
  std::vector<int8_t> A = fill(size_t(M * lda), c.fill, rng, 0);
  std::vector<int8_t> B = fill(size_t(K * ldb), c.fill, rng, 1);
  std::vector<int8_t> R = fill(size_t(M * ldr), Fill::kRandom, rng, 2);
  std::vector<int32_t> bias(static_cast<size_t>(M));
  std::vector<float> mult(static_cast<size_t>(M));
  // Small operands with small biases make most of the 0.5 and 0.25 rows land on exact halves (ties).
  const int32_t bias_range = c.fill == Fill::kSmall ? 3 : 200000;
  std::uniform_int_distribution<int32_t> ub(-bias_range, bias_range);
  // Multipliers that spread the accumulators over the int8 range, and exact halves (ties) on some rows.
  const float typical = 1.f / (40.f * std::sqrt(float(std::max<int64_t>(K, 1))) * 128.f);
  for (int64_t m = 0; m < M; m++) {
    bias[size_t(m)] = ub(*rng);
    mult[size_t(m)] = m % 5 == 1 ? 0.5f : m % 5 == 3 ? 0.25f : typical * float(1 + m % 7);
  }
  QEpilogue ep;
  ep.bias = c.bias ? bias.data() : nullptr;
  ep.multiplier = mult.data();
  ep.residual = c.residual ? R.data() : nullptr;
  ep.ldr = ldr;
  ep.residual_multiplier = 0.37f;
  ep.qmin = c.qmin;
  ep.qmax = c.qmax;
  ep.fmin = c.fmin;
  ep.fmax = c.fmax;

  qgemm_internal::set_kernels_for_testing(k);
  QPackedA pa;
  Status st = qpack_a(A.data(), lda, M, K, &pa);
  qgemm_internal::set_kernels_for_testing(nullptr);
  ASSERT_TRUE(st.ok()) << st.message();

  {
    std::vector<int32_t> want(size_t(M * ldc), 0x5a5a5a5a), got = want;
    qgemm_ref_s32(M, N, K, A.data(), lda, B.data(), ldb, want.data(), ldc);
    qgemm_s8_s32(pa, N, B.data(), ldb, got.data(), ldc, pool);
    expect_same_bits(got, want, what + " s32");
  }
  {
    std::vector<int8_t> want(size_t(M * ldc), 0x5a), got = want;
    qgemm_ref_s8(M, N, K, A.data(), lda, B.data(), ldb, want.data(), ldc, ep);
    qgemm_s8(pa, N, B.data(), ldb, got.data(), ldc, ep, pool);
    expect_same_bits(got, want, what + " s8");
  }
  {
    std::vector<float> want(size_t(M * ldc), -7.f), got = want;
    qgemm_ref_f32(M, N, K, A.data(), lda, B.data(), ldb, want.data(), ldc, ep);
    qgemm_s8_f32(pa, N, B.data(), ldb, got.data(), ldc, ep, pool);
    expect_same_bits(got, want, what + " f32");
  }
}

std::vector<const Kernels*> families_and_default() {
  std::vector<const Kernels*> v = qgemm_internal::available_kernels();
  v.push_back(nullptr);  // the run-time choice (INT8RT_ISA applies)
  return v;
}

TEST(QGemm, ShapesAllFamilies) {
  std::mt19937 rng(1);
  ThreadPool pool2(2);
  for (const Kernels* k : families_and_default())
    for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &pool2})
      for (const Shape& s : kShapes) {
        Case c;
        c.s = s;
        check(c, k, pool, &rng);
        c.tight = true;
        c.residual = true;
        check(c, k, pool, &rng);
      }
}

TEST(QGemm, EpilogueVariants) {
  std::mt19937 rng(2);
  ThreadPool pool2(2);
  const Shape shapes[] = {{7, 13, 19}, {37, 41, 53}, {64, 49, 576}, {17, 1, 5}, {1, 100, 300}};
  struct Ep {
    bool bias, residual;
    int32_t qmin, qmax;
    float fmin, fmax;
  };
  const Ep eps[] = {
      {false, false, -128, 127, -INFINITY, INFINITY}, {true, false, 0, 127, 0.f, INFINITY},
      {true, true, -128, 127, -INFINITY, INFINITY},   {false, true, 0, 127, 0.f, INFINITY},
      {true, true, -5, 6, -1.5f, 6.f},                {true, false, -300, 500, -INFINITY, 3.f},
      {true, true, 10, 5, 2.f, 1.f},
  };
  for (const Kernels* k : families_and_default())
    for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &pool2})
      for (const Shape& s : shapes)
        for (const Ep& e : eps) {
          Case c;
          c.s = s;
          c.bias = e.bias;
          c.residual = e.residual;
          c.qmin = e.qmin;
          c.qmax = e.qmax;
          c.fmin = e.fmin;
          c.fmax = e.fmax;
          check(c, k, pool, &rng);
          c.fill = Fill::kSmall;
          check(c, k, pool, &rng);
        }
}

TEST(QGemm, ExtremeValues) {
  std::mt19937 rng(3);
  ThreadPool pool2(2);
  // K up to 4099: 4099 * 128 * 128 still fits int32 with room for the bias; the shifted families' intermediate
  // sums (b + 128 up to 255) exercise the row-sum correction at its largest.
  const Shape shapes[] = {{8, 16, 4},   {9, 17, 5},    {33, 47, 4099}, {1, 1, 4099},
                          {20, 1, 1023}, {64, 1, 4099}, {64, 49, 576}};
  for (const Kernels* k : families_and_default())
    for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &pool2})
      for (const Shape& s : shapes)
        for (Fill f : {Fill::kMinMin, Fill::kMaxMin, Fill::kAlternating})
          for (bool residual : {false, true}) {
            Case c;
            c.s = s;
            c.fill = f;
            c.residual = residual;
            check(c, k, pool, &rng);
          }
}

TEST(QGemm, RandomShapes) {
  std::mt19937 rng(4);
  ThreadPool pool2(2);
  std::uniform_int_distribution<int> um(1, 80), un(1, 120), uk(0, 700);
  for (const Kernels* k : families_and_default())
    for (int i = 0; i < 30; i++) {
      Case c;
      c.s = {um(rng), un(rng), uk(rng)};
      c.residual = i % 3 == 0;
      c.qmin = i % 2 ? 0 : -128;
      c.tight = i % 4 < 2;
      check(c, k, i % 2 ? &pool2 : nullptr, &rng);
    }
}

// The scalar loops qgemm falls back to when a packing buffer cannot be allocated, on every family's packed A.
TEST(QGemm, AllocationFallback) {
  std::mt19937 rng(6);
  ThreadPool pool2(2);
  const Shape shapes[] = {{7, 13, 19}, {37, 41, 53}, {17, 1, 5}, {70, 300, 1100}};
  qgemm_internal::set_fallback_for_testing(true);
  for (const Kernels* k : families_and_default())
    for (const Shape& s : shapes) {
      Case c;
      c.s = s;
      c.residual = true;
      c.tight = true;
      check(c, k, &pool2, &rng);
    }
  qgemm_internal::set_fallback_for_testing(false);
}

// Scalar NaN/infinite multipliers: int8 outputs clamp NaN to qmin, float outputs pass it through, in every family.
TEST(QGemm, NonFiniteMultipliers) {
  const int64_t M = 5, N = 19, K = 9;
  std::mt19937 rng(5);
  std::vector<int8_t> A = fill(size_t(M * K), Fill::kRandom, &rng, 0), B = fill(size_t(K * N), Fill::kRandom, &rng, 1);
  std::vector<float> mult = {std::numeric_limits<float>::quiet_NaN(), INFINITY, -INFINITY, 0.f, 1e30f};
  QEpilogue ep;
  ep.multiplier = mult.data();
  ep.qmin = -100;
  for (const Kernels* k : families_and_default()) {
    qgemm_internal::set_kernels_for_testing(k);
    QPackedA pa;
    ASSERT_TRUE(qpack_a(A.data(), K, M, K, &pa).ok());
    qgemm_internal::set_kernels_for_testing(nullptr);
    std::vector<int8_t> want8(size_t(M * N)), got8(size_t(M * N));
    qgemm_ref_s8(M, N, K, A.data(), K, B.data(), N, want8.data(), N, ep);
    qgemm_s8(pa, N, B.data(), N, got8.data(), N, ep, nullptr);
    expect_same_bits(got8, want8, std::string("nonfinite s8 ") + (k ? k->name : "default"));
    EXPECT_EQ(want8[0], -100);
    std::vector<float> wantf(size_t(M * N)), gotf(size_t(M * N));
    qgemm_ref_f32(M, N, K, A.data(), K, B.data(), N, wantf.data(), N, ep);
    qgemm_s8_f32(pa, N, B.data(), N, gotf.data(), N, ep, nullptr);
    expect_same_bits(gotf, wantf, std::string("nonfinite f32 ") + (k ? k->name : "default"));
  }
}

TEST(QGemm, KernelChoiceFollowsIsa) {
  const std::string name = qgemm_kernel_name();
  switch (active_isa()) {
    case Isa::kAvxVnni: EXPECT_NE(name.find("vnni"), std::string::npos) << name; break;
    case Isa::kAvx2: EXPECT_NE(name.find("avx2"), std::string::npos) << name; break;
    case Isa::kScalar: EXPECT_NE(name.find("scalar"), std::string::npos) << name; break;
    default: break;
  }
  if (const char* env = std::getenv("INT8RT_ISA")) {
    if (!std::strcmp(env, "scalar")) EXPECT_NE(name.find("scalar"), std::string::npos) << name;
    if (!std::strcmp(env, "avx2") && cpu_features().avx2) EXPECT_NE(name.find("avx2"), std::string::npos) << name;
  }
}

TEST(QGemm, BadArguments) {
  QPackedA pa;
  EXPECT_FALSE(qpack_a(nullptr, 4, 2, 4, &pa).ok());
  std::vector<int8_t> A(8, 1);
  EXPECT_FALSE(qpack_a(A.data(), 3, 2, 4, &pa).ok());
  EXPECT_FALSE(qpack_a(A.data(), 4, -1, 4, &pa).ok());
  ASSERT_TRUE(qpack_a(A.data(), 4, 2, 4, &pa).ok());
  // A packing that was tampered with, or a null multiplier: nothing is written.
  std::vector<int8_t> B(8, 1), C(4, 9);
  QEpilogue ep;
  qgemm_s8(pa, 2, B.data(), 2, C.data(), 2, ep, nullptr);
  EXPECT_EQ(C, std::vector<int8_t>(4, 9));
  QPackedA bad = pa;
  bad.data.pop_back();
  std::vector<int32_t> C32(4, 9);
  qgemm_s8_s32(bad, 2, B.data(), 2, C32.data(), 2, nullptr);
  EXPECT_EQ(C32, std::vector<int32_t>(4, 9));
  // Empty problems are no-ops.
  QPackedA empty;
  ASSERT_TRUE(qpack_a(nullptr, 0, 0, 5, &empty).ok());
  qgemm_s8_s32(empty, 3, B.data(), 3, C32.data(), 3, nullptr);
  qgemm_s8_s32(pa, 0, B.data(), 0, C32.data(), 0, nullptr);
  EXPECT_EQ(C32, std::vector<int32_t>(4, 9));
}

}  // namespace
}  // namespace int8rt
