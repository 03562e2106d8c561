// Dot-product int8 GEMM family (Armv8.2 SDOT: Cortex-A55/A75 and later, Jetson Orin's Cortex-A78AE, Neoverse):
// sdot multiplies four signed bytes by four signed bytes and adds the four products into an int32 lane, so neither
// operand is shifted (unlike x86's u8 x s8 vpdpbusd) and no row-sum correction is needed. Exact: the products and
// their sums are computed in full, and the int32 lanes wrap like the reference's.
// Tile 6 x 16, k in groups of 4: per group one 16-byte A load (rows 0-3), one 8-byte A load (rows 4-5), four
// 16-byte B loads and 24 sdot by element (acc[r][v] += B columns 4v..4v+3 . A row r), 384 MACs. 24 accumulators,
// four B vectors and two A vectors: 30 of the 32 registers.
// Compiled with -march=armv8.2-a+dotprod (the file's suffix); reached only when HWCAP_ASIMDDP is set.
#if defined(__aarch64__)
#include <arm_neon.h>

#include "kernels/arm/qgemm-s8-arm.h"
#include "kernels/qgemm-internal.h"

namespace int8rt {
namespace qgemm_internal {
namespace {

struct NeonDot {
  static constexpr int kMR = 6;
  static constexpr int kGroupBytes = 4;  // kgroup 4, int8

  template <int NV>
  static INT8RT_QGEMM_TILE_FN void compute(int64_t kg, const uint8_t* a8, const uint8_t* b8,
                                           int32x4_t (&acc)[kMR][NV]) {
    const int8_t* a = reinterpret_cast<const int8_t*>(a8);
    const int8_t* b = reinterpret_cast<const int8_t*>(b8);
    int32x4_t c[kMR][NV];  // local: a sum the loads could alias would be stored every group
    for (int r = 0; r < kMR; r++)
      for (int v = 0; v < NV; v++) c[r][v] = vdupq_n_s32(0);
    for (int64_t g = 0; g < kg; g++) {
      const int8_t* bg = b + g * (16 * NV);
      const int8_t* ag = a + g * (4 * kMR);
      int8x16_t bv[NV];
      for (int v = 0; v < NV; v++) bv[v] = vld1q_s8(bg + 16 * v);
      const int8x16_t a03 = vld1q_s8(ag);
      const int8x8_t a45 = vld1_s8(ag + 16);
      static_for<4>([&](auto r) {
        for (int v = 0; v < NV; v++) c[r][v] = vdotq_laneq_s32(c[r][v], bv[v], a03, r);
      });
      static_for<2>([&](auto r) {
        for (int v = 0; v < NV; v++) c[4 + r][v] = vdotq_lane_s32(c[4 + r][v], bv[v], a45, r);
      });
    }
    for (int r = 0; r < kMR; r++)
      for (int v = 0; v < NV; v++) acc[r][v] = c[r][v];
  }

  // N == 1: lanes = rows (0-3 in lo, 4-5 in hi); the column's group g is the first 4 bytes of group g of the packed
  // 8-wide panel (at 32 g), broadcast. Two interleaved accumulator sets hide the sdot latency.
  static inline void column(int64_t kg, const uint8_t* a8, const uint8_t* b8, int32x4_t* lo, int32x4_t* hi) {
    const int8_t* a = reinterpret_cast<const int8_t*>(a8);
    const int8_t* b = reinterpret_cast<const int8_t*>(b8);
    int32x4_t l0 = vdupq_n_s32(0), l1 = l0;
    int32x2_t h0 = vdup_n_s32(0), h1 = h0;
    int64_t g = 0;
    for (; g + 2 <= kg; g += 2) {
      const int8x16_t b0 = vreinterpretq_s8_s32(vld1q_dup_s32(reinterpret_cast<const int32_t*>(b + g * 32)));
      const int8x16_t b1 = vreinterpretq_s8_s32(vld1q_dup_s32(reinterpret_cast<const int32_t*>(b + (g + 1) * 32)));
      const int8_t* a0 = a + g * (4 * kMR);
      const int8_t* a1 = a0 + 4 * kMR;
      l0 = vdotq_s32(l0, vld1q_s8(a0), b0);
      h0 = vdot_s32(h0, vld1_s8(a0 + 16), vget_low_s8(b0));
      l1 = vdotq_s32(l1, vld1q_s8(a1), b1);
      h1 = vdot_s32(h1, vld1_s8(a1 + 16), vget_low_s8(b1));
    }
    if (g < kg) {
      const int8x16_t b0 = vreinterpretq_s8_s32(vld1q_dup_s32(reinterpret_cast<const int32_t*>(b + g * 32)));
      const int8_t* a0 = a + g * (4 * kMR);
      l0 = vdotq_s32(l0, vld1q_s8(a0), b0);
      h0 = vdot_s32(h0, vld1_s8(a0 + 16), vget_low_s8(b0));
    }
    *lo = vaddq_s32(l0, l1);
    *hi = vcombine_s32(vadd_s32(h0, h1), vdup_n_s32(0));
  }
};

// B in groups of 4 rows: group g of a 16-column panel is [b(4g, c) b(4g+1, c) b(4g+2, c) b(4g+3, c)] for c = 0..15,
// 64 bytes: exactly what st4 writes from the four rows. The last partial group and panel go through the portable
// packer.
void pack_b_c4_neon(const int8_t* B, int64_t ldb, int64_t K, int64_t n0, int64_t nc, void* dst) {
  const int64_t kg = ceil_div(K, 4), kfull = K / 4, panels = nc / kNR;
  const int64_t pstride = int64_t(kNR) * kg * 4;
  int8_t* d = static_cast<int8_t*>(dst);
  for (int64_t g = 0; g < kfull; g++) {
    const int8_t* r0 = B + 4 * g * ldb + n0;
    for (int64_t q = 0; q < panels; q++) {
      const int8_t* s = r0 + q * kNR;
      int8x16x4_t x;
      x.val[0] = vld1q_s8(s);
      x.val[1] = vld1q_s8(s + ldb);
      x.val[2] = vld1q_s8(s + 2 * ldb);
      x.val[3] = vld1q_s8(s + 3 * ldb);
      vst4q_s8(d + q * pstride + g * 64, x);
    }
  }
  if (kfull < kg) pack_b_portable(Elem::kS8, 4, B, ldb, K, n0, nc, kfull, kg, 0, panels * kNR, dst);
  if (panels * kNR < nc) pack_b_portable(Elem::kS8, 4, B, ldb, K, n0, nc, 0, kg, panels * kNR, nc, dst);
}

const Kernels kNeonDot = {
    "qgemm_s8_neondot_6x16", kNeonDotId, NeonDot::kMR, 4, Elem::kS8, Elem::kS8, pack_b_c4_neon, block<NeonDot>,
    gemv<NeonDot>, /*widen_a=*/nullptr, /*pack_b_im2col=*/nullptr,
};

}  // namespace

const Kernels& neondot_kernels() { return kNeonDot; }

}  // namespace qgemm_internal
}  // namespace int8rt
#endif  // __aarch64__
