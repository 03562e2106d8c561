#include "quant/calibrator.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>

#include "core/thread_pool.h"
#include "kernels/histogram.h"

namespace int8rt {

Status parse_calibration_method(const std::string& name, CalibrationMethod* out) {
  if (name == "entropy")
    *out = CalibrationMethod::kEntropy;
  else if (name == "percentile")
    *out = CalibrationMethod::kPercentile;
  else if (name == "minmax")
    *out = CalibrationMethod::kMinMax;
  else if (name == "mse")
    *out = CalibrationMethod::kMse;
  else
    return Status(ErrorCode::kInvalidArgument,
                  "unknown calibration method '" + name + "'; use 'entropy', 'percentile', 'minmax' or 'mse'");
  return Status::OK();
}

const char* calibration_method_name(CalibrationMethod m) {
  switch (m) {
    case CalibrationMethod::kEntropy: return "entropy";
    case CalibrationMethod::kPercentile: return "percentile";
    case CalibrationMethod::kMinMax: return "minmax";
    case CalibrationMethod::kMse: return "mse";
  }
  return "entropy";
}

// ---------------------------------------------------------------------------------------------------------------
// TensorStats

namespace {

// Below one value per bin, the direct scalar loop into the 64-bit bins beats the kernel and the merge of its
// kAbsHistogramCopies 32-bit sub-histograms (a pass over 4 * nbins counters whatever the tensor's size).
constexpr size_t kDirectPerBin = 1;
// One kernel call sees at most this many values, so no 32-bit sub-histogram counter can overflow.
constexpr size_t kKernelChunk = size_t(1) << 30;
// Tensors of at least two such chunks are split over the calibrator's pool, in chunks of at least this many values
// (about 30 us of work each: worth a wake-up and a merge of the sub-histograms).
constexpr size_t kParallelChunk = size_t(1) << 16;
// Finite values are copied through a buffer of this many floats when a tensor holds non-finite values.
constexpr size_t kFilterChunk = 4096;

float bits_to_float(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

// Per-thread scratch for the kernel's 32-bit sub-histograms, at least `size` counters, all zero: every user merges
// it (merge_abs_histogram, which clears it) or clears it before returning it.
uint32_t* zero_scratch(size_t size) {
  thread_local std::vector<uint32_t> scratch;
  if (scratch.size() < size) scratch.resize(size, 0u);
  return scratch.data();
}

}  // namespace

bool TensorStats::prepare(size_t n, Pass* pass) const {
  pass->width = width_;
  pass->nbins = uint32_t(bins_.size());
  pass->blocks = 0;
  // Range-only statistics always take the one-pass path; histograms once their bins exist, for tensors large enough
  // for the kernel (smaller ones are cheaper through the direct loop of add()).
  if (!histogram_) return true;
  return !bins_.empty() && n >= kDirectPerBin * bins_.size() && n <= kKernelChunk;
}

void TensorStats::histogram(const float* x, size_t n, ThreadPool* pool, Pass* pass) {
  const uint32_t nbins = pass->nbins;
  if (nbins == 0) {
    pass->range = range_f32(x, n);
    return;
  }
  const float inv_width = float(1.0 / pass->width);
  const size_t per = abs_histogram_counts(nbins);
  const int64_t tasks = !pool || pool->num_threads() <= 1 || n < 2 * kParallelChunk
                            ? 1
                            : std::min<int64_t>(int64_t(n / kParallelChunk), 2 * int64_t(pool->num_threads()));
  pass->blocks = uint32_t(tasks);
  if (pass->counts.size() < size_t(tasks) * per) pass->counts.resize(size_t(tasks) * per, 0u);  // zero, as the rest
  if (tasks == 1) {
    pass->range = abs_histogram_f32(x, n, inv_width, nbins, pass->counts.data());
    return;
  }
  // Split over the pool: task t fills block t of the pass's sub-histograms.
  std::vector<RangeF32> ranges(static_cast<size_t>(tasks));
  pool->parallel_tasks(tasks, [&](int64_t t) {
    const size_t b = size_t(t) * n / size_t(tasks), e = size_t(t + 1) * n / size_t(tasks);
    ranges[size_t(t)] = abs_histogram_f32(x + b, e - b, inv_width, nbins, pass->counts.data() + size_t(t) * per);
  });
  RangeF32 total{INFINITY, -INFINITY, 0};
  for (const RangeF32& r : ranges) {
    total.min = std::min(total.min, r.min);
    total.max = std::max(total.max, r.max);
    total.absmax_bits = std::max(total.absmax_bits, r.absmax_bits);
  }
  pass->range = total;
}

bool TensorStats::commit(size_t n, Pass* pass) {
  const size_t used = size_t(pass->blocks) * abs_histogram_counts(pass->nbins);
  const float amax = bits_to_float(pass->range.absmax_bits & 0x7fffffffu);
  // Non-finite values (add() filters them out); or, with histograms, bins other than those the pass counted into, or
  // values past their top (the kernel clamped those into the last bin): nothing is taken.
  if (pass->range.absmax_bits >= 0x7f800000u ||
      (histogram_ && (pass->nbins != bins_.size() || pass->width != width_ ||
                      double(amax) > width_ * double(pass->nbins)))) {
    std::fill(pass->counts.begin(), pass->counts.begin() + std::ptrdiff_t(used), 0u);
    pass->blocks = 0;
    return false;
  }
  if (histogram_)
    for (uint32_t b = 0; b < pass->blocks; b++)
      merge_abs_histogram(pass->counts.data() + b * abs_histogram_counts(pass->nbins), pass->nbins, bins_.data());
  pass->blocks = 0;
  note_range(n, pass->range.min, pass->range.max, amax);
  return true;
}

void TensorStats::add(const float* x, size_t n, ThreadPool* pool) {
  if (n == 0) return;
  thread_local Pass pass;  // keeps its counters' memory from one call to the next
  if (prepare(n, &pass)) {
    histogram(x, n, pool, &pass);
    if (commit(n, &pass)) return;
  }
  add_general(x, n);
}

void TensorStats::add_general(const float* x, size_t n) {
  if (n == 0) return;
  // The range first, the bins grown to cover it, then the histogram. It handles the first batch, small tensors, a
  // new maximum and non-finite values.
  const RangeF32 r = range_f32(x, n);
  if (r.absmax_bits < 0x7f800000u) {
    add_finite(x, n, r.min, r.max, bits_to_float(r.absmax_bits));
    return;
  }
  // Rare: NaN or infinities. Filter them out chunk by chunk and fold the finite values in as usual.
  float buf[kFilterChunk];
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (std::isfinite(x[i]))
      buf[m++] = x[i];
    else
      nonfinite_++;
    if (m == kFilterChunk || (i + 1 == n && m > 0)) {
      const RangeF32 c = range_f32(buf, m);
      add_finite(buf, m, c.min, c.max, bits_to_float(c.absmax_bits));
      m = 0;
    }
  }
}

void TensorStats::note_range(size_t n, float lo, float hi, float amax) {
  if (count_ == 0) {
    min_ = lo;
    max_ = hi;
  } else {
    min_ = std::min(min_, lo);
    max_ = std::max(max_, hi);
  }
  count_ += n;
  absmax_ = std::max(absmax_, amax);
}

void TensorStats::add_finite(const float* x, size_t n, float lo, float hi, float amax) {
  note_range(n, lo, hi, amax);
  if (!histogram_) return;
  if (amax == 0.f) {  // all zeros: bin 0, whatever the width will be
    if (bins_.empty())
      pending_zeros_ += n;
    else
      bins_[0] += n;
    return;
  }
  cover(amax);

  const uint32_t nbins = uint32_t(bins_.size());
  const float inv_width = float(1.0 / width_);
  if (n < kDirectPerBin * nbins) {
    const float last = float(nbins - 1);
    for (size_t i = 0; i < n; i++) bins_[uint32_t(std::min(std::fabs(x[i]) * inv_width, last))]++;
    return;
  }
  // Large tensors: the vectorised kernel into per-thread 32-bit sub-histograms, merged into the 64-bit bins.
  uint32_t* scratch = zero_scratch(abs_histogram_counts(nbins));
  for (size_t i = 0; i < n; i += kKernelChunk) {
    abs_histogram_f32(x + i, std::min(kKernelChunk, n - i), inv_width, nbins, scratch);
    merge_abs_histogram(scratch, nbins, bins_.data());
  }
}

void TensorStats::cover(float amax) {
  if (bins_.empty()) {
    // The first non-zero batch fixes the bin width: kInitialBins bins over [0, amax]. The width is kept a normal
    // float's reciprocal away from overflow, so 1 / width stays finite for amax down to denormals.
    width_ = std::max(double(amax) / kInitialBins, double(FLT_MIN));
    bins_.assign(kInitialBins, 0);
    bins_[0] += pending_zeros_;
    pending_zeros_ = 0;
    return;
  }
  if (double(amax) <= width_ * double(bins_.size())) return;
  // Append bins of the same width up to amax; past kMaxBins, merge groups of 2^k bins first (edges stay aligned:
  // new bin j holds old bins [j * 2^k, (j + 1) * 2^k)).
  double need = std::ceil(double(amax) / width_);
  double factor = 1;
  while (need / factor > double(kMaxBins)) factor *= 2;
  if (factor > 1) {
    const size_t old_n = bins_.size();
    const size_t f = factor >= double(old_n) ? old_n : size_t(factor);
    std::vector<uint64_t> merged((old_n + f - 1) / f, 0);
    for (size_t j = 0; j < old_n; j++) merged[j / f] += bins_[j];
    bins_.swap(merged);
    width_ *= factor;
    need = std::ceil(double(amax) / width_);
  }
  bins_.resize(std::max(size_t(need), bins_.size()), 0);
}

float TensorStats::amax(CalibrationMethod method, double percentile) const {
  if (!histogram_) return absmax_;
  if (absmax_ == 0.f || bins_.empty()) return 0.f;
  double a = absmax_;
  switch (method) {
    case CalibrationMethod::kMinMax:
      break;
    case CalibrationMethod::kPercentile:
      a = percentile_amax(bins_, width_, percentile);
      break;
    case CalibrationMethod::kEntropy: {
      std::vector<double> h = resample_histogram(bins_, width_, absmax_, kInitialBins);
      suppress_spikes(&h);
      a = entropy_amax(std::move(h), double(absmax_) / kInitialBins);
      break;
    }
    case CalibrationMethod::kMse:
      a = mse_amax(resample_histogram(bins_, width_, absmax_, kInitialBins), double(absmax_) / kInitialBins);
      break;
  }
  // Every method picks a bin edge or centre at or past bin 1, so a > 0; edges past max|x| say no more than it.
  return float(std::min(a, double(absmax_)));
}

// ---------------------------------------------------------------------------------------------------------------
// Algorithms

std::vector<double> resample_histogram(const std::vector<uint64_t>& bins, double width, double absmax,
                                       size_t out_bins) {
  std::vector<double> out(out_bins, 0.0);
  if (out_bins == 0 || bins.empty()) return out;
  if (bins.size() == out_bins && width * double(out_bins) == absmax) {  // never grown: already on [0, absmax]
    for (size_t k = 0; k < out_bins; k++) out[k] = double(bins[k]);
    return out;
  }
  if (!(absmax > 0)) {  // everything is zero: it all belongs to bin 0
    for (uint64_t c : bins) out[0] += double(c);
    return out;
  }
  const double w = absmax / double(out_bins);
  for (size_t k = 0; k < bins.size(); k++) {
    if (bins[k] == 0) continue;
    const double c = double(bins[k]);
    double lo = double(k) * width;
    const double hi = std::min(double(k + 1) * width, absmax);
    if (!(hi > lo)) {  // a bin past absmax can only hold values that rounded up into it: they are at absmax
      out[out_bins - 1] += c;
      continue;
    }
    const double len = hi - lo;
    size_t t = std::min(size_t(lo / w), out_bins - 1);
    while (lo < hi) {
      const double edge = t + 1 == out_bins ? hi : std::min(double(t + 1) * w, hi);
      out[t] += c * (edge - lo) / len;
      lo = edge;
      if (++t == out_bins) break;
    }
  }
  return out;
}

int suppress_spikes(std::vector<double>* bins, int window, double factor, double min_share) {
  std::vector<double>& b = *bins;
  const int n = int(b.size());
  if (n < 3 || window < 1) return 0;
  double total = 0;
  for (double c : b) total += c;
  if (!(total > 0)) return 0;
  const double floor = min_share * total;
  std::vector<std::pair<int, double>> cut;  // (bin, median): decided on the input, applied afterwards
  std::vector<double> nb;
  nb.reserve(size_t(2 * window));
  // The top `window` bins are left alone: a spike there is a clamp's saturation value (ReLU6, HardSigmoid at 1),
  // which a threshold below it would clip wholesale, and the search must see its full weight to avoid doing so.
  for (int j = 1; j < n - window; j++) {
    if (b[size_t(j)] < floor) continue;  // most bins: too light to be a spike, no median needed
    nb.clear();
    for (int k = std::max(1, j - window); k <= std::min(n - 1, j + window); k++)
      if (k != j) nb.push_back(b[size_t(k)]);
    if (nb.empty()) continue;
    auto mid = nb.begin() + std::ptrdiff_t(nb.size() / 2);
    std::nth_element(nb.begin(), mid, nb.end());
    if (b[size_t(j)] > factor * *mid) cut.emplace_back(j, *mid);
  }
  if (cut.empty()) return 0;
  double left = 0;  // mass outside bin 0 after the cut
  size_t c = 0;
  for (int j = 1; j < n; j++) {
    if (c < cut.size() && cut[c].first == j) left += cut[c++].second;
    else left += b[size_t(j)];
  }
  if (!(left > 0)) return 0;
  for (const auto& [j, med] : cut) b[size_t(j)] = med;
  return int(cut.size());
}

double percentile_amax(const std::vector<uint64_t>& bins, double width, double percentile) {
  uint64_t total = 0;
  for (uint64_t c : bins) total += c;
  // A relative slack of 1e-12 keeps decimal percentiles exact: 99.9% of 10,000 values is 9,990, not the
  // 9,990.000000000002 that 0.999 * 10000 rounds to.
  const double target = std::min(percentile, 100.0) / 100.0 * double(total) * (1 - 1e-12);
  uint64_t cum = 0;
  for (size_t k = 0; k < bins.size(); k++) {
    cum += bins[k];
    if (double(cum) >= target) return double(k + 1) * width;
  }
  return double(bins.size()) * width;
}

// The recipe of QUANTIZATION.md 1.2, evaluated in O(levels) per candidate instead of O(i) through prefix sums.
// Writing b for the (zero-bin adjusted) bins, S = sum b, Sq(i) = sum_{j<i} b_j, t(i) = S - Sq(i), and for level g of
// candidate i (source bins j with floor(j * levels / i) = g) s_g = its sum and nz_g its count of non-empty bins:
//   P_j = b_j (j < i-1), P_{i-1} = b_{i-1} + t;   Q_j = s_g / nz_g where b_j > 0, else 0
//   KL(P/S || Q/Sq) = (1/S) [ sum_{j<i-1} b_j ln b_j - sum_g s'_g ln(s_g/nz_g) - ln(S/Sq) sum_{j<i-1} b_j ]
//                     + (P_{i-1}/S) ln( (P_{i-1}/S) / (Q_{i-1}/Sq) )
// where s'_g is s_g without bin i-1 (which lies in the last level). Q has no smoothing, exactly as the reference:
// a candidate whose last bin is empty while mass lies beyond it has P > 0 where Q = 0 and is never chosen.
//
// The two choices the recipe leaves open:
//  - zero bin: bins[0] = bins[1] before the search, as pytorch-quantization does. Bin 0 holds the exact zeros of
//    ReLU outputs (often half the tensor); left as is, that spike would dominate P and the divergence would measure
//    how well Q reproduces it rather than the shape of the distribution. (TensorRT is documented to discard the
//    first bin, which serves the same purpose.)
//  - threshold: T = i * w, the top edge of the last kept bin, as pytorch-quantization does (not the (i + 0.5) * w
//    of the GTC 2017 slides). The truncated P holds values up to that edge, so the edge is the range it describes;
//    and the full-range candidate i = 2048 gives exactly max|x|.
namespace {

// ln(k) for k = 0..n (ln 0 stands as 0; it is never used). The usual n (kInitialBins) is computed once.
const std::vector<double>& log_of_integers(int n) {
  static const std::vector<double> common = [] {
    std::vector<double> t(TensorStats::kInitialBins + 1, 0.0);
    for (size_t k = 1; k < t.size(); k++) t[k] = std::log(double(k));
    return t;
  }();
  if (size_t(n) < common.size()) return common;
  thread_local std::vector<double> other;
  if (other.size() != size_t(n) + 1) {
    other.assign(size_t(n) + 1, 0.0);
    for (int k = 1; k <= n; k++) other[size_t(k)] = std::log(double(k));
  }
  return other;
}

}  // namespace

double entropy_amax(std::vector<double> b, double width, int start_bin, int levels) {
  const int n = int(b.size());
  if (n < 2 || levels < 1 || start_bin < levels || n < start_bin) return double(n) * width;
  b[0] = b[1];
  // Scratch kept from one call to the next (a calibration runs this once per tensor): fresh memory would cost more
  // in page faults than the search itself.
  struct Scratch {
    std::vector<double> B, A, tail, terms;
    std::vector<int> N;
    std::vector<size_t> pair_at;
  };
  thread_local Scratch sc;
  std::vector<double>& B = sc.B;
  std::vector<double>& A = sc.A;
  std::vector<double>& tail = sc.tail;
  std::vector<int>& N = sc.N;
  B.assign(size_t(n) + 1, 0.0);
  A.assign(size_t(n) + 1, 0.0);
  tail.assign(size_t(n) + 1, 0.0);
  N.assign(size_t(n) + 1, 0);
  for (int j = 0; j < n; j++) {
    B[j + 1] = B[j] + b[j];
    A[j + 1] = A[j] + (b[j] > 0 ? b[j] * std::log(b[j]) : 0.0);
    N[j + 1] = N[j] + (b[j] > 0 ? 1 : 0);
  }
  for (int j = n - 1; j >= 0; j--) tail[j] = tail[j + 1] + b[j];  // suffix sums: exact zero past the last mass
  const double S = B[n];
  if (!(S > 0)) return double(n) * width;
  const double lnS = std::log(S);
  const std::vector<double>& log_int = log_of_integers(n);  // ln(nz) for the level counts

  // A level is a run of source bins [j0, j0 + len); for candidate i its length is L = floor(i / levels) or L + 1,
  // and the same runs recur from one candidate to the next. So the level terms s ln(s / nz) are tabulated once:
  // table L interleaves, for the starts j0 < (L + 1) * levels that candidates i < (L + 1) * levels use, the term of
  // [j0, j0 + L) at 2 j0 and that of [j0, j0 + L + 1) at 2 j0 + 1, so that level [j0, j1) is entry j0 + j1 - L.
  // Each length's terms are computed once (about n * n / (2 * levels) logarithms in all, instead of levels per
  // candidate) and written into the two tables that use them.
  const int first_len = start_bin / levels, last_len = n / levels;
  auto starts = [&](int len) { return std::min(n - len + 1, (len + 1) * levels); };
  sc.pair_at.assign(size_t(last_len) + 2, 0);
  size_t total = 0;
  for (int len = first_len; len <= last_len; len++) {
    sc.pair_at[size_t(len)] = total;
    total += 2 * size_t(starts(len));
  }
  sc.terms.assign(total, 0.0);
  double* const terms = sc.terms.data();
  for (int len = first_len; len <= last_len + 1 && len <= n; len++) {
    // Length len is the short length of table len and the long length of table len - 1.
    const bool as_short = len <= last_len, as_long = len - 1 >= first_len;
    const int upto = std::max(as_short ? starts(len) : 0, as_long ? std::min(starts(len - 1), n - len + 1) : 0);
    double* short_t = as_short ? terms + sc.pair_at[size_t(len)] : nullptr;
    double* long_t = as_long ? terms + sc.pair_at[size_t(len - 1)] + 1 : nullptr;
    const int short_upto = as_short ? starts(len) : 0, long_upto = as_long ? starts(len - 1) : 0;
    for (int j0 = 0; j0 < upto; j0++) {
      const double s = B[j0 + len] - B[j0];
      const int nz = N[j0 + len] - N[j0];
      const double t = nz > 0 && s > 0 ? s * (std::log(s) - log_int[nz]) : 0.0;
      if (j0 < short_upto) short_t[2 * j0] = t;
      if (j0 < long_upto) long_t[2 * j0] = t;
    }
  }

  // Candidates go four at a time through the levels, each summing its own terms in level order: the same sums, bit
  // for bit, as one candidate after another, with four independent chains of additions instead of one. Level g of
  // candidate i spans [ceil(g * i / levels), ceil((g + 1) * i / levels)).
  constexpr int kLanes = 4;
  int lane_i[kLanes];
  const double* lane_terms[kLanes];
  double best = std::numeric_limits<double>::infinity();
  int best_i = n;
  const bool pow2 = (levels & (levels - 1)) == 0;
  int shift = 0;
  while (pow2 && (1 << shift) < levels) shift++;
  auto evaluate = [&](int count) {
    for (int k = count; k < kLanes; k++) {  // unused lanes repeat the first candidate; their results are ignored
      lane_i[k] = lane_i[0];
      lane_terms[k] = lane_terms[0];
    }
    int acc[kLanes];  // (g + 1) * i + levels - 1
    int j0[kLanes];
    double sum_q[kLanes];
    for (int k = 0; k < kLanes; k++) {
      acc[k] = levels - 1;
      j0[k] = 0;
      sum_q[k] = 0;
    }
    const double* shared = lane_terms[0];
    for (int k = 1; k < kLanes; k++)
      if (lane_terms[k] != shared) shared = nullptr;
    if (pow2 && shared) {
      // The usual case: all four candidates have levels of the same lengths (one table).
      for (int g = 0; g + 1 < levels; g++)
        for (int k = 0; k < kLanes; k++) {
          acc[k] += lane_i[k];
          const int j1 = acc[k] >> shift;
          sum_q[k] += shared[j0[k] + j1];
          j0[k] = j1;
        }
    } else {
      for (int g = 0; g + 1 < levels; g++)
        for (int k = 0; k < kLanes; k++) {
          acc[k] += lane_i[k];
          const int j1 = acc[k] / levels;
          sum_q[k] += lane_terms[k][j0[k] + j1];
          j0[k] = j1;
        }
    }
    for (int k = 0; k < count; k++) {
      const int i = lane_i[k];
      const double Sq = B[i], t = tail[i], last = b[i - 1];
      double sum = sum_q[k];
      // The last level holds bin i - 1, whose P carries the tail: its term is written out.
      const double s = B[i] - B[j0[k]];
      const int nz = N[i] - N[j0[k]];
      double ln_q_last = 0;
      if (nz > 0 && s > 0) {
        ln_q_last = std::log(s) - log_int[nz];
        sum += (s - last) * ln_q_last;
      }
      const double lnSq = std::log(Sq);
      double kl = (A[i - 1] - sum - (lnS - lnSq) * B[i - 1]) / S;
      const double p_last = last + t;
      if (p_last > 0) kl += p_last / S * (std::log(p_last) - lnS - ln_q_last + lnSq);
      if (kl <= best) {  // the last index among ties (lanes hold increasing candidates)
        best = kl;
        best_i = i;
      }
    }
  };
  int count = 0;
  for (int i = start_bin; i <= n; i++) {
    const double Sq = B[i], t = tail[i], last = b[i - 1];
    if (!(Sq > 0) || (t > 0 && !(last > 0))) continue;  // KL is infinite
    const int len = i / levels;
    lane_i[count] = i;
    lane_terms[count] = terms + sc.pair_at[size_t(len)] - len;
    if (++count == kLanes) {
      evaluate(count);
      count = 0;
    }
  }
  if (count > 0) evaluate(count);
  return double(best_i) * width;
}

double mse_amax(const std::vector<double>& bins, double width, int start_bin) {
  const int n = int(bins.size());
  if (n <= start_bin) return double(n) * width;
  // Only non-empty bins contribute; gather their centres and counts once, with suffix sums of h, h c and h c^2.
  std::vector<double> c, h;
  for (int k = 0; k < n; k++)
    if (bins[k] > 0) {
      c.push_back((k + 0.5) * width);
      h.push_back(bins[k]);
    }
  const size_t m = c.size();
  std::vector<double> H(m + 1, 0.0), HC(m + 1, 0.0), HC2(m + 1, 0.0);
  for (size_t k = m; k-- > 0;) {
    H[k] = H[k + 1] + h[k];
    HC[k] = HC[k + 1] + h[k] * c[k];
    HC2[k] = HC2[k + 1] + h[k] * c[k] * c[k];
  }
  // Candidates go four at a time over the centres, each summing its own errors in centre order: the same sums, bit
  // for bit, as one candidate after another, with four independent chains of additions instead of one.
  constexpr int kLanes = 4;
  double best = std::numeric_limits<double>::infinity(), best_amax = double(n) * width;
  size_t kept = 0;  // centres <= amax: those round to a level; the ones above saturate to amax
  for (int i0 = start_bin; i0 < n; i0 += kLanes) {
    const int count = std::min(kLanes, n - i0);
    double amax[kLanes], scale[kLanes], inv[kLanes], err[kLanes];
    size_t lane_kept[kLanes];
    for (int l = 0; l < kLanes; l++) {
      const int i = i0 + std::min(l, count - 1);  // unused lanes repeat the last candidate
      amax[l] = (i + 0.5) * width;
      scale[l] = amax[l] / 127;
      inv[l] = 127 / amax[l];
      while (kept < m && c[kept] <= amax[l]) kept++;
      lane_kept[l] = kept;
      err[l] = 0;
    }
    // Symmetric int8 fake quantization of a non-negative centre below amax: round half up (ties have measure zero
    // here); c * inv <= 127. Lane l takes centres [0, lane_kept[l]); lane 0 keeps the fewest.
    for (size_t k = 0; k < lane_kept[0]; k++)
      for (int l = 0; l < kLanes; l++) {
        const double d = double(int32_t(c[k] * inv[l] + 0.5)) * scale[l] - c[k];
        err[l] += h[k] * d * d;
      }
    for (int l = 1; l < kLanes; l++)
      for (size_t k = lane_kept[0]; k < lane_kept[l]; k++) {
        const double d = double(int32_t(c[k] * inv[l] + 0.5)) * scale[l] - c[k];
        err[l] += h[k] * d * d;
      }
    for (int l = 0; l < count; l++) {
      // Saturated centres: sum h (c - amax)^2 from the suffix sums.
      const size_t kk = lane_kept[l];
      const double e = err[l] + (HC2[kk] - 2 * amax[l] * HC[kk] + amax[l] * amax[l] * H[kk]);
      if (e < best) {
        best = e;
        best_amax = amax[l];
      }
    }
  }
  return best_amax;
}

// ---------------------------------------------------------------------------------------------------------------
// Calibrator

Calibrator::Entry* Calibrator::entry(const std::string& name) {
  std::lock_guard<std::mutex> lk(table_mu_);
  auto it = table_.find(name);
  if (it != table_.end()) return it->second;
  if (restricted_ && !selected_.count(name)) {
    table_.emplace(name, nullptr);  // remembered, so the next lookup is one hash
    return nullptr;
  }
  entries_.push_back(std::make_unique<Entry>(histograms_));
  Entry* e = entries_.back().get();
  e->name = name;
  table_.emplace(name, e);
  return e;
}

Calibrator::Calibrator(int threads, bool histograms) : histograms_(histograms) {
  if (threads > 1) pool_ = std::make_unique<ThreadPool>(threads);
}

Calibrator::~Calibrator() = default;

void Calibrator::restrict_to(std::unordered_set<std::string> names) {
  std::lock_guard<std::mutex> lk(table_mu_);
  restricted_ = true;
  selected_ = std::move(names);
}

void Calibrator::fold(Entry* e, const float* x, size_t n) {
  if (n == 0) return;
  thread_local TensorStats::Pass pass;  // keeps its counters' memory from one call to the next
  bool one_pass;
  {
    std::lock_guard<std::mutex> lk(e->mu);
    one_pass = e->stats.prepare(n, &pass);
  }
  if (one_pass) TensorStats::histogram(x, n, pool_.get(), &pass);
  std::lock_guard<std::mutex> lk(e->mu);
  if (one_pass && e->stats.commit(n, &pass)) return;
  e->stats.add_general(x, n);
}

void Calibrator::observe(const std::string& name, const float* x, size_t n) {
  if (n == 0) return;
  if (Entry* e = entry(name)) fold(e, x, n);
}

void Calibrator::on_value(const std::string& name, const Tensor& value) {
  // Integer values (shapes, indices) are never quantized as activations: only float32 is observed.
  if (value.dtype() != DType::kFloat32 || value.empty()) return;
  const int64_t n = value.numel();
  if (n <= 0) return;
  observe(name, value.data<float>(), size_t(n));
}

uint64_t Calibrator::begin_sample() {
  std::lock_guard<std::mutex> lk(order_mu_);
  const uint64_t s = next_sample_++;
  running_.insert(s);
  return s;
}

void Calibrator::end_sample(uint64_t sample) {
  {
    std::lock_guard<std::mutex> lk(order_mu_);
    running_.erase(sample);
  }
  order_cv_.notify_all();
}

void Calibrator::fold_in_order(uint64_t sample, const std::string& name, const float* x, size_t n) {
  Entry* e = entry(name);
  if (!e) return;
  if (histograms_ && !e->width_fixed.load(std::memory_order_acquire)) {
    std::unique_lock<std::mutex> lk(order_mu_);
    // Every earlier sample still running must have passed this tensor (finished samples have passed them all).
    auto earlier_passed = [&] {
      for (uint64_t u : running_) {
        if (u >= sample) break;
        if (std::find(e->passed.begin(), e->passed.end(), u) == e->passed.end()) return false;
      }
      return true;
    };
    if (!e->width_fixed) {
      order_cv_.wait(lk, [&] { return e->width_fixed || earlier_passed(); });
      if (!e->width_fixed) {
        // The earliest sample not past this tensor: its batch fixes the width if it holds a non-zero value.
        // Later samples wait for it, so no other fold of this tensor runs meanwhile.
        lk.unlock();
        fold(e, x, n);
        bool fixed;
        {
          std::lock_guard<std::mutex> g(e->mu);
          fixed = !e->stats.bins().empty();
        }
        lk.lock();
        if (fixed) {
          e->width_fixed.store(true, std::memory_order_release);
          e->passed.clear();
        } else {
          // Only running samples matter: keeps the list as short as the number of runs in flight.
          e->passed.erase(std::remove_if(e->passed.begin(), e->passed.end(),
                                         [&](uint64_t u) { return !running_.count(u); }),
                          e->passed.end());
          e->passed.push_back(sample);
        }
        lk.unlock();
        order_cv_.notify_all();
        return;
      }
    }
  }
  fold(e, x, n);
}

void Calibrator::SampleRun::on_value(const std::string& name, const Tensor& value) {
  if (value.dtype() != DType::kFloat32) return;
  // An empty value still passes the tensor (later samples may be waiting for this one to).
  const int64_t n = value.empty() ? 0 : value.numel();
  observe(name, n > 0 ? value.data<float>() : nullptr, n > 0 ? size_t(n) : 0);
}

void Calibrator::SampleRun::observe(const std::string& name, const float* x, size_t n) {
  cal_->fold_in_order(sample_, name, x, n);
}

size_t Calibrator::tensor_count() const {
  std::lock_guard<std::mutex> lk(table_mu_);
  return entries_.size();
}

Status Calibrator::finish(CalibrationMethod method, double percentile, std::vector<TensorRange>* out) const {
  if (!histograms_ && method != CalibrationMethod::kMinMax)
    return Status(ErrorCode::kInvalidArgument, std::string("method '") + calibration_method_name(method) +
                                                   "' needs histograms; this calibrator kept ranges only (minmax)");
  if (method == CalibrationMethod::kPercentile && !(percentile > 0 && percentile <= 100))
    return Status(ErrorCode::kInvalidArgument,
                  "percentile must be in (0, 100], got " + std::to_string(percentile));
  std::vector<Entry*> list;
  {
    std::lock_guard<std::mutex> lk(table_mu_);
    for (const auto& e : entries_) list.push_back(e.get());
  }
  out->assign(list.size(), TensorRange());
  auto compute = [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; k++) {
      const Entry* e = list[size_t(k)];
      TensorRange& r = (*out)[size_t(k)];
      std::lock_guard<std::mutex> lk(e->mu);
      r.name = e->name;
      r.amax = e->stats.amax(method, percentile);
      r.min = e->stats.min();
      r.max = e->stats.max();
      r.count = e->stats.count();
      r.nonfinite = e->stats.nonfinite();
    }
  };
  const int64_t n = int64_t(list.size());
  if (pool_ || n < 2 || method == CalibrationMethod::kMinMax) {
    parallel_for(pool_.get(), n, 1, compute);
  } else {
    // Without a pool (one thread per run) the ranges still take two threads, as many as calibrate() keeps runs in
    // flight. Each range is computed on its own: the split changes no result.
    std::thread other(compute, n / 2, n);
    compute(0, n / 2);
    other.join();
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------------------------
// The tensors an int8 engine reads ranges for

Status int8_range_tensors(const ModelDef& model, const std::map<std::string, Precision>& node_precision,
                          std::vector<std::string>* names) {
  names->clear();
  // Node names as the engine gives them (unnamed nodes get "<op>_<index>"); the report speaks of nodes by name.
  std::vector<std::string> node_names(model.nodes.size());
  std::unordered_map<std::string, size_t> by_name;
  for (size_t i = 0; i < model.nodes.size(); i++) {
    const NodeDef& n = model.nodes[i];
    node_names[i] = n.name.empty() ? n.op_type + "_" + std::to_string(i) : n.name;
    if (!by_name.emplace(node_names[i], i).second)
      return Status(ErrorCode::kUnsupported, "node name '" + node_names[i] + "' is used twice");
  }
  std::unordered_set<std::string> constant;
  for (const auto& kv : model.initializers) constant.insert(kv.first);

  // Plan with a stand-in range for every tensor: the planner then puts in int8 whatever it can, so every range it
  // could read with real ones is among those it reads here.
  EngineOptions opts;
  opts.intra_op_threads = 1;
  opts.precision = Precision::kInt8;
  opts.quant.node_precision = node_precision;
  for (const auto& in : model.inputs) opts.quant.amax[in.name] = 1.f;
  for (const auto& n : model.nodes) {
    for (const auto& v : n.inputs)
      if (!v.empty() && !constant.count(v)) opts.quant.amax[v] = 1.f;
    for (const auto& v : n.outputs)
      if (!v.empty()) opts.quant.amax[v] = 1.f;
  }
  std::shared_ptr<Engine> engine;
  INT8RT_RETURN_IF_ERROR(Engine::build(model, opts, &engine));

  // Each ONNX node belongs to the executed node that runs it (itself, or the node it was fused into).
  std::vector<std::string> host = node_names;
  std::unordered_set<std::string> int8_hosts;
  for (const NodeReport& r : engine->report()) {
    if (r.boundary) continue;
    auto it = by_name.find(r.name);
    if (it == by_name.end()) continue;
    host[it->second] = r.fused_into.empty() ? r.name : r.fused_into;
    if (r.precision == "int8") int8_hosts.insert(host[it->second]);
  }
  // Producer and readers of each tensor, by node index.
  std::unordered_map<std::string, size_t> producer;
  std::unordered_map<std::string, std::vector<size_t>> readers;
  for (size_t i = 0; i < model.nodes.size(); i++) {
    for (const auto& v : model.nodes[i].outputs)
      if (!v.empty()) producer[v] = i;
    for (const auto& v : model.nodes[i].inputs)
      if (!v.empty()) readers[v].push_back(i);
  }
  std::unordered_set<std::string> graph_outputs;
  for (const auto& o : model.outputs) graph_outputs.insert(o.name);

  // A tensor where an int8 group meets anything else: read by the group from outside, or written by it and read
  // outside it (or a graph output).
  std::unordered_set<std::string> chosen;
  auto choose = [&](const std::string& v) {
    if (chosen.insert(v).second) names->push_back(v);
  };
  for (const auto& in : model.inputs) {
    auto r = readers.find(in.name);
    if (r == readers.end()) continue;
    for (size_t i : r->second)
      if (int8_hosts.count(host[i])) {
        choose(in.name);
        break;
      }
  }
  for (size_t i = 0; i < model.nodes.size(); i++) {
    const NodeDef& n = model.nodes[i];
    if (!int8_hosts.count(host[i])) continue;
    for (const auto& v : n.inputs) {
      if (v.empty() || constant.count(v)) continue;
      auto p = producer.find(v);
      if (p == producer.end() || host[p->second] != host[i]) choose(v);
    }
    for (const auto& v : n.outputs) {
      if (v.empty()) continue;
      bool outside = graph_outputs.count(v) > 0;
      auto r = readers.find(v);
      if (r != readers.end())
        for (size_t k : r->second) outside |= host[k] != host[i];
      if (outside) choose(v);
    }
  }
  return Status::OK();
}

}  // namespace int8rt
