// CPU features detected once per process, and the ISA the kernels use. INT8RT_ISA=scalar|avx2|avxvnni|neon|neondot|i8mm
// forces a lower ISA (never one the CPU lacks).
//
// Arm (aarch64 Linux): NEON is part of the base architecture; the int8 dot product (SDOT, HWCAP_ASIMDDP: Cortex-A55/
// A75 and later, Jetson Orin's Cortex-A78AE) and the int8 matrix multiply (SMMLA, HWCAP2_I8MM: Armv8.6 cores such as
// Neoverse V1/N2, Cortex-A710/X2) are read from getauxval. Cortex-A53/A57/A72 have neither and run the plain NEON
// int8 path.
#pragma once
#include <string>

namespace int8rt {

enum class Isa : int { kScalar = 0, kAvx2 = 1, kAvxVnni = 2, kNeon = 3, kNeonDot = 4, kNeonI8mm = 5 };

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false, avx_vnni = false, avx512f = false, avx512bw = false, avx512vl = false,
       avx512_vnni = false;
  bool neon = false, neon_dot = false, neon_i8mm = false;
  std::string brand;  // x86: the CPUID brand string; Arm: the core's name from its MIDR (e.g. "Cortex-A78AE")
};

const CpuFeatures& cpu_features();
Isa active_isa();               // the best ISA available, lowered by INT8RT_ISA
const char* isa_name(Isa isa);  // "scalar", "avx2", ...
inline bool use_avx2() { return active_isa() == Isa::kAvx2 || active_isa() == Isa::kAvxVnni; }
// The NEON kernels (aarch64): any of the Arm ISAs. kNeonDot adds SDOT, kNeonI8mm SMMLA (and SDOT) for int8.
inline bool use_neon() {
  return active_isa() == Isa::kNeon || active_isa() == Isa::kNeonDot || active_isa() == Isa::kNeonI8mm;
}
// Int8 dot products (vpdpbusd) on 256-bit registers: AVX-VNNI (VEX) or AVX512-VNNI with AVX512VL (EVEX). The ISA is
// kAvxVnni for either; vnni_encoding() says which instructions to use.
inline bool use_vnni() { return active_isa() == Isa::kAvxVnni; }
enum class VnniEncoding { kNone, kVex, kEvex };
VnniEncoding vnni_encoding();

}  // namespace int8rt
