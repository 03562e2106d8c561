// AVX2 int8 GEMM family: vpmaddwd + vpaddd on operands sign-extended to int16 in pairs of consecutive k. Each
// 32-bit lane gets a[k] * b[k] + a[k+1] * b[k+1], at most 2 * 128 * 128 = 32768 in magnitude, so the products and
// their int32 sums are exact (vpmaddubsw, whose int16 sums saturate, is never used).
//
// The weights stay int8 at rest (qpack_a's c2 layout, 1 byte per element, the footprint of the VNNI families), and
// are widened to int16 one A block at a time (widen_a, called by the driver into a per-thread buffer of about the
// L2 block size) for the tiles, which then read a row's pair as one broadcast int32. Widening in the tile instead
// costs two shuffles per row and k pair (vpbroadcastw, vpmovsxbw: 12 per 12 vpmaddwd + 12 vpaddd), measured 20-30%
// slower on this AMD EPYC at 1 thread; the block widening is spread over all the columns of a B block (0-8% slower than
// int16 weights at rest on ResNet-50 shapes). The matrix-vector kernel (N == 1) reads each A element once, so it
// widens in place: one vpmovsxbw per k group of a row panel.
//
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

// The packed int8 A, element for element, as int16: the c2 layout is the same with 2-byte elements.
void widen_a_s16(const int8_t* src, int64_t n, int16_t* dst) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m128i x0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    const __m128i x1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 16));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_cvtepi8_epi16(x0));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i + 16), _mm256_cvtepi8_epi16(x1));
  }
  for (; i < n; i++) dst[i] = src[i];
}

// N == 1 on the int8 A: gemv_with (kernels/x86/qgemm-s8-x86.h) with the A load widened. A row panel's group g is
// MR pairs of int8 (12 bytes) side by side: one 16-byte load and vpmovsxbw give lane r = row r's pair as int16 (the
// load runs 4 bytes into the next group, or past the last panel into qpack_a's padding; lanes MR..7 are ignored).
template <int MR, class Wr>
void gemv_s8a_with(const Block& blk, const Wr& writer) {
  static_assert(MR <= 8, "one ymm of int32 lanes per row panel");
  const Wr wr = writer;
  const int64_t kg = blk.kg;
  const uint8_t* b = static_cast<const uint8_t*>(blk.b);
  const int64_t a_panel = int64_t(MR) * kg * 2;
  const auto a_group = [](const uint8_t* p) {
    return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  };
  for (int64_t i = 0; i < blk.mc; i += MR) {
    const uint8_t* ap = static_cast<const uint8_t*>(blk.a) + (i / MR) * a_panel;
    __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    int64_t g = 0;
    for (; g + 4 <= kg; g += 4) {
#pragma GCC unroll 4
      for (int u = 0; u < 4; u++) {
        int32_t b4;
        std::memcpy(&b4, b + (g + u) * kNRTail * 4, 4);
        acc[u] = DotMaddwd::step(acc[u], _mm256_set1_epi32(b4), a_group(ap + (g + u) * MR * 2));
      }
    }
    for (; g < kg; g++) {
      int32_t b4;
      std::memcpy(&b4, b + g * kNRTail * 4, 4);
      acc[0] = DotMaddwd::step(acc[0], _mm256_set1_epi32(b4), a_group(ap + g * MR * 2));
    }
    const __m256i sum = _mm256_add_epi32(_mm256_add_epi32(acc[0], acc[1]), _mm256_add_epi32(acc[2], acc[3]));
    wr.column(sum, imin(MR, blk.mc - i), blk.m0 + i);
  }
}

void gemv_s8a(const Block& blk) {
  with_writer(*blk.out, [&](const auto& wr) { gemv_s8a_with<kMR>(blk, wr); });
}


const Kernels kAvx2 = {
    "qgemm_s8_avx2_6x16", kAvx2Id, kMR, 2, Elem::kS8, Elem::kS16, pack_b_c2_s16, block<kMR, DotMaddwd>, gemv_s8a,
    widen_a_s16, /*pack_b_im2col=*/nullptr,
};

}  // namespace

const Kernels& avx2_kernels() { return kAvx2; }

}  // namespace qgemm_internal
}  // namespace int8rt
