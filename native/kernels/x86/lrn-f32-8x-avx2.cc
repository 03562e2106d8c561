// AVX2 LRN scaling (see kernels/lrn.h), 8 floats per vector. bias + scale * sq is one FMA (one rounding where the
// portable loop has two); square roots and divisions are the exact IEEE instructions, so results stay within a
// few ulp of lrn_scale_f32_ref's. Other betas fall back to it.
#include <immintrin.h>

#include "kernels/lrn.h"

namespace int8rt {

void lrn_scale_f32_avx2(const float* x, const float* sq, float* y, int64_t n, float bias, float scale, float beta) {
  if (beta != 0.75f && beta != 0.5f) return lrn_scale_f32_ref(x, sq, y, n, bias, scale, beta);
  const __m256 vb = _mm256_set1_ps(bias), vs = _mm256_set1_ps(scale);
  int64_t i = 0;
  if (beta == 0.75f) {
    for (; i + 8 <= n; i += 8) {
      const __m256 r = _mm256_sqrt_ps(_mm256_fmadd_ps(vs, _mm256_loadu_ps(sq + i), vb));
      _mm256_storeu_ps(y + i, _mm256_div_ps(_mm256_loadu_ps(x + i), _mm256_mul_ps(r, _mm256_sqrt_ps(r))));
    }
  } else {
    for (; i + 8 <= n; i += 8) {
      const __m256 r = _mm256_sqrt_ps(_mm256_fmadd_ps(vs, _mm256_loadu_ps(sq + i), vb));
      _mm256_storeu_ps(y + i, _mm256_div_ps(_mm256_loadu_ps(x + i), r));
    }
  }
  if (i < n) lrn_scale_f32_ref(x + i, sq + i, y + i, n - i, bias, scale, beta);
}

}  // namespace int8rt
