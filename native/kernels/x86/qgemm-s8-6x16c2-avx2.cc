// AVX2 int8 GEMM family: operands sign-extended to int16 in pairs of consecutive k (A at qpack_a, B per call), and
// vpmaddwd + vpaddd: each 32-bit lane gets a[k] * b[k] + a[k+1] * b[k+1], at most 2 * 128 * 128 = 32768 in
// magnitude, so the products and their int32 sums are exact (vpmaddubsw, whose int16 sums saturate, is never used).
// Tile 6 x 16: 12 accumulators, two B vectors, one broadcast A pair and one product temporary: all 16 ymm registers.
#include <immintrin.h>

#include "kernels/qgemm-internal.h"
#include "kernels/x86/qgemm-s8-x86.h"

namespace int8rt {
namespace qgemm_internal {
namespace {

struct DotMaddwd {
  static inline __m256i step(__m256i acc, __m256i b, __m256i a) {
    const __m256i p = _mm256_madd_epi16(b, a);
    __asm__("vpaddd %1, %0, %0" : "+x"(acc) : "x"(p));
    return acc;
  }
};

constexpr int kMR = 6;

// B pairs of rows interleaved byte-wise, then sign-extended: group g of a 16-column panel is
// [b(2g, c) b(2g+1, c)] for c = 0..15 as int16, 64 bytes.
void pack_b_c2_s16(const int8_t* B, int64_t ldb, int64_t K, int64_t n0, int64_t nc, void* dst) {
  const int64_t kg = ceil_div(K, 2), kfull = K / 2, panels = nc / kNR;
  const int64_t pstride = int64_t(kNR) * kg * 4;
  uint8_t* d = static_cast<uint8_t*>(dst);
  for (int64_t g = 0; g < kfull; g++) {
    const int8_t* r0 = B + 2 * g * ldb + n0;
    const int8_t* r1 = r0 + ldb;
    uint8_t* dg = d + g * 64;
    for (int64_t q = 0; q < panels; q++) {
      const int64_t c = q * kNR;
      const __m128i x0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r0 + c));
      const __m128i x1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r1 + c));
      __m256i* o = reinterpret_cast<__m256i*>(dg + q * pstride);
      _mm256_storeu_si256(o + 0, _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(x0, x1)));
      _mm256_storeu_si256(o + 1, _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(x0, x1)));
    }
  }
  if (kfull < kg) pack_b_portable(Elem::kS16, 2, B, ldb, K, n0, nc, kfull, kg, 0, panels * kNR, dst);
  if (panels * kNR < nc) pack_b_portable(Elem::kS16, 2, B, ldb, K, n0, nc, 0, kg, panels * kNR, nc, dst);
}

const Kernels kAvx2 = {
    "qgemm_s8_avx2_6x16", kAvx2Id, kMR, 2, Elem::kS16, Elem::kS16, pack_b_c2_s16, block<kMR, DotMaddwd>,
    gemv<kMR, DotMaddwd>,
};

}  // namespace

const Kernels& avx2_kernels() { return kAvx2; }

}  // namespace qgemm_internal
}  // namespace int8rt
