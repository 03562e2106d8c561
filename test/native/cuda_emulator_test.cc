// The CPU emulator of the CUDA driver (fake_libcuda.cc), which the engine's CUDA tests run against on machines
// without a GPU. Two builds of this file:
//   int8rt_native_tests          CudaEmulator: the emulator on its own, through its C entry points (dlopen): device
//                                memory and its checks, kernels run on small hand-computed cases, the memcheck of
//                                launches, the grid and block rules, streams, events, contexts, the memory limit and
//                                the accounting (fake_cuda_stats, FAKE_CUDA_STATS_FILE).
//   int8rt_cuda_emulated_tests   (INT8RT_CUDA_EMULATOR) beside cuda_kernels_test.cc's GPU suites run on the emulator:
//                                an environment that fails the run if the emulator counted an error (an access
//                                outside the allocations, a bad handle, a double free) or memory or streams were left
//                                behind. The bit-for-bit comparisons with the CPU references are those suites' own.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/cuda/params.h"

#ifndef INT8RT_FAKE_LIBCUDA
#define INT8RT_FAKE_LIBCUDA ""
#endif

namespace int8rt {
namespace {

// A counter of the emulator's stats line ({"allocs":N,...}); -1 when absent.
long long stat(const std::string& json, const char* name) {
  const std::string key = std::string("\"") + name + "\":";
  const size_t at = json.find(key);
  return at == std::string::npos ? -1 : std::atoll(json.c_str() + at + key.size());
}

using StatsFn = int (*)(char*, int);

std::string stats_of(StatsFn fn) {
  std::vector<char> buf(4096);
  const int n = fn(buf.data(), int(buf.size()));
  if (n >= int(buf.size())) {
    buf.resize(size_t(n) + 1);
    fn(buf.data(), int(buf.size()));
  }
  return buf.data();
}

#ifdef INT8RT_CUDA_EMULATOR

// After every test of the process (ctest runs one per process): no emulator error, nothing left allocated.
class EmulatorClean : public ::testing::Environment {
 public:
  void TearDown() override {
    void* h = dlopen(INT8RT_FAKE_LIBCUDA, RTLD_NOW | RTLD_NOLOAD);
    if (!h) return;  // the tests run did not open the device
    auto fn = reinterpret_cast<StatsFn>(dlsym(h, "fake_cuda_stats"));
    ASSERT_NE(fn, nullptr);
    const std::string s = stats_of(fn);
    EXPECT_EQ(stat(s, "errors"), 0) << s;
    EXPECT_EQ(stat(s, "liveAllocs"), 0) << s;
    EXPECT_EQ(stat(s, "liveStreams"), 0) << s;
    EXPECT_EQ(stat(s, "liveEvents"), 0) << s;
    dlclose(h);
  }
};
const ::testing::Environment* const kEmulatorClean = ::testing::AddGlobalTestEnvironment(new EmulatorClean);

#else  // the emulator on its own

using cuda_kernels::EltwiseParams;
using cuda_kernels::GlobalPoolParams;
using cuda_kernels::QGemmParams;
using Ptr = unsigned long long;

// The emulator's entry points, resolved from the library CMake builds.
struct Emu {
  void* handle = nullptr;
  int (*cuInit)(unsigned);
  int (*cuGetErrorName)(int, const char**);
  int (*cuDevicePrimaryCtxRetain)(void**, int);
  int (*cuCtxPushCurrent)(void*);
  int (*cuCtxPopCurrent)(void**);
  int (*cuModuleGetFunction)(void**, void*, const char*);
  int (*cuMemAlloc)(Ptr*, size_t);
  int (*cuMemFree)(Ptr);
  int (*cuMemcpyHtoDAsync)(Ptr, const void*, size_t, void*);
  int (*cuMemcpyDtoHAsync)(void*, Ptr, size_t, void*);
  int (*cuMemsetD8Async)(Ptr, unsigned char, size_t, void*);
  int (*cuStreamCreate)(void**, unsigned);
  int (*cuStreamDestroy)(void*);
  int (*cuStreamSynchronize)(void*);
  int (*cuEventCreate)(void**, unsigned);
  int (*cuEventDestroy)(void*);
  int (*cuEventRecord)(void*, void*);
  int (*cuEventElapsedTime)(float*, void*, void*);
  int (*cuLaunchKernel)(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void*, void**,
                        void**);
  StatsFn stats;
};

const Emu* emulator() {
  static Emu e;
  static bool ok = [] {
    e.handle = dlopen(INT8RT_FAKE_LIBCUDA, RTLD_NOW | RTLD_LOCAL);
    if (!e.handle) return false;
    bool all = true;
    auto get = [&](auto& fn, const char* name) {
      void* p = dlsym(e.handle, name);
      all = all && p;
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(p);
    };
    get(e.cuInit, "cuInit");
    get(e.cuGetErrorName, "cuGetErrorName");
    get(e.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
    get(e.cuCtxPushCurrent, "cuCtxPushCurrent_v2");
    get(e.cuCtxPopCurrent, "cuCtxPopCurrent_v2");
    get(e.cuModuleGetFunction, "cuModuleGetFunction");
    get(e.cuMemAlloc, "cuMemAlloc_v2");
    get(e.cuMemFree, "cuMemFree_v2");
    get(e.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
    get(e.cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
    get(e.cuMemsetD8Async, "cuMemsetD8Async");
    get(e.cuStreamCreate, "cuStreamCreate");
    get(e.cuStreamDestroy, "cuStreamDestroy_v2");
    get(e.cuStreamSynchronize, "cuStreamSynchronize");
    get(e.cuEventCreate, "cuEventCreate");
    get(e.cuEventDestroy, "cuEventDestroy_v2");
    get(e.cuEventRecord, "cuEventRecord");
    get(e.cuEventElapsedTime, "cuEventElapsedTime");
    get(e.cuLaunchKernel, "cuLaunchKernel");
    get(e.stats, "fake_cuda_stats");
    return all;
  }();
  return ok ? &e : nullptr;
}

constexpr int kInvalidValue = 1, kOutOfMemory = 2, kInvalidContext = 201, kInvalidHandle = 400, kNotFound = 500,
              kIllegalAddress = 700;

// A test with the emulator's primary context current; counters are compared as differences from the start (other
// tests of the process use the same library).
class CudaEmulator : public ::testing::Test {
 protected:
  void SetUp() override {
    e_ = emulator();
    ASSERT_NE(e_, nullptr) << "could not load " << INT8RT_FAKE_LIBCUDA << ": " << dlerror();
    ASSERT_EQ(e_->cuInit(0), 0);
    ASSERT_EQ(e_->cuDevicePrimaryCtxRetain(&ctx_, 0), 0);
    ASSERT_EQ(e_->cuCtxPushCurrent(ctx_), 0);
    pushed_ = true;
    start_ = stats();
  }
  void TearDown() override {
    if (!e_) return;
    for (Ptr p : allocs_) e_->cuMemFree(p);
    if (pushed_) {
      void* popped = nullptr;
      e_->cuCtxPopCurrent(&popped);
    }
  }
  std::string stats() const { return stats_of(e_->stats); }
  long long delta(const char* name) const { return stat(stats(), name) - stat(start_, name); }

  Ptr alloc(size_t bytes) {
    Ptr p = 0;
    EXPECT_EQ(e_->cuMemAlloc(&p, bytes), 0);
    allocs_.push_back(p);
    return p;
  }
  template <typename T>
  Ptr upload(const std::vector<T>& v) {
    const Ptr p = alloc(v.size() * sizeof(T));
    EXPECT_EQ(e_->cuMemcpyHtoDAsync(p, v.data(), v.size() * sizeof(T), nullptr), 0);
    return p;
  }
  template <typename T>
  std::vector<T> download(Ptr p, size_t n) {
    std::vector<T> v(n);
    EXPECT_EQ(e_->cuMemcpyDtoHAsync(v.data(), p, n * sizeof(T), nullptr), 0);
    return v;
  }
  void* function(const char* name) {
    void* fn = nullptr;
    EXPECT_EQ(e_->cuModuleGetFunction(&fn, nullptr, name), 0) << name;
    return fn;
  }
  template <typename P>
  int launch(const char* name, P params, unsigned gx = 1, unsigned gy = 1, unsigned gz = 1, unsigned bx = 256) {
    void* args[] = {&params};
    return e_->cuLaunchKernel(function(name), gx, gy, gz, bx, 1, 1, 0, nullptr, args, nullptr);
  }

  const Emu* e_ = nullptr;
  void* ctx_ = nullptr;
  bool pushed_ = false;
  std::string start_;
  std::vector<Ptr> allocs_;
};

EltwiseParams flat(long long n) {
  EltwiseParams p;
  std::memset(&p, 0, sizeof(p));
  p.n = n;
  p.a_step = 1;
  p.b_step = 1;
  return p;
}

TEST_F(CudaEmulator, MemoryIsFreshlyPoisonedAndBoundsChecked) {
  const Ptr p = alloc(100);
  EXPECT_EQ(p % 256, 0u);
  std::vector<uint8_t> fresh = download<uint8_t>(p, 100);
  for (uint8_t b : fresh) ASSERT_EQ(b, 0x5B);  // never written: the allocation's poison
  std::vector<uint8_t> data(100);
  for (int i = 0; i < 100; i++) data[size_t(i)] = uint8_t(i);
  ASSERT_EQ(e_->cuMemcpyHtoDAsync(p, data.data(), 100, nullptr), 0);
  ASSERT_EQ(e_->cuMemsetD8Async(p + 10, 7, 5, nullptr), 0);
  std::vector<uint8_t> back = download<uint8_t>(p, 100);
  for (int i = 0; i < 100; i++) EXPECT_EQ(back[size_t(i)], i >= 10 && i < 15 ? 7 : i);
  EXPECT_EQ(delta("h2dBytes"), 100);
  EXPECT_EQ(delta("d2hBytes"), 200);
  // Ranges past the allocation, also when the next one starts right after it.
  const Ptr q = alloc(256);
  EXPECT_EQ(e_->cuMemcpyHtoDAsync(p + 90, data.data(), 20, nullptr), kInvalidValue);
  EXPECT_EQ(e_->cuMemcpyDtoHAsync(back.data(), p + 99, 2, nullptr), kInvalidValue);
  EXPECT_EQ(e_->cuMemsetD8Async(p - 1, 0, 1, nullptr), kInvalidValue);
  EXPECT_EQ(e_->cuMemcpyHtoDAsync(q + 200, data.data(), 57, nullptr), kInvalidValue);
  EXPECT_EQ(delta("errors"), 4);
  EXPECT_EQ(delta("liveAllocs"), 2);
  EXPECT_EQ(delta("liveBytes"), 356);
  // Freed memory is gone for copies; a second free and a foreign address are refused.
  ASSERT_EQ(e_->cuMemFree(q), 0);
  allocs_.pop_back();
  EXPECT_EQ(e_->cuMemcpyHtoDAsync(q, data.data(), 1, nullptr), kInvalidValue);
  EXPECT_EQ(e_->cuMemFree(q), kInvalidValue);
  EXPECT_EQ(e_->cuMemFree(p + 1), kInvalidValue);
  EXPECT_EQ(delta("errors"), 7);
  EXPECT_EQ(delta("liveAllocs"), 1);
  EXPECT_EQ(delta("frees"), 1);
  Ptr zero = 0;
  EXPECT_EQ(e_->cuMemAlloc(&zero, 0), kInvalidValue);
  if (stat(start_, "errors") == 0) {  // the first error of the process is this test's
    EXPECT_NE(stats().find("\"firstError\":\"cuMemcpyHtoDAsync: ["), std::string::npos) << stats();
  }
}

TEST_F(CudaEmulator, KernelsByNameAndErrorNames) {
  void* a = function("qgemm_s8_dp4a_64x64");
  void* b = function("qgemm_s8_imma_128x128_im2col");
  void* c = function("global_avgpool_s8");
  EXPECT_NE(a, b);
  EXPECT_NE(b, c);
  void* none = &a;
  EXPECT_EQ(e_->cuModuleGetFunction(&none, nullptr, "qgemm_s8_wmma"), kNotFound);
  EXPECT_EQ(none, nullptr);
  const char* name = nullptr;
  ASSERT_EQ(e_->cuGetErrorName(kIllegalAddress, &name), 0);
  EXPECT_STREQ(name, "CUDA_ERROR_ILLEGAL_ADDRESS");
  ASSERT_EQ(e_->cuGetErrorName(kNotFound, &name), 0);
  EXPECT_STREQ(name, "CUDA_ERROR_NOT_FOUND");
  ASSERT_EQ(e_->cuGetErrorName(kOutOfMemory, &name), 0);
  EXPECT_STREQ(name, "CUDA_ERROR_OUT_OF_MEMORY");
  ASSERT_EQ(e_->cuGetErrorName(kInvalidValue, &name), 0);
  EXPECT_STREQ(name, "CUDA_ERROR_INVALID_VALUE");
}

// Small cases worked out by hand, independent of the engine's CPU kernels and of the emulator's loops.
TEST_F(CudaEmulator, EltwiseByHand) {
  EltwiseParams p = flat(6);
  p.a = upload(std::vector<int8_t>{1, 2, 3, -128, 127, 5});
  p.b = upload(std::vector<int8_t>{1, 1, 1, -128, 127, 0});
  p.y = alloc(6);
  p.ma = 0.5f;
  p.mb = 1.f;
  // 0.5 + 1 = 1.5 -> 2; 1 + 1 = 2; 1.5 + 1 = 2.5 -> 2 (half to even); -64 - 128 -> -128; 63.5 + 127 -> 127; 2.5 -> 2
  ASSERT_EQ(launch("eltwise_add_s8", p, 4), 0);
  EXPECT_EQ(download<int8_t>(p.y, 6), (std::vector<int8_t>{2, 2, 2, -128, 127, 2}));
  p.ma = 0.25f;  // products 1, 2, 3, 16384, 16129, 0
  ASSERT_EQ(launch("eltwise_mul_s8", p), 0);
  EXPECT_EQ(download<int8_t>(p.y, 6), (std::vector<int8_t>{0, 0, 1, 127, 127, 0}));
  EltwiseParams b = p;  // broadcasting [2, 3] + [3]: the second input's strides (0, 1)
  b.rank = 2;
  b.dims[0] = 2, b.dims[1] = 3;
  b.a_strides[0] = 3, b.a_strides[1] = 1;
  b.b_strides[0] = 0, b.b_strides[1] = 1;
  b.ma = 1.f;
  b.mb = 1.f;
  ASSERT_EQ(launch("eltwise_add_s8", b), 0);
  EXPECT_EQ(download<int8_t>(p.y, 6), (std::vector<int8_t>{2, 3, 4, -127, 127, 6}));
  EltwiseParams q = flat(5);
  q.a = upload(std::vector<float>{0.25f, 0.75f, -1.25f, NAN, 1000.f});
  q.y = alloc(5);
  q.scale = 0.5f;
  q.zp = 3;  // 0.5 -> 0 + 3; 1.5 -> 2 + 3; -2.5 -> -2 + 3; NaN -> -128; 2000 -> 124 + 3
  ASSERT_EQ(launch("quantize_f32_s8", q), 0);
  EXPECT_EQ(download<int8_t>(q.y, 5), (std::vector<int8_t>{3, 5, 1, -128, 127}));
}

TEST_F(CudaEmulator, QGemmByHand) {
  // A [2, 3] (packed to lda 64) x B [3, 2]; bias, multiplier 0.5 and a residual on the second row.
  std::vector<int8_t> A(2 * 64, 0);
  const int8_t a[2][3] = {{1, 2, 3}, {-4, 5, -6}};
  for (int m = 0; m < 2; m++)
    for (int k = 0; k < 3; k++) A[size_t(m * 64 + k)] = a[m][k];
  const std::vector<int8_t> B = {1, -1, 2, 0, 3, 10};  // [3, 2]
  // acc: row 0: 1+4+9 = 14, -1+0+30 = 29; row 1: -4+10-18 = -12, 4+0-60 = -56
  QGemmParams p;
  std::memset(&p, 0, sizeof(p));
  p.M = 2, p.N = 2, p.K = 3, p.lda = 64, p.ldb = 2, p.ldc = 2, p.ldr = 2;
  p.a_group_stride = 128;
  p.batch = 1, p.groups = 1;
  p.a = upload(A);
  p.b = upload(B);
  p.bias = upload(std::vector<int32_t>{1, -2});
  p.multiplier = upload(std::vector<float>{0.5f, 0.5f});
  p.residual = upload(std::vector<int8_t>{0, 0, 4, -4});
  p.residual_multiplier = 0.25f;
  p.lo = -128.f, p.hi = 127.f;
  p.c = alloc(4 * 4);
  ASSERT_EQ(launch("qgemm_s8_dp4a_64x64", p), 0);
  // (14 + 1) / 2 = 7.5 -> 8; 30 / 2 = 15; (-12 - 2) / 2 + 1 = -6; (-56 - 2) / 2 - 1 = -30
  EXPECT_EQ(download<int8_t>(p.c, 4), (std::vector<int8_t>{8, 15, -6, -30}));
  p.out_kind = cuda_kernels::kQGemmOutS32;
  ASSERT_EQ(launch("qgemm_s8_imma_128x128", p), 0);
  EXPECT_EQ(download<int32_t>(p.c, 4), (std::vector<int32_t>{14, 29, -12, -56}));
  p.out_kind = cuda_kernels::kQGemmOutF32;
  p.lo = -INFINITY, p.hi = 10.f;
  ASSERT_EQ(launch("qgemm_s8_imma_128x128", p), 0);
  EXPECT_EQ(download<float>(p.c, 4), (std::vector<float>{7.5f, 10.f, -6.f, -30.f}));
  EXPECT_EQ(delta("launches"), 3);
  EXPECT_NE(stats().find("\"qgemm_s8_imma_128x128\":2"), std::string::npos) << stats();
}

TEST_F(CudaEmulator, MemcheckRefusesOutOfBoundsAccesses) {
  EltwiseParams p = flat(64);
  p.a = upload(std::vector<int8_t>(64, 1));
  p.b = upload(std::vector<int8_t>(64, 2));
  p.y = alloc(63);  // one short
  p.ma = p.mb = 1.f;
  EXPECT_EQ(launch("eltwise_add_s8", p), kIllegalAddress);
  std::vector<uint8_t> y = download<uint8_t>(p.y, 63);
  for (uint8_t v : y) ASSERT_EQ(v, 0x5B);  // refused before anything ran
  p.y = alloc(64);
  p.b_step = 2;  // reads b[126]
  EXPECT_EQ(launch("eltwise_add_s8", p), kIllegalAddress);
  p.b_step = 0;
  EXPECT_EQ(launch("eltwise_add_s8", p), 0);
  // A buffer used after its free.
  const Ptr freed = p.a;
  ASSERT_EQ(e_->cuMemFree(freed), 0);
  allocs_.erase(allocs_.begin());
  EXPECT_EQ(launch("eltwise_add_s8", p), kIllegalAddress);
  // A GEMM whose C is one row short, and one whose A lacks the zero padding up to the next 64 k.
  QGemmParams g;
  std::memset(&g, 0, sizeof(g));
  g.M = 3, g.N = 4, g.K = 5, g.lda = 64, g.ldb = 4, g.ldc = 4, g.a_group_stride = 192, g.batch = 1, g.groups = 1;
  g.out_kind = cuda_kernels::kQGemmOutS32;
  g.a = alloc(192);
  EXPECT_EQ(e_->cuMemsetD8Async(g.a, 1, 192, nullptr), 0);
  g.b = upload(std::vector<int8_t>(20, 1));
  g.c = alloc(8 * 4);
  EXPECT_EQ(launch("qgemm_s8_dp4a_64x64", g), kIllegalAddress);
  g.c = alloc(12 * 4);
  EXPECT_EQ(launch("qgemm_s8_dp4a_64x64", g), 0);
  EXPECT_EQ(download<int32_t>(g.c, 12), std::vector<int32_t>(12, 5));
  g.a = alloc(2 * 64 + 5);
  EXPECT_EQ(launch("qgemm_s8_dp4a_64x64", g), kIllegalAddress);
  EXPECT_EQ(delta("errors"), 5);
  EXPECT_EQ(delta("launches"), 2);
}

TEST_F(CudaEmulator, GridAndBlock) {
  // Global pools run one block per plane: the grid, not `planes`, decides what is written.
  GlobalPoolParams p;
  std::memset(&p, 0, sizeof(p));
  p.x = upload(std::vector<int8_t>{1, 9, -3, 4, 100, -100, 7, 7});
  p.y = upload(std::vector<int8_t>{0, 0, 0, 0});
  p.planes = 4;
  p.size = 2;
  ASSERT_EQ(launch("global_maxpool_s8", p, 3), 0);
  EXPECT_EQ(download<int8_t>(p.y, 4), (std::vector<int8_t>{9, 4, 100, 0}));
  EXPECT_EQ(launch("global_maxpool_s8", p, 5), kIllegalAddress);  // a fifth plane past x
  EXPECT_EQ(launch("global_maxpool_s8", p, 4, 1, 1, 128), kInvalidValue);  // not the 256-thread block
  // A GEMM grid that covers only the first 64 columns of 70.
  QGemmParams g;
  std::memset(&g, 0, sizeof(g));
  g.M = 1, g.N = 70, g.K = 1, g.lda = 64, g.ldb = 70, g.ldc = 70, g.a_group_stride = 64, g.batch = 1, g.groups = 1;
  g.out_kind = cuda_kernels::kQGemmOutS32;
  g.a = upload(std::vector<int8_t>(64, 1));
  g.b = upload(std::vector<int8_t>(70, 3));
  g.c = upload(std::vector<int32_t>(70, -1));
  ASSERT_EQ(launch("qgemm_s8_dp4a_64x64", g, 1), 0);
  std::vector<int32_t> c = download<int32_t>(g.c, 70);
  for (int n = 0; n < 70; n++) EXPECT_EQ(c[size_t(n)], n < 64 ? 3 : -1) << n;
  EXPECT_EQ(delta("errors"), 2);
}

TEST_F(CudaEmulator, StreamsEventsAndContext) {
  void* s1 = nullptr;
  void* s2 = nullptr;
  ASSERT_EQ(e_->cuStreamCreate(&s1, 1), 0);
  ASSERT_EQ(e_->cuStreamCreate(&s2, 1), 0);
  EXPECT_NE(s1, s2);
  EXPECT_EQ(delta("liveStreams"), 2);
  void* ev0 = nullptr;
  void* ev1 = nullptr;
  ASSERT_EQ(e_->cuEventCreate(&ev0, 0), 0);
  ASSERT_EQ(e_->cuEventCreate(&ev1, 0), 0);
  float ms = -1.f;
  EXPECT_EQ(e_->cuEventElapsedTime(&ms, ev0, ev1), kInvalidHandle);  // not recorded yet
  ASSERT_EQ(e_->cuEventRecord(ev0, s1), 0);
  const Ptr p = alloc(1 << 20);
  ASSERT_EQ(e_->cuMemsetD8Async(p, 1, 1 << 20, s1), 0);
  ASSERT_EQ(e_->cuEventRecord(ev1, s1), 0);
  ASSERT_EQ(e_->cuStreamSynchronize(s1), 0);
  ASSERT_EQ(e_->cuEventElapsedTime(&ms, ev0, ev1), 0);
  EXPECT_GE(ms, 0.f);
  EXPECT_EQ(e_->cuEventDestroy(ev0), 0);
  EXPECT_EQ(e_->cuEventDestroy(ev1), 0);
  EXPECT_EQ(e_->cuStreamDestroy(s2), 0);
  EXPECT_EQ(e_->cuStreamDestroy(s2), kInvalidHandle);
  EXPECT_EQ(e_->cuMemsetD8Async(p, 1, 16, s2), kInvalidHandle);  // a destroyed stream
  EXPECT_EQ(e_->cuStreamDestroy(s1), 0);
  EXPECT_EQ(delta("liveStreams"), 0);
  // Without a current context.
  void* popped = nullptr;
  ASSERT_EQ(e_->cuCtxPopCurrent(&popped), 0);
  pushed_ = false;
  Ptr q = 0;
  EXPECT_EQ(e_->cuMemAlloc(&q, 16), kInvalidContext);
  EXPECT_EQ(e_->cuMemsetD8Async(p, 1, 16, nullptr), kInvalidContext);
  ASSERT_EQ(e_->cuCtxPushCurrent(ctx_), 0);
  pushed_ = true;
  EXPECT_EQ(delta("errors"), 5);
}

TEST_F(CudaEmulator, MemoryLimit) {
  const long long live = stat(stats(), "liveBytes");
  const std::string limit = std::to_string(live + 1000);
  setenv("FAKE_CUDA_MEMORY_LIMIT", limit.c_str(), 1);
  Ptr a = 0, b = 0;
  EXPECT_EQ(e_->cuMemAlloc(&a, 600), 0);
  EXPECT_EQ(e_->cuMemAlloc(&b, 600), kOutOfMemory);
  EXPECT_EQ(e_->cuMemFree(a), 0);
  EXPECT_EQ(e_->cuMemAlloc(&b, 1000), 0);
  EXPECT_EQ(e_->cuMemFree(b), 0);
  unsetenv("FAKE_CUDA_MEMORY_LIMIT");
  EXPECT_EQ(delta("allocFailures"), 1);
  EXPECT_EQ(delta("errors"), 0);  // running out of memory is the device's answer, not a misuse
}

// FAKE_CUDA_STATS_FILE: the counters are written when the process exits, leaks included.
void leak_and_exit(const char* file) {
  setenv("FAKE_CUDA_STATS_FILE", file, 1);
  const Emu* e = emulator();
  void* ctx = nullptr;
  e->cuDevicePrimaryCtxRetain(&ctx, 0);
  e->cuCtxPushCurrent(ctx);
  Ptr p = 0;
  e->cuMemAlloc(&p, 4096);
  std::exit(0);
}

TEST_F(CudaEmulator, StatsFileAtExit) {
  const std::string file = ::testing::TempDir() + "int8rt_fake_cuda_stats_" + std::to_string(getpid()) + ".json";
  std::remove(file.c_str());
  EXPECT_EXIT(leak_and_exit(file.c_str()), ::testing::ExitedWithCode(0), "");
  std::ifstream in(file);
  ASSERT_TRUE(in.good()) << file;
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string json = ss.str();
  std::remove(file.c_str());
  EXPECT_GE(stat(json, "liveAllocs"), 1) << json;
  EXPECT_GE(stat(json, "liveBytes"), 4096) << json;
  EXPECT_NE(json.find("\"launchesByKernel\":{"), std::string::npos) << json;
  EXPECT_NE(json.find("\"firstError\":\""), std::string::npos) << json;
}

#endif  // INT8RT_CUDA_EMULATOR

}  // namespace
}  // namespace int8rt
