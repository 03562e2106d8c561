// CUDA int8 GEMM benchmark: TOPS (2 x multiply-adds per second) of the int8 kernels of native/kernels/cuda (int8
// output with the full requantization epilogue) on the square M = N = K = 4096 GEMM and on ResNet-50's convolutions
// as implicit GEMMs (the im2col is never materialised), for each path the device runs (dp4a, IMMA). Times come from
// CUDA events around `iters` back-to-back launches on one stream, after a warm-up.
//   cuda_qgemm_bench [batch] [iters]     default: batch 1 (ResNet layers), iters 20
// Compare with cuBLASLt int8 on the same machine, e.g. in PyTorch:
//   a = torch.randint(-128, 127, (4096, 4096), dtype=torch.int8, device='cuda'); torch._int_mm(a, a)
// Without a usable CUDA device it prints "CUDA unavailable: <reason>" and exits 0.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cuda/driver.h"
#include "cuda/kernels.h"

using namespace int8rt;
using namespace int8rt::cuda;

namespace {

struct Layer {
  const char* what;
  int64_t C, H, W, M, k, s, pad;  // square kernels, symmetric padding
};

// ResNet-50 v1.5 convolutions (one of each distinct shape; 224 x 224 input).
const Layer kResNet50[] = {
    {"conv1 7x7/2", 3, 224, 224, 64, 7, 2, 3},
    {"l1 1x1 64->64", 64, 56, 56, 64, 1, 1, 0},
    {"l1 3x3 64", 64, 56, 56, 64, 3, 1, 1},
    {"l1 1x1 64->256", 64, 56, 56, 256, 1, 1, 0},
    {"l1 1x1 256->64", 256, 56, 56, 64, 1, 1, 0},
    {"l2 3x3/2 128", 128, 56, 56, 128, 3, 2, 1},
    {"l2 1x1 128->512", 128, 28, 28, 512, 1, 1, 0},
    {"l2 3x3 128", 128, 28, 28, 128, 3, 1, 1},
    {"l3 3x3/2 256", 256, 28, 28, 256, 3, 2, 1},
    {"l3 1x1 256->1024", 256, 14, 14, 1024, 1, 1, 0},
    {"l3 3x3 256", 256, 14, 14, 256, 3, 1, 1},
    {"l3 1x1 1024->256", 1024, 14, 14, 256, 1, 1, 0},
    {"l4 3x3/2 512", 512, 14, 14, 512, 3, 2, 1},
    {"l4 1x1 512->2048", 512, 7, 7, 2048, 1, 1, 0},
    {"l4 3x3 512", 512, 7, 7, 512, 3, 1, 1},
    {"l4 1x1 2048->512", 2048, 7, 7, 512, 1, 1, 0},
};

#define CHECK_OK(expr)                                                      \
  do {                                                                      \
    Status _s = (expr);                                                     \
    if (!_s.ok()) {                                                         \
      std::fprintf(stderr, "%s: %s\n", #expr, _s.message().c_str());        \
      std::exit(1);                                                         \
    }                                                                       \
  } while (0)

// Events need a current context: the device's primary context, retained here for the benchmark's lifetime.
class Timer {
 public:
  explicit Timer(const Device& dev) {
    const DriverApi* api = driver();
    api->cuDeviceGet(&device_, dev.info().ordinal);
    api->cuDevicePrimaryCtxRetain(&ctx_, device_);
    scope_.reset(new ContextScope(ctx_));
    api->cuEventCreate(&start_, kEventDefault);
    api->cuEventCreate(&stop_, kEventDefault);
  }
  ~Timer() {
    const DriverApi* api = driver();
    api->cuEventDestroy(start_);
    api->cuEventDestroy(stop_);
    scope_.reset();
    api->cuDevicePrimaryCtxRelease(device_);
  }
  void start(CUstream s) { driver()->cuEventRecord(start_, s); }
  double stop_ms(CUstream s) {
    driver()->cuEventRecord(stop_, s);
    driver()->cuEventSynchronize(stop_);
    float ms = 0.f;
    driver()->cuEventElapsedTime(&ms, start_, stop_);
    return ms;
  }

 private:
  CUdevice device_ = 0;
  CUcontext ctx_ = nullptr;
  std::unique_ptr<ContextScope> scope_;
  CUevent start_ = nullptr, stop_ = nullptr;
};

struct Buffers {
  const Device* dev = nullptr;
  std::vector<CUdeviceptr> ptrs;
  template <typename T>
  CUdeviceptr upload(const std::vector<T>& v, CUstream s) {
    CUdeviceptr p = 0;
    CHECK_OK(dev->alloc(std::max<size_t>(16, v.size() * sizeof(T)), &p));
    ptrs.push_back(p);
    if (!v.empty()) CHECK_OK(dev->upload(p, v.data(), v.size() * sizeof(T), s));
    return p;
  }
  CUdeviceptr alloc(size_t bytes) {
    CUdeviceptr p = 0;
    CHECK_OK(dev->alloc(std::max<size_t>(16, bytes), &p));
    ptrs.push_back(p);
    return p;
  }
  ~Buffers() {
    for (CUdeviceptr p : ptrs) dev->free(p);
  }
};

std::vector<int8_t> random_s8(std::mt19937& rng, int64_t n) {
  std::uniform_int_distribution<int> u(-128, 127);
  std::vector<int8_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = int8_t(u(rng));
  return v;
}

// Fills the operands of `p` (A of rows x K, B of b_elems, C of c_elems), times `iters` launches per path and prints
// one row per path.
void bench(const Device& dev, CUstream stream, Timer& timer, const char* what, QGemmParams p, int64_t rows,
           int64_t b_elems, int64_t c_elems, int iters) {
  std::mt19937 rng(7);
  Buffers buf;
  buf.dev = &dev;
  std::vector<int8_t> A = random_s8(rng, rows * p.K);
  p.a = buf.upload(pack_qgemm_a(A.data(), p.K, rows, p.K), stream);
  p.b = buf.upload(random_s8(rng, b_elems), stream);
  p.c = buf.alloc(size_t(c_elems));
  std::vector<int32_t> bias(size_t(rows), 100);
  std::vector<float> mult(size_t(rows), 1e-4f);
  p.bias = buf.upload(bias, stream);
  p.multiplier = buf.upload(mult, stream);
  const double ops = 2.0 * double(p.M) * double(p.N) * double(p.K) * double(p.batch) * double(p.groups);
  std::vector<QGemmPath> paths = {QGemmPath::kDp4a};
  if (default_qgemm_path(dev.info()) == QGemmPath::kImma) paths.push_back(QGemmPath::kImma);
  for (QGemmPath path : paths) {
    for (int i = 0; i < 3; i++) CHECK_OK(launch_qgemm(dev, stream, p, path));
    CHECK_OK(dev.synchronize(stream));
    timer.start(stream);
    for (int i = 0; i < iters; i++) CHECK_OK(launch_qgemm(dev, stream, p, path));
    const double ms = timer.stop_ms(stream) / iters;
    std::printf("%-20s %-30s M %5lld N %7lld K %5lld x%-3d %9.4f ms %8.2f TOPS\n", what,
                qgemm_kernel_name(path, p.conv != 0), (long long)p.M, (long long)p.N, (long long)p.K,
                p.batch * p.groups, ms, ops / (ms * 1e-3) / 1e12);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t batch = argc > 1 ? std::max(1, std::atoi(argv[1])) : 1;
  const int iters = argc > 2 ? std::max(1, std::atoi(argv[2])) : 20;
  const Availability& av = availability();
  if (!av.available) {
    std::printf("CUDA unavailable: %s\n", av.reason.c_str());
    return 0;
  }
  std::shared_ptr<Device> dev;
  CHECK_OK(Device::open(0, &dev));
  CUstream stream = nullptr;
  CHECK_OK(dev->create_stream(&stream));
  std::printf("%s (sm_%d%d, %d SMs), driver %d; %d launches per figure\n", dev->info().name.c_str(),
              dev->info().cc_major, dev->info().cc_minor, dev->info().multiprocessors, av.driver_version, iters);
  {
    Timer timer(*dev);
    const int64_t n = 4096;
    QGemmParams p = qgemm_params(n, n, n);
    bench(*dev, stream, timer, "gemm 4096^3", p, n, n * n, n * n, iters);
    for (const Layer& l : kResNet50) {
      Conv2dShape s;
      s.batch = batch, s.C = l.C, s.H = l.H, s.W = l.W, s.M = l.M, s.kh = s.kw = l.k, s.sh = s.sw = l.s;
      s.pt = s.pl = s.pb = s.pr = l.pad;
      CHECK_OK(conv2d_qgemm_params(s, &p));
      bench(*dev, stream, timer, l.what, p, l.M, batch * l.C * l.H * l.W, batch * l.M * s.OH() * s.OW(), iters);
    }
  }
  dev->destroy_stream(stream);
  return 0;
}
