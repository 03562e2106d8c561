// AVX2+FMA kernels of the SGEMM engine: the 6x16 microkernel (12 ymm accumulators, two B vectors, one broadcast A
// element: 15 of the 16 ymm registers) with the epilogue fused into its write-back, and the matrix-vector
// primitives. Packed layouts and the block contract are described in kernels/sgemm-internal.h.
#include <immintrin.h>

#include <algorithm>

#include "kernels/sgemm-internal.h"

namespace int8rt {
namespace sgemm_internal {
namespace {

// Independent accumulator sets for a tile shape: the FMA latency (4 cycles on the cores we target) times two FMA
// pipes needs about 8 independent accumulators; small edge tiles (few rows, one vector) interleave S sets over
// consecutive k and add them at the end.
constexpr int sets_for(int rows, int vecs) {
  return rows * vecs >= 8 ? 1 : (8 + rows * vecs - 1) / (rows * vecs) > 4 ? 4 : (8 + rows * vecs - 1) / (rows * vecs);
}

inline __m256 clamp8(__m256 x, __m256 lo, __m256 hi) {
  // Operand order keeps NaN: max_ps/min_ps return the second operand when either is NaN.
  return _mm256_min_ps(hi, _mm256_max_ps(lo, x));
}

inline float clamp1(float x, float lo, float hi) { return std::min(std::max(x, lo), hi); }

// Combines accumulator `x` (row r, columns [j0, j0 + 8) of the tile) with C following `wb`; `valid` columns of the
// eight are inside C.
inline void write_vec(__m256 x, float* c, int64_t r, int64_t j0, int valid, int64_t row, int64_t col,
                      const WriteBack& wb) {
  if (valid >= 8) {
    if (wb.first) {
      if (wb.beta != 0.f) x = _mm256_fmadd_ps(_mm256_set1_ps(wb.beta), _mm256_loadu_ps(c), x);
      if (wb.bias_row) x = _mm256_add_ps(x, _mm256_broadcast_ss(wb.bias_row + row + r));
      if (wb.bias_col) x = _mm256_add_ps(x, _mm256_loadu_ps(wb.bias_col + col + j0));
      if (wb.residual) x = _mm256_add_ps(x, _mm256_loadu_ps(wb.residual + (row + r) * wb.ldr + col + j0));
    } else {
      x = _mm256_add_ps(x, _mm256_loadu_ps(c));
    }
    if (wb.last && wb.clamp) x = clamp8(x, _mm256_set1_ps(wb.lo), _mm256_set1_ps(wb.hi));
    _mm256_storeu_ps(c, x);
    return;
  }
  alignas(32) float t[8];
  _mm256_store_ps(t, x);
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

// One ROWS x (8*VECS) tile over kc: a points at an MR-row panel, b at an NR-column panel (only the first 8*VECS
// columns are read), c at the tile's (0,0) which is (row, col) of the block. cols = valid columns (<= 8*VECS).
template <int ROWS, int VECS>
inline void tile(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int cols, int64_t row,
                 int64_t col, const WriteBack& wb) {
  constexpr int S = sets_for(ROWS, VECS);
  __m256 acc[S][ROWS][VECS];
#pragma GCC unroll 4
  for (int s = 0; s < S; s++)
#pragma GCC unroll 6
    for (int r = 0; r < ROWS; r++)
#pragma GCC unroll 2
      for (int v = 0; v < VECS; v++) acc[s][r][v] = _mm256_setzero_ps();

  int64_t k = 0;
  for (; k + S <= kc; k += S) {
#pragma GCC unroll 4
    for (int s = 0; s < S; s++) {
      const float* ak = a + (k + s) * kMR;
      const float* bk = b + (k + s) * kNR;
      __m256 b0 = _mm256_loadu_ps(bk);
      __m256 b1 = VECS > 1 ? _mm256_loadu_ps(bk + 8) : b0;
#pragma GCC unroll 6
      for (int r = 0; r < ROWS; r++) {
        __m256 av = _mm256_broadcast_ss(ak + r);
        acc[s][r][0] = _mm256_fmadd_ps(av, b0, acc[s][r][0]);
        if constexpr (VECS > 1) acc[s][r][VECS - 1] = _mm256_fmadd_ps(av, b1, acc[s][r][VECS - 1]);
      }
    }
  }
  for (; k < kc; k++) {
    const float* ak = a + k * kMR;
    const float* bk = b + k * kNR;
    __m256 b0 = _mm256_loadu_ps(bk);
    __m256 b1 = VECS > 1 ? _mm256_loadu_ps(bk + 8) : b0;
#pragma GCC unroll 6
    for (int r = 0; r < ROWS; r++) {
      __m256 av = _mm256_broadcast_ss(ak + r);
      acc[0][r][0] = _mm256_fmadd_ps(av, b0, acc[0][r][0]);
      if constexpr (VECS > 1) acc[0][r][VECS - 1] = _mm256_fmadd_ps(av, b1, acc[0][r][VECS - 1]);
    }
  }
#pragma GCC unroll 4
  for (int s = 1; s < S; s++)
#pragma GCC unroll 6
    for (int r = 0; r < ROWS; r++)
#pragma GCC unroll 2
      for (int v = 0; v < VECS; v++) acc[0][r][v] = _mm256_add_ps(acc[0][r][v], acc[s][r][v]);

#pragma GCC unroll 6
  for (int r = 0; r < ROWS; r++) {
#pragma GCC unroll 2
    for (int v = 0; v < VECS; v++) write_vec(acc[0][r][v], c + r * ldc + v * 8, r, v * 8, cols - v * 8, row, col, wb);
  }
}

template <int VECS>
inline void tile_rows(int rows, int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int cols,
                      int64_t row, int64_t col, const WriteBack& wb) {
  switch (rows) {
    case 6: tile<6, VECS>(kc, a, b, c, ldc, cols, row, col, wb); break;
    case 5: tile<5, VECS>(kc, a, b, c, ldc, cols, row, col, wb); break;
    case 4: tile<4, VECS>(kc, a, b, c, ldc, cols, row, col, wb); break;
    case 3: tile<3, VECS>(kc, a, b, c, ldc, cols, row, col, wb); break;
    case 2: tile<2, VECS>(kc, a, b, c, ldc, cols, row, col, wb); break;
    default: tile<1, VECS>(kc, a, b, c, ldc, cols, row, col, wb); break;
  }
}

void block_avx2(const Block& blk) {
  const int64_t kc = blk.kc;
  // B micro-panel outer (it stays in L1 while the A panels of the block stream from L2).
  for (int64_t j = 0; j < blk.nc; j += kNR) {
    const float* bp = blk.b + (j / kNR) * kNR * kc;
    int cols = int(std::min<int64_t>(kNR, blk.nc - j));
    for (int64_t i = 0; i < blk.mc; i += kMR) {
      const float* ap = blk.a + (i / kMR) * kMR * kc;
      int rows = int(std::min<int64_t>(kMR, blk.mc - i));
      float* c = blk.c + i * blk.ldc + j;
      if (cols > 8) {
        if (rows == kMR) tile<kMR, 2>(kc, ap, bp, c, blk.ldc, cols, i, j, blk.wb);
        else tile_rows<2>(rows, kc, ap, bp, c, blk.ldc, cols, i, j, blk.wb);
      } else {
        tile_rows<1>(rows, kc, ap, bp, c, blk.ldc, cols, i, j, blk.wb);
      }
    }
  }
}

// r[i][j] <-> r[j][i] for an 8x8 block held in eight registers.
inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// Row-major A (the per-call case of Gemm/MatMul activations): 6 rows x 8 k are loaded, transposed in registers and
// stored as eight 6-float columns. Each 8-float store also writes two lanes into the next column's slots, which
// the next store overwrites; the panel's last column is stored as 4 + 2 floats so nothing past it is written.
void pack_a_avx2(const float* A, int64_t lda, bool trans, float alpha, int64_t m0, int64_t mc, int64_t pc,
                 int64_t kcb, float* dst) {
  if (trans) {  // already contiguous runs of 6: the portable loop is as good
    pack_a_portable(A, lda, trans, alpha, m0, mc, pc, kcb, dst);
    return;
  }
  const __m256 va = _mm256_set1_ps(alpha);
  for (int64_t i = 0; i < mc; i += kMR) {
    const int rows = int(std::min<int64_t>(kMR, mc - i));
    float* d = dst + i * kcb;
    const float* src[kMR];
    for (int r = 0; r < kMR; r++) src[r] = A + (m0 + i + std::min(r, rows - 1)) * lda + pc;
    int64_t k = 0;
    for (; k + 8 <= kcb; k += 8) {
      __m256 t[8];
      for (int r = 0; r < 8; r++)
        t[r] = r < rows ? _mm256_mul_ps(_mm256_loadu_ps(src[r] + k), va) : _mm256_setzero_ps();
      transpose8(t);
      for (int j = 0; j < 8; j++) {
        float* out = d + (k + j) * kMR;
        if (k + j + 1 < kcb) {
          _mm256_storeu_ps(out, t[j]);
        } else {
          _mm_storeu_ps(out, _mm256_castps256_ps128(t[j]));
          _mm_storel_pi(reinterpret_cast<__m64*>(out + 4), _mm256_extractf128_ps(t[j], 1));
        }
      }
    }
    for (; k < kcb; k++)
      for (int r = 0; r < kMR; r++) d[k * kMR + r] = r < rows ? alpha * src[r][k] : 0.f;
  }
}

// Transposed B (N x K storage): 8 rows x 8 k transposed in registers, two per 16-column panel.
void pack_b_avx2(const float* B, int64_t ldb, bool trans, int64_t n0, int64_t nc, int64_t pc, int64_t kcb,
                 float* dst) {
  if (!trans) {  // row copies: the portable memcpy loop is as good
    pack_b_portable(B, ldb, trans, n0, nc, pc, kcb, dst);
    return;
  }
  for (int64_t j0 = 0; j0 < nc; j0 += kNR) {
    float* d = dst + j0 * kcb;
    if (nc - j0 < kNR) {
      pack_b_portable(B, ldb, trans, n0 + j0, nc - j0, pc, kcb, d);
      continue;
    }
    const float* s = B + (n0 + j0) * ldb + pc;
    int64_t k = 0;
    for (; k + 8 <= kcb; k += 8)
      for (int h = 0; h < 2; h++) {
        __m256 t[8];
        for (int r = 0; r < 8; r++) t[r] = _mm256_loadu_ps(s + (8 * h + r) * ldb + k);
        transpose8(t);
        for (int j = 0; j < 8; j++) _mm256_storeu_ps(d + (k + j) * kNR + 8 * h, t[j]);
      }
    for (; k < kcb; k++)
      for (int j = 0; j < kNR; j++) d[k * kNR + j] = s[j * ldb + k];
  }
}

inline float hsum8(__m256 x) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

void gemv_rows_avx2(int64_t K, int64_t N, const float* v, const float* X, int64_t ldx, float* y) {
  int64_t n = 0;
  // 64 columns at a time: eight independent accumulators, each row of X read as 256 contiguous bytes.
  for (; n + 64 <= N; n += 64) {
    __m256 acc[8];
    for (int u = 0; u < 8; u++) acc[u] = _mm256_setzero_ps();
    const float* x = X + n;
    for (int64_t k = 0; k < K; k++, x += ldx) {
      __m256 vk = _mm256_broadcast_ss(v + k);
#pragma GCC unroll 8
      for (int u = 0; u < 8; u++) acc[u] = _mm256_fmadd_ps(vk, _mm256_loadu_ps(x + 8 * u), acc[u]);
    }
    for (int u = 0; u < 8; u++) _mm256_storeu_ps(y + n + 8 * u, acc[u]);
  }
  for (; n + 8 <= N; n += 8) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    const float* x = X + n;
    int64_t k = 0;
    for (; k + 2 <= K; k += 2, x += 2 * ldx) {
      acc0 = _mm256_fmadd_ps(_mm256_broadcast_ss(v + k), _mm256_loadu_ps(x), acc0);
      acc1 = _mm256_fmadd_ps(_mm256_broadcast_ss(v + k + 1), _mm256_loadu_ps(x + ldx), acc1);
    }
    if (k < K) acc0 = _mm256_fmadd_ps(_mm256_broadcast_ss(v + k), _mm256_loadu_ps(x), acc0);
    _mm256_storeu_ps(y + n, _mm256_add_ps(acc0, acc1));
  }
  for (; n < N; n++) {
    float s = 0.f;
    for (int64_t k = 0; k < K; k++) s += v[k] * X[k * ldx + n];
    y[n] = s;
  }
}

void gemv_dots_avx2(int64_t M, int64_t K, const float* X, int64_t ldx, const float* v, float* y) {
  int64_t m = 0;
  // Four rows at a time, two accumulators each (eight independent FMA chains); v is loaded once for four rows.
  for (; m + 4 <= M; m += 4) {
    const float* x0 = X + m * ldx;
    const float* x1 = x0 + ldx;
    const float* x2 = x1 + ldx;
    const float* x3 = x2 + ldx;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
      __m256 v0 = _mm256_loadu_ps(v + k), v1 = _mm256_loadu_ps(v + k + 8);
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + k), v0, a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x1 + k), v0, a1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x2 + k), v0, a2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x3 + k), v0, a3);
      b0 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + k + 8), v1, b0);
      b1 = _mm256_fmadd_ps(_mm256_loadu_ps(x1 + k + 8), v1, b1);
      b2 = _mm256_fmadd_ps(_mm256_loadu_ps(x2 + k + 8), v1, b2);
      b3 = _mm256_fmadd_ps(_mm256_loadu_ps(x3 + k + 8), v1, b3);
    }
    for (; k + 8 <= K; k += 8) {
      __m256 v0 = _mm256_loadu_ps(v + k);
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + k), v0, a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x1 + k), v0, a1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x2 + k), v0, a2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x3 + k), v0, a3);
    }
    float s0 = hsum8(_mm256_add_ps(a0, b0)), s1 = hsum8(_mm256_add_ps(a1, b1));
    float s2 = hsum8(_mm256_add_ps(a2, b2)), s3 = hsum8(_mm256_add_ps(a3, b3));
    for (; k < K; k++) {
      s0 += x0[k] * v[k];
      s1 += x1[k] * v[k];
      s2 += x2[k] * v[k];
      s3 += x3[k] * v[k];
    }
    y[m] = s0;
    y[m + 1] = s1;
    y[m + 2] = s2;
    y[m + 3] = s3;
  }
  for (; m < M; m++) {
    const float* x = X + m * ldx;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(v + k), a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), _mm256_loadu_ps(v + k + 8), a1);
    }
    for (; k + 8 <= K; k += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(v + k), a0);
    float s = hsum8(_mm256_add_ps(a0, a1));
    for (; k < K; k++) s += x[k] * v[k];
    y[m] = s;
  }
}

// Packed A times a vector. Four consecutive k of one panel are 24 contiguous floats = three vectors whose lanes are
// rows (0..5,0,1), (2..5,0..3), (4,5,0..5) of k, k+1, k+2, k+3; v is spread to match and the lanes are folded back
// onto the six rows at the end.
void gemv_panels_avx2(int64_t m0, int64_t m1, int64_t K, int64_t kc, int64_t Mp, const float* A, const float* v,
                      float* y) {
  const __m256i i0 = _mm256_setr_epi32(0, 0, 0, 0, 0, 0, 1, 1);
  const __m256i i1 = _mm256_setr_epi32(1, 1, 1, 1, 2, 2, 2, 2);
  const __m256i i2 = _mm256_setr_epi32(2, 2, 3, 3, 3, 3, 3, 3);
  for (int64_t p = m0; p < m1; p += kMR) {
    float acc[kMR] = {0, 0, 0, 0, 0, 0};
    for (int64_t pc = 0; pc < K; pc += kc) {
      const int64_t kcb = std::min(kc, K - pc);
      const float* ap = A + pc * Mp + p * kcb;  // panel p/MR of this block: (p/MR)*MR*kcb
      const float* vb = v + pc;
      __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0;
      int64_t k = 0;
      for (; k + 4 <= kcb; k += 4) {
        __m256 vk = _mm256_castps128_ps256(_mm_loadu_ps(vb + k));
        const float* ak = ap + k * kMR;
        c0 = _mm256_fmadd_ps(_mm256_loadu_ps(ak), _mm256_permutevar8x32_ps(vk, i0), c0);
        c1 = _mm256_fmadd_ps(_mm256_loadu_ps(ak + 8), _mm256_permutevar8x32_ps(vk, i1), c1);
        c2 = _mm256_fmadd_ps(_mm256_loadu_ps(ak + 16), _mm256_permutevar8x32_ps(vk, i2), c2);
      }
      alignas(32) float t0[8], t1[8], t2[8];
      _mm256_store_ps(t0, c0);
      _mm256_store_ps(t1, c1);
      _mm256_store_ps(t2, c2);
      acc[0] += t0[0] + t0[6] + t1[4] + t2[2];
      acc[1] += t0[1] + t0[7] + t1[5] + t2[3];
      acc[2] += t0[2] + t1[0] + t1[6] + t2[4];
      acc[3] += t0[3] + t1[1] + t1[7] + t2[5];
      acc[4] += t0[4] + t1[2] + t2[0] + t2[6];
      acc[5] += t0[5] + t1[3] + t2[1] + t2[7];
      for (; k < kcb; k++)
        for (int r = 0; r < kMR; r++) acc[r] += ap[k * kMR + r] * vb[k];
    }
    const int64_t rows = std::min<int64_t>(kMR, m1 - p);
    for (int64_t r = 0; r < rows; r++) y[p - m0 + r] = acc[r];
  }
}

}  // namespace

// Half-precision packings: 8 halves per vcvtph2ps (exact), the tail one at a time.
void widen_half_f16c(const uint16_t* src, int64_t n, float* dst) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
    _mm256_storeu_ps(dst + i + 8, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 8))));
  }
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (; i < n; i++) dst[i] = _cvtsh_ss(src[i]);
}

const Kernels& avx2_kernels() {
  static const Kernels k = {&block_avx2, &pack_a_avx2, &pack_b_avx2, &gemv_rows_avx2, &gemv_dots_avx2, &gemv_panels_avx2, "avx2_6x16"};
  return k;
}

}  // namespace sgemm_internal
}  // namespace int8rt
