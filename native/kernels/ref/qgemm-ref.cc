// The int8 GEMM references (the test oracle: plain loops over unpacked operands) and the portable scalar family
// (packing + a 4 x 16 tile g++ vectorises), which runs where no SIMD family applies. Both use the one-element
// epilogue of kernels/qgemm-internal.h, written as kernels/qgemm.h specifies it.
#include <cstring>

#include "kernels/qgemm-internal.h"
#include "kernels/qgemm.h"

namespace int8rt {

using qgemm_internal::epilogue_f32;
using qgemm_internal::epilogue_s8;
using qgemm_internal::epilogue_value;

namespace {

// sum_k A[m,k] * B[k,n] in wrapping int32 arithmetic (exact whenever the true sum fits).
int32_t dot_ref(int64_t K, const int8_t* a, const int8_t* B, int64_t ldb, int64_t n) {
  uint32_t acc = 0;
  for (int64_t k = 0; k < K; k++) acc += uint32_t(int32_t(a[k]) * int32_t(B[k * ldb + n]));
  return int32_t(acc);
}

}  // namespace

void qgemm_ref_s32(int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda, const int8_t* B, int64_t ldb,
                   int32_t* C, int64_t ldc) {
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < N; n++) C[m * ldc + n] = dot_ref(K, A + m * lda, B, ldb, n);
}

void qgemm_ref_s8(int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda, const int8_t* B, int64_t ldb,
                  int8_t* C, int64_t ldc, const QEpilogue& ep) {
  if (!ep.multiplier) return;
  float lo, hi;
  qgemm_internal::s8_bounds(ep, &lo, &hi);
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < N; n++) {
      const float v = epilogue_value(dot_ref(K, A + m * lda, B, ldb, n), ep.bias ? ep.bias[m] : 0, ep.multiplier[m],
                                     ep.residual ? ep.residual + m * ep.ldr + n : nullptr, ep.residual_multiplier);
      C[m * ldc + n] = epilogue_s8(v, lo, hi);
    }
}

void qgemm_ref_f32(int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda, const int8_t* B, int64_t ldb,
                   float* C, int64_t ldc, const QEpilogue& ep) {
  if (!ep.multiplier) return;
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < N; n++) {
      const float v = epilogue_value(dot_ref(K, A + m * lda, B, ldb, n), ep.bias ? ep.bias[m] : 0, ep.multiplier[m],
                                     ep.residual ? ep.residual + m * ep.ldr + n : nullptr, ep.residual_multiplier);
      C[m * ldc + n] = epilogue_f32(v, ep.fmin, ep.fmax);
    }
}

namespace qgemm_internal {

void pack_b_portable(Elem elem, int kgroup, const int8_t* B, int64_t ldb, int64_t K, int64_t n0, int64_t nc,
                     int64_t g0, int64_t g1, int64_t j0, int64_t j1, void* dst) {
  const int64_t kg = ceil_div(K, kgroup);
  const int esize = elem_bytes(elem);
  for (int64_t q = j0 / kNR; q * kNR < j1; q++) {
    const int w = panel_width(nc, q);
    uint8_t* panel = static_cast<uint8_t*>(dst) + q * kNR * kg * kgroup * esize;
    for (int64_t g = g0; g < g1; g++)
      for (int j = 0; j < w; j++) {
        const int64_t col = q * kNR + j;
        if (col < nc && (col < j0 || col >= j1)) continue;  // another packer's column
        for (int e = 0; e < kgroup; e++) {
          const int64_t k = g * kgroup + e;
          const int v = (col < nc && k < K) ? B[k * ldb + n0 + col] : 0;
          const int64_t at = (g * w + j) * kgroup + e;
          switch (elem) {
            case Elem::kS8: panel[at] = uint8_t(int8_t(v)); break;
            case Elem::kU8Shifted: panel[at] = uint8_t(v + 128); break;
            case Elem::kS16: {
              const int16_t s = int16_t(v);
              std::memcpy(panel + 2 * at, &s, 2);
              break;
            }
          }
        }
      }
  }
}

namespace {

// The scalar family: kgroup 1, int8 A and B, 4 x 16 tiles.
constexpr int kScalarMR = 4;

void pack_b_scalar(const int8_t* B, int64_t ldb, int64_t K, int64_t n0, int64_t nc, void* dst) {
  pack_b_portable(Elem::kS8, 1, B, ldb, K, n0, nc, 0, K, 0, nc, dst);
}

// Products in int16 (|a * b| <= 16384: exact; narrow lanes vectorise better), sums in wrapping uint32 like the SIMD
// kernels' int32 adds, exact whenever the true sum fits int32.
template <int W>
void tile_scalar(int64_t K, const int8_t* a, const int8_t* b, uint32_t (&acc)[kScalarMR][kNR]) {
  for (int r = 0; r < kScalarMR; r++)
    for (int j = 0; j < kNR; j++) acc[r][j] = 0;
  for (int64_t k = 0; k < K; k++) {
    int16_t bk[W];
    for (int j = 0; j < W; j++) bk[j] = b[k * W + j];
    for (int r = 0; r < kScalarMR; r++) {
      const int16_t ar = a[k * kScalarMR + r];
      for (int j = 0; j < W; j++) acc[r][j] += uint32_t(int32_t(int16_t(ar * bk[j])));
    }
  }
}

void block_scalar(const Block& blk) {
  const Output& o = *blk.out;
  const int8_t* a = static_cast<const int8_t*>(blk.a);
  const int8_t* b = static_cast<const int8_t*>(blk.b);
  const int64_t K = blk.kg;  // kgroup 1
  float lo = o.lo, hi = o.hi;
  for (int64_t j = 0, q = 0; j < blk.nc; j += kNR, q++) {
    const int w = panel_width(blk.nc, q);
    const int8_t* bp = b + q * kNR * K;
    const int cols = int(blk.nc - j < kNR ? blk.nc - j : kNR);
    for (int64_t i = 0; i < blk.mc; i += kScalarMR) {
      uint32_t acc[kScalarMR][kNR];
      if (w == kNR) tile_scalar<kNR>(K, a + i * K, bp, acc);
      else tile_scalar<kNRTail>(K, a + i * K, bp, acc);
      const int rows = int(blk.mc - i < kScalarMR ? blk.mc - i : kScalarMR);
      for (int r = 0; r < rows; r++) {
        const int64_t m = blk.m0 + i + r, n = blk.n0 + j;
        const int32_t offset = o.offset ? o.offset[m] : 0;
        if (o.kind == OutKind::kS32) {
          int32_t* c = static_cast<int32_t*>(o.c) + m * o.ldc + n;
          for (int t = 0; t < cols; t++) c[t] = int32_t(acc[r][t] + uint32_t(offset));
          continue;
        }
        const float mult = o.multiplier[m];
        const int8_t* res = o.residual ? o.residual + m * o.ldr + n : nullptr;
        for (int t = 0; t < cols; t++) {
          const float v =
              epilogue_value(int32_t(acc[r][t]), offset, mult, res ? res + t : nullptr, o.residual_multiplier);
          if (o.kind == OutKind::kS8) static_cast<int8_t*>(o.c)[m * o.ldc + n + t] = epilogue_s8(v, lo, hi);
          else static_cast<float*>(o.c)[m * o.ldc + n + t] = epilogue_f32(v, lo, hi);
        }
      }
    }
  }
}

const Kernels kScalar = {
    "qgemm_s8_scalar_4x16", kScalarId, kScalarMR, 1, Elem::kS8, Elem::kS8, pack_b_scalar, block_scalar, nullptr,
    /*widen_a=*/nullptr, /*pack_b_im2col=*/nullptr,
};

}  // namespace

const Kernels& scalar_kernels() { return kScalar; }

}  // namespace qgemm_internal
}  // namespace int8rt
