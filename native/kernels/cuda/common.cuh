// Device helpers shared by the int8 CUDA kernels. Every .cu file of this folder includes this header and must also
// compile as part of one unity translation unit (scripts/build-cuda.js #includes them all), so everything here is
// `static __device__ __forceinline__` (no external symbols) and the header is guarded.
//
// Float arithmetic is spelled with the explicitly rounded intrinsics (__fmul_rn, __fmaf_rn, __fdiv_rn,
// __int2float_rn, __float2int_rn): nvcc may not contract or reassociate them, so each step is the single IEEE
// binary32 rounding the CPU reference performs (kernels/qgemm.h, kernels/eltwise-s8.h).
#ifndef INT8RT_KERNELS_CUDA_COMMON_CUH_
#define INT8RT_KERNELS_CUDA_COMMON_CUH_

#include "im2col-index.h"
#include "params.h"

namespace int8rt {
namespace cuda_kernels {

// (float)x of an int32, round to nearest even (the C++ conversion).
static __device__ __forceinline__ float i2f(int x) { return __int2float_rn(x); }

// Round half to even to int (cvt.rni.s32.f32), the CPU's nearbyint in the default rounding mode. Callers clamp first.
static __device__ __forceinline__ int rne(float v) { return __float2int_rn(v); }

// kernels/qgemm-internal.h epilogue_value: acc (+ bias, wrapping), * multiplier, + residual by one fma.
static __device__ __forceinline__ float epilogue_value(int acc, int bias, float multiplier, bool has_residual,
                                                       int residual, float rmul) {
  const int x = int(unsigned(acc) + unsigned(bias));
  float v = __fmul_rn(i2f(x), multiplier);
  if (has_residual) v = __fmaf_rn(i2f(residual), rmul, v);
  return v;
}

// kernels/qgemm-internal.h epilogue_s8: max(lo, v) then min(.., hi) in the operand order that sends NaN to lo.
static __device__ __forceinline__ signed char epilogue_s8(float v, float lo, float hi) {
  float c = lo < v ? v : lo;
  c = hi < c ? hi : c;
  return (signed char)rne(c);
}

// kernels/qgemm-internal.h epilogue_f32: the SGEMM clamp, NaN passes through.
static __device__ __forceinline__ float epilogue_f32(float v, float lo, float hi) {
  float c = lo > v ? lo : v;
  return hi < c ? hi : c;
}

// ops/int8_common.h round_sat_s8 / kernels/eltwise-s8.cc round_sat: std::min(std::max(v, -128), 127), then rne.
// (std::max(v, lo) is `v < lo ? lo : v`, std::min(v, hi) is `hi < v ? hi : v`: a NaN stays NaN and converts to 0 on
// both sides; the CPU's own NaN result is implementation-defined, so no test relies on it.)
static __device__ __forceinline__ signed char round_sat_s8(float v) {
  v = v < -128.f ? -128.f : v;
  v = 127.f < v ? 127.f : v;
  return (signed char)rne(v);
}

// Packs four int8 (low byte first) into one dp4a / mma operand word.
static __device__ __forceinline__ int pack4(int b0, int b1, int b2, int b3) {
  return int((unsigned(b0) & 0xffu) | ((unsigned(b1) & 0xffu) << 8) | ((unsigned(b2) & 0xffu) << 16) |
             (unsigned(b3) << 24));
}

// The four B elements of rows k..k+3 (table index t..t+3) of one column, packed as a dp4a / mma word.
static __device__ __forceinline__ int b_word(const signed char* img, const BColumn& col, const int* off,
                                             const int* dy, const int* dx, int t, int IH, int IW) {
  return pack4(b_value(img, col, off[t], dy[t], dx[t], IH, IW),
               b_value(img, col, off[t + 1], dy[t + 1], dx[t + 1], IH, IW),
               b_value(img, col, off[t + 2], dy[t + 2], dx[t + 2], IH, IW),
               b_value(img, col, off[t + 3], dy[t + 3], dx[t + 3], IH, IW));
}

// Writes one output element of the GEMM epilogue. acc is the raw accumulator of (m, n) of problem z; c_base /
// r_base point at the problem's C and residual (element 0, 0); m, n are inside [0, M) x [0, N).
static __device__ __forceinline__ void qgemm_store(const QGemmParams& p, void* c_base, const signed char* r_base,
                                                   const int* bias, const float* mult, long long m, long long n,
                                                   int acc) {
  if (p.out_kind == kQGemmOutS32) {
    static_cast<int*>(c_base)[m * p.ldc + n] = acc;
    return;
  }
  const float v = epilogue_value(acc, bias ? bias[m] : 0, mult[m], r_base != nullptr,
                                 r_base ? int(r_base[m * p.ldr + n]) : 0, p.residual_multiplier);
  if (p.out_kind == kQGemmOutF32)
    static_cast<float*>(c_base)[m * p.ldc + n] = epilogue_f32(v, p.lo, p.hi);
  else
    static_cast<signed char*>(c_base)[m * p.ldc + n] = epilogue_s8(v, p.lo, p.hi);
}

// Per-problem pointers of blockIdx.z.
struct QGemmProblem {
  const signed char* a;
  const signed char* b;
  void* c;
  const signed char* r;
  const int* bias;
  const float* mult;
};

static __device__ __forceinline__ QGemmProblem qgemm_problem(const QGemmParams& p, int z) {
  const int img = z / p.groups, g = z - img * p.groups;
  QGemmProblem q;
  q.a = reinterpret_cast<const signed char*>(p.a) + g * p.a_group_stride;
  q.b = reinterpret_cast<const signed char*>(p.b) + img * p.b_batch_stride + g * p.b_group_stride;
  const long long coff = img * p.c_batch_stride + g * p.c_group_stride;
  if (p.out_kind == kQGemmOutF32)
    q.c = reinterpret_cast<float*>(p.c) + coff;
  else if (p.out_kind == kQGemmOutS32)
    q.c = reinterpret_cast<int*>(p.c) + coff;
  else
    q.c = reinterpret_cast<signed char*>(p.c) + coff;
  q.r = p.residual ? reinterpret_cast<const signed char*>(p.residual) + img * p.r_batch_stride + g * p.r_group_stride
                   : nullptr;
  q.bias = p.bias ? reinterpret_cast<const int*>(p.bias) + g * p.M : nullptr;
  q.mult = reinterpret_cast<const float*>(p.multiplier) + g * p.M;
  return q;
}

}  // namespace cuda_kernels
}  // namespace int8rt

#endif  // INT8RT_KERNELS_CUDA_COMMON_CUH_
