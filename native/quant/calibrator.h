// Int8 calibration: streaming per-tensor statistics of float32 activations, and the range (amax) each calibration
// method derives from them. Activations are quantized symmetrically (scale = amax / 127, quant/qnode.h), so a range
// is one number per tensor: the |x| at which int8 saturates.
//
// Collection. A Calibrator is an Engine RunObserver: every run sees each float32 value once, and the calibrator
// folds it into that tensor's TensorStats. Memory stays bounded whatever the number of samples: per tensor, a
// min/max and a histogram of |x| with at most kMaxBins bins. The histogram follows NVIDIA's pytorch-quantization
// (calib/histogram.py): kInitialBins bins over [0, max|x| of the first batch]; when a later batch goes past the top
// edge, bins of the same width are appended; past kMaxBins, pairs of bins merge (the width doubles, edges stay
// aligned, the tensor's range is never lost, only resolution).
//
// Methods (computed at the end, from the same statistics: one pass over the samples serves every method):
//   minmax      amax = max|x|.
//   percentile  amax = the smallest bin edge at which the |x| CDF reaches p (default 99.99), clamped to max|x|.
//               pytorch-quantization takes the edge below that bin (edges[searchsorted(cdf, p)]); the edge above
//               is the one where the CDF has actually reached p, and it makes p = 100 equal minmax.
//   entropy     TensorRT-style KL divergence (QUANTIZATION.md 1.2), over the histogram resampled to 2048 bins on
//               [0, max|x|]: candidates i = 128..2048, P = bins[0..i) with the tail folded into bin i-1, Q = bins
//               [0..i) merged into 128 levels, each level's mass spread over its non-empty bins; amax minimises
//               KL(P||Q), the last one among ties. See entropy_amax() for the two choices the recipe leaves open.
//   mse         amax among the bin centres 128..2047 of the same 2048-bin histogram that minimises the expected
//               squared error of symmetric int8 fake quantization, sum count * (fq(c) - c)^2 (QUANTIZATION.md 1.2).
// A tensor whose values are all zero gets amax 0 for every method (callers treat such tensors specially).
// Non-finite values (NaN, +-inf) are left out of the statistics and counted; they have no int8 representation.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/engine.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "kernels/histogram.h"

namespace int8rt {

enum class CalibrationMethod { kEntropy, kPercentile, kMinMax, kMse };

// "entropy" | "percentile" | "minmax" | "mse".
Status parse_calibration_method(const std::string& name, CalibrationMethod* out);
const char* calibration_method_name(CalibrationMethod m);

// Streaming statistics of one tensor. Not thread-safe: the Calibrator serialises access per tensor.
class TensorStats {
 public:
  static constexpr uint32_t kInitialBins = 2048;
  static constexpr uint32_t kMaxBins = 1u << 16;

  // histogram = false keeps the range only (min, max, max|x|: all that 'minmax' needs, at a tenth of the cost).
  explicit TensorStats(bool histogram = true) : histogram_(histogram) {}

  // Folds n values in. Non-finite values are counted and skipped. Large tensors are split over `pool` if given.
  void add(const float* x, size_t n, ThreadPool* pool = nullptr);

  uint64_t count() const { return count_; }          // finite values seen
  uint64_t nonfinite() const { return nonfinite_; }  // NaN and +-inf values skipped
  float min() const { return count_ ? min_ : 0.f; }
  float max() const { return count_ ? max_ : 0.f; }
  float absmax() const { return absmax_; }
  // The histogram of |x|: bins()[k] counts values in [k * width, (k + 1) * width) (the last bin is closed). Empty
  // (and width 0) until a non-zero value has been seen; zeros seen before that are added to bin 0 when it appears.
  const std::vector<uint64_t>& bins() const { return bins_; }
  double bin_width() const { return width_; }

  // The range by `method`; `percentile` in (0, 100] is used by kPercentile only. 0 for a tensor with no non-zero
  // value. Without a histogram, every method gives max|x|.
  float amax(CalibrationMethod method, double percentile) const;

  // add() in three steps, so that the costly middle one can run without the caller's lock (concurrent runs then
  // histogram the same tensor at the same time instead of queueing on it): prepare() reads the bins' geometry
  // (under the lock) and says whether this batch may take the one-pass path; histogram() counts x against that
  // geometry and takes the range, touching no statistics; commit() (under the lock) folds the pass in, or returns
  // false and changes nothing when the bins changed meanwhile or the values do not fit them (a new maximum,
  // non-finite values): the caller then calls add().
  struct Pass {
    double width = 0;
    uint32_t nbins = 0;  // 0: range only
    RangeF32 range{};
    std::vector<uint64_t> counts;
  };
  bool prepare(size_t n, Pass* pass) const;
  static void histogram(const float* x, size_t n, ThreadPool* pool, Pass* pass);
  bool commit(size_t n, const Pass& pass);

 private:
  void add_finite(const float* x, size_t n, float lo, float hi, float amax);
  void note_range(size_t n, float lo, float hi, float amax);
  void merge_copies(const std::vector<uint32_t>& scratch);  // adds the kernel's sub-histograms to bins_
  void cover(float amax);  // grows the histogram so that its top edge is >= amax

  bool histogram_;
  uint64_t count_ = 0, nonfinite_ = 0, pending_zeros_ = 0;
  float min_ = 0, max_ = 0, absmax_ = 0;
  double width_ = 0;
  std::vector<uint64_t> bins_;
};

// The algorithms, on histograms of |x| (exposed for tests).
// `bins` over [0, n * width) -> `out_bins` bins over [0, absmax]. Each source bin's mass is spread uniformly over
// its extent clipped to [0, absmax] (no value lies above absmax), then split among the target bins it overlaps.
std::vector<double> resample_histogram(const std::vector<uint64_t>& bins, double width, double absmax,
                                       size_t out_bins);
// TensorRT-style KL threshold of a histogram over [0, bins.size() * width): returns the amax (= i * width).
double entropy_amax(std::vector<double> bins, double width, int start_bin = 128, int levels = 128);
// Smallest upper bin edge at which the cumulative count reaches percentile/100 of the total.
double percentile_amax(const std::vector<uint64_t>& bins, double width, double percentile);
// Bin centre (from start_bin on) minimising sum count * (fq(centre) - centre)^2, fq = symmetric int8 fake quant.
double mse_amax(const std::vector<double>& bins, double width, int start_bin = 128);

struct TensorRange {
  std::string name;
  float amax = 0, min = 0, max = 0;
  uint64_t count = 0, nonfinite = 0;
};

// Collects TensorStats for every float32 value of the runs it observes. Any number of runs may observe at once:
// the tensor table has its own lock, and each tensor's statistics are updated under that tensor's lock, which is
// not held while a large tensor is histogrammed (TensorStats::Pass).
class Calibrator : public RunObserver {
 public:
  // `threads` > 1: large tensors are histogrammed, and ranges computed, on a pool of that many threads (the observer
  // runs on the engine run's thread, between nodes, while the engine's own pool is idle). histograms = false keeps
  // ranges only: finish() then serves 'minmax' alone.
  explicit Calibrator(int threads = 1, bool histograms = true);
  ~Calibrator() override;

  void on_value(const std::string& name, const Tensor& value) override;
  // The same, for raw data (tests, and callers that hold values outside an engine run).
  void observe(const std::string& name, const float* x, size_t n);

  // The ranges of every observed tensor, in the order tensors were first seen. Runs may still be observing: each
  // tensor is read under its lock.
  Status finish(CalibrationMethod method, double percentile, std::vector<TensorRange>* out) const;

  size_t tensor_count() const;

 private:
  struct Entry {
    explicit Entry(bool histogram) : stats(histogram) {}
    std::string name;
    mutable std::mutex mu;
    TensorStats stats;
  };
  Entry* entry(const std::string& name);

  bool histograms_;
  std::unique_ptr<ThreadPool> pool_;
  mutable std::mutex table_mu_;
  std::unordered_map<std::string, Entry*> table_;
  std::vector<std::unique_ptr<Entry>> entries_;  // first-seen order; entries are never removed
};

}  // namespace int8rt
