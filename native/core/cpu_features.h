// CPU features detected once per process, and the ISA the kernels use. INT8RT_ISA=scalar|avx2|avxvnni|neon|neondot
// forces a lower ISA (never one the CPU lacks).
#pragma once
#include <string>

namespace int8rt {

enum class Isa : int { kScalar = 0, kAvx2 = 1, kAvxVnni = 2, kNeon = 3, kNeonDot = 4 };

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false, avx_vnni = false, avx512f = false, avx512bw = false, avx512vl = false,
       avx512_vnni = false;
  bool neon = false, neon_dot = false, neon_i8mm = false;
  std::string brand;
};

const CpuFeatures& cpu_features();
Isa active_isa();               // the best ISA available, lowered by INT8RT_ISA
const char* isa_name(Isa isa);  // "scalar", "avx2", ...
inline bool use_avx2() { return active_isa() == Isa::kAvx2 || active_isa() == Isa::kAvxVnni; }
// Int8 dot products (vpdpbusd) on 256-bit registers: AVX-VNNI (VEX) or AVX512-VNNI with AVX512VL (EVEX). The ISA is
// kAvxVnni for either; vnni_encoding() says which instructions to use.
inline bool use_vnni() { return active_isa() == Isa::kAvxVnni; }
enum class VnniEncoding { kNone, kVex, kEvex };
VnniEncoding vnni_encoding();

}  // namespace int8rt
