// NEON int8 GEMM family for Arm cores without the dot product (Cortex-A53/A57/A72): operands sign-extended to int16
// (A at qpack_a, B per call), and smlal/smlal2 by element: each int32 lane gets a[k] * b[k] (|product| <= 16384, exact)
// added with wrapping, so the sums equal the reference bit for bit. The int16-accumulating forms (smlal into .8h,
// or smull + smlal on int8 as some libraries do) are never used: two products of -128 * -128 already overflow int16.
// Tile 6 x 16: 24 accumulators, two B vectors (16 columns as int16) and one A vector (six rows of one k) of the 32
// registers; the A vector must be one of v0-v15 (the by-element encoding of 16-bit lanes), which the compiler sees.
//
// Per k: 24 smlal/smlal2 (96 MACs), one 32-byte B load (ldp) and one 16-byte A load. Baseline aarch64 only: this
// file is compiled for every Arm CPU.
#if defined(__aarch64__)
#include <arm_neon.h>

#include "kernels/arm/qgemm-s8-arm.h"
#include "kernels/qgemm-internal.h"

namespace int8rt {
namespace qgemm_internal {
namespace {

struct NeonS16 {
  static constexpr int kMR = 6;
  static constexpr int kGroupBytes = 2;  // kgroup 1, int16

  template <int NV>
  static INT8RT_QGEMM_TILE_FN void compute(int64_t kg, const uint8_t* a8, const uint8_t* b8,
                                           int32x4_t (&acc)[kMR][NV]) {
    const int16_t* a = reinterpret_cast<const int16_t*>(a8);
    const int16_t* b = reinterpret_cast<const int16_t*>(b8);
    int32x4_t c[kMR][NV];  // local: a sum the loads could alias would be stored every k
    for (int r = 0; r < kMR; r++)
      for (int v = 0; v < NV; v++) c[r][v] = vdupq_n_s32(0);
    for (int64_t k = 0; k < kg; k++) {
      // Eight int16 from the panel's k: rows 0-5 and two of the next k (or qpack_a's padding), unused.
      const int16x8_t av = vld1q_s16(a + k * kMR);
      int16x8_t bv[NV / 2];
      for (int h = 0; h < NV / 2; h++) bv[h] = vld1q_s16(b + k * (4 * NV) + 8 * h);
      static_for<kMR>([&](auto r) {
        for (int h = 0; h < NV / 2; h++) {
          c[r][2 * h] = vmlal_laneq_s16(c[r][2 * h], vget_low_s16(bv[h]), av, r);
          c[r][2 * h + 1] = vmlal_high_laneq_s16(c[r][2 * h + 1], bv[h], av, r);
        }
      });
    }
    for (int r = 0; r < kMR; r++)
      for (int v = 0; v < NV; v++) acc[r][v] = c[r][v];
  }

  // N == 1: lanes = rows; the column is group k (one int16) of the packed 8-wide panel, at k * 8. Two interleaved
  // accumulator pairs hide the multiply-accumulate latency. Lanes 6 and 7 of `hi` collect garbage, never written.
  static inline void column(int64_t kg, const uint8_t* a8, const uint8_t* b8, int32x4_t* lo, int32x4_t* hi) {
    const int16_t* a = reinterpret_cast<const int16_t*>(a8);
    const int16_t* b = reinterpret_cast<const int16_t*>(b8);
    int32x4_t l0 = vdupq_n_s32(0), h0 = l0, l1 = l0, h1 = l0;
    int64_t k = 0;
    for (; k + 2 <= kg; k += 2) {
      const int16x8_t a0 = vld1q_s16(a + k * kMR), a1 = vld1q_s16(a + (k + 1) * kMR);
      const int16x8_t b0 = vld1q_dup_s16(b + k * kNRTail), b1 = vld1q_dup_s16(b + (k + 1) * kNRTail);
      l0 = vmlal_s16(l0, vget_low_s16(a0), vget_low_s16(b0));
      h0 = vmlal_high_s16(h0, a0, b0);
      l1 = vmlal_s16(l1, vget_low_s16(a1), vget_low_s16(b1));
      h1 = vmlal_high_s16(h1, a1, b1);
    }
    if (k < kg) {
      const int16x8_t a0 = vld1q_s16(a + k * kMR);
      const int16x8_t b0 = vld1q_dup_s16(b + k * kNRTail);
      l0 = vmlal_s16(l0, vget_low_s16(a0), vget_low_s16(b0));
      h0 = vmlal_high_s16(h0, a0, b0);
    }
    *lo = vaddq_s32(l0, l1);
    *hi = vaddq_s32(h0, h1);
  }
};

// B rows sign-extended: group k of a 16-column panel is b(k, c) for c = 0..15 as int16, 32 bytes. The last partial
// panel goes through the portable packer.
void pack_b_s16_neon(const int8_t* B, int64_t ldb, int64_t K, int64_t n0, int64_t nc, void* dst) {
  const int64_t panels = nc / kNR;
  int16_t* d = static_cast<int16_t*>(dst);
  for (int64_t k = 0; k < K; k++) {
    const int8_t* row = B + k * ldb + n0;
    int16_t* dk = d + k * kNR;
    for (int64_t q = 0; q < panels; q++) {
      const int8x16_t x = vld1q_s8(row + q * kNR);
      int16_t* o = dk + q * kNR * K;
      vst1q_s16(o, vmovl_s8(vget_low_s8(x)));
      vst1q_s16(o + 8, vmovl_high_s8(x));
    }
  }
  if (panels * kNR < nc) pack_b_portable(Elem::kS16, 1, B, ldb, K, n0, nc, 0, K, panels * kNR, nc, dst);
}

const Kernels kNeon = {
    "qgemm_s8_neon_6x16", kNeonId, NeonS16::kMR, 1, Elem::kS16, Elem::kS16, pack_b_s16_neon, block<NeonS16>,
    gemv<NeonS16>, /*widen_a=*/nullptr, /*pack_b_im2col=*/nullptr,
};

}  // namespace

const Kernels& neon_kernels() { return kNeon; }

}  // namespace qgemm_internal
}  // namespace int8rt
#endif  // __aarch64__
