// Reduce*, ArgMax/ArgMin, Softmax/LogSoftmax/Hardmax and the softmax row kernels, against straightforward
// reference loops written here (double accumulation, no plan, no vectorisation).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "kernels/softmax.h"
#include "op_test_util.h"

namespace int8rt {
namespace {

using testing::make_node;
using testing::make_tensor;
using testing::run_op;
using testing::values_of;

std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -2.f, float hi = 2.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

Attribute ints_attr(const std::string& name, std::vector<int64_t> v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kInts;
  a.ints = std::move(v);
  return a;
}

// ---------------------------------------------------------------------------------------------- reference

// Reduces `x` over the flagged axes with keepdims; `kind` names the ONNX op.
// `*magnitude` gets the sum of |x| per output: float accumulation error scales with it, not with the result.
std::vector<double> ref_reduce(const std::string& kind, const Dims& dims, const std::vector<float>& x,
                               const std::vector<bool>& red, Dims* out_dims, std::vector<double>* magnitude) {
  Dims od;
  for (size_t d = 0; d < dims.size(); d++) od.push_back(red[d] ? 1 : dims[d]);
  *out_dims = od;
  int64_t on = 1;
  for (auto v : od) on *= v;
  const double inf = std::numeric_limits<double>::infinity();
  double init = 0;
  if (kind == "ReduceProd") init = 1;
  if (kind == "ReduceMax") init = -inf;
  if (kind == "ReduceMin") init = inf;
  std::vector<double> acc(size_t(on), init), mx(size_t(on), -inf);
  std::vector<int64_t> cnt(size_t(on), 0);
  magnitude->assign(size_t(on), 0.0);
  auto out_index = [&](int64_t i) {
    int64_t o = 0, mul = 1;
    for (size_t d = dims.size(); d-- > 0;) {
      int64_t c = i % dims[d];
      i /= dims[d];
      if (!red[d]) o += c * mul;
      mul *= od[d];
    }
    return o;
  };
  for (int64_t i = 0; i < int64_t(x.size()); i++) {
    double& m = mx[size_t(out_index(i))];
    m = std::max(m, double(x[size_t(i)]));
  }
  for (int64_t i = 0; i < int64_t(x.size()); i++) {
    size_t o = size_t(out_index(i));
    double v = x[size_t(i)];
    double& a = acc[o];
    cnt[o]++;
    (*magnitude)[o] += std::fabs(v);
    if (kind == "ReduceSum" || kind == "ReduceMean" || kind == "ReduceLogSum") a += v;
    else if (kind == "ReduceProd") a *= v;
    else if (kind == "ReduceMax") a = std::max(a, v);
    else if (kind == "ReduceMin") a = std::min(a, v);
    else if (kind == "ReduceL1") a += std::fabs(v);
    else if (kind == "ReduceL2" || kind == "ReduceSumSquare") a += v * v;
    else if (kind == "ReduceLogSumExp") a += std::exp(v - mx[o]);
  }
  for (size_t o = 0; o < acc.size(); o++) {
    if (kind == "ReduceMean") acc[o] /= double(cnt[o]);
    if (kind == "ReduceL2") acc[o] = std::sqrt(acc[o]);
    if (kind == "ReduceLogSum") acc[o] = std::log(acc[o]);
    if (kind == "ReduceLogSumExp") acc[o] = std::log(acc[o]) + mx[o];
  }
  return acc;
}

const char* kAllReduce[] = {"ReduceSum", "ReduceMean",     "ReduceMax",      "ReduceMin",      "ReduceProd",
                            "ReduceL1",  "ReduceL2",       "ReduceLogSum",   "ReduceLogSumExp", "ReduceSumSquare"};

// Runs `op` in its axes-input form (opset 18) and its attribute form (opset 11) and compares both to the
// reference, with and without keepdims.
void check_reduce(const std::string& op, const Dims& dims, const std::vector<int64_t>& axes, uint32_t seed) {
  int64_t n = 1;
  for (auto d : dims) n *= d;
  // Positive inputs keep LogSum defined and Prod of a modest size.
  const bool positive = op == "ReduceLogSum" || op == "ReduceProd";
  std::vector<float> xv = random_floats(size_t(n), seed, positive ? 0.9f : -2.f, positive ? 1.1f : 2.f);
  std::vector<bool> red(dims.size(), axes.empty());
  for (auto a : axes) red[size_t(a < 0 ? a + int64_t(dims.size()) : a)] = true;
  Dims rdims;
  std::vector<double> magnitude;
  std::vector<double> expect = ref_reduce(op, dims, xv, red, &rdims, &magnitude);
  const bool additive = op == "ReduceSum" || op == "ReduceMean" || op == "ReduceL1" || op == "ReduceL2" ||
                        op == "ReduceSumSquare";
  int64_t count = 1;
  for (size_t d = 0; d < dims.size(); d++) count *= red[d] ? dims[d] : 1;
  Tensor x = make_tensor<float>(dims, xv);
  for (int keep = 0; keep <= 1; keep++) {
    Dims want_dims;
    for (size_t d = 0; d < dims.size(); d++)
      if (!red[d] || keep) want_dims.push_back(red[d] ? 1 : dims[d]);
    for (int form = 0; form < 3; form++) {  // 0: attribute (opset 11), 1: constant input, 2: runtime input
      std::vector<std::string> names = {"x"};
      if (form != 0) names.push_back("axes");
      NodeDef node = make_node(op, names, {"y"});
      node.set_attr_int("keepdims", keep);
      std::vector<Tensor> ins{x};
      if (form == 0) {
        if (!axes.empty()) node.attrs.push_back(ints_attr("axes", axes));
      } else {
        ins.push_back(make_tensor<int64_t>({int64_t(axes.size())}, axes));
      }
      std::vector<Tensor> outs;
      Status st = run_op(node, form == 0 ? 11 : 18, ins, &outs, {false, form == 1});
      ASSERT_TRUE(st.ok()) << op << ": " << st.message();
      ASSERT_EQ(outs[0].dims(), want_dims) << op;
      std::vector<float> got = values_of<float>(outs[0]);
      ASSERT_EQ(got.size(), expect.size());
      for (size_t i = 0; i < got.size(); i++)
        ASSERT_NEAR(got[i], expect[i],
                    2e-5 * std::max(1.0, std::fabs(expect[i])) +
                        (additive ? 1e-6 * magnitude[i] * (op == "ReduceMean" ? 1.0 / double(count) : 2.0) : 0.0))
            << op << " " << dims_str(dims) << " form " << form << " keep " << keep << " at " << i;
    }
  }
}

TEST(ReduceTest, AllKindsAllAxisPatterns) {
  struct Case {
    Dims dims;
    std::vector<int64_t> axes;
  };
  const std::vector<Case> cases = {
      {{3, 2, 2}, {}},           {{3, 2, 2}, {1}},          {{3, 2, 2}, {-1}},          {{3, 2, 2}, {0, 2}},
      {{4, 37}, {1}},            {{37, 4}, {0}},            {{2, 3, 4, 5}, {1, 3}},     {{2, 3, 4, 5}, {0, 2}},
      {{2, 3, 4, 5}, {1, 2}},    {{5, 1, 7}, {1}},          {{1, 1, 9}, {0, 1}},        {{6, 7, 8}, {0, 1, 2}},
      {{3, 300}, {1}},           {{300, 3}, {0}},           {{2, 600, 3}, {1}},         {{2, 3, 4, 5, 6}, {0, 2, 4}},
      {{1, 1024, 7}, {1, 2}},    {{7}, {0}},                {{2, 700}, {0}},
  };
  uint32_t seed = 1;
  for (const char* op : kAllReduce)
    for (const auto& c : cases) check_reduce(op, c.dims, c.axes, seed++);
}

TEST(ReduceTest, LargeParallelShapes) {
  // Big enough for several parallel chunks in both the row and the column shape.
  check_reduce("ReduceMean", {8, 64, 56, 56}, {2, 3}, 7);
  check_reduce("ReduceSum", {4, 512, 300}, {1}, 8);
  check_reduce("ReduceMax", {3, 2000, 50}, {0, 2}, 9);
  check_reduce("ReduceLogSumExp", {64, 3000}, {1}, 10);
  check_reduce("ReduceLogSumExp", {300, 1200}, {0}, 11);
}

TEST(ReduceTest, NoopWithEmptyAxesAppliesTheElementMap) {
  std::vector<float> xv = {1.f, -2.f, 3.f, -4.f};
  Tensor x = make_tensor<float>({2, 2}, xv);
  struct Want {
    const char* op;
    std::vector<float> y;
  };
  const std::vector<Want> wants = {{"ReduceSum", {1, -2, 3, -4}},
                                   {"ReduceL1", {1, 2, 3, 4}},
                                   {"ReduceSumSquare", {1, 4, 9, 16}},
                                   {"ReduceMax", {1, -2, 3, -4}},
                                   {"ReduceLogSumExp", {1, -2, 3, -4}}};
  for (const auto& w : wants) {
    NodeDef node = make_node(w.op, {"x", "axes"}, {"y"});
    node.set_attr_int("noop_with_empty_axes", 1);
    std::vector<Tensor> outs;
    ASSERT_TRUE(run_op(node, 18, {x, make_tensor<int64_t>({0}, {})}, &outs).ok()) << w.op;
    EXPECT_EQ(outs[0].dims(), (Dims{2, 2}));
    std::vector<float> got = values_of<float>(outs[0]);
    for (size_t i = 0; i < 4; i++) EXPECT_NEAR(got[i], w.y[i], 1e-6) << w.op;
    // Without the flag, empty axes reduce everything; an absent axes input too.
    NodeDef all = make_node(w.op, {"x"}, {"y"});
    ASSERT_TRUE(run_op(all, 18, {x}, &outs).ok());
    EXPECT_EQ(outs[0].dims(), (Dims{1, 1}));
  }
}

TEST(ReduceTest, EmptySetsGiveTheIdentity) {
  Tensor x = make_tensor<float>({2, 0, 4}, {});
  const float inf = std::numeric_limits<float>::infinity();
  struct Want {
    const char* op;
    float v;
  };
  const std::vector<Want> wants = {{"ReduceSum", 0.f},   {"ReduceProd", 1.f},       {"ReduceMax", -inf},
                                   {"ReduceMin", inf},   {"ReduceLogSum", -inf},    {"ReduceLogSumExp", -inf},
                                   {"ReduceL2", 0.f},    {"ReduceSumSquare", 0.f}};
  for (const auto& w : wants) {
    NodeDef node = make_node(w.op, {"x", "axes"}, {"y"});
    std::vector<Tensor> outs;
    ASSERT_TRUE(run_op(node, 20, {x, make_tensor<int64_t>({1}, {1})}, &outs).ok()) << w.op;
    ASSERT_EQ(outs[0].dims(), (Dims{2, 1, 4}));
    for (float v : values_of<float>(outs[0])) EXPECT_EQ(v, w.v) << w.op;
  }
  // A zero-size kept axis gives an empty output.
  NodeDef node = make_node("ReduceSum", {"x", "axes"}, {"y"});
  std::vector<Tensor> outs;
  ASSERT_TRUE(run_op(node, 13, {x, make_tensor<int64_t>({1}, {2})}, &outs).ok());
  EXPECT_EQ(outs[0].dims(), (Dims{2, 0, 1}));
}

TEST(ReduceTest, IntegerAndBoolTypes) {
  NodeDef node = make_node("ReduceSum", {"x"}, {"y"});
  node.attrs.push_back(ints_attr("axes", {1}));
  node.set_attr_int("keepdims", 0);
  std::vector<Tensor> outs;
  ASSERT_TRUE(run_op(node, 11, {make_tensor<int64_t>({2, 3}, {1, 2, 3, 4, 5, 6})}, &outs).ok());
  EXPECT_EQ(values_of<int64_t>(outs[0]), (std::vector<int64_t>{6, 15}));
  ASSERT_TRUE(run_op(node, 11, {make_tensor<int32_t>({2, 3}, {1, 2, 3, 4, 5, 6})}, &outs).ok());
  EXPECT_EQ(values_of<int32_t>(outs[0]), (std::vector<int32_t>{6, 15}));
  ASSERT_TRUE(run_op(node, 11, {make_tensor<double>({2, 3}, {1, 2, 3, 4, 5, 6})}, &outs).ok());
  EXPECT_EQ(values_of<double>(outs[0]), (std::vector<double>{6, 15}));
  // int8 sums are not in the schema.
  EXPECT_EQ(run_op(node, 11, {make_tensor<int8_t>({2, 3}, {1, 2, 3, 4, 5, 6})}, &outs).code(), ErrorCode::kDtype);

  NodeDef mx = make_node("ReduceMax", {"x", "axes"}, {"y"});
  Tensor b;
  ASSERT_TRUE(Tensor::create(DType::kBool, {4, 2}, &b).ok());
  const uint8_t bv[] = {1, 1, 1, 0, 0, 1, 0, 0};
  std::memcpy(b.raw(), bv, sizeof(bv));
  ASSERT_TRUE(run_op(mx, 20, {b, make_tensor<int64_t>({1}, {1})}, &outs).ok());
  EXPECT_EQ(outs[0].dtype(), DType::kBool);
  EXPECT_EQ(values_of<uint8_t>(outs[0]), (std::vector<uint8_t>{1, 1, 1, 0}));
  NodeDef mn = make_node("ReduceMin", {"x", "axes"}, {"y"});
  ASSERT_TRUE(run_op(mn, 20, {b, make_tensor<int64_t>({1}, {1})}, &outs).ok());
  EXPECT_EQ(values_of<uint8_t>(outs[0]), (std::vector<uint8_t>{1, 0, 0, 0}));
  ASSERT_TRUE(run_op(mn, 18, {make_tensor<int8_t>({3}, {5, -7, 2}), make_tensor<int64_t>({1}, {0})}, &outs).ok());
  EXPECT_EQ(values_of<int8_t>(outs[0]), (std::vector<int8_t>{-7}));
}

TEST(ReduceTest, Float16RunsThroughFloat32) {
  Tensor x;
  ASSERT_TRUE(Tensor::create(DType::kFloat16, {2, 2}, &x).ok());
  const float xv[] = {1.f, 2.f, 3.f, 4.5f};
  for (int i = 0; i < 4; i++) x.data<uint16_t>()[i] = float_to_half(xv[i]);
  NodeDef node = make_node("ReduceSum", {"x"}, {"y"});
  node.attrs.push_back(ints_attr("axes", {0}));
  std::vector<Tensor> outs;
  ASSERT_TRUE(run_op(node, 11, {x}, &outs).ok());
  ASSERT_EQ(outs[0].dtype(), DType::kFloat16);
  EXPECT_EQ(half_to_float(outs[0].data<uint16_t>()[0]), 4.f);
  EXPECT_EQ(half_to_float(outs[0].data<uint16_t>()[1]), 6.5f);
}

TEST(ReduceTest, BadAxesAreShapeErrors) {
  Tensor x = make_tensor<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  NodeDef node = make_node("ReduceSum", {"x", "axes"}, {"y"});
  std::vector<Tensor> outs;
  Status st = run_op(node, 13, {x, make_tensor<int64_t>({1}, {2})}, &outs);
  EXPECT_EQ(st.code(), ErrorCode::kShape);
  EXPECT_NE(st.message().find("ReduceSum"), std::string::npos);
  EXPECT_EQ(run_op(node, 13, {x, make_tensor<int64_t>({1}, {-3})}, &outs).code(), ErrorCode::kShape);
  EXPECT_EQ(run_op(node, 13, {x, make_tensor<float>({1}, {0.f})}, &outs).code(), ErrorCode::kDtype);
  // Duplicated axes count once.
  ASSERT_TRUE(run_op(node, 13, {x, make_tensor<int64_t>({2}, {1, -1})}, &outs).ok());
  EXPECT_EQ(values_of<float>(outs[0]), (std::vector<float>{6, 15}));
}

// ---------------------------------------------------------------------------------------------- ArgMax/ArgMin

TEST(ArgTest, MatchesReferenceWithTies) {
  // Small integer values give plenty of ties, which is where select_last_index matters.
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> dist(0, 3);
  const std::vector<Dims> shapes = {{2, 3, 4}, {5, 40}, {40, 5}, {3, 200, 2}, {7}};
  for (const auto& dims : shapes) {
    int64_t n = 1;
    for (auto d : dims) n *= d;
    std::vector<float> xv(static_cast<size_t>(n));
    for (auto& v : xv) v = float(dist(rng));
    Tensor x = make_tensor<float>(dims, xv);
    for (int is_max = 0; is_max <= 1; is_max++)
      for (int64_t axis = -int64_t(dims.size()); axis < int64_t(dims.size()); axis++)
        for (int last = 0; last <= 1; last++) {
          NodeDef node = make_node(is_max ? "ArgMax" : "ArgMin", {"x"}, {"y"});
          node.set_attr_int("axis", axis);
          node.set_attr_int("select_last_index", last);
          node.set_attr_int("keepdims", 0);
          std::vector<Tensor> outs;
          ASSERT_TRUE(run_op(node, 13, {x}, &outs).ok());
          const int64_t ax = axis < 0 ? axis + int64_t(dims.size()) : axis;
          int64_t outer = 1, inner = 1, d = dims[size_t(ax)];
          for (int64_t i = 0; i < ax; i++) outer *= dims[size_t(i)];
          for (size_t i = size_t(ax) + 1; i < dims.size(); i++) inner *= dims[i];
          std::vector<int64_t> got = values_of<int64_t>(outs[0]);
          ASSERT_EQ(int64_t(got.size()), outer * inner);
          for (int64_t o = 0; o < outer; o++)
            for (int64_t c = 0; c < inner; c++) {
              int64_t best = 0;
              for (int64_t r = 1; r < d; r++) {
                float v = xv[size_t((o * d + r) * inner + c)], b = xv[size_t((o * d + best) * inner + c)];
                bool take = is_max ? (last ? v >= b : v > b) : (last ? v <= b : v < b);
                if (take) best = r;
              }
              ASSERT_EQ(got[size_t(o * inner + c)], best) << "axis " << axis << " last " << last;
            }
        }
  }
}

TEST(ArgTest, KeepdimsTypesAndErrors) {
  NodeDef node = make_node("ArgMax", {"x"}, {"y"});
  node.set_attr_int("axis", 1);
  std::vector<Tensor> outs;
  ASSERT_TRUE(run_op(node, 11, {make_tensor<int32_t>({2, 3}, {1, 9, 3, 7, 5, 6})}, &outs).ok());
  EXPECT_EQ(outs[0].dims(), (Dims{2, 1}));
  EXPECT_EQ(outs[0].dtype(), DType::kInt64);
  EXPECT_EQ(values_of<int64_t>(outs[0]), (std::vector<int64_t>{1, 0}));
  ASSERT_TRUE(run_op(node, 11, {make_tensor<uint8_t>({2, 3}, {1, 9, 3, 7, 5, 6})}, &outs).ok());
  EXPECT_EQ(values_of<int64_t>(outs[0]), (std::vector<int64_t>{1, 0}));
  node.set_attr_int("axis", 2);
  EXPECT_EQ(run_op(node, 11, {make_tensor<float>({2, 3}, {1, 9, 3, 7, 5, 6})}, &outs).code(), ErrorCode::kShape);
  node.set_attr_int("axis", 1);
  EXPECT_EQ(run_op(node, 11, {make_tensor<float>({2, 0}, {})}, &outs).code(), ErrorCode::kShape);
  ASSERT_TRUE(run_op(node, 11, {make_tensor<float>({0, 3}, {})}, &outs).ok());
  EXPECT_EQ(outs[0].dims(), (Dims{0, 1}));
}

// ---------------------------------------------------------------------------------------------- Softmax family

// Reference over [outer, d, inner].
std::vector<double> ref_softmax(const std::string& op, const std::vector<float>& x, int64_t outer, int64_t d,
                                int64_t inner) {
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < outer; o++)
    for (int64_t c = 0; c < inner; c++) {
      auto at = [&](int64_t r) { return size_t((o * d + r) * inner + c); };
      double m = -INFINITY;
      int64_t arg = 0;
      for (int64_t r = 0; r < d; r++)
        if (x[at(r)] > m) {
          m = x[at(r)];
          arg = r;
        }
      double s = 0;
      for (int64_t r = 0; r < d; r++) s += std::exp(double(x[at(r)]) - m);
      for (int64_t r = 0; r < d; r++) {
        if (op == "Softmax") y[at(r)] = std::exp(double(x[at(r)]) - m) / s;
        if (op == "LogSoftmax") y[at(r)] = double(x[at(r)]) - m - std::log(s);
        if (op == "Hardmax") y[at(r)] = r == arg ? 1 : 0;
      }
    }
  return y;
}

TEST(SoftmaxTest, AxisSemanticsAcrossOpsets) {
  const Dims dims = {3, 4, 5};
  std::vector<float> xv = random_floats(60, 21, -5.f, 5.f);
  Tensor x = make_tensor<float>(dims, xv);
  for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"})
    for (int opset : {11, 13})
      for (int64_t axis = -3; axis < 3; axis++) {
        NodeDef node = make_node(op, {"x"}, {"y"});
        node.set_attr_int("axis", axis);
        std::vector<Tensor> outs;
        ASSERT_TRUE(run_op(node, opset, {x}, &outs).ok());
        const int64_t ax = axis < 0 ? axis + 3 : axis;
        int64_t outer = 1, d = 1, inner = 1;
        for (int64_t i = 0; i < 3; i++) (i < ax ? outer : (i == ax || opset < 13 ? d : inner)) *= dims[size_t(i)];
        std::vector<double> want = ref_softmax(op, xv, outer, d, inner);
        std::vector<float> got = values_of<float>(outs[0]);
        for (size_t i = 0; i < got.size(); i++)
          ASSERT_NEAR(got[i], want[i], 1e-6 * std::max(1.0, std::fabs(want[i])))
              << op << " opset " << opset << " axis " << axis << " at " << i;
      }
  // Defaults: axis 1 with 2-D coercion before 13, the last axis from 13.
  for (int opset : {11, 13}) {
    NodeDef node = make_node("Softmax", {"x"}, {"y"});
    std::vector<Tensor> outs;
    ASSERT_TRUE(run_op(node, opset, {x}, &outs).ok());
    std::vector<double> want = ref_softmax("Softmax", xv, opset < 13 ? 3 : 12, opset < 13 ? 20 : 5, 1);
    std::vector<float> got = values_of<float>(outs[0]);
    for (size_t i = 0; i < got.size(); i++) ASSERT_NEAR(got[i], want[i], 1e-6);
  }
}

TEST(SoftmaxTest, LargeRowsColumnsAndHugeValues) {
  // Wide rows (the vectorised path with a tail), many rows (parallel), a strided axis with a wide inner.
  struct Case {
    Dims dims;
    int64_t axis;
  };
  for (const auto& c : std::vector<Case>{{{40, 6625}, 1}, {{1000, 37}, 1}, {{2, 300, 257}, 1}, {{1, 80, 1}, 1}}) {
    int64_t n = 1;
    for (auto d : c.dims) n *= d;
    std::vector<float> xv = random_floats(size_t(n), 5, -30.f, 30.f);
    xv[3] = 10000.f;  // the max must be subtracted before exp
    Tensor x = make_tensor<float>(c.dims, xv);
    for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"}) {
      NodeDef node = make_node(op, {"x"}, {"y"});
      node.set_attr_int("axis", c.axis);
      std::vector<Tensor> outs;
      ASSERT_TRUE(run_op(node, 13, {x}, &outs).ok());
      int64_t outer = 1, inner = 1;
      for (int64_t i = 0; i < c.axis; i++) outer *= c.dims[size_t(i)];
      for (size_t i = size_t(c.axis) + 1; i < c.dims.size(); i++) inner *= c.dims[i];
      std::vector<double> want = ref_softmax(op, xv, outer, c.dims[size_t(c.axis)], inner);
      std::vector<float> got = values_of<float>(outs[0]);
      for (size_t i = 0; i < got.size(); i++)
        ASSERT_NEAR(got[i], want[i], 2e-6 * std::max(1.0, std::fabs(want[i]))) << op << " at " << i;
    }
  }
}

TEST(SoftmaxTest, DoubleAndErrors) {
  NodeDef node = make_node("Softmax", {"x"}, {"y"});
  std::vector<Tensor> outs;
  ASSERT_TRUE(run_op(node, 13, {make_tensor<double>({2}, {0.0, std::log(3.0)})}, &outs).ok());
  std::vector<double> got = values_of<double>(outs[0]);
  EXPECT_NEAR(got[0], 0.25, 1e-15);
  EXPECT_NEAR(got[1], 0.75, 1e-15);
  EXPECT_EQ(run_op(node, 13, {make_tensor<int32_t>({2}, {1, 2})}, &outs).code(), ErrorCode::kDtype);
  node.set_attr_int("axis", 3);
  EXPECT_EQ(run_op(node, 13, {make_tensor<float>({2, 2}, {1, 2, 3, 4})}, &outs).code(), ErrorCode::kShape);
  node.set_attr_int("axis", 0);
  ASSERT_TRUE(run_op(node, 13, {make_tensor<float>({0, 3}, {})}, &outs).ok());
  EXPECT_EQ(outs[0].dims(), (Dims{0, 3}));
}

// ---------------------------------------------------------------------------------------------- row kernels

TEST(SoftmaxKernelTest, ExpMatchesLibmAcrossTheRange) {
  std::vector<float> x;
  for (float v = -110.f; v <= 95.f; v += 0.0137f) x.push_back(v);
  x.push_back(0.f);
  x.push_back(-0.f);
  x.push_back(88.72f);
  x.push_back(88.73f);
  x.push_back(-87.33f);
  x.push_back(std::numeric_limits<float>::infinity());
  x.push_back(-std::numeric_limits<float>::infinity());
  x.push_back(std::numeric_limits<float>::quiet_NaN());
  std::vector<float> y(x.size());
  vec_exp_f32(x.data(), y.data(), int64_t(x.size()));
  for (size_t i = 0; i < x.size(); i++) {
    const float want = std::exp(x[i]);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(y[i])) << x[i];
    } else if (std::isinf(want) || want == 0.f) {
      EXPECT_EQ(y[i], want) << x[i];
    } else if (want < std::numeric_limits<float>::min()) {
      EXPECT_NEAR(y[i], want, 2e-45f) << x[i];  // denormal results: absolute error of a couple of ulps of FLT_MIN
    } else {
      EXPECT_NEAR(y[i], want, 3e-7f * want) << x[i];
    }
  }
}

TEST(SoftmaxKernelTest, DispatchMatchesReference) {
  for (int64_t n : {0, 1, 7, 8, 15, 16, 17, 33, 1000}) {
    std::vector<float> x = random_floats(size_t(n), uint32_t(n) + 100, -20.f, 20.f);
    EXPECT_EQ(vec_max_f32(x.data(), n), vec_max_f32_ref(x.data(), n));
    std::vector<float> y1(static_cast<size_t>(n)), y2(static_cast<size_t>(n));
    const float shift = n ? vec_max_f32_ref(x.data(), n) : 0.f;
    float s1 = vec_exp_shift_sum_f32(x.data(), shift, y1.data(), n);
    float s2 = vec_exp_shift_sum_f32_ref(x.data(), shift, y2.data(), n);
    EXPECT_NEAR(s1, s2, 1e-5f * std::max(1.f, s2));
    for (int64_t i = 0; i < n; i++) EXPECT_NEAR(y1[size_t(i)], y2[size_t(i)], 3e-7f * y2[size_t(i)]);
    EXPECT_NEAR(vec_exp_shift_sum_f32(x.data(), shift, nullptr, n), s2, 1e-5f * std::max(1.f, s2));
  }
}

}  // namespace
}  // namespace int8rt
