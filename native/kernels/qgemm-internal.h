// Internals of the int8 GEMM shared by the portable driver (kernels/qgemm.cc), the scalar kernels
// (kernels/ref/qgemm-ref.cc) and the ISA-specific kernels (kernels/x86/qgemm-s8-*.cc). Not part of the public API.
//
// Kernel families. A family fixes the packed layouts and the microkernel:
//   scalar      kgroup 1, A int8,  B int8,            tile 4 x 16 (portable C++)
//   avx2        kgroup 2, A int8,  B int16,           tile 6 x 16 (vpmaddwd + vpaddd; sign-extended, exact; A is
//                                                      widened to int16 per A block, see Kernels::widen_a)
//   avxvnni     kgroup 4, A int8,  B uint8 = b + 128, tile 6 x 16 (VEX vpdpbusd, 16 ymm registers)
//   avx512vnni  kgroup 4, A int8,  B uint8 = b + 128, tile 8 x 16 (EVEX vpdpbusd on ymm, 32 registers)
//   neon        kgroup 1, A int16, B int16,           tile 6 x 16 (smlal by element; Cortex-A53/A72, no dot product)
//   neondot     kgroup 4, A int8,  B int8,            tile 6 x 16 (sdot by element: signed x signed, no shift)
//   i8mm        kgroup 8, A int8,  B int8,            tile 6 x 16 (smmla: 2 rows x 8 k times 8 k x 2 columns)
// With B shifted to uint8, sum_k A[m,k] * (B[k,n] + 128) = acc + 128 * row_sums[m]: the kernels subtract
// 128 * row_sums[m] before the epilogue. All int32 arithmetic wraps modulo 2^32, so the result is exact whenever the
// true sum fits int32 (always for K < 131072), whatever the intermediate values.
//
// Packed layouts. K is padded to Kg = ceil(K / kgroup) groups of kgroup consecutive k; padded k hold A = 0 (B is
// then irrelevant; the packers write the value 0, i.e. 0x80 when shifted).
//   A (packed once by qpack_a): panels of MR rows; panel p starts at element p * MR * Kg * kgroup and holds
//     A[p*MR + r, g*kgroup + e] at ((g * MR) + r) * kgroup + e. Rows past M are zero.
//   B (packed per call, one column block [n0, n0 + nc) at a time): panels of 16 columns, except that a last panel of
//     at most 8 columns is 8 wide; panel q starts at element q * 16 * Kg * kgroup and, with w its width, holds
//     B[g*kgroup + e, n0 + 16*q + j] at ((g * w) + j) * kgroup + e. Columns past the block are zero.
//   In the x86 families one group of one column or row is 4 bytes (2 x int16 or 4 x int8), so a group of a
//   16-column panel is two ymm vectors and a row's group is one broadcast int32.
//
// The helper functions below are `static inline`: the ISA-specific files include this header too, and a function
// with external linkage compiled there (with -mavx512f, say) could be the copy the linker keeps for everyone.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/qgemm.h"

namespace int8rt {
namespace qgemm_internal {

constexpr int kNR = 16;      // B panel width (an 8-wide panel ends a block whose width is 1..8 past a multiple of 16)
constexpr int kNRTail = 8;

enum class Elem : int { kS8 = 0, kS16 = 1, kU8Shifted = 2 };
static inline int elem_bytes(Elem e) { return e == Elem::kS16 ? 2 : 1; }

// Width of B panel q of an nc-column block.
static inline int panel_width(int64_t nc, int64_t q) {
  const int64_t rem = nc - q * kNR;
  return rem >= kNR ? kNR : (rem > kNRTail ? kNR : kNRTail);
}
static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
// Elements of a packed B block of nc columns.
static inline int64_t packed_b_elems(int64_t nc, int64_t kg, int kgroup) {
  const int64_t full = nc / kNR, rem = nc - full * kNR;
  const int64_t width = full * kNR + (rem == 0 ? 0 : (rem > kNRTail ? kNR : kNRTail));
  return width * kg * kgroup;
}

// What the block kernels write, and the epilogue terms (see kernels/qgemm.h for the arithmetic). Pointers index the
// whole problem (row m, column n of C).
enum class OutKind : int { kS8 = 0, kF32 = 1, kS32 = 2 };
struct Output {
  OutKind kind = OutKind::kS8;
  void* c = nullptr;
  int64_t ldc = 0;
  // Added to row m's raw accumulators (wrapping int32), may be null: bias[m] (kS8/kF32), minus 128 * row_sums[m]
  // for the shifted families.
  const int32_t* offset = nullptr;
  const float* multiplier = nullptr;  // kS8/kF32
  const int8_t* residual = nullptr;
  int64_t ldr = 0;
  float residual_multiplier = 0.f;
  float lo = 0.f, hi = 0.f;           // kS8: [qmin, qmax] clamped to [-128, 127]; kF32: [fmin, fmax]
};

// One block: rows [m0, m0 + mc) (m0 a multiple of MR) times columns [n0, n0 + nc) (n0 a multiple of 16) over all of
// K. `a` points at A panel m0 / MR, `b` at the packed B block of these columns.
struct Block {
  int64_t m0 = 0, mc = 0, n0 = 0, nc = 0;
  int64_t kg = 0;
  const void* a = nullptr;
  const void* b = nullptr;
  const Output* out = nullptr;
};

// Packs B[0..K) x [n0, n0 + nc) (row-major, ldb) into the layout above.
using PackBFn = void (*)(const int8_t* B, int64_t ldb, int64_t K, int64_t n0, int64_t nc, void* dst);

struct Kernels {
  const char* name;  // "qgemm_s8_avx2_6x16"
  int id;            // stored in QPackedA::isa: a packing runs with the family it was made for
  int mr;            // A panel rows (microkernel height)
  int kgroup;        // consecutive k per packed group
  Elem a_elem, b_elem;
  PackBFn pack_b;
  void (*block)(const Block& blk);
  // N == 1 (may be null: the block kernel then does it): the same contract with nc = 1, the A panels read once as
  // matrix-vector products, in the packed A's own elements. May load up to kAPadBytes past the last A panel.
  void (*gemv)(const Block& blk);
  // Null, or (a_elem kS8 only) the block kernel reads A as int16: the driver then widens each A block it hands to
  // `block` (rows [m0, m0 + mc) rounded up to MR, all k groups) into a per-thread buffer: dst[i] = src[i] for n
  // consecutive packed elements, the same layout with 2-byte elements. The weights stay int8 at rest, and the
  // widening is spread over all the columns of a B block. Blocking then counts the A block in int16.
  void (*widen_a)(const int8_t* src, int64_t n, int16_t* dst);
};

// Zero bytes qpack_a appends to the packed A, for vector loads that run past its last panel.
constexpr int64_t kAPadBytes = 32;

enum FamilyId : int {
  kScalarId = 1, kAvx2Id = 2, kAvxVnniId = 3, kAvx512VnniId = 4, kAvx512Vnni6x16Id = 5,
  kNeonId = 6, kNeonDotId = 7, kI8mmId = 8,
};

const Kernels& scalar_kernels();
#if defined(__x86_64__) || defined(_M_X64)
const Kernels& avx2_kernels();
const Kernels& avxvnni_kernels();        // CPU needs AVX-VNNI (VEX)
const Kernels& avx512vnni_kernels();     // CPU needs AVX512-VNNI + VL + BW
const Kernels& avx512vnni_6x16_kernels();  // tests only: the AVX-VNNI tile shape on EVEX, so it is exercised here
#endif
#if defined(__aarch64__)
const Kernels& neon_kernels();     // kernels/arm: any aarch64 CPU
const Kernels& neondot_kernels();  // CPU needs the dot product (HWCAP_ASIMDDP)
const Kernels& i8mm_kernels();     // CPU needs i8mm (HWCAP2_I8MM) and the dot product
#endif

// The families this CPU can run (tests iterate over them), the scalar one first.
std::vector<const Kernels*> available_kernels();
const Kernels* kernels_by_id(int id);

// Tests only: qpack_a packs for `k` from now on (nullptr restores the run-time choice). qgemm always runs the family
// a packing was made for. Not for concurrent use with qpack_a.
void set_kernels_for_testing(const Kernels* k);
// Tests only: makes qgemm take the path of a failed packing-buffer allocation (scalar loops over the packed A).
void set_fallback_for_testing(bool on);

// Portable packing of B groups [g0, g1) and block columns [j0, j1) (j0 a multiple of 16) in a family's layout: the
// scalar family's packer, and the ISA packers' tails (the last partial k group, the last partial panel).
void pack_b_portable(Elem elem, int kgroup, const int8_t* B, int64_t ldb, int64_t K, int64_t n0, int64_t nc,
                     int64_t g0, int64_t g1, int64_t j0, int64_t j1, void* dst);

// The epilogue on one element, shared by the references and the scalar kernels; the SIMD kernels perform the same
// operations in the same order (see kernels/qgemm.h). `acc` is the exact product sum.
// NaN (only from a NaN/infinite multiplier) clamps to qmin; nearbyint rounds half to even in the default mode.
static inline float epilogue_value(int32_t acc, int32_t bias, float multiplier, const int8_t* residual, float rmul) {
  const int32_t x = int32_t(uint32_t(acc) + uint32_t(bias));  // wraps like the SIMD adds
  float v = float(x) * multiplier;
  if (residual) v = std::fma(float(*residual), rmul, v);
  return v;
}
static inline int8_t epilogue_s8(float v, float lo, float hi) {
  // max(lo, v) then min(.., hi) with the operand order of vmaxps(v, lo) / vminps(hi, .): NaN becomes lo.
  float c = lo < v ? v : lo;
  c = hi < c ? hi : c;
  return int8_t(std::nearbyint(c));
}
static inline float epilogue_f32(float v, float lo, float hi) {
  // The SGEMM clamp: NaN passes through (vmaxps(lo, v), vminps(hi, .)).
  float c = lo > v ? lo : v;
  return hi < c ? hi : c;
}
// qmin/qmax as the float bounds the kernels clamp to (intersected with the int8 range).
static inline void s8_bounds(const QEpilogue& ep, float* lo, float* hi) {
  *lo = float(ep.qmin < -128 ? -128 : ep.qmin > 127 ? 127 : ep.qmin);
  *hi = float(ep.qmax < -128 ? -128 : ep.qmax > 127 ? 127 : ep.qmax);
}

}  // namespace qgemm_internal
}  // namespace int8rt
