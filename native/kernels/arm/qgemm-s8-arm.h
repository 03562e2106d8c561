// The Arm int8 GEMM block driver and epilogue, shared by the NEON (smlal), dot-product (sdot) and i8mm (smmla)
// families (kernels/arm/qgemm-s8-*.cc). Only the tile's product loop differs between them: a family is a struct
// with
//   kMR, kGroupBytes                 tile height; bytes of one k group of one row of A or one column of B
//   compute<NV>(kg, a, b, acc)      the MR x 4*NV tile's raw int32 sums over all k groups, acc[r][v] = row r,
//                                   columns [4v, 4v + 4); NV = 4 for a 16-wide B panel, 2 for the 8-wide tail panel.
// Everything here has internal linkage: each family's file gets its own copy, compiled with its own -march, so the
// linker can never hand a dot-product copy to a CPU without it.
//
// compute is kept out of line (INT8RT_QGEMM_TILE_FN): inlined into the write-back, the writer's loop-invariant
// vectors (clamp bounds, multipliers) compete with the 24 accumulators for registers and g++ (12) spills inside the
// k loop; out of line, the loop holds only accumulators and operands, and the call costs one store and load of the
// tile per K.
//
// The epilogue follows kernels/qgemm.h operation for operation, as the scalar reference writes it
// (kernels/qgemm-internal.h): scvtf (round to nearest even, the default FPCR mode) for (float)acc, a plain fmul,
// fmla for the residual term (std::fma), the clamps as compare-and-select in the reference's exact operand order (so
// NaN and signed zeros come out the same, which fmax/fmaxnm would not guarantee), fcvtns (round half to even).
// The build passes -ffp-contract=off on aarch64, so no multiply and add here is fused unless written as fma.
#pragma once
#if defined(__aarch64__)
#include <arm_neon.h>

#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/qgemm-internal.h"

#define INT8RT_QGEMM_TILE_FN __attribute__((noinline))

namespace int8rt {
namespace qgemm_internal {
namespace {

inline int imin(int64_t a, int64_t b) { return int(a < b ? a : b); }

// f(std::integral_constant<int, I>) for I = 0 .. N-1: the lane arguments of the by-element intrinsics must be
// constant expressions, which a plain (even unrolled) loop index is not.
template <class F, int... I>
inline void static_for_impl(const F& f, std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>()), ...);
}
template <int N, class F>
inline void static_for(const F& f) {
  static_for_impl(f, std::make_integer_sequence<int, N>());
}

// The write-back of one output kind, RES: a residual is added. Built once per block; the tiles work on a copy whose
// address never escapes, so its fields stay in registers across the int8 stores.
template <OutKind KIND, bool RES>
struct Writer {
  void* c;
  int64_t ldc;
  const int32_t* offset;
  const float* multiplier;
  const int8_t* residual;
  int64_t ldr;
  float rmul, lo, hi;
  explicit Writer(const Output& o)
      : c(o.c), ldc(o.ldc), offset(o.offset), multiplier(o.multiplier), residual(o.residual), ldr(o.ldr),
        rmul(o.residual_multiplier), lo(o.lo), hi(o.hi) {}

  // Four values before the clamp: (float)x * mult, then the residual term with one fused rounding.
  inline float32x4_t dequant4(int32x4_t x, float32x4_t mult, int16x4_t res) const {
    float32x4_t f = vmulq_f32(vcvtq_f32_s32(x), mult);
    if (RES) f = vfmaq_f32(f, vcvtq_f32_s32(vmovl_s16(res)), vdupq_n_f32(rmul));
    return f;
  }
  // The clamps of epilogue_f32 (lo > v ? lo : v, then hi < c ? hi : c: NaN passes) and epilogue_s8
  // (lo < v ? v : lo, then hi < c ? hi : c: NaN becomes lo).
  inline float32x4_t clamp_f32(float32x4_t v) const {
    const float32x4_t l = vdupq_n_f32(lo), h = vdupq_n_f32(hi);
    const float32x4_t c = vbslq_f32(vcgtq_f32(l, v), l, v);
    return vbslq_f32(vcltq_f32(h, c), h, c);
  }
  inline int32x4_t clamp_round_s8(float32x4_t v) const {
    const float32x4_t l = vdupq_n_f32(lo), h = vdupq_n_f32(hi);
    const float32x4_t c = vbslq_f32(vcltq_f32(l, v), v, l);
    return vcvtnq_s32_f32(vbslq_f32(vcltq_f32(h, c), h, c));  // in [-128, 127]: the narrowings below are exact
  }

  // Row m, columns [n, n + cols) of C from acc[v] = raw accumulators of columns [n + 4v, n + 4v + 4).
  template <int NV>
  inline void row(const int32x4_t (&acc)[NV], int cols, int64_t m, int64_t n) const {
    constexpr int W = 4 * NV;
    int32x4_t x[NV];
    const int32x4_t off = vdupq_n_s32(offset ? offset[m] : 0);
    for (int v = 0; v < NV; v++) x[v] = vaddq_s32(acc[v], off);  // wrapping, like the reference's uint32 sum
    if (KIND == OutKind::kS32) {
      int32_t* out = static_cast<int32_t*>(c) + m * ldc + n;
      if (cols == W) {
        for (int v = 0; v < NV; v++) vst1q_s32(out + 4 * v, x[v]);
      } else {
        int32_t t[W];
        for (int v = 0; v < NV; v++) vst1q_s32(t + 4 * v, x[v]);
        std::memcpy(out, t, size_t(cols) * sizeof(int32_t));
      }
      return;
    }
    const float32x4_t mult = vdupq_n_f32(multiplier[m]);
    int16x4_t res[NV];
    if (RES) {
      const int8_t* r = residual + m * ldr + n;
      int8_t rtmp[16] = {0};
      if (cols < W) {  // never read past the residual's valid columns
        std::memcpy(rtmp, r, size_t(cols));
        r = rtmp;
      }
      for (int h = 0; h < NV / 2; h++) {
        const int16x8_t r16 = vmovl_s8(vld1_s8(r + 8 * h));
        res[2 * h] = vget_low_s16(r16);
        res[2 * h + 1] = vget_high_s16(r16);
      }
    } else {
      for (int v = 0; v < NV; v++) res[v] = vdup_n_s16(0);
    }
    if (KIND == OutKind::kF32) {
      float* out = static_cast<float*>(c) + m * ldc + n;
      float t[W];
      float* dst = cols == W ? out : t;
      for (int v = 0; v < NV; v++) vst1q_f32(dst + 4 * v, clamp_f32(dequant4(x[v], mult, res[v])));
      if (cols < W) std::memcpy(out, t, size_t(cols) * sizeof(float));
      return;
    }
    int8_t t[W];
    for (int h = 0; h < NV / 2; h++) {
      const int16x8_t q16 = vcombine_s16(vmovn_s32(clamp_round_s8(dequant4(x[2 * h], mult, res[2 * h]))),
                                         vmovn_s32(clamp_round_s8(dequant4(x[2 * h + 1], mult, res[2 * h + 1]))));
      vst1_s8(t + 8 * h, vmovn_s16(q16));
    }
    std::memcpy(static_cast<int8_t*>(c) + m * ldc + n, t, size_t(cols));
  }

  // Column n = 0 of rows [m, m + rows) (rows <= 8) from lane r of lo (r < 4) / hi (r >= 4) = raw accumulator of
  // row m + r: the N == 1 write-back, with the same vector operations as row().
  inline void column(int32x4_t acc_lo, int32x4_t acc_hi, int rows, int64_t m) const {
    int32_t off[8] = {0};
    float mul[8] = {0};
    int8_t res[8] = {0};
    for (int r = 0; r < rows; r++) {
      if (offset) off[r] = offset[m + r];
      if (KIND != OutKind::kS32) mul[r] = multiplier[m + r];
      if (RES) res[r] = residual[(m + r) * ldr];
    }
    const int32x4_t x[2] = {vaddq_s32(acc_lo, vld1q_s32(off)), vaddq_s32(acc_hi, vld1q_s32(off + 4))};
    if (KIND == OutKind::kS32) {
      int32_t t[8];
      vst1q_s32(t, x[0]);
      vst1q_s32(t + 4, x[1]);
      for (int r = 0; r < rows; r++) static_cast<int32_t*>(c)[(m + r) * ldc] = t[r];
      return;
    }
    const int16x8_t r16 = vmovl_s8(vld1_s8(res));
    const float32x4_t f0 = dequant4(x[0], vld1q_f32(mul), vget_low_s16(r16));
    const float32x4_t f1 = dequant4(x[1], vld1q_f32(mul + 4), vget_high_s16(r16));
    if (KIND == OutKind::kF32) {
      float t[8];
      vst1q_f32(t, clamp_f32(f0));
      vst1q_f32(t + 4, clamp_f32(f1));
      for (int r = 0; r < rows; r++) static_cast<float*>(c)[(m + r) * ldc] = t[r];
      return;
    }
    int32_t t[8];
    vst1q_s32(t, clamp_round_s8(f0));
    vst1q_s32(t + 4, clamp_round_s8(f1));
    for (int r = 0; r < rows; r++) static_cast<int8_t*>(c)[(m + r) * ldc] = int8_t(t[r]);
  }
};

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

// One MR x 4*NV tile over all k groups; `rows` x `cols` of it are inside C, at (m, n).
template <class Fam, int NV, class Wr>
inline void tile(int64_t kg, const uint8_t* a, const uint8_t* b, int rows, int cols, int64_t m, int64_t n,
                 const Wr& wr) {
  int32x4_t acc[Fam::kMR][NV];
  Fam::template compute<NV>(kg, a, b, acc);
  if (rows == Fam::kMR) {  // fully unrolled: the accumulators stay in registers
    static_for<Fam::kMR>([&](auto r) { wr.template row<NV>(acc[r], cols, m + r, n); });
  } else {
    for (int r = 0; r < rows; r++) wr.template row<NV>(acc[r], cols, m + r, n);
  }
}

// B panel outer: it stays in L1 while the block's A panels stream from L2.
template <class Fam, class Wr>
void block_with(const Block& blk, const Wr& writer) {
  const Wr wr = writer;
  const int64_t kg = blk.kg;
  const uint8_t* a = static_cast<const uint8_t*>(blk.a);
  const uint8_t* b = static_cast<const uint8_t*>(blk.b);
  const int64_t a_panel = int64_t(Fam::kMR) * kg * Fam::kGroupBytes;
  const int64_t b_panel = int64_t(kNR) * kg * Fam::kGroupBytes;
  for (int64_t j = 0, q = 0; j < blk.nc; j += kNR, q++) {
    const uint8_t* bp = b + q * b_panel;
    const int cols = imin(kNR, blk.nc - j);
    const bool wide = panel_width(blk.nc, q) == kNR;
    for (int64_t i = 0; i < blk.mc; i += Fam::kMR) {
      const uint8_t* ap = a + (i / Fam::kMR) * a_panel;
      const int rows = imin(Fam::kMR, blk.mc - i);
      if (wide) tile<Fam, 4>(kg, ap, bp, rows, cols, blk.m0 + i, blk.n0 + j, wr);
      else tile<Fam, 2>(kg, ap, bp, rows, cols, blk.m0 + i, blk.n0 + j, wr);
    }
  }
}

// N == 1: per row panel, Fam::column(kg, a, b, &lo, &hi) gives the panel's raw sums, lane r = row r.
template <class Fam, class Wr>
void gemv_with(const Block& blk, const Wr& writer) {
  const Wr wr = writer;
  const int64_t a_panel = int64_t(Fam::kMR) * blk.kg * Fam::kGroupBytes;
  for (int64_t i = 0; i < blk.mc; i += Fam::kMR) {
    int32x4_t lo, hi;
    Fam::column(blk.kg, static_cast<const uint8_t*>(blk.a) + (i / Fam::kMR) * a_panel,
                static_cast<const uint8_t*>(blk.b), &lo, &hi);
    wr.column(lo, hi, imin(Fam::kMR, blk.mc - i), blk.m0 + i);
  }
}

// The block and matrix-vector contracts of kernels/qgemm-internal.h.
template <class Fam>
void block(const Block& blk) {
  with_writer(*blk.out, [&](const auto& wr) { block_with<Fam>(blk, wr); });
}
template <class Fam>
void gemv(const Block& blk) {
  with_writer(*blk.out, [&](const auto& wr) { gemv_with<Fam>(blk, wr); });
}

}  // namespace
}  // namespace qgemm_internal
}  // namespace int8rt
#endif  // __aarch64__
