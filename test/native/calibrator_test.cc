// Calibration statistics and methods (quant/calibrator.h): the range and histogram kernels against their scalar
// oracles, exact minmax/percentile on constructed data, histogram growth and merging, the entropy threshold against
// a direct (O(i) per candidate) transcription of pytorch-quantization's algorithm, mse against a direct evaluation,
// thread safety, statistics that follow sample order whatever the interleaving of runs, the engine observer path,
// and the tensors an int8 engine reads ranges for.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "core/cpu_features.h"
#include "core/engine.h"
#include "kernels/histogram.h"
#include "quant/calibrator.h"

namespace int8rt {
namespace {

std::vector<float> gaussian(size_t n, double sigma, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.f, float(sigma));
  std::vector<float> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

std::vector<float> laplace(size_t n, double b, uint32_t seed) {
  std::mt19937 gen(seed);
  std::exponential_distribution<float> e(float(1 / b));
  std::bernoulli_distribution sign(0.5);
  std::vector<float> v(n);
  for (auto& x : v) x = sign(gen) ? e(gen) : -e(gen);
  return v;
}

// pytorch-quantization's _compute_amax_entropy, transcribed literally: explicit P and Q arrays per candidate,
// np.digitize on linspace(0, i, levels + 1), scipy.stats.entropy (normalising both), the last argmin.
double brute_force_entropy_amax(std::vector<double> bins, double width) {
  const int levels = 128, start = 128, n = int(bins.size());
  bins[0] = bins[1];
  std::vector<double> divs;
  for (int i = start; i <= n; i++) {
    std::vector<double> space(levels + 1);
    for (int k = 0; k <= levels; k++) space[k] = double(i) * k / levels;  // linspace(0, i, levels + 1)
    std::vector<int> dig(i);
    for (int j = 0; j < i; j++) {
      int d = 0;  // np.digitize(j, space) - 1: index of the last edge <= j
      while (d + 1 <= levels && space[d + 1] <= j) d++;
      dig[j] = bins[j] == 0 ? -1 : d;
    }
    std::vector<double> counts(levels, 0.0);
    std::vector<int> members(levels, 0);
    for (int j = 0; j < i; j++)
      if (dig[j] >= 0) {
        counts[dig[j]] += bins[j];
        members[dig[j]]++;
      }
    std::vector<double> q(i, 0.0), p(bins.begin(), bins.begin() + i);
    for (int j = 0; j < i; j++)
      if (dig[j] >= 0) q[j] = counts[dig[j]] / members[dig[j]];
    for (int j = i; j < n; j++) p[i - 1] += bins[j];
    double sp = 0, sq = 0;
    for (int j = 0; j < i; j++) {
      sp += p[j];
      sq += q[j];
    }
    double kl = 0;
    for (int j = 0; j < i && std::isfinite(kl); j++) {
      if (p[j] == 0) continue;
      if (q[j] == 0 || sq == 0) {
        kl = std::numeric_limits<double>::infinity();
        break;
      }
      kl += (p[j] / sp) * std::log((p[j] / sp) / (q[j] / sq));
    }
    divs.push_back(kl);
  }
  size_t best = 0;
  for (size_t k = 0; k < divs.size(); k++)
    if (divs[k] <= divs[best]) best = k;
  return double(best + start) * width;
}

// Direct sum over the samples of the squared error of symmetric int8 fake quantization at amax.
double quant_mse(const std::vector<float>& x, double amax) {
  const double s = amax / 127;
  double e = 0;
  for (float v : x) {
    const double q = std::max(-127.0, std::min(127.0, std::nearbyint(v / s))) * s;
    e += (q - v) * (q - v);
  }
  return e / double(x.size());
}

std::vector<uint64_t> summed_copies(const std::vector<uint32_t>& counts, uint32_t nbins) {
  std::vector<uint64_t> s(nbins, 0);
  for (int c = 0; c < kAbsHistogramCopies; c++)
    for (uint32_t k = 0; k < nbins; k++) s[k] += counts[size_t(c) * nbins + k];
  return s;
}

// ---------------------------------------------------------------------------------------------------------------
// Kernels

TEST(CalibrationKernels, RangeMatchesReference) {
  for (size_t n : {size_t(0), size_t(1), size_t(7), size_t(8), size_t(15), size_t(16), size_t(17), size_t(1000)}) {
    std::vector<float> x = gaussian(n, 3.0, uint32_t(n + 1));
    const RangeF32 a = range_f32(x.data(), n), b = range_f32_ref(x.data(), n);
    EXPECT_EQ(a.min, b.min) << n;
    EXPECT_EQ(a.max, b.max) << n;
    EXPECT_EQ(a.absmax_bits, b.absmax_bits) << n;
    float m = 0;
    for (float v : x) m = std::max(m, std::fabs(v));
    float got;
    std::memcpy(&got, &a.absmax_bits, 4);
    EXPECT_EQ(got, m);
  }
  std::vector<float> x(37, 1.f);
  x[29] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_GE(range_f32(x.data(), x.size()).absmax_bits, 0x7f800000u);
  x[29] = -std::numeric_limits<float>::infinity();
  EXPECT_GE(range_f32(x.data(), x.size()).absmax_bits, 0x7f800000u);
}

TEST(CalibrationKernels, HistogramMatchesReference) {
  // ReLU-like data (half exact zeros, in runs and scattered), values at and past the top edge, negatives.
  std::vector<float> x = gaussian(100003, 1.0, 7);
  for (size_t i = 0; i < x.size(); i++)
    if ((i / 64) % 3 == 0 || x[i] < 0.2f) x[i] = i % 5 == 0 ? -0.f : 0.f;
  x[5] = 4.f;
  x[6] = -4.f;
  x[7] = 100.f;  // clamps into the last bin
  for (uint32_t nbins : {1u, 2048u, 6000u}) {
    const float inv_w = float(nbins) / 4.f;
    std::vector<uint32_t> a(abs_histogram_counts(nbins), 0), b = a;
    const RangeF32 ra = abs_histogram_f32(x.data(), x.size(), inv_w, nbins, a.data());
    const RangeF32 rb = abs_histogram_f32_ref(x.data(), x.size(), inv_w, nbins, b.data());
    const RangeF32 r = range_f32_ref(x.data(), x.size());
    EXPECT_EQ(ra.min, r.min);
    EXPECT_EQ(ra.max, r.max);
    EXPECT_EQ(ra.absmax_bits, r.absmax_bits);
    EXPECT_EQ(rb.absmax_bits, r.absmax_bits);
    const auto sa = summed_copies(a, nbins), sb = summed_copies(b, nbins);
    EXPECT_EQ(sa, sb) << nbins;
    uint64_t total = 0;
    for (uint64_t c : sa) total += c;
    EXPECT_EQ(total, x.size());
    EXPECT_GE(sa[nbins - 1], 3u);
  }
}

TEST(CalibrationKernels, MergeMatchesReferenceAndClears) {
  std::mt19937 rng(9);
  for (uint32_t nbins : {1u, 7u, 8u, 2048u, 2053u}) {
    std::vector<uint32_t> a(abs_histogram_counts(nbins));
    for (auto& c : a) c = rng() % 100000;
    a[0] = 0xfffffff0u / 4;  // sums of four copies still fit 32 bits
    std::vector<uint32_t> b = a;
    std::vector<uint64_t> ba(nbins), bb(nbins);
    for (size_t k = 0; k < nbins; k++) ba[k] = bb[k] = (uint64_t(1) << 40) + k;
    merge_abs_histogram(a.data(), nbins, ba.data());
    merge_abs_histogram_ref(b.data(), nbins, bb.data());
    EXPECT_EQ(ba, bb) << nbins;
    EXPECT_TRUE(std::all_of(a.begin(), a.end(), [](uint32_t c) { return c == 0; })) << nbins;
    EXPECT_TRUE(std::all_of(b.begin(), b.end(), [](uint32_t c) { return c == 0; })) << nbins;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Statistics and methods

TEST(Calibration, MinMaxIsExact) {
  TensorStats s;
  const std::vector<float> a = {0.25f, -3.5f, 1.f}, b = {2.75f, -0.5f};
  s.add(a.data(), a.size());
  s.add(b.data(), b.size());
  EXPECT_EQ(s.count(), 5u);
  EXPECT_EQ(s.min(), -3.5f);
  EXPECT_EQ(s.max(), 2.75f);
  EXPECT_EQ(s.absmax(), 3.5f);
  EXPECT_EQ(s.amax(CalibrationMethod::kMinMax, 0), 3.5f);
  EXPECT_EQ(s.amax(CalibrationMethod::kPercentile, 100), 3.5f);
}

TEST(Calibration, PercentileIsExactOnKnownData) {
  // The first batch has max 2048, so bins are [k, k+1). 9,990 values in bin 10, 9 in bin 99, 1 at 2048 (last bin).
  TensorStats s;
  std::vector<float> x(9990, 10.5f);
  for (int k = 0; k < 9; k++) x.push_back(-99.25f);
  x.push_back(2048.f);
  s.add(x.data(), x.size());
  ASSERT_EQ(s.bins().size(), 2048u);
  EXPECT_EQ(s.bin_width(), 1.0);
  EXPECT_EQ(s.amax(CalibrationMethod::kPercentile, 99.9), 11.f);    // CDF reaches 0.999 at the top of bin 10
  EXPECT_EQ(s.amax(CalibrationMethod::kPercentile, 99.99), 100.f);  // 9,999 / 10,000 at the top of bin 99
  EXPECT_EQ(s.amax(CalibrationMethod::kPercentile, 99.995), 2048.f);
  EXPECT_EQ(s.amax(CalibrationMethod::kPercentile, 100), 2048.f);
  EXPECT_EQ(s.amax(CalibrationMethod::kPercentile, 50), 11.f);

  // Uniform values: the p-quantile of |x| ~ U(0, 1), to within a bin.
  TensorStats u;
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> y(1 << 20);
  for (auto& v : y) v = d(gen);
  u.add(y.data(), y.size());
  EXPECT_NEAR(u.amax(CalibrationMethod::kPercentile, 90), 0.9, 2.0 / 2048);
  EXPECT_NEAR(u.amax(CalibrationMethod::kPercentile, 99.99), 0.9999, 2.0 / 2048);
}

TEST(Calibration, HistogramGrowsWithSameWidthThenMerges) {
  TensorStats s;
  std::vector<float> zeros(100, 0.f);
  s.add(zeros.data(), zeros.size());  // no width yet: the zeros wait for bin 0
  EXPECT_TRUE(s.bins().empty());
  std::vector<float> a = {1.f, 0.5f, -0.25f};
  s.add(a.data(), a.size());
  ASSERT_EQ(s.bins().size(), 2048u);
  EXPECT_EQ(s.bin_width(), 1.0 / 2048);
  EXPECT_EQ(s.bins()[0], 100u);
  EXPECT_EQ(s.bins()[1024], 1u);
  EXPECT_EQ(s.bins()[512], 1u);

  std::vector<float> b = {3.f, -2.f};
  s.add(b.data(), b.size());
  EXPECT_EQ(s.bins().size(), 3u * 2048);  // appended bins of the same width up to 3
  EXPECT_EQ(s.bin_width(), 1.0 / 2048);
  EXPECT_EQ(s.bins()[0], 100u);
  EXPECT_EQ(s.bins()[1024], 1u);
  EXPECT_EQ(s.bins()[4096], 1u);
  EXPECT_EQ(s.bins()[3 * 2048 - 1], 1u);

  // 1000 needs 2,048,000 bins of 1/2048: groups of 32 merge (width 1/64) to stay within 2^16 bins.
  std::vector<float> c(50000);
  for (size_t i = 0; i < c.size(); i++) c[i] = float(i % 1000) + 0.5f;
  c[0] = 1000.f;
  s.add(c.data(), c.size());
  EXPECT_EQ(s.bin_width(), 1.0 / 64);
  EXPECT_EQ(s.bins().size(), 64000u);
  EXPECT_LE(s.bins().size(), TensorStats::kMaxBins);
  uint64_t total = 0;
  for (uint64_t k : s.bins()) total += k;
  EXPECT_EQ(total, s.count());
  EXPECT_EQ(s.count(), 100u + 3 + 2 + 50000);
  // Old bin k is now bin k / 32; c's values k + 0.5 land in bins 64k + 32.
  EXPECT_EQ(s.bins()[0], 100u);                // the zeros
  EXPECT_EQ(s.bins()[16], 1u);                 // 0.25 (old bin 512)
  EXPECT_EQ(s.bins()[32], 1u + 49);            // 0.5 (old bin 1024), and c's 0.5s (one of them replaced)
  EXPECT_EQ(s.bins()[63], 1u);                 // 1.0, the top of the first range: old last bin 2047
  EXPECT_EQ(s.bins()[96], 50u);                // 1.5
  EXPECT_EQ(s.bins()[128], 1u);                // 2.0 (old bin 4096)
  EXPECT_EQ(s.bins()[191], 1u);                // 3.0, the top of the second range: old last bin 6143
  EXPECT_EQ(s.bins()[64000 - 1], 1u);          // 1000, the top of the range
  EXPECT_EQ(s.absmax(), 1000.f);
  EXPECT_EQ(s.amax(CalibrationMethod::kMinMax, 0), 1000.f);
}

TEST(Calibration, HugeJumpMergesEverythingIntoRange) {
  TensorStats s;
  std::vector<float> a = {1e-30f};
  s.add(a.data(), a.size());
  std::vector<float> b = {3e38f, 1.f};
  s.add(b.data(), b.size());
  EXPECT_LE(s.bins().size(), TensorStats::kMaxBins);
  EXPECT_GE(s.bin_width() * double(s.bins().size()), 3e38);
  uint64_t total = 0;
  for (uint64_t k : s.bins()) total += k;
  EXPECT_EQ(total, 3u);
  EXPECT_EQ(s.amax(CalibrationMethod::kMinMax, 0), 3e38f);
  EXPECT_GT(s.amax(CalibrationMethod::kEntropy, 0), 0.f);
}

TEST(Calibration, ZeroTensorAndNonFiniteValues) {
  TensorStats z;
  std::vector<float> zeros(5000, 0.f);
  z.add(zeros.data(), zeros.size());
  for (auto m : {CalibrationMethod::kEntropy, CalibrationMethod::kPercentile, CalibrationMethod::kMinMax,
                 CalibrationMethod::kMse})
    EXPECT_EQ(z.amax(m, 99.99), 0.f);
  EXPECT_EQ(z.min(), 0.f);
  EXPECT_EQ(z.max(), 0.f);

  TensorStats s;
  std::vector<float> x = gaussian(10000, 1.0, 5);
  x[3] = std::numeric_limits<float>::quiet_NaN();
  x[9000] = std::numeric_limits<float>::infinity();
  x[9001] = -std::numeric_limits<float>::infinity();
  s.add(x.data(), x.size());
  EXPECT_EQ(s.nonfinite(), 3u);
  EXPECT_EQ(s.count(), 9997u);
  EXPECT_TRUE(std::isfinite(s.absmax()));
  EXPECT_LT(s.absmax(), 10.f);

  // The same once the histogram exists (large tensors then take the one-pass path, which must notice and redo).
  const uint64_t before = s.count();
  s.add(x.data(), x.size());
  EXPECT_EQ(s.nonfinite(), 6u);
  EXPECT_EQ(s.count(), 2 * before);
  uint64_t total = 0;
  for (uint64_t k : s.bins()) total += k;
  EXPECT_EQ(total, s.count());
  // Non-finite values in the kernel land in the last bin, not out of range.
  std::vector<uint32_t> counts(abs_histogram_counts(16), 0);
  const RangeF32 r = abs_histogram_f32(x.data(), x.size(), 1.f, 16, counts.data());
  EXPECT_GE(r.absmax_bits, 0x7f800000u);
}

TEST(Calibration, ResampleKeepsMassAndIsIdentityWhenNotGrown) {
  std::vector<uint64_t> bins(2048);
  for (size_t k = 0; k < bins.size(); k++) bins[k] = k % 7;
  const auto same = resample_histogram(bins, 1.0 / 2048, 1.0, 2048);
  for (size_t k = 0; k < bins.size(); k++) EXPECT_EQ(same[k], double(bins[k]));

  // 6144 bins of 1/2048 holding values up to 2.5: 2048 bins of 2.5/2048, the same total.
  std::vector<uint64_t> grown(6144, 0);
  for (size_t k = 0; k < 5120; k++) grown[k] = 3;
  const auto r = resample_histogram(grown, 1.0 / 2048, 2.5, 2048);
  double total = 0;
  for (double c : r) total += c;
  EXPECT_NEAR(total, 3.0 * 5120, 1e-6);
  for (size_t k = 0; k < 2048; k++) EXPECT_NEAR(r[k], 7.5, 1e-9) << k;  // uniform stays uniform
}

TEST(Calibration, EntropyMatchesBruteForceKL) {
  struct Case {
    const char* what;
    std::vector<float> data;
  };
  std::vector<float> relu = gaussian(300000, 1.0, 11);
  for (auto& v : relu) v = std::max(v, 0.f);
  std::vector<Case> cases = {{"gaussian", gaussian(300000, 1.0, 1)},
                             {"laplace", laplace(300000, 0.5, 2)},
                             {"relu(gaussian)", relu}};
  for (const auto& c : cases) {
    TensorStats s;
    s.add(c.data.data(), c.data.size());
    ASSERT_EQ(s.bins().size(), 2048u);
    const double w = s.bin_width();
    const std::vector<double> h(s.bins().begin(), s.bins().end());
    const double expect = brute_force_entropy_amax(h, w);
    EXPECT_EQ(entropy_amax(h, w), expect) << c.what;
    EXPECT_FLOAT_EQ(s.amax(CalibrationMethod::kEntropy, 0), float(expect)) << c.what;
    // The threshold clips the sparse tail, not the bulk (4.3 sigma here for the Gaussian, 11 b for the Laplace).
    EXPECT_LT(expect, 0.99 * s.absmax()) << c.what;
    EXPECT_GT(expect, 0.6 * s.absmax()) << c.what;
  }
}

TEST(Calibration, EntropyOnGrownHistogramUsesResampledBins) {
  TensorStats s;
  std::vector<float> a = gaussian(100000, 1.0, 21), b = gaussian(100000, 3.0, 22);
  s.add(a.data(), a.size());
  s.add(b.data(), b.size());
  ASSERT_GT(s.bins().size(), 2048u);
  const auto h = resample_histogram(s.bins(), s.bin_width(), s.absmax(), 2048);
  const double expect = brute_force_entropy_amax(h, double(s.absmax()) / 2048);
  EXPECT_FLOAT_EQ(s.amax(CalibrationMethod::kEntropy, 0), float(expect));
}

TEST(Calibration, EntropyEdgeCases) {
  // One value repeated: every truncation leaves P mass where Q has none, so only the full range is finite.
  TensorStats s;
  std::vector<float> x(1000, 2.f);
  s.add(x.data(), x.size());
  EXPECT_EQ(s.amax(CalibrationMethod::kEntropy, 0), 2.f);
  // Uniform |x|: nothing to clip, the full range (the last of near-ties) wins.
  TensorStats u;
  std::vector<float> y(2048 * 64);
  for (size_t i = 0; i < y.size(); i++) y[i] = (float(i % 2048) + 0.5f) / 2048;
  u.add(y.data(), y.size());
  EXPECT_NEAR(u.amax(CalibrationMethod::kEntropy, 0), u.absmax(), 2.0 / 2048);
}

TEST(Calibration, EntropyIgnoresNarrowSpikes) {
  // A Gaussian plus 30% of the values at one point (a flat background's constant response, say): searched as it is,
  // the spike takes the last kept bin and KL clips the whole tail above it; with the spike cut to its surroundings
  // the threshold is the Gaussian's own, within a few bins.
  std::vector<float> g = gaussian(300000, 1.0, 31);
  TensorStats plain;
  plain.add(g.data(), g.size());
  std::vector<float> spiky = g;
  for (size_t i = 0; i < spiky.size(); i += 10) {
    spiky[i] = 0.7f;
    if (i + 1 < spiky.size()) spiky[i + 1] = -0.7f;
    if (i + 2 < spiky.size()) spiky[i + 2] = 0.7f;
  }
  TensorStats s;
  s.add(spiky.data(), spiky.size());
  ASSERT_EQ(s.bins().size(), 2048u);
  const double w = s.bin_width();
  std::vector<double> h(s.bins().begin(), s.bins().end());
  const double unsuppressed = entropy_amax(h, w);
  EXPECT_LT(unsuppressed, 0.75);  // the pathology: the tail above the spike clipped
  std::vector<double> cut = h;
  const int changed = suppress_spikes(&cut);
  EXPECT_GE(changed, 1);
  EXPECT_LE(changed, 3);  // the spike's bin (and a neighbour it straddles), nothing else
  const size_t spike_bin = size_t(0.7 / w);
  EXPECT_LT(cut[spike_bin], 0.01 * h[spike_bin]);
  for (size_t k = 0; k < h.size(); k++)
    if (k + 1 < spike_bin || k > spike_bin + 1) EXPECT_EQ(cut[k], h[k]) << k;
  const float a = s.amax(CalibrationMethod::kEntropy, 0);
  EXPECT_FLOAT_EQ(a, float(entropy_amax(cut, w)));
  const float clean = plain.amax(CalibrationMethod::kEntropy, 0);
  EXPECT_NEAR(a, clean, 0.05 * clean);
  EXPECT_GT(a, 3.0f);
}

TEST(Calibration, SpikeSuppressionLeavesSmoothAndDiscreteHistogramsAlone) {
  std::vector<float> relu = gaussian(300000, 1.0, 41);
  for (auto& v : relu) v = std::max(v, 0.f);
  for (const auto& data : {gaussian(300000, 1.0, 42), laplace(300000, 0.5, 43), relu}) {
    TensorStats s;
    s.add(data.data(), data.size());
    std::vector<double> h(s.bins().begin(), s.bins().end()), cut = h;
    EXPECT_EQ(suppress_spikes(&cut), 0);
    EXPECT_EQ(cut, h);
  }
  // Nothing but spikes (three values): cutting them would leave no mass, so the histogram stays.
  std::vector<double> d(2048, 0.0);
  d[100] = 500;
  d[900] = 300;
  d[1500] = 200;
  std::vector<double> cut = d;
  EXPECT_EQ(suppress_spikes(&cut), 0);
  EXPECT_EQ(cut, d);
  // A clamp's saturation value (HardSigmoid at 1, ReLU6 at 6) sits in the top bins: it keeps its weight.
  std::vector<float> gate = gaussian(200000, 0.25, 44);
  for (auto& v : gate) v = std::min(std::max(v + 0.5f, 0.f), 1.f);
  TensorStats s;
  s.add(gate.data(), gate.size());
  std::vector<double> h(s.bins().begin(), s.bins().end());
  ASSERT_GT(h.back(), 0.01 * double(gate.size()));
  cut = h;
  suppress_spikes(&cut);
  EXPECT_EQ(cut.back(), h.back());
  EXPECT_EQ(s.amax(CalibrationMethod::kEntropy, 0), s.absmax());  // the saturated values are not clipped
}

TEST(Calibration, MseIsSane) {
  const std::vector<float> g = gaussian(200000, 1.0, 31);
  TensorStats s;
  s.add(g.data(), g.size());
  const float amax = s.amax(CalibrationMethod::kMse, 0);
  // For N(0, 1) the int8 MSE-optimal clip is near 4 sigma (the rounding error of a wider range grows slowly,
  // the clipping error of a narrower one fast); it must beat max|x| and a tight 2-sigma clip on the real samples.
  EXPECT_GT(amax, 2.5f);
  EXPECT_LT(amax, s.absmax());
  EXPECT_LT(quant_mse(g, amax), quant_mse(g, s.absmax()));
  EXPECT_LT(quant_mse(g, amax), quant_mse(g, 2.0));
  // Uniform data has no tail to clip: the optimum is at the top.
  std::vector<float> y(1 << 18);
  for (size_t i = 0; i < y.size(); i++) y[i] = (float(i % 4096) + 0.5f) / 4096;
  TensorStats u;
  u.add(y.data(), y.size());
  EXPECT_GT(u.amax(CalibrationMethod::kMse, 0), 0.98f);
}

TEST(Calibration, RangeOnlyStatistics) {
  TensorStats s(/*histogram=*/false);
  std::vector<float> x = gaussian(100000, 1.0, 51);
  x[10] = std::numeric_limits<float>::quiet_NaN();
  s.add(x.data(), x.size());
  s.add(x.data(), 1000);
  EXPECT_TRUE(s.bins().empty());
  EXPECT_EQ(s.count(), 99999u + 999u);
  EXPECT_EQ(s.nonfinite(), 2u);
  float mn = INFINITY, mx = -INFINITY;
  for (float v : x)
    if (std::isfinite(v)) {
      mn = std::min(mn, v);
      mx = std::max(mx, v);
    }
  EXPECT_EQ(s.min(), mn);
  EXPECT_EQ(s.max(), mx);
  EXPECT_EQ(s.amax(CalibrationMethod::kMinMax, 0), std::max(-mn, mx));

  Calibrator cal(1, /*histograms=*/false);
  cal.observe("t", x.data(), x.size());
  std::vector<TensorRange> out;
  ASSERT_TRUE(cal.finish(CalibrationMethod::kMinMax, 99.99, &out).ok());
  EXPECT_EQ(out[0].amax, std::max(-mn, mx));
  Status st = cal.finish(CalibrationMethod::kEntropy, 99.99, &out);
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.message().find("histograms"), std::string::npos);
}

TEST(Calibration, PassCommitsOnlyOntoTheBinsItCounted) {
  TensorStats s;
  const std::vector<float> a = gaussian(20000, 1.0, 61), b = gaussian(20000, 5.0, 62);
  s.add(a.data(), a.size());  // fixes the bins
  TensorStats::Pass pass;
  ASSERT_TRUE(s.prepare(a.size(), &pass));
  TensorStats::histogram(a.data(), a.size(), nullptr, &pass);
  s.add(b.data(), b.size());  // another run grows the bins meanwhile
  const uint64_t count = s.count();
  const auto bins = s.bins();
  EXPECT_FALSE(s.commit(a.size(), &pass));  // refused, nothing changed
  EXPECT_EQ(s.count(), count);
  EXPECT_EQ(s.bins(), bins);
  s.add(a.data(), a.size());  // what the caller does then
  EXPECT_EQ(s.count(), count + a.size());

  // A pass whose values exceed the bins is refused too; a fitting one is taken.
  std::vector<float> c = gaussian(200000, 1.0, 64);
  c[7] = 1000.f;
  ASSERT_TRUE(s.prepare(c.size(), &pass));
  TensorStats::histogram(c.data(), c.size(), nullptr, &pass);
  EXPECT_FALSE(s.commit(c.size(), &pass));
  ThreadPool pool(2);
  std::vector<float> big = gaussian(300000, 1.0, 63);
  ASSERT_TRUE(s.prepare(big.size(), &pass));
  TensorStats::histogram(big.data(), big.size(), &pool, &pass);
  EXPECT_TRUE(s.commit(big.size(), &pass));
  uint64_t total = 0;
  for (uint64_t k : s.bins()) total += k;
  EXPECT_EQ(total, s.count());
}

TEST(Calibration, MethodNames) {
  CalibrationMethod m;
  EXPECT_TRUE(parse_calibration_method("mse", &m).ok());
  EXPECT_EQ(m, CalibrationMethod::kMse);
  EXPECT_STREQ(calibration_method_name(m), "mse");
  Status st = parse_calibration_method("kl", &m);
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.message().find("entropy"), std::string::npos);
}

// The mse search written out one candidate at a time (the library evaluates four at once).
double direct_mse_amax(const std::vector<double>& bins, double width) {
  const int n = int(bins.size());
  double best = std::numeric_limits<double>::infinity(), best_amax = n * width;
  for (int i = 128; i < n; i++) {
    const double amax = (i + 0.5) * width, scale = amax / 127, inv = 127 / amax;
    double err = 0, sat = 0;
    for (int k = 0; k < n; k++) {
      if (bins[k] == 0) continue;
      const double c = (k + 0.5) * width;
      if (c <= amax) {
        const double d = double(int32_t(c * inv + 0.5)) * scale - c;
        err += bins[k] * d * d;
      } else {
        sat += bins[k] * (c - amax) * (c - amax);
      }
    }
    if (err + sat < best) {
      best = err + sat;
      best_amax = amax;
    }
  }
  return best_amax;
}

TEST(Calibration, MseMatchesDirectSearch) {
  for (uint32_t seed : {71u, 72u, 73u}) {
    const std::vector<float> g = seed == 72 ? laplace(100000, 0.7, seed) : gaussian(100000, 1.0, seed);
    TensorStats s;
    s.add(g.data(), g.size());
    const std::vector<double> h(s.bins().begin(), s.bins().end());
    // Sums in another order can differ in the last bits, so the chosen bins may differ only on a near-tie.
    EXPECT_NEAR(mse_amax(h, s.bin_width()), direct_mse_amax(h, s.bin_width()), 1.01 * s.bin_width()) << seed;
  }
}

TEST(Calibration, EntropyMatchesBruteForceOnOtherLevelCounts) {
  // 2048 bins of a smooth decreasing density, some bins emptied: the four-candidate evaluation with other level
  // counts (a power of two and not) and start bins.
  std::vector<double> h(2048);
  for (size_t k = 0; k < h.size(); k++) h[k] = std::floor(1e5 * std::exp(-double(k) / 300)) + (k % 7 == 3 ? 0 : 1);
  for (size_t k = 1500; k < 2048; k += 5) h[k] = 0;
  EXPECT_EQ(entropy_amax(h, 0.01), brute_force_entropy_amax(h, 0.01));
  for (int levels : {64, 100}) {
    // The brute force is fixed at 128 levels; compare the general path against the power-of-two one instead:
    // 'levels' levels over 'levels' bins and more is what both compute.
    const double a = entropy_amax(h, 0.01, 2 * levels, levels);
    EXPECT_GE(a, 2 * levels * 0.01) << levels;
    EXPECT_LE(a, 2048 * 0.01) << levels;
  }
}

TEST(Calibration, FoldOrderAfterTheFirstBatchDoesNotMatter) {
  // The first batch fixes the width; the rest grows the bins (appending, then merging groups) in any order to the
  // same histogram, bit for bit. This is what lets samples run concurrently (Calibrator, Determinism).
  const std::vector<float> a = gaussian(50000, 1.0, 81), b = gaussian(50000, 4.0, 82), c = laplace(50000, 60.0, 83);
  std::vector<float> d = gaussian(3000, 0.5, 84);
  d[17] = 9000.f;  // a jump that merges groups of bins
  const std::vector<const std::vector<float>*> rest = {&b, &c, &d};
  std::vector<int> order = {0, 1, 2};
  TensorStats first;
  first.add(a.data(), a.size());
  for (int k : order) first.add(rest[size_t(k)]->data(), rest[size_t(k)]->size());
  int permutations = 0;
  while (std::next_permutation(order.begin(), order.end())) {
    TensorStats s;
    s.add(a.data(), a.size());
    for (int k : order) s.add(rest[size_t(k)]->data(), rest[size_t(k)]->size());
    EXPECT_EQ(s.bin_width(), first.bin_width());
    EXPECT_EQ(s.bins(), first.bins());
    EXPECT_EQ(s.amax(CalibrationMethod::kEntropy, 0), first.amax(CalibrationMethod::kEntropy, 0));
    permutations++;
  }
  EXPECT_EQ(permutations, 5);
  // The first batch is what matters: another one first gives other bins.
  TensorStats other;
  other.add(b.data(), b.size());
  other.add(a.data(), a.size());
  for (const std::vector<float>* r : {&c, static_cast<const std::vector<float>*>(&d)}) other.add(r->data(), r->size());
  EXPECT_NE(other.bin_width(), first.bin_width());
}

// ---------------------------------------------------------------------------------------------------------------
// Calibrator

TEST(Calibrator, ConcurrentObserversCountEverything) {
  Calibrator cal(2);  // tensors of 2^17 values and more are split over its pool
  const std::vector<float> big = gaussian(300000, 2.0, 41), small = gaussian(100, 1.0, 42);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++)
    threads.emplace_back([&] {
      for (int r = 0; r < 20; r++) {
        cal.observe("big", big.data(), big.size());
        cal.observe("small", small.data(), small.size());
        cal.observe("r" + std::to_string(r), small.data(), small.size());
      }
    });
  for (auto& t : threads) t.join();
  std::vector<TensorRange> out;
  ASSERT_TRUE(cal.finish(CalibrationMethod::kEntropy, 99.99, &out).ok());
  ASSERT_EQ(out.size(), 22u);
  EXPECT_EQ(cal.tensor_count(), 22u);
  for (const auto& r : out) {
    EXPECT_EQ(r.count, r.name == "big" ? 80u * 300000 : r.name == "small" ? 80u * 100 : 4u * 100) << r.name;
    EXPECT_GT(r.amax, 0.f);
  }
  // Single-threaded, the same data gives the same histogram, hence the same ranges.
  TensorStats s;
  for (int k = 0; k < 80; k++) s.add(big.data(), big.size());
  for (const auto& r : out)
    if (r.name == "big") {
      EXPECT_EQ(r.amax, s.amax(CalibrationMethod::kEntropy, 0));
      EXPECT_EQ(r.min, s.min());
      EXPECT_EQ(r.max, s.max());
    }
  std::vector<TensorRange> pct;
  ASSERT_TRUE(cal.finish(CalibrationMethod::kPercentile, 99.9, &pct).ok());
  for (const auto& r : pct)
    if (r.name == "big") EXPECT_EQ(r.amax, s.amax(CalibrationMethod::kPercentile, 99.9));

  EXPECT_EQ(cal.finish(CalibrationMethod::kPercentile, 0, &out).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(cal.finish(CalibrationMethod::kPercentile, 100.5, &out).code(), ErrorCode::kInvalidArgument);
}

// The ranges of one tensor under every method, to compare two calibrators.
std::vector<float> all_amax(const Calibrator& cal, const std::string& name) {
  std::vector<float> out;
  for (CalibrationMethod m : {CalibrationMethod::kEntropy, CalibrationMethod::kPercentile, CalibrationMethod::kMinMax,
                              CalibrationMethod::kMse}) {
    std::vector<TensorRange> r;
    EXPECT_TRUE(cal.finish(m, 99.9, &r).ok());
    for (const auto& t : r)
      if (t.name == name) out.push_back(t.amax);
  }
  return out;
}

TEST(Calibrator, SamplesFoldInSampleOrderWhateverTheInterleaving) {
  // Sample 0 is all zeros, samples 1 and 2 differ in scale. Folded in order, sample 1 fixes the bin width.
  const std::vector<float> zeros(4000, 0.f), a = gaussian(40000, 1.0, 91), b = gaussian(40000, 5.0, 92);
  const std::vector<const std::vector<float>*> data = {&zeros, &a, &b};
  Calibrator in_order;
  for (const auto* x : data) {
    const uint64_t s = in_order.begin_sample();
    Calibrator::SampleRun(&in_order, s).observe("t", x->data(), x->size());
    in_order.end_sample(s);
  }
  // Arrival order 2, 1, 0 (each run on its own thread, started 30 ms apart, latest sample first).
  Calibrator reversed;
  std::vector<uint64_t> ids;
  for (size_t k = 0; k < data.size(); k++) ids.push_back(reversed.begin_sample());
  std::vector<std::thread> runs;
  for (size_t k = data.size(); k-- > 0;) {
    runs.emplace_back([&, k] {
      Calibrator::SampleRun(&reversed, ids[k]).observe("t", data[k]->data(), data[k]->size());
      reversed.end_sample(ids[k]);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  for (auto& t : runs) t.join();
  EXPECT_EQ(all_amax(reversed, "t"), all_amax(in_order, "t"));
  // Without the ordering, sample 2 would have fixed the width: other ranges.
  Calibrator unordered;
  for (size_t k = data.size(); k-- > 0;) unordered.observe("t", data[k]->data(), data[k]->size());
  EXPECT_NE(all_amax(unordered, "t"), all_amax(in_order, "t"));
}

TEST(Calibrator, ASampleThatEndsReleasesLaterOnes) {
  // Sample 0's run fails before it reaches the tensor; sample 1 waits for it only until it ends.
  Calibrator cal;
  const uint64_t s0 = cal.begin_sample(), s1 = cal.begin_sample();
  const std::vector<float> a = gaussian(1000, 1.0, 93);
  std::thread run1([&] {
    Calibrator::SampleRun(&cal, s1).observe("t", a.data(), a.size());
    cal.end_sample(s1);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::vector<TensorRange> r;
  ASSERT_TRUE(cal.finish(CalibrationMethod::kMinMax, 99.9, &r).ok());
  EXPECT_TRUE(r.empty() || r[0].count == 0);  // still waiting
  cal.end_sample(s0);
  run1.join();
  ASSERT_TRUE(cal.finish(CalibrationMethod::kMinMax, 99.9, &r).ok());
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].count, a.size());
}

TEST(Calibrator, ConcurrentSamplesOfAnEngineGiveTheSequentialRanges) {
  // Many samples of a small graph, two runs at a time (as calibrate() does), against the same samples one by one.
  ModelDef m;
  m.opsets[""] = 13;
  ValueInfo x;
  x.name = "x";
  x.dtype = DType::kFloat32;
  x.has_shape = true;
  x.dims = {64, 64};
  x.dim_params.assign(2, "");
  m.inputs.push_back(x);
  ValueInfo y = x;
  y.name = "y";
  m.outputs.push_back(y);
  NodeDef relu, mul;
  relu.name = "relu";
  relu.op_type = "Relu";
  relu.inputs = {"x"};
  relu.outputs = {"r"};
  mul.name = "mul";
  mul.op_type = "Mul";
  mul.inputs = {"r", "x"};
  mul.outputs = {"y"};
  m.nodes = {relu, mul};
  std::shared_ptr<Engine> engine;
  EngineOptions opts;
  opts.intra_op_threads = 1;
  ASSERT_TRUE(Engine::build(std::move(m), opts, &engine).ok());
  std::vector<Tensor> samples(24);
  for (size_t k = 0; k < samples.size(); k++) {
    ASSERT_TRUE(Tensor::create(DType::kFloat32, {64, 64}, &samples[k]).ok());
    const std::vector<float> v = gaussian(64 * 64, 0.5 + double(k % 5), uint32_t(100 + k));
    std::memcpy(samples[k].raw(), v.data(), v.size() * 4);
  }
  auto run = [&](Calibrator& cal, uint64_t s, size_t k) {
    std::vector<Tensor> outs;
    Calibrator::SampleRun obs(&cal, s);
    EXPECT_TRUE(engine->run({{"x", samples[k]}}, &outs, &obs).ok());
    cal.end_sample(s);
  };
  Calibrator sequential;
  for (size_t k = 0; k < samples.size(); k++) run(sequential, sequential.begin_sample(), k);
  for (int trial = 0; trial < 3; trial++) {
    Calibrator concurrent;
    std::vector<uint64_t> ids;
    for (size_t k = 0; k < samples.size(); k++) ids.push_back(concurrent.begin_sample());
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; t++)
      threads.emplace_back([&, t] {
        for (size_t k = size_t(t); k < samples.size(); k += 2) run(concurrent, ids[k], k);
      });
    for (auto& t : threads) t.join();
    for (const char* name : {"x", "r", "y"}) EXPECT_EQ(all_amax(concurrent, name), all_amax(sequential, name)) << name;
  }
}

TEST(Calibrator, ObservesEveryFloatValueOfAnEngineRun) {
  // x -> Relu -> r -> Mul(r, r) -> y ; Shape(x) -> s (int64, not observed)
  ModelDef m;
  m.opsets[""] = 13;
  auto value = [](const char* name, DType t, Dims dims) {
    ValueInfo v;
    v.name = name;
    v.dtype = t;
    v.has_shape = true;
    v.dims = std::move(dims);
    v.dim_params.assign(v.dims.size(), "");
    return v;
  };
  m.inputs.push_back(value("x", DType::kFloat32, {2, 3}));
  m.outputs.push_back(value("y", DType::kFloat32, {2, 3}));
  m.outputs.push_back(value("s", DType::kInt64, {2}));
  NodeDef relu, mul, shape;
  relu.name = "relu";
  relu.op_type = "Relu";
  relu.inputs = {"x"};
  relu.outputs = {"r"};
  mul.name = "mul";
  mul.op_type = "Mul";
  mul.inputs = {"r", "r"};
  mul.outputs = {"y"};
  shape.name = "shape";
  shape.op_type = "Shape";
  shape.inputs = {"x"};
  shape.outputs = {"s"};
  m.nodes = {relu, mul, shape};
  std::shared_ptr<Engine> engine;
  EngineOptions opts;
  opts.fuse_epilogues = false;
  opts.intra_op_threads = 1;
  Status st = Engine::build(std::move(m), opts, &engine);
  ASSERT_TRUE(st.ok()) << st.message();

  Calibrator cal;
  Tensor x;
  ASSERT_TRUE(Tensor::create(DType::kFloat32, {2, 3}, &x).ok());
  const float xs[6] = {-4.f, -1.f, 0.f, 0.5f, 1.f, 3.f};
  std::memcpy(x.raw(), xs, sizeof xs);
  std::vector<Tensor> outs;
  st = engine->run({{"x", x}}, &outs, &cal);
  ASSERT_TRUE(st.ok()) << st.message();
  std::vector<TensorRange> r;
  ASSERT_TRUE(cal.finish(CalibrationMethod::kMinMax, 99.99, &r).ok());
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].name, "x");
  EXPECT_EQ(r[0].amax, 4.f);
  EXPECT_EQ(r[0].min, -4.f);
  EXPECT_EQ(r[1].name, "r");
  EXPECT_EQ(r[1].amax, 3.f);
  EXPECT_EQ(r[1].min, 0.f);
  EXPECT_EQ(r[2].name, "y");
  EXPECT_EQ(r[2].amax, 9.f);
}

TEST(Calibrator, Int8RangeTensorsAreWhereInt8GroupsMeetTheRest) {
  // x -> conv1 -> c1 -> relu1 -> r1 -> conv2 -> c2 -> softmax -> y. An int8 engine runs conv1 + relu1 as one int8
  // Conv (c1 is never materialised), conv2 in int8, softmax in float (no int8 kernel).
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.f, 0.3f);
  auto weights = [&](Dims dims) {
    Tensor t;
    EXPECT_TRUE(Tensor::create(DType::kFloat32, dims, &t).ok());
    for (int64_t k = 0; k < t.numel(); k++) t.data<float>()[k] = nd(rng);
    return t;
  };
  auto value = [](const char* name, Dims dims) {
    ValueInfo v;
    v.name = name;
    v.dtype = DType::kFloat32;
    v.has_shape = true;
    v.dims = std::move(dims);
    v.dim_params.assign(v.dims.size(), "");
    return v;
  };
  auto node = [](const char* name, const char* op, std::vector<std::string> in, std::vector<std::string> out) {
    NodeDef n;
    n.name = name;
    n.op_type = op;
    n.inputs = std::move(in);
    n.outputs = std::move(out);
    return n;
  };
  ModelDef m;
  m.opsets[""] = 13;
  m.inputs.push_back(value("x", {1, 4, 8, 8}));
  m.outputs.push_back(value("y", {1, 6, 8, 8}));
  m.initializers.emplace_back("W1", weights({8, 4, 3, 3}));
  m.initializers.emplace_back("W2", weights({6, 8, 1, 1}));
  NodeDef conv1 = node("conv1", "Conv", {"x", "W1"}, {"c1"});
  Attribute pads;
  pads.name = "pads";
  pads.type = Attribute::Type::kInts;
  pads.ints = {1, 1, 1, 1};
  conv1.attrs.push_back(pads);
  NodeDef softmax = node("softmax", "Softmax", {"c2"}, {"y"});
  m.nodes = {conv1, node("relu1", "Relu", {"c1"}, {"r1"}), node("conv2", "Conv", {"r1", "W2"}, {"c2"}), softmax};

  std::vector<std::string> names;
  Status st = int8_range_tensors(m, {}, &names);
  ASSERT_TRUE(st.ok()) << st.message();
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"c2", "r1", "x"}));
  // conv2 pinned to fp32: c2 is a float tensor between float nodes.
  st = int8_range_tensors(m, {{"conv2", Precision::kFp32}}, &names);
  ASSERT_TRUE(st.ok()) << st.message();
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"r1", "x"}));
  EXPECT_FALSE(int8_range_tensors(m, {{"nope", Precision::kFp32}}, &names).ok());

  // A calibrator restricted to them observes just those of an unfused engine's run.
  std::shared_ptr<Engine> engine;
  EngineOptions opts;
  opts.fuse_epilogues = false;
  opts.intra_op_threads = 1;
  ASSERT_TRUE(Engine::build(m, opts, &engine).ok());
  ASSERT_TRUE(int8_range_tensors(m, {}, &names).ok());
  Calibrator cal;
  cal.restrict_to(std::unordered_set<std::string>(names.begin(), names.end()));
  Tensor x;
  ASSERT_TRUE(Tensor::create(DType::kFloat32, {1, 4, 8, 8}, &x).ok());
  for (int64_t k = 0; k < x.numel(); k++) x.data<float>()[k] = nd(rng);
  std::vector<Tensor> outs;
  ASSERT_TRUE(engine->run({{"x", x}}, &outs, &cal).ok());
  std::vector<TensorRange> r;
  ASSERT_TRUE(cal.finish(CalibrationMethod::kEntropy, 99.9, &r).ok());
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].name, "x");
  EXPECT_EQ(r[1].name, "r1");
  EXPECT_EQ(r[2].name, "c2");
}

}  // namespace
}  // namespace int8rt
