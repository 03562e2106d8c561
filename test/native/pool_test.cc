// Pooling operators against a direct reference: every output visits every tap of its window.
#include <gtest/gtest.h>

#include <cmath>
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

Attribute ints_attr(const std::string& name, std::vector<int64_t> v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kInts;
  a.ints = std::move(v);
  return a;
}

int64_t numel(const Dims& d) {
  int64_t n = 1;
  for (auto v : d) n *= v;
  return n;
}

std::vector<float> random_floats(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-3.f, 3.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

struct PoolCase {
  std::string op;  // MaxPool, AveragePool, LpPool
  Dims x;
  std::vector<int64_t> kernel, strides, dilations, pads;
  std::string auto_pad = "NOTSET";
  int ceil_mode = 0;
  int count_include_pad = 0;
  int p = 2;
};

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Reference: output sizes and begin pads per axis, then a visit of all taps.
std::vector<double> ref_pool(const PoolCase& c, const std::vector<float>& x, Dims* out_dims) {
  const size_t sr = c.kernel.size();
  std::vector<int64_t> out(sr), pb(sr), pe(sr);
  for (size_t i = 0; i < sr; i++) {
    const int64_t in = c.x[2 + i], k = c.kernel[i], s = c.strides[i], d = c.dilations[i];
    const int64_t span = (k - 1) * d + 1;
    if (c.auto_pad == "SAME_UPPER" || c.auto_pad == "SAME_LOWER") {
      out[i] = cdiv(in, s);
      int64_t total = std::max<int64_t>(0, (out[i] - 1) * s + span - in);
      pb[i] = c.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe[i] = total - pb[i];
    } else {
      pb[i] = c.auto_pad == "VALID" ? 0 : c.pads[i];
      pe[i] = c.auto_pad == "VALID" ? 0 : c.pads[i + sr];
      const int64_t room = in + pb[i] + pe[i] - span;
      out[i] = (c.ceil_mode ? cdiv(room, s) : room / s) + 1;
      if (c.ceil_mode && (out[i] - 1) * s >= in + pb[i]) out[i]--;
    }
  }
  *out_dims = {c.x[0], c.x[1]};
  for (auto o : out) out_dims->push_back(o);
  const int64_t planes = c.x[0] * c.x[1];
  const int64_t in_plane = numel(Dims(c.x.begin() + 2, c.x.end())), out_plane = numel(Dims(out.begin(), out.end()));
  std::vector<double> y(size_t(planes * out_plane));
  for (int64_t pl = 0; pl < planes; pl++)
    for (int64_t o = 0; o < out_plane; o++) {
      std::vector<int64_t> oc(sr);
      for (size_t i = sr, r = size_t(o); i-- > 0;) {
        oc[i] = int64_t(r) % out[i];
        r /= size_t(out[i]);
      }
      int64_t taps = 1;
      for (auto k : c.kernel) taps *= k;
      double mx = -INFINITY, sum = 0;
      int64_t valid = 0, padded = 0;
      for (int64_t t = 0; t < taps; t++) {
        std::vector<int64_t> tc(sr);
        for (size_t i = sr, r = size_t(t); i-- > 0;) {
          tc[i] = int64_t(r) % c.kernel[i];
          r /= size_t(c.kernel[i]);
        }
        bool inside = true, in_pad = true;
        int64_t flat = 0;
        for (size_t i = 0; i < sr; i++) {
          const int64_t pos = oc[i] * c.strides[i] - pb[i] + tc[i] * c.dilations[i];
          inside = inside && pos >= 0 && pos < c.x[2 + i];
          in_pad = in_pad && pos >= -pb[i] && pos < c.x[2 + i] + pe[i];
          flat = flat * c.x[2 + i] + pos;
        }
        if (in_pad) padded++;
        if (!inside) continue;
        valid++;
        const double v = x[size_t(pl * in_plane + flat)];
        mx = std::max(mx, v);
        sum += c.op == "LpPool" ? std::pow(std::fabs(v), double(c.p)) : v;
      }
      double r = 0;
      if (c.op == "MaxPool") r = mx;
      if (c.op == "AveragePool") r = sum / double(c.count_include_pad ? padded : valid);
      if (c.op == "LpPool") r = std::pow(sum, 1.0 / c.p);
      y[size_t(pl * out_plane + o)] = r;
    }
  return y;
}

void check_pool(PoolCase c, uint32_t seed, int opset = 19) {
  const size_t sr = c.kernel.size();
  if (c.strides.empty()) c.strides.assign(sr, 1);
  if (c.dilations.empty()) c.dilations.assign(sr, 1);
  if (c.pads.empty()) c.pads.assign(2 * sr, 0);
  std::vector<float> xv = random_floats(numel(c.x), seed);
  Dims want_dims;
  std::vector<double> want = ref_pool(c, xv, &want_dims);
  NodeDef node = make_node(c.op, {"x"}, {"y"});
  node.attrs.push_back(ints_attr("kernel_shape", c.kernel));
  node.attrs.push_back(ints_attr("strides", c.strides));
  node.attrs.push_back(ints_attr("dilations", c.dilations));
  if (c.auto_pad == "NOTSET") node.attrs.push_back(ints_attr("pads", c.pads));
  node.set_attr_string("auto_pad", c.auto_pad);
  node.set_attr_int("ceil_mode", c.ceil_mode);
  if (c.op == "AveragePool") node.set_attr_int("count_include_pad", c.count_include_pad);
  if (c.op == "LpPool") node.set_attr_int("p", c.p);
  std::vector<Tensor> outs;
  Status st = run_op(node, opset, {make_tensor<float>(c.x, xv)}, &outs);
  std::string what = c.op + " x" + dims_str(c.x) + " k" + dims_str(c.kernel) + " s" + dims_str(c.strides) + " d" +
                     dims_str(c.dilations) + " p" + dims_str(c.pads) + " " + c.auto_pad + " ceil " +
                     std::to_string(c.ceil_mode) + " incl " + std::to_string(c.count_include_pad);
  ASSERT_TRUE(st.ok()) << what << ": " << st.message();
  ASSERT_EQ(outs[0].dims(), want_dims) << what;
  std::vector<float> got = values_of<float>(outs[0]);
  for (size_t i = 0; i < got.size(); i++)
    ASSERT_NEAR(got[i], want[i], 2e-5 * std::max(1.0, std::fabs(want[i]))) << what << " at " << i;
}

TEST(PoolTest, TwoDimensionalConfigurations) {
  uint32_t seed = 1;
  for (const char* op : {"MaxPool", "AveragePool", "LpPool"}) {
    // The CNN shapes: 3x3/2 with and without padding, 2x2/2, 3x3/1 same, ceil mode (SqueezeNet, GoogLeNet).
    check_pool({op, {2, 3, 17, 19}, {3, 3}, {2, 2}, {}, {}}, seed++);
    check_pool({op, {2, 3, 17, 19}, {3, 3}, {2, 2}, {}, {1, 1, 1, 1}}, seed++);
    check_pool({op, {1, 4, 16, 16}, {2, 2}, {2, 2}, {}, {}}, seed++);
    check_pool({op, {1, 2, 15, 15}, {3, 3}, {1, 1}, {}, {}, "SAME_UPPER"}, seed++);
    check_pool({op, {1, 2, 15, 14}, {2, 3}, {2, 2}, {}, {}, "SAME_LOWER"}, seed++);
    check_pool({op, {1, 2, 15, 14}, {2, 3}, {3, 2}, {}, {}, "SAME_UPPER"}, seed++);
    check_pool({op, {1, 2, 13, 13}, {3, 3}, {2, 2}, {}, {}, "VALID", 1}, seed++);
    check_pool({op, {1, 3, 14, 14}, {3, 3}, {2, 2}, {}, {0, 0, 0, 0}, "NOTSET", 1}, seed++);
    check_pool({op, {1, 1, 2, 2}, {3, 3}, {2, 2}, {}, {1, 1, 1, 1}, "NOTSET", 1}, seed++);  // last window on pad
    check_pool({op, {1, 1, 4, 4}, {2, 2}, {1, 1}, {2, 2}, {}}, seed++);                     // dilations
    check_pool({op, {1, 2, 9, 11}, {3, 2}, {2, 3}, {2, 1}, {2, 1, 1, 2}, "NOTSET", 1}, seed++);
    check_pool({op, {1, 1, 5, 5}, {5, 5}, {1, 1}, {}, {2, 2, 2, 2}}, seed++);
    check_pool({op, {1, 2, 7, 40}, {1, 5}, {1, 3}, {}, {0, 2, 0, 2}}, seed++);
    check_pool({op, {1, 2, 28, 28}, {7, 7}, {1, 1}, {}, {}}, seed++);
  }
  for (int incl = 0; incl <= 1; incl++) {
    check_pool({"AveragePool", {1, 3, 12, 12}, {3, 3}, {2, 2}, {}, {1, 1, 1, 1}, "NOTSET", 0, incl}, seed++);
    check_pool({"AveragePool", {1, 3, 12, 12}, {3, 3}, {2, 2}, {}, {1, 1, 1, 1}, "NOTSET", 1, incl}, seed++);
    check_pool({"AveragePool", {1, 3, 11, 12}, {3, 2}, {2, 2}, {2, 2}, {2, 1, 0, 2}, "NOTSET", 1, incl}, seed++);
    check_pool({"AveragePool", {1, 1, 5, 5}, {3, 3}, {1, 1}, {}, {}, "SAME_LOWER", 0, incl}, seed++);
  }
  check_pool({"LpPool", {1, 2, 9, 9}, {3, 3}, {2, 2}, {}, {1, 1, 1, 1}, "NOTSET", 0, 0, 1}, seed++);
  check_pool({"LpPool", {1, 2, 9, 9}, {3, 3}, {2, 2}, {}, {1, 1, 1, 1}, "NOTSET", 0, 0, 3}, seed++);
}

TEST(PoolTest, OneAndThreeDimensional) {
  uint32_t seed = 100;
  for (const char* op : {"MaxPool", "AveragePool", "LpPool"}) {
    check_pool({op, {2, 3, 32}, {2}, {1}, {}, {}}, seed++);
    check_pool({op, {1, 2, 31}, {3}, {2}, {2}, {1, 2}, "NOTSET", 1}, seed++);
    check_pool({op, {1, 2, 8, 9, 10}, {2, 2, 2}, {1, 1, 1}, {}, {}}, seed++);
    check_pool({op, {1, 1, 9, 9, 9}, {3, 2, 3}, {2, 2, 1}, {2, 1, 2}, {1, 0, 1, 1, 1, 0}, "NOTSET", 1}, seed++);
    check_pool({op, {1, 1, 6, 7, 5}, {3, 3, 3}, {2, 2, 2}, {}, {}, "SAME_UPPER"}, seed++);
  }
  check_pool({"AveragePool", {1, 1, 12, 12, 12}, {2, 2, 2}, {3, 3, 3}, {3, 3, 3}, {1, 1, 1, 1, 1, 1}, "NOTSET", 1, 1},
             seed++);
}

TEST(PoolTest, LargePlanesRunInParallel) {
  check_pool({"MaxPool", {2, 64, 56, 56}, {3, 3}, {2, 2}, {}, {1, 1, 1, 1}}, 7);
  check_pool({"AveragePool", {2, 32, 35, 35}, {3, 3}, {1, 1}, {}, {1, 1, 1, 1}}, 8);
}

TEST(PoolTest, MaxPoolIndicesBothStorageOrders) {
  // The ONNX example: 5x5 input 1..25, 2x2 kernel, stride 2.
  std::vector<float> xv(25);
  for (int i = 0; i < 25; i++) xv[size_t(i)] = float(i + 1);
  for (int order = 0; order <= 1; order++) {
    NodeDef node = make_node("MaxPool", {"x"}, {"y", "i"});
    node.attrs.push_back(ints_attr("kernel_shape", {2, 2}));
    node.attrs.push_back(ints_attr("strides", {2, 2}));
    node.set_attr_int("storage_order", order);
    std::vector<Tensor> outs;
    ASSERT_TRUE(run_op(node, 12, {make_tensor<float>({1, 1, 5, 5}, xv)}, &outs).ok());
    EXPECT_EQ(values_of<float>(outs[0]), (std::vector<float>{7, 9, 17, 19}));
    if (order == 0)
      EXPECT_EQ(values_of<int64_t>(outs[1]), (std::vector<int64_t>{6, 8, 16, 18}));
    else
      EXPECT_EQ(values_of<int64_t>(outs[1]), (std::vector<int64_t>{6, 16, 8, 18}));
  }
  // Indices include the batch and channel offset, and padding never wins.
  NodeDef node = make_node("MaxPool", {"x"}, {"y", "i"});
  node.attrs.push_back(ints_attr("kernel_shape", {3}));
  node.attrs.push_back(ints_attr("pads", {1, 1}));
  std::vector<Tensor> outs;
  ASSERT_TRUE(run_op(node, 12, {make_tensor<float>({1, 2, 3}, {-5, -6, -7, 1, 3, 2})}, &outs).ok());
  EXPECT_EQ(values_of<float>(outs[0]), (std::vector<float>{-5, -5, -6, 3, 3, 3}));
  EXPECT_EQ(values_of<int64_t>(outs[1]), (std::vector<int64_t>{0, 0, 1, 4, 4, 4}));
}

TEST(PoolTest, MaxPoolIntegerTypes) {
  NodeDef node = make_node("MaxPool", {"x"}, {"y"});
  node.attrs.push_back(ints_attr("kernel_shape", {2, 2}));
  std::vector<Tensor> outs;
  ASSERT_TRUE(run_op(node, 12, {make_tensor<uint8_t>({1, 1, 2, 3}, {1, 200, 3, 4, 5, 255})}, &outs).ok());
  EXPECT_EQ(outs[0].dtype(), DType::kUint8);
  EXPECT_EQ(values_of<uint8_t>(outs[0]), (std::vector<uint8_t>{200, 255}));
  ASSERT_TRUE(run_op(node, 12, {make_tensor<int8_t>({1, 1, 2, 3}, {-1, -20, -3, -4, -5, -128})}, &outs).ok());
  EXPECT_EQ(values_of<int8_t>(outs[0]), (std::vector<int8_t>{-1, -3}));
  NodeDef avg = make_node("AveragePool", {"x"}, {"y"});
  avg.attrs.push_back(ints_attr("kernel_shape", {2, 2}));
  EXPECT_EQ(run_op(avg, 12, {make_tensor<uint8_t>({1, 1, 2, 3}, {1, 2, 3, 4, 5, 6})}, &outs).code(), ErrorCode::kDtype);
}

TEST(PoolTest, AttributeAndShapeErrors) {
  std::vector<Tensor> outs;
  Tensor x = make_tensor<float>({1, 1, 4, 4}, std::vector<float>(16, 1.f));
  NodeDef none = make_node("MaxPool", {"x"}, {"y"});
  EXPECT_EQ(run_op(none, 12, {x}, &outs).code(), ErrorCode::kShape);
  NodeDef k1 = make_node("MaxPool", {"x"}, {"y"});
  k1.attrs.push_back(ints_attr("kernel_shape", {2}));
  EXPECT_EQ(run_op(k1, 12, {x}, &outs).code(), ErrorCode::kShape);  // rank mismatch
  NodeDef big = make_node("AveragePool", {"x"}, {"y"});
  big.attrs.push_back(ints_attr("kernel_shape", {5, 5}));
  EXPECT_EQ(run_op(big, 12, {x}, &outs).code(), ErrorCode::kShape);
  NodeDef bad = make_node("MaxPool", {"x"}, {"y"});
  bad.attrs.push_back(ints_attr("kernel_shape", {2, 2}));
  bad.attrs.push_back(ints_attr("strides", {0, 1}));
  EXPECT_EQ(run_op(bad, 12, {x}, &outs).code(), ErrorCode::kShape);
  NodeDef pad = make_node("MaxPool", {"x"}, {"y"});
  pad.attrs.push_back(ints_attr("kernel_shape", {2, 2}));
  pad.set_attr_string("auto_pad", "SAME");
  EXPECT_EQ(run_op(pad, 12, {x}, &outs).code(), ErrorCode::kShape);
  NodeDef huge = make_node("MaxPool", {"x"}, {"y"});
  huge.attrs.push_back(ints_attr("kernel_shape", {int64_t(1) << 40, 1}));
  EXPECT_EQ(run_op(huge, 12, {x}, &outs).code(), ErrorCode::kShape);
  NodeDef four = make_node("MaxPool", {"x"}, {"y"});
  four.attrs.push_back(ints_attr("kernel_shape", {1, 1, 1, 1}));
  EXPECT_EQ(run_op(four, 12, {x}, &outs).code(), ErrorCode::kUnsupported);
}

TEST(GlobalPoolTest, AllKindsAndRanks) {
  for (const Dims& dims : {Dims{2, 3, 5, 5}, Dims{1, 8, 160, 160}, Dims{2, 4, 7}, Dims{1, 2, 3, 4, 5}, Dims{3, 2}}) {
    std::vector<float> xv = random_floats(numel(dims), 9);
    const int64_t planes = dims[0] * dims[1], s = numel(dims) / planes;
    Dims od = dims;
    for (size_t i = 2; i < od.size(); i++) od[i] = 1;
    for (const char* op : {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"})
      for (int p : {1, 2, 3}) {
        if (std::string(op) != "GlobalLpPool" && p != 2) continue;
        NodeDef node = make_node(op, {"x"}, {"y"});
        node.set_attr_int("p", p);
        std::vector<Tensor> outs;
        ASSERT_TRUE(run_op(node, 2, {make_tensor<float>(dims, xv)}, &outs).ok());
        ASSERT_EQ(outs[0].dims(), od);
        std::vector<float> got = values_of<float>(outs[0]);
        for (int64_t pl = 0; pl < planes; pl++) {
          double sum = 0, mx = -INFINITY, lp = 0;
          for (int64_t i = 0; i < s; i++) {
            const double v = xv[size_t(pl * s + i)];
            sum += v;
            mx = std::max(mx, v);
            lp += std::pow(std::fabs(v), p);
          }
          double want = std::string(op) == "GlobalAveragePool" ? sum / double(s)
                        : std::string(op) == "GlobalMaxPool"   ? mx
                                                                : std::pow(lp, 1.0 / p);
          ASSERT_NEAR(got[size_t(pl)], want, 1e-5 * std::max(1.0, std::fabs(want)) + 1e-6) << op << " p" << p;
        }
      }
  }
}

}  // namespace
}  // namespace int8rt
