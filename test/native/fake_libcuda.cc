// A stand-in for libcuda.so.1 that emulates a CUDA device on the CPU, for tests on machines without a GPU. It exports
// the driver API entry points int8rt resolves (native/cuda/driver.h, DriverApi; the _v2 names where the real library
// has them) with plain C types, and behaves as a device does as far as int8rt can observe:
//
//   memory   cuMemAlloc returns 256-byte aligned host memory, filled with 0x5B (reads of device memory nobody wrote
//            show up as wrong results); cuMemFree fills it with 0xA5 before releasing it. Every copy and memset must
//            lie inside one live allocation, else CUDA_ERROR_INVALID_VALUE.
//   kernels  cuModuleGetFunction knows the kernels of native/kernels/cuda/*.cu by their extern "C" names;
//            cuLaunchKernel runs the whole grid at once, on the CPU, from the kernel's parameter block
//            (native/kernels/cuda/params.h, the contract these loops implement; they are written independently of
//            the engine's CPU kernels so that tests compare two implementations). Before a kernel runs, every range
//            it reads or writes is checked against the live allocations (a memcheck): a violation returns
//            CUDA_ERROR_ILLEGAL_ADDRESS and nothing is written; misaligned vector or 4-byte operands return
//            CUDA_ERROR_MISALIGNED_ADDRESS. The grid is honoured where it decides what a kernel covers (the GEMM
//            tiles, one block per plane of the global pools); the block must be the 256 x 1 x 1 the kernels are
//            built for.
//   streams  work runs synchronously at the call, a legal schedule of any stream; streams and events are real
//            handles (a destroyed or unknown one is CUDA_ERROR_INVALID_HANDLE) and events record steady_clock time.
//   context  memory, stream, event and launch calls need a context pushed on the calling thread
//            (CUDA_ERROR_INVALID_CONTEXT otherwise), as the real driver does.
//
// Every failure of the kinds above is counted as an error (the first one's description kept) for the tests:
// fake_cuda_stats() writes the counters as one JSON line, and with FAKE_CUDA_STATS_FILE set they are written to that
// file when the library is unloaded (process exit), so that a child process can be checked for leaks and errors
// (only by a library that had a context pushed, i.e. served as a device).
//
// Behaviour read from the environment at each call (the existing switches of cuda_driver_test.cc / cuda.test.ts):
//   FAKE_CUDA_INIT_RESULT=n      cuInit returns n (100 = CUDA_ERROR_NO_DEVICE)
//   FAKE_CUDA_DEVICE_COUNT=n     devices reported (default 1)
//   FAKE_CUDA_DRIVER_VERSION=n   cuDriverGetVersion (default 13000)
//   FAKE_CUDA_CC=XY              compute capability of every device (default 86)
//   FAKE_CUDA_MODULE_RESULT=n    cuModuleLoadData returns n (209 = CUDA_ERROR_NO_BINARY_FOR_GPU)
//   FAKE_CUDA_MEMORY_LIMIT=bytes cuMemAlloc returns CUDA_ERROR_OUT_OF_MEMORY past that many live bytes
//   FAKE_CUDA_STATS_FILE=path    the stats JSON is written there at exit
// Built with FAKE_LIBCUDA_WITHOUT_V2 it lacks cuMemAlloc_v2, like a library that is not a current libcuda.
//
// Standalone: g++ -shared -fPIC -O1 -I<repo>/native -o libcuda.so.1 test/native/fake_libcuda.cc (libstdc++ only).
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "kernels/cuda/params.h"

// Each float operation below is one IEEE binary32 rounding, as on the device (whose kernels use the explicitly
// rounded intrinsics): no contraction of a * b + c into an fma, which GCC would do by default where the target has one.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace {

using int8rt::cuda_kernels::DwConvParams;
using int8rt::cuda_kernels::EltwiseParams;
using int8rt::cuda_kernels::GlobalPoolParams;
using int8rt::cuda_kernels::PoolParams;
using int8rt::cuda_kernels::QGemmParams;

// Driver results (cuda.h's cudaError_enum).
constexpr int kSuccess = 0, kInvalidValue = 1, kOutOfMemory = 2, kInvalidContext = 201, kInvalidHandle = 400,
              kNotFound = 500, kIllegalAddress = 700, kMisalignedAddress = 716;

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

int fake_context_storage, fake_module_storage;

// ---------------------------------------------------------------------------------------------------------------
// Kernels the emulator knows, by their extern "C" names in native/kernels/cuda/*.cu.

enum class Kind {
  kQGemm, kQGemmIm2col, kDwConv, kEltAdd, kEltMul, kEltRescale, kEltClamp, kEltLookup, kQuantize, kDequantize,
  kMaxPool, kAvgPool, kGlobalMax, kGlobalAvg,
  kGatherB1, kGatherB2, kGatherB4, kGatherB8, kGatherRescaleS8,
  kEltBinaryF32, kEltUnaryF32, kReduceRowsF32, kSoftmaxRowsF32, kGemmF32
};
struct KernelDesc {
  const char* name;
  Kind kind;
  int tile;  // GEMM: the block tile (64 or 128 square)
};
KernelDesc kKernels[] = {
    {"qgemm_s8_dp4a_64x64", Kind::kQGemm, 64},
    {"qgemm_s8_dp4a_64x64_im2col", Kind::kQGemmIm2col, 64},
    {"qgemm_s8_imma_128x128", Kind::kQGemm, 128},
    {"qgemm_s8_imma_128x128_im2col", Kind::kQGemmIm2col, 128},
    {"dwconv_s8_direct", Kind::kDwConv, 0},
    {"eltwise_add_s8", Kind::kEltAdd, 0},
    {"eltwise_mul_s8", Kind::kEltMul, 0},
    {"eltwise_rescale_s8", Kind::kEltRescale, 0},
    {"eltwise_clamp_s8", Kind::kEltClamp, 0},
    {"eltwise_lookup_s8", Kind::kEltLookup, 0},
    {"quantize_f32_s8", Kind::kQuantize, 0},
    {"dequantize_s8_f32", Kind::kDequantize, 0},
    {"maxpool_s8", Kind::kMaxPool, 0},
    {"avgpool_s8", Kind::kAvgPool, 0},
    {"global_maxpool_s8", Kind::kGlobalMax, 0},
    {"global_avgpool_s8", Kind::kGlobalAvg, 0},
    {"gather_axes_b1", Kind::kGatherB1, 0},
    {"gather_axes_b2", Kind::kGatherB2, 0},
    {"gather_axes_b4", Kind::kGatherB4, 0},
    {"gather_axes_b8", Kind::kGatherB8, 0},
    {"gather_axes_rescale_s8", Kind::kGatherRescaleS8, 0},
    {"eltwise_binary_f32", Kind::kEltBinaryF32, 0},
    {"eltwise_unary_f32", Kind::kEltUnaryF32, 0},
    {"reduce_rows_f32", Kind::kReduceRowsF32, 0},
    {"softmax_rows_f32", Kind::kSoftmaxRowsF32, 0},
    {"gemm_f32_tiled_16x16", Kind::kGemmF32, 16},
};
constexpr size_t kKernelCount = sizeof(kKernels) / sizeof(kKernels[0]);

const KernelDesc* kernel_of(const void* fn) {
  for (const KernelDesc& k : kKernels)
    if (fn == &k) return &k;
  return nullptr;
}

// ---------------------------------------------------------------------------------------------------------------
// State, all under one mutex.

struct Event {
  bool recorded = false;
  std::chrono::steady_clock::time_point t;
};

struct State {
  std::mutex mu;
  std::map<uint64_t, size_t> allocs;  // live allocations: address -> size
  std::set<void*> streams;
  std::set<Event*> events;
  long long n_allocs = 0, n_frees = 0, live_bytes = 0, peak_bytes = 0, launches = 0, h2d = 0, d2h = 0, errors = 0;
  long long alloc_failures = 0, context_pushes = 0;
  long long launches_by_kernel[kKernelCount] = {};
  std::string first_error;
};

State& state() {
  static State* s = new State();  // never destroyed: the exit handler below still reads it
  return *s;
}

thread_local int context_depth = 0;

// Counts an error of the engine's making and returns `result`. Caller holds the mutex.
int fail(State& s, int result, const std::string& what) {
  s.errors++;
  if (s.first_error.empty()) s.first_error = what;
  return result;
}

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)v);
  return buf;
}

// Whether [p, p + bytes) lies inside one live allocation (bytes > 0).
bool inside(const State& s, uint64_t p, uint64_t bytes) {
  auto it = s.allocs.upper_bound(p);
  if (it == s.allocs.begin()) return false;
  --it;
  const uint64_t off = p - it->first;
  return off < it->second && bytes <= it->second - off;
}

bool stream_ok(const State& s, void* stream) { return stream == nullptr || s.streams.count(stream) != 0; }

// Common checks of the calls that need a context and a stream; 0 when fine. Caller holds the mutex.
int check_call(State& s, const char* call, void* stream) {
  if (context_depth <= 0) return fail(s, kInvalidContext, std::string(call) + ": no current context");
  if (!stream_ok(s, stream)) return fail(s, kInvalidHandle, std::string(call) + ": unknown or destroyed stream");
  return kSuccess;
}

void append_stats(const State& s, std::string* out) {
  char buf[512];
  const long long live = (long long)s.allocs.size();
  std::snprintf(buf, sizeof(buf),
                "{\"allocs\":%lld,\"frees\":%lld,\"liveAllocs\":%lld,\"liveBytes\":%lld,\"peakBytes\":%lld,"
                "\"launches\":%lld,\"launchesByKernel\":{",
                s.n_allocs, s.n_frees, live, s.live_bytes, s.peak_bytes, s.launches);
  *out += buf;
  bool first = true;
  for (size_t i = 0; i < kKernelCount; i++) {
    if (!s.launches_by_kernel[i]) continue;
    std::snprintf(buf, sizeof(buf), "%s\"%s\":%lld", first ? "" : ",", kKernels[i].name, s.launches_by_kernel[i]);
    *out += buf;
    first = false;
  }
  std::snprintf(buf, sizeof(buf),
                "},\"h2dBytes\":%lld,\"d2hBytes\":%lld,\"liveStreams\":%lld,\"liveEvents\":%lld,\"allocFailures\":%lld,"
                "\"errors\":%lld,\"firstError\":\"",
                s.h2d, s.d2h, (long long)s.streams.size(), (long long)s.events.size(), s.alloc_failures, s.errors);
  *out += buf;
  for (char c : s.first_error) {  // JSON string escaping
    if (c == '"' || c == '\\') {
      *out += '\\';
      *out += c;
    } else if ((unsigned char)c < 0x20) {
      std::snprintf(buf, sizeof(buf), "\\u%04x", (unsigned)(unsigned char)c);
      *out += buf;
    } else {
      *out += c;
    }
  }
  *out += "\"}";
}

// ---------------------------------------------------------------------------------------------------------------
// Device arithmetic: cvt.rni.s32.f32 (round half to even, saturating, NaN -> 0) and the clamps of params.h.

int f2i_rn(float v) {
  if (v != v) return 0;
  if (v >= 2147483648.f) return 2147483647;
  if (v <= -2147483648.f) return -2147483647 - 1;
  return int(std::nearbyint(v));
}
// sat(rne(v)): min(max(v, -128), 127) then round (NaN stays NaN and converts to 0).
signed char sat_rne(float v) {
  v = v < -128.f ? -128.f : v;
  v = 127.f < v ? 127.f : v;
  return (signed char)f2i_rn(v);
}
// The GEMM / depthwise int8 epilogue clamp: max(lo, v) then min(.., hi), NaN to lo.
signed char clamp_s8(float v, float lo, float hi) {
  float c = lo < v ? v : lo;
  c = hi < c ? hi : c;
  return (signed char)f2i_rn(c);
}
// The float epilogue clamp: NaN passes.
float clamp_f32(float v, float lo, float hi) {
  float c = lo > v ? lo : v;
  return hi < c ? hi : c;
}
// (float)(acc + bias) * multiplier (+ residual * rmul as one fma); acc + bias wraps modulo 2^32.
float epilogue(uint32_t acc, int32_t bias, float mult, const signed char* r, float rmul) {
  const int32_t x = int32_t(acc + uint32_t(bias));
  float v = float(x) * mult;
  if (r) v = std::fma(float(*r), rmul, v);
  return v;
}

// One operand range a launch touches.
struct Range {
  const char* what;
  uint64_t addr;
  uint64_t bytes;
  unsigned align;
};

// Checks the ranges before anything runs; 0 when all are inside live allocations and aligned. Caller holds the mutex.
int check_ranges(State& s, const char* kernel, const std::vector<Range>& ranges) {
  for (const Range& r : ranges) {
    if (r.bytes == 0) continue;
    if (!inside(s, r.addr, r.bytes))
      return fail(s, kIllegalAddress, std::string(kernel) + ": " + r.what + " [" + hex(r.addr) + ", +" +
                                          std::to_string(r.bytes) + ") is outside every live allocation");
    if (r.align > 1 && r.addr % r.align != 0)
      return fail(s, kMisalignedAddress, std::string(kernel) + ": " + r.what + " at " + hex(r.addr) +
                                             " is not " + std::to_string(r.align) + "-byte aligned");
  }
  return kSuccess;
}

// Extent of a set of element offsets, as a byte range from `base`.
struct Extent {
  bool any = false;
  long long lo = 0, hi = 0;  // inclusive element offsets
  void add(long long v) {
    if (!any) lo = hi = v, any = true;
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  Range range(const char* what, uint64_t base, unsigned elem) const {
    if (!any) return Range{what, base, 0, 1};
    return Range{what, base + uint64_t(lo * (long long)elem), uint64_t((hi - lo + 1) * (long long)elem), elem};
  }
};

long long ceil_div(long long a, long long b) { return (a + b - 1) / b; }

// ---------------------------------------------------------------------------------------------------------------
// GEMM: per problem z (img = z / groups, g = z % groups) C_z = epilogue(A_g x B_z), over the rows and columns the
// grid's tiles cover.

int run_qgemm(State& s, const KernelDesc& k, const QGemmParams& p, unsigned gx, unsigned gy, unsigned gz) {
  const bool conv = k.kind == Kind::kQGemmIm2col;
  if (p.M < 0 || p.N < 0 || p.K < 0 || p.groups <= 0 || p.out_kind < 0 || p.out_kind > 2 || (p.conv != 0) != conv)
    return fail(s, kInvalidValue, std::string(k.name) + ": bad parameters (sizes, groups, out_kind or conv flag)");
  const long long M = p.M, N = p.N, K = p.K, T = k.tile;
  const long long Mc = M < (long long)gy * T ? M : (long long)gy * T;  // rows the grid covers
  const long long Nc = N < (long long)gx * T ? N : (long long)gx * T;
  const long long problems = gz;
  const unsigned esize = p.out_kind == 0 ? 1 : 4;
  const bool epi = p.out_kind != 2;
  const long long taps = conv ? (long long)p.kh * p.kw : 1;
  if (conv && (p.kh <= 0 || p.kw <= 0 || p.OW <= 0 || K % taps != 0))
    return fail(s, kInvalidValue, std::string(k.name) + ": bad convolution geometry");
  if (Mc <= 0 || Nc <= 0 || problems <= 0) return kSuccess;
  if (K * Nc > (1LL << 31)) return fail(s, kInvalidValue, std::string(k.name) + ": problem too large to emulate");

  // B[k, n] of one image / matrix as an element offset from the problem's B, or -1 for an implicit zero.
  auto b_offset = [&](long long kk, long long n) -> long long {
    if (!conv) return kk * p.ldb + n;
    const long long c = kk / taps, r = kk % taps, ky = r / p.kw, kx = r % p.kw;
    const long long oy = n / p.OW, ox = n % p.OW;
    const long long iy = oy * p.sh - p.pt + ky * p.dh, ix = ox * p.sw - p.pl + kx * p.dw;
    if (iy < 0 || iy >= p.IH || ix < 0 || ix >= p.IW) return -1;
    return (c * p.IH + iy) * p.IW + ix;
  };
  Extent bx;  // the same for every problem (only the base moves)
  for (long long kk = 0; kk < K; kk++)
    for (long long n = 0; n < Nc; n++) {
      const long long o = b_offset(kk, n);
      if (o >= 0) bx.add(o);
    }

  std::vector<Range> ranges;
  const long long a_row_bytes = K > 0 ? ceil_div(K, 64) * 64 : 0;  // the kernels load A in whole 64-k steps
  for (long long z = 0; z < problems; z++) {
    const long long img = z / p.groups, g = z % p.groups;
    if (K > 0) {
      ranges.push_back({"A", p.a + uint64_t(g * p.a_group_stride), uint64_t((Mc - 1) * p.lda + a_row_bytes), 16});
      ranges.push_back(bx.range("B", p.b + uint64_t(img * p.b_batch_stride + g * p.b_group_stride), 1));
    }
    ranges.push_back({"C", p.c + uint64_t((img * p.c_batch_stride + g * p.c_group_stride) * esize),
                      uint64_t(((Mc - 1) * p.ldc + Nc) * esize), esize});
    if (epi) {
      if (p.bias) ranges.push_back({"bias", p.bias + uint64_t(g * M * 4), uint64_t(Mc * 4), 4});
      ranges.push_back({"multiplier", p.multiplier + uint64_t(g * M * 4), uint64_t(Mc * 4), 4});
      if (p.residual)
        ranges.push_back({"residual", p.residual + uint64_t(img * p.r_batch_stride + g * p.r_group_stride),
                          uint64_t((Mc - 1) * p.ldr + Nc), 1});
    }
  }
  if (K > 0 && p.a_group_stride % 16 != 0)
    return fail(s, kMisalignedAddress, std::string(k.name) + ": a_group_stride is not a multiple of 16");
  if (int r = check_ranges(s, k.name, ranges)) return r;

  std::vector<signed char> Bz(static_cast<size_t>(K * Nc));
  std::vector<uint32_t> acc(static_cast<size_t>(Nc));
  for (long long z = 0; z < problems; z++) {
    const long long img = z / p.groups, g = z % p.groups;
    const signed char* A = reinterpret_cast<const signed char*>(p.a) + g * p.a_group_stride;
    const signed char* B = reinterpret_cast<const signed char*>(p.b) + img * p.b_batch_stride + g * p.b_group_stride;
    for (long long kk = 0; kk < K; kk++)
      for (long long n = 0; n < Nc; n++) {
        const long long o = b_offset(kk, n);
        Bz[size_t(kk * Nc + n)] = o >= 0 ? B[o] : 0;
      }
    const long long coff = img * p.c_batch_stride + g * p.c_group_stride;
    const signed char* R =
        p.residual ? reinterpret_cast<const signed char*>(p.residual) + img * p.r_batch_stride + g * p.r_group_stride
                   : nullptr;
    const int32_t* bias = p.bias ? reinterpret_cast<const int32_t*>(p.bias) + g * M : nullptr;
    const float* mult = reinterpret_cast<const float*>(p.multiplier) + g * M;
    for (long long m = 0; m < Mc; m++) {
      for (long long n = 0; n < Nc; n++) acc[size_t(n)] = 0;
      for (long long kk = 0; kk < K; kk++) {
        const int32_t a = A[m * p.lda + kk];
        const signed char* brow = Bz.data() + kk * Nc;
        for (long long n = 0; n < Nc; n++) acc[size_t(n)] += uint32_t(a * int32_t(brow[n]));
      }
      for (long long n = 0; n < Nc; n++) {
        const long long at = coff + m * p.ldc + n;
        if (p.out_kind == 2) {
          reinterpret_cast<int32_t*>(p.c)[at] = int32_t(acc[size_t(n)]);
          continue;
        }
        const float v = epilogue(acc[size_t(n)], bias ? bias[m] : 0, mult[m], R ? R + m * p.ldr + n : nullptr,
                                 p.residual_multiplier);
        if (p.out_kind == 1)
          reinterpret_cast<float*>(p.c)[at] = clamp_f32(v, p.lo, p.hi);
        else
          reinterpret_cast<signed char*>(p.c)[at] = clamp_s8(v, p.lo, p.hi);
      }
    }
  }
  return kSuccess;
}

// ---------------------------------------------------------------------------------------------------------------
// Depthwise: y[i] for i over batch x C x OH x OW, the channel's taps inside the plane.

int run_dwconv(State& s, const KernelDesc& k, const DwConvParams& p) {
  if (p.batch < 0 || p.C < 0 || p.OH < 0 || p.OW < 0) return fail(s, kInvalidValue, "dwconv_s8_direct: negative size");
  const long long plane_out = (long long)p.OH * p.OW, plane_in = (long long)p.H * p.W;
  const long long total = (long long)p.batch * p.C * plane_out;
  if (total == 0) return kSuccess;
  const long long taps = (long long)p.kh * p.kw;
  // Calls f(i, c, tap index, x offset) for every tap inside the plane of every output i (offset from p.x).
  auto for_each_tap = [&](auto&& f) {
    for (long long i = 0; i < total; i++) {
      const long long plane = i / plane_out, o = i % plane_out, c = plane % p.C;
      const long long oy = o / p.OW, ox = o % p.OW;
      for (long long ky = 0; ky < p.kh; ky++) {
        const long long iy = oy * p.sh - p.pt + ky * p.dh;
        if (iy < 0 || iy >= p.H) continue;
        for (long long kx = 0; kx < p.kw; kx++) {
          const long long ix = ox * p.sw - p.pl + kx * p.dw;
          if (ix >= 0 && ix < p.W) f(i, c, ky * p.kw + kx, plane * plane_in + iy * p.W + ix);
        }
      }
    }
  };
  Extent xe, we;
  for_each_tap([&](long long, long long c, long long t, long long xo) {
    xe.add(xo);
    we.add(c * taps + t);
  });
  std::vector<Range> ranges = {xe.range("x", p.x, 1), we.range("w", p.w, 1),
                               {"multiplier", p.multiplier, uint64_t(p.C) * 4, 4},
                               {"y", p.y, uint64_t(total), 1}};
  if (p.bias) ranges.push_back({"bias", p.bias, uint64_t(p.C) * 4, 4});
  if (p.residual) ranges.push_back({"residual", p.residual, uint64_t(total), 1});
  if (int r = check_ranges(s, k.name, ranges)) return r;

  const signed char* x = reinterpret_cast<const signed char*>(p.x);
  const signed char* w = reinterpret_cast<const signed char*>(p.w);
  const int32_t* bias = reinterpret_cast<const int32_t*>(p.bias);
  std::vector<int32_t> acc(static_cast<size_t>(total));
  for (long long i = 0; i < total; i++) acc[size_t(i)] = bias ? bias[(i / plane_out) % p.C] : 0;
  for_each_tap([&](long long i, long long c, long long t, long long xo) {
    acc[size_t(i)] = int32_t(uint32_t(acc[size_t(i)]) + uint32_t(int32_t(w[c * taps + t]) * int32_t(x[xo])));
  });
  const float* mult = reinterpret_cast<const float*>(p.multiplier);
  const signed char* res = reinterpret_cast<const signed char*>(p.residual);
  signed char* y = reinterpret_cast<signed char*>(p.y);
  for (long long i = 0; i < total; i++) {
    const long long c = (i / plane_out) % p.C;
    float v = float(acc[size_t(i)]) * mult[c];
    if (res) v = std::fma(float(res[i]), p.residual_multiplier, v);
    y[i] = clamp_s8(v, p.lo, p.hi);
  }
  return kSuccess;
}

// ---------------------------------------------------------------------------------------------------------------
// Elementwise: n outputs, inputs addressed flat (i * step) or through broadcast strides.

int run_eltwise(State& s, const KernelDesc& k, const EltwiseParams& p) {
  if (p.n < 0 || p.rank < 0 || p.rank > int8rt::cuda_kernels::kEltwiseMaxRank)
    return fail(s, kInvalidValue, std::string(k.name) + ": bad size or rank");
  if (p.n == 0) return kSuccess;
  for (int d = 0; d < p.rank; d++)
    if (p.dims[d] <= 0) return fail(s, kInvalidValue, std::string(k.name) + ": a dimension is not positive");
  auto offsets = [&](long long i, long long* ia, long long* ib) {
    if (p.rank == 0) {
      *ia = i * p.a_step;
      *ib = i * p.b_step;
      return;
    }
    long long oa = 0, ob = 0, rest = i;
    for (int d = p.rank - 1; d >= 0; d--) {
      const long long idx = rest % p.dims[d];
      rest /= p.dims[d];
      oa += idx * p.a_strides[d];
      ob += idx * p.b_strides[d];
    }
    *ia = oa;
    *ib = ob;
  };
  const bool uses_b = k.kind == Kind::kEltAdd || k.kind == Kind::kEltMul;
  const unsigned a_size = k.kind == Kind::kQuantize ? 4 : 1, y_size = k.kind == Kind::kDequantize ? 4 : 1;
  Extent ae, be;
  for (long long i = 0; i < p.n; i++) {
    long long ia, ib;
    offsets(i, &ia, &ib);
    ae.add(ia);
    if (uses_b) be.add(ib);
  }
  std::vector<Range> ranges = {ae.range("a", p.a, a_size), {"y", p.y, uint64_t(p.n) * y_size, y_size}};
  if (uses_b) ranges.push_back(be.range("b", p.b, 1));
  if (k.kind == Kind::kEltLookup) ranges.push_back({"table", p.table, 256, 1});
  if (int r = check_ranges(s, k.name, ranges)) return r;

  const signed char* a8 = reinterpret_cast<const signed char*>(p.a);
  const float* af = reinterpret_cast<const float*>(p.a);
  const signed char* b8 = reinterpret_cast<const signed char*>(p.b);
  const signed char* table = reinterpret_cast<const signed char*>(p.table);
  signed char* y8 = reinterpret_cast<signed char*>(p.y);
  float* yf = reinterpret_cast<float*>(p.y);
  const float qlo = float(-128 - p.zp), qhi = float(127 - p.zp);
  for (long long i = 0; i < p.n; i++) {
    long long ia, ib;
    offsets(i, &ia, &ib);
    switch (k.kind) {
      case Kind::kEltAdd: {
        const float ax = float(a8[ia]) * p.ma;
        y8[i] = sat_rne(std::fma(float(b8[ib]), p.mb, ax));
        break;
      }
      case Kind::kEltMul: y8[i] = sat_rne(float(int32_t(a8[ia]) * int32_t(b8[ib])) * p.ma); break;
      case Kind::kEltRescale: y8[i] = sat_rne(float(a8[ia]) * p.ma); break;
      case Kind::kEltClamp: {
        int v = a8[ia];
        v = v < p.qlo ? p.qlo : v;
        y8[i] = (signed char)(v > p.qhi ? p.qhi : v);
        break;
      }
      case Kind::kEltLookup: y8[i] = table[int(a8[ia]) + 128]; break;
      case Kind::kQuantize: {
        float v = af[ia] / p.scale;
        v = v > qlo ? v : qlo;  // NaN fails: the lower bound
        v = v < qhi ? v : qhi;
        y8[i] = (signed char)(f2i_rn(v) + p.zp);
        break;
      }
      case Kind::kDequantize: yf[i] = float(int32_t(a8[ia]) - p.zp) * p.scale; break;
      default: break;
    }
  }
  return kSuccess;
}

// ---------------------------------------------------------------------------------------------------------------
// Pooling over NCHW planes.

int run_pool(State& s, const KernelDesc& k, const PoolParams& p) {
  if (p.planes < 0 || p.OH < 0 || p.OW < 0) return fail(s, kInvalidValue, std::string(k.name) + ": negative size");
  const long long plane_out = (long long)p.OH * p.OW, plane_in = (long long)p.H * p.W;
  const long long total = p.planes * plane_out;
  if (total == 0) return kSuccess;
  // Calls f(i, x offset) for every tap of output i inside the plane.
  auto for_each_tap = [&](long long i, auto&& f) {
    const long long plane = i / plane_out, o = i % plane_out, oy = o / p.OW, ox = o % p.OW;
    for (long long ty = 0; ty < p.kh; ty++) {
      const long long iy = oy * p.sh - p.pt + ty * p.dh;
      if (iy < 0 || iy >= p.H) continue;
      for (long long tx = 0; tx < p.kw; tx++) {
        const long long ix = ox * p.sw - p.pl + tx * p.dw;
        if (ix >= 0 && ix < p.W) f(plane * plane_in + iy * p.W + ix);
      }
    }
  };
  Extent xe;
  for (long long i = 0; i < total; i++) for_each_tap(i, [&](long long xo) { xe.add(xo); });
  if (int r = check_ranges(s, k.name, {xe.range("x", p.x, 1), {"y", p.y, uint64_t(total), 1}})) return r;

  const signed char* x = reinterpret_cast<const signed char*>(p.x);
  signed char* y = reinterpret_cast<signed char*>(p.y);
  for (long long i = 0; i < total; i++) {
    if (k.kind == Kind::kMaxPool) {
      int best = -128;
      for_each_tap(i, [&](long long xo) { best = x[xo] > best ? x[xo] : best; });
      y[i] = (signed char)best;
      continue;
    }
    int32_t sum = 0;
    long long count = 0;
    for_each_tap(i, [&](long long xo) {
      sum += x[xo];
      count++;
    });
    if (p.count_include_pad) {  // taps inside [-pt, H + pb) x [-pl, W + pr)
      const long long o = i % plane_out, oy = o / p.OW, ox = o % p.OW;
      long long ch = 0, cw = 0;
      for (long long ty = 0; ty < p.kh; ty++) {
        const long long iy = oy * p.sh - p.pt + ty * p.dh;
        ch += iy >= -p.pt && iy < (long long)p.H + p.pb;
      }
      for (long long tx = 0; tx < p.kw; tx++) {
        const long long ix = ox * p.sw - p.pl + tx * p.dw;
        cw += ix >= -p.pl && ix < (long long)p.W + p.pr;
      }
      count = ch * cw;
    }
    if (count <= 0) {
      y[i] = 0;
      continue;
    }
    const float m = p.s_x / (float(count) * p.s_y);
    y[i] = sat_rne(float(sum) * m);
  }
  return kSuccess;
}

// Global pools: block b reduces plane b (size elements at x + b * size) into y[b]; the grid decides the planes.
int run_global_pool(State& s, const KernelDesc& k, const GlobalPoolParams& p, unsigned gx) {
  if (p.size < 0) return fail(s, kInvalidValue, std::string(k.name) + ": negative size");
  const long long planes = gx;
  if (int r = check_ranges(s, k.name, {{"x", p.x, uint64_t(planes * p.size), 1}, {"y", p.y, uint64_t(planes), 1}}))
    return r;
  const signed char* x = reinterpret_cast<const signed char*>(p.x);
  signed char* y = reinterpret_cast<signed char*>(p.y);
  for (long long b = 0; b < planes; b++) {
    const signed char* xp = x + b * p.size;
    if (k.kind == Kind::kGlobalMax) {
      int best = -128;
      for (long long i = 0; i < p.size; i++) best = xp[i] > best ? xp[i] : best;
      y[b] = (signed char)best;
    } else {
      long long sum = 0;
      for (long long i = 0; i < p.size; i++) sum += xp[i];
      y[b] = sat_rne(float(sum) * p.multiplier);
    }
  }
  return kSuccess;
}

// Data movement (gather_axes_*): fake_cuda_gather.inc.
#include "fake_cuda_gather.inc"

// Float32 kernels: fake_cuda_float.inc.
#include "fake_cuda_float.inc"

}  // namespace

#define FAKE_API extern "C" __attribute__((visibility("default")))

// ---------------------------------------------------------------------------------------------------------------
// Initialisation, devices, contexts, modules

FAKE_API int cuInit(unsigned) { return env_int("FAKE_CUDA_INIT_RESULT", 0); }
FAKE_API int cuDriverGetVersion(int* v) {
  *v = env_int("FAKE_CUDA_DRIVER_VERSION", 13000);
  return 0;
}
FAKE_API int cuGetErrorName(int r, const char** name) {
  switch (r) {
    case 1: *name = "CUDA_ERROR_INVALID_VALUE"; return 0;
    case 2: *name = "CUDA_ERROR_OUT_OF_MEMORY"; return 0;
    case 100: *name = "CUDA_ERROR_NO_DEVICE"; return 0;
    case 201: *name = "CUDA_ERROR_INVALID_CONTEXT"; return 0;
    case 209: *name = "CUDA_ERROR_NO_BINARY_FOR_GPU"; return 0;
    case 400: *name = "CUDA_ERROR_INVALID_HANDLE"; return 0;
    case 500: *name = "CUDA_ERROR_NOT_FOUND"; return 0;
    case 700: *name = "CUDA_ERROR_ILLEGAL_ADDRESS"; return 0;
    case 716: *name = "CUDA_ERROR_MISALIGNED_ADDRESS"; return 0;
    default: *name = nullptr; return 1;
  }
}
FAKE_API int cuGetErrorString(int r, const char** text) {
  switch (r) {
    case 1: *text = "invalid argument"; return 0;
    case 2: *text = "out of memory"; return 0;
    case 100: *text = "no CUDA-capable device is detected"; return 0;
    case 201: *text = "invalid device context"; return 0;
    case 209: *text = "no kernel image is available for execution on the device"; return 0;
    case 400: *text = "invalid resource handle"; return 0;
    case 500: *text = "named symbol not found"; return 0;
    case 700: *text = "an illegal memory access was encountered"; return 0;
    case 716: *text = "misaligned address"; return 0;
    default: *text = nullptr; return 1;
  }
}
FAKE_API int cuDeviceGetCount(int* n) {
  *n = env_int("FAKE_CUDA_DEVICE_COUNT", 1);
  return 0;
}
FAKE_API int cuDeviceGet(int* d, int ordinal) {
  if (ordinal < 0 || ordinal >= env_int("FAKE_CUDA_DEVICE_COUNT", 1)) return 101;
  *d = ordinal;
  return 0;
}
FAKE_API int cuDeviceGetName(char* name, int len, int d) {
  std::snprintf(name, size_t(len), "Fake GPU %d", d);
  return 0;
}
FAKE_API int cuDeviceGetAttribute(int* v, int attr, int) {
  const int cc = env_int("FAKE_CUDA_CC", 86);
  switch (attr) {
    case 75: *v = cc / 10; return 0;
    case 76: *v = cc % 10; return 0;
    case 16: *v = 46; return 0;
    case 97: *v = 101376; return 0;
    default: *v = 0; return 1;
  }
}
FAKE_API int cuDeviceTotalMem_v2(size_t* bytes, int) {
  *bytes = size_t(8) << 30;
  return 0;
}
FAKE_API int cuDevicePrimaryCtxRetain(void** ctx, int) {
  *ctx = &fake_context_storage;
  return 0;
}
FAKE_API int cuDevicePrimaryCtxRelease_v2(int) { return 0; }
FAKE_API int cuCtxPushCurrent_v2(void* ctx) {
  if (ctx != &fake_context_storage) {
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mu);
    return fail(s, kInvalidContext, "cuCtxPushCurrent: not a context of this driver");
  }
  context_depth++;
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.context_pushes++;
  return 0;
}
FAKE_API int cuCtxPopCurrent_v2(void** ctx) {
  if (context_depth <= 0) {
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mu);
    return fail(s, kInvalidContext, "cuCtxPopCurrent: no current context");
  }
  context_depth--;
  *ctx = &fake_context_storage;
  return 0;
}
FAKE_API int cuModuleLoadData(void** module, const void*) {
  const int r = env_int("FAKE_CUDA_MODULE_RESULT", 0);
  *module = r ? nullptr : &fake_module_storage;
  return r;
}
FAKE_API int cuModuleUnload(void*) { return 0; }
FAKE_API int cuModuleGetFunction(void** fn, void*, const char* name) {
  for (KernelDesc& k : kKernels)
    if (name && std::strcmp(name, k.name) == 0) {
      *fn = &k;
      return 0;
    }
  *fn = nullptr;
  return kNotFound;
}
FAKE_API int cuFuncSetAttribute(void* fn, int, int) {
  if (kernel_of(fn)) return 0;
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  return fail(s, kInvalidHandle, "cuFuncSetAttribute: not a function of this driver");
}

// ---------------------------------------------------------------------------------------------------------------
// Memory

#ifndef FAKE_LIBCUDA_WITHOUT_V2
FAKE_API int cuMemAlloc_v2(unsigned long long* p, size_t bytes) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  *p = 0;
  if (context_depth <= 0) return fail(s, kInvalidContext, "cuMemAlloc: no current context");
  if (bytes == 0) return fail(s, kInvalidValue, "cuMemAlloc of 0 bytes");
  const char* limit = std::getenv("FAKE_CUDA_MEMORY_LIMIT");
  if (limit && *limit && (unsigned long long)s.live_bytes + bytes > std::strtoull(limit, nullptr, 10)) {
    s.alloc_failures++;
    return kOutOfMemory;
  }
  const size_t rounded = (bytes + 255) / 256 * 256;
  void* mem = rounded >= bytes ? std::aligned_alloc(256, rounded) : nullptr;
  if (!mem) {
    s.alloc_failures++;
    return kOutOfMemory;
  }
  std::memset(mem, 0x5B, rounded);
  *p = reinterpret_cast<uintptr_t>(mem);
  s.allocs[*p] = bytes;
  s.n_allocs++;
  s.live_bytes += (long long)bytes;
  if (s.live_bytes > s.peak_bytes) s.peak_bytes = s.live_bytes;
  return 0;
}
#endif
FAKE_API int cuMemFree_v2(unsigned long long p) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (context_depth <= 0) return fail(s, kInvalidContext, "cuMemFree: no current context");
  auto it = s.allocs.find(p);
  if (it == s.allocs.end())
    return fail(s, kInvalidValue, "cuMemFree(" + hex(p) + "): not a live allocation (double or foreign free)");
  std::memset(reinterpret_cast<void*>(uintptr_t(p)), 0xA5, it->second);
  std::free(reinterpret_cast<void*>(uintptr_t(p)));
  s.live_bytes -= (long long)it->second;
  s.allocs.erase(it);
  s.n_frees++;
  return 0;
}
FAKE_API int cuMemcpyHtoDAsync_v2(unsigned long long dst, const void* src, size_t bytes, void* stream) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (int r = check_call(s, "cuMemcpyHtoDAsync", stream)) return r;
  if (bytes == 0) return 0;
  if (!src || !inside(s, dst, bytes))
    return fail(s, kInvalidValue, "cuMemcpyHtoDAsync: [" + hex(dst) + ", +" + std::to_string(bytes) +
                                      ") is not inside one live allocation");
  std::memcpy(reinterpret_cast<void*>(uintptr_t(dst)), src, bytes);
  s.h2d += (long long)bytes;
  return 0;
}
FAKE_API int cuMemcpyDtoHAsync_v2(void* dst, unsigned long long src, size_t bytes, void* stream) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (int r = check_call(s, "cuMemcpyDtoHAsync", stream)) return r;
  if (bytes == 0) return 0;
  if (!dst || !inside(s, src, bytes))
    return fail(s, kInvalidValue, "cuMemcpyDtoHAsync: [" + hex(src) + ", +" + std::to_string(bytes) +
                                      ") is not inside one live allocation");
  std::memcpy(dst, reinterpret_cast<const void*>(uintptr_t(src)), bytes);
  s.d2h += (long long)bytes;
  return 0;
}
FAKE_API int cuMemsetD8Async(unsigned long long dst, unsigned char value, size_t n, void* stream) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (int r = check_call(s, "cuMemsetD8Async", stream)) return r;
  if (n == 0) return 0;
  if (!inside(s, dst, n))
    return fail(s, kInvalidValue,
                "cuMemsetD8Async: [" + hex(dst) + ", +" + std::to_string(n) + ") is not inside one live allocation");
  std::memset(reinterpret_cast<void*>(uintptr_t(dst)), value, n);
  return 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Streams and events

FAKE_API int cuStreamCreate(void** stream, unsigned) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  *stream = nullptr;
  if (context_depth <= 0) return fail(s, kInvalidContext, "cuStreamCreate: no current context");
  *stream = new char[1];
  s.streams.insert(*stream);
  return 0;
}
FAKE_API int cuStreamDestroy_v2(void* stream) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (context_depth <= 0) return fail(s, kInvalidContext, "cuStreamDestroy: no current context");
  if (!stream || !s.streams.erase(stream)) return fail(s, kInvalidHandle, "cuStreamDestroy: unknown stream");
  delete[] static_cast<char*>(stream);
  return 0;
}
FAKE_API int cuStreamSynchronize(void* stream) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  return check_call(s, "cuStreamSynchronize", stream);
}
FAKE_API int cuEventCreate(void** e, unsigned) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  *e = nullptr;
  if (context_depth <= 0) return fail(s, kInvalidContext, "cuEventCreate: no current context");
  Event* ev = new Event();
  s.events.insert(ev);
  *e = ev;
  return 0;
}
FAKE_API int cuEventDestroy_v2(void* e) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  Event* ev = static_cast<Event*>(e);
  if (!ev || !s.events.erase(ev)) return fail(s, kInvalidHandle, "cuEventDestroy: unknown event");
  delete ev;
  return 0;
}
FAKE_API int cuEventRecord(void* e, void* stream) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (int r = check_call(s, "cuEventRecord", stream)) return r;
  Event* ev = static_cast<Event*>(e);
  if (!ev || !s.events.count(ev)) return fail(s, kInvalidHandle, "cuEventRecord: unknown event");
  ev->recorded = true;
  ev->t = std::chrono::steady_clock::now();
  return 0;
}
FAKE_API int cuEventSynchronize(void* e) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!e || !s.events.count(static_cast<Event*>(e))) return fail(s, kInvalidHandle, "cuEventSynchronize: unknown event");
  return 0;
}
FAKE_API int cuEventElapsedTime(float* ms, void* start, void* end) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  Event* a = static_cast<Event*>(start);
  Event* b = static_cast<Event*>(end);
  if (!a || !b || !s.events.count(a) || !s.events.count(b) || !a->recorded || !b->recorded)
    return fail(s, kInvalidHandle, "cuEventElapsedTime: unknown or unrecorded event");
  *ms = std::chrono::duration<float, std::milli>(b->t - a->t).count();
  return 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Launches

FAKE_API int cuLaunchKernel(void* fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                            unsigned, void* stream, void** params, void** extra) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  const KernelDesc* k = kernel_of(fn);
  if (!k) return fail(s, kInvalidHandle, "cuLaunchKernel: not a function of this driver");
  if (int r = check_call(s, k->name, stream)) return r;
  if (!params || !params[0] || extra)
    return fail(s, kInvalidValue, std::string(k->name) + ": the parameter block must come as params[0]");
  if (gx == 0 || gy == 0 || gz == 0 || gy > 65535 || gz > 65535)
    return fail(s, kInvalidValue, std::string(k->name) + ": bad grid");
  if (bx != 256 || by != 1 || bz != 1)
    return fail(s, kInvalidValue, std::string(k->name) + ": block " + std::to_string(bx) + "x" + std::to_string(by) +
                                      "x" + std::to_string(bz) + ", the kernels are built for 256x1x1");
  int r = kSuccess;
  switch (k->kind) {
    case Kind::kQGemm:
    case Kind::kQGemmIm2col: {
      QGemmParams p;
      std::memcpy(&p, params[0], sizeof(p));
      r = run_qgemm(s, *k, p, gx, gy, gz);
      break;
    }
    case Kind::kDwConv: {
      DwConvParams p;
      std::memcpy(&p, params[0], sizeof(p));
      r = run_dwconv(s, *k, p);
      break;
    }
    case Kind::kMaxPool:
    case Kind::kAvgPool: {
      PoolParams p;
      std::memcpy(&p, params[0], sizeof(p));
      r = run_pool(s, *k, p);
      break;
    }
    case Kind::kGlobalMax:
    case Kind::kGlobalAvg: {
      GlobalPoolParams p;
      std::memcpy(&p, params[0], sizeof(p));
      r = run_global_pool(s, *k, p, gx);
      break;
    }
    case Kind::kGatherB1:
    case Kind::kGatherB2:
    case Kind::kGatherB4:
    case Kind::kGatherB8:
    case Kind::kGatherRescaleS8: {
      int8rt::cuda_kernels::GatherAxesParams p;
      std::memcpy(&p, params[0], sizeof(p));
      r = run_gather_axes(s, *k, p);
      break;
    }
    case Kind::kEltBinaryF32:
    case Kind::kEltUnaryF32: {
      EltwiseF32Params p;
      std::memcpy(&p, params[0], sizeof(p));
      r = run_eltwise_f32(s, *k, p);
      break;
    }
    case Kind::kReduceRowsF32:
    case Kind::kSoftmaxRowsF32: {
      RowsF32Params p;
      std::memcpy(&p, params[0], sizeof(p));
      r = run_rows_f32(s, *k, p, gx);
      break;
    }
    case Kind::kGemmF32: {
      GemmF32Params p;
      std::memcpy(&p, params[0], sizeof(p));
      r = run_gemm_f32(s, *k, p, gx, gy, gz);
      break;
    }
    default: {
      EltwiseParams p;
      std::memcpy(&p, params[0], sizeof(p));
      r = run_eltwise(s, *k, p);
      break;
    }
  }
  if (r == kSuccess) {
    s.launches++;
    s.launches_by_kernel[size_t(k - kKernels)]++;
  }
  return r;
}

// ---------------------------------------------------------------------------------------------------------------
// Accounting for tests

// Writes the counters as one JSON line (NUL-terminated, truncated to len - 1); returns the full length.
FAKE_API int fake_cuda_stats(char* buf, int len) {
  State& s = state();
  std::string out;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    append_stats(s, &out);
  }
  if (buf && len > 0) {
    const size_t n = out.size() < size_t(len - 1) ? out.size() : size_t(len - 1);
    std::memcpy(buf, out.data(), n);
    buf[n] = '\0';
  }
  return int(out.size());
}

namespace {
__attribute__((destructor)) void write_stats_file() {
  const char* path = std::getenv("FAKE_CUDA_STATS_FILE");
  // Only a library that served as a device writes: a process may also have loaded another build of this file
  // (cuda_driver_test.cc probes two), whose empty counters must not overwrite the real ones.
  if (!path || !*path || state().context_pushes == 0) return;
  std::string out;
  append_stats(state(), &out);  // at unload: no other thread is in the library any more
  if (FILE* f = std::fopen(path, "w")) {
    std::fprintf(f, "%s\n", out.c_str());
    std::fclose(f);
  }
}
}  // namespace
