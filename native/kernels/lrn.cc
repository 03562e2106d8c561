#include "kernels/lrn.h"

#include <cmath>

#include "core/cpu_features.h"

namespace int8rt {

void lrn_scale_f32_ref(const float* x, const float* sq, float* y, int64_t n, float bias, float scale, float beta) {
  if (beta == 0.75f) {
    for (int64_t i = 0; i < n; i++) {
      const float r = std::sqrt(bias + scale * sq[i]);
      y[i] = x[i] / (r * std::sqrt(r));
    }
  } else if (beta == 0.5f) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] / std::sqrt(bias + scale * sq[i]);
  } else {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * std::pow(bias + scale * sq[i], -beta);
  }
}

void lrn_scale_f32(const float* x, const float* sq, float* y, int64_t n, float bias, float scale, float beta) {
#if defined(__x86_64__) || defined(_M_X64)
  if (use_avx2()) return lrn_scale_f32_avx2(x, sq, y, n, bias, scale, beta);
#endif
  lrn_scale_f32_ref(x, sq, y, n, bias, scale, beta);
}

}  // namespace int8rt
