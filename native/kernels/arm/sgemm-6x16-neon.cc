// NEON kernels of the SGEMM engine (any aarch64 CPU): the 6x16 microkernel with the epilogue fused into its
// write-back, the matrix-vector primitives and the half-precision widening. Same packed layouts and block contract
// as the AVX2 kernels (kernels/sgemm-internal.h).
//
// Microkernel: 24 accumulators (6 rows x four 4-float vectors), four B vectors and the six A values of one k in two
// vectors (rows 0-3, rows 4-5): 30 of the 32 registers. Per k: 24 fmla by element (96 MACs), one 64-byte B load and a
// 16 + 8-byte A load. Tiles narrower than 16 columns run only the vectors they need.
#if defined(__aarch64__)
#include <arm_neon.h>

#include <cstdint>
#include <utility>

#include "kernels/sgemm-internal.h"

namespace int8rt {
namespace sgemm_internal {
namespace {

// f(std::integral_constant<int, I>) for I = 0 .. N-1 (lane arguments must be constant expressions).
template <class F, int... I>
inline void static_for_impl(const F& f, std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>()), ...);
}
template <int N, class F>
inline void static_for(const F& f) {
  static_for_impl(f, std::make_integer_sequence<int, N>());
}

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline float clamp1(float x, float lo, float hi) {
  const float c = x < lo ? lo : x;  // std::min(std::max(x, lo), hi) of the portable kernels
  return hi < c ? hi : c;
}

// Combines accumulator `x` (row r, columns [j0, j0 + 4) of the tile) with C following `wb`; `valid` of the four
// columns are inside C. The same operations in the same order as the AVX2 write-back (beta * C fused).
inline void write_vec(float32x4_t x, float* c, int64_t r, int64_t j0, int valid, int64_t row, int64_t col,
                      const WriteBack& wb) {
  if (valid >= 4) {
    if (wb.first) {
      if (wb.beta != 0.f) x = vfmaq_n_f32(x, vld1q_f32(c), wb.beta);
      if (wb.bias_row) x = vaddq_f32(x, vdupq_n_f32(wb.bias_row[row + r]));
      if (wb.bias_col) x = vaddq_f32(x, vld1q_f32(wb.bias_col + col + j0));
      if (wb.residual) x = vaddq_f32(x, vld1q_f32(wb.residual + (row + r) * wb.ldr + col + j0));
    } else {
      x = vaddq_f32(x, vld1q_f32(c));
    }
    // fmax/fmin return NaN when either operand is NaN, so a NaN sum stays NaN as in the other kernels.
    if (wb.last && wb.clamp) x = vminq_f32(vdupq_n_f32(wb.hi), vmaxq_f32(vdupq_n_f32(wb.lo), x));
    vst1q_f32(c, x);
    return;
  }
  float t[4];
  vst1q_f32(t, x);
  for (int j = 0; j < valid; j++) {
    float v = t[j];
    if (wb.first) {
      if (wb.beta != 0.f) v += wb.beta * c[j];
      if (wb.bias_row) v += wb.bias_row[row + r];
      if (wb.bias_col) v += wb.bias_col[col + j0 + j];
      if (wb.residual) v += wb.residual[(row + r) * wb.ldr + col + j0 + j];
    } else {
      v += c[j];
    }
    if (wb.last && wb.clamp) v = clamp1(v, wb.lo, wb.hi);
    c[j] = v;
  }
}

// The product of one 6 x 4*VECS tile over kc: a points at an MR-row panel, b at an NR-column panel (its first 4*VECS
// columns are read). Out of line, so that the k loop keeps the accumulators in registers: inlined into the
// write-back, whose row loop indexes them at run time, g++ (12) stores every accumulator to the stack each k.
template <int VECS>
__attribute__((noinline)) void tile_product(int64_t kc, const float* a, const float* b,
                                            float32x4_t (&acc)[kMR][VECS]) {
  float32x4_t c[kMR][VECS];  // local: sums the loads could alias would be stored every k
#pragma GCC unroll 6
  for (int r = 0; r < kMR; r++)
#pragma GCC unroll 4
    for (int v = 0; v < VECS; v++) c[r][v] = vdupq_n_f32(0.f);
  for (int64_t k = 0; k < kc; k++) {
    const float* bk = b + k * kNR;
    const float* ak = a + k * kMR;
    float32x4_t bv[VECS];
#pragma GCC unroll 4
    for (int v = 0; v < VECS; v++) bv[v] = vld1q_f32(bk + 4 * v);
    const float32x4_t a03 = vld1q_f32(ak);
    const float32x2_t a45 = vld1_f32(ak + 4);
    static_for<4>([&](auto r) {
#pragma GCC unroll 4
      for (int v = 0; v < VECS; v++) c[r][v] = vfmaq_laneq_f32(c[r][v], bv[v], a03, r);
    });
    static_for<2>([&](auto r) {
#pragma GCC unroll 4
      for (int v = 0; v < VECS; v++) c[4 + r][v] = vfmaq_lane_f32(c[4 + r][v], bv[v], a45, r);
    });
  }
#pragma GCC unroll 6
  for (int r = 0; r < kMR; r++)
#pragma GCC unroll 4
    for (int v = 0; v < VECS; v++) acc[r][v] = c[r][v];
}

// One tile with its write-back (rows past `rows` are computed on the panel's zero padding and not written): c points
// at the tile's (0,0), which is (row, col) of the block; `cols` columns are valid.
template <int VECS>
inline void tile(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int rows, int cols, int64_t row,
                 int64_t col, const WriteBack& wb) {
  float32x4_t acc[kMR][VECS];
  tile_product<VECS>(kc, a, b, acc);
  for (int r = 0; r < rows; r++)
    for (int v = 0; v < VECS; v++) write_vec(acc[r][v], c + r * ldc + 4 * v, r, 4 * v, cols - 4 * v, row, col, wb);
}

void block_neon(const Block& blk) {
  const int64_t kc = blk.kc;
  // B micro-panel outer (it stays in L1 while the A panels of the block stream from L2).
  for (int64_t j = 0; j < blk.nc; j += kNR) {
    const float* bp = blk.b + (j / kNR) * kNR * kc;
    const int cols = int(min64(kNR, blk.nc - j));
    for (int64_t i = 0; i < blk.mc; i += kMR) {
      const float* ap = blk.a + (i / kMR) * kMR * kc;
      const int rows = int(min64(kMR, blk.mc - i));
      float* c = blk.c + i * blk.ldc + j;
      switch ((cols + 3) / 4) {
        case 4: tile<4>(kc, ap, bp, c, blk.ldc, rows, cols, i, j, blk.wb); break;
        case 3: tile<3>(kc, ap, bp, c, blk.ldc, rows, cols, i, j, blk.wb); break;
        case 2: tile<2>(kc, ap, bp, c, blk.ldc, rows, cols, i, j, blk.wb); break;
        default: tile<1>(kc, ap, bp, c, blk.ldc, rows, cols, i, j, blk.wb); break;
      }
    }
  }
}

inline float hsum(float32x4_t x) { return vaddvq_f32(x); }

void gemv_rows_neon(int64_t K, int64_t N, const float* v, const float* X, int64_t ldx, float* y) {
  int64_t n = 0;
  // 32 columns at a time: eight independent accumulators, each row of X read as 128 contiguous bytes.
  for (; n + 32 <= N; n += 32) {
    float32x4_t acc[8];
    for (int u = 0; u < 8; u++) acc[u] = vdupq_n_f32(0.f);
    const float* x = X + n;
    for (int64_t k = 0; k < K; k++, x += ldx) {
      const float vk = v[k];
      for (int u = 0; u < 8; u++) acc[u] = vfmaq_n_f32(acc[u], vld1q_f32(x + 4 * u), vk);
    }
    for (int u = 0; u < 8; u++) vst1q_f32(y + n + 4 * u, acc[u]);
  }
  for (; n + 4 <= N; n += 4) {
    float32x4_t acc0 = vdupq_n_f32(0.f), acc1 = acc0;
    const float* x = X + n;
    int64_t k = 0;
    for (; k + 2 <= K; k += 2, x += 2 * ldx) {
      acc0 = vfmaq_n_f32(acc0, vld1q_f32(x), v[k]);
      acc1 = vfmaq_n_f32(acc1, vld1q_f32(x + ldx), v[k + 1]);
    }
    if (k < K) acc0 = vfmaq_n_f32(acc0, vld1q_f32(x), v[k]);
    vst1q_f32(y + n, vaddq_f32(acc0, acc1));
  }
  for (; n < N; n++) {
    float s = 0.f;
    for (int64_t k = 0; k < K; k++) s = __builtin_fmaf(v[k], X[k * ldx + n], s);
    y[n] = s;
  }
}

void gemv_dots_neon(int64_t M, int64_t K, const float* X, int64_t ldx, const float* v, float* y) {
  int64_t m = 0;
  // Four rows at a time, two accumulators each (eight independent FMA chains); v is loaded once for four rows.
  for (; m + 4 <= M; m += 4) {
    const float* x0 = X + m * ldx;
    const float* x1 = x0 + ldx;
    const float* x2 = x1 + ldx;
    const float* x3 = x2 + ldx;
    float32x4_t a0 = vdupq_n_f32(0.f), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
      const float32x4_t v0 = vld1q_f32(v + k), v1 = vld1q_f32(v + k + 4);
      a0 = vfmaq_f32(a0, vld1q_f32(x0 + k), v0);
      a1 = vfmaq_f32(a1, vld1q_f32(x1 + k), v0);
      a2 = vfmaq_f32(a2, vld1q_f32(x2 + k), v0);
      a3 = vfmaq_f32(a3, vld1q_f32(x3 + k), v0);
      b0 = vfmaq_f32(b0, vld1q_f32(x0 + k + 4), v1);
      b1 = vfmaq_f32(b1, vld1q_f32(x1 + k + 4), v1);
      b2 = vfmaq_f32(b2, vld1q_f32(x2 + k + 4), v1);
      b3 = vfmaq_f32(b3, vld1q_f32(x3 + k + 4), v1);
    }
    float s0 = hsum(vaddq_f32(a0, b0)), s1 = hsum(vaddq_f32(a1, b1));
    float s2 = hsum(vaddq_f32(a2, b2)), s3 = hsum(vaddq_f32(a3, b3));
    for (; k < K; k++) {
      s0 = __builtin_fmaf(x0[k], v[k], s0);
      s1 = __builtin_fmaf(x1[k], v[k], s1);
      s2 = __builtin_fmaf(x2[k], v[k], s2);
      s3 = __builtin_fmaf(x3[k], v[k], s3);
    }
    y[m] = s0;
    y[m + 1] = s1;
    y[m + 2] = s2;
    y[m + 3] = s3;
  }
  for (; m < M; m++) {
    const float* x = X + m * ldx;
    float32x4_t a0 = vdupq_n_f32(0.f), a1 = a0;
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
      a0 = vfmaq_f32(a0, vld1q_f32(x + k), vld1q_f32(v + k));
      a1 = vfmaq_f32(a1, vld1q_f32(x + k + 4), vld1q_f32(v + k + 4));
    }
    float s = hsum(vaddq_f32(a0, a1));
    for (; k < K; k++) s = __builtin_fmaf(x[k], v[k], s);
    y[m] = s;
  }
}

// Packed A times a vector: the six rows of one k are a 4 + 2 float pair of vectors; two k at a time into two
// accumulator sets.
void gemv_panels_neon(int64_t m0, int64_t m1, int64_t K, int64_t kc, int64_t Mp, const float* A, const float* v,
                      float* y) {
  for (int64_t p = m0; p < m1; p += kMR) {
    float32x4_t lo0 = vdupq_n_f32(0.f), lo1 = lo0;
    float32x2_t hi0 = vdup_n_f32(0.f), hi1 = hi0;
    for (int64_t pc = 0; pc < K; pc += kc) {
      const int64_t kcb = min64(kc, K - pc);
      const float* ap = A + pc * Mp + p * kcb;  // panel p/MR of this block: (p/MR)*MR*kcb
      const float* vb = v + pc;
      int64_t k = 0;
      for (; k + 2 <= kcb; k += 2) {
        const float* ak = ap + k * kMR;
        lo0 = vfmaq_n_f32(lo0, vld1q_f32(ak), vb[k]);
        hi0 = vfma_n_f32(hi0, vld1_f32(ak + 4), vb[k]);
        lo1 = vfmaq_n_f32(lo1, vld1q_f32(ak + kMR), vb[k + 1]);
        hi1 = vfma_n_f32(hi1, vld1_f32(ak + kMR + 4), vb[k + 1]);
      }
      if (k < kcb) {
        const float* ak = ap + k * kMR;
        lo0 = vfmaq_n_f32(lo0, vld1q_f32(ak), vb[k]);
        hi0 = vfma_n_f32(hi0, vld1_f32(ak + 4), vb[k]);
      }
    }
    float acc[kMR];
    vst1q_f32(acc, vaddq_f32(lo0, lo1));
    vst1_f32(acc + 4, vadd_f32(hi0, hi1));
    const int64_t rows = min64(kMR, m1 - p);
    for (int64_t r = 0; r < rows; r++) y[p - m0 + r] = acc[r];
  }
}

}  // namespace

// Half-precision packings: fcvtl widens four halves at a time (exact; part of the base aarch64 ISA).
void widen_half_neon(const uint16_t* src, int64_t n, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(src + i));
    vst1q_f32(dst + i, vcvt_f32_f16(vget_low_f16(h)));
    vst1q_f32(dst + i + 4, vcvt_high_f32_f16(h));
  }
  for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(src + i))));
  widen_half_portable(src + i, n - i, dst + i);
}

const Kernels& neon_kernels() {
  static const Kernels k = {&block_neon,     &pack_a_portable, &pack_b_portable,  &gemv_rows_neon,
                            &gemv_dots_neon, &gemv_panels_neon, "neon_6x16"};
  return k;
}

}  // namespace sgemm_internal
}  // namespace int8rt
#endif  // __aarch64__
