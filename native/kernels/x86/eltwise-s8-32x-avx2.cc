// Int8 elementwise loops, AVX2+FMA: 32 elements per step as four 8-lane float vectors (sign-extended int8 ->
// int32 -> float), one multiply or fused multiply-add, a clamp to [-128, 127], cvtps2dq (round half to even under the
// default MXCSR, as nearbyint) and a saturating pack back to 32 bytes. Tails run the scalar formula, which with
// -mfma compiles to the same single-rounding instructions.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/eltwise-s8.h"

namespace int8rt {

namespace {

inline int8_t round_sat(float v) {
  v = std::min(std::max(v, -128.f), 127.f);
  return int8_t(std::nearbyint(v));
}

inline __m256 load8(const int8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

// Clamps, rounds and packs four vectors (elements 0-7, 8-15, 16-23, 24-31) into 32 int8 in order.
inline __m256i pack32(__m256 v0, __m256 v1, __m256 v2, __m256 v3) {
  const __m256 lo = _mm256_set1_ps(-128.f), hi = _mm256_set1_ps(127.f);
  const __m256i q0 = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v0, lo), hi));
  const __m256i q1 = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v1, lo), hi));
  const __m256i q2 = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v2, lo), hi));
  const __m256i q3 = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v3, lo), hi));
  // packs work per 128-bit lane: the bytes come out as q0[0:4] q1[0:4] q2[0:4] q3[0:4] | q0[4:8] q1[4:8] ...
  const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
  return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

void add_avx2(const int8_t* a, bool a_vec, const int8_t* b, bool b_vec, int8_t* y, int64_t n, float ma, float mb) {
  if (n <= 0) return;
  const __m256 vma = _mm256_set1_ps(ma), vmb = _mm256_set1_ps(mb);
  // A repeated operand is scaled once.
  const __m256 ca = _mm256_mul_ps(_mm256_set1_ps(float(a[0])), vma);
  const __m256 cb = _mm256_set1_ps(float(b[0]));
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256 v[4];
    for (int k = 0; k < 4; k++) {
      const __m256 av = a_vec ? _mm256_mul_ps(load8(a + i + 8 * k), vma) : ca;
      const __m256 bv = b_vec ? load8(b + i + 8 * k) : cb;
      v[k] = _mm256_fmadd_ps(bv, vmb, av);
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), pack32(v[0], v[1], v[2], v[3]));
  }
  const int64_t sa = a_vec ? 1 : 0, sb = b_vec ? 1 : 0;
  for (; i < n; i++) y[i] = round_sat(std::fma(float(b[i * sb]), mb, float(a[i * sa]) * ma));
}

inline __m256i load8i(const int8_t* p) {
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

void mul_avx2(const int8_t* a, bool a_vec, const int8_t* b, bool b_vec, int8_t* y, int64_t n, float m) {
  if (n <= 0) return;
  const __m256 vm = _mm256_set1_ps(m);
  const __m256i ca = _mm256_set1_epi32(a[0]), cb = _mm256_set1_epi32(b[0]);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256 v[4];
    for (int k = 0; k < 4; k++) {
      const __m256i av = a_vec ? load8i(a + i + 8 * k) : ca;
      const __m256i bv = b_vec ? load8i(b + i + 8 * k) : cb;
      v[k] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_mullo_epi32(av, bv)), vm);
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), pack32(v[0], v[1], v[2], v[3]));
  }
  const int64_t sa = a_vec ? 1 : 0, sb = b_vec ? 1 : 0;
  for (; i < n; i++) y[i] = round_sat(float(int32_t(a[i * sa]) * int32_t(b[i * sb])) * m);
}

void rescale_avx2(const int8_t* x, int8_t* y, int64_t n, float m) {
  const __m256 vm = _mm256_set1_ps(m);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256 v0 = _mm256_mul_ps(load8(x + i), vm), v1 = _mm256_mul_ps(load8(x + i + 8), vm);
    const __m256 v2 = _mm256_mul_ps(load8(x + i + 16), vm), v3 = _mm256_mul_ps(load8(x + i + 24), vm);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), pack32(v0, v1, v2, v3));
  }
  for (; i < n; i++) y[i] = round_sat(float(x[i]) * m);
}

void quantize_avx2(const float* x, int8_t* y, int64_t n, float scale, int32_t zp) {
  const float lo = float(-128 - zp), hi = float(127 - zp);
  const __m256 vs = _mm256_set1_ps(scale), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
  const __m256i vzp = _mm256_set1_epi32(zp);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i q[4];
    for (int k = 0; k < 4; k++) {
      // max(v, lo) returns lo when v is NaN (the second operand), as the scalar comparisons do.
      __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i + 8 * k), vs);
      v = _mm256_min_ps(_mm256_max_ps(v, vlo), vhi);
      q[k] = _mm256_add_epi32(_mm256_cvtps_epi32(v), vzp);
    }
    const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i),
                        _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
  }
  for (; i < n; i++) {
    float v = x[i] / scale;
    v = v > lo ? v : lo;
    v = v < hi ? v : hi;
    y[i] = int8_t(int32_t(std::nearbyint(v)) + zp);
  }
}

void dequantize_avx2(const int8_t* x, float* y, int64_t n, float scale, int32_t zp) {
  const __m256 vs = _mm256_set1_ps(scale);
  const __m256i vzp = _mm256_set1_epi32(zp);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(load8i(x + i), vzp)), vs));
  for (; i < n; i++) y[i] = float(int32_t(x[i]) - zp) * scale;
}

}  // namespace

const EltwiseS8Kernels& eltwise_s8_avx2() {
  static const EltwiseS8Kernels k = {"avx2", &add_avx2, &mul_avx2, &rescale_avx2, &quantize_avx2, &dequantize_avx2};
  return k;
}

}  // namespace int8rt
