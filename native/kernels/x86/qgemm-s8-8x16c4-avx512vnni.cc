// AVX512-VNNI int8 GEMM family (EVEX vpdpbusd on ymm registers, AVX512VL): B shifted to uint8 (b + 128) in 4-k
// groups while it is packed, A int8; vpdpbusd (the non-saturating form) adds four u8 x s8 products into each int32
// lane, and the epilogue subtracts 128 * row_sums[m] (see kernels/qgemm-internal.h): exact. 256-bit registers keep
// clocks up on the Intel cores that lower them for zmm work, and cost nothing on Zen 4, which splits zmm ops in two.
// Tile 8 x 16: 16 accumulators, two B vectors and one broadcast A group, 19 of the 32 ymm registers (a broadcast
// register shared by two vpdpbusd is one load; the {1to8} memory form would be one load per vpdpbusd).
//
// The same code with the AVX-VNNI tile (6 x 16) is built here too, for tests only: CPUs with VEX AVX-VNNI are not
// always at hand, and that family differs from this one in nothing but the instruction encoding and the tile.
#include <immintrin.h>

#include "kernels/qgemm-internal.h"
#include "kernels/x86/qgemm-s8-x86.h"

namespace int8rt {
namespace qgemm_internal {
namespace {

struct DotVnniEvex {
  // vpdpbusd acc, b (uint8), a (int8); "v": any of the 32 ymm registers.
  static inline __m256i step(__m256i acc, __m256i b, __m256i a) {
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(b), "v"(a));
    return acc;
  }
};

const Kernels kAvx512Vnni = {
    "qgemm_s8_avx512vnni_8x16", kAvx512VnniId, 8, 4, Elem::kS8, Elem::kU8Shifted, pack_b_c4_shifted,
    block<8, DotVnniEvex>,      gemv<8, DotVnniEvex>, /*widen_a=*/nullptr,
};
const Kernels kAvx512Vnni6x16 = {
    "qgemm_s8_avx512vnni_6x16", kAvx512Vnni6x16Id, 6, 4, Elem::kS8, Elem::kU8Shifted, pack_b_c4_shifted,
    block<6, DotVnniEvex>,      gemv<6, DotVnniEvex>, /*widen_a=*/nullptr,
};

}  // namespace

const Kernels& avx512vnni_kernels() { return kAvx512Vnni; }
const Kernels& avx512vnni_6x16_kernels() { return kAvx512Vnni6x16; }

}  // namespace qgemm_internal
}  // namespace int8rt
