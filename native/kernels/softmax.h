// Float32 row primitives behind Softmax, LogSoftmax and ReduceLogSumExp: a maximum, exponentials shifted by a
// constant (the numerically stable softmax form), and plain elementwise exponentials. The entry points pick the
// AVX2+FMA versions (kernels/x86/softmax-f32-8x-avx2.cc) at run time; the *_ref versions use std::exp and serve
// as the portable path and the test oracle.
//
// The AVX2 exponential is a Cephes-style range reduction with a degree-6 polynomial: within 2 ulp of expf over
// the finite range, exact 0 below -87.33 (where expf turns denormal), +inf above 88.72, NaN propagated.
#pragma once
#include <cstdint>

namespace int8rt {

// max(x[0..n)), or -inf when n == 0.
float vec_max_f32(const float* x, int64_t n);
// Returns sum(exp(x[i] - shift)); also stores each exp(x[i] - shift) to y[i] when y is not null (y may equal x).
float vec_exp_shift_sum_f32(const float* x, float shift, float* y, int64_t n);
// y[i] = exp(x[i]) (y may equal x).
void vec_exp_f32(const float* x, float* y, int64_t n);

float vec_max_f32_ref(const float* x, int64_t n);
float vec_exp_shift_sum_f32_ref(const float* x, float shift, float* y, int64_t n);
void vec_exp_f32_ref(const float* x, float* y, int64_t n);

#if defined(__x86_64__) || defined(_M_X64)
float vec_max_f32_avx2(const float* x, int64_t n);
float vec_exp_shift_sum_f32_avx2(const float* x, float shift, float* y, int64_t n);
void vec_exp_f32_avx2(const float* x, float* y, int64_t n);
#endif

}  // namespace int8rt
