// Float32 row reductions and softmax (params.h RowsF32Params): reduce_rows_f32 (ReduceSum / ReduceMean / ReduceMax
// over the innermost contiguous axes) and softmax_rows_f32 (Softmax over the last axis). One 256-thread block per
// row: each thread folds a strided slice of the row, then the 256 partials combine as a fixed tree in shared memory.
// The order is part of the contract (the emulator repeats it), so a row's result does not depend on the launch.
#include "common.cuh"  // relative: the unity build (scripts/build-cuda.js) needs no -I

namespace int8rt {
namespace cuda_kernels {
namespace rows_f32 {

// max with NaN propagating (either side), as the CPU's ReduceMax and Softmax see a NaN.
static __device__ __forceinline__ float max_nan(float a, float b) {
  if (a != a) return a;
  if (b != b) return b;
  return a < b ? b : a;
}

// Combines the block's 256 partials in `sh` as a tree; every thread gets the result.
template <bool kMax>
static __device__ __forceinline__ float tree(float* sh, float v) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = 128; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s)
      sh[threadIdx.x] = kMax ? max_nan(sh[threadIdx.x], sh[threadIdx.x + s]) : __fadd_rn(sh[threadIdx.x], sh[threadIdx.x + s]);
    __syncthreads();
  }
  const float r = sh[0];
  __syncthreads();  // sh is reused by the caller's next tree
  return r;
}

}  // namespace rows_f32
}  // namespace cuda_kernels
}  // namespace int8rt

extern "C" __global__ void __launch_bounds__(256) reduce_rows_f32(const int8rt::cuda_kernels::RowsF32Params p) {
  using namespace int8rt::cuda_kernels;
  __shared__ float sh[256];
  const long long row = blockIdx.x;
  const float* x = reinterpret_cast<const float*>(p.x) + row * p.cols;
  const bool is_max = p.op == kRowsMax;
  float acc = is_max ? -INFINITY : 0.f;
  for (long long j = threadIdx.x; j < p.cols; j += 256) acc = is_max ? rows_f32::max_nan(acc, x[j]) : __fadd_rn(acc, x[j]);
  const float r = is_max ? rows_f32::tree<true>(sh, acc) : rows_f32::tree<false>(sh, acc);
  if (threadIdx.x == 0)
    reinterpret_cast<float*>(p.y)[row] = p.op == kRowsMean ? __fdiv_rn(r, (float)p.cols) : r;
}

extern "C" __global__ void __launch_bounds__(256) softmax_rows_f32(const int8rt::cuda_kernels::RowsF32Params p) {
  using namespace int8rt::cuda_kernels;
  __shared__ float sh[256];
  const long long row = blockIdx.x;
  const float* x = reinterpret_cast<const float*>(p.x) + row * p.cols;
  float* y = reinterpret_cast<float*>(p.y) + row * p.cols;
  float m = -INFINITY;
  for (long long j = threadIdx.x; j < p.cols; j += 256) m = rows_f32::max_nan(m, x[j]);
  m = rows_f32::tree<true>(sh, m);
  float s = 0.f;
  for (long long j = threadIdx.x; j < p.cols; j += 256) {
    const float e = expf(__fsub_rn(x[j], m));
    y[j] = e;
    s = __fadd_rn(s, e);
  }
  s = rows_f32::tree<false>(sh, s);
  for (long long j = threadIdx.x; j < p.cols; j += 256) y[j] = __fdiv_rn(y[j], s);
}
