// Int8 GEMM / implicit-GEMM convolution on the int8 tensor cores: kernel qgemm_s8_imma_128x128.
//   sm_80 and later: mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 (IMMA.16832);
//   sm_75:           the same 16 x 8 x 32 step as four mma.sync.aligned.m8n8k16.row.col.s32.s8.s8.s32 (IMMA.8816),
//                    whose fragments are exactly the quarters of the m16n8k32 ones (see mma_16x8x32).
//
// Contract: kernels/cuda/params.h (QGemmParams); the result is bit for bit that of kernels/qgemm.h's references, as
// for the dp4a kernel (the tensor cores add the exact int32 products; the int32 sum wraps modulo 2^32, so the order
// of the additions does not matter).
//
// Tiling: 256 threads (8 warps) compute a 128 x 128 tile of C over K in steps of 64 (two mma k-steps). Warp w owns
// rows 64 (w / 4) .. +64 and columns 32 (w % 4) .. +32: 4 x 4 m16n8 accumulator tiles, 64 int32 registers.
// Shared memory holds the step's A tile row-major (128 rows x 64 k) and its B tile column-major (128 columns x 64 k,
// i.e. k-contiguous per column, the "col" operand): both with rows padded from 64 to 80 bytes so that the fragment
// loads below (a lane reads word tq of row g, with g = lane / 4, tq = lane % 4) hit 32 distinct banks. Fragments are
// read with plain 32-bit shared loads, no ldmatrix. A is loaded with 16-byte loads from the packed weights; B is
// gathered a byte at a time, four k per word: from a matrix directly, or for a convolution through the row table of
// common.cuh. The next
// step's tiles are loaded into registers while this step's mma run.
//
// Fragment layouts (PTX ISA, "Matrix Fragments for mma.m16n8k32", 8-bit types), g = lane / 4, tq = lane % 4:
//   A (16 x 32, row): a0 = A[g][4tq..4tq+3], a1 = A[g+8][4tq..], a2 = A[g][16+4tq..], a3 = A[g+8][16+4tq..]
//   B (32 x 8, col):  b0 = B[4tq..4tq+3][g], b1 = B[16+4tq..16+4tq+3][g]
//   C (16 x 8, s32):  c0 = C[g][2tq], c1 = C[g][2tq+1], c2 = C[g+8][2tq], c3 = C[g+8][2tq+1]
// (byte j of a word is the element of k offset j).
#include "common.cuh"  // relative: the unity build (scripts/build-cuda.js) needs no -I

namespace int8rt {
namespace cuda_kernels {
namespace imma_128x128 {

constexpr int kBM = 128, kBN = 128, kBK = 64, kThreads = 256;  // the launch wrapper uses the same numbers
constexpr int kRowWords = kBK / 4 + 4;                           // 64 k + 16 bytes of padding, in words

struct Smem {
  int a[kBM * kRowWords];  // A[m0 + m, k0 + 4 w + e] at byte e of a[m * kRowWords + w]
  int b[kBN * kRowWords];  // B[k0 + 4 w + e, n0 + n] at byte e of b[n * kRowWords + w]
  int off[2][kBK];         // row tables of two consecutive steps (common.cuh)
  int dy[2][kBK];
  int dx[2][kBK];
};

// d (16 x 8 int32) += a (16 x 32) * b (32 x 8), fragments as above.
static __device__ __forceinline__ void mma_16x8x32(int (&d)[4], const int (&a)[4], const int (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#elif defined(__CUDA_ARCH__)
  // m8n8k16: A (8 x 16, row) one word = A[g][4tq..], B (16 x 8, col) one word = B[4tq..][g], C (8 x 8) two words
  // C[g][2tq], C[g][2tq+1]. Rows 0-7 of the 16 x 8 x 32 step are a0 (k 0-15) and a2 (k 16-31) against b0 and b1,
  // rows 8-15 are a1 and a3.
  asm("mma.sync.aligned.m8n8k16.row.col.s32.s8.s8.s32 {%0, %1}, {%2}, {%3}, {%0, %1};\n"
      : "+r"(d[0]), "+r"(d[1]) : "r"(a[0]), "r"(b[0]));
  asm("mma.sync.aligned.m8n8k16.row.col.s32.s8.s8.s32 {%0, %1}, {%2}, {%3}, {%0, %1};\n"
      : "+r"(d[0]), "+r"(d[1]) : "r"(a[2]), "r"(b[1]));
  asm("mma.sync.aligned.m8n8k16.row.col.s32.s8.s8.s32 {%0, %1}, {%2}, {%3}, {%0, %1};\n"
      : "+r"(d[2]), "+r"(d[3]) : "r"(a[1]), "r"(b[0]));
  asm("mma.sync.aligned.m8n8k16.row.col.s32.s8.s8.s32 {%0, %1}, {%2}, {%3}, {%0, %1};\n"
      : "+r"(d[2]), "+r"(d[3]) : "r"(a[3]), "r"(b[1]));
#else
  (void)d;
  (void)a;
  (void)b;
#endif
}

// The kernel body; kConv selects the B operand: the implicit im2col through the row table, or a matrix read
// directly (no table).
template <bool kConv>
static __device__ __forceinline__ void body(const QGemmParams& p, Smem& s) {
  const int t = threadIdx.x;
  const long long m0 = (long long)blockIdx.y * kBM, n0 = (long long)blockIdx.x * kBN;
  const QGemmProblem q = qgemm_problem(p, blockIdx.z);
  const int K = int(p.K);

  // Loader roles. A: two 16-byte pieces, piece t + 256 i = row (t + 256 i) / 4, k 16 * (t % 4).
  // B: column t % 128, k groups (words) t / 128 + 2 i, i < 8.
  const int a_row0 = t >> 2, a_quarter = t & 3;
  const bool a_in0 = m0 + a_row0 < p.M, a_in1 = m0 + a_row0 + 64 < p.M;
  const signed char* a_src0 = q.a + (m0 + a_row0) * p.lda + 16 * a_quarter;
  // Row a_row0 + 64. (Kept as a pointer for the im2col kernel and as a 32-bit offset for the matrix one: that is what
  // lets ptxas fit each in 128 registers without spilling, on every target. lda < 2^24: the launch wrapper's K bound.)
  const signed char* a_src1 = kConv ? a_src0 + 64 * p.lda : a_src0;
  const int a_off1 = kConv ? 0 : 64 * int(p.lda);
  const int b_col = t & 127, b_w0 = t >> 7;
  const BColumn col = b_column(p, n0 + b_col);                      // conv
  const bool col_ok = n0 + b_col < p.N;                             // matrix
  const signed char* b_src = q.b + (col_ok ? n0 + b_col : 0);       // matrix: column n of row 0
  const int ldb = kConv ? 0 : int(p.ldb);
  const int Kc = col_ok ? K : 0;  // matrix: a column past N reads no rows
  // This thread's B words of the step starting at k0: words b_w0 + 2 * i of its column (4 k each).
  auto load_b = [&](int k0, const int* off, const int* dy, const int* dx, int (&w)[8]) {
    if (kConv) {
#pragma unroll
      for (int i = 0; i < 8; i++) w[i] = b_word(q.b, col, off, dy, dx, 4 * (b_w0 + 2 * i), p.IH, p.IW);
    } else {
      // Word i holds rows kr + 8 i .. + 3: one pointer walked down the column (8 rows per word).
      const int kr = k0 + 4 * b_w0;
      const signed char* r = b_src + (long long)kr * ldb;
      const int left = Kc - kr;  // rows of this column from kr on that are inside K
#pragma unroll
      for (int i = 0; i < 8; i++) {
        int v[4];
#pragma unroll
        for (int e = 0; e < 4; e++) v[e] = 8 * i + e < left ? int(r[e * ldb]) : 0;
        w[i] = pack4(v[0], v[1], v[2], v[3]);
        r += 8 * ldb;
      }
    }
  };

  const int steps = (K + kBK - 1) / kBK;
  int4 a_reg0 = make_int4(0, 0, 0, 0), a_reg1 = make_int4(0, 0, 0, 0);
  int b_reg[8];
  if (steps > 0) {
    if (kConv) {
      if (t < kBK) b_row_entry(p, t, &s.off[0][t], &s.dy[0][t], &s.dx[0][t]);
      __syncthreads();
    }
    if (a_in0) a_reg0 = __ldg(reinterpret_cast<const int4*>(a_src0));
    if (a_in1) a_reg1 = __ldg(reinterpret_cast<const int4*>(a_src1 + a_off1));
    load_b(0, s.off[0], s.dy[0], s.dx[0], b_reg);
  }

  const int lane = t & 31, warp = t >> 5;
  const int g = lane >> 2, tq = lane & 3;
  const int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;
  int acc[4][4][4];
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
      for (int r = 0; r < 4; r++) acc[i][j][r] = 0;

  for (int step = 0; step < steps; step++) {
    const int nb = (step + 1) & 1;
    const bool more = step + 1 < steps;
    const int k1 = (step + 1) * kBK;  // first k of the next step
    if (kConv && more && t < kBK) b_row_entry(p, k1 + t, &s.off[nb][t], &s.dy[nb][t], &s.dx[nb][t]);
    *reinterpret_cast<int4*>(&s.a[a_row0 * kRowWords + 4 * a_quarter]) = a_reg0;
    *reinterpret_cast<int4*>(&s.a[(a_row0 + 64) * kRowWords + 4 * a_quarter]) = a_reg1;
#pragma unroll
    for (int i = 0; i < 8; i++) s.b[b_col * kRowWords + b_w0 + 2 * i] = b_reg[i];
    __syncthreads();
    if (more) {
      a_reg0 = a_in0 ? __ldg(reinterpret_cast<const int4*>(a_src0 + k1)) : make_int4(0, 0, 0, 0);
      a_reg1 = a_in1 ? __ldg(reinterpret_cast<const int4*>(a_src1 + a_off1 + k1)) : make_int4(0, 0, 0, 0);
      load_b(k1, s.off[nb], s.dy[nb], s.dx[nb], b_reg);
    }
#pragma unroll
    for (int ks = 0; ks < 2; ks++) {
      const int kw0 = 8 * ks;  // word offset of this 32-k half
      // B fragments of the warp's 4 column tiles, then one row tile's A fragment at a time (register pressure).
      int bf[4][2];
#pragma unroll
      for (int j = 0; j < 4; j++) {
        const int c = wn + 8 * j + g;
        bf[j][0] = s.b[c * kRowWords + kw0 + tq];
        bf[j][1] = s.b[c * kRowWords + kw0 + 4 + tq];
      }
#pragma unroll
      for (int i = 0; i < 4; i++) {
        const int r = wm + 16 * i + g;
        int af[4];
        af[0] = s.a[r * kRowWords + kw0 + tq];
        af[1] = s.a[(r + 8) * kRowWords + kw0 + tq];
        af[2] = s.a[r * kRowWords + kw0 + 4 + tq];
        af[3] = s.a[(r + 8) * kRowWords + kw0 + 4 + tq];
#pragma unroll
        for (int j = 0; j < 4; j++) mma_16x8x32(acc[i][j], af, bf[j]);
      }
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const long long m = m0 + wm + 16 * i + g + 8 * h;
      if (m >= p.M) continue;
#pragma unroll
      for (int j = 0; j < 4; j++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
          const long long n = n0 + wn + 8 * j + 2 * tq + e;
          if (n < p.N) qgemm_store(p, q.c, q.r, q.bias, q.mult, m, n, acc[i][j][2 * h + e]);
        }
    }
}

}  // namespace imma_128x128
}  // namespace cuda_kernels
}  // namespace int8rt

// Two entry points, one per B operand, so that each is register-allocated for its own loop:
//   qgemm_s8_imma_128x128         B a matrix (QGemmParams::conv == 0)
//   qgemm_s8_imma_128x128_im2col  B the implicit im2col of a convolution (conv == 1)
extern "C" __global__ void __launch_bounds__(int8rt::cuda_kernels::imma_128x128::kThreads, 2)
qgemm_s8_imma_128x128(const int8rt::cuda_kernels::QGemmParams p) {
  using namespace int8rt::cuda_kernels::imma_128x128;
  __shared__ __align__(16) Smem s;
  body<false>(p, s);
}

extern "C" __global__ void __launch_bounds__(int8rt::cuda_kernels::imma_128x128::kThreads, 2)
qgemm_s8_imma_128x128_im2col(const int8rt::cuda_kernels::QGemmParams p) {
  using namespace int8rt::cuda_kernels::imma_128x128;
  __shared__ __align__(16) Smem s;
  body<true>(p, s);
}
