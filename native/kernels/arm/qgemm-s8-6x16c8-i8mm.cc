// i8mm int8 GEMM family (Armv8.6 SMMLA: Neoverse V1/N2/V2, Cortex-A710/X2 and later; not the Cortex-A78AE of Jetson
// Orin, which stops at the dot product): smmla multiplies a 2 x 8 int8 matrix by an 8 x 2 one and adds the 2 x 2
// int32 product into a vector, 32 MACs per instruction (sdot: 16). Signed x signed, exact, wrapping int32 lanes.
//
// With k in groups of 8, the packed layouts of kernels/qgemm-internal.h already hold smmla's operands: rows r and
// r + 1 of an A group are 16 consecutive bytes (row r's 8 k, then row r+1's), and so are columns c and c + 1 of a B
// group. acc[p][q] = [C(2p, 2q), C(2p, 2q+1), C(2p+1, 2q), C(2p+1, 2q+1)]; zip1/zip2 on 64-bit lanes turn two of
// them into row vectors for the shared write-back.
// Tile 6 x 16: 3 row pairs x 8 column pairs = 24 accumulators, three A vectors and the B vectors loaded as they are
// used. Per group of 8 k: 3 + 8 loads and 24 smmla for 768 MACs.
// Compiled with -march=armv8.2-a+dotprod+i8mm (the file's suffix); reached only when HWCAP2_I8MM is set.
#if defined(__aarch64__)
#include <arm_neon.h>

#include "kernels/arm/qgemm-s8-arm.h"
#include "kernels/qgemm-internal.h"

namespace int8rt {
namespace qgemm_internal {
namespace {

struct NeonI8mm {
  static constexpr int kMR = 6;
  static constexpr int kGroupBytes = 8;  // kgroup 8, int8
  static constexpr int kPairs = kMR / 2;

  // g++ (12)'s first scheduling pass moves all eight B loads of a group to its top: with the 24 sums and three A
  // vectors that is more than 32 registers, and four sums are spilled and reloaded every group. Without that pass
  // the loop is 24 smmla, 10 loads (11 vectors) and 4 loop instructions.
  template <int NV>
  __attribute__((optimize("no-schedule-insns"))) static INT8RT_QGEMM_TILE_FN void compute(
      int64_t kg, const uint8_t* a8, const uint8_t* b8, int32x4_t (&acc)[kMR][NV]) {
    const int8_t* a = reinterpret_cast<const int8_t*>(a8);
    const int8_t* b = reinterpret_cast<const int8_t*>(b8);
    constexpr int kColPairs = 2 * NV;
    int32x4_t p[kPairs][kColPairs];
    for (int i = 0; i < kPairs; i++)
      for (int q = 0; q < kColPairs; q++) p[i][q] = vdupq_n_s32(0);
    for (int64_t g = 0; g < kg; g++) {
      const int8_t* ag = a + g * (8 * kMR);
      const int8_t* bg = b + g * (32 * NV);
      int8x16_t av[kPairs];
      for (int i = 0; i < kPairs; i++) av[i] = vld1q_s8(ag + 16 * i);
      for (int q = 0; q < kColPairs; q++) {
        const int8x16_t bq = vld1q_s8(bg + 16 * q);
        for (int i = 0; i < kPairs; i++) p[i][q] = vmmlaq_s32(p[i][q], av[i], bq);
      }
    }
    for (int i = 0; i < kPairs; i++)
      for (int v = 0; v < NV; v++) {
        const int64x2_t x = vreinterpretq_s64_s32(p[i][2 * v]), y = vreinterpretq_s64_s32(p[i][2 * v + 1]);
        acc[2 * i][v] = vreinterpretq_s32_s64(vzip1q_s64(x, y));
        acc[2 * i + 1][v] = vreinterpretq_s32_s64(vzip2q_s64(x, y));
      }
  }

  // N == 1: the packed 8-wide panel's group g (at 64 g) starts with the column pair (0, 1), column 1 zero; smmla
  // against each row pair gives [C(2i, 0), 0, C(2i+1, 0), 0]. Two interleaved sets hide the smmla latency.
  static inline void column(int64_t kg, const uint8_t* a8, const uint8_t* b8, int32x4_t* lo, int32x4_t* hi) {
    const int8_t* a = reinterpret_cast<const int8_t*>(a8);
    const int8_t* b = reinterpret_cast<const int8_t*>(b8);
    int32x4_t s0[kPairs], s1[kPairs];
    for (int i = 0; i < kPairs; i++) s0[i] = s1[i] = vdupq_n_s32(0);
    int64_t g = 0;
    for (; g + 2 <= kg; g += 2) {
      const int8x16_t b0 = vld1q_s8(b + g * 64), b1 = vld1q_s8(b + (g + 1) * 64);
      const int8_t* a0 = a + g * (8 * kMR);
      const int8_t* a1 = a0 + 8 * kMR;
      for (int i = 0; i < kPairs; i++) {
        s0[i] = vmmlaq_s32(s0[i], vld1q_s8(a0 + 16 * i), b0);
        s1[i] = vmmlaq_s32(s1[i], vld1q_s8(a1 + 16 * i), b1);
      }
    }
    if (g < kg) {
      const int8x16_t b0 = vld1q_s8(b + g * 64);
      const int8_t* a0 = a + g * (8 * kMR);
      for (int i = 0; i < kPairs; i++) s0[i] = vmmlaq_s32(s0[i], vld1q_s8(a0 + 16 * i), b0);
    }
    for (int i = 0; i < kPairs; i++) s0[i] = vaddq_s32(s0[i], s1[i]);
    *lo = vuzp1q_s32(s0[0], s0[1]);               // rows 0, 1, 2, 3
    *hi = vuzp1q_s32(s0[2], vdupq_n_s32(0));      // rows 4, 5
  }
};

// B in groups of 8 rows: group g of a 16-column panel is column c's 8 bytes b(8g .. 8g+7, c) for c = 0..15, 128
// bytes: an 8 x 16 byte transpose by three rounds of zips (bytes, halfwords, words). The last partial group and panel
// go through the portable packer.
void pack_b_c8_neon(const int8_t* B, int64_t ldb, int64_t K, int64_t n0, int64_t nc, void* dst) {
  const int64_t kg = ceil_div(K, 8), kfull = K / 8, panels = nc / kNR;
  const int64_t pstride = int64_t(kNR) * kg * 8;
  int8_t* d = static_cast<int8_t*>(dst);
  for (int64_t g = 0; g < kfull; g++) {
    const int8_t* r0 = B + 8 * g * ldb + n0;
    for (int64_t q = 0; q < panels; q++) {
      const int8_t* s = r0 + q * kNR;
      int8x16_t x[8];
      for (int i = 0; i < 8; i++) x[i] = vld1q_s8(s + i * ldb);
      // Pairs of rows, byte-interleaved: t[2j] columns 0-7, t[2j+1] columns 8-15 of rows 2j, 2j+1.
      int16x8_t t[8];
      for (int j = 0; j < 4; j++) {
        t[2 * j] = vreinterpretq_s16_s8(vzip1q_s8(x[2 * j], x[2 * j + 1]));
        t[2 * j + 1] = vreinterpretq_s16_s8(vzip2q_s8(x[2 * j], x[2 * j + 1]));
      }
      // Quads of rows (0-3 in u, 4-7 in w), 4 bytes per column: u[h] columns 4h .. 4h + 3.
      int32x4_t u[4], w[4];
      for (int lohi = 0; lohi < 2; lohi++) {
        u[2 * lohi] = vreinterpretq_s32_s16(vzip1q_s16(t[lohi], t[2 + lohi]));
        u[2 * lohi + 1] = vreinterpretq_s32_s16(vzip2q_s16(t[lohi], t[2 + lohi]));
        w[2 * lohi] = vreinterpretq_s32_s16(vzip1q_s16(t[4 + lohi], t[6 + lohi]));
        w[2 * lohi + 1] = vreinterpretq_s32_s16(vzip2q_s16(t[4 + lohi], t[6 + lohi]));
      }
      // Columns 4h, 4h+1 and 4h+2, 4h+3, 8 bytes each.
      int8_t* o = d + q * pstride + g * 128;
      for (int h = 0; h < 4; h++) {
        vst1q_s8(o + 32 * h, vreinterpretq_s8_s32(vzip1q_s32(u[h], w[h])));
        vst1q_s8(o + 32 * h + 16, vreinterpretq_s8_s32(vzip2q_s32(u[h], w[h])));
      }
    }
  }
  if (kfull < kg) pack_b_portable(Elem::kS8, 8, B, ldb, K, n0, nc, kfull, kg, 0, panels * kNR, dst);
  if (panels * kNR < nc) pack_b_portable(Elem::kS8, 8, B, ldb, K, n0, nc, 0, kg, panels * kNR, nc, dst);
}

const Kernels kI8mm = {
    "qgemm_s8_i8mm_6x16", kI8mmId, NeonI8mm::kMR, 8, Elem::kS8, Elem::kS8, pack_b_c8_neon, block<NeonI8mm>,
    gemv<NeonI8mm>, /*widen_a=*/nullptr, /*pack_b_im2col=*/nullptr,
};

}  // namespace

const Kernels& i8mm_kernels() { return kI8mm; }

}  // namespace qgemm_internal
}  // namespace int8rt
#endif  // __aarch64__
