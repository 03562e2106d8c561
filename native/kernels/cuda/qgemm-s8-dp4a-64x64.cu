// Int8 GEMM / implicit-GEMM convolution on dp4a (IDP.4A, every target): kernel qgemm_s8_dp4a_64x64.
//
// Contract: kernels/cuda/params.h (QGemmParams); result bit for bit that of kernels/qgemm.h's qgemm_ref_s8 /
// qgemm_ref_f32 / qgemm_ref_s32 on the same operands (for a conv, on the im2col matrix ops/int8_conv.cc builds).
//
// Tiling: a block of 256 threads computes a 64 x 64 tile of C over K in steps of 64. Per step the A tile (64 rows x
// 64 k, straight 16-byte loads from the packed weights) and the B tile (64 k x 64 columns, gathered a byte at a time:
// from a matrix directly, or for a convolution through the row table of common.cuh) are stored in shared memory as
// int32 words of 4 consecutive k, k-group-major, so that the inner loop reads one word per row and column and issues
// 4 x 4 dp4a per k group. The next step's tiles are loaded into registers while this step computes.
// Thread (tx, ty) = (t % 16, t / 16) owns rows ty + 16 i and columns tx + 16 j (i, j < 4): the shared reads are
// conflict-free broadcasts and the epilogue's stores are consecutive across a half warp.
// int32 accumulation wraps modulo 2^32 like the CPU's (dp4a adds in 32-bit two's complement).
#include "common.cuh"  // relative: the unity build (scripts/build-cuda.js) needs no -I

namespace int8rt {
namespace cuda_kernels {
namespace dp4a_64x64 {

constexpr int kBM = 64, kBN = 64, kBK = 64, kThreads = 256;  // the launch wrapper uses the same numbers
constexpr int kKG = kBK / 4;  // k groups (words) per step

struct Smem {
  int a[kKG][kBM];   // A[m0 + m, k0 + 4 g + e] at byte e of a[g][m]
  int b[kKG][kBN];   // B[k0 + 4 g + e, n0 + n] at byte e of b[g][n]
  int off[2][kBK];   // row tables of two consecutive steps (common.cuh)
  int dy[2][kBK];
  int dx[2][kBK];
};

// The kernel body; kConv selects the B operand: the implicit im2col through the row table, or a matrix read
// directly (no table).
template <bool kConv>
static __device__ __forceinline__ void body(const QGemmParams& p, Smem& s) {
  const int t = threadIdx.x;
  const long long m0 = (long long)blockIdx.y * kBM, n0 = (long long)blockIdx.x * kBN;
  const QGemmProblem q = qgemm_problem(p, blockIdx.z);
  const int K = int(p.K);

  // Loader roles. A: row t / 4, 16 bytes (4 words) at k 16 * (t % 4). B: column t % 64, k groups t / 64 + 4 i.
  const int a_row = t >> 2, a_quarter = t & 3;
  const bool a_in = m0 + a_row < p.M;
  const signed char* a_src = q.a + (m0 + a_row) * p.lda + 16 * a_quarter;
  const int b_col = t & 63, b_g0 = t >> 6;
  const BColumn col = b_column(p, n0 + b_col);                      // conv
  const bool col_ok = n0 + b_col < p.N;                             // matrix
  const signed char* b_src = q.b + (col_ok ? n0 + b_col : 0);       // matrix: column n of row 0
  const int ldb = kConv ? 0 : int(p.ldb);
  const int Kc = col_ok ? K : 0;  // matrix: a column past N reads no rows
  // This thread's B words of the step starting at k0: words b_g0 + 4 * i of its column (4 k each).
  auto load_b = [&](int k0, const int* off, const int* dy, const int* dx, int (&w)[4]) {
    if (kConv) {
#pragma unroll
      for (int i = 0; i < 4; i++) w[i] = b_word(q.b, col, off, dy, dx, 4 * (b_g0 + 4 * i), p.IH, p.IW);
    } else {
      const int kr = k0 + 4 * b_g0;
      const signed char* r = b_src + (long long)kr * ldb;
      const int left = Kc - kr;  // rows of this column from kr on that are inside K
#pragma unroll
      for (int i = 0; i < 4; i++) {
        int v[4];
#pragma unroll
        for (int e = 0; e < 4; e++) v[e] = 4 * (4 * i) + e < left ? int(r[(4 * (4 * i) + e) * ldb]) : 0;
        w[i] = pack4(v[0], v[1], v[2], v[3]);
      }
    }
  };

  const int steps = (K + kBK - 1) / kBK;
  int4 a_reg = make_int4(0, 0, 0, 0);
  int b_reg[4];
  if (steps > 0) {
    if (kConv) {
      if (t < kBK) b_row_entry(p, t, &s.off[0][t], &s.dy[0][t], &s.dx[0][t]);
      __syncthreads();
    }
    if (a_in) a_reg = __ldg(reinterpret_cast<const int4*>(a_src));
    load_b(0, s.off[0], s.dy[0], s.dx[0], b_reg);
  }

  const int tx = t & 15, ty = t >> 4;
  int acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 4; j++) acc[i][j] = 0;

  for (int step = 0; step < steps; step++) {
    const int nb = (step + 1) & 1;
    const bool more = step + 1 < steps;
    const int k1 = (step + 1) * kBK;  // first k of the next step
    // The next step's row table (its buffer was last read two steps ago, before the barriers since).
    if (kConv && more && t < kBK) b_row_entry(p, k1 + t, &s.off[nb][t], &s.dy[nb][t], &s.dx[nb][t]);
    s.a[4 * a_quarter + 0][a_row] = a_reg.x;
    s.a[4 * a_quarter + 1][a_row] = a_reg.y;
    s.a[4 * a_quarter + 2][a_row] = a_reg.z;
    s.a[4 * a_quarter + 3][a_row] = a_reg.w;
#pragma unroll
    for (int i = 0; i < 4; i++) s.b[b_g0 + 4 * i][b_col] = b_reg[i];
    __syncthreads();
    if (more) {
      a_reg = a_in ? __ldg(reinterpret_cast<const int4*>(a_src + k1)) : make_int4(0, 0, 0, 0);
      load_b(k1, s.off[nb], s.dy[nb], s.dx[nb], b_reg);
    }
#pragma unroll
    for (int g = 0; g < kKG; g++) {
      int a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; i++) a[i] = s.a[g][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; j++) b[j] = s.b[g][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = __dp4a(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < 4; i++) {
    const long long m = m0 + ty + 16 * i;
    if (m >= p.M) continue;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const long long n = n0 + tx + 16 * j;
      if (n < p.N) qgemm_store(p, q.c, q.r, q.bias, q.mult, m, n, acc[i][j]);
    }
  }
}

}  // namespace dp4a_64x64
}  // namespace cuda_kernels
}  // namespace int8rt

// Two entry points, one per B operand, so that each is register-allocated for its own loop:
//   qgemm_s8_dp4a_64x64         B a matrix (QGemmParams::conv == 0)
//   qgemm_s8_dp4a_64x64_im2col  B the implicit im2col of a convolution (conv == 1)
extern "C" __global__ void __launch_bounds__(int8rt::cuda_kernels::dp4a_64x64::kThreads)
qgemm_s8_dp4a_64x64(const int8rt::cuda_kernels::QGemmParams p) {
  using namespace int8rt::cuda_kernels::dp4a_64x64;
  __shared__ __align__(16) Smem s;
  body<false>(p, s);
}

extern "C" __global__ void __launch_bounds__(int8rt::cuda_kernels::dp4a_64x64::kThreads)
qgemm_s8_dp4a_64x64_im2col(const int8rt::cuda_kernels::QGemmParams p) {
  using namespace int8rt::cuda_kernels::dp4a_64x64;
  __shared__ __align__(16) Smem s;
  body<true>(p, s);
}
