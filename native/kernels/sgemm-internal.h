// Internals of the SGEMM engine shared by the portable driver (kernels/sgemm.cc) and the ISA-specific kernels
// (kernels/x86/sgemm-6x16-fma-avx2.cc, kernels/ref/sgemm-6x16-scalar.cc). Not part of the public API.
//
// Packed layouts (identical for every ISA, so a packing made for one ISA stays valid for another):
//   K is cut into blocks of kc rows (the last block may be shorter). Inside block [pc, pc + kcb):
//   - A: MR-row panels, panel p holds A[p*MR + r, pc + k] at [p*MR*kcb + k*MR + r]; the block starts at pc * Mp
//     (Mp = M rounded up to MR). Rows past M are zero.
//   - B: NR-column panels, panel q holds B[pc + k, q*NR + j] at [q*NR*kcb + k*NR + j]; the block starts at pc * Np.
//     Columns past N are zero.
//   Because every block before pc holds exactly kc rows, "block starts at pc * Mp" needs no table.
#pragma once
#include <cstdint>

namespace int8rt {
namespace sgemm_internal {

constexpr int kMR = 6;   // microkernel rows (broadcast A elements)
constexpr int kNR = 16;  // microkernel columns (two 8-float vectors of B)

// How the product of one K block is combined with C. The first K block initialises C from the epilogue terms that
// do not depend on the product (beta*C, the biases, the residual) plus its partial product; later blocks accumulate
// into C; the last block also clamps. Adding the residual in the first block (rather than after the last) keeps the
// epilogue correct when the residual aliases C (an in-place fused Add).
struct WriteBack {
  bool first = true;
  bool last = true;
  float beta = 0.f;                   // only read when first
  const float* bias_row = nullptr;    // indexed by the block's row
  const float* bias_col = nullptr;    // indexed by the block's column
  const float* residual = nullptr;    // the block's (0,0), leading dimension ldr
  int64_t ldr = 0;
  bool clamp = false;
  float lo = 0.f, hi = 0.f;
};

// One (mc x kc) by (kc x nc) block product: `a` is ceil(mc/MR) A panels (stride MR*kc), `b` is ceil(nc/NR) B panels
// (stride NR*kc), `c` is the block's (0,0) in C. Only the mc x nc valid elements of C are read or written.
struct Block {
  int64_t mc = 0, nc = 0, kc = 0;
  const float* a = nullptr;
  const float* b = nullptr;
  float* c = nullptr;
  int64_t ldc = 0;
  WriteBack wb;
};

// Matrix-vector primitives for the M == 1 and N == 1 shapes (no packing; memory bound). All write raw sums into y.
//   rows: y[n] = sum_k v[k] * X[k*ldx + n]                for n < N     (v^T X)
//   dots: y[m] = sum_k X[m*ldx + k] * v[k]                for m < M     (X v)
//   panels: y[m - m0] = sum_k A[m, k] * v[k] for a packed A (layout above, block size kc, padded rows Mp),
//           m0 <= m < m1, m0 a multiple of MR
// Packing of one block (layouts above): op(A) rows [m0, m0 + mc) times alpha, or op(B) columns [n0, n0 + nc), over
// K rows [pc, pc + kcb). op(A)[m, k] is A[m*lda + k], or A[k*lda + m] when trans; likewise op(B)[k, n].
using PackAFn = void (*)(const float* A, int64_t lda, bool trans, float alpha, int64_t m0, int64_t mc, int64_t pc,
                         int64_t kcb, float* dst);
using PackBFn = void (*)(const float* B, int64_t ldb, bool trans, int64_t n0, int64_t nc, int64_t pc, int64_t kcb,
                         float* dst);
// Portable packing (kernels/ref), also the fallback of the ISA-specific packers for the cases they do not speed up.
void pack_a_portable(const float* A, int64_t lda, bool trans, float alpha, int64_t m0, int64_t mc, int64_t pc,
                     int64_t kcb, float* dst);
void pack_b_portable(const float* B, int64_t ldb, bool trans, int64_t n0, int64_t nc, int64_t pc, int64_t kcb,
                     float* dst);

struct Kernels {
  void (*block)(const Block& blk);
  PackAFn pack_a;
  PackBFn pack_b;
  void (*gemv_rows)(int64_t K, int64_t N, const float* v, const float* X, int64_t ldx, float* y);
  void (*gemv_dots)(int64_t M, int64_t K, const float* X, int64_t ldx, const float* v, float* y);
  void (*gemv_panels)(int64_t m0, int64_t m1, int64_t K, int64_t kc, int64_t Mp, const float* A, const float* v, float* y);
  const char* name;
};

// dst[i] = float(src[i]) for IEEE binary16 src (half-precision packings, PackedA/PackedB::half). Exact.
void widen_half_portable(const uint16_t* src, int64_t n, float* dst);
#if defined(__x86_64__) || defined(_M_X64)
void widen_half_f16c(const uint16_t* src, int64_t n, float* dst);  // x86/sgemm-6x16-fma-avx2.cc (F16C)
#endif
#if defined(__aarch64__)
void widen_half_neon(const uint16_t* src, int64_t n, float* dst);  // arm/sgemm-6x16-neon.cc (fcvtl)
#endif

const Kernels& scalar_kernels();
#if defined(__x86_64__) || defined(_M_X64)
const Kernels& avx2_kernels();
#endif
#if defined(__aarch64__)
const Kernels& neon_kernels();  // arm/sgemm-6x16-neon.cc
#endif

// Tests only: makes every later call use `k` (nullptr restores the run-time choice). Not for concurrent use with
// running GEMMs.
void set_kernels_for_testing(const Kernels* k);

}  // namespace sgemm_internal
}  // namespace int8rt
