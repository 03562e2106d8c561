// Portable kernels of the SGEMM engine, used when the CPU lacks AVX2+FMA (or INT8RT_ISA=scalar). Same packed
// layouts and block contract as the AVX2 kernels (kernels/sgemm-internal.h); plain loops that the compiler can
// vectorise with whatever the baseline ISA offers (SSE2 on x86-64, NEON on aarch64).
#include <algorithm>
#include <cstring>

#include "kernels/sgemm-internal.h"

namespace int8rt {
namespace sgemm_internal {
namespace {

void block_scalar(const Block& blk) {
  const int64_t kc = blk.kc;
  const WriteBack& wb = blk.wb;
  constexpr int kHalf = kNR / 2;
  for (int64_t j0 = 0; j0 < blk.nc; j0 += kNR) {
    const float* bp = blk.b + (j0 / kNR) * kNR * kc;
    for (int64_t i0 = 0; i0 < blk.mc; i0 += kMR) {
      const float* ap = blk.a + (i0 / kMR) * kMR * kc;
      const int rows = int(std::min<int64_t>(kMR, blk.mc - i0));
      // The tile in two 6x8 halves: 48 accumulators fit the 16 registers of a 128-bit SIMD baseline.
      for (int h = 0; h < kNR && j0 + h < blk.nc; h += kHalf) {
        const int cols = int(std::min<int64_t>(kHalf, blk.nc - j0 - h));
        float acc[kMR][kHalf] = {};
        for (int64_t k = 0; k < kc; k++) {
          const float* ak = ap + k * kMR;
          const float* bk = bp + k * kNR + h;
#pragma GCC unroll 6
          for (int r = 0; r < kMR; r++) {
            const float a = ak[r];
#pragma GCC unroll 8
            for (int j = 0; j < kHalf; j++) acc[r][j] += a * bk[j];
          }
        }
        for (int r = 0; r < rows; r++) {
          const int64_t row = i0 + r;
          float* c = blk.c + row * blk.ldc + j0 + h;
          for (int j = 0; j < cols; j++) {
            const int64_t col = j0 + h + j;
            float v = acc[r][j];
            if (wb.first) {
              if (wb.beta != 0.f) v += wb.beta * c[j];
              if (wb.bias_row) v += wb.bias_row[row];
              if (wb.bias_col) v += wb.bias_col[col];
              if (wb.residual) v += wb.residual[row * wb.ldr + col];
            } else {
              v += c[j];
            }
            if (wb.last && wb.clamp) v = std::min(std::max(v, wb.lo), wb.hi);
            c[j] = v;
          }
        }
      }
    }
  }
}

void gemv_rows_scalar(int64_t K, int64_t N, const float* v, const float* X, int64_t ldx, float* y) {
  for (int64_t n = 0; n < N; n++) y[n] = 0.f;
  for (int64_t k = 0; k < K; k++) {
    const float vk = v[k];
    const float* x = X + k * ldx;
    for (int64_t n = 0; n < N; n++) y[n] += vk * x[n];
  }
}

void gemv_dots_scalar(int64_t M, int64_t K, const float* X, int64_t ldx, const float* v, float* y) {
  // Eight partial sums per row: a vertical operation the compiler vectorises without reassociation flags.
  for (int64_t m = 0; m < M; m++) {
    const float* x = X + m * ldx;
    float part[8] = {};
    int64_t k = 0;
    for (; k + 8 <= K; k += 8)
      for (int u = 0; u < 8; u++) part[u] += x[k + u] * v[k + u];
    float s = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    for (; k < K; k++) s += x[k] * v[k];
    y[m] = s;
  }
}

void gemv_panels_scalar(int64_t m0, int64_t m1, int64_t K, int64_t kc, int64_t Mp, const float* A, const float* v,
                        float* y) {
  for (int64_t p = m0; p < m1; p += kMR) {
    float acc[kMR] = {};
    for (int64_t pc = 0; pc < K; pc += kc) {
      const int64_t kcb = std::min(kc, K - pc);
      const float* ap = A + pc * Mp + p * kcb;
      for (int64_t k = 0; k < kcb; k++)
        for (int r = 0; r < kMR; r++) acc[r] += ap[k * kMR + r] * v[pc + k];
    }
    const int64_t rows = std::min<int64_t>(kMR, m1 - p);
    for (int64_t r = 0; r < rows; r++) y[p - m0 + r] = acc[r];
  }
}

}  // namespace

// op(A)[m0 .. m0+mc) x [pc .. pc+kcb), times alpha, into MR-row panels at dst (rows past mc zeroed).
void pack_a_portable(const float* A, int64_t lda, bool trans, float alpha, int64_t m0, int64_t mc, int64_t pc,
                     int64_t kcb, float* dst) {
  for (int64_t i = 0; i < mc; i += kMR) {
    const int rows = int(std::min<int64_t>(kMR, mc - i));
    float* d = dst + i * kcb;
    if (!trans) {
      const float* src[kMR];
      for (int r = 0; r < kMR; r++) src[r] = A + (m0 + i + std::min(r, rows - 1)) * lda + pc;
      if (rows == kMR) {
        for (int64_t k = 0; k < kcb; k++)
          for (int r = 0; r < kMR; r++) d[k * kMR + r] = alpha * src[r][k];
      } else {
        for (int64_t k = 0; k < kcb; k++)
          for (int r = 0; r < kMR; r++) d[k * kMR + r] = r < rows ? alpha * src[r][k] : 0.f;
      }
    } else {
      const float* s = A + pc * lda + m0 + i;
      for (int64_t k = 0; k < kcb; k++, s += lda)
        for (int r = 0; r < kMR; r++) d[k * kMR + r] = r < rows ? alpha * s[r] : 0.f;
    }
  }
}

// op(B)[pc .. pc+kcb) x [n0 .. n0+nc) into NR-column panels at dst (columns past nc zeroed).
void pack_b_portable(const float* B, int64_t ldb, bool trans, int64_t n0, int64_t nc, int64_t pc, int64_t kcb,
                     float* dst) {
  const int64_t full = nc / kNR * kNR;
  if (!trans) {
    // Row by row: each source row is read sequentially and scattered to the panels (64 bytes each).
    for (int64_t k = 0; k < kcb; k++) {
      const float* s = B + (pc + k) * ldb + n0;
      float* d = dst + k * kNR;
      for (int64_t j = 0; j < full; j += kNR) std::memcpy(d + j * kcb, s + j, kNR * sizeof(float));
      if (full < nc) {
        float* t = d + full * kcb;
        const int64_t cols = nc - full;
        for (int64_t j = 0; j < kNR; j++) t[j] = j < cols ? s[full + j] : 0.f;
      }
    }
  } else {
    for (int64_t j0 = 0; j0 < nc; j0 += kNR) {
      const int64_t cols = std::min<int64_t>(kNR, nc - j0);
      float* d = dst + j0 * kcb;
      for (int64_t j = 0; j < kNR; j++) {
        if (j < cols) {
          const float* s = B + (n0 + j0 + j) * ldb + pc;
          for (int64_t k = 0; k < kcb; k++) d[k * kNR + j] = s[k];
        } else {
          for (int64_t k = 0; k < kcb; k++) d[k * kNR + j] = 0.f;
        }
      }
    }
  }
}

const Kernels& scalar_kernels() {
  static const Kernels k = {&block_scalar, &pack_a_portable, &pack_b_portable, &gemv_rows_scalar, &gemv_dots_scalar, &gemv_panels_scalar, "scalar_6x16"};
  return k;
}

}  // namespace sgemm_internal
}  // namespace int8rt
