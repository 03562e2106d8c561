// The LRN scaling step: y[i] = x[i] * (bias + scale * sq[i])^(-beta), sq being the cross-channel window sum of
// squares. beta = 0.75 (AlexNet, GoogLeNet) and 0.5 take exact square roots instead of pow. The entry point picks
// the AVX2 version (kernels/x86/lrn-f32-8x-avx2.cc) at run time; lrn_scale_f32_ref is the portable path and
// the oracle (the two agree within a few ulp).
#pragma once
#include <cstdint>

namespace int8rt {

void lrn_scale_f32(const float* x, const float* sq, float* y, int64_t n, float bias, float scale, float beta);
void lrn_scale_f32_ref(const float* x, const float* sq, float* y, int64_t n, float bias, float scale, float beta);
#if defined(__x86_64__) || defined(_M_X64)
void lrn_scale_f32_avx2(const float* x, const float* sq, float* y, int64_t n, float bias, float scale, float beta);
#endif

}  // namespace int8rt
