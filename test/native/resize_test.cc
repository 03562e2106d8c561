// Resize / Upsample (ops/resize.cc) against the ONNX documentation examples and against a per-element N-D
// reference written here after the ONNX reference implementation (each output element interpolated directly from
// its neighbours along every axis, edge padded, ratio in (0, 1]) — a formulation independent of the kernel's
// separable passes, fused bilinear path and nearest gather.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "op_test_util.h"

namespace int8rt {
namespace {

using testing::make_node;
using testing::make_tensor;
using testing::run_op;
using testing::values_of;

Attribute int_attr(const std::string& name, int64_t v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kInt;
  a.i = v;
  return a;
}
Attribute float_attr(const std::string& name, float v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kFloat;
  a.f = v;
  return a;
}
Attribute string_attr(const std::string& name, const std::string& v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kString;
  a.s = v;
  return a;
}
Attribute ints_attr(const std::string& name, std::vector<int64_t> v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kInts;
  a.ints = std::move(v);
  return a;
}
Attribute floats_attr(const std::string& name, std::vector<float> v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kFloats;
  a.floats = std::move(v);
  return a;
}

// ------------------------------------------------------------------------------------------- reference

struct RefOptions {
  std::string mode = "nearest";
  std::string coord = "half_pixel";
  std::string nearest = "round_prefer_floor";
  double A = -0.75;
  bool exclude_outside = false;
  bool antialias = false;
  double extrapolation = 0;
};

double ref_cubic(double x, double A) {
  x = std::abs(x);
  if (x <= 1) return (A + 2) * x * x * x - (A + 3) * x * x + 1;
  if (x < 2) return A * x * x * x - 5 * A * x * x + 8 * A * x - 4 * A;
  return 0;
}

std::vector<double> ref_coeffs(double ratio, double scale, const RefOptions& o) {
  if (o.mode == "nearest") {
    if (ratio == 1) return {0, 1};
    if (o.nearest == "round_prefer_floor") return {double(ratio <= 0.5), double(ratio > 0.5)};
    if (o.nearest == "round_prefer_ceil") return {double(ratio < 0.5), double(ratio >= 0.5)};
    if (o.nearest == "floor") return {1, 0};
    return {0, 1};
  }
  if (o.mode == "linear") {
    if (!o.antialias) return {1 - ratio, ratio};
    const double s = std::min(scale, 1.0);
    const int start = int(std::floor(-1 / s) + 1), n = 2 - 2 * start;
    std::vector<double> c;
    double sum = 0;
    for (int i = start; i < start + n; i++) {
      c.push_back(std::max(0.0, std::min(1.0, 1 - std::abs((i - ratio) * s))));
      sum += c.back();
    }
    for (double& v : c) v /= sum;
    return c;
  }
  if (!o.antialias) {
    return {ref_cubic(ratio + 1, o.A), ref_cubic(ratio, o.A), ref_cubic(1 - ratio, o.A), ref_cubic(2 - ratio, o.A)};
  }
  const double s = std::min(scale, 1.0);
  const int i0 = int(std::floor(-2 / s) + 1), i1 = 2 - i0;
  std::vector<double> c;
  double sum = 0;
  for (int i = i0; i < i1; i++) {
    c.push_back(ref_cubic(s * (i - ratio), o.A));
    sum += c.back();
  }
  for (double& v : c) v /= sum;
  return c;
}

// Taps (index into [0, in) after edge padding, weight) of one output position, or false for extrapolation.
bool ref_taps(double x, double scale, int64_t in, int64_t out, double roi0, double roi1, const RefOptions& o,
              std::vector<std::pair<int64_t, double>>* taps) {
  const double ow = scale * double(in);
  double xo;
  if (o.coord == "align_corners") xo = ow == 1 ? 0 : x * (in - 1) / (ow - 1);
  else if (o.coord == "asymmetric") xo = x / scale;
  else if (o.coord == "tf_crop_and_resize") {
    xo = (ow == 1 ? (roi1 - roi0) * (in - 1) / 2 : x * (roi1 - roi0) * (in - 1) / (ow - 1)) + roi0 * (in - 1);
    if (xo < 0 || xo > in - 1) return false;
  } else if (o.coord == "pytorch_half_pixel") xo = ow == 1 ? -0.5 : (x + 0.5) / scale - 0.5;
  else if (o.coord == "half_pixel_symmetric") {
    const double adj = double(out) / ow, center = double(in) / 2;
    xo = center * (1 - adj) + (x + 0.5) / scale - 0.5;
  } else xo = (x + 0.5) / scale - 0.5;
  const double fl = std::floor(xo);
  const double ratio = xo == fl ? 1.0 : xo - fl;
  std::vector<double> c = ref_coeffs(ratio, scale, o);
  const int64_t n = int64_t(c.size()), pad = (n + 1) / 2;
  // The n indices nearest to xo within the padded range, ties to the smaller index.
  std::vector<int64_t> cand;
  for (int64_t i = int64_t(fl) - n - 1; i <= int64_t(fl) + n + 1; i++)
    if (i >= -pad && i < in + pad) cand.push_back(i);
  std::sort(cand.begin(), cand.end(), [&](int64_t a, int64_t b) {
    const double da = std::abs(xo - double(a)), db = std::abs(xo - double(b));
    return da != db ? da < db : a < b;
  });
  cand.resize(size_t(n));
  std::sort(cand.begin(), cand.end());
  if (o.exclude_outside) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
      if (cand[size_t(i)] < 0 || cand[size_t(i)] >= in) c[size_t(i)] = 0;
      sum += c[size_t(i)];
    }
    for (double& v : c) v /= sum;
  }
  taps->clear();
  for (int64_t i = 0; i < n; i++)
    taps->push_back({std::min(std::max<int64_t>(cand[size_t(i)], 0), in - 1), c[size_t(i)]});
  return true;
}

// Full N-D reference: `scales` per axis (sizes already turned into scales by the caller), `out` the output dims.
std::vector<double> ref_resize(const std::vector<float>& x, const Dims& in, const Dims& out,
                               const std::vector<double>& scales, const RefOptions& o,
                               const std::vector<double>& roi = {}) {
  const size_t r = in.size();
  int64_t total = 1;
  for (int64_t d : out) total *= d;
  std::vector<double> y(static_cast<size_t>(total));
  std::vector<std::vector<std::vector<std::pair<int64_t, double>>>> taps(r);
  std::vector<std::vector<bool>> inside(r);
  for (size_t a = 0; a < r; a++) {
    taps[a].resize(size_t(out[a]));
    inside[a].resize(size_t(out[a]));
    const double r0 = roi.empty() ? 0 : roi[a], r1 = roi.empty() ? 1 : roi[a + r];
    for (int64_t j = 0; j < out[a]; j++)
      inside[a][size_t(j)] = ref_taps(double(j), scales[a], in[a], out[a], r0, r1, o, &taps[a][size_t(j)]);
  }
  for (int64_t e = 0; e < total; e++) {
    std::vector<int64_t> c(r);
    int64_t rem = e;
    for (size_t a = r; a-- > 0;) {
      c[a] = rem % out[a];
      rem /= out[a];
    }
    bool ok = true;
    for (size_t a = 0; a < r; a++) ok = ok && inside[a][size_t(c[a])];
    if (!ok) {
      y[size_t(e)] = o.extrapolation;
      continue;
    }
    // Sum over the tensor product of the per-axis taps.
    std::vector<size_t> k(r, 0);
    double acc = 0;
    while (true) {
      double w = 1;
      int64_t idx = 0;
      for (size_t a = 0; a < r; a++) {
        const auto& t = taps[a][size_t(c[a])][k[a]];
        w *= t.second;
        idx = idx * in[a] + t.first;
      }
      acc += w * x[size_t(idx)];
      size_t a = r;
      while (a-- > 0) {
        if (++k[a] < taps[a][size_t(c[a])].size()) break;
        k[a] = 0;
      }
      if (a == size_t(-1)) break;
    }
    y[size_t(e)] = acc;
  }
  return y;
}

std::vector<float> random_floats(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& f : v) f = d(rng);
  return v;
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); i++)
    ASSERT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << what << " at " << i;
}

Tensor run_resize(const NodeDef& node, int opset, const std::vector<Tensor>& in, Status* st = nullptr) {
  std::vector<Tensor> out;
  Status s = run_op(node, opset, in, &out);
  if (st) *st = s;
  else EXPECT_TRUE(s.ok()) << s.message();
  return s.ok() ? out[0] : Tensor();
}

NodeDef resize_node(std::vector<Attribute> attrs, bool sizes = false) {
  NodeDef n = make_node("Resize", sizes ? std::vector<std::string>{"x", "", "", "sizes"}
                                        : std::vector<std::string>{"x", "", "scales"},
                        {"y"});
  n.attrs = std::move(attrs);
  return n;
}

Tensor scales_t(std::vector<float> s) { return make_tensor<float>({int64_t(s.size())}, s); }
Tensor sizes_t(std::vector<int64_t> s) { return make_tensor<int64_t>({int64_t(s.size())}, s); }

// ------------------------------------------------------------------------------------------- examples

TEST(Resize, DocumentationExamples) {
  Tensor x = make_tensor<float>({1, 1, 2, 2}, {1, 2, 3, 4});
  // upsample_scales_linear (half_pixel)
  Tensor y = run_resize(resize_node({string_attr("mode", "linear")}), 19, {x, Tensor(), scales_t({1, 1, 2, 2})});
  EXPECT_EQ(y.dims(), (Dims{1, 1, 4, 4}));
  const std::vector<float> lin = {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f,
                                  2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4};
  EXPECT_EQ(values_of<float>(y), lin);
  // upsample_scales_nearest
  Tensor n = run_resize(resize_node({}), 19, {x, Tensor(), scales_t({1, 1, 2, 3})});
  EXPECT_EQ(values_of<float>(n), (std::vector<float>{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2,
                                                     3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}));
  // downsample_scales_linear_align_corners: the output length in the formula is scale * in (2.4), not 2.
  Tensor x8 = make_tensor<float>({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  Tensor a = run_resize(resize_node({string_attr("mode", "linear"), string_attr("coordinate_transformation_mode",
                                                                                "align_corners")}),
                        19, {x8, Tensor(), scales_t({1, 1, 0.6f, 0.6f})});
  ASSERT_EQ(a.dims(), (Dims{1, 1, 1, 2}));
  EXPECT_NEAR(values_of<float>(a)[0], 1.f, 1e-6);
  EXPECT_NEAR(values_of<float>(a)[1], 3.142857f, 1e-5);
  // downsample_sizes_nearest
  Tensor s = run_resize(resize_node({}, true), 19, {x8, Tensor(), Tensor(), sizes_t({1, 1, 1, 3})});
  EXPECT_EQ(values_of<float>(s), (std::vector<float>{1, 2, 4}));
}

TEST(Resize, UpsampleOpsets) {
  Tensor x = make_tensor<float>({1, 1, 2, 2}, {1, 2, 3, 4});
  NodeDef u7 = make_node("Upsample", {"x"}, {"y"});
  u7.attrs = {floats_attr("scales", {1, 1, 2, 3})};
  Tensor y = run_resize(u7, 7, {x});
  EXPECT_EQ(values_of<float>(y), (std::vector<float>{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2,
                                                     3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}));
  NodeDef u9 = make_node("Upsample", {"x", "s"}, {"y"});
  u9.attrs = {string_attr("mode", "linear")};
  Tensor z = run_resize(u9, 9, {x, scales_t({1, 1, 2, 2})});
  // asymmetric linear, clamped at the far edge
  EXPECT_EQ(values_of<float>(z), (std::vector<float>{1, 1.5f, 2, 2, 2, 2.5f, 3, 3, 3, 3.5f, 4, 4, 3, 3.5f, 4, 4}));
  // Resize-10: nearest with asymmetric coordinates; downsampling rounds up as onnxruntime does.
  Tensor x6 = make_tensor<float>({1, 6}, {0, 1, 2, 3, 4, 5});
  NodeDef r10 = make_node("Resize", {"x", "s"}, {"y"});
  Tensor d = run_resize(r10, 10, {x6, scales_t({1, 0.5f})});
  EXPECT_EQ(values_of<float>(d), (std::vector<float>{0, 2, 4}));
}

// ------------------------------------------------------------------------------------------- sweeps

struct Case {
  RefOptions o;
  Dims in;
  std::vector<float> scales;   // empty: use sizes
  std::vector<int64_t> sizes;
};

void check_case(const Case& c, int opset = 19, double tol = 2e-5) {
  int64_t n = 1;
  for (int64_t d : c.in) n *= d;
  std::vector<float> xv = random_floats(n, uint32_t(n * 31 + c.in.size()));
  std::vector<Attribute> attrs = {string_attr("mode", c.o.mode), string_attr("coordinate_transformation_mode", c.o.coord),
                                  string_attr("nearest_mode", c.o.nearest), float_attr("cubic_coeff_a", float(c.o.A)),
                                  int_attr("exclude_outside", c.o.exclude_outside),
                                  float_attr("extrapolation_value", float(c.o.extrapolation))};
  if (c.o.antialias) attrs.push_back(int_attr("antialias", 1));
  const bool use_sizes = c.scales.empty();
  Tensor x = make_tensor<float>(c.in, xv);
  Tensor y = use_sizes ? run_resize(resize_node(attrs, true), opset, {x, Tensor(), Tensor(), sizes_t(c.sizes)})
                       : run_resize(resize_node(attrs), opset, {x, Tensor(), scales_t(c.scales)});
  Dims out(c.in.size());
  std::vector<double> sc(c.in.size());
  for (size_t a = 0; a < c.in.size(); a++) {
    if (use_sizes) {
      out[a] = c.sizes[a];
      sc[a] = double(c.sizes[a]) / double(c.in[a]);
    } else {
      sc[a] = double(c.scales[a]);
      out[a] = int64_t(std::floor(double(c.scales[a]) * double(c.in[a])));
    }
  }
  std::string what = c.o.mode + "/" + c.o.coord + "/" + c.o.nearest + " in " + dims_str(c.in) + " out " + dims_str(out) +
                     (c.o.antialias ? " antialias" : "") + (c.o.exclude_outside ? " exclude" : "");
  ASSERT_EQ(y.dims(), out) << what;
  expect_close(values_of<float>(y), ref_resize(xv, c.in, out, sc, c.o), tol, what);
}

TEST(Resize, SweepAgainstReference) {
  const std::vector<std::string> coords = {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel",
                                           "align_corners", "asymmetric"};
  const std::vector<std::vector<float>> scale_sets = {{1, 1, 2, 2}, {1, 1, 0.5f, 0.75f}, {1, 1, 1.7f, 0.6f},
                                                      {1, 1, 3, 1}, {1, 2, 1.5f, 1}};
  for (const std::string mode : {"nearest", "linear", "cubic"}) {
    for (const std::string& coord : coords) {
      for (const auto& s : scale_sets) {
        Case c;
        c.o.mode = mode;
        c.o.coord = coord;
        c.in = {2, 3, 5, 7};
        c.scales = s;
        check_case(c);
        if (mode == "nearest") {
          for (const char* nm : {"round_prefer_ceil", "floor", "ceil"}) {
            c.o.nearest = nm;
            check_case(c);
          }
        }
        if (mode == "cubic") {
          c.o.A = -0.5;
          c.o.exclude_outside = true;
          check_case(c);
        }
      }
    }
  }
}

TEST(Resize, SizesAntialiasAndNd) {
  for (const std::string mode : {"linear", "cubic"}) {
    Case c;
    c.o.mode = mode;
    c.o.antialias = true;
    c.in = {1, 2, 9, 11};
    c.sizes = {1, 2, 3, 4};
    check_case(c);
    c.sizes = {1, 2, 14, 5};  // up on one axis, down on the other
    check_case(c);
    c.o.exclude_outside = true;
    check_case(c);
  }
  // 5-D trilinear and a 1-D linear resize of the innermost axis.
  Case t;
  t.o.mode = "linear";
  t.in = {1, 2, 3, 4, 5};
  t.scales = {1, 1, 2, 0.5f, 1.5f};
  check_case(t);
  Case one;
  one.o.mode = "linear";
  one.in = {3, 10};
  one.sizes = {3, 4};
  check_case(one);
  // Resizing the batch and channel axes too.
  Case all;
  all.o.mode = "cubic";
  all.in = {2, 3, 4, 4};
  all.scales = {1.5f, 2, 0.5f, 1.25f};
  check_case(all);
}

TEST(Resize, FusedBilinearMatchesReference) {
  // Sizes typical of a detection head: 2x and a non-integer factor, enough planes to run in parallel.
  for (const auto& sc : std::vector<std::vector<float>>{{1, 1, 2, 2}, {1, 1, 1.6f, 2.5f}, {1, 1, 0.5f, 0.5f}}) {
    for (const char* coord : {"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"}) {
      Case c;
      c.o.mode = "linear";
      c.o.coord = coord;
      c.in = {1, 24, 20, 24};
      c.scales = sc;
      check_case(c);
    }
  }
}

TEST(Resize, TfCropAndResizeWithAxesAndRoi) {
  const Dims in = {1, 1, 4, 4};
  std::vector<float> xv(16);
  std::iota(xv.begin(), xv.end(), 1.f);
  Tensor x = make_tensor<float>(in, xv);
  for (const std::string mode : {"linear", "nearest", "cubic"}) {
    RefOptions o;
    o.mode = mode;
    o.coord = "tf_crop_and_resize";
    o.extrapolation = 10;
    NodeDef n = make_node("Resize", {"x", "roi", "", "sizes"}, {"y"});
    n.attrs = {string_attr("mode", mode), string_attr("coordinate_transformation_mode", "tf_crop_and_resize"),
               float_attr("extrapolation_value", 10), ints_attr("axes", {3, 2})};
    // axes [3, 2]: roi = [start_w, start_h, end_w, end_h]
    Tensor roi = make_tensor<float>({4}, {0.6f, 0.4f, 1.7f, 1.2f});
    Tensor y = run_resize(n, 19, {x, roi, Tensor(), sizes_t({3, 3})});
    ASSERT_EQ(y.dims(), (Dims{1, 1, 3, 3}));
    std::vector<double> full_roi = {0, 0, 0.4, 0.6, 1, 1, 1.2, 1.7};
    expect_close(values_of<float>(y), ref_resize(xv, in, {1, 1, 3, 3}, {1, 1, 0.75, 0.75}, o, full_roi), 1e-5, mode);
  }
}

TEST(Resize, KeepAspectRatioPolicies) {
  Tensor x = make_tensor<float>({1, 1, 2, 2}, {1, 2, 3, 4});
  NodeDef n = make_node("Resize", {"x", "", "", "sizes"}, {"y"});
  n.attrs = {ints_attr("axes", {2, 3}), string_attr("keep_aspect_ratio_policy", "not_larger")};
  EXPECT_EQ(run_resize(n, 18, {x, Tensor(), Tensor(), sizes_t({7, 8})}).dims(), (Dims{1, 1, 7, 7}));
  n.attrs[1].s = "not_smaller";
  EXPECT_EQ(run_resize(n, 18, {x, Tensor(), Tensor(), sizes_t({7, 8})}).dims(), (Dims{1, 1, 8, 8}));
}

TEST(Resize, NearestFastPathsAndOtherTypes) {
  // Integer 2x (and 3x) upsampling, large enough to run in parallel; uint8 and int64 elements.
  const Dims in = {1, 16, 48, 40};
  int64_t n = 16 * 48 * 40;
  std::vector<uint8_t> xv(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++) xv[size_t(i)] = uint8_t(i * 13 + 7);
  Tensor x = make_tensor<uint8_t>(in, xv);
  for (float f : {2.f, 3.f}) {
    NodeDef node = resize_node({string_attr("coordinate_transformation_mode", "asymmetric"),
                                string_attr("nearest_mode", "floor")});
    Tensor y = run_resize(node, 13, {x, Tensor(), scales_t({1, 1, f, f})});
    const int64_t k = int64_t(f), H = 48 * k, W = 40 * k;
    ASSERT_EQ(y.dims(), (Dims{1, 16, H, W}));
    std::vector<uint8_t> got = values_of<uint8_t>(y);
    bool ok = true;
    for (int64_t c = 0; c < 16 && ok; c++)
      for (int64_t h = 0; h < H && ok; h++)
        for (int64_t w = 0; w < W && ok; w++)
          ok = got[size_t((c * H + h) * W + w)] == xv[size_t((c * 48 + h / k) * 40 + w / k)];
    EXPECT_TRUE(ok) << "factor " << f;
  }
  Tensor xi = make_tensor<int64_t>({1, 3}, {5, -6, 7});
  Tensor yi = run_resize(resize_node({}, true), 19, {xi, Tensor(), Tensor(), sizes_t({2, 5})});
  EXPECT_EQ(values_of<int64_t>(yi), (std::vector<int64_t>{5, 5, -6, 7, 7, 5, 5, -6, 7, 7}));
  // Identity resize is a view.
  Tensor id = run_resize(resize_node({}), 19, {xi, Tensor(), scales_t({1, 1})});
  EXPECT_EQ(id.raw(), xi.raw());
}

TEST(Resize, BadInputs) {
  Tensor x = make_tensor<float>({1, 1, 2, 2}, {1, 2, 3, 4});
  Status st;
  run_resize(resize_node({}), 19, {x, Tensor(), scales_t({1, 2})}, &st);
  EXPECT_EQ(st.code(), ErrorCode::kShape);
  run_resize(resize_node({}), 19, {x, Tensor(), scales_t({1, 1, -1, 2})}, &st);
  EXPECT_EQ(st.code(), ErrorCode::kShape);
  NodeDef both = make_node("Resize", {"x", "", "scales", "sizes"}, {"y"});
  run_resize(both, 19, {x, Tensor(), scales_t({1, 1, 2, 2}), sizes_t({1, 1, 4, 4})}, &st);
  EXPECT_EQ(st.code(), ErrorCode::kShape);
  NodeDef none = make_node("Resize", {"x"}, {"y"});
  run_resize(none, 19, {x}, &st);
  EXPECT_EQ(st.code(), ErrorCode::kShape);
  run_resize(resize_node({string_attr("mode", "bicubic")}), 19, {x, Tensor(), scales_t({1, 1, 2, 2})}, &st);
  EXPECT_EQ(st.code(), ErrorCode::kShape);
  Tensor xi = make_tensor<int32_t>({1, 2}, {1, 2});
  run_resize(resize_node({string_attr("mode", "linear")}), 19, {xi, Tensor(), scales_t({1, 2})}, &st);
  EXPECT_EQ(st.code(), ErrorCode::kDtype);
}

}  // namespace
}  // namespace int8rt
