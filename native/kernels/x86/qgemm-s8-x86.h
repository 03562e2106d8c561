// The x86 int8 GEMM microkernel, shared by the AVX2 (vpmaddwd), AVX-VNNI and AVX512-VNNI (vpdpbusd) families:
// only the dot-product step differs (the `Dot` policy), and the tile shape. Included only by files compiled with at
// least -mavx2 -mfma (kernels/x86/qgemm-s8-*-{avx2,avxvnni,avx512vnni}.cc). Everything here has internal linkage:
// each of those files gets its own copy compiled for its ISA, so the linker can never pick an AVX-512 copy for a
// CPU without it (which an inline function with external linkage would allow).
//
// Layouts (kernels/qgemm-internal.h): per k group, one column of B and one row of A are 4 bytes, so a group of a
// 16-column B panel is two ymm vectors and a row's group is one broadcast int32. The tile keeps MR x NV ymm int32
// accumulators; NV = 2 for 16-wide panels, 1 for the 8-wide tail panel.
//
// The epilogue follows kernels/qgemm.h operation for operation, with the same roundings as the scalar reference
// (qgemm-internal.h): cvtdq2ps (round to nearest even) for (float)acc, a plain vmulps, vfmadd for the residual,
// vmaxps/vminps in the reference's operand order, vcvtps2dq (round half to even under the default MXCSR). Nothing
// here is a separate multiply and add that the compiler could contract into an FMA.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/qgemm-internal.h"

namespace int8rt {
namespace qgemm_internal {
namespace {

inline int imin(int64_t a, int64_t b) { return int(a < b ? a : b); }

// The write-back of one output kind, RES: a residual is added. Built once per block; the tiles work on a copy
// whose address never escapes, so the compiler keeps its fields in registers across the int8 stores (which may
// alias anything reachable through a pointer).
template <OutKind KIND, bool RES>
struct Writer {
  void* c;
  int64_t ldc;
  const int32_t* offset;
  const float* multiplier;
  const int8_t* residual;
  int64_t ldr;
  __m256 rmul, lo, hi;
  float rmul_s, lo_s, hi_s;
  explicit Writer(const Output& o)
      : c(o.c), ldc(o.ldc), offset(o.offset), multiplier(o.multiplier), residual(o.residual), ldr(o.ldr),
        rmul(_mm256_set1_ps(o.residual_multiplier)), lo(_mm256_set1_ps(o.lo)), hi(_mm256_set1_ps(o.hi)),
        rmul_s(o.residual_multiplier), lo_s(o.lo), hi_s(o.hi) {}

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
  // int8 row of 16 columns in one zmm (AVX512-VNNI family): per element the very operations of the ymm path below
  // (cvtdq2ps, vmulps, vfmadd for the residual, vmaxps/vminps in the same operand order, vcvtps2dq), then vpmovdb
  // (exact: the values are already in [-128, 127]); a partial row uses masked loads and stores instead of copies.
  // Half the instructions of two ymm halves joined by packs and a permutation.
  inline void row16_s8(__m256i x0, __m256i x1, int cols, int64_t m, int64_t n) const {
    const __m512i x = _mm512_inserti64x4(_mm512_castsi256_si512(x0), x1, 1);
    __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(x), _mm512_set1_ps(multiplier[m]));
    const __mmask16 k = cols >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << cols) - 1);
    if (RES) {
      const __m128i r8 = _mm_maskz_loadu_epi8(k, residual + m * ldr + n);
      f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(r8)), _mm512_set1_ps(rmul_s), f);
    }
    f = _mm512_min_ps(_mm512_set1_ps(hi_s), _mm512_max_ps(f, _mm512_set1_ps(lo_s)));
    const __m128i q = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(f));
    _mm_mask_storeu_epi8(static_cast<int8_t*>(c) + m * ldc + n, k, q);
  }
#endif

  // Eight float values before the clamp: (float)x * mult, then the residual term with one fused rounding.
  inline __m256 dequant8(__m256i x, __m256 mult, const int8_t* res8) const {
    __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(x), mult);
    if (RES) {
      const __m256i r = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(res8)));
      f = _mm256_fmadd_ps(_mm256_cvtepi32_ps(r), rmul, f);
    }
    return f;
  }

  // Row m, columns [n, n + cols) of C from x[v] = raw accumulators of columns [n + 8v, n + 8v + 8).
  template <int NV>
  inline void row(const __m256i (&acc)[NV], int cols, int64_t m, int64_t n) const {
    constexpr int W = 8 * NV;
    __m256i x[NV];
    if (offset) {
      const __m256i off = _mm256_set1_epi32(offset[m]);
      for (int v = 0; v < NV; v++) x[v] = _mm256_add_epi32(acc[v], off);
    } else {
      for (int v = 0; v < NV; v++) x[v] = acc[v];
    }
    if (KIND == OutKind::kS32) {
      int32_t* out = static_cast<int32_t*>(c) + m * ldc + n;
      if (cols == W) {
        for (int v = 0; v < NV; v++) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8 * v), x[v]);
      } else {
        alignas(32) int32_t t[W];
        for (int v = 0; v < NV; v++) _mm256_store_si256(reinterpret_cast<__m256i*>(t + 8 * v), x[v]);
        std::memcpy(out, t, size_t(cols) * sizeof(int32_t));
      }
      return;
    }
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
    if (KIND == OutKind::kS8 && NV == 2) {
      row16_s8(x[0], x[NV - 1], cols, m, n);
      return;
    }
#endif
    const __m256 mult = _mm256_set1_ps(multiplier[m]);
    const int8_t* res = nullptr;
    alignas(16) int8_t rtmp[W];
    if (RES) {
      res = residual + m * ldr + n;
      if (cols < W) {  // never read past the residual's valid columns
        std::memset(rtmp, 0, sizeof(rtmp));
        std::memcpy(rtmp, res, size_t(cols));
        res = rtmp;
      }
    }
    if (KIND == OutKind::kF32) {
      float* out = static_cast<float*>(c) + m * ldc + n;
      alignas(32) float t[W];
      for (int v = 0; v < NV; v++) {
        __m256 f = dequant8(x[v], mult, RES ? res + 8 * v : nullptr);
        f = _mm256_min_ps(hi, _mm256_max_ps(lo, f));  // the reference's clamp: NaN passes
        if (cols == W) _mm256_storeu_ps(out + 8 * v, f);
        else _mm256_store_ps(t + 8 * v, f);
      }
      if (cols < W) std::memcpy(out, t, size_t(cols) * sizeof(float));
      return;
    }
    // int8: clamp in float (NaN becomes qmin), round half to even, narrow; the packs never saturate since the
    // values are already in [-128, 127].
    __m256i q[NV];
    for (int v = 0; v < NV; v++) {
      __m256 f = dequant8(x[v], mult, RES ? res + 8 * v : nullptr);
      f = _mm256_min_ps(hi, _mm256_max_ps(f, lo));
      q[v] = _mm256_cvtps_epi32(f);
    }
    // packs work within 128-bit lanes: after two packs, dword 0 of each lane holds q[0]'s 4 values of that lane and
    // dword 1 q[NV-1]'s; the permutation puts them in column order.
    const __m256i p16 = _mm256_packs_epi32(q[0], q[NV - 1]);
    const __m256i p8 = _mm256_packs_epi16(p16, p16);
    const __m256i p = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    int8_t* out = static_cast<int8_t*>(c) + m * ldc + n;
    if (cols == W) {
      if (NV == 2) _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(p));
      else _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(p));
    } else {
      alignas(16) int8_t t[16];
      _mm_store_si128(reinterpret_cast<__m128i*>(t), _mm256_castsi256_si128(p));
      std::memcpy(out, t, size_t(cols));
    }
  }

  // Column n of rows [m, m + rows) (rows <= 8) from lane r of acc = raw accumulator of row m + r: the N == 1
  // write-back (and that of a one-column tail panel), with the same vector operations as row().
  inline void column(__m256i acc, int rows, int64_t m, int64_t n = 0) const {
    alignas(32) int32_t off[8] = {0};
    alignas(32) float mul[8] = {0};
    alignas(16) int8_t res[8] = {0};
    for (int r = 0; r < rows; r++) {
      if (offset) off[r] = offset[m + r];
      if (KIND != OutKind::kS32) mul[r] = multiplier[m + r];
      if (RES) res[r] = residual[(m + r) * ldr + n];
    }
    const __m256i x = _mm256_add_epi32(acc, _mm256_load_si256(reinterpret_cast<const __m256i*>(off)));
    alignas(32) int32_t t[8];
    if (KIND == OutKind::kS32) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(t), x);
      for (int r = 0; r < rows; r++) static_cast<int32_t*>(c)[(m + r) * ldc + n] = t[r];
      return;
    }
    __m256 f = dequant8(x, _mm256_load_ps(mul), res);
    if (KIND == OutKind::kF32) {
      f = _mm256_min_ps(hi, _mm256_max_ps(lo, f));
      alignas(32) float tf[8];
      _mm256_store_ps(tf, f);
      for (int r = 0; r < rows; r++) static_cast<float*>(c)[(m + r) * ldc + n] = tf[r];
      return;
    }
    f = _mm256_min_ps(hi, _mm256_max_ps(f, lo));
    _mm256_store_si256(reinterpret_cast<__m256i*>(t), _mm256_cvtps_epi32(f));
    for (int r = 0; r < rows; r++) static_cast<int8_t*>(c)[(m + r) * ldc + n] = int8_t(t[r]);
  }
};

// The Dot policies update the accumulator through inline assembly that names it as both input and output: with
// intrinsics, g++ (12) keeps a large tile's accumulators in other registers than the ones it adds into and copies
// them back every iteration (a vmovdqa per accumulator per k group), which costs the front end as much as the
// arithmetic.
//
// One MR x (8*NV) tile over all k groups: `a` is an A panel, `b` a B panel of width 8*NV; (m, n) is the tile's
// origin in C, `rows` x `cols` of it are inside C.
template <int MR, int NV, class Dot, class Wr>
inline void tile(int64_t kg, const uint8_t* a, const uint8_t* b, int rows, int cols, int64_t m, int64_t n,
                 const Wr& writer) {
  const Wr wr = writer;
  __m256i acc[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
    for (int v = 0; v < NV; v++) acc[r][v] = _mm256_setzero_si256();
  for (int64_t g = 0; g < kg; g++) {
    const uint8_t* bg = b + g * (NV * 32);
    const uint8_t* ag = a + g * (MR * 4);
    __m256i bv[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; v++) bv[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bg + 32 * v));
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
      int32_t a4;
      std::memcpy(&a4, ag + 4 * r, 4);
      const __m256i av = _mm256_set1_epi32(a4);
#pragma GCC unroll 2
      for (int v = 0; v < NV; v++) acc[r][v] = Dot::step(acc[r][v], bv[v], av);
    }
  }
  if (rows == MR) {  // fully unrolled: the accumulators stay in registers
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) wr.template row<NV>(acc[r], cols, m + r, n);
  } else {
    for (int r = 0; r < rows; r++) wr.template row<NV>(acc[r], cols, m + r, n);
  }
}

// Column 0 of an 8-wide B panel against one MR-row A panel (rows <= MR <= 8 of it in C), as a matrix-vector
// product: lane r of the accumulator is row r, one dot-product step per k group instead of MR. A group of the panel
// is MR rows x 4 bytes side by side, loaded as one ymm: with MR < 8 the load runs into the next group or past the
// last panel (qpack_a's kAPadBytes), lanes MR..7 ignored; the packed A must have that padding. Four interleaved
// accumulators hide the dot-product latency. Same sums, same write-back operations: the same bytes as the tile.
template <int MR, class Dot, class Wr>
inline void column_tile(int64_t kg, const uint8_t* a, const uint8_t* b, int rows, int64_t m, int64_t n,
                        const Wr& wr) {
  __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
  int64_t g = 0;
  for (; g + 4 <= kg; g += 4) {
#pragma GCC unroll 4
    for (int u = 0; u < 4; u++) {
      int32_t b4;
      std::memcpy(&b4, b + (g + u) * kNRTail * 4, 4);
      const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + (g + u) * MR * 4));
      acc[u] = Dot::step(acc[u], _mm256_set1_epi32(b4), av);
    }
  }
  for (; g < kg; g++) {
    int32_t b4;
    std::memcpy(&b4, b + g * kNRTail * 4, 4);
    const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + g * MR * 4));
    acc[0] = Dot::step(acc[0], _mm256_set1_epi32(b4), av);
  }
  const __m256i sum = _mm256_add_epi32(_mm256_add_epi32(acc[0], acc[1]), _mm256_add_epi32(acc[2], acc[3]));
  wr.column(sum, rows, m, n);
}

// B panel outer: it stays in L1 while the block's A panels stream from L2. COL_TAIL: a last panel with a single
// column (N = 49 = 3 x 16 + 1 on 7x7 planes) runs as matrix-vector products (column_tile) instead of 8-wide tiles
// that are 7/8 padding; only for families whose block kernel reads qpack_a's padded int8 A.
template <int MR, class Dot, bool COL_TAIL, class Wr>
void block_with(const Block& blk, const Wr& wr) {
  const int64_t kg = blk.kg;
  const uint8_t* a = static_cast<const uint8_t*>(blk.a);
  const uint8_t* b = static_cast<const uint8_t*>(blk.b);
  const int64_t a_panel = int64_t(MR) * kg * 4;
  for (int64_t j = 0, q = 0; j < blk.nc; j += kNR, q++) {
    const uint8_t* bp = b + q * kNR * kg * 4;
    const int cols = imin(kNR, blk.nc - j);
    const bool wide = panel_width(blk.nc, q) == kNR;
    for (int64_t i = 0; i < blk.mc; i += MR) {
      const uint8_t* ap = a + (i / MR) * a_panel;
      const int rows = imin(MR, blk.mc - i);
      if (COL_TAIL && cols == 1) column_tile<MR, Dot>(kg, ap, bp, rows, blk.m0 + i, blk.n0 + j, wr);
      else if (wide) tile<MR, 2, Dot>(kg, ap, bp, rows, cols, blk.m0 + i, blk.n0 + j, wr);
      else tile<MR, 1, Dot>(kg, ap, bp, rows, cols, blk.m0 + i, blk.n0 + j, wr);
    }
  }
}

// N == 1: column_tile on each row panel (the column packed as an 8-wide panel; its group g is the first 4 bytes of
// the panel's group g, broadcast).
template <int MR, class Dot, class Wr>
void gemv_with(const Block& blk, const Wr& writer) {
  const Wr wr = writer;
  const int64_t a_panel = int64_t(MR) * blk.kg * 4;
  for (int64_t i = 0; i < blk.mc; i += MR)
    column_tile<MR, Dot>(blk.kg, static_cast<const uint8_t*>(blk.a) + (i / MR) * a_panel,
                         static_cast<const uint8_t*>(blk.b), imin(MR, blk.mc - i), blk.m0 + i, 0, wr);
}

// Calls f(writer) with the Writer of the output kind: resolved once per block, not per tile.
template <class F>
inline void with_writer(const Output& o, const F& f) {
  switch (o.kind) {
    case OutKind::kS32: f(Writer<OutKind::kS32, false>(o)); break;
    case OutKind::kF32:
      if (o.residual) f(Writer<OutKind::kF32, true>(o));
      else f(Writer<OutKind::kF32, false>(o));
      break;
    case OutKind::kS8:
      if (o.residual) f(Writer<OutKind::kS8, true>(o));
      else f(Writer<OutKind::kS8, false>(o));
      break;
  }
}

// The block and matrix-vector contracts of kernels/qgemm-internal.h.
template <int MR, class Dot, bool COL_TAIL = false>
void block(const Block& blk) {
  with_writer(*blk.out, [&](const auto& wr) { block_with<MR, Dot, COL_TAIL>(blk, wr); });
}
template <int MR, class Dot>
void gemv(const Block& blk) {
  with_writer(*blk.out, [&](const auto& wr) { gemv_with<MR, Dot>(blk, wr); });
}

// B packer of the VNNI families: 4 consecutive k of a column side by side, shifted to uint8 (b + 128 = b ^ 0x80).
// Full groups of full panels are interleaved with byte/word unpacks, two panels (32 columns) per step; the last
// partial group and panel go through the portable packer.
inline void pack_b_c4_shifted(const int8_t* B, int64_t ldb, int64_t K, int64_t n0, int64_t nc, void* dst) {
  const int64_t kg = ceil_div(K, 4), kfull = K / 4, panels = nc / kNR;
  const int64_t pstride = int64_t(kNR) * kg * 4;
  uint8_t* d = static_cast<uint8_t*>(dst);
  const __m256i flip = _mm256_set1_epi8(char(0x80));
  for (int64_t g = 0; g < kfull; g++) {
    const int8_t* r0 = B + 4 * g * ldb + n0;
    const int8_t* r1 = r0 + ldb;
    const int8_t* r2 = r1 + ldb;
    const int8_t* r3 = r2 + ldb;
    uint8_t* dg = d + g * 64;
    int64_t q = 0;
    for (; q + 2 <= panels; q += 2) {
      const int64_t c = q * kNR;
      const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r0 + c));
      const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r1 + c));
      const __m256i x2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r2 + c));
      const __m256i x3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r3 + c));
      // Within each 128-bit lane (columns 0-15 | 16-31): bytes of rows 0/1 and 2/3 interleaved, then words.
      const __m256i t0 = _mm256_unpacklo_epi8(x0, x1), t1 = _mm256_unpackhi_epi8(x0, x1);
      const __m256i t2 = _mm256_unpacklo_epi8(x2, x3), t3 = _mm256_unpackhi_epi8(x2, x3);
      const __m256i q0 = _mm256_unpacklo_epi16(t0, t2);  // columns 0-3   | 16-19
      const __m256i q1 = _mm256_unpackhi_epi16(t0, t2);  // columns 4-7   | 20-23
      const __m256i q2 = _mm256_unpacklo_epi16(t1, t3);  // columns 8-11  | 24-27
      const __m256i q3 = _mm256_unpackhi_epi16(t1, t3);  // columns 12-15 | 28-31
      __m256i* o0 = reinterpret_cast<__m256i*>(dg + q * pstride);
      __m256i* o1 = reinterpret_cast<__m256i*>(dg + (q + 1) * pstride);
      _mm256_storeu_si256(o0 + 0, _mm256_xor_si256(_mm256_permute2x128_si256(q0, q1, 0x20), flip));
      _mm256_storeu_si256(o0 + 1, _mm256_xor_si256(_mm256_permute2x128_si256(q2, q3, 0x20), flip));
      _mm256_storeu_si256(o1 + 0, _mm256_xor_si256(_mm256_permute2x128_si256(q0, q1, 0x31), flip));
      _mm256_storeu_si256(o1 + 1, _mm256_xor_si256(_mm256_permute2x128_si256(q2, q3, 0x31), flip));
    }
    if (q < panels) {
      const int64_t c = q * kNR;
      const __m128i f = _mm256_castsi256_si128(flip);
      const __m128i x0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r0 + c));
      const __m128i x1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r1 + c));
      const __m128i x2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r2 + c));
      const __m128i x3 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r3 + c));
      const __m128i t0 = _mm_unpacklo_epi8(x0, x1), t1 = _mm_unpackhi_epi8(x0, x1);
      const __m128i t2 = _mm_unpacklo_epi8(x2, x3), t3 = _mm_unpackhi_epi8(x2, x3);
      __m128i* o = reinterpret_cast<__m128i*>(dg + q * pstride);
      _mm_storeu_si128(o + 0, _mm_xor_si128(_mm_unpacklo_epi16(t0, t2), f));
      _mm_storeu_si128(o + 1, _mm_xor_si128(_mm_unpackhi_epi16(t0, t2), f));
      _mm_storeu_si128(o + 2, _mm_xor_si128(_mm_unpacklo_epi16(t1, t3), f));
      _mm_storeu_si128(o + 3, _mm_xor_si128(_mm_unpackhi_epi16(t1, t3), f));
    }
  }
  if (kfull < kg) pack_b_portable(Elem::kU8Shifted, 4, B, ldb, K, n0, nc, kfull, kg, 0, panels * kNR, dst);
  if (panels * kNR < nc) pack_b_portable(Elem::kU8Shifted, 4, B, ldb, K, n0, nc, 0, kg, panels * kNR, nc, dst);
}

}  // namespace
}  // namespace qgemm_internal
}  // namespace int8rt
