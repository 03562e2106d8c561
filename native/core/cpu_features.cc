#include "core/cpu_features.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>

#include <cstdio>
#ifndef HWCAP_CPUID
#define HWCAP_CPUID (1 << 11)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1 << 13)
#endif
#endif

namespace int8rt {

#if defined(__aarch64__)
// The core's name from MIDR_EL1 (implementer, part number), for reports: "Cortex-A78AE". The register is read with
// MRS, which Linux emulates for user space when it sets HWCAP_CPUID (as does qemu-user, which reports the model it
// emulates); without it the name is plain "aarch64".
static std::string arm_core_name(unsigned long hwcap) {
  std::string name = "aarch64";
#if defined(__linux__)
  if (!(hwcap & HWCAP_CPUID)) return name;
  unsigned long midr = 0;
  __asm__ volatile("mrs %0, MIDR_EL1" : "=r"(midr));
  const unsigned implementer = unsigned(midr >> 24) & 0xff, part = unsigned(midr >> 4) & 0xfff;
  static const struct {
    unsigned part;
    const char* name;
  } kArmParts[] = {
      {0xd03, "Cortex-A53"},  {0xd04, "Cortex-A35"},   {0xd05, "Cortex-A55"},  {0xd07, "Cortex-A57"},
      {0xd08, "Cortex-A72"},  {0xd09, "Cortex-A73"},   {0xd0a, "Cortex-A75"},  {0xd0b, "Cortex-A76"},
      {0xd0c, "Neoverse-N1"}, {0xd0d, "Cortex-A77"},   {0xd40, "Neoverse-V1"}, {0xd41, "Cortex-A78"},
      {0xd42, "Cortex-A78AE"}, {0xd44, "Cortex-X1"},   {0xd46, "Cortex-A510"}, {0xd47, "Cortex-A710"},
      {0xd48, "Cortex-X2"},   {0xd49, "Neoverse-N2"},  {0xd4b, "Cortex-A78C"}, {0xd4f, "Neoverse-V2"},
  };
  if (implementer == 0x41)
    for (const auto& p : kArmParts)
      if (p.part == part) return p.name;
  char buf[64];
  std::snprintf(buf, sizeof buf, "aarch64 (implementer 0x%02x, part 0x%03x)", implementer, part);
  name = buf;
#else
  (void)hwcap;
#endif
  return name;
}
#endif

static CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (__get_cpuid(1, &a, &b, &c, &d)) {
    bool osxsave = c & (1u << 27);
    f.fma = c & (1u << 12);
    f.f16c = c & (1u << 29);
    bool ymm_ok = false, zmm_ok = false;
    if (osxsave) {
      unsigned lo, hi;
      __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
      ymm_ok = (lo & 0x6) == 0x6;
      zmm_ok = (lo & 0xe6) == 0xe6;
    }
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
      f.avx2 = ymm_ok && (b & (1u << 5));
      f.avx512f = zmm_ok && (b & (1u << 16));
      f.avx512bw = zmm_ok && (b & (1u << 30));
      f.avx512vl = zmm_ok && (b & (1u << 31));
      f.avx512_vnni = zmm_ok && (c & (1u << 11));
    }
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx_vnni = ymm_ok && (a & (1u << 4));
    f.fma = f.fma && ymm_ok;
  }
  unsigned brand[12] = {0};
  if (__get_cpuid_max(0x80000000, nullptr) >= 0x80000004) {
    for (unsigned i = 0; i < 3; i++) __get_cpuid(0x80000002 + i, &brand[4 * i], &brand[4 * i + 1], &brand[4 * i + 2], &brand[4 * i + 3]);
    char s[49];
    std::memcpy(s, brand, 48);
    s[48] = 0;
    f.brand = s;
    while (!f.brand.empty() && f.brand.back() == ' ') f.brand.pop_back();
    while (!f.brand.empty() && f.brand.front() == ' ') f.brand.erase(f.brand.begin());
  }
#elif defined(__aarch64__)
  f.neon = true;  // Advanced SIMD is part of the base aarch64 architecture
  unsigned long hw = 0;
#if defined(__linux__)
  hw = getauxval(AT_HWCAP);
  const unsigned long hw2 = getauxval(AT_HWCAP2);
  f.neon_dot = hw & HWCAP_ASIMDDP;
  f.neon_i8mm = hw2 & HWCAP2_I8MM;
#endif
  f.brand = arm_core_name(hw);
#endif
  return f;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx2: return "avx2";
    case Isa::kAvxVnni: return "avxvnni";
    case Isa::kNeon: return "neon";
    case Isa::kNeonDot: return "neondot";
    case Isa::kNeonI8mm: return "i8mm";
    default: return "scalar";
  }
}

static Isa detect_isa() {
  const CpuFeatures& f = cpu_features();
  Isa best = Isa::kScalar;
  bool vnni = f.avx_vnni || (f.avx512_vnni && f.avx512vl && f.avx512bw);
  if (f.avx2 && f.fma) best = vnni ? Isa::kAvxVnni : Isa::kAvx2;
  // The i8mm kernels also use SDOT (their matrix-vector product), so they need both.
  if (f.neon) best = f.neon_dot ? (f.neon_i8mm ? Isa::kNeonI8mm : Isa::kNeonDot) : Isa::kNeon;
  if (const char* env = std::getenv("INT8RT_ISA")) {
    Isa want = best;
    if (!std::strcmp(env, "scalar")) want = Isa::kScalar;
    else if (!std::strcmp(env, "avx2")) want = Isa::kAvx2;
    else if (!std::strcmp(env, "avxvnni")) want = Isa::kAvxVnni;
    else if (!std::strcmp(env, "neon")) want = Isa::kNeon;
    else if (!std::strcmp(env, "neondot")) want = Isa::kNeonDot;
    else if (!std::strcmp(env, "i8mm")) want = Isa::kNeonI8mm;
    auto arm = [](Isa i) { return i == Isa::kNeon || i == Isa::kNeonDot || i == Isa::kNeonI8mm; };
    bool same_family = (want == Isa::kScalar) ||
                       ((want == Isa::kAvx2 || want == Isa::kAvxVnni) && (best == Isa::kAvx2 || best == Isa::kAvxVnni)) ||
                       (arm(want) && arm(best));
    if (same_family && static_cast<int>(want) <= static_cast<int>(best)) best = want;
  }
  return best;
}

VnniEncoding vnni_encoding() {
  if (active_isa() != Isa::kAvxVnni) return VnniEncoding::kNone;
  return cpu_features().avx_vnni ? VnniEncoding::kVex : VnniEncoding::kEvex;
}

Isa active_isa() {
  static const Isa isa = detect_isa();
  return isa;
}

}  // namespace int8rt
