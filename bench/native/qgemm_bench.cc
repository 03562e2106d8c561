// Int8 GEMM micro-benchmark: GMAC/s (multiply-adds per second) of qgemm_s8 (int8 output with the full
// requantization epilogue, B packed per call) for each kernel family this CPU runs, next to the fp32 SGEMM
// (sgemm_packed_a, the same per-call work: weights packed once, activations packed per call), on GEMM shapes from
// ResNet-50 convolutions (Cout x HW x Cin*kh*kw) and a square one.
//   qgemm_bench [threads...]          default: 1 2
// Each figure is the median of repeated timed runs (after a warm-up), robust to a machine shared with other work.
// Environment: QGEMM_BENCH_SECONDS (per measurement, default 0.4).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/qgemm-internal.h"
#include "kernels/qgemm.h"
#include "kernels/sgemm.h"

using namespace int8rt;

namespace {

struct Shape {
  const char* what;
  int64_t M, N, K;
};

double g_seconds = 0.4;

template <typename Fn>
double median_seconds(const Fn& fn) {
  fn();  // warm caches, thread-local buffers and the pool
  std::vector<double> t;
  double total = 0;
  while (total < g_seconds || t.size() < 5) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    t.push_back(s);
    total += s;
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> threads;
  for (int i = 1; i < argc; i++) threads.push_back(std::atoi(argv[i]));
  if (threads.empty()) threads = {1, 2};
  if (const char* s = std::getenv("QGEMM_BENCH_SECONDS")) g_seconds = std::atof(s);
  const Shape shapes[] = {
      {"square 1024", 1024, 1024, 1024},
      {"conv3x3 56x56 64->64", 64, 3136, 576},
      {"conv3x3 28x28 128->128", 128, 784, 1152},
      {"conv3x3 14x14 256->256", 256, 196, 2304},
      {"conv3x3 7x7 512->512", 512, 49, 4608},
      {"conv1x1 56x56 64->256", 256, 3136, 64},
      {"conv1x1 7x7 512->2048", 2048, 49, 512},
  };
  const std::vector<const qgemm_internal::Kernels*> fams = qgemm_internal::available_kernels();
  std::printf("default int8 kernel %s, fp32 kernel %s; GMAC/s (median)\n", qgemm_kernel_name().c_str(),
              sgemm_kernel_name());
  std::printf("%-3s %-24s %16s %8s", "thr", "shape", "MxNxK", "fp32");
  for (const auto* f : fams) std::printf(" %26s", f->name);
  std::printf("   best/fp32\n");
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uf(-1, 1);
  std::uniform_int_distribution<int> ui(-128, 127);
  for (int t : threads) {
    ThreadPool pool(t);
    for (const Shape& s : shapes) {
      const double macs = double(s.M) * double(s.N) * double(s.K);
      std::vector<float> Af(size_t(s.M * s.K)), Bf(size_t(s.K * s.N)), Cf(size_t(s.M * s.N));
      for (auto& v : Af) v = uf(rng);
      for (auto& v : Bf) v = uf(rng);
      PackedA paf;
      if (!pack_a(Af.data(), s.K, false, s.M, s.K, &paf).ok()) return 1;
      const GemmEpilogue fep;
      const double t_f32 =
          median_seconds([&] { sgemm_packed_a(paf, s.N, Bf.data(), s.N, false, Cf.data(), s.N, fep, &pool); });
      std::vector<int8_t> A(size_t(s.M * s.K)), B(size_t(s.K * s.N)), C(size_t(s.M * s.N));
      for (auto& v : A) v = int8_t(ui(rng));
      for (auto& v : B) v = int8_t(ui(rng));
      std::vector<int32_t> bias(size_t(s.M), 1000);
      std::vector<float> mult(size_t(s.M), 1e-4f);
      QEpilogue ep;
      ep.bias = bias.data();
      ep.multiplier = mult.data();
      ep.qmin = 0;
      char mnk[64];
      std::snprintf(mnk, sizeof(mnk), "%lldx%lldx%lld", (long long)s.M, (long long)s.N, (long long)s.K);
      std::printf("%-3d %-24s %16s %8.1f", t, s.what, mnk, macs / t_f32 * 1e-9);
      double best = 0;
      for (const auto* f : fams) {
        qgemm_internal::set_kernels_for_testing(f);
        QPackedA pa;
        const bool ok = qpack_a(A.data(), s.K, s.M, s.K, &pa).ok();
        qgemm_internal::set_kernels_for_testing(nullptr);
        if (!ok) return 1;
        const double tq = median_seconds([&] { qgemm_s8(pa, s.N, B.data(), s.N, C.data(), s.N, ep, &pool); });
        const double g = macs / tq * 1e-9;
        best = std::max(best, g);
        std::printf(" %26.1f", g);
      }
      std::printf("   %5.2fx\n", best / (macs / t_f32 * 1e-9));
      std::fflush(stdout);
    }
  }
  return 0;
}
