// AVX512-VNNI int8 GEMM family (EVEX vpdpbusd on ymm registers, AVX512VL): B shifted to uint8 (b + 128) in 4-k
// groups while it is packed, A int8; vpdpbusd (the non-saturating form) adds four u8 x s8 products into each int32
// lane, and the epilogue subtracts 128 * row_sums[m] (see kernels/qgemm-internal.h): exact. 256-bit registers keep
// clocks up on the Intel cores that lower them for zmm work, and cost nothing on Zen 4, which splits zmm ops in two.
// Tile 8 x 16: 16 accumulators, two B vectors and one broadcast A group, 19 of the 32 ymm registers (a broadcast
// register shared by two vpdpbusd is one load; the {1to8} memory form would be one load per vpdpbusd). The int8
// write-back (Writer::row16_s8 in qgemm-s8-x86.h) and the stride-2 im2col spans use a few zmm instructions each
// (conversions, masked loads): light 512-bit work, outside the dot-product loop.
//
// Convolutions: pack_b_im2col_c4_shifted builds the packed B blocks straight from the image (QIm2col) with masked
// loads, so the int8 Conv needs no im2col matrix.
//
// The same code with the AVX-VNNI tile (6 x 16) is built here too, for tests only: CPUs with VEX AVX-VNNI are not
// always at hand, and that family differs from this one in nothing but the instruction encoding and the tile.
//
// GCC 12 reports "'__Y' may be used uninitialized" inside its own AVX-512 intrinsics (the _mm512_undefined_*
// pass-through operand of conversions such as _mm512_cvtepi32_epi8 and of masked loads; GCC bug 105593, fixed in
// GCC 13). A false positive: silenced for this file, before <immintrin.h> is first included.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <vector>

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

// Bits [a, b) of a mask of up to 64 bits (0 <= a <= b <= 64).
inline uint64_t bit_range(int a, int b) {
  const uint64_t hi = b >= 64 ? ~uint64_t(0) : (uint64_t(1) << b) - 1;
  return hi & ~((uint64_t(1) << a) - 1);
}

// The im2col row (c, ky, kx) over one panel's segments (kernels/qgemm-internal.h), any stride, one byte at a time:
// 16 int8 columns, 0 in the padding and past the panel's columns.
inline __m128i im2col_row16(const QIm2col& s, const Im2colTaps& t, const Im2colSeg* seg, int nseg, int64_t c,
                            int64_t ky, int64_t kx) {
  alignas(16) int8_t tmp[16];
  im2col_panel_row(s, t, seg, nseg, c, ky, kx, tmp);
  return _mm_load_si128(reinterpret_cast<const __m128i*>(tmp));
}

// One masked load of a tap's row segment: the enabled bytes at plane + off (sw == 1: one byte per column; sw == 2:
// the even bytes of twice the width, narrowed afterwards).
struct SegLoad {
  int64_t off;  // from the channel plane's start to the input of the span's column 0 (may be negative)
  uint64_t mask;
};

// Interleaves a k group's four rows of 16 columns as pack_b_c4_shifted does (bytes of rows 0/1 and 2/3, then words)
// into q[0..3] = columns 0-3, 4-7, 8-11, 12-15, flipped to uint8.
inline void interleave16(const __m128i (&r)[4], __m128i (&q)[4]) {
  const __m128i flip = _mm_set1_epi8(char(0x80));
  const __m128i t0 = _mm_unpacklo_epi8(r[0], r[1]), t1 = _mm_unpackhi_epi8(r[0], r[1]);
  const __m128i t2 = _mm_unpacklo_epi8(r[2], r[3]), t3 = _mm_unpackhi_epi8(r[2], r[3]);
  q[0] = _mm_xor_si128(_mm_unpacklo_epi16(t0, t2), flip);
  q[1] = _mm_xor_si128(_mm_unpackhi_epi16(t0, t2), flip);
  q[2] = _mm_xor_si128(_mm_unpacklo_epi16(t1, t3), flip);
  q[3] = _mm_xor_si128(_mm_unpackhi_epi16(t1, t3), flip);
}

// A span of NP panels (NP = 2: two full 16-column panels, read as 32-byte rows; NP = 1: one panel of width w) of
// the im2col B, block columns [c0, c0 + vc), at dp (panel stride pstride bytes); SW: the column stride (1, 2, or 0
// for any other). Per span, the masked loads of each
// tap (ky, kx) are computed once (`loads`, `first`: scratch of ntaps * 32 and ntaps + 1 entries): they depend on the
// tap and the span's columns, not on the channel, so a row (c, ky, kx) is one or a few masked loads at plane c plus
// the tap's offsets (the masked-off bytes are neither read nor faulted on, so a load may start before the image or
// end past it). Rows past K are 0 (0x80 once shifted), like the portable packer's. Other strides build each row
// byte by byte (im2col_row16, NP = 1 only).
template <int NP, int SW>
void pack_span(const QIm2col& s, const Im2colTaps& taps, int64_t c0, int vc, int w, uint8_t* dp, int64_t pstride,
               SegLoad* loads, int* first) {
  static_assert(NP == 1 || SW != 0, "two-panel spans need stride 1 or 2");
  const int64_t K = s.C * s.kh * s.kw, kg = ceil_div(K, 4), plane = s.IH * s.IW, ntaps = s.kh * s.kw;
  const bool table = SW != 0;
  Im2colSeg seg[2 * kNR];
  int nseg = 0;
  for (int j = 0; j < vc; j += kNR) {
    const int n = im2col_segments(s, c0 + j, imin(kNR, vc - j), seg + nseg);
    for (int i = nseg; i < nseg + n; i++) seg[i].j0 += j;  // span columns
    nseg += n;
  }
  if (table) {
    int n = 0;
    for (int64_t t = 0; t < ntaps; t++) {
      const int64_t ky = t / s.kw, kx = t % s.kw;
      first[t] = n;
      for (int i = 0; i < nseg; i++) {
        int a, b;
        im2col_seg_cols(taps, seg[i], ky, kx, &a, &b);
        if (a == b) continue;
        const int64_t iy = seg[i].oy * s.sh - s.pt + ky * s.dh;
        const int64_t off = iy * s.IW + (seg[i].ox0 - seg[i].j0) * s.sw - s.pl + kx * s.dw;
        const uint64_t mask = s.sw == 1 ? bit_range(a, b) : bit_range(2 * a, 2 * b) & 0x5555555555555555ull;
        loads[n++] = SegLoad{off, mask};
      }
    }
    first[ntaps] = n;
  }
  int64_t c = 0, t = 0;  // the channel and tap of row k
  for (int64_t g = 0, k = 0; g < kg; g++) {
    __m256i r[4];  // NP = 1: the row in the low 128 bits
    for (int e = 0; e < 4; e++, k++) {
      if (k >= K) {
        r[e] = _mm256_setzero_si256();
        continue;
      }
      const uintptr_t base = reinterpret_cast<uintptr_t>(s.img + c * plane);
      const SegLoad* ld = loads + first[t];
      const int n = SW == 0 ? 0 : first[t + 1] - first[t];
      if (SW == 0) {
        r[e] = _mm256_castsi128_si256(im2col_row16(s, taps, seg, nseg, c, t / s.kw, t % s.kw));
      } else if (NP == 1 && SW == 1) {
        __m128i v = _mm_setzero_si128();
        for (int i = 0; i < n; i++)
          v = _mm_mask_loadu_epi8(v, __mmask16(ld[i].mask), reinterpret_cast<const void*>(base + uintptr_t(ld[i].off)));
        r[e] = _mm256_castsi128_si256(v);
      } else if (NP == 1) {
        __m256i v = _mm256_setzero_si256();
        for (int i = 0; i < n; i++)
          v = _mm256_mask_loadu_epi8(v, __mmask32(ld[i].mask),
                                     reinterpret_cast<const void*>(base + uintptr_t(ld[i].off)));
        r[e] = _mm256_castsi128_si256(_mm256_cvtepi16_epi8(v));  // the odd bytes were never loaded: 0
      } else if (SW == 1) {
        __m256i v = _mm256_setzero_si256();
        for (int i = 0; i < n; i++)
          v = _mm256_mask_loadu_epi8(v, __mmask32(ld[i].mask),
                                     reinterpret_cast<const void*>(base + uintptr_t(ld[i].off)));
        r[e] = v;
      } else {
        __m512i v = _mm512_setzero_si512();
        for (int i = 0; i < n; i++)
          v = _mm512_mask_loadu_epi8(v, __mmask64(ld[i].mask),
                                     reinterpret_cast<const void*>(base + uintptr_t(ld[i].off)));
        r[e] = _mm512_cvtepi16_epi8(v);
      }
      if (++t == ntaps) {
        t = 0;
        c++;
      }
    }
    if (NP == 2) {
      // As pack_b_c4_shifted's two-panel step: unpacks within the 128-bit lanes (columns 0-15 | 16-31), then each
      // panel's 64 bytes gathered from the lanes.
      const __m256i flip = _mm256_set1_epi8(char(0x80));
      const __m256i t0 = _mm256_unpacklo_epi8(r[0], r[1]), t1 = _mm256_unpackhi_epi8(r[0], r[1]);
      const __m256i t2 = _mm256_unpacklo_epi8(r[2], r[3]), t3 = _mm256_unpackhi_epi8(r[2], r[3]);
      const __m256i q0 = _mm256_unpacklo_epi16(t0, t2), q1 = _mm256_unpackhi_epi16(t0, t2);
      const __m256i q2 = _mm256_unpacklo_epi16(t1, t3), q3 = _mm256_unpackhi_epi16(t1, t3);
      __m256i* o0 = reinterpret_cast<__m256i*>(dp + g * kNR * 4);
      __m256i* o1 = reinterpret_cast<__m256i*>(dp + pstride + g * kNR * 4);
      _mm256_storeu_si256(o0 + 0, _mm256_xor_si256(_mm256_permute2x128_si256(q0, q1, 0x20), flip));
      _mm256_storeu_si256(o0 + 1, _mm256_xor_si256(_mm256_permute2x128_si256(q2, q3, 0x20), flip));
      _mm256_storeu_si256(o1 + 0, _mm256_xor_si256(_mm256_permute2x128_si256(q0, q1, 0x31), flip));
      _mm256_storeu_si256(o1 + 1, _mm256_xor_si256(_mm256_permute2x128_si256(q2, q3, 0x31), flip));
    } else {
      const __m128i r16[4] = {_mm256_castsi256_si128(r[0]), _mm256_castsi256_si128(r[1]),
                              _mm256_castsi256_si128(r[2]), _mm256_castsi256_si128(r[3])};
      __m128i q[4];
      interleave16(r16, q);
      __m128i* o = reinterpret_cast<__m128i*>(dp + g * w * 4);
      _mm_storeu_si128(o + 0, q[0]);
      _mm_storeu_si128(o + 1, q[1]);
      if (w == kNR) {
        _mm_storeu_si128(o + 2, q[2]);
        _mm_storeu_si128(o + 3, q[3]);
      }
    }
  }
}

// Block columns [n0, n0 + nc): pairs of full panels as 32-column spans (SW = 1, 2), the rest one panel at a time.
template <int SW>
void pack_spans(const QIm2col& s, const Im2colTaps& taps, int64_t n0, int64_t nc, uint8_t* d, int64_t pstride,
                SegLoad* loads, int* first) {
  int64_t q = 0;
  if (SW != 0)
    for (; (q + 2) * kNR <= nc; q += 2)
      pack_span<2, SW == 0 ? 1 : SW>(s, taps, n0 + q * kNR, 2 * kNR, kNR, d + q * pstride, pstride, loads, first);
  for (; q * kNR < nc; q++)
    pack_span<1, SW>(s, taps, n0 + q * kNR, imin(kNR, nc - q * kNR), panel_width(nc, q), d + q * pstride, pstride,
                     loads, first);
}

// PackBIm2colFn of the c4 shifted layout: pairs of full panels as 32-column spans (strides 1 and 2), the rest one
// panel at a time. The im2col matrix is never written.
void pack_b_im2col_c4_shifted(const QIm2col& s, int64_t n0, int64_t nc, void* dst) {
  Im2colTaps taps;
  im2col_taps(s, &taps);
  const int64_t kg = ceil_div(s.C * s.kh * s.kw, 4), ntaps = s.kh * s.kw, pstride = int64_t(kNR) * kg * 4;
  std::vector<SegLoad> loads(size_t(ntaps) * 2 * kNR);
  std::vector<int> first(size_t(ntaps) + 1);
  uint8_t* d = static_cast<uint8_t*>(dst);
  if (s.sw == 1) pack_spans<1>(s, taps, n0, nc, d, pstride, loads.data(), first.data());
  else if (s.sw == 2) pack_spans<2>(s, taps, n0, nc, d, pstride, loads.data(), first.data());
  else pack_spans<0>(s, taps, n0, nc, d, pstride, loads.data(), first.data());
}

const Kernels kAvx512Vnni = {
    "qgemm_s8_avx512vnni_8x16", kAvx512VnniId, 8, 4, Elem::kS8, Elem::kU8Shifted, pack_b_c4_shifted,
    block<8, DotVnniEvex, true>, gemv<8, DotVnniEvex>, /*widen_a=*/nullptr, pack_b_im2col_c4_shifted,
};
const Kernels kAvx512Vnni6x16 = {
    "qgemm_s8_avx512vnni_6x16", kAvx512Vnni6x16Id, 6, 4, Elem::kS8, Elem::kU8Shifted, pack_b_c4_shifted,
    block<6, DotVnniEvex, true>, gemv<6, DotVnniEvex>, /*widen_a=*/nullptr, pack_b_im2col_c4_shifted,
};

}  // namespace

const Kernels& avx512vnni_kernels() { return kAvx512Vnni; }
const Kernels& avx512vnni_6x16_kernels() { return kAvx512Vnni6x16; }

}  // namespace qgemm_internal
}  // namespace int8rt
