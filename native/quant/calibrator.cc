#include "quant/calibrator.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>

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

// Below this many values per bin, the direct scalar loop into the 64-bit bins beats zeroing, filling and summing
// the kAbsHistogramCopies 32-bit sub-histograms.
constexpr size_t kDirectPerBin = 4;
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

// Per-thread scratch for the kernel's 32-bit sub-histograms, zeroed for nbins.
std::vector<uint32_t>& zeroed_scratch(uint32_t nbins) {
  thread_local std::vector<uint32_t> scratch;
  scratch.assign(abs_histogram_counts(nbins), 0u);
  return scratch;
}

}  // namespace

bool TensorStats::prepare(size_t n, Pass* pass) const {
  pass->width = width_;
  pass->nbins = uint32_t(bins_.size());
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
  pass->counts.assign(nbins, 0);
  if (!pool || pool->num_threads() <= 1 || n < 2 * kParallelChunk) {
    std::vector<uint32_t>& scratch = zeroed_scratch(nbins);
    pass->range = abs_histogram_f32(x, n, inv_width, nbins, scratch.data());
    for (int c = 0; c < kAbsHistogramCopies; c++) {
      const uint32_t* s = scratch.data() + size_t(c) * nbins;
      for (uint32_t k = 0; k < nbins; k++) pass->counts[k] += s[k];
    }
    return;
  }
  // Split over the pool: each task fills its own thread's sub-histograms, then adds them to the pass under `mu`.
  const int64_t tasks = std::min<int64_t>(int64_t(n / kParallelChunk), 2 * int64_t(pool->num_threads()));
  std::mutex mu;
  RangeF32 total{INFINITY, -INFINITY, 0};
  pool->parallel_tasks(tasks, [&](int64_t t) {
    const size_t b = size_t(t) * n / size_t(tasks), e = size_t(t + 1) * n / size_t(tasks);
    std::vector<uint32_t>& scratch = zeroed_scratch(nbins);
    const RangeF32 r = abs_histogram_f32(x + b, e - b, inv_width, nbins, scratch.data());
    std::lock_guard<std::mutex> lk(mu);
    total.min = std::min(total.min, r.min);
    total.max = std::max(total.max, r.max);
    total.absmax_bits = std::max(total.absmax_bits, r.absmax_bits);
    for (int c = 0; c < kAbsHistogramCopies; c++) {
      const uint32_t* s = scratch.data() + size_t(c) * nbins;
      for (uint32_t k = 0; k < nbins; k++) pass->counts[k] += s[k];
    }
  });
  pass->range = total;
}

bool TensorStats::commit(size_t n, const Pass& pass) {
  if (pass.range.absmax_bits >= 0x7f800000u) return false;  // non-finite values: add() filters them out
  const float amax = bits_to_float(pass.range.absmax_bits);
  if (histogram_) {
    // The bins must be those the pass counted into, and cover every value (past the top, values were clamped into
    // the last bin).
    if (pass.nbins != bins_.size() || pass.width != width_ || double(amax) > width_ * double(pass.nbins))
      return false;
    for (uint32_t k = 0; k < pass.nbins; k++) bins_[k] += pass.counts[k];
  }
  note_range(n, pass.range.min, pass.range.max, amax);
  return true;
}

void TensorStats::add(const float* x, size_t n, ThreadPool* pool) {
  if (n == 0) return;
  Pass pass;
  if (prepare(n, &pass)) {
    histogram(x, n, pool, &pass);
    if (commit(n, pass)) return;
  }
  // The general path: the range first, the bins grown to cover it, then the histogram. It handles the first batch,
  // small tensors, a new maximum and non-finite values.
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

void TensorStats::merge_copies(const std::vector<uint32_t>& scratch) {
  const size_t nbins = bins_.size();
  for (int c = 0; c < kAbsHistogramCopies; c++) {
    const uint32_t* s = scratch.data() + size_t(c) * nbins;
    for (size_t k = 0; k < nbins; k++) bins_[k] += s[k];
  }
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
  // Large tensors: the vectorised kernel into per-thread 32-bit sub-histograms, summed into the 64-bit bins.
  for (size_t i = 0; i < n; i += kKernelChunk) {
    std::vector<uint32_t>& scratch = zeroed_scratch(nbins);
    abs_histogram_f32(x + i, std::min(kKernelChunk, n - i), inv_width, nbins, scratch.data());
    merge_copies(scratch);
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
    case CalibrationMethod::kEntropy:
      a = entropy_amax(resample_histogram(bins_, width_, absmax_, kInitialBins), double(absmax_) / kInitialBins);
      break;
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
double entropy_amax(std::vector<double> b, double width, int start_bin, int levels) {
  const int n = int(b.size());
  if (n < 2 || levels < 1 || start_bin < levels || n < start_bin) return double(n) * width;
  b[0] = b[1];
  std::vector<double> B(n + 1, 0.0), A(n + 1, 0.0), tail(n + 1, 0.0);
  std::vector<int> N(n + 1, 0);
  for (int j = 0; j < n; j++) {
    B[j + 1] = B[j] + b[j];
    A[j + 1] = A[j] + (b[j] > 0 ? b[j] * std::log(b[j]) : 0.0);
    N[j + 1] = N[j] + (b[j] > 0 ? 1 : 0);
  }
  for (int j = n - 1; j >= 0; j--) tail[j] = tail[j + 1] + b[j];  // suffix sums: exact zero past the last mass
  const double S = B[n];
  if (!(S > 0)) return double(n) * width;
  const double lnS = std::log(S);
  std::vector<double> log_int(n + 1, 0.0);  // ln(nz) for the level counts
  for (int k = 1; k <= n; k++) log_int[k] = std::log(double(k));

  // A level is a run of source bins [j0, j0 + len); for candidate i its length is floor(i / levels) or one more,
  // and the same runs recur from one candidate to the next. So the level terms s ln(s / nz) are tabulated once per
  // length (about n * n / levels logarithms in all, instead of levels per candidate).
  std::vector<std::vector<double>> level_term(size_t(n / levels) + 2);
  auto terms_of_length = [&](int len) -> const std::vector<double>& {
    std::vector<double>& t = level_term[size_t(len)];
    if (t.empty()) {
      t.assign(size_t(n - len + 1), 0.0);
      for (int j0 = 0; j0 + len <= n; j0++) {
        const double s = B[j0 + len] - B[j0];
        const int nz = N[j0 + len] - N[j0];
        if (nz > 0 && s > 0) t[size_t(j0)] = s * (std::log(s) - log_int[nz]);
      }
    }
    return t;
  };

  double best = std::numeric_limits<double>::infinity();
  int best_i = n;
  for (int i = start_bin; i <= n; i++) {
    const double Sq = B[i], t = tail[i], last = b[i - 1];
    if (!(Sq > 0) || (t > 0 && !(last > 0))) continue;  // KL is infinite
    const int step_q = i / levels, step_r = i % levels;
    const std::vector<double>& short_terms = terms_of_length(step_q);
    const std::vector<double>& long_terms = step_r ? terms_of_length(step_q + 1) : short_terms;
    // Level g spans [ceil(g * i / levels), ceil((g + 1) * i / levels)); g * i = q * levels + r is stepped, not divided.
    double sum_q = 0;
    int q = 0, r = 0, j0 = 0;
    for (int g = 0; g + 1 < levels; g++) {
      q += step_q;
      r += step_r;
      if (r >= levels) {
        r -= levels;
        q++;
      }
      const int j1 = q + (r > 0 ? 1 : 0);
      sum_q += (j1 - j0 == step_q ? short_terms : long_terms)[size_t(j0)];
      j0 = j1;
    }
    // The last level holds bin i - 1, whose P carries the tail: its term is written out.
    const double s = B[i] - B[j0];
    const int nz = N[i] - N[j0];
    double ln_q_last = 0;
    if (nz > 0 && s > 0) {
      ln_q_last = std::log(s) - log_int[nz];
      sum_q += (s - last) * ln_q_last;
    }
    const double lnSq = std::log(Sq);
    double kl = (A[i - 1] - sum_q - (lnS - lnSq) * B[i - 1]) / S;
    const double p_last = last + t;
    if (p_last > 0) kl += p_last / S * (std::log(p_last) - lnS - ln_q_last + lnSq);
    if (kl <= best) {  // the last index among ties
      best = kl;
      best_i = i;
    }
  }
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
  double best = std::numeric_limits<double>::infinity(), best_amax = double(n) * width;
  size_t kept = 0;  // centres <= amax: those round to a level; the ones above saturate to amax
  for (int i = start_bin; i < n; i++) {
    const double amax = (i + 0.5) * width, scale = amax / 127, inv = 127 / amax;
    while (kept < m && c[kept] <= amax) kept++;
    double err = 0;
    for (size_t k = 0; k < kept; k++) {
      // Symmetric int8 fake quantization of a non-negative centre below amax: round half up (ties have measure
      // zero here); c * inv <= 127.
      const double d = double(int32_t(c[k] * inv + 0.5)) * scale - c[k];
      err += h[k] * d * d;
    }
    // Saturated centres: sum h (c - amax)^2 from the suffix sums.
    err += HC2[kept] - 2 * amax * HC[kept] + amax * amax * H[kept];
    if (err < best) {
      best = err;
      best_amax = amax;
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

void Calibrator::observe(const std::string& name, const float* x, size_t n) {
  if (n == 0) return;
  Entry* e = entry(name);
  thread_local TensorStats::Pass pass;  // keeps its counts' capacity from one call to the next
  bool one_pass;
  {
    std::lock_guard<std::mutex> lk(e->mu);
    one_pass = e->stats.prepare(n, &pass);
  }
  if (one_pass) TensorStats::histogram(x, n, pool_.get(), &pass);
  std::lock_guard<std::mutex> lk(e->mu);
  if (one_pass && e->stats.commit(n, pass)) return;
  e->stats.add(x, n, pool_.get());
}

void Calibrator::on_value(const std::string& name, const Tensor& value) {
  // Integer values (shapes, indices) are never quantized as activations: only float32 is observed.
  if (value.dtype() != DType::kFloat32 || value.empty()) return;
  const int64_t n = value.numel();
  if (n <= 0) return;
  observe(name, value.data<float>(), size_t(n));
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
  parallel_for(pool_.get(), int64_t(list.size()), 1, [&](int64_t begin, int64_t end) {
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
  });
  return Status::OK();
}

}  // namespace int8rt
