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

// Histogram of |x|: bin(x) = min(trunc(|x| * inv_width), nbins - 1) with the product rounded to float, and in the
// same pass the range of x as range_f32 gives it (one read of x instead of two). Values past the top edge count in
// the last bin, so a caller that finds absmax above the top edge regrows the histogram and redoes the pass; non-finite
// values also count in the last bin (the caller discards the counts when absmax_bits says they are present).
// `counts` is scratch of abs_histogram_counts(nbins) entries: kAbsHistogramCopies sub-histograms of nbins each, one
// after another, then a few spare counters the kernel may use. Consecutive elements go to different copies, so that
// runs of equal bins do not serialise on one counter (load, add, store); the caller sums the copies. Counts are
// added (the caller zeroes the scratch); n < 2^32; 1 <= nbins <= 2^24.
constexpr int kAbsHistogramCopies = 4;
constexpr size_t abs_histogram_counts(uint32_t nbins) { return size_t(kAbsHistogramCopies) * nbins + 8; }
RangeF32 abs_histogram_f32(const float* x, size_t n, float inv_width, uint32_t nbins, uint32_t* counts);
RangeF32 abs_histogram_f32_ref(const float* x, size_t n, float inv_width, uint32_t nbins, uint32_t* counts);

// Adds the sub-histograms of `counts` (abs_histogram_counts(nbins) counters as abs_histogram_f32 leaves them) into
// bins[0..nbins) and zeroes all of `counts`, spare counters included: a scratch that is merged after every pass
// never needs clearing of its own. One pass over the scratch instead of a clear, a sum and an add.
void merge_abs_histogram(uint32_t* counts, uint32_t nbins, uint64_t* bins);
void merge_abs_histogram_ref(uint32_t* counts, uint32_t nbins, uint64_t* bins);

#if defined(__x86_64__) || defined(_M_X64)
RangeF32 range_f32_avx2(const float* x, size_t n);
RangeF32 abs_histogram_f32_avx2(const float* x, size_t n, float inv_width, uint32_t nbins, uint32_t* counts);
void merge_abs_histogram_avx2(uint32_t* counts, uint32_t nbins, uint64_t* bins);
#endif

}  // namespace int8rt
