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

// Offset added to row m's accumulators before conversion: the bias and, for the shifted families, -128 * row sum.
inline int32_t row_offset(const Output& o, int64_t m) {
  uint32_t off = 0;
  if (o.bias) off += uint32_t(o.bias[m]);
  if (o.row_sums) off -= uint32_t(o.row_sums[m]) * 128u;
  return int32_t(off);
}

// Eight float values of row m at columns [n, n + 8) before the clamp.
inline __m256 dequant8(__m256i x, __m256 mult, const int8_t* res8, __m256 rmul) {
  __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(x), mult);
  if (res8) {
    const __m256i r = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(res8)));
    f = _mm256_fmadd_ps(_mm256_cvtepi32_ps(r), rmul, f);
  }
  return f;
}

// Writes one tile row: x[v] holds columns [8v, 8v + 8) of row m (offset already added); `cols` are inside C.
template <int NV>
inline void write_row(const __m256i (&x)[NV], int cols, int64_t m, int64_t n, const Output& o) {
  constexpr int W = 8 * NV;
  if (o.kind == OutKind::kS32) {
    int32_t* c = static_cast<int32_t*>(o.c) + m * o.ldc + n;
    if (cols == W) {
      for (int v = 0; v < NV; v++) _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + 8 * v), x[v]);
    } else {
      alignas(32) int32_t t[W];
      for (int v = 0; v < NV; v++) _mm256_store_si256(reinterpret_cast<__m256i*>(t + 8 * v), x[v]);
      std::memcpy(c, t, size_t(cols) * sizeof(int32_t));
    }
    return;
  }
  const __m256 mult = _mm256_set1_ps(o.multiplier[m]);
  const __m256 rmul = _mm256_set1_ps(o.residual_multiplier);
  const __m256 lo = _mm256_set1_ps(o.lo), hi = _mm256_set1_ps(o.hi);
  const int8_t* res = nullptr;
  alignas(16) int8_t rtmp[W];
  if (o.residual) {
    res = o.residual + m * o.ldr + n;
    if (cols < W) {  // never read past the residual's valid columns
      std::memset(rtmp, 0, sizeof(rtmp));
      std::memcpy(rtmp, res, size_t(cols));
      res = rtmp;
    }
  }
  if (o.kind == OutKind::kF32) {
    float* c = static_cast<float*>(o.c) + m * o.ldc + n;
    alignas(32) float t[W];
    for (int v = 0; v < NV; v++) {
      __m256 f = dequant8(x[v], mult, res ? res + 8 * v : nullptr, rmul);
      f = _mm256_min_ps(hi, _mm256_max_ps(lo, f));
      if (cols == W) _mm256_storeu_ps(c + 8 * v, f);
      else _mm256_store_ps(t + 8 * v, f);
    }
    if (cols < W) std::memcpy(c, t, size_t(cols) * sizeof(float));
    return;
  }
  // int8: clamp in float, round half to even, narrow (no saturation left to happen: values are in [-128, 127]).
  __m256i q[NV];
  for (int v = 0; v < NV; v++) {
    __m256 f = dequant8(x[v], mult, res ? res + 8 * v : nullptr, rmul);
    f = _mm256_min_ps(hi, _mm256_max_ps(f, lo));
    q[v] = _mm256_cvtps_epi32(f);
  }
  // packs work within 128-bit lanes: after two packs, dword 0 of each lane holds q[0]'s 4 values of that lane and
  // dword 1 q[1]'s; the permutation puts them in column order.
  const __m256i p16 = _mm256_packs_epi32(q[0], q[NV - 1]);
  const __m256i p8 = _mm256_packs_epi16(p16, p16);
  const __m256i p = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  int8_t* c = static_cast<int8_t*>(o.c) + m * o.ldc + n;
  if (cols == W) {
    if (NV == 2) _mm_storeu_si128(reinterpret_cast<__m128i*>(c), _mm256_castsi256_si128(p));
    else _mm_storel_epi64(reinterpret_cast<__m128i*>(c), _mm256_castsi256_si128(p));
  } else {
    alignas(16) int8_t t[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(t), _mm256_castsi256_si128(p));
    std::memcpy(c, t, size_t(cols));
  }
}

// The Dot policies update the accumulator in place through inline assembly: with intrinsics, g++ (12) keeps the
// accumulators of a large tile in other registers than the ones it adds into and copies them back every iteration
// (a vmovdqa per accumulator per k group), which costs the front end as much as the arithmetic.
//
// One MR x (8*NV) tile over all k groups: `a` is an A panel, `b` a B panel of width 8*NV; (m, n) is the tile's
// origin in C, `rows` x `cols` of it are inside C.
template <int MR, int NV, class Dot>
inline void tile(int64_t kg, const uint8_t* a, const uint8_t* b, int rows, int cols, int64_t m, int64_t n,
                 const Output& o) {
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
      for (int v = 0; v < NV; v++) Dot::step(acc[r][v], bv[v], av);
    }
  }
  for (int r = 0; r < rows; r++) {
    const __m256i off = _mm256_set1_epi32(row_offset(o, m + r));
    __m256i x[NV];
    for (int v = 0; v < NV; v++) x[v] = _mm256_add_epi32(acc[r][v], off);
    write_row<NV>(x, cols, m + r, n, o);
  }
}

// The block contract of kernels/qgemm-internal.h. B panel outer: it stays in L1 while the block's A panels stream
// from L2.
template <int MR, class Dot>
void block(const Block& blk) {
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
      if (wide) tile<MR, 2, Dot>(kg, ap, bp, rows, cols, blk.m0 + i, blk.n0 + j, *blk.out);
      else tile<MR, 1, Dot>(kg, ap, bp, rows, cols, blk.m0 + i, blk.n0 + j, *blk.out);
    }
  }
}

// B packer of the VNNI families: 4 consecutive k of a column side by side, shifted to uint8 (b + 128 = b ^ 0x80).
// Full groups of full panels are interleaved with byte/word unpacks; the last partial group and panel go through the
// portable packer.
inline void pack_b_c4_shifted(const int8_t* B, int64_t ldb, int64_t K, int64_t n0, int64_t nc, void* dst) {
  const int64_t kg = ceil_div(K, 4), kfull = K / 4, panels = nc / kNR;
  const int64_t pstride = int64_t(kNR) * kg * 4;
  uint8_t* d = static_cast<uint8_t*>(dst);
  const __m128i flip = _mm_set1_epi8(char(0x80));
  for (int64_t g = 0; g < kfull; g++) {
    const int8_t* r0 = B + 4 * g * ldb + n0;
    const int8_t* r1 = r0 + ldb;
    const int8_t* r2 = r1 + ldb;
    const int8_t* r3 = r2 + ldb;
    uint8_t* dg = d + g * 64;
    for (int64_t q = 0; q < panels; q++) {
      const int64_t c = q * kNR;
      const __m128i x0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r0 + c));
      const __m128i x1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r1 + c));
      const __m128i x2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r2 + c));
      const __m128i x3 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r3 + c));
      const __m128i t0 = _mm_unpacklo_epi8(x0, x1), t1 = _mm_unpackhi_epi8(x0, x1);
      const __m128i t2 = _mm_unpacklo_epi8(x2, x3), t3 = _mm_unpackhi_epi8(x2, x3);
      __m128i* o = reinterpret_cast<__m128i*>(dg + q * pstride);
      _mm_storeu_si128(o + 0, _mm_xor_si128(_mm_unpacklo_epi16(t0, t2), flip));
      _mm_storeu_si128(o + 1, _mm_xor_si128(_mm_unpackhi_epi16(t0, t2), flip));
      _mm_storeu_si128(o + 2, _mm_xor_si128(_mm_unpacklo_epi16(t1, t3), flip));
      _mm_storeu_si128(o + 3, _mm_xor_si128(_mm_unpackhi_epi16(t1, t3), flip));
    }
  }
  if (kfull < kg) pack_b_portable(Elem::kU8Shifted, 4, B, ldb, K, n0, nc, kfull, kg, 0, panels * kNR, dst);
  if (panels * kNR < nc) pack_b_portable(Elem::kU8Shifted, 4, B, ldb, K, n0, nc, 0, kg, panels * kNR, nc, dst);
}

}  // namespace
}  // namespace qgemm_internal
}  // namespace int8rt
