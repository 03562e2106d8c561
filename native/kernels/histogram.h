// Float32 primitives behind int8 calibration (quant/calibrator.cc): the range of a tensor and a histogram of |x|.
// The entry points pick the AVX2 versions (kernels/x86/histogram-f32-avx2.cc) at run time; the *_ref versions are
// the portable path and the test oracle. Both give identical results.
#pragma once
#include <cstddef>
#include <cstdint>

namespace int8rt {

// Signed minimum and maximum of x[0..n), and the largest |x| as an IEEE bit pattern with the sign cleared. For
// non-negative floats the bit pattern orders like the value and every NaN or infinity compares above every finite
// value, so `absmax_bits >= 0x7f800000` says "x holds a non-finite value" (min/max are then unspecified). n == 0
// gives min = +inf, max = -inf, absmax_bits = 0.
struct RangeF32 {
  float min, max;
  uint32_t absmax_bits;
};
RangeF32 range_f32(const float* x, size_t n);
RangeF32 range_f32_ref(const float* x, size_t n);

// Histogram of |x| for finite x: bin(x) = min(trunc(|x| * inv_width), nbins - 1) with the product rounded to float,
// so callers that pick inv_width with |x| * inv_width <= nbins (+ rounding) get no index past the last bin.
// Counts are added to `counts`, which holds kAbsHistogramCopies sub-histograms of nbins each, one after another:
// consecutive elements go to different copies so that runs of equal bins do not serialise on one counter (load, add,
// store); the caller sums the copies. x must be finite and n < 2^32. 1 <= nbins <= 2^24.
constexpr int kAbsHistogramCopies = 4;
void abs_histogram_f32(const float* x, size_t n, float inv_width, uint32_t nbins, uint32_t* counts);
void abs_histogram_f32_ref(const float* x, size_t n, float inv_width, uint32_t nbins, uint32_t* counts);

#if defined(__x86_64__) || defined(_M_X64)
RangeF32 range_f32_avx2(const float* x, size_t n);
void abs_histogram_f32_avx2(const float* x, size_t n, float inv_width, uint32_t nbins, uint32_t* counts);
#endif

}  // namespace int8rt
