#include "kernels/softmax.h"

#include <cmath>

#include "core/cpu_features.h"

namespace int8rt {

float vec_max_f32_ref(const float* x, int64_t n) {
  // Lane-split so that the compiler can keep several maxima in vector registers.
  constexpr int kLanes = 16;
  float m = -INFINITY;
  int64_t i = 0;
  if (n >= kLanes) {
    float lane[kLanes];
    for (int l = 0; l < kLanes; l++) lane[l] = -INFINITY;
    for (; i + kLanes <= n; i += kLanes)
      for (int l = 0; l < kLanes; l++) lane[l] = lane[l] < x[i + l] ? x[i + l] : lane[l];
    for (int l = 0; l < kLanes; l++) m = m < lane[l] ? lane[l] : m;
  }
  for (; i < n; i++) m = m < x[i] ? x[i] : m;
  return m;
}

float vec_exp_shift_sum_f32_ref(const float* x, float shift, float* y, int64_t n) {
  float sum = 0.f;
  for (int64_t i = 0; i < n; i++) {
    float e = std::exp(x[i] - shift);
    if (y) y[i] = e;
    sum += e;
  }
  return sum;
}

void vec_exp_f32_ref(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = std::exp(x[i]);
}

#if defined(__x86_64__) || defined(_M_X64)
float vec_max_f32(const float* x, int64_t n) { return use_avx2() ? vec_max_f32_avx2(x, n) : vec_max_f32_ref(x, n); }
float vec_exp_shift_sum_f32(const float* x, float shift, float* y, int64_t n) {
  return use_avx2() ? vec_exp_shift_sum_f32_avx2(x, shift, y, n) : vec_exp_shift_sum_f32_ref(x, shift, y, n);
}
void vec_exp_f32(const float* x, float* y, int64_t n) {
  if (use_avx2())
    vec_exp_f32_avx2(x, y, n);
  else
    vec_exp_f32_ref(x, y, n);
}
#else
float vec_max_f32(const float* x, int64_t n) { return vec_max_f32_ref(x, n); }
float vec_exp_shift_sum_f32(const float* x, float shift, float* y, int64_t n) {
  return vec_exp_shift_sum_f32_ref(x, shift, y, n);
}
void vec_exp_f32(const float* x, float* y, int64_t n) { vec_exp_f32_ref(x, y, n); }
#endif

}  // namespace int8rt
