// Float32 elementwise kernels (params.h EltwiseF32Params): eltwise_binary_f32 (Add, Sub, Mul, Div, Max, Min, Pow with
// numpy broadcasting) and eltwise_unary_f32 (the activations and math functions of ops/cuda/eltwise_f32.cc). One
// thread per output element in a grid-stride loop; the operation is a launch parameter, uniform across the grid, so
// the switch costs one well-predicted branch per element. Single-rounding operations use the _rn intrinsics so that
// nvcc cannot contract or reorder them: they equal the CPU bit for bit.
#include "common.cuh"  // relative: the unity build (scripts/build-cuda.js) needs no -I

namespace int8rt {
namespace cuda_kernels {
namespace eltwise_f32 {

// Element offsets of output i in the two inputs (EltwiseParams' addressing).
static __device__ __forceinline__ void offsets(const EltwiseF32Params& p, long long i, long long* ia, long long* ib) {
  if (p.rank == 0) {
    *ia = i * p.a_step;
    *ib = i * p.b_step;
    return;
  }
  long long oa = 0, ob = 0, rest = i;
  for (int d = p.rank - 1; d >= 0; d--) {
    const long long n = p.dims[d];
    const long long q = rest / n, idx = rest - q * n;
    rest = q;
    oa += idx * p.a_strides[d];
    ob += idx * p.b_strides[d];
  }
  *ia = oa;
  *ib = ob;
}

// Max / Min as the CPU's loops select (ops/elementwise_binary.cc): a NaN in a is returned, otherwise the comparison
// picks (a NaN in b then wins too; of equal operands, b).
static __device__ __forceinline__ float fmax_nan(float a, float b) {
  if (a != a) return a;
  return a > b ? a : b;
}
static __device__ __forceinline__ float fmin_nan(float a, float b) {
  if (a != a) return a;
  return a < b ? a : b;
}

static __device__ __forceinline__ float binary(int op, float a, float b) {
  switch (op) {
    case kF32Add: return __fadd_rn(a, b);
    case kF32Sub: return __fsub_rn(a, b);
    case kF32Mul: return __fmul_rn(a, b);
    case kF32Div: return __fdiv_rn(a, b);
    case kF32Max: return fmax_nan(a, b);
    case kF32Min: return fmin_nan(a, b);
    default: return powf(a, b);  // kF32Pow
  }
}

static __device__ __forceinline__ float clamp01(float t) {
  t = t < 0.f ? 0.f : t;
  return t > 1.f ? 1.f : t;
}

static __device__ __forceinline__ float unary(int op, float v, float alpha, float beta) {
  switch (op) {
    case kF32Relu: return v < 0.f ? 0.f : v;
    case kF32LeakyRelu: return v < 0.f ? __fmul_rn(alpha, v) : v;
    case kF32Sigmoid:
      if (v >= 0.f) return __fdiv_rn(1.f, __fadd_rn(1.f, expf(-v)));
      {
        const float e = expf(v);
        return __fdiv_rn(e, __fadd_rn(1.f, e));
      }
    case kF32Tanh: return tanhf(v);
    case kF32HardSigmoid: return clamp01(__fadd_rn(__fmul_rn(alpha, v), beta));
    case kF32HardSwish: return __fmul_rn(v, clamp01(__fadd_rn(__fdiv_rn(v, 6.f), 0.5f)));
    case kF32Sqrt: return __fsqrt_rn(v);
    case kF32Exp: return expf(v);
    case kF32Neg: return -v;
    case kF32Abs: return fabsf(v);
    case kF32Reciprocal: return __fdiv_rn(1.f, v);
    case kF32Erf: return erff(v);
    case kF32Clip: {
      const float c = v < alpha ? alpha : v;
      return c > beta ? beta : c;
    }
    case kF32Square: return __fmul_rn(v, v);
    default: return __fmul_rn(__fmul_rn(v, v), v);  // kF32Cube
  }
}

}  // namespace eltwise_f32
}  // namespace cuda_kernels
}  // namespace int8rt

extern "C" __global__ void __launch_bounds__(256) eltwise_binary_f32(const int8rt::cuda_kernels::EltwiseF32Params p) {
  using namespace int8rt::cuda_kernels;
  const float* a = reinterpret_cast<const float*>(p.a);
  const float* b = reinterpret_cast<const float*>(p.b);
  float* y = reinterpret_cast<float*>(p.y);
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < p.n;
       i += (long long)gridDim.x * blockDim.x) {
    long long ia, ib;
    eltwise_f32::offsets(p, i, &ia, &ib);
    y[i] = eltwise_f32::binary(p.op, a[ia], b[ib]);
  }
}

extern "C" __global__ void __launch_bounds__(256) eltwise_unary_f32(const int8rt::cuda_kernels::EltwiseF32Params p) {
  using namespace int8rt::cuda_kernels;
  const float* a = reinterpret_cast<const float*>(p.a);
  float* y = reinterpret_cast<float*>(p.y);
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < p.n;
       i += (long long)gridDim.x * blockDim.x) {
    long long ia, ib;
    eltwise_f32::offsets(p, i, &ia, &ib);
    y[i] = eltwise_f32::unary(p.op, a[ia], p.alpha, p.beta);
  }
}
