// Int8 GEMM micro-benchmark: GMAC/s (multiply-adds per second) of qgemm_s8 (int8 output with the full
// requantization epilogue, B packed per call) for each kernel family this CPU runs, next to the fp32 SGEMM
// (sgemm_packed_a, the same per-call work: weights packed once, activations packed per call), on GEMM shapes from
// ResNet-50 convolutions (Cout x HW x Cin*kh*kw) and a square one.
//   qgemm_bench [threads...]          default: 1 2
//   qgemm_bench conv [threads...]     int8 k x k convolutions of ResNet-50, per family: the explicit im2col path
//                                     (conv_params::im2col_2d per column tile, then qgemm_s8: what the int8 Conv did
//                                     before) against qgemm_s8_im2col (B packed straight from the image)
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
#include "ops/conv_params.h"

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

struct ConvShape {
  const char* what;
  int64_t M, C, H, W, k, s, pad;
};

int conv_main(const std::vector<int>& threads) {
  const ConvShape shapes[] = {
      {"stem 7x7/2 224", 64, 3, 224, 224, 7, 2, 3},   {"3x3 56x56 64", 64, 64, 56, 56, 3, 1, 1},
      {"3x3/2 56->28 128", 128, 128, 56, 56, 3, 2, 1}, {"3x3 28x28 128", 128, 128, 28, 28, 3, 1, 1},
      {"3x3/2 28->14 256", 256, 256, 28, 28, 3, 2, 1}, {"3x3 14x14 256", 256, 256, 14, 14, 3, 1, 1},
      {"3x3/2 14->7 512", 512, 512, 14, 14, 3, 2, 1},  {"3x3 7x7 512", 512, 512, 7, 7, 3, 1, 1},
      {"1x1/2 56->28 256-512", 512, 256, 56, 56, 1, 2, 0},
      {"1x1/2 14->7 1024-2048", 2048, 1024, 14, 14, 1, 2, 0},
  };
  std::vector<const qgemm_internal::Kernels*> fams;
  for (const auto* f : qgemm_internal::available_kernels())
    if (f->id == qgemm_internal::kAvx2Id || f->id == qgemm_internal::kAvxVnniId ||
        f->id == qgemm_internal::kAvx512VnniId)
      fams.push_back(f);
  std::printf("int8 conv, GMAC/s (median): explicit im2col + qgemm_s8 -> qgemm_s8_im2col\n");
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> ui(-128, 127);
  for (int t : threads) {
    ThreadPool pool(t);
    for (const ConvShape& c : shapes) {
      conv_params::Patch2d p;
      p.IH = c.H;
      p.IW = c.W;
      p.CH = p.CW = (c.H + 2 * c.pad - c.k) / c.s + 1;
      p.kh = p.kw = c.k;
      p.sh = p.sw = c.s;
      p.pt = p.pl = c.pad;
      const int64_t K = c.C * c.k * c.k, P = p.CH * p.CW;
      const double macs = double(c.M) * double(P) * double(K);
      std::vector<int8_t> img(size_t(c.C * c.H * c.W)), A(size_t(c.M * K)), Y(size_t(c.M * P));
      for (auto& v : img) v = int8_t(ui(rng));
      for (auto& v : A) v = int8_t(ui(rng));
      std::vector<int32_t> bias(size_t(c.M), 1000);
      std::vector<float> mult(size_t(c.M), 1e-4f);
      QEpilogue ep;
      ep.bias = bias.data();
      ep.multiplier = mult.data();
      ep.qmin = 0;
      QIm2col src;
      src.img = img.data();
      src.C = c.C;
      src.IH = p.IH;
      src.IW = p.IW;
      src.OH = p.CH;
      src.OW = p.CW;
      src.kh = src.kw = c.k;
      src.sh = src.sw = c.s;
      src.pt = src.pl = c.pad;
      // The former int8 Conv: column tiles of ~256 KiB of im2col each (single-threaded GEMM per tile).
      const int64_t nt = conv_params::tile_cols(K, P, 1, 256 << 10);
      std::vector<int8_t> col(size_t(K * nt));
      std::printf("%-3d %-24s", t, c.what);
      for (const auto* f : fams) {
        qgemm_internal::set_kernels_for_testing(f);
        QPackedA pa;
        const bool ok = qpack_a(A.data(), K, c.M, K, &pa).ok();
        qgemm_internal::set_kernels_for_testing(nullptr);
        if (!ok) return 1;
        const auto old_path = [&] {
          for (int64_t p0 = 0; p0 < P; p0 += nt) {
            const int64_t p1 = std::min(P, p0 + nt), n = p1 - p0;
            conv_params::im2col_2d(p, img.data(), 0, K, p0, p1, col.data());
            qgemm_s8(pa, n, col.data(), n, Y.data() + p0, P, ep, &pool);
          }
        };
        const auto new_path = [&] { qgemm_s8_im2col(pa, src, Y.data(), P, ep, &pool); };
        // Interleaved, twice each, best median kept: the machine may be shared.
        double t_old = 1e30, t_new = 1e30;
        for (int r = 0; r < 2; r++) {
          t_old = std::min(t_old, median_seconds(old_path));
          t_new = std::min(t_new, median_seconds(new_path));
        }
        std::printf("  %s %6.1f -> %6.1f", f->name, macs / t_old * 1e-9, macs / t_new * 1e-9);
      }
      std::printf("\n");
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> threads;
  if (argc > 1 && std::string(argv[1]) == "conv") {
    for (int i = 2; i < argc; i++) threads.push_back(std::atoi(argv[i]));
    if (threads.empty()) threads = {1};
    if (const char* s = std::getenv("QGEMM_BENCH_SECONDS")) g_seconds = std::atof(s);
    return conv_main(threads);
  }
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
