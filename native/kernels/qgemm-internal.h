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
// The same block of an implicit im2col B (QIm2col, K = C * kh * kw rows), read straight from the image: the bytes
// PackBFn writes for the materialised matrix.
using PackBIm2colFn = void (*)(const QIm2col& src, int64_t n0, int64_t nc, void* dst);

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
  // Null, or the family's fused im2col packer. Without one the driver builds each 16-column panel's im2col rows in
  // a small per-thread buffer (im2col_panel_rows below) and packs it with pack_b.
  PackBIm2colFn pack_b_im2col;
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

// Implicit im2col (QIm2col). For each tap row ky, the output rows oy in [ylo, yhi) read an input row inside the
// image; for each tap column kx, the output columns ox in [xlo, xhi) read an input column inside it. A panel's (at
// most 16) columns n = oy * OW + ox split into segments of consecutive ox on one output row.
struct Im2colTaps {
  std::vector<int64_t> ylo, yhi, xlo, xhi;
};
static inline int64_t im2col_floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
static inline void im2col_taps(const QIm2col& s, Im2colTaps* t) {
  const auto range = [](int64_t in, int64_t out, int64_t st, int64_t off, int64_t* lo, int64_t* hi) {
    // out index o reads o * st + off: inside when 0 <= o * st + off <= in - 1.
    const int64_t a = -im2col_floor_div(off, st);  // ceil(-off / st)
    const int64_t b = im2col_floor_div(in - 1 - off, st) + 1;
    *lo = a < 0 ? 0 : (a > out ? out : a);
    *hi = b < *lo ? *lo : (b > out ? out : b);
  };
  t->ylo.resize(size_t(s.kh));
  t->yhi.resize(size_t(s.kh));
  t->xlo.resize(size_t(s.kw));
  t->xhi.resize(size_t(s.kw));
  for (int64_t ky = 0; ky < s.kh; ky++)
    range(s.IH, s.OH, s.sh, ky * s.dh - s.pt, &t->ylo[size_t(ky)], &t->yhi[size_t(ky)]);
  for (int64_t kx = 0; kx < s.kw; kx++)
    range(s.IW, s.OW, s.sw, kx * s.dw - s.pl, &t->xlo[size_t(kx)], &t->xhi[size_t(kx)]);
}
struct Im2colSeg {
  int64_t oy, ox0;  // output row, first output column
  int j0, len;      // panel columns [j0, j0 + len)
};
// Segments of block columns [c0, c0 + vc), vc <= 16; returns their number.
static inline int im2col_segments(const QIm2col& s, int64_t c0, int vc, Im2colSeg* seg) {
  int n = 0;
  for (int j = 0; j < vc;) {
    const int64_t q = c0 + j, oy = q / s.OW, ox = q - oy * s.OW;
    const int len = int(s.OW - ox < vc - j ? s.OW - ox : vc - j);
    seg[n++] = Im2colSeg{oy, ox, j, len};
    j += len;
  }
  return n;
}
// Input column range [lo, hi) of segment `sg` for tap (ky, kx) as panel columns [*a, *b) (empty: *a == *b), and
// the input row it reads (when not empty).
static inline void im2col_seg_cols(const Im2colTaps& t, const Im2colSeg& sg, int64_t ky, int64_t kx, int* a,
                                   int* b) {
  if (sg.oy < t.ylo[size_t(ky)] || sg.oy >= t.yhi[size_t(ky)]) {
    *a = *b = sg.j0;
    return;
  }
  const int64_t lo = sg.ox0 > t.xlo[size_t(kx)] ? sg.ox0 : t.xlo[size_t(kx)];
  const int64_t e = sg.ox0 + sg.len, hi = e < t.xhi[size_t(kx)] ? e : t.xhi[size_t(kx)];
  *a = sg.j0 + int(lo - sg.ox0);
  *b = hi > lo ? sg.j0 + int(hi - sg.ox0) : *a;
}
// Row k = (c, ky, kx) of the im2col matrix over a panel's segments into out[0, 16): columns past the segments and
// taps in the padding are 0. The portable builder behind the staged packing.
static inline void im2col_panel_row(const QIm2col& s, const Im2colTaps& t, const Im2colSeg* seg, int nseg, int64_t c,
                                    int64_t ky, int64_t kx, int8_t* out) {
  for (int j = 0; j < 16; j++) out[j] = 0;
  const int8_t* plane = s.img + c * s.IH * s.IW;
  for (int i = 0; i < nseg; i++) {
    int a, b;
    im2col_seg_cols(t, seg[i], ky, kx, &a, &b);
    if (a == b) continue;
    const int64_t iy = seg[i].oy * s.sh - s.pt + ky * s.dh;
    const int64_t ox_a = seg[i].ox0 + (a - seg[i].j0);
    const int8_t* src = plane + iy * s.IW + ox_a * s.sw - s.pl + kx * s.dw;
    for (int j = a; j < b; j++) out[j] = src[int64_t(j - a) * s.sw];
  }
}

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
