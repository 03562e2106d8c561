// Normalisation operators against direct double-precision transcriptions of the ONNX formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/lrn.h"
#include "op_test_util.h"

namespace int8rt {
namespace {

using testing::make_node;
using testing::make_tensor;
using testing::run_op;
using testing::values_of;

std::vector<float> random_floats(int64_t n, uint32_t seed, float lo = -2.f, float hi = 2.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

int64_t numel(const Dims& d) {
  int64_t n = 1;
  for (auto v : d) n *= v;
  return n;
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want, double rtol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); i++)
    ASSERT_NEAR(got[i], want[i], rtol * std::max(1.0, std::fabs(want[i]))) << what << " at " << i;
}

// Mean and population variance over x[idx] for the given index list.
void moments(const std::vector<float>& x, const std::vector<size_t>& idx, double* mean, double* var) {
  double s = 0;
  for (size_t i : idx) s += x[i];
  *mean = s / double(idx.size());
  double q = 0;
  for (size_t i : idx) q += (x[i] - *mean) * (x[i] - *mean);
  *var = q / double(idx.size());
}

// ---------------------------------------------------------------------------------------------- BatchNormalization

TEST(BatchNormTest, InferenceConstantAndRuntimeParameters) {
  const Dims dims = {2, 3, 4, 5};
  std::vector<float> xv = random_floats(numel(dims), 1);
  std::vector<float> sc = {0.5f, -1.5f, 2.f}, b = {0.1f, 0.2f, -0.3f}, m = {0.3f, -0.2f, 0.f}, v = {1.f, 0.25f, 4.f};
  const float eps = 1e-2f;
  std::vector<double> want(xv.size());
  for (int64_t i = 0; i < numel(dims); i++) {
    const size_t c = size_t((i / 20) % 3);
    want[size_t(i)] = (xv[size_t(i)] - m[c]) / std::sqrt(double(v[c]) + eps) * sc[c] + b[c];
  }
  std::vector<Tensor> ins = {make_tensor<float>(dims, xv), make_tensor<float>({3}, sc), make_tensor<float>({3}, b),
                             make_tensor<float>({3}, m), make_tensor<float>({3}, v)};
  for (int opset : {7, 9, 15})
    for (bool constant : {false, true}) {
      NodeDef node = make_node("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"});
      node.set_attr_float("epsilon", eps);
      std::vector<Tensor> outs;
      Status st = run_op(node, opset, ins, &outs, {false, constant, constant, constant, constant});
      ASSERT_TRUE(st.ok()) << st.message();
      expect_close(values_of<float>(outs[0]), want, 1e-5, "batchnorm opset " + std::to_string(opset));
    }
  // Rank 2 ([N, C]) works too, and float64.
  NodeDef node = make_node("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"});
  std::vector<Tensor> outs;
  ASSERT_TRUE(run_op(node, 15,
                     {make_tensor<double>({1, 2}, {1.0, 2.0}), make_tensor<double>({2}, {1, 1}),
                      make_tensor<double>({2}, {0, 0}), make_tensor<double>({2}, {0, 1}),
                      make_tensor<double>({2}, {1, 4})},
                     &outs)
                  .ok());
  EXPECT_NEAR(values_of<double>(outs[0])[0], 1.0 / std::sqrt(1.0 + 1e-5), 1e-7);
  EXPECT_NEAR(values_of<double>(outs[0])[1], 1.0 / std::sqrt(4.0 + 1e-5), 1e-7);
}

TEST(BatchNormTest, NonSpatialOpset7) {
  const Dims dims = {2, 2, 3};
  std::vector<float> xv = random_floats(12, 2);
  std::vector<float> sc = random_floats(6, 3), b = random_floats(6, 4), m = random_floats(6, 5),
                     v = random_floats(6, 6, 0.5f, 2.f);
  NodeDef node = make_node("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"});
  node.set_attr_int("spatial", 0);
  std::vector<Tensor> outs;
  ASSERT_TRUE(run_op(node, 7,
                     {make_tensor<float>(dims, xv), make_tensor<float>({2, 3}, sc), make_tensor<float>({2, 3}, b),
                      make_tensor<float>({2, 3}, m), make_tensor<float>({2, 3}, v)},
                     &outs, {false, true, true, true, true})
                  .ok());
  std::vector<double> want(12);
  for (size_t i = 0; i < 12; i++) {
    const size_t j = i % 6;
    want[i] = (xv[i] - m[j]) / std::sqrt(double(v[j]) + 1e-5) * sc[j] + b[j];
  }
  expect_close(values_of<float>(outs[0]), want, 1e-5, "spatial=0");
}

TEST(BatchNormTest, TrainingMode) {
  const Dims dims = {2, 3, 4, 5};
  std::vector<float> xv = random_floats(numel(dims), 7);
  std::vector<float> sc = {0.5f, -1.5f, 2.f}, b = {0.1f, 0.2f, -0.3f}, m = {0.3f, -0.2f, 0.f}, v = {1.f, 0.25f, 4.f};
  NodeDef node = make_node("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y", "rm", "rv"});
  node.set_attr_int("training_mode", 1);
  node.set_attr_float("momentum", 0.8f);
  std::vector<Tensor> outs;
  Status st = run_op(node, 15,
                     {make_tensor<float>(dims, xv), make_tensor<float>({3}, sc), make_tensor<float>({3}, b),
                      make_tensor<float>({3}, m), make_tensor<float>({3}, v)},
                     &outs);
  ASSERT_TRUE(st.ok()) << st.message();
  std::vector<double> want(xv.size()), rm(3), rv(3);
  for (size_t c = 0; c < 3; c++) {
    std::vector<size_t> idx;
    for (size_t n = 0; n < 2; n++)
      for (size_t s = 0; s < 20; s++) idx.push_back((n * 3 + c) * 20 + s);
    double mean, var;
    moments(xv, idx, &mean, &var);
    for (size_t i : idx) want[i] = (xv[i] - mean) / std::sqrt(var + 1e-5) * sc[c] + b[c];
    rm[c] = m[c] * 0.8 + mean * 0.2;
    rv[c] = v[c] * 0.8 + var * 0.2;
  }
  expect_close(values_of<float>(outs[0]), want, 1e-5, "y");
  expect_close(values_of<float>(outs[1]), rm, 1e-5, "running mean");
  expect_close(values_of<float>(outs[2]), rv, 1e-5, "running var");
}

TEST(BatchNormTest, Errors) {
  std::vector<Tensor> ins = {make_tensor<float>({1, 3, 2}, {1, 2, 3, 4, 5, 6}), make_tensor<float>({3}, {1, 1, 1}),
                             make_tensor<float>({3}, {0, 0, 0}), make_tensor<float>({3}, {0, 0, 0}),
                             make_tensor<float>({2}, {1, 1})};
  NodeDef node = make_node("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"});
  std::vector<Tensor> outs;
  Status st = run_op(node, 15, ins, &outs);
  EXPECT_EQ(st.code(), ErrorCode::kShape);
  EXPECT_NE(st.message().find("input_var"), std::string::npos) << st.message();
  ins[4] = make_tensor<double>({3}, {1, 1, 1});
  EXPECT_EQ(run_op(node, 15, ins, &outs).code(), ErrorCode::kDtype);
  ins[4] = make_tensor<float>({3}, {1, 1, 1});
  NodeDef old = make_node("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y", "mean", "var"});
  EXPECT_EQ(run_op(old, 9, ins, &outs).code(), ErrorCode::kUnsupported);
  EXPECT_EQ(run_op(node, 15, {make_tensor<int32_t>({1, 3}, {1, 2, 3}), ins[1], ins[2], ins[3], ins[4]}, &outs).code(),
            ErrorCode::kDtype);
}

// ---------------------------------------------------------------------------------------------- InstanceNormalization

TEST(InstanceNormTest, MatchesReference) {
  for (const Dims& dims : {Dims{2, 3, 4, 5}, Dims{1, 4, 1000}, Dims{3, 2, 7}}) {
    const int64_t n = dims[0], c = dims[1], s = numel(dims) / (n * c);
    std::vector<float> xv = random_floats(numel(dims), 11, -3.f, 5.f);
    std::vector<float> sc = random_floats(c, 12), b = random_floats(c, 13);
    NodeDef node = make_node("InstanceNormalization", {"x", "s", "b"}, {"y"});
    node.set_attr_float("epsilon", 1e-3f);
    std::vector<Tensor> outs;
    ASSERT_TRUE(run_op(node, 6, {make_tensor<float>(dims, xv), make_tensor<float>({c}, sc), make_tensor<float>({c}, b)},
                       &outs)
                    .ok());
    std::vector<double> want(xv.size());
    for (int64_t r = 0; r < n * c; r++) {
      std::vector<size_t> idx;
      for (int64_t i = 0; i < s; i++) idx.push_back(size_t(r * s + i));
      double mean, var;
      moments(xv, idx, &mean, &var);
      for (size_t i : idx) want[i] = (xv[i] - mean) / std::sqrt(var + 1e-3) * sc[size_t(r % c)] + b[size_t(r % c)];
    }
    expect_close(values_of<float>(outs[0]), want, 1e-5, "instancenorm " + dims_str(dims));
  }
}

// ---------------------------------------------------------------------------------------------- LRN

TEST(LrnTest, ExactOnnxWindow) {
  struct Case {
    Dims dims;
    int64_t size;
    float alpha, beta, bias;
  };
  const std::vector<Case> cases = {{{2, 7, 3, 3}, 3, 2e-4f, 0.5f, 2.f},   {{1, 8, 5, 5}, 5, 1e-4f, 0.75f, 1.f},
                                   {{2, 6, 4}, 4, 1e-2f, 0.6f, 1.5f},     {{1, 16, 20, 20}, 2, 0.1f, 0.75f, 1.f},
                                   {{1, 3, 600}, 1, 0.5f, 1.3f, 0.5f}};
  for (const auto& c : cases) {
    std::vector<float> xv = random_floats(numel(c.dims), 21, -3.f, 3.f);
    NodeDef node = make_node("LRN", {"x"}, {"y"});
    node.set_attr_int("size", c.size);
    node.set_attr_float("alpha", c.alpha);
    node.set_attr_float("beta", c.beta);
    node.set_attr_float("bias", c.bias);
    std::vector<Tensor> outs;
    ASSERT_TRUE(run_op(node, 13, {make_tensor<float>(c.dims, xv)}, &outs).ok());
    const int64_t n = c.dims[0], ch = c.dims[1], s = numel(c.dims) / (n * ch);
    std::vector<double> want(xv.size());
    for (int64_t i = 0; i < n; i++)
      for (int64_t k = 0; k < ch; k++)
        for (int64_t p = 0; p < s; p++) {
          const int64_t lo = std::max<int64_t>(0, k - (c.size - 1) / 2);
          const int64_t hi = std::min<int64_t>(ch - 1, k + (c.size - 1 + 1) / 2);  // ceil((size-1)/2)
          double sq = 0;
          for (int64_t j = lo; j <= hi; j++) {
            const double v = xv[size_t((i * ch + j) * s + p)];
            sq += v * v;
          }
          const size_t at = size_t((i * ch + k) * s + p);
          want[at] = xv[at] / std::pow(double(c.bias) + double(c.alpha) / double(c.size) * sq, double(c.beta));
        }
    expect_close(values_of<float>(outs[0]), want, 2e-6, "lrn size " + std::to_string(c.size));
  }
  NodeDef bad = make_node("LRN", {"x"}, {"y"});
  std::vector<Tensor> outs;
  EXPECT_EQ(run_op(bad, 13, {make_tensor<float>({1, 1, 1}, {1})}, &outs).code(), ErrorCode::kShape);
  bad.set_attr_int("size", 0);
  EXPECT_EQ(run_op(bad, 13, {make_tensor<float>({1, 1, 1}, {1})}, &outs).code(), ErrorCode::kShape);
}

TEST(LrnTest, KernelDispatchMatchesReference) {
  for (float beta : {0.75f, 0.5f, 0.6f})
    for (int64_t n : {1, 7, 8, 9, 31, 256}) {
      std::vector<float> x = random_floats(n, uint32_t(n), -3.f, 3.f);
      std::vector<float> sq = random_floats(n, uint32_t(n) + 1, 0.f, 50.f);
      std::vector<float> y1(static_cast<size_t>(n)), y2(static_cast<size_t>(n));
      lrn_scale_f32(x.data(), sq.data(), y1.data(), n, 1.5f, 2e-3f, beta);
      lrn_scale_f32_ref(x.data(), sq.data(), y2.data(), n, 1.5f, 2e-3f, beta);
      for (size_t i = 0; i < y1.size(); i++)
        ASSERT_NEAR(y1[i], y2[i], 5e-7f * std::fabs(y2[i])) << "beta " << beta << " n " << n << " at " << i;
    }
}

// ---------------------------------------------------------------------------------------------- LayerNormalization

TEST(LayerNormTest, AxesStatisticsAndBroadcast) {
  const Dims dims = {2, 3, 4, 5};
  std::vector<float> xv = random_floats(numel(dims), 31, -4.f, 4.f);
  for (int64_t axis = -4; axis < 4; axis++) {
    const int64_t ax = axis < 0 ? axis + 4 : axis;
    int64_t rows = 1;
    for (int64_t i = 0; i < ax; i++) rows *= dims[size_t(i)];
    const int64_t d = numel(dims) / rows;
    Dims tail(dims.begin() + ax, dims.end());
    std::vector<float> sc = random_floats(d, 32), b = random_floats(d, 33);
    NodeDef node = make_node("LayerNormalization", {"x", "s", "b"}, {"y", "mean", "inv"});
    node.set_attr_int("axis", axis);
    node.set_attr_float("epsilon", 1e-2f);
    std::vector<Tensor> outs;
    Status st = run_op(node, 17,
                       {make_tensor<float>(dims, xv), make_tensor<float>(tail, sc), make_tensor<float>(tail, b)},
                       &outs, {false, true, true});
    ASSERT_TRUE(st.ok()) << st.message();
    std::vector<double> want(xv.size()), wm(static_cast<size_t>(rows)), wi(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; r++) {
      std::vector<size_t> idx;
      for (int64_t i = 0; i < d; i++) idx.push_back(size_t(r * d + i));
      double mean, var;
      moments(xv, idx, &mean, &var);
      wm[size_t(r)] = mean;
      wi[size_t(r)] = 1.0 / std::sqrt(var + 1e-2);
      for (int64_t i = 0; i < d; i++)
        want[size_t(r * d + i)] = (xv[size_t(r * d + i)] - mean) * wi[size_t(r)] * sc[size_t(i)] + b[size_t(i)];
    }
    expect_close(values_of<float>(outs[0]), want, 1e-5, "layernorm axis " + std::to_string(axis));
    expect_close(values_of<float>(outs[1]), wm, 1e-5, "mean");
    expect_close(values_of<float>(outs[2]), wi, 1e-5, "invstd");
    Dims stat = dims;
    for (size_t i = size_t(ax); i < 4; i++) stat[i] = 1;
    EXPECT_EQ(outs[1].dims(), stat);
  }
  // A broadcast scale ([5] against a [4,5] tail) and no bias.
  std::vector<float> sc = random_floats(5, 34);
  NodeDef node = make_node("LayerNormalization", {"x", "s"}, {"y"});
  node.set_attr_int("axis", 2);
  std::vector<Tensor> outs;
  ASSERT_TRUE(run_op(node, 17, {make_tensor<float>(dims, xv), make_tensor<float>({5}, sc)}, &outs).ok());
  std::vector<double> want(xv.size());
  for (int64_t r = 0; r < 6; r++) {
    std::vector<size_t> idx;
    for (int64_t i = 0; i < 20; i++) idx.push_back(size_t(r * 20 + i));
    double mean, var;
    moments(xv, idx, &mean, &var);
    for (int64_t i = 0; i < 20; i++)
      want[size_t(r * 20 + i)] = (xv[size_t(r * 20 + i)] - mean) / std::sqrt(var + 1e-5) * sc[size_t(i % 5)];
  }
  expect_close(values_of<float>(outs[0]), want, 1e-5, "broadcast scale");
  EXPECT_EQ(run_op(node, 17, {make_tensor<float>(dims, xv), make_tensor<float>({3}, {1, 1, 1})}, &outs).code(),
            ErrorCode::kShape);
}

// ---------------------------------------------------------------------------------------------- GroupNormalization

TEST(GroupNormTest, Opset18PerGroupAndOpset21PerChannel) {
  const Dims dims = {3, 4, 2, 2};
  std::vector<float> xv = random_floats(numel(dims), 41);
  for (int opset : {18, 21}) {
    const int64_t pn = opset >= 21 ? 4 : 2;
    std::vector<float> sc = random_floats(pn, 42), b = random_floats(pn, 43);
    NodeDef node = make_node("GroupNormalization", {"x", "s", "b"}, {"y"});
    node.set_attr_int("num_groups", 2);
    std::vector<Tensor> outs;
    Status st =
        run_op(node, opset, {make_tensor<float>(dims, xv), make_tensor<float>({pn}, sc), make_tensor<float>({pn}, b)},
               &outs);
    ASSERT_TRUE(st.ok()) << st.message();
    std::vector<double> want(xv.size());
    for (int64_t n = 0; n < 3; n++)
      for (int64_t g = 0; g < 2; g++) {
        std::vector<size_t> idx;
        for (int64_t i = 0; i < 8; i++) idx.push_back(size_t((n * 2 + g) * 8 + i));
        double mean, var;
        moments(xv, idx, &mean, &var);
        for (int64_t i = 0; i < 8; i++) {
          const size_t at = size_t((n * 2 + g) * 8 + i);
          const size_t p = size_t(opset >= 21 ? g * 2 + i / 4 : g);
          want[at] = (xv[at] - mean) / std::sqrt(var + 1e-5) * sc[p] + b[p];
        }
      }
    expect_close(values_of<float>(outs[0]), want, 1e-5, "groupnorm opset " + std::to_string(opset));
  }
  NodeDef node = make_node("GroupNormalization", {"x", "s", "b"}, {"y"});
  node.set_attr_int("num_groups", 3);
  std::vector<Tensor> outs;
  EXPECT_EQ(run_op(node, 21, {make_tensor<float>(dims, xv), make_tensor<float>({4}, {1, 1, 1, 1}),
                              make_tensor<float>({4}, {0, 0, 0, 0})},
                   &outs)
                .code(),
            ErrorCode::kShape);
}

// ---------------------------------------------------------------------------------------------- MVN, LpNormalization

TEST(MvnTest, DefaultAndCustomAxes) {
  const Dims dims = {3, 3, 3, 2};
  std::vector<float> xv = random_floats(numel(dims), 51);
  for (bool custom : {false, true}) {
    NodeDef node = make_node("MeanVarianceNormalization", {"x"}, {"y"});
    if (custom) {
      Attribute a;
      a.name = "axes";
      a.type = Attribute::Type::kInts;
      a.ints = {1, -1};
      node.attrs.push_back(a);
    }
    std::vector<Tensor> outs;
    ASSERT_TRUE(run_op(node, 13, {make_tensor<float>(dims, xv)}, &outs).ok());
    std::vector<double> want(xv.size());
    // Group elements by their coordinates on the kept axes.
    std::vector<std::vector<size_t>> groups(64);
    for (size_t i = 0; i < xv.size(); i++) {
      size_t a0 = i / 18, a1 = (i / 6) % 3, a2 = (i / 2) % 3, a3 = i % 2;
      size_t key = custom ? a0 * 3 + a2 : a1;  // custom keeps axes 0 and 2, default keeps axis 1
      (void)a3;
      groups[key].push_back(i);
    }
    for (const auto& g : groups) {
      if (g.empty()) continue;
      double mean, var;
      moments(xv, g, &mean, &var);
      for (size_t i : g) want[i] = (xv[i] - mean) / (std::sqrt(var) + 1e-9);
    }
    expect_close(values_of<float>(outs[0]), want, 1e-5, custom ? "mvn custom" : "mvn default");
  }
}

TEST(LpNormTest, P1P2AxesAndZeroVectors) {
  const Dims dims = {2, 3, 4};
  std::vector<float> xv = random_floats(numel(dims), 61);
  for (int64_t p : {1, 2})
    for (int64_t axis = -3; axis < 3; axis++) {
      NodeDef node = make_node("LpNormalization", {"x"}, {"y"});
      node.set_attr_int("p", p);
      node.set_attr_int("axis", axis);
      std::vector<Tensor> outs;
      ASSERT_TRUE(run_op(node, 1, {make_tensor<float>(dims, xv)}, &outs).ok());
      const int64_t ax = axis < 0 ? axis + 3 : axis;
      int64_t outer = 1, inner = 1, d = dims[size_t(ax)];
      for (int64_t i = 0; i < ax; i++) outer *= dims[size_t(i)];
      for (int64_t i = ax + 1; i < 3; i++) inner *= dims[size_t(i)];
      std::vector<double> want(xv.size());
      for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < inner; c++) {
          double nrm = 0;
          for (int64_t r = 0; r < d; r++) {
            double v = xv[size_t((o * d + r) * inner + c)];
            nrm += p == 1 ? std::fabs(v) : v * v;
          }
          if (p == 2) nrm = std::sqrt(nrm);
          for (int64_t r = 0; r < d; r++) {
            const size_t at = size_t((o * d + r) * inner + c);
            want[at] = xv[at] / nrm;
          }
        }
      expect_close(values_of<float>(outs[0]), want, 1e-6, "lpnorm p" + std::to_string(p));
    }
  NodeDef node = make_node("LpNormalization", {"x"}, {"y"});
  std::vector<Tensor> outs;
  ASSERT_TRUE(run_op(node, 1, {make_tensor<float>({2, 2}, {0, 0, 3, 4})}, &outs).ok());
  EXPECT_EQ(values_of<float>(outs[0]), (std::vector<float>{0, 0, 0.6f, 0.8f}));
  node.set_attr_int("p", 3);
  EXPECT_EQ(run_op(node, 1, {make_tensor<float>({2, 2}, {0, 0, 3, 4})}, &outs).code(), ErrorCode::kShape);
}

}  // namespace
}  // namespace int8rt
