// Portable range, |x| histogram and merge (see kernels/histogram.h), and the run-time choice of the AVX2 versions.
#include "kernels/histogram.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/cpu_features.h"

namespace int8rt {

RangeF32 range_f32_ref(const float* x, size_t n) {
  RangeF32 r{std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(), 0};
  for (size_t i = 0; i < n; i++) {
    uint32_t bits;
    std::memcpy(&bits, &x[i], 4);
    r.absmax_bits = std::max(r.absmax_bits, bits & 0x7fffffffu);
    r.min = std::min(r.min, x[i]);
    r.max = std::max(r.max, x[i]);
  }
  return r;
}

RangeF32 abs_histogram_f32_ref(const float* x, size_t n, float inv_width, uint32_t nbins, uint32_t* counts) {
  // The clamp happens in float (nbins - 1 is exact for nbins <= 2^24) with NaN taking the bound, so the conversion
  // never overflows and the result equals min(trunc(|x| * inv_width), nbins - 1), exactly as the AVX2 kernel
  // computes it.
  const float last = float(nbins - 1);
  for (size_t i = 0; i < n; i++) {
    const float p = std::fabs(x[i]) * inv_width;
    const float f = p < last ? p : last;
    counts[(i % kAbsHistogramCopies) * size_t(nbins) + uint32_t(f)]++;
  }
  return range_f32_ref(x, n);
}

void merge_abs_histogram_ref(uint32_t* counts, uint32_t nbins, uint64_t* bins) {
  for (int c = 0; c < kAbsHistogramCopies; c++) {
    uint32_t* s = counts + size_t(c) * nbins;
    for (uint32_t k = 0; k < nbins; k++) {
      bins[k] += s[k];
      s[k] = 0;
    }
  }
  std::fill(counts + size_t(kAbsHistogramCopies) * nbins, counts + abs_histogram_counts(nbins), 0u);
}

RangeF32 range_f32(const float* x, size_t n) {
#if defined(__x86_64__) || defined(_M_X64)
  if (use_avx2()) return range_f32_avx2(x, n);
#endif
  return range_f32_ref(x, n);
}

RangeF32 abs_histogram_f32(const float* x, size_t n, float inv_width, uint32_t nbins, uint32_t* counts) {
#if defined(__x86_64__) || defined(_M_X64)
  if (use_avx2()) return abs_histogram_f32_avx2(x, n, inv_width, nbins, counts);
#endif
  return abs_histogram_f32_ref(x, n, inv_width, nbins, counts);
}

void merge_abs_histogram(uint32_t* counts, uint32_t nbins, uint64_t* bins) {
#if defined(__x86_64__) || defined(_M_X64)
  if (use_avx2()) return merge_abs_histogram_avx2(counts, nbins, bins);
#endif
  merge_abs_histogram_ref(counts, nbins, bins);
}

}  // namespace int8rt
