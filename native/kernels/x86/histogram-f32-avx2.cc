// AVX2 versions of the calibration primitives (declared in kernels/histogram.h), 8 floats (or counters) per vector.
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
// detection anyway), eight per vector with no branch, indices taken out of the register two at a time. Lanes k and
// k + 4 go to copy k. Bin 0 is special: it holds the zeros that follow a ReLU, often half of a tensor, and eight
// increments of one counter per vector would be a chain of store-to-load dependencies. So bin-0 lanes are counted
// with a popcount and their increments go to eight spare counters, one per lane, whose values are ignored. The loop
// runs at about one increment per cycle whatever the data; the range accumulators ride along for free.
RangeF32 abs_histogram_f32_avx2(const float* x, size_t n, float inv_width, uint32_t nbins, uint32_t* counts) {
  const __m256i abs_bits = _mm256_set1_epi32(0x7fffffff);
  const __m256 scale = _mm256_set1_ps(inv_width);
  const __m256 last = _mm256_set1_ps(float(nbins - 1));
  const int nb = int(nbins);
  const __m256i copy_offset = _mm256_setr_epi32(0, nb, 2 * nb, 3 * nb, 0, nb, 2 * nb, 3 * nb);
  const __m256i spare = _mm256_add_epi32(_mm256_set1_epi32(kAbsHistogramCopies * nb),
                                         _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const __m256i zero = _mm256_setzero_si256();
  __m256 mn = _mm256_set1_ps(INFINITY), mx = _mm256_set1_ps(-INFINITY);
  __m256i ab = _mm256_setzero_si256();
  uint32_t bin0 = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256i a = _mm256_and_si256(_mm256_castps_si256(v), abs_bits);
    mn = _mm256_min_ps(mn, v);
    mx = _mm256_max_ps(mx, v);
    ab = _mm256_max_epi32(ab, a);
    // min(NaN, last) is last: non-finite values land in the last bin, never out of range.
    const __m256i b = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_mul_ps(_mm256_castsi256_ps(a), scale), last));
    const __m256i z = _mm256_cmpeq_epi32(b, zero);
    bin0 += uint32_t(__builtin_popcount(unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(z)))));
    const __m256i w = _mm256_blendv_epi8(_mm256_add_epi32(b, copy_offset), spare, z);
    const __m128i lo = _mm256_castsi256_si128(w), hi = _mm256_extracti128_si256(w, 1);
    const uint64_t p0 = uint64_t(_mm_cvtsi128_si64(lo)), p1 = uint64_t(_mm_extract_epi64(lo, 1));
    const uint64_t p2 = uint64_t(_mm_cvtsi128_si64(hi)), p3 = uint64_t(_mm_extract_epi64(hi, 1));
    counts[uint32_t(p0)]++;
    counts[p0 >> 32]++;
    counts[uint32_t(p1)]++;
    counts[p1 >> 32]++;
    counts[uint32_t(p2)]++;
    counts[p2 >> 32]++;
    counts[uint32_t(p3)]++;
    counts[p3 >> 32]++;
  }
  alignas(32) float mns[8], mxs[8];
  alignas(32) uint32_t abs_[8];
  _mm256_store_ps(mns, mn);
  _mm256_store_ps(mxs, mx);
  _mm256_store_si256(reinterpret_cast<__m256i*>(abs_), ab);
  RangeF32 r{mns[0], mxs[0], abs_[0]};
  for (int k = 1; k < 8; k++) {
    r.min = std::min(r.min, mns[k]);
    r.max = std::max(r.max, mxs[k]);
    r.absmax_bits = std::max(r.absmax_bits, abs_[k]);
  }
  const float lastf = float(nbins - 1);
  for (; i < n; i++) {
    uint32_t bits;
    std::memcpy(&bits, &x[i], 4);
    r.absmax_bits = std::max(r.absmax_bits, bits & 0x7fffffffu);
    r.min = std::min(r.min, x[i]);
    r.max = std::max(r.max, x[i]);
    const float p = std::fabs(x[i]) * inv_width;
    counts[uint32_t(p < lastf ? p : lastf)]++;
  }
  counts[0] += bin0;
  return r;
}

// The copies are summed in 32 bits (each counts at most n < 2^32 values, and the caller merges after every pass,
// so their sum fits too), widened, and added to the 64-bit bins; the copies are cleared as they are read.
void merge_abs_histogram_avx2(uint32_t* counts, uint32_t nbins, uint64_t* bins) {
  static_assert(kAbsHistogramCopies == 4, "the merge below sums four copies");
  uint32_t* c0 = counts;
  uint32_t* c1 = c0 + nbins;
  uint32_t* c2 = c1 + nbins;
  uint32_t* c3 = c2 + nbins;
  const __m256i zero = _mm256_setzero_si256();
  uint32_t k = 0;
  for (; k + 8 <= nbins; k += 8) {
    const __m256i s01 = _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c0 + k)),
                                         _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c1 + k)));
    const __m256i s23 = _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c2 + k)),
                                         _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c3 + k)));
    const __m256i s = _mm256_add_epi32(s01, s23);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c0 + k), zero);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c1 + k), zero);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c2 + k), zero);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c3 + k), zero);
    const __m256i lo = _mm256_cvtepu32_epi64(_mm256_castsi256_si128(s));
    const __m256i hi = _mm256_cvtepu32_epi64(_mm256_extracti128_si256(s, 1));
    __m256i* b = reinterpret_cast<__m256i*>(bins + k);
    _mm256_storeu_si256(b, _mm256_add_epi64(_mm256_loadu_si256(b), lo));
    _mm256_storeu_si256(b + 1, _mm256_add_epi64(_mm256_loadu_si256(b + 1), hi));
  }
  for (; k < nbins; k++) {
    bins[k] += uint64_t(c0[k]) + c1[k] + c2[k] + c3[k];
    c0[k] = c1[k] = c2[k] = c3[k] = 0;
  }
  for (size_t j = size_t(kAbsHistogramCopies) * nbins; j < abs_histogram_counts(nbins); j++) counts[j] = 0;
}

}  // namespace int8rt
