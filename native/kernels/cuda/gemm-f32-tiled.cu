// Batched float32 GEMM for MatMul and Gemm (params.h GemmF32Params): gemm_f32_tiled_16x16. Each 256-thread block
// computes a 16 x 16 tile of C; A and B pass through shared memory 16 k at a time (transposition handled at the
// load), and each thread accumulates its element with one fma per k, in k order. A plain tiled kernel: the float
// operators of the supported models (attention products, small projections) are a small share of their time.
#include "common.cuh"  // relative: the unity build (scripts/build-cuda.js) needs no -I

extern "C" __global__ void __launch_bounds__(256) gemm_f32_tiled_16x16(const int8rt::cuda_kernels::GemmF32Params p) {
  using namespace int8rt::cuda_kernels;
  __shared__ float as[16][17];
  __shared__ float bs[16][17];
  const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
  const long long m = (long long)blockIdx.y * 16 + ty, n = (long long)blockIdx.x * 16 + tx;
  long long aoff = 0, boff = 0, rest = blockIdx.z;
  for (int d = p.batch_rank - 1; d >= 0; d--) {
    const long long q = rest / p.batch_dims[d], idx = rest - q * p.batch_dims[d];
    rest = q;
    aoff += idx * p.a_bstrides[d];
    boff += idx * p.b_bstrides[d];
  }
  const float* A = reinterpret_cast<const float*>(p.a) + aoff;
  const float* B = reinterpret_cast<const float*>(p.b) + boff;
  float acc = 0.f;
  for (long long k0 = 0; k0 < p.K; k0 += 16) {
    // as[ty][tx] = A(m0 + ty, k0 + tx); bs[ty][tx] = B(k0 + ty, n0 + tx); zero outside.
    const long long am = (long long)blockIdx.y * 16 + ty, ak = k0 + tx;
    as[ty][tx] = am < p.M && ak < p.K ? (p.trans_a ? A[ak * p.lda + am] : A[am * p.lda + ak]) : 0.f;
    const long long bk = k0 + ty, bn = (long long)blockIdx.x * 16 + tx;
    bs[ty][tx] = bk < p.K && bn < p.N ? (p.trans_b ? B[bn * p.ldb + bk] : B[bk * p.ldb + bn]) : 0.f;
    __syncthreads();
    const long long kn = p.K - k0 < 16 ? p.K - k0 : 16;
    for (int k = 0; k < kn; k++) acc = __fmaf_rn(as[ty][k], bs[k][tx], acc);
    __syncthreads();
  }
  if (m >= p.M || n >= p.N) return;
  float v = p.alpha == 1.f ? acc : __fmul_rn(p.alpha, acc);
  if (p.bias) {
    const float c = reinterpret_cast<const float*>(p.bias)[m * p.bias_sm + n * p.bias_sn];
    v = __fadd_rn(v, p.beta == 1.f ? c : __fmul_rn(p.beta, c));
  }
  v = p.lo > v ? p.lo : v;
  v = p.hi < v ? p.hi : v;
  reinterpret_cast<float*>(p.c)[(long long)blockIdx.z * p.M * p.N + m * p.N + n] = v;
}
