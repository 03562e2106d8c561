// SGEMM micro-benchmark: GFLOPS (2 flops per multiply-add) of the engine's entry points on GEMM shapes taken from
// the models we run (ResNet-50 convolutions as Cout x HW x Cin*kh*kw, fully connected layers).
//   sgemm_bench [threads...]          default: 1 2
// Environment: INT8RT_ISA=scalar forces the portable kernels.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/sgemm.h"

using namespace int8rt;

namespace {

struct Shape {
  const char* what;
  int64_t M, N, K;
};

template <typename Fn>
double best_seconds(const Fn& fn, double min_total = 0.3) {
  fn();  // warm caches, thread-local buffers and the pool
  double best = 1e30, total = 0;
  int reps = 0;
  while (total < min_total || reps < 3) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, s);
    total += s;
    reps++;
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> threads;
  for (int i = 1; i < argc; i++) threads.push_back(std::atoi(argv[i]));
  if (threads.empty()) threads = {1, 2};
  const Shape shapes[] = {
      {"resnet50 conv3x3 56x56 (256x3136x576)", 256, 3136, 576},
      {"resnet50 conv3x3 28x28 (512x784x1152)", 512, 784, 1152},
      {"resnet50 conv1x1 56x56 (64x3136x256)", 64, 3136, 256},
      {"resnet50 conv1x1 7x7 (2048x49x512)", 2048, 49, 512},
      {"fc 1x1000x2048 (gemv)", 1, 1000, 2048},
  };
  std::printf("kernel %s\n", sgemm_kernel_name());
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int t : threads) {
    ThreadPool pool(t);
    for (const Shape& s : shapes) {
      std::vector<float> A(size_t(s.M * s.K)), B(size_t(s.K * s.N)), C(size_t(s.M * s.N));
      for (auto& v : A) v = u(rng);
      for (auto& v : B) v = u(rng);
      const double flops = 2.0 * double(s.M) * double(s.N) * double(s.K);
      PackedA pa;
      PackedB pb;
      if (!pack_a(A.data(), s.K, false, s.M, s.K, &pa).ok() || !pack_b(B.data(), s.N, false, s.K, s.N, &pb).ok()) {
        std::fprintf(stderr, "packing failed\n");
        return 1;
      }
      GemmEpilogue ep;
      double t_pa = best_seconds([&] { sgemm_packed_a(pa, s.N, B.data(), s.N, false, C.data(), s.N, ep, &pool); });
      double t_pb = best_seconds([&] { sgemm_packed_b(s.M, A.data(), s.K, false, pb, C.data(), s.N, ep, &pool); });
      double t_g = best_seconds([&] {
        sgemm(false, false, s.M, s.N, s.K, 1.f, A.data(), s.K, B.data(), s.N, 0.f, C.data(), s.N, &pool);
      });
      std::printf("threads %d  %-42s packed_a %7.1f  packed_b %7.1f  sgemm %7.1f GFLOPS\n", t, s.what,
                  flops / t_pa * 1e-9, flops / t_pb * 1e-9, flops / t_g * 1e-9);
    }
  }
  return 0;
}
