// The kernel choice on this CPU, and the ISA-specific packers and conversions against their portable versions.
// Built on every architecture (the packer checks cover the x86 families too); on aarch64 it is the first suite of the
// emulated runs (CMakeLists.txt: qemu -cpu max and -cpu cortex-a53), whose logs then say which kernels each CPU model
// ran. INT8RT_EXPECT_ISA (set by those runs) names the ISA the run must have detected, so a run on the wrong CPU model
// fails instead of silently testing another path. The GEMM results themselves are checked bit for bit (int8) and
// within tolerance (float) by the QGemm* and Sgemm* suites, which iterate over every family this CPU can run.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "kernels/dwconv-s8.h"
#include "kernels/qgemm-internal.h"
#include "kernels/qgemm.h"
#include "kernels/sgemm-internal.h"
#include "kernels/sgemm.h"

namespace int8rt {
namespace {

using qgemm_internal::Kernels;

std::string families() {
  std::string s;
  for (const Kernels* k : qgemm_internal::available_kernels()) s += std::string(s.empty() ? "" : ", ") + k->name;
  return s;
}

TEST(ArmKernels, Report) {
  const CpuFeatures& f = cpu_features();
  const std::string isa = isa_name(active_isa());
  // One line per fact, in the test log: which CPU model the run saw and which kernels it used.
  std::printf("[ kernels  ] cpu: %s  neon=%d dotprod=%d i8mm=%d  avx2=%d avx512vnni=%d\n", f.brand.c_str(), f.neon,
              f.neon_dot, f.neon_i8mm, f.avx2, f.avx512_vnni);
  std::printf("[ kernels  ] isa: %s  int8 gemm: %s  float gemm: %s  int8 depthwise: %s\n", isa.c_str(),
              qgemm_kernel_name().c_str(), sgemm_kernel_name(), dwconv2d_s8_kernel_name());
  std::printf("[ kernels  ] int8 gemm families tested here: %s\n", families().c_str());
  if (const char* want = std::getenv("INT8RT_EXPECT_ISA")) EXPECT_EQ(isa, want);
#if defined(__aarch64__)
  EXPECT_TRUE(f.neon);
  if (f.neon_i8mm) EXPECT_TRUE(f.neon_dot) << "i8mm without the dot product: an unusual core";
  EXPECT_STREQ(sgemm_kernel_name(), "neon_6x16");
  switch (active_isa()) {
    case Isa::kNeonI8mm: EXPECT_EQ(qgemm_kernel_name(), "qgemm_s8_i8mm_6x16"); break;
    case Isa::kNeonDot: EXPECT_EQ(qgemm_kernel_name(), "qgemm_s8_neondot_6x16"); break;
    case Isa::kNeon: EXPECT_EQ(qgemm_kernel_name(), "qgemm_s8_neon_6x16"); break;
    default: EXPECT_EQ(qgemm_kernel_name(), "qgemm_s8_scalar_4x16"); break;  // INT8RT_ISA=scalar
  }
  // The families under test follow the CPU's features, never more.
  size_t expect = 2 + (f.neon_dot ? 1 : 0) + (f.neon_dot && f.neon_i8mm ? 1 : 0);
  EXPECT_EQ(qgemm_internal::available_kernels().size(), expect) << families();
#endif
}

// Every family's B packer (vector code for the full groups and panels) against the portable packer of the same
// layout, byte for byte, on offsets, widths and depths around the 16-column panels, the 8-wide tail and the k groups.
TEST(ArmKernels, PackBMatchesPortable) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> u(-128, 127);
  const int64_t Ks[] = {1, 3, 4, 7, 8, 9, 16, 17, 31, 64, 100};
  const int64_t ncs[] = {1, 7, 8, 9, 15, 16, 17, 24, 32, 33, 47, 64};
  for (const Kernels* f : qgemm_internal::available_kernels())
    for (int64_t K : Ks)
      for (int64_t nc : ncs)
        for (int64_t n0 : {int64_t(0), int64_t(16), int64_t(5)}) {
          const int64_t ldb = n0 + nc + 3;
          std::vector<int8_t> B(size_t(K * ldb));
          for (auto& x : B) x = int8_t(u(rng));
          const int64_t kg = qgemm_internal::ceil_div(K, f->kgroup);
          const size_t bytes =
              size_t(qgemm_internal::packed_b_elems(nc, kg, f->kgroup) * qgemm_internal::elem_bytes(f->b_elem));
          std::vector<uint8_t> got(bytes + 64, 0xa5), want(bytes + 64, 0xa5);
          f->pack_b(B.data(), ldb, K, n0, nc, got.data());
          qgemm_internal::pack_b_portable(f->b_elem, f->kgroup, B.data(), ldb, K, n0, nc, 0, kg, 0, nc, want.data());
          ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size()), 0)
              << f->name << " K=" << K << " nc=" << nc << " n0=" << n0;
        }
}

// The NEON half-to-float widening (fp16 packings) against the portable one on all 65536 halves, unaligned.
TEST(ArmKernels, WidenHalfMatchesPortable) {
#if defined(__aarch64__)
  std::vector<uint16_t> h(65536 + 3);
  for (size_t i = 0; i < h.size(); i++) h[i] = uint16_t(i);
  std::vector<float> a(h.size()), b(h.size());
  sgemm_internal::widen_half_portable(h.data() + 1, int64_t(h.size()) - 1, a.data());
  sgemm_internal::widen_half_neon(h.data() + 1, int64_t(h.size()) - 1, b.data());
  int bad = 0;
  for (size_t i = 0; i + 1 < h.size(); i++) {
    const bool same = std::isnan(a[i]) ? std::isnan(b[i]) : std::memcmp(&a[i], &b[i], sizeof(float)) == 0;
    if (!same && ++bad <= 3) ADD_FAILURE() << "half 0x" << std::hex << h[i + 1] << ": " << b[i] << " want " << a[i];
  }
  EXPECT_EQ(bad, 0);
#else
  GTEST_SKIP() << "aarch64 only";
#endif
}

}  // namespace
}  // namespace int8rt
