// The int8 CUDA kernels (native/kernels/cuda/*.cu, launched through native/cuda/kernels.h) against the CPU references,
// bit for bit, on random shapes with the awkward cases (K not a multiple of the tiles, M or N = 1, one channel, groups,
// strides, padding, dilation, -128 and +-127 extremes, int32 wrap-around, residual, Relu/Clip bounds, NaN multipliers).
//
// Suites:
//   CudaKernelsHost  runs everywhere: the host-side packing, parameter builders and broadcasting, and the kernels' own
//                    B-operand index code (kernels/cuda/im2col-index.h) against ops/conv_params.h's im2col.
//   CudaQGemm, CudaConv, CudaDwConv, CudaEltwise, CudaPool (fixture CudaKernels) need a GPU: every kernel against its
//                    reference. Without a usable CUDA device (no driver, no GPU, a build without embedded kernels) each
//                    test is skipped with cuda::availability().reason.
// On a GPU machine: `cmake -B build && cmake --build build && ctest -R Cuda`, and under compute-sanitizer (memcheck is
// its default tool):
//   compute-sanitizer ./int8rt_native_tests --gtest_filter='CudaQGemm*:CudaConv*:CudaDwConv*:CudaEltwise*:CudaPool*'
// Outputs are written into buffers pre-filled with a sentinel and larger than the result (ldc > N etc.), and the
// whole buffer is compared, so writes outside the result are caught too.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cuda/driver.h"
#include "cuda/kernels.h"
#include "kernels/cuda/im2col-index.h"
#include "kernels/dwconv-s8.h"
#include "kernels/eltwise-s8.h"
#include "kernels/qgemm.h"
#include "ops/conv_params.h"
#include "op_test_util.h"

namespace int8rt {
namespace cuda {
namespace {

using cuda_kernels::kQGemmOutF32;
using cuda_kernels::kQGemmOutS32;
using cuda_kernels::kQGemmOutS8;

constexpr int8_t kSentinel = int8_t(0x5A);

std::vector<int8_t> random_s8(std::mt19937& rng, int64_t n, int lo = -128, int hi = 127) {
  std::uniform_int_distribution<int> u(lo, hi);
  std::vector<int8_t> v(size_t(std::max<int64_t>(n, 0)));
  for (auto& x : v) x = int8_t(u(rng));
  return v;
}

// Operand values: uniform over the full int8 range, or only the extremes (-128, -127, 127), which make the largest
// products and sums.
enum class Values { kRandom, kExtremes };
std::vector<int8_t> operand(std::mt19937& rng, int64_t n, Values mode) {
  if (mode == Values::kRandom) return random_s8(rng, n);
  std::vector<int8_t> v(size_t(std::max<int64_t>(n, 0)));
  static const int8_t e[] = {-128, -127, 127};
  std::uniform_int_distribution<int> u(0, 2);
  for (auto& x : v) x = e[u(rng)];
  return v;
}

// Per-row multipliers that put typical outputs inside the int8 range (|acc| ~ 74^2 sqrt(K)), with some rows
// saturating and one row of multiplier 0.
std::vector<float> multipliers(std::mt19937& rng, int64_t M, int64_t K) {
  std::uniform_real_distribution<float> u(0.25f, 4.f);
  const float base = 60.f / (5500.f * std::sqrt(float(std::max<int64_t>(K, 1))));
  std::vector<float> m(static_cast<size_t>(M));
  for (int64_t i = 0; i < M; i++) m[size_t(i)] = base * u(rng) * (i % 7 == 3 ? 50.f : 1.f);
  if (M > 2) m[1] = 0.f;
  return m;
}

std::vector<int32_t> biases(std::mt19937& rng, int64_t M, int64_t K) {
  const int32_t r = int32_t(std::min<int64_t>(2000000, 5000 * (K + 1)));
  std::uniform_int_distribution<int32_t> u(-r, r);
  std::vector<int32_t> b(static_cast<size_t>(M));
  for (auto& x : b) x = u(rng);
  return b;
}

bool same_float(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);  // NaN payloads differ (GPU: canonical)
  uint32_t x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  return x == y;
}

template <typename T>
::testing::AssertionResult same_bits(const std::vector<T>& got, const std::vector<T>& want) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " != " << want.size();
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < got.size(); i++) {
    bool eq;
    if constexpr (std::is_same<T, float>::value)
      eq = same_float(got[i], want[i]);
    else
      eq = got[i] == want[i];
    if (!eq) {
      if (first < 0) first = int64_t(i);
      bad++;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << got.size() << " elements differ; first at " << first
                                       << ": got " << +got[size_t(first)] << ", want " << +want[size_t(first)];
}

// ---------------------------------------------------------------------------------------------------------------
// Host-side pieces (no GPU needed)

TEST(CudaKernelsHost, PackedWeightsLayout) {
  EXPECT_EQ(qgemm_packed_lda(0), 64);
  EXPECT_EQ(qgemm_packed_lda(1), 64);
  EXPECT_EQ(qgemm_packed_lda(64), 64);
  EXPECT_EQ(qgemm_packed_lda(65), 128);
  std::mt19937 rng(1);
  const int64_t M = 5, K = 70, lda = 73;
  std::vector<int8_t> A = random_s8(rng, M * lda);
  std::vector<int8_t> P = pack_qgemm_a(A.data(), lda, M, K);
  ASSERT_EQ(P.size(), size_t(M * 128));
  for (int64_t m = 0; m < M; m++)
    for (int64_t k = 0; k < 128; k++) EXPECT_EQ(P[size_t(m * 128 + k)], k < K ? A[size_t(m * lda + k)] : 0);
}

// The B operand as the GEMM kernels address it (im2col-index.h) equals ops/conv_params.h's im2col, element for
// element, over rows and columns past the ends too (those must read 0).
TEST(CudaKernelsHost, ImplicitIm2colMatchesIm2col) {
  std::mt19937 rng(2);
  std::vector<Conv2dShape> shapes;
  auto add = [&](int64_t C, int64_t H, int64_t W, int64_t M, int64_t g, int64_t kh, int64_t kw, int64_t sh,
                 int64_t sw, int64_t dh, int64_t dw, int64_t pt, int64_t pl, int64_t pb, int64_t pr) {
    Conv2dShape s;
    s.batch = 2, s.C = C, s.H = H, s.W = W, s.M = M, s.group = g, s.kh = kh, s.kw = kw, s.sh = sh, s.sw = sw;
    s.dh = dh, s.dw = dw, s.pt = pt, s.pl = pl, s.pb = pb, s.pr = pr;
    shapes.push_back(s);
  };
  add(3, 9, 11, 4, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1);
  add(4, 10, 7, 6, 2, 3, 2, 2, 1, 1, 2, 0, 2, 1, 0);
  add(1, 5, 5, 1, 1, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3);  // kernel larger than the input
  add(6, 8, 8, 6, 6, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2);  // depthwise as a GEMM, dilated
  add(8, 6, 6, 4, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);  // pointwise: the matrix path
  add(12, 5, 7, 6, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);  // pointwise with groups
  add(8, 6, 6, 4, 2, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0);  // 1x1 stride 2: implicit
  add(2, 1, 17, 3, 1, 1, 5, 1, 3, 1, 1, 0, 2, 0, 1);  // 1-D as H = 1
  for (const Conv2dShape& s : shapes) {
    QGemmParams p;
    ASSERT_TRUE(conv2d_qgemm_params(s, &p).ok());
    const int64_t OH = s.OH(), OW = s.OW(), Cg = s.C / s.group, K = Cg * s.kh * s.kw, P = OH * OW;
    ASSERT_EQ(p.M, s.M / s.group);
    ASSERT_EQ(p.N, P);
    ASSERT_EQ(p.K, K);
    EXPECT_EQ(p.conv, (s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.pt + s.pl + s.pb + s.pr == 0) ? 0 : 1);
    std::vector<int8_t> x = random_s8(rng, s.batch * s.C * s.H * s.W);
    conv_params::Patch2d pp;
    pp.IH = s.H, pp.IW = s.W, pp.CH = OH, pp.CW = OW, pp.kh = s.kh, pp.kw = s.kw, pp.sh = s.sh, pp.sw = s.sw;
    pp.dh = s.dh, pp.dw = s.dw, pp.pt = s.pt, pp.pl = s.pl;
    std::vector<int8_t> col(size_t(K * P));
    for (int64_t img = 0; img < s.batch; img++)
      for (int64_t g = 0; g < s.group; g++) {
        const int8_t* xg = x.data() + img * p.b_batch_stride + g * p.b_group_stride;
        conv_params::im2col_2d(pp, xg, 0, K, 0, P, col.data());
        const signed char* img_ptr = reinterpret_cast<const signed char*>(xg);
        for (int64_t k = 0; k < K + 70; k++)  // rows past K (a partial last step) read 0
          for (int64_t n = 0; n < P + 70; n++) {
            const int want = k < K && n < P ? int(col[size_t(k * P + n)]) : 0;
            ASSERT_EQ(cuda_kernels::b_element(p, img_ptr, k, n), want)
                << "k " << k << " n " << n << " img " << img << " group " << g;
          }
      }
  }
}

TEST(CudaKernelsHost, MatrixOperandAndBounds) {
  std::mt19937 rng(3);
  QGemmParams p = qgemm_params(3, 5, 7);
  p.ldb = 9;
  std::vector<int8_t> B = random_s8(rng, 7 * 9);
  for (int64_t k = 0; k < 7 + 64; k++)
    for (int64_t n = 0; n < 5 + 64; n++)
      ASSERT_EQ(cuda_kernels::b_element(p, reinterpret_cast<const signed char*>(B.data()), k, n),
                k < 7 && n < 5 ? int(B[size_t(k * 9 + n)]) : 0);
  QGemmParams q;
  set_s8_bounds(-500, 300, &q);
  EXPECT_EQ(q.lo, -128.f);
  EXPECT_EQ(q.hi, 127.f);
  set_s8_bounds(0, 6, &q);
  EXPECT_EQ(q.lo, 0.f);
  EXPECT_EQ(q.hi, 6.f);
  Conv2dShape bad;
  bad.C = 3, bad.group = 2;
  EXPECT_EQ(conv2d_qgemm_params(bad, &q).code(), ErrorCode::kInvalidArgument);
  Conv2dShape big;
  big.H = 2, big.W = 2, big.kh = 5, big.kw = 1;
  EXPECT_EQ(conv2d_qgemm_params(big, &q).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(global_avgpool_multiplier(0.02f, 0.015f, 49), 0.02f / (float(49) * 0.015f));
}

TEST(CudaKernelsHost, Broadcasting) {
  EltwiseParams p;
  std::memset(&p, 0, sizeof(p));
  ASSERT_TRUE(eltwise_broadcast({2, 3, 4}, {2, 3, 4}, {1}, &p).ok());
  EXPECT_EQ(p.rank, 0);
  EXPECT_EQ(p.n, 24);
  EXPECT_EQ(p.a_step, 1);
  EXPECT_EQ(p.b_step, 0);
  ASSERT_TRUE(eltwise_broadcast({2, 3, 4}, {}, {2, 3, 4}, &p).ok());
  EXPECT_EQ(p.rank, 0);
  EXPECT_EQ(p.a_step, 0);
  EXPECT_EQ(p.b_step, 1);
  ASSERT_TRUE(eltwise_broadcast({2, 3, 4}, {2, 1, 4}, {3, 1}, &p).ok());
  EXPECT_EQ(p.rank, 3);
  EXPECT_EQ(p.a_strides[0], 4);
  EXPECT_EQ(p.a_strides[1], 0);
  EXPECT_EQ(p.a_strides[2], 1);
  EXPECT_EQ(p.b_strides[0], 0);
  EXPECT_EQ(p.b_strides[1], 1);
  EXPECT_EQ(p.b_strides[2], 0);
  EXPECT_EQ(eltwise_broadcast({2, 3}, {3, 3}, {1}, &p).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(eltwise_broadcast({1, 1, 1, 1, 1, 1, 1}, {1}, {1}, &p).code(), ErrorCode::kUnsupported);
}

// ---------------------------------------------------------------------------------------------------------------
// GPU fixture

class CudaKernels : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef INT8RT_CUDA_EMULATOR
    // int8rt_cuda_emulated_tests (CMakeLists.txt): this file built again against the CPU emulator of the driver
    // (fake_libcuda.cc) and a synthetic kernel image (fake_fatbin.S), before the first availability() of the process
    // reads $INT8RT_LIBCUDA. There the device must be there: a skip would hide a broken emulator.
    setenv("INT8RT_LIBCUDA", INT8RT_FAKE_LIBCUDA, 1);
    ASSERT_TRUE(availability().available) << "the CUDA emulator did not open: " << availability().reason;
#endif
    const Availability& av = availability();
    if (!av.available) GTEST_SKIP() << "CUDA unavailable: " << av.reason;
    Status st = Device::open(0, &dev_);
    ASSERT_TRUE(st.ok()) << st.message();
    st = dev_->create_stream(&stream_);
    ASSERT_TRUE(st.ok()) << st.message();
    imma_ = default_qgemm_path(dev_->info()) == QGemmPath::kImma;
  }
  void TearDown() override {
    if (!dev_) return;
    for (CUdeviceptr p : allocs_) dev_->free(p);
    allocs_.clear();
    if (stream_) dev_->destroy_stream(stream_);
    stream_ = nullptr;
  }

  // The GEMM paths this device runs.
  std::vector<QGemmPath> paths() const {
    std::vector<QGemmPath> v = {QGemmPath::kDp4a};
    if (imma_) v.push_back(QGemmPath::kImma);
    return v;
  }

  template <typename T>
  CUdeviceptr to_device(const std::vector<T>& v) {
    CUdeviceptr p = 0;
    const size_t bytes = std::max<size_t>(v.size() * sizeof(T), 16);
    Status st = dev_->alloc(bytes, &p);
    EXPECT_TRUE(st.ok()) << st.message();
    if (!st.ok()) return 0;
    allocs_.push_back(p);
    if (!v.empty()) {
      st = dev_->upload(p, v.data(), v.size() * sizeof(T), stream_);
      EXPECT_TRUE(st.ok()) << st.message();
    }
    return p;
  }
  template <typename T>
  std::vector<T> from_device(CUdeviceptr p, size_t n) {
    std::vector<T> v(n);
    Status st = dev_->synchronize(stream_);  // the kernel's own errors surface here
    EXPECT_TRUE(st.ok()) << st.message();
    if (n == 0) return v;
    st = dev_->download(v.data(), p, n * sizeof(T), stream_);
    EXPECT_TRUE(st.ok()) << st.message();
    st = dev_->synchronize(stream_);
    EXPECT_TRUE(st.ok()) << st.message();
    return v;
  }
  // An output buffer of n elements filled with the sentinel (bytes 0x5A).
  template <typename T>
  CUdeviceptr sentinel_buffer(size_t n, std::vector<T>* host) {
    host->assign(n, T());
    if (n) std::memset(host->data(), kSentinel, n * sizeof(T));
    return to_device(*host);
  }

  std::shared_ptr<Device> dev_;
  CUstream stream_ = nullptr;
  bool imma_ = false;
  std::vector<CUdeviceptr> allocs_;
};

// ---------------------------------------------------------------------------------------------------------------
// GEMM on a matrix B

struct GemmCase {
  int64_t M, N, K;
  int64_t ldb_pad = 0, ldc_pad = 0;
  bool bias = true, residual = false;
  int32_t qmin = -128, qmax = 127;
  float fmin = -INFINITY, fmax = INFINITY;
  Values values = Values::kRandom;
};

std::string describe(const GemmCase& c) {
  return "M " + std::to_string(c.M) + " N " + std::to_string(c.N) + " K " + std::to_string(c.K) + " ldb+" +
         std::to_string(c.ldb_pad) + " ldc+" + std::to_string(c.ldc_pad) + (c.bias ? " bias" : "") +
         (c.residual ? " residual" : "") + " q[" + std::to_string(c.qmin) + "," + std::to_string(c.qmax) + "]" +
         (c.values == Values::kExtremes ? " extremes" : "");
}

class CudaQGemm : public CudaKernels {
 protected:
  // One case on every path and output kind, against qgemm_ref_s8 / _f32 / _s32. `tweak` may edit the operands
  // before the run (special multipliers, biases).
  void run(const GemmCase& c, uint32_t seed,
           void (*tweak)(std::vector<int32_t>* bias, std::vector<float>* mult) = nullptr) {
    SCOPED_TRACE(describe(c));
    std::mt19937 rng(seed);
    const int64_t M = c.M, N = c.N, K = c.K, ldb = N + c.ldb_pad, ldc = N + c.ldc_pad, ldr = N + 3;
    std::vector<int8_t> A = operand(rng, M * K, c.values), B = operand(rng, K * ldb, c.values);
    std::vector<int32_t> bias = biases(rng, M, K);
    std::vector<float> mult = multipliers(rng, M, K);
    if (tweak) tweak(&bias, &mult);
    std::vector<int8_t> R = random_s8(rng, M * ldr);
    const float rmul = 0.75f;

    QEpilogue ep;
    ep.bias = c.bias ? bias.data() : nullptr;
    ep.multiplier = mult.data();
    if (c.residual) {
      ep.residual = R.data();
      ep.ldr = ldr;
      ep.residual_multiplier = rmul;
    }
    ep.qmin = c.qmin;
    ep.qmax = c.qmax;
    ep.fmin = c.fmin;
    ep.fmax = c.fmax;

    const std::vector<int8_t> packed = pack_qgemm_a(A.data(), K, M, K);
    const CUdeviceptr dA = to_device(packed), dB = to_device(B), dBias = to_device(bias), dMult = to_device(mult),
                      dR = to_device(R);
    for (QGemmPath path : paths()) {
      SCOPED_TRACE(qgemm_kernel_name(path));
      for (int kind : {kQGemmOutS8, kQGemmOutF32, kQGemmOutS32}) {
        SCOPED_TRACE("out kind " + std::to_string(kind));
        QGemmParams p = qgemm_params(M, N, K);
        p.a = dA;
        p.b = dB;
        p.ldb = ldb;
        p.ldc = ldc;
        p.bias = c.bias ? dBias : 0;
        p.multiplier = dMult;
        if (c.residual) {
          p.residual = dR;
          p.ldr = ldr;
          p.residual_multiplier = rmul;
        }
        p.out_kind = kind;
        if (kind == kQGemmOutF32) {
          p.lo = c.fmin;
          p.hi = c.fmax;
        } else {
          set_s8_bounds(c.qmin, c.qmax, &p);
        }
        const size_t n = size_t(M * ldc);
        if (kind == kQGemmOutS8) {
          std::vector<int8_t> want;
          p.c = sentinel_buffer(n, &want);
          qgemm_ref_s8(M, N, K, A.data(), K, B.data(), ldb, want.data(), ldc, ep);
          ASSERT_TRUE(launch_qgemm(*dev_, stream_, p, path).ok());
          EXPECT_TRUE(same_bits(from_device<int8_t>(p.c, n), want));
        } else if (kind == kQGemmOutF32) {
          std::vector<float> want;
          p.c = sentinel_buffer(n, &want);
          qgemm_ref_f32(M, N, K, A.data(), K, B.data(), ldb, want.data(), ldc, ep);
          ASSERT_TRUE(launch_qgemm(*dev_, stream_, p, path).ok());
          EXPECT_TRUE(same_bits(from_device<float>(p.c, n), want));
        } else {
          std::vector<int32_t> want;
          p.c = sentinel_buffer(n, &want);
          qgemm_ref_s32(M, N, K, A.data(), K, B.data(), ldb, want.data(), ldc);
          ASSERT_TRUE(launch_qgemm(*dev_, stream_, p, path).ok());
          EXPECT_TRUE(same_bits(from_device<int32_t>(p.c, n), want));
        }
      }
    }
  }
};

TEST_F(CudaQGemm, AwkwardShapes) {
  const int64_t shapes[][3] = {
      {1, 1, 1},     {1, 1, 64},    {1, 1, 65},     {2, 3, 5},     {7, 1, 300},   {1, 200, 33},  {64, 64, 64},
      {63, 65, 63},  {65, 63, 129}, {128, 128, 128}, {129, 127, 31}, {130, 257, 64}, {200, 3, 1000}, {3, 300, 200},
      {256, 256, 576}, {17, 1000, 9}, {1, 4096, 27}};
  uint32_t seed = 10;
  for (const auto& s : shapes) {
    GemmCase c;
    c.M = s[0], c.N = s[1], c.K = s[2];
    c.ldb_pad = seed % 3 == 0 ? 0 : 5;
    c.ldc_pad = seed % 2 == 0 ? 0 : 3;
    run(c, seed++);
  }
}

TEST_F(CudaQGemm, EmptyK) {
  GemmCase c;
  c.M = 5, c.N = 7, c.K = 0;
  c.residual = true;
  run(c, 30);
}

TEST_F(CudaQGemm, ExtremeValuesAndResidual) {
  for (int64_t K : {1, 31, 64, 100, 2048, 4099}) {
    GemmCase c;
    c.M = 70, c.N = 67, c.K = K;
    c.values = Values::kExtremes;
    c.residual = true;
    c.ldc_pad = 1;
    run(c, uint32_t(40 + K));
  }
}

TEST_F(CudaQGemm, ClampBounds) {
  GemmCase relu;
  relu.M = 33, relu.N = 90, relu.K = 77, relu.qmin = 0, relu.qmax = 127, relu.fmin = 0.f;
  run(relu, 50);
  GemmCase clip = relu;
  clip.qmin = -20, clip.qmax = 45, clip.fmin = -1.5f, clip.fmax = 6.f, clip.residual = true;
  run(clip, 51);
  GemmCase wide = relu;
  wide.qmin = -1000, wide.qmax = 1000;  // intersected with [-128, 127]
  run(wide, 52);
  GemmCase crossed = relu;
  crossed.qmin = 10, crossed.qmax = -10;  // max then min: everything becomes qmax
  run(crossed, 53);
}

TEST_F(CudaQGemm, Int32WrapAround) {
  // Biases near the int32 limits: acc + bias wraps modulo 2^32 on the CPU and must wrap identically here.
  GemmCase c;
  c.M = 40, c.N = 50, c.K = 300;
  c.values = Values::kExtremes;
  run(c, 60, [](std::vector<int32_t>* bias, std::vector<float>* mult) {
    for (size_t i = 0; i < bias->size(); i++) {
      (*bias)[i] = i % 2 ? std::numeric_limits<int32_t>::max() - int32_t(i)
                         : std::numeric_limits<int32_t>::min() + int32_t(i);
      (*mult)[i] = 1e-7f;
    }
  });
}

TEST_F(CudaQGemm, NonFiniteMultipliers) {
  // NaN and infinite multipliers: int8 output gets qmin for NaN, float output passes NaN through.
  GemmCase c;
  c.M = 12, c.N = 40, c.K = 20, c.qmin = -5, c.qmax = 100, c.fmin = -3.f, c.fmax = 3.f, c.residual = true;
  run(c, 70, [](std::vector<int32_t>* bias, std::vector<float>* mult) {
    for (size_t i = 0; i < mult->size(); i++) {
      if (i % 3 == 0) (*mult)[i] = std::numeric_limits<float>::quiet_NaN();
      if (i % 3 == 1) (*mult)[i] = i % 2 ? INFINITY : -INFINITY;
      if (i % 4 == 1) (*bias)[i] = 0;
    }
  });
}

TEST_F(CudaQGemm, HalfwayRounding) {
  // Multipliers that land many outputs exactly on .5: round half to even must match nearbyint.
  GemmCase c;
  c.M = 16, c.N = 64, c.K = 3;
  run(c, 80, [](std::vector<int32_t>* bias, std::vector<float>* mult) {
    for (size_t i = 0; i < mult->size(); i++) {
      (*mult)[i] = i % 2 ? 0.5f : 0.25f;
      (*bias)[i] = int32_t(i) - 8;
    }
  });
}

TEST_F(CudaQGemm, RejectsBadParameters) {
  QGemmParams p = qgemm_params(4, 4, 4);
  p.a = 16, p.b = 16, p.c = 16;  // never dereferenced: every call below is refused before the launch
  EXPECT_EQ(launch_qgemm(*dev_, stream_, p, QGemmPath::kDp4a).code(), ErrorCode::kInvalidArgument);  // no multiplier
  p.multiplier = 16;
  p.lda = 4;
  EXPECT_EQ(launch_qgemm(*dev_, stream_, p, QGemmPath::kDp4a).code(), ErrorCode::kInvalidArgument);  // unpacked A
  p.lda = 64;
  p.ldb = 3;
  EXPECT_EQ(launch_qgemm(*dev_, stream_, p, QGemmPath::kImma).code(), ErrorCode::kInvalidArgument);
  p.ldb = 4;
  p.out_kind = 7;
  EXPECT_EQ(launch_qgemm(*dev_, stream_, p, QGemmPath::kImma).code(), ErrorCode::kInvalidArgument);
  p.out_kind = kQGemmOutS8;
  p.M = 0;
  EXPECT_TRUE(launch_qgemm(*dev_, stream_, p, QGemmPath::kImma).ok());  // nothing to do
}

// ---------------------------------------------------------------------------------------------------------------
// Convolution as an implicit GEMM

struct ConvCase {
  Conv2dShape s;
  bool bias = true, residual = false;
  int32_t qmin = -128, qmax = 127;
};

ConvCase conv_case(int64_t batch, int64_t C, int64_t H, int64_t W, int64_t M, int64_t group, int64_t kh, int64_t kw,
                   int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t pt, int64_t pl, int64_t pb, int64_t pr) {
  ConvCase c;
  c.s.batch = batch, c.s.C = C, c.s.H = H, c.s.W = W, c.s.M = M, c.s.group = group, c.s.kh = kh, c.s.kw = kw;
  c.s.sh = sh, c.s.sw = sw, c.s.dh = dh, c.s.dw = dw, c.s.pt = pt, c.s.pl = pl, c.s.pb = pb, c.s.pr = pr;
  return c;
}

std::string describe(const Conv2dShape& s) {
  auto v = [](int64_t a, int64_t b) { return std::to_string(a) + "x" + std::to_string(b); };
  return "x [" + std::to_string(s.batch) + "," + std::to_string(s.C) + "," + v(s.H, s.W) + "] M " +
         std::to_string(s.M) + " group " + std::to_string(s.group) + " k " + v(s.kh, s.kw) + " s " + v(s.sh, s.sw) +
         " d " + v(s.dh, s.dw) + " pads " + std::to_string(s.pt) + "," + std::to_string(s.pl) + "," +
         std::to_string(s.pb) + "," + std::to_string(s.pr);
}

class CudaConv : public CudaKernels {
 protected:
  void run(const ConvCase& c, uint32_t seed) {
    const Conv2dShape& s = c.s;
    SCOPED_TRACE(describe(s) + (c.residual ? " residual" : "") + " q[" + std::to_string(c.qmin) + "," +
                 std::to_string(c.qmax) + "]");
    std::mt19937 rng(seed);
    const int64_t OH = s.OH(), OW = s.OW(), P = OH * OW, G = s.group, Cg = s.C / G, Mg = s.M / G;
    const int64_t K = Cg * s.kh * s.kw;
    std::vector<int8_t> x = random_s8(rng, s.batch * s.C * s.H * s.W);
    std::vector<int8_t> w = random_s8(rng, s.M * K, -127, 127);  // the CPU quantizer's weight range
    if (!w.empty()) w[0] = -128;                                  // and the one value it never makes
    std::vector<int32_t> bias = biases(rng, s.M, K);
    std::vector<float> mult = multipliers(rng, s.M, K);
    std::vector<int8_t> res = random_s8(rng, s.batch * s.M * P);
    const float rmul = 1.25f;

    // Reference: ops/int8_conv.cc's GEMM path, Y_g = W_g x im2col(x_g) through qgemm_ref_s8.
    conv_params::Patch2d pp;
    pp.IH = s.H, pp.IW = s.W, pp.CH = OH, pp.CW = OW, pp.kh = s.kh, pp.kw = s.kw, pp.sh = s.sh, pp.sw = s.sw;
    pp.dh = s.dh, pp.dw = s.dw, pp.pt = s.pt, pp.pl = s.pl;
    std::vector<int8_t> want(size_t(s.batch * s.M * P));
    std::vector<int8_t> col(size_t(K * P));
    for (int64_t img = 0; img < s.batch; img++)
      for (int64_t g = 0; g < G; g++) {
        conv_params::im2col_2d(pp, x.data() + (img * s.C + g * Cg) * s.H * s.W, 0, K, 0, P, col.data());
        const int64_t yoff = (img * s.M + g * Mg) * P;
        QEpilogue ep;
        ep.bias = c.bias ? bias.data() + g * Mg : nullptr;
        ep.multiplier = mult.data() + g * Mg;
        if (c.residual) {
          ep.residual = res.data() + yoff;
          ep.ldr = P;
          ep.residual_multiplier = rmul;
        }
        ep.qmin = c.qmin;
        ep.qmax = c.qmax;
        qgemm_ref_s8(Mg, P, K, w.data() + g * Mg * K, K, col.data(), P, want.data() + yoff, P, ep);
      }

    QGemmParams p;
    ASSERT_TRUE(conv2d_qgemm_params(s, &p).ok());
    p.a = to_device(pack_qgemm_a(w.data(), K, s.M, K));
    p.b = to_device(x);
    p.bias = c.bias ? to_device(bias) : 0;
    p.multiplier = to_device(mult);
    if (c.residual) {
      p.residual = to_device(res);
      p.residual_multiplier = rmul;
    }
    set_s8_bounds(c.qmin, c.qmax, &p);
    for (QGemmPath path : paths()) {
      SCOPED_TRACE(qgemm_kernel_name(path, p.conv != 0));
      std::vector<int8_t> init;
      p.c = sentinel_buffer(want.size(), &init);
      ASSERT_TRUE(launch_qgemm(*dev_, stream_, p, path).ok());
      EXPECT_TRUE(same_bits(from_device<int8_t>(p.c, want.size()), want));
    }
  }
};

TEST_F(CudaConv, Shapes) {
  std::vector<ConvCase> cases = {
      conv_case(1, 3, 9, 11, 5, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),        // 3x3 pad 1, K = 27
      conv_case(2, 16, 14, 14, 24, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1),     // stride 2, batch
      conv_case(1, 3, 32, 32, 16, 1, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3),      // ResNet stem, K = 147
      conv_case(2, 32, 8, 8, 40, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0),       // pointwise: matrix path, batched
      conv_case(2, 12, 5, 7, 6, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0),        // pointwise with groups: matrix path
      conv_case(1, 64, 7, 9, 130, 1, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0),      // 1x1 stride 2: implicit
      conv_case(2, 12, 10, 10, 18, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),     // groups
      conv_case(1, 8, 12, 12, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),       // depthwise as a GEMM (M/g = 1)
      conv_case(1, 4, 15, 13, 6, 1, 3, 3, 1, 1, 2, 3, 2, 3, 2, 3),       // dilation
      conv_case(1, 5, 9, 10, 7, 1, 2, 4, 3, 2, 1, 1, 0, 2, 1, 0),        // asymmetric kernel, pads, strides
      conv_case(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0),         // everything 1
      conv_case(1, 1, 5, 5, 3, 1, 7, 7, 1, 1, 1, 1, 3, 3, 3, 3),         // kernel larger than the input
      conv_case(1, 2, 1, 40, 4, 1, 1, 5, 1, 2, 1, 1, 0, 2, 0, 2),        // 1-D (H = 1)
      conv_case(1, 72, 6, 6, 66, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),       // K = 648 (not a multiple of 64)
      conv_case(3, 6, 20, 20, 129, 1, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0),     // M past a tile, no padding
  };
  uint32_t seed = 100;
  for (ConvCase c : cases) {
    run(c, seed++);
    c.residual = true;
    c.bias = false;
    c.qmin = 0;  // fused Relu
    run(c, seed++);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Depthwise

class CudaDwConv : public CudaKernels {
 protected:
  void run(int64_t batch, int64_t C, const DwConvS8Plane& pl, bool bias, bool residual, uint32_t seed) {
    SCOPED_TRACE("C " + std::to_string(C) + " in " + std::to_string(pl.H) + "x" + std::to_string(pl.W) + " k " +
                 std::to_string(pl.kh) + "x" + std::to_string(pl.kw) + " s " + std::to_string(pl.sh) + "x" +
                 std::to_string(pl.sw) + " d " + std::to_string(pl.dh) + "x" + std::to_string(pl.dw) + " pad " +
                 std::to_string(pl.pad_t) + "," + std::to_string(pl.pad_l) + (residual ? " residual" : ""));
    std::mt19937 rng(seed);
    const int64_t taps = pl.kh * pl.kw, in = pl.H * pl.W, out = pl.OH * pl.OW;
    std::vector<int8_t> x = random_s8(rng, batch * C * in), w = random_s8(rng, C * taps);
    std::vector<int32_t> b = biases(rng, C, taps);
    std::vector<float> m = multipliers(rng, C, taps);
    std::vector<int8_t> r = random_s8(rng, batch * C * out);
    const float rmul = 0.6f;
    std::vector<int8_t> want(size_t(batch * C * out));
    std::vector<int32_t> ws(dwconv2d_s8_ref_workspace(pl) / 4 + 1);
    for (int64_t i = 0; i < batch * C; i++) {
      const int64_t c = i % C;
      DwConvS8Channel ch;
      ch.w = w.data() + c * taps;
      ch.bias = bias ? b[size_t(c)] : 0;
      ch.multiplier = m[size_t(c)];
      ch.residual = residual ? r.data() + i * out : nullptr;
      ch.residual_multiplier = rmul;
      dwconv2d_s8_ref(pl, x.data() + i * in, ch, want.data() + i * out, ws.data());
    }
    DwConvParams p;
    std::memset(&p, 0, sizeof(p));
    p.x = to_device(x);
    p.w = to_device(w);
    p.bias = bias ? to_device(b) : 0;
    p.multiplier = to_device(m);
    p.residual = residual ? to_device(r) : 0;
    p.batch = int(batch), p.C = int(C), p.H = int(pl.H), p.W = int(pl.W), p.OH = int(pl.OH), p.OW = int(pl.OW);
    p.kh = int(pl.kh), p.kw = int(pl.kw), p.sh = int(pl.sh), p.sw = int(pl.sw), p.dh = int(pl.dh), p.dw = int(pl.dw);
    p.pt = int(pl.pad_t), p.pl = int(pl.pad_l);
    p.residual_multiplier = rmul;
    p.lo = float(pl.qmin);
    p.hi = float(pl.qmax);
    std::vector<int8_t> init;
    p.y = sentinel_buffer(want.size(), &init);
    ASSERT_TRUE(launch_dwconv_s8(*dev_, stream_, p).ok());
    EXPECT_TRUE(same_bits(from_device<int8_t>(p.y, want.size()), want));
  }
};

DwConvS8Plane dw_plane(int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw,
                       int64_t pt, int64_t pl, int64_t pb, int64_t pr) {
  DwConvS8Plane p;
  p.H = H, p.W = W, p.kh = kh, p.kw = kw, p.sh = sh, p.sw = sw, p.dh = dh, p.dw = dw, p.pad_t = pt, p.pad_l = pl;
  p.OH = (H + pt + pb - ((kh - 1) * dh + 1)) / sh + 1;
  p.OW = (W + pl + pr - ((kw - 1) * dw + 1)) / sw + 1;
  return p;
}

TEST_F(CudaDwConv, Shapes) {
  uint32_t seed = 200;
  const DwConvS8Plane planes[] = {
      dw_plane(12, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), dw_plane(13, 11, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1),
      dw_plane(16, 16, 5, 5, 1, 1, 2, 2, 4, 4, 4, 4), dw_plane(9, 20, 1, 7, 1, 1, 1, 1, 0, 3, 0, 3),
      dw_plane(3, 3, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2),   dw_plane(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0),
      dw_plane(28, 28, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1), dw_plane(7, 9, 2, 3, 3, 2, 1, 2, 1, 0, 0, 1),
  };
  for (DwConvS8Plane pl : planes) {
    run(1, 1, pl, true, false, seed++);
    run(2, 24, pl, true, true, seed++);
    pl.qmin = 0;
    pl.qmax = 100;
    run(3, 5, pl, false, true, seed++);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Elementwise: kernels/eltwise-s8.h's portable loops

class CudaEltwise : public CudaKernels {
 protected:
  std::vector<int8_t> run_s8(EltwiseOp op, EltwiseParams p, size_t n) {
    std::vector<int8_t> init;
    p.y = sentinel_buffer(n + 7, &init);  // 7 bytes past the end stay untouched
    EXPECT_TRUE(launch_eltwise(*dev_, stream_, op, p).ok());
    std::vector<int8_t> got = from_device<int8_t>(p.y, n + 7);
    for (size_t i = n; i < n + 7; i++) EXPECT_EQ(got[i], kSentinel) << "write past the end";
    got.resize(n);
    return got;
  }
};

EltwiseParams flat(int64_t n, int a_step, int b_step) {
  EltwiseParams p;
  std::memset(&p, 0, sizeof(p));
  p.n = n;
  p.a_step = a_step;
  p.b_step = b_step;
  return p;
}

TEST_F(CudaEltwise, AddMulRescaleFlat) {
  const EltwiseS8Kernels& ref = eltwise_s8_portable();
  std::mt19937 rng(300);
  for (int64_t n : {1, 7, 1000, 65537}) {
    for (int mode = 0; mode < 3; mode++) {  // vector + vector, scalar + vector, vector + scalar
      SCOPED_TRACE("n " + std::to_string(n) + " mode " + std::to_string(mode));
      const bool av = mode != 1, bv = mode != 2;
      std::vector<int8_t> a = random_s8(rng, av ? n : 1), b = random_s8(rng, bv ? n : 1);
      if (av && n > 4) a[0] = -128, a[1] = 127, a[2] = -127;
      EltwiseParams p = flat(n, av, bv);
      p.a = to_device(a);
      p.b = to_device(b);
      for (float ma : {0.37f, 1.f, 0.5f}) {
        const float mb = ma == 0.5f ? 0.5f : 1.9f;  // 0.5 / 0.5: many exact halves
        std::vector<int8_t> want(static_cast<size_t>(n));
        p.ma = ma;
        p.mb = mb;
        ref.add(a.data(), av, b.data(), bv, want.data(), n, ma, mb);
        EXPECT_TRUE(same_bits(run_s8(EltwiseOp::kAdd, p, size_t(n)), want)) << "add ma " << ma;
        ref.mul(a.data(), av, b.data(), bv, want.data(), n, ma / 64.f);
        p.ma = ma / 64.f;
        EXPECT_TRUE(same_bits(run_s8(EltwiseOp::kMul, p, size_t(n)), want)) << "mul ma " << ma;
        if (av) {
          ref.rescale(a.data(), want.data(), n, ma * 1.3f);
          p.ma = ma * 1.3f;
          EXPECT_TRUE(same_bits(run_s8(EltwiseOp::kRescale, p, size_t(n)), want)) << "rescale " << ma;
        }
      }
    }
  }
}

TEST_F(CudaEltwise, AddBroadcast) {
  const EltwiseS8Kernels& ref = eltwise_s8_portable();
  std::mt19937 rng(301);
  struct Case {
    std::vector<int64_t> y, a, b;
  };
  const Case cases[] = {{{2, 3, 4, 5}, {2, 3, 4, 5}, {3, 1, 5}},
                        {{4, 1, 6}, {4, 1, 1}, {1, 6}},
                        {{2, 2, 3, 1, 2, 3}, {2, 1, 3, 1, 1, 3}, {3, 1, 2, 1}},
                        {{33, 17}, {33, 1}, {17}}};
  for (const Case& c : cases) {
    EltwiseParams p;
    std::memset(&p, 0, sizeof(p));
    ASSERT_TRUE(eltwise_broadcast(c.y, c.a, c.b, &p).ok());
    int64_t na = 1, nb = 1;
    for (int64_t d : c.a) na *= d;
    for (int64_t d : c.b) nb *= d;
    std::vector<int8_t> a = random_s8(rng, na), b = random_s8(rng, nb);
    p.a = to_device(a);
    p.b = to_device(b);
    p.ma = 0.81f;
    p.mb = 1.37f;
    std::vector<int8_t> want(size_t(p.n));
    for (int64_t i = 0; i < p.n; i++) {
      int64_t ia = 0, ib = 0, rest = i;
      if (p.rank == 0) {
        ia = i * p.a_step, ib = i * p.b_step;
      } else {
        for (int d = p.rank - 1; d >= 0; d--) {
          const int64_t idx = rest % p.dims[d];
          rest /= p.dims[d];
          ia += idx * p.a_strides[d];
          ib += idx * p.b_strides[d];
        }
      }
      ref.add(&a[size_t(ia)], false, &b[size_t(ib)], false, &want[size_t(i)], 1, p.ma, p.mb);
    }
    EXPECT_TRUE(same_bits(run_s8(EltwiseOp::kAdd, p, size_t(p.n)), want));
  }
}

TEST_F(CudaEltwise, ClampAndLookup) {
  std::vector<int8_t> a(256);
  for (int i = 0; i < 256; i++) a[size_t(i)] = int8_t(i - 128);
  EltwiseParams p = flat(256, 1, 0);
  p.a = to_device(a);
  for (auto lh : {std::pair<int, int>{0, 127}, {-20, 45}, {-128, 127}, {5, 5}}) {
    std::vector<int8_t> want(256);
    clamp_s8(a.data(), want.data(), 256, int8_t(lh.first), int8_t(lh.second));
    p.qlo = lh.first;
    p.qhi = lh.second;
    EXPECT_TRUE(same_bits(run_s8(EltwiseOp::kClamp, p, 256), want));
  }
  std::mt19937 rng(302);
  std::vector<int8_t> table = random_s8(rng, 256), x = random_s8(rng, 10001), want(10001);
  lookup_s8(x.data(), want.data(), 10001, table.data());
  EltwiseParams q = flat(10001, 1, 0);
  q.a = to_device(x);
  q.table = to_device(table);
  EXPECT_TRUE(same_bits(run_s8(EltwiseOp::kLookup, q, 10001), want));
}

TEST_F(CudaEltwise, QuantizeDequantize) {
  const EltwiseS8Kernels& ref = eltwise_s8_portable();
  std::mt19937 rng(303);
  std::vector<float> x;
  std::uniform_real_distribution<float> u(-40.f, 40.f);
  for (int i = 0; i < 5000; i++) x.push_back(u(rng));
  for (float v : {0.5f, -0.5f, 1.5f, 2.5f, -2.5f, 126.5f, 127.5f, -128.5f, -127.5f, 0.f, -0.f, 1e30f, -1e30f, 1e-40f,
                  INFINITY, -INFINITY, std::numeric_limits<float>::quiet_NaN()})
    x.push_back(v);
  const CUdeviceptr dx = to_device(x);
  for (float scale : {1.f, 0.1f, 0.0371f, 3.f}) {
    for (int32_t zp : {0, 5, -7}) {
      SCOPED_TRACE("scale " + std::to_string(scale) + " zp " + std::to_string(zp));
      std::vector<int8_t> want(x.size());
      ref.quantize(x.data(), want.data(), int64_t(x.size()), scale, zp);
      EltwiseParams p = flat(int64_t(x.size()), 1, 0);
      p.a = dx;
      p.scale = scale;
      p.zp = zp;
      EXPECT_TRUE(same_bits(run_s8(EltwiseOp::kQuantize, p, x.size()), want));

      std::vector<int8_t> q(256);
      for (int i = 0; i < 256; i++) q[size_t(i)] = int8_t(i - 128);
      std::vector<float> fw(256);
      ref.dequantize(q.data(), fw.data(), 256, scale, zp);
      EltwiseParams d = flat(256, 1, 0);
      d.a = to_device(q);
      d.scale = scale;
      d.zp = zp;
      std::vector<float> init;
      d.y = sentinel_buffer(256, &init);
      ASSERT_TRUE(launch_eltwise(*dev_, stream_, EltwiseOp::kDequantize, d).ok());
      EXPECT_TRUE(same_bits(from_device<float>(d.y, 256), fw));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Pooling: the CPU int8 operators themselves (ops/int8_pool.cc) are the reference

Attribute ints_attribute(const std::string& name, const std::vector<int64_t>& v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kInts;
  a.ints = v;
  return a;
}
Attribute floats_attribute(const std::string& name, const std::vector<float>& v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kFloats;
  a.floats = v;
  return a;
}

struct PoolCase {
  int64_t N, C, H, W, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
  bool ceil_mode = false, include_pad = false;
};

class CudaPool : public CudaKernels {
 protected:
  void run(const PoolCase& c, bool average, uint32_t seed) {
    SCOPED_TRACE(std::string(average ? "AveragePool" : "MaxPool") + " x [" + std::to_string(c.N) + "," +
                 std::to_string(c.C) + "," + std::to_string(c.H) + "," + std::to_string(c.W) + "] k " +
                 std::to_string(c.kh) + "x" + std::to_string(c.kw) + " s " + std::to_string(c.sh) + "x" +
                 std::to_string(c.sw) + " d " + std::to_string(c.dh) + "x" + std::to_string(c.dw) +
                 (c.ceil_mode ? " ceil" : "") + (c.include_pad ? " include_pad" : ""));
    std::mt19937 rng(seed);
    const Dims xd = {c.N, c.C, c.H, c.W};
    std::vector<int8_t> x = random_s8(rng, c.N * c.C * c.H * c.W);
    const float s_x = 0.03f, s_y = average ? 0.021f : 0.03f;
    NodeDef n = testing::make_node(average ? "AveragePool" : "MaxPool", {"x"}, {"y"});
    n.attrs.push_back(ints_attribute("kernel_shape", {c.kh, c.kw}));
    n.attrs.push_back(ints_attribute("strides", {c.sh, c.sw}));
    n.attrs.push_back(ints_attribute("dilations", {c.dh, c.dw}));
    n.attrs.push_back(ints_attribute("pads", {c.pt, c.pl, c.pb, c.pr}));
    n.set_attr_int("ceil_mode", c.ceil_mode);
    if (average) n.set_attr_int("count_include_pad", c.include_pad);
    n.attrs.push_back(floats_attribute("__in_scales", {s_x}));
    n.attrs.push_back(floats_attribute("__out_scales", {s_y}));
    std::vector<Tensor> outs;
    Status st = testing::run_op_at(Precision::kInt8, n, 19, {testing::make_tensor<int8_t>(xd, x)}, &outs);
    ASSERT_TRUE(st.ok()) << st.message();
    const Dims& od = outs[0].dims();
    ASSERT_EQ(od.size(), 4u);
    const std::vector<int8_t> want = testing::values_of<int8_t>(outs[0]);

    PoolParams p;
    std::memset(&p, 0, sizeof(p));
    p.x = to_device(x);
    p.planes = c.N * c.C;
    p.H = int(c.H), p.W = int(c.W), p.OH = int(od[2]), p.OW = int(od[3]);
    p.kh = int(c.kh), p.kw = int(c.kw), p.sh = int(c.sh), p.sw = int(c.sw), p.dh = int(c.dh), p.dw = int(c.dw);
    p.pt = int(c.pt), p.pl = int(c.pl), p.pb = int(c.pb), p.pr = int(c.pr);
    p.count_include_pad = c.include_pad;
    p.s_x = s_x;
    p.s_y = s_y;
    std::vector<int8_t> init;
    p.y = sentinel_buffer(want.size(), &init);
    ASSERT_TRUE(launch_pool(*dev_, stream_, average ? PoolOp::kAverage : PoolOp::kMax, p).ok());
    EXPECT_TRUE(same_bits(from_device<int8_t>(p.y, want.size()), want));
  }
};

TEST_F(CudaPool, Windows) {
  const PoolCase cases[] = {
      {2, 3, 9, 11, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},     {1, 4, 10, 10, 3, 2, 3, 2, 1, 1, 0, 1, 2, 0, true, false},
      {1, 4, 10, 10, 3, 2, 3, 2, 1, 1, 0, 1, 2, 0, true, true}, {1, 3, 12, 12, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2},
      {1, 2, 112, 112, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},  // the ResNet stem pool
      {1, 8, 56, 56, 7, 7, 1, 1, 1, 1, 0, 0, 0, 0},    // large window sums
      {1, 2, 1, 33, 1, 4, 1, 3, 1, 1, 0, 2, 0, 1},     // 1-D
      {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
  };
  uint32_t seed = 400;
  for (PoolCase c : cases) {
    run(c, false, seed++);
    run(c, true, seed++);
    c.include_pad = !c.include_pad;
    run(c, true, seed++);
  }
}

TEST_F(CudaPool, GlobalPools) {
  std::mt19937 rng(410);
  const Dims shapes[] = {{2, 3, 7, 7}, {1, 5, 1, 1}, {2, 4, 1, 33}, {1, 3, 100, 100}, {1, 2048, 7, 7}};
  for (const Dims& d : shapes) {
    SCOPED_TRACE(dims_str(d));
    const int64_t planes = d[0] * d[1], s = d[2] * d[3];
    std::vector<int8_t> x = random_s8(rng, planes * s);
    if (planes * s > 20000 && planes < 10) std::fill(x.begin(), x.end(), int8_t(-128));  // extreme sums
    for (bool average : {true, false}) {
      const float s_x = 0.02f, s_y = average ? 0.015f : 0.02f;
      NodeDef n = testing::make_node(average ? "GlobalAveragePool" : "GlobalMaxPool", {"x"}, {"y"});
      n.attrs.push_back(floats_attribute("__in_scales", {s_x}));
      n.attrs.push_back(floats_attribute("__out_scales", {s_y}));
      std::vector<Tensor> outs;
      Status st = testing::run_op_at(Precision::kInt8, n, 13, {testing::make_tensor<int8_t>(d, x)}, &outs);
      ASSERT_TRUE(st.ok()) << st.message();
      const std::vector<int8_t> want = testing::values_of<int8_t>(outs[0]);
      GlobalPoolParams p;
      std::memset(&p, 0, sizeof(p));
      p.x = to_device(x);
      p.planes = planes;
      p.size = s;
      p.multiplier = global_avgpool_multiplier(s_x, s_y, s);
      std::vector<int8_t> init;
      p.y = sentinel_buffer(want.size(), &init);
      ASSERT_TRUE(launch_global_pool(*dev_, stream_, average ? PoolOp::kAverage : PoolOp::kMax, p).ok());
      EXPECT_TRUE(same_bits(from_device<int8_t>(p.y, want.size()), want)) << (average ? "average" : "max");
    }
  }
}

}  // namespace
}  // namespace cuda
}  // namespace int8rt
