// AVX-VNNI int8 GEMM family (VEX vpdpbusd, Alder Lake and later client cores): the AVX512-VNNI family's algorithm
// (kernels/x86/qgemm-s8-8x16c4-avx512vnni.cc) with the VEX encoding and a tile for 16 ymm registers: 6 x 16 is
// 12 accumulators, two B vectors and one broadcast A group. The tests run this exact code shape as the
// "avx512vnni_6x16" family on CPUs without AVX-VNNI.
#include <immintrin.h>

#include "kernels/qgemm-internal.h"
#include "kernels/x86/qgemm-s8-x86.h"

namespace int8rt {
namespace qgemm_internal {
namespace {

struct DotVnniVex {
  // {vex} vpdpbusd acc, b (uint8), a (int8) ("%{" escapes the brace); "x": ymm0-15, the VEX-encodable registers.
  static inline __m256i step(__m256i acc, __m256i b, __m256i a) {
    __asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc) : "x"(b), "x"(a));
    return acc;
  }
};

const Kernels kAvxVnni = {
    "qgemm_s8_avxvnni_6x16", kAvxVnniId, 6, 4, Elem::kS8, Elem::kU8Shifted, pack_b_c4_shifted,
    block<6, DotVnniVex, true>, gemv<6, DotVnniVex>, /*widen_a=*/nullptr, /*pack_b_im2col=*/nullptr,
};

}  // namespace

const Kernels& avxvnni_kernels() { return kAvxVnni; }

}  // namespace qgemm_internal
}  // namespace int8rt
