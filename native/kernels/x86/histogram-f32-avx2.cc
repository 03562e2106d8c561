// AVX2 versions of the calibration primitives (declared in kernels/histogram.h), 8 floats per vector.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/histogram.h"

namespace int8rt {

RangeF32 range_f32_avx2(const float* x, size_t n) {
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  __m256 mn0 = _mm256_set1_ps(INFINITY), mn1 = mn0, mx0 = _mm256_set1_ps(-INFINITY), mx1 = mx0;
  __m256i ab0 = _mm256_setzero_si256(), ab1 = ab0;
  size_t i = 0;
  // Two accumulators per quantity hide the 3-4 cycle latency of min/max; the loop is load-bound past that.
  for (; i + 16 <= n; i += 16) {
    const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
    mn0 = _mm256_min_ps(mn0, a);
    mn1 = _mm256_min_ps(mn1, b);
    mx0 = _mm256_max_ps(mx0, a);
    mx1 = _mm256_max_ps(mx1, b);
    // Sign-cleared bit patterns are non-negative int32s, so the signed integer maximum orders them like |x|.
    ab0 = _mm256_max_epi32(ab0, _mm256_and_si256(_mm256_castps_si256(a), abs_mask));
    ab1 = _mm256_max_epi32(ab1, _mm256_and_si256(_mm256_castps_si256(b), abs_mask));
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 a = _mm256_loadu_ps(x + i);
    mn0 = _mm256_min_ps(mn0, a);
    mx0 = _mm256_max_ps(mx0, a);
    ab0 = _mm256_max_epi32(ab0, _mm256_and_si256(_mm256_castps_si256(a), abs_mask));
  }
  alignas(32) float mn[8], mx[8];
  alignas(32) uint32_t ab[8];
  _mm256_store_ps(mn, _mm256_min_ps(mn0, mn1));
  _mm256_store_ps(mx, _mm256_max_ps(mx0, mx1));
  _mm256_store_si256(reinterpret_cast<__m256i*>(ab), _mm256_max_epi32(ab0, ab1));
  RangeF32 r{mn[0], mx[0], ab[0]};
  for (int k = 1; k < 8; k++) {
    r.min = std::min(r.min, mn[k]);
    r.max = std::max(r.max, mx[k]);
    r.absmax_bits = std::max(r.absmax_bits, ab[k]);
  }
  for (; i < n; i++) {
    uint32_t bits;
    std::memcpy(&bits, &x[i], 4);
    r.absmax_bits = std::max(r.absmax_bits, bits & 0x7fffffffu);
    r.min = std::min(r.min, x[i]);
    r.max = std::max(r.max, x[i]);
  }
  return r;
}

// Bin indices are computed 8 at a time; the increments stay scalar (AVX2 has no scatter, and conflicts would need
// detection anyway). Two shortcuts matter on real activations: a vector whose 8 indices are all 0 (the zeros that
// follow a ReLU, often half of a tensor, and in long runs) costs one add, and bin-0 lanes of mixed vectors are
// counted with a popcount instead of 8 dependent increments of the same counter. Other lanes spread over the
// kAbsHistogramCopies sub-histograms by lane number.
void abs_histogram_f32_avx2(const float* x, size_t n, float inv_width, uint32_t nbins, uint32_t* counts) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 scale = _mm256_set1_ps(inv_width);
  const __m256 last = _mm256_set1_ps(float(nbins - 1));
  const __m256i zero = _mm256_setzero_si256();
  uint32_t* c[kAbsHistogramCopies];
  for (int k = 0; k < kAbsHistogramCopies; k++) c[k] = counts + size_t(k) * nbins;
  alignas(32) uint32_t idx[8];
  uint32_t bin0 = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 f = _mm256_min_ps(_mm256_mul_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask), scale), last);
    const __m256i v = _mm256_cvttps_epi32(f);
    const unsigned zm = unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(v, zero))));
    if (zm == 0xffu) {
      bin0 += 8;
      continue;
    }
    _mm256_store_si256(reinterpret_cast<__m256i*>(idx), v);
    if (zm == 0) {
      c[0][idx[0]]++;
      c[1][idx[1]]++;
      c[2][idx[2]]++;
      c[3][idx[3]]++;
      c[0][idx[4]]++;
      c[1][idx[5]]++;
      c[2][idx[6]]++;
      c[3][idx[7]]++;
      continue;
    }
    bin0 += uint32_t(__builtin_popcount(zm));
    for (unsigned m = ~zm & 0xffu; m; m &= m - 1) {
      const unsigned k = unsigned(__builtin_ctz(m));
      c[k & 3][idx[k]]++;
    }
  }
  const float lastf = float(nbins - 1);
  for (; i < n; i++) counts[uint32_t(std::min(std::fabs(x[i]) * inv_width, lastf))]++;
  counts[0] += bin0;
}

}  // namespace int8rt
