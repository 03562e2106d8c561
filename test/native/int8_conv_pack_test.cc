// The implicit-im2col int8 GEMM (qgemm_s8_im2col, kernels/qgemm.h) against the path it replaced in the int8 Conv:
// conv_params::im2col_2d into a matrix, then qgemm_s8 on it. Bit for bit, for every kernel family this CPU runs
// (forced in turn: the fused packers, and the staged per-panel packing of the families without one), on awkward
// conv shapes: odd sizes, padding wider than the kernel reach, stride 2 and 3, dilation, 1 channel, K not a multiple
// of 4 or 16, a single output pixel, a 1-D conv, groups, 1 and 2 threads, the allocation fallback. The fused packers are
// also compared byte for byte with pack_b on the materialised matrix, block by block.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/qgemm-internal.h"
#include "kernels/qgemm.h"
#include "ops/conv_params.h"

namespace int8rt {
namespace {

using qgemm_internal::Kernels;

struct ConvShape {
  int64_t M, C, IH, IW, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
};

// Output extent of one axis (the shape is built so that the kernel fits).
int64_t out_extent(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe) {
  return (in + pb + pe - ((k - 1) * d + 1)) / s + 1;
}

QIm2col descriptor(const ConvShape& c, const int8_t* img) {
  QIm2col s;
  s.img = img;
  s.C = c.C;
  s.IH = c.IH;
  s.IW = c.IW;
  s.OH = out_extent(c.IH, c.kh, c.sh, c.dh, c.pt, c.pb);
  s.OW = out_extent(c.IW, c.kw, c.sw, c.dw, c.pl, c.pr);
  s.kh = c.kh;
  s.kw = c.kw;
  s.sh = c.sh;
  s.sw = c.sw;
  s.dh = c.dh;
  s.dw = c.dw;
  s.pt = c.pt;
  s.pl = c.pl;
  return s;
}

// The im2col matrix the int8 Conv used to build: conv_params::im2col_2d over all output pixels.
std::vector<int8_t> im2col_matrix(const QIm2col& s) {
  conv_params::Patch2d p;
  p.IH = s.IH;
  p.IW = s.IW;
  p.CH = s.OH;
  p.CW = s.OW;
  p.kh = s.kh;
  p.kw = s.kw;
  p.sh = s.sh;
  p.sw = s.sw;
  p.dh = s.dh;
  p.dw = s.dw;
  p.pt = s.pt;
  p.pl = s.pl;
  const int64_t K = s.C * s.kh * s.kw, P = s.OH * s.OW;
  std::vector<int8_t> col(size_t(K * P));
  conv_params::im2col_2d(p, s.img, 0, K, 0, P, col.data());
  return col;
}

std::string describe(const ConvShape& c, const Kernels* k) {
  return std::string(k->name) + " M=" + std::to_string(c.M) + " C=" + std::to_string(c.C) + " in=" +
         std::to_string(c.IH) + "x" + std::to_string(c.IW) + " k=" + std::to_string(c.kh) + "x" + std::to_string(c.kw) +
         " s=" + std::to_string(c.sh) + "," + std::to_string(c.sw) + " d=" + std::to_string(c.dh) + "," +
         std::to_string(c.dw) + " pads=" + std::to_string(c.pt) + "," + std::to_string(c.pl) + "," +
         std::to_string(c.pb) + "," + std::to_string(c.pr);
}

// ResNet-like layers (7x7 stride-2 stem, 3x3, 1x1 stride 2 on 14x14 and 7x7 planes) and awkward ones.
const ConvShape kShapes[] = {
    // M  C   IH  IW  kh kw sh sw dh dw pt pl pb pr
    {16, 3, 23, 21, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3},   // stem-like, K = 147
    {24, 16, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  // 14x14 3x3, panels straddle output rows
    {8, 8, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},      // 7x7: up to 4 segments per panel, N = 49
    {9, 12, 14, 14, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0},   // 1x1 stride 2
    {13, 5, 15, 17, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},   // odd planes, stride 2, K = 45
    {7, 1, 9, 11, 3, 5, 1, 1, 1, 1, 0, 2, 0, 2},     // 1 channel, K = 15
    {5, 3, 10, 12, 3, 3, 1, 1, 2, 3, 2, 3, 2, 3},    // dilation
    {6, 2, 11, 13, 2, 3, 3, 3, 1, 2, 1, 0, 2, 1},    // stride 3, asymmetric pads
    {4, 7, 5, 6, 3, 3, 1, 1, 1, 1, 4, 5, 4, 5},      // padding beyond the kernel reach: all-zero rows and columns
    {3, 5, 3, 3, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0},      // one output pixel (N = 1, the matrix-vector path)
    {10, 6, 1, 40, 1, 5, 1, 2, 1, 1, 0, 2, 0, 1},    // 1-D (unit height), stride 2
    {33, 17, 8, 5, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1},    // padded 1x1
    {40, 64, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    // K = 576, N = 81: B blocks split the columns
    {20, 130, 4, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   // K = 1170: more than one B block on 24 columns
    {8, 2, 40, 3, 2, 2, 2, 1, 1, 1, 0, 0, 0, 0},     // OW = 2: 8 output rows per panel
};

std::vector<int8_t> random_bytes(size_t n, std::mt19937* rng) {
  std::uniform_int_distribution<int> u(-128, 127);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = int8_t(u(*rng));
  return v;
}

void check(const ConvShape& c, const Kernels* k, ThreadPool* pool, std::mt19937* rng, bool residual) {
  const std::string what = describe(c, k) + " threads=" + std::to_string(pool ? pool->num_threads() : 1);
  const std::vector<int8_t> img = random_bytes(size_t(c.C * c.IH * c.IW), rng);
  const QIm2col s = descriptor(c, img.data());
  const int64_t K = c.C * c.kh * c.kw, N = s.OH * s.OW, M = c.M, ldc = N + 3;
  const std::vector<int8_t> A = random_bytes(size_t(M * K), rng);
  const std::vector<int8_t> col = im2col_matrix(s);
  const std::vector<int8_t> R = random_bytes(size_t(M * N), rng);
  std::vector<int32_t> bias(static_cast<size_t>(M));
  std::vector<float> mult(static_cast<size_t>(M));
  std::uniform_int_distribution<int32_t> ub(-5000, 5000);
  for (int64_t m = 0; m < M; m++) {
    bias[size_t(m)] = ub(*rng);
    mult[size_t(m)] = m % 3 == 1 ? 0.5f : 1.f / (40.f * float(K) + 7.f) * float(1 + m % 5);
  }
  QEpilogue ep;
  ep.bias = bias.data();
  ep.multiplier = mult.data();
  if (residual) {
    ep.residual = R.data();
    ep.ldr = N;
    ep.residual_multiplier = 0.37f;
    ep.qmin = 0;
  }

  qgemm_internal::set_kernels_for_testing(k);
  QPackedA pa;
  const Status st = qpack_a(A.data(), K, M, K, &pa);
  qgemm_internal::set_kernels_for_testing(nullptr);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(pa.isa, k->id);

  {
    std::vector<int32_t> want(size_t(M * ldc), 0x5a5a5a5a), got = want, ref = want;
    qgemm_s8_s32(pa, N, col.data(), N, want.data(), ldc, pool);
    qgemm_s8_s32_im2col(pa, s, got.data(), ldc, pool);
    qgemm_ref_s32(M, N, K, A.data(), K, col.data(), N, ref.data(), ldc);
    ASSERT_EQ(want, ref) << what << " (the matrix path itself)";
    ASSERT_EQ(got, want) << what << " s32";
  }
  {
    std::vector<int8_t> want(size_t(M * ldc), 0x5a), got = want;
    qgemm_s8(pa, N, col.data(), N, want.data(), ldc, ep, pool);
    qgemm_s8_im2col(pa, s, got.data(), ldc, ep, pool);
    ASSERT_EQ(got, want) << what << " s8";
  }
}

TEST(QGemmIm2col, MatchesIm2colMatrixAllFamilies) {
  std::mt19937 rng(1234);
  ThreadPool pool2(2);
  for (const Kernels* k : qgemm_internal::available_kernels())
    for (const ConvShape& c : kShapes) {
      check(c, k, nullptr, &rng, false);
      check(c, k, &pool2, &rng, true);
    }
}

// Grouped convs: group g's GEMM reads channels [g * Cg, (g + 1) * Cg) of the image, the descriptor pointing at
// the group's first plane, as the int8 Conv passes it.
TEST(QGemmIm2col, Groups) {
  std::mt19937 rng(77);
  const int64_t G = 3, Cg = 5, H = 9, W = 10, Mg = 7;
  const std::vector<int8_t> img = random_bytes(size_t(G * Cg * H * W), &rng);
  for (const Kernels* k : qgemm_internal::available_kernels()) {
    for (int64_t g = 0; g < G; g++) {
      const ConvShape c{Mg, Cg, H, W, 3, 3, 2, 1, 1, 2, 1, 2, 1, 2};
      const QIm2col s = descriptor(c, img.data() + g * Cg * H * W);
      const int64_t K = Cg * 9, N = s.OH * s.OW;
      const std::vector<int8_t> A = random_bytes(size_t(Mg * K), &rng);
      const std::vector<int8_t> col = im2col_matrix(s);
      qgemm_internal::set_kernels_for_testing(k);
      QPackedA pa;
      const Status st = qpack_a(A.data(), K, Mg, K, &pa);
      qgemm_internal::set_kernels_for_testing(nullptr);
      ASSERT_TRUE(st.ok()) << st.message();
      std::vector<int32_t> want(size_t(Mg * N), 1), got(size_t(Mg * N), 2);
      qgemm_s8_s32(pa, N, col.data(), N, want.data(), N, nullptr);
      qgemm_s8_s32_im2col(pa, s, got.data(), N, nullptr);
      ASSERT_EQ(got, want) << describe(c, k) << " group " << g;
    }
  }
}

// The fused packers write the bytes pack_b writes for the materialised matrix, for any block of columns.
TEST(QGemmIm2col, FusedPackerBytes) {
  std::mt19937 rng(99);
  int tested = 0;
  for (const Kernels* k : qgemm_internal::available_kernels()) {
    if (!k->pack_b_im2col) continue;
    for (const ConvShape& c : kShapes) {
      const std::vector<int8_t> img = random_bytes(size_t(c.C * c.IH * c.IW), &rng);
      const QIm2col s = descriptor(c, img.data());
      const int64_t K = c.C * c.kh * c.kw, N = s.OH * s.OW;
      const std::vector<int8_t> col = im2col_matrix(s);
      const int64_t kg = qgemm_internal::ceil_div(K, k->kgroup);
      const int eb = qgemm_internal::elem_bytes(k->b_elem);
      // Blocks start on 16-column boundaries: the whole matrix, and tails of it.
      for (int64_t n0 = 0; n0 < N; n0 += 16 * (1 + n0 / 16)) {
        for (int64_t nc : {N - n0, std::min<int64_t>(N - n0, 1), std::min<int64_t>(N - n0, 9),
                           std::min<int64_t>(N - n0, 17)}) {
          const size_t bytes = size_t(qgemm_internal::packed_b_elems(nc, kg, k->kgroup) * eb);
          std::vector<uint8_t> want(bytes, 0xa5), got(bytes, 0x3c);
          k->pack_b(col.data(), N, K, n0, nc, want.data());
          k->pack_b_im2col(s, n0, nc, got.data());
          ASSERT_EQ(got, want) << describe(c, k) << " n0=" << n0 << " nc=" << nc;
          tested++;
        }
      }
    }
  }
  if (tested == 0) GTEST_SKIP() << "no family with a fused im2col packer on this CPU";
}

// A failed packing-buffer allocation takes the scalar loops, which read the image directly.
TEST(QGemmIm2col, AllocationFallback) {
  std::mt19937 rng(5);
  qgemm_internal::set_fallback_for_testing(true);
  for (const Kernels* k : qgemm_internal::available_kernels()) {
    check(kShapes[4], k, nullptr, &rng, true);
    check(kShapes[9], k, nullptr, &rng, false);
  }
  qgemm_internal::set_fallback_for_testing(false);
}

// A descriptor that does not fit the packed A, or is malformed, writes nothing.
TEST(QGemmIm2col, BadDescriptors) {
  std::vector<int8_t> A(size_t(4 * 27), 1), img(size_t(3 * 5 * 5), 1);
  QPackedA pa;
  ASSERT_TRUE(qpack_a(A.data(), 27, 4, 27, &pa).ok());
  QIm2col s = descriptor(ConvShape{4, 3, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, img.data());
  std::vector<int32_t> c(size_t(4 * 25), 7);
  qgemm_s8_s32_im2col(pa, s, c.data(), 25, nullptr);
  EXPECT_NE(c[0], 7);  // the valid descriptor writes
  const auto untouched = [&](const QIm2col& bad) {
    std::vector<int32_t> out(size_t(4 * 25), 7);
    qgemm_s8_s32_im2col(pa, bad, out.data(), 25, nullptr);
    for (int32_t v : out)
      if (v != 7) return false;
    return true;
  };
  QIm2col bad = s;
  bad.C = 2;  // K = 18 != 27
  EXPECT_TRUE(untouched(bad));
  bad = s;
  bad.sw = 0;
  EXPECT_TRUE(untouched(bad));
  bad = s;
  bad.img = nullptr;
  EXPECT_TRUE(untouched(bad));
  bad = s;
  bad.pt = -1;
  EXPECT_TRUE(untouched(bad));
  bad = s;
  bad.OW = 0;
  EXPECT_TRUE(untouched(bad));
}

}  // namespace
}  // namespace int8rt
