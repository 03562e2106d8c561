// Int8 calibration: streaming per-tensor statistics of float32 activations, and the range (amax) each calibration
// method derives from them. Activations are quantized symmetrically (scale = amax / 127, quant/qnode.h), so a range
// is one number per tensor: the |x| at which int8 saturates.
//
// Collection. A Calibrator is an Engine RunObserver: every run sees each float32 value once, and the calibrator
// folds it into that tensor's TensorStats. Memory stays bounded whatever the number of samples: per tensor, a
// min/max and a histogram of |x| with at most kMaxBins bins. The histogram follows NVIDIA's pytorch-quantization
// (calib/histogram.py): kInitialBins bins over [0, max|x| of the first batch]; when a later batch goes past the top
// edge, bins of the same width are appended; past kMaxBins, groups of 2^k bins merge (the width grows 2^k-fold,
// edges stay aligned, the tensor's range is never lost, only resolution).
//
// Determinism. Samples may run concurrently (two runs in flight keep the cores busy while one run folds its values),
// yet the statistics are those of the samples folded one after another in sample order. Only one thing depends on
// the order in which batches arrive: the bin width, which the first batch with a non-zero value fixes (= its
// max|x| / kInitialBins). Everything after it commutes exactly: counts are integers; appending bins of that width and
// merging aligned groups of 2^k bins reach the same geometry (width * 2^k, k the smallest that covers the final
// max|x| in kMaxBins bins) in any order, and a value's bin at width 2w is its bin at width w halved, also in float
// arithmetic (the reciprocal width and the product halve exactly), so counting before or after a merge agrees.
// So a sample is held back only at a tensor whose width is not fixed yet, until every earlier sample has passed
// that tensor (Calibrator::begin_sample/SampleRun); in practice only the second sample waits, behind the first.
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
//               Before the search, narrow spikes are cut down to the level around them (suppress_spikes): a bin
//               holding at least 0.1% of the values and more than 4x the median of the 32 bins on each side
//               (except the top 32 bins, where a spike is a clamp's saturation value and must keep its weight). A
//               spike is one value (a flat background's constant response, hard-swish's minimum, a clamp) that any
//               grid represents to half a step; left in, it decides the search: with the spike in the last kept bin
//               the clipped tail barely changes that bin's relative mass, so KL sees almost no cost in clipping
//               everything above the spike (PP-OCR: 3.2 of 25.7 on rec's first Conv, 10% of its values clipped).
//               Smooth histograms (Gaussian, Laplacian, uniform) have no such bin and are searched unchanged.
//   mse         amax among the bin centres 128..2047 of the same 2048-bin histogram that minimises the expected
//               squared error of symmetric int8 fake quantization, sum count * (fq(c) - c)^2 (QUANTIZATION.md 1.2).
// A tensor whose values are all zero gets amax 0 for every method (callers treat such tensors specially).
// Non-finite values (NaN, +-inf) are left out of the statistics and counted; they have no int8 representation.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
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
  // non-finite values): the caller then calls add_general(). Every histogram() is followed by a commit(), which
  // leaves the Pass's counters zero again whatever it returns, so a Pass is reused without clearing.
  struct Pass {
    double width = 0;
    uint32_t nbins = 0;  // 0: range only
    RangeF32 range{};
    uint32_t blocks = 0;           // sub-histogram blocks counted into (one per task of histogram())
    std::vector<uint32_t> counts;  // blocks of abs_histogram_counts(nbins) counters; zero outside a pass
  };
  bool prepare(size_t n, Pass* pass) const;
  static void histogram(const float* x, size_t n, ThreadPool* pool, Pass* pass);
  bool commit(size_t n, Pass* pass);
  // add() without the one-pass attempt: the range first, the bins grown to cover it, then the histogram.
  void add_general(const float* x, size_t n);

 private:
  void add_finite(const float* x, size_t n, float lo, float hi, float amax);
  void note_range(size_t n, float lo, float hi, float amax);
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
// The entropy method's spike suppression (see above): each bin from 1 to n - window - 1 (the top `window` bins are
// left alone: a spike there is a clamp's saturation value, which must keep its full weight) holding >= min_share of
// the total and
// more than `factor` times the median of its `window` neighbours on each side (bin 0 excluded) is set to that median,
// all medians taken on the input. Returns the number of bins changed; when that would leave no mass outside bin 0
// (a discrete distribution: nothing but spikes) the histogram is left as it is and 0 returned.
int suppress_spikes(std::vector<double>* bins, int window = 32, double factor = 4.0, double min_share = 1e-3);
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
//
// Two ways in. Runs of numbered samples (begin_sample, then an engine run observed by a SampleRun, then
// end_sample) give statistics that depend on the samples and their order only, not on how the runs interleave
// (see Determinism above). observe() and on_value() fold values as they come: deterministic when called from one
// thread, in arrival order otherwise.
class Calibrator : public RunObserver {
 public:
  // `threads` > 1: large tensors are histogrammed, and ranges computed, on a pool of that many threads (the observer
  // runs on the engine run's thread, between nodes, while the engine's own pool is idle); otherwise finish() still
  // splits the ranges over two threads. histograms = false keeps ranges only: finish() then serves 'minmax' alone.
  explicit Calibrator(int threads = 1, bool histograms = true);
  ~Calibrator() override;

  // Observes only the tensors named here (others are ignored); by default every float32 value is observed. Call
  // before the first observation.
  void restrict_to(std::unordered_set<std::string> names);

  void on_value(const std::string& name, const Tensor& value) override;
  // The same, for raw data (tests, and callers that hold values outside an engine run).
  void observe(const std::string& name, const float* x, size_t n);

  // Numbered samples. begin_sample() hands out the next number (0, 1, ...): call it in sample order. Then observe
  // that sample's run with a SampleRun, from any thread, and call end_sample(number) once the run is over, whether
  // it succeeded or not (later samples may be waiting on it). A sample that has begun must end.
  uint64_t begin_sample();
  void end_sample(uint64_t sample);
  class SampleRun : public RunObserver {
   public:
    SampleRun(Calibrator* calibrator, uint64_t sample) : cal_(calibrator), sample_(sample) {}
    void on_value(const std::string& name, const Tensor& value) override;
    void observe(const std::string& name, const float* x, size_t n);  // the same, for raw data

   private:
    Calibrator* cal_;
    uint64_t sample_;
  };

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
    // Until the bin width is fixed: the samples (still running) that have passed this tensor without fixing it.
    // Written under order_mu_; width_fixed is also read without it, to skip the lock once it is set.
    std::atomic<bool> width_fixed{false};
    std::vector<uint64_t> passed;
  };
  Entry* entry(const std::string& name);  // nullptr for a tensor outside restrict_to()'s set
  void fold(Entry* e, const float* x, size_t n);
  void fold_in_order(uint64_t sample, const std::string& name, const float* x, size_t n);

  bool histograms_;
  std::unique_ptr<ThreadPool> pool_;
  mutable std::mutex table_mu_;
  std::unordered_map<std::string, Entry*> table_;
  std::vector<std::unique_ptr<Entry>> entries_;  // first-seen order; entries are never removed
  bool restricted_ = false;
  std::unordered_set<std::string> selected_;

  std::mutex order_mu_;
  std::condition_variable order_cv_;
  uint64_t next_sample_ = 0;
  std::set<uint64_t> running_;  // samples begun and not ended
};

// The tensors whose ranges an int8 engine of `model` can read: the float inputs and outputs of every node group the
// int8 planner runs in int8 (as planned with `node_precision`), where the group meets the rest of the graph. Tensors
// inside a group (a Conv's output before its fused Relu, the steps of an elementwise chain turned into one table)
// are left out: such an engine never materialises them. Found by planning an int8 engine with a stand-in range for
// every tensor, so that everything the planner can put in int8 is; `model` is not changed (its initializers are
// shared, not copied). Fails when node names repeat (the plan speaks of nodes by name) or the int8 build fails.
Status int8_range_tensors(const ModelDef& model, const std::map<std::string, Precision>& node_precision,
                          std::vector<std::string>* names);

}  // namespace int8rt
