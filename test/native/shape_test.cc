// Data-movement operators (ops/shape*.cc): expected values written out by hand for the small cases, and
// straightforward index-loop references (written here) for the randomised transpose / slice / pad / gather sweeps.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
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
Attribute ints_attr(const std::string& name, std::vector<int64_t> v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kInts;
  a.ints = std::move(v);
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
Attribute tensor_attr(const std::string& name, const Tensor& t) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kTensor;
  a.t = t;
  return a;
}

NodeDef node_with(const std::string& op, std::vector<std::string> in, std::vector<std::string> out,
                  std::vector<Attribute> attrs = {}) {
  NodeDef n = make_node(op, std::move(in), std::move(out));
  n.attrs = std::move(attrs);
  return n;
}

std::vector<float> iota_floats(int64_t n, float start = 0.f) {
  std::vector<float> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), start);
  return v;
}

Tensor ints(std::vector<int64_t> v) { return make_tensor<int64_t>({int64_t(v.size())}, v); }

// Runs a one-output op and returns its output (test fails on a non-ok status).
Tensor run1(const NodeDef& node, int opset, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> out;
  Status st = run_op(node, opset, inputs, &out);
  EXPECT_TRUE(st.ok()) << st.message();
  if (!st.ok() || out.empty()) return Tensor();
  return out[0];
}

Status run_status(const NodeDef& node, int opset, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> out;
  return run_op(node, opset, inputs, &out);
}

// Row-major coordinates <-> linear index.
std::vector<int64_t> unravel_index(int64_t i, const Dims& d) {
  std::vector<int64_t> c(d.size());
  for (size_t k = d.size(); k-- > 0;) {
    c[k] = i % d[k];
    i /= d[k];
  }
  return c;
}
int64_t ravel_index(const std::vector<int64_t>& c, const Dims& d) {
  int64_t i = 0;
  for (size_t k = 0; k < d.size(); k++) i = i * d[k] + c[k];
  return i;
}

// ------------------------------------------------------------------------------------------ Shape, Size

TEST(ShapeOps, ShapeAndSize) {
  Tensor x = make_tensor<float>({2, 3, 4}, iota_floats(24));
  Tensor s = run1(make_node("Shape", {"x"}, {"y"}), 13, {x});
  EXPECT_EQ(s.dtype(), DType::kInt64);
  EXPECT_EQ(values_of<int64_t>(s), (std::vector<int64_t>{2, 3, 4}));
  Tensor s2 = run1(node_with("Shape", {"x"}, {"y"}, {int_attr("start", -2)}), 15, {x});
  EXPECT_EQ(values_of<int64_t>(s2), (std::vector<int64_t>{3, 4}));
  Tensor s3 = run1(node_with("Shape", {"x"}, {"y"}, {int_attr("start", 2), int_attr("end", 1)}), 15, {x});
  EXPECT_EQ(s3.dims(), (Dims{0}));
  Tensor s4 = run1(node_with("Shape", {"x"}, {"y"}, {int_attr("start", -10), int_attr("end", 10)}), 21, {x});
  EXPECT_EQ(values_of<int64_t>(s4), (std::vector<int64_t>{2, 3, 4}));
  Tensor n = run1(make_node("Size", {"x"}, {"y"}), 13, {x});
  EXPECT_EQ(n.dims(), Dims{});
  EXPECT_EQ(values_of<int64_t>(n)[0], 24);
}

// ---------------------------------------------------------------------------- Reshape, Flatten, Squeeze

TEST(ShapeOps, ReshapeIsAViewAndInfersDims) {
  Tensor x = make_tensor<float>({2, 3, 4}, iota_floats(24));
  Tensor y = run1(make_node("Reshape", {"x", "s"}, {"y"}), 13, {x, ints({0, -1, 2})});
  EXPECT_EQ(y.dims(), (Dims{2, 6, 2}));
  EXPECT_EQ(y.raw(), x.raw());  // zero copy
  Tensor z = run1(make_node("Reshape", {"x", "s"}, {"y"}), 13, {x, ints({-1})});
  EXPECT_EQ(z.dims(), (Dims{24}));
  // allowzero: a 0 is a real zero dim.
  Tensor e = make_tensor<float>({0, 3}, {});
  Tensor w = run1(node_with("Reshape", {"x", "s"}, {"y"}, {int_attr("allowzero", 1)}), 14, {e, ints({3, 0})});
  EXPECT_EQ(w.dims(), (Dims{3, 0}));
  // Errors.
  EXPECT_EQ(run_status(make_node("Reshape", {"x", "s"}, {"y"}), 13, {x, ints({5, -1})}).code(), ErrorCode::kShape);
  EXPECT_EQ(run_status(make_node("Reshape", {"x", "s"}, {"y"}), 13, {x, ints({-1, -1})}).code(), ErrorCode::kShape);
  EXPECT_EQ(run_status(make_node("Reshape", {"x", "s"}, {"y"}), 13, {x, ints({2, 3, 5})}).code(), ErrorCode::kShape);
  EXPECT_EQ(run_status(make_node("Reshape", {"x", "s"}, {"y"}), 13, {x, ints({0, 0, 0, 0})}).code(),
            ErrorCode::kShape);
  EXPECT_EQ(run_status(make_node("Reshape", {"x", "s"}, {"y"}), 13, {x, make_tensor<float>({1}, {24.f})}).code(),
            ErrorCode::kDtype);
}

TEST(ShapeOps, FlattenSqueezeUnsqueeze) {
  Tensor x = make_tensor<float>({2, 1, 3, 1}, iota_floats(6));
  EXPECT_EQ(run1(node_with("Flatten", {"x"}, {"y"}, {int_attr("axis", 2)}), 13, {x}).dims(), (Dims{2, 3}));
  EXPECT_EQ(run1(node_with("Flatten", {"x"}, {"y"}, {int_attr("axis", 0)}), 13, {x}).dims(), (Dims{1, 6}));
  EXPECT_EQ(run1(node_with("Flatten", {"x"}, {"y"}, {int_attr("axis", -1)}), 13, {x}).dims(), (Dims{6, 1}));
  EXPECT_EQ(run1(node_with("Flatten", {"x"}, {"y"}, {int_attr("axis", 4)}), 13, {x}).dims(), (Dims{6, 1}));
  EXPECT_FALSE(run_status(node_with("Flatten", {"x"}, {"y"}, {int_attr("axis", 5)}), 13, {x}).ok());

  // Squeeze: attribute before 13, input from 13, all unit dims without axes.
  EXPECT_EQ(run1(node_with("Squeeze", {"x"}, {"y"}, {ints_attr("axes", {-1})}), 11, {x}).dims(), (Dims{2, 1, 3}));
  EXPECT_EQ(run1(make_node("Squeeze", {"x", "a"}, {"y"}), 13, {x, ints({1, 3})}).dims(), (Dims{2, 3}));
  EXPECT_EQ(run1(make_node("Squeeze", {"x"}, {"y"}), 13, {x}).dims(), (Dims{2, 3}));
  EXPECT_EQ(run_status(make_node("Squeeze", {"x", "a"}, {"y"}), 13, {x, ints({0})}).code(), ErrorCode::kShape);

  Tensor v = make_tensor<float>({3}, {1, 2, 3});
  EXPECT_EQ(run1(node_with("Unsqueeze", {"x"}, {"y"}, {ints_attr("axes", {0, 2})}), 11, {v}).dims(),
            (Dims{1, 3, 1}));
  EXPECT_EQ(run1(make_node("Unsqueeze", {"x", "a"}, {"y"}), 13, {v, ints({-1, 0})}).dims(), (Dims{1, 3, 1}));
  Tensor s = make_tensor<float>({}, {5});
  EXPECT_EQ(run1(make_node("Unsqueeze", {"x", "a"}, {"y"}), 13, {s, ints({0})}).dims(), (Dims{1}));
  EXPECT_EQ(run_status(make_node("Unsqueeze", {"x", "a"}, {"y"}), 13, {v, ints({0, 0})}).code(), ErrorCode::kShape);
  EXPECT_EQ(run_status(make_node("Unsqueeze", {"x", "a"}, {"y"}), 13, {v, ints({3})}).code(), ErrorCode::kShape);
}

// ---------------------------------------------------------------------------------------------- Transpose

template <typename T>
std::vector<T> ref_transpose(const std::vector<T>& x, const Dims& dims, const std::vector<int64_t>& perm) {
  Dims od(dims.size());
  for (size_t i = 0; i < dims.size(); i++) od[i] = dims[size_t(perm[i])];
  std::vector<T> y(x.size());
  for (int64_t o = 0; o < int64_t(y.size()); o++) {
    std::vector<int64_t> oc = unravel_index(o, od), ic(dims.size());
    for (size_t i = 0; i < dims.size(); i++) ic[size_t(perm[i])] = oc[i];
    y[size_t(o)] = x[size_t(ravel_index(ic, dims))];
  }
  return y;
}

template <typename T>
void check_transpose(const Dims& dims, const std::vector<int64_t>& perm) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  std::vector<T> xv(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++) xv[size_t(i)] = T(i * 7 + 3);
  Tensor x = make_tensor<T>(dims, xv);
  Tensor y = run1(node_with("Transpose", {"x"}, {"y"}, {ints_attr("perm", perm)}), 13, {x});
  ASSERT_EQ(y.numel(), n);
  EXPECT_EQ(values_of<T>(y), ref_transpose(xv, dims, perm)) << dims_str(dims) << " perm " << dims_str(perm);
}

TEST(ShapeOps, TransposeCommonLayouts) {
  check_transpose<float>({2, 3, 4}, {0, 2, 1});
  check_transpose<float>({2, 16, 9, 11}, {0, 2, 3, 1});   // NCHW -> NHWC
  check_transpose<float>({2, 9, 11, 16}, {0, 3, 1, 2});   // NHWC -> NCHW
  check_transpose<float>({3, 5, 37, 70}, {0, 1, 3, 2});   // last-two swap
  check_transpose<float>({64, 65}, {1, 0});
  check_transpose<uint8_t>({3, 67, 130}, {0, 2, 1});
  check_transpose<uint16_t>({33, 47}, {1, 0});
  check_transpose<int64_t>({5, 19, 23}, {2, 1, 0});
  check_transpose<double>({2, 3, 4, 5, 6}, {4, 0, 3, 1, 2});
}

TEST(ShapeOps, TransposeRandomPermutations) {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 60; iter++) {
    const size_t rank = 1 + rng() % 5;
    Dims dims(rank);
    for (auto& d : dims) d = 1 + int64_t(rng() % 9);
    std::vector<int64_t> perm(rank);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    check_transpose<float>(dims, perm);
  }
}

TEST(ShapeOps, TransposeLargeParallel) {
  // Big enough to take the parallel tile path.
  check_transpose<float>({1, 96, 80, 80}, {0, 2, 3, 1});
  check_transpose<float>({1, 80, 80, 96}, {0, 3, 1, 2});
}

TEST(ShapeOps, TransposeDefaultPermAndViews) {
  Tensor x = make_tensor<float>({2, 3}, iota_floats(6));
  Tensor y = run1(make_node("Transpose", {"x"}, {"y"}), 13, {x});
  EXPECT_EQ(y.dims(), (Dims{3, 2}));
  EXPECT_EQ(values_of<float>(y), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  // Moving only a unit dim keeps the memory order: a view.
  Tensor u = make_tensor<float>({1, 3, 4}, iota_floats(12));
  Tensor v = run1(node_with("Transpose", {"x"}, {"y"}, {ints_attr("perm", {1, 0, 2})}), 13, {u});
  EXPECT_EQ(v.dims(), (Dims{3, 1, 4}));
  EXPECT_EQ(v.raw(), u.raw());
  EXPECT_EQ(run_status(node_with("Transpose", {"x"}, {"y"}, {ints_attr("perm", {0, 0})}), 13, {x}).code(),
            ErrorCode::kShape);
  EXPECT_EQ(run_status(node_with("Transpose", {"x"}, {"y"}, {ints_attr("perm", {0, 1, 2})}), 13, {x}).code(),
            ErrorCode::kShape);
}

// ------------------------------------------------------------------------------ DepthToSpace, SpaceToDepth

TEST(ShapeOps, DepthToSpaceModesAndInverse) {
  // The ONNX examples: x = arange(16) as [1, 8, 1, 2], blocksize 2.
  Tensor x = make_tensor<float>({1, 8, 1, 2}, iota_floats(16));
  Tensor dcr = run1(node_with("DepthToSpace", {"x"}, {"y"}, {int_attr("blocksize", 2)}), 13, {x});
  EXPECT_EQ(dcr.dims(), (Dims{1, 2, 2, 4}));
  EXPECT_EQ(values_of<float>(dcr),
            (std::vector<float>{0, 4, 1, 5, 8, 12, 9, 13, 2, 6, 3, 7, 10, 14, 11, 15}));
  Tensor crd = run1(node_with("DepthToSpace", {"x"}, {"y"}, {int_attr("blocksize", 2), string_attr("mode", "CRD")}),
                    13, {x});
  EXPECT_EQ(values_of<float>(crd),
            (std::vector<float>{0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15}));
  // SpaceToDepth inverts DCR DepthToSpace.
  Tensor back = run1(node_with("SpaceToDepth", {"x"}, {"y"}, {int_attr("blocksize", 2)}), 13, {dcr});
  EXPECT_EQ(back.dims(), x.dims());
  EXPECT_EQ(values_of<float>(back), values_of<float>(x));
  EXPECT_EQ(run_status(node_with("DepthToSpace", {"x"}, {"y"}, {int_attr("blocksize", 3)}), 13, {x}).code(),
            ErrorCode::kShape);
  EXPECT_FALSE(run_status(node_with("DepthToSpace", {"x"}, {"y"}, {}), 13, {x}).ok());
}

// -------------------------------------------------------------------------------------------- Expand, Tile

TEST(ShapeOps, ExpandBroadcasts) {
  Tensor x = make_tensor<float>({3, 1}, {1, 2, 3});
  Tensor y = run1(make_node("Expand", {"x", "s"}, {"y"}), 13, {x, ints({2, 1, 4})});
  EXPECT_EQ(y.dims(), (Dims{2, 3, 4}));
  std::vector<float> expect;
  for (int b = 0; b < 2; b++)
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 4; j++) expect.push_back(float(i + 1));
  EXPECT_EQ(values_of<float>(y), expect);
  // Shape smaller than input: input shape wins.
  Tensor z = run1(make_node("Expand", {"x", "s"}, {"y"}), 13, {x, ints({1, 1})});
  EXPECT_EQ(z.dims(), (Dims{3, 1}));
  Tensor w = run1(make_node("Expand", {"x", "s"}, {"y"}), 13, {x, ints({3, 0})});
  EXPECT_EQ(w.dims(), (Dims{3, 0}));
  EXPECT_EQ(run_status(make_node("Expand", {"x", "s"}, {"y"}), 13, {x, ints({2, 4})}).code(), ErrorCode::kShape);
}

TEST(ShapeOps, Tile) {
  Tensor x = make_tensor<int32_t>({2, 2}, {1, 2, 3, 4});
  Tensor y = run1(make_node("Tile", {"x", "r"}, {"y"}), 13, {x, ints({2, 3})});
  EXPECT_EQ(y.dims(), (Dims{4, 6}));
  EXPECT_EQ(values_of<int32_t>(y), (std::vector<int32_t>{1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4,
                                                          1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4}));
  Tensor z = run1(make_node("Tile", {"x", "r"}, {"y"}), 13, {x, ints({0, 1})});
  EXPECT_EQ(z.dims(), (Dims{0, 2}));
  EXPECT_EQ(run_status(make_node("Tile", {"x", "r"}, {"y"}), 13, {x, ints({2})}).code(), ErrorCode::kShape);
}

// --------------------------------------------------------------------- Constant, ConstantOfShape, Range

TEST(ShapeOps, ConstantForms) {
  Tensor t = make_tensor<float>({2}, {1.5f, 2.5f});
  Tensor c = run1(node_with("Constant", {}, {"y"}, {tensor_attr("value", t)}), 13, {});
  EXPECT_EQ(values_of<float>(c), (std::vector<float>{1.5f, 2.5f}));
  Tensor f = run1(node_with("Constant", {}, {"y"}, {float_attr("value_float", 3.f)}), 13, {});
  EXPECT_EQ(f.dims(), Dims{});
  EXPECT_EQ(values_of<float>(f)[0], 3.f);
  Tensor i = run1(node_with("Constant", {}, {"y"}, {ints_attr("value_ints", {4, 5})}), 13, {});
  EXPECT_EQ(values_of<int64_t>(i), (std::vector<int64_t>{4, 5}));
  Attribute sparse;
  sparse.name = "sparse_value";
  EXPECT_EQ(run_status(node_with("Constant", {}, {"y"}, {sparse}), 13, {}).code(), ErrorCode::kUnsupported);
}

TEST(ShapeOps, ConstantOfShape) {
  Tensor y = run1(make_node("ConstantOfShape", {"s"}, {"y"}), 13, {ints({2, 3})});
  EXPECT_EQ(y.dtype(), DType::kFloat32);
  EXPECT_EQ(values_of<float>(y), std::vector<float>(6, 0.f));
  Tensor v = make_tensor<int32_t>({1}, {7});
  Tensor z = run1(node_with("ConstantOfShape", {"s"}, {"y"}, {tensor_attr("value", v)}), 13, {ints({3})});
  EXPECT_EQ(values_of<int32_t>(z), (std::vector<int32_t>{7, 7, 7}));
  Tensor e = run1(node_with("ConstantOfShape", {"s"}, {"y"}, {tensor_attr("value", v)}), 13, {ints({})});
  EXPECT_EQ(e.dims(), Dims{});
  EXPECT_EQ(values_of<int32_t>(e)[0], 7);
  EXPECT_EQ(run_status(make_node("ConstantOfShape", {"s"}, {"y"}), 13, {ints({-1})}).code(), ErrorCode::kShape);
}

TEST(ShapeOps, Range) {
  auto scalar_f = [](float v) { return make_tensor<float>({}, {v}); };
  auto scalar_i = [](int32_t v) { return make_tensor<int32_t>({}, {v}); };
  Tensor a = run1(make_node("Range", {"s", "l", "d"}, {"y"}), 11, {scalar_f(1), scalar_f(2), scalar_f(0.3f)});
  ASSERT_EQ(a.numel(), 4);
  EXPECT_NEAR(values_of<float>(a)[3], 1.9f, 1e-6f);
  Tensor b = run1(make_node("Range", {"s", "l", "d"}, {"y"}), 11, {scalar_i(10), scalar_i(4), scalar_i(-3)});
  EXPECT_EQ(values_of<int32_t>(b), (std::vector<int32_t>{10, 7}));
  Tensor c = run1(make_node("Range", {"s", "l", "d"}, {"y"}), 11, {scalar_i(4), scalar_i(10), scalar_i(-3)});
  EXPECT_EQ(c.numel(), 0);
  EXPECT_EQ(run_status(make_node("Range", {"s", "l", "d"}, {"y"}), 11, {scalar_i(0), scalar_i(5), scalar_i(0)}).code(),
            ErrorCode::kShape);
}

TEST(ShapeOps, EyeLike) {
  Tensor x = make_tensor<int32_t>({3, 4}, std::vector<int32_t>(12, 5));
  Tensor y = run1(node_with("EyeLike", {"x"}, {"y"}, {int_attr("k", 1), int_attr("dtype", 1)}), 13, {x});
  EXPECT_EQ(y.dtype(), DType::kFloat32);
  EXPECT_EQ(values_of<float>(y), (std::vector<float>{0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}));
  Tensor z = run1(node_with("EyeLike", {"x"}, {"y"}, {int_attr("k", -2)}), 13, {x});
  EXPECT_EQ(values_of<int32_t>(z), (std::vector<int32_t>{0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}));
}

// ------------------------------------------------------------------------------------------ Concat, Split

TEST(ShapeOps, ConcatAxes) {
  Tensor a = make_tensor<float>({2, 2}, {1, 2, 3, 4});
  Tensor b = make_tensor<float>({2, 1}, {5, 6});
  Tensor y = run1(node_with("Concat", {"a", "b"}, {"y"}, {int_attr("axis", -1)}), 13, {a, b});
  EXPECT_EQ(y.dims(), (Dims{2, 3}));
  EXPECT_EQ(values_of<float>(y), (std::vector<float>{1, 2, 5, 3, 4, 6}));
  Tensor c = make_tensor<float>({1, 2}, {7, 8});
  Tensor e = make_tensor<float>({0, 2}, {});
  Tensor z = run1(node_with("Concat", {"a", "e", "c"}, {"y"}, {int_attr("axis", 0)}), 13, {a, e, c});
  EXPECT_EQ(values_of<float>(z), (std::vector<float>{1, 2, 3, 4, 7, 8}));
  EXPECT_EQ(run_status(node_with("Concat", {"a", "b"}, {"y"}, {int_attr("axis", 0)}), 13, {a, b}).code(),
            ErrorCode::kShape);
  EXPECT_EQ(run_status(node_with("Concat", {"a", "b"}, {"y"}, {int_attr("axis", 2)}), 13, {a, b}).code(),
            ErrorCode::kShape);
}

TEST(ShapeOps, SplitForms) {
  Tensor x = make_tensor<float>({2, 6}, iota_floats(12));
  std::vector<Tensor> out;
  // Equal parts along axis 1.
  ASSERT_TRUE(run_op(node_with("Split", {"x"}, {"a", "b", "c"}, {int_attr("axis", 1)}), 13, {x}, &out).ok());
  EXPECT_EQ(values_of<float>(out[1]), (std::vector<float>{2, 3, 8, 9}));
  // split attribute (opset 11), split input (opset 13).
  ASSERT_TRUE(
      run_op(node_with("Split", {"x"}, {"a", "b"}, {int_attr("axis", -1), ints_attr("split", {1, 5})}), 11, {x}, &out)
          .ok());
  EXPECT_EQ(values_of<float>(out[0]), (std::vector<float>{0, 6}));
  ASSERT_TRUE(run_op(node_with("Split", {"x", "s"}, {"a", "b"}, {int_attr("axis", 1)}), 13, {x, ints({4, 2})}, &out).ok());
  EXPECT_EQ(values_of<float>(out[1]), (std::vector<float>{4, 5, 10, 11}));
  // Axis 0: views into the input.
  ASSERT_TRUE(run_op(make_node("Split", {"x"}, {"a", "b"}), 13, {x}, &out).ok());
  EXPECT_EQ(out[1].raw(), static_cast<const char*>(x.raw()) + 6 * sizeof(float));
  EXPECT_EQ(values_of<float>(out[1]), (std::vector<float>{6, 7, 8, 9, 10, 11}));
  // num_outputs with an uneven split (opset 18).
  Tensor v = make_tensor<float>({7}, iota_floats(7));
  ASSERT_TRUE(run_op(node_with("Split", {"x"}, {"a", "b", "c"}, {int_attr("num_outputs", 3)}), 18, {v}, &out).ok());
  EXPECT_EQ(out[0].dims(), (Dims{3}));
  EXPECT_EQ(out[2].dims(), (Dims{1}));
  EXPECT_EQ(run_status(make_node("Split", {"x"}, {"a", "b", "c"}), 13, {v}).code(), ErrorCode::kShape);
  EXPECT_EQ(run_status(make_node("Split", {"x", "s"}, {"a", "b"}), 13, {v, ints({3, 3})}).code(), ErrorCode::kShape);
}

// -------------------------------------------------------------------------------------------------- Slice

std::vector<float> ref_slice(const std::vector<float>& x, const Dims& dims, const std::vector<int64_t>& starts,
                             const std::vector<int64_t>& ends, const std::vector<int64_t>& axes,
                             const std::vector<int64_t>& steps, Dims* out_dims) {
  const size_t r = dims.size();
  std::vector<int64_t> st(r, 0), sp(r, 1), len(dims.begin(), dims.end());
  for (size_t i = 0; i < starts.size(); i++) {
    size_t a = size_t(axes[i] < 0 ? axes[i] + int64_t(r) : axes[i]);
    int64_t d = dims[a], s = starts[i], e = ends[i], step = steps[i];
    // numpy's slice.indices semantics
    if (s < 0) s += d;
    if (e < 0) e += d;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, d);
      e = std::clamp<int64_t>(e, 0, d);
    } else {
      s = std::clamp<int64_t>(s, -1, d - 1);
      e = std::clamp<int64_t>(e, -1, d - 1);
    }
    int64_t n = 0;
    for (int64_t k = s; step > 0 ? k < e : k > e; k += step) n++;
    st[a] = s;
    sp[a] = step;
    len[a] = n;
  }
  *out_dims = Dims(len.begin(), len.end());
  int64_t total = 1;
  for (int64_t l : len) total *= l;
  std::vector<float> y;
  for (int64_t o = 0; o < total; o++) {
    std::vector<int64_t> c = unravel_index(o, *out_dims);
    for (size_t a = 0; a < r; a++) c[a] = st[a] + c[a] * sp[a];
    y.push_back(x[size_t(ravel_index(c, dims))]);
  }
  return y;
}

TEST(ShapeOps, SliceRandomAgainstReference) {
  std::mt19937 rng(11);
  auto rnd = [&](int64_t lo, int64_t hi) { return lo + int64_t(rng() % uint64_t(hi - lo + 1)); };
  for (int iter = 0; iter < 300; iter++) {
    const size_t r = size_t(rnd(1, 4));
    Dims dims(r);
    for (auto& d : dims) d = rnd(1, 7);
    int64_t n = 1;
    for (auto d : dims) n *= d;
    std::vector<float> xv = iota_floats(n);
    std::vector<int64_t> axes(r);
    std::iota(axes.begin(), axes.end(), 0);
    std::shuffle(axes.begin(), axes.end(), rng);
    axes.resize(size_t(rnd(1, int64_t(r))));
    std::vector<int64_t> starts, ends, steps;
    for (size_t i = 0; i < axes.size(); i++) {
      if (rng() % 2) axes[i] -= int64_t(r);
      starts.push_back(rnd(-9, 9));
      ends.push_back(rng() % 8 == 0 ? (rng() % 2 ? std::numeric_limits<int64_t>::max()
                                                 : std::numeric_limits<int64_t>::min())
                                    : rnd(-9, 9));
      int64_t s = rnd(-3, 3);
      steps.push_back(s == 0 ? 1 : s);
    }
    Dims expect_dims;
    std::vector<float> expect = ref_slice(xv, dims, starts, ends, axes, steps, &expect_dims);
    Tensor y = run1(make_node("Slice", {"x", "s", "e", "a", "p"}, {"y"}), 13,
                    {make_tensor<float>(dims, xv), ints(starts), ints(ends), ints(axes), ints(steps)});
    ASSERT_EQ(y.dims(), expect_dims) << "iter " << iter;
    EXPECT_EQ(values_of<float>(y), expect) << "iter " << iter;
  }
}

TEST(ShapeOps, SliceOldOpsetAndViews) {
  Tensor x = make_tensor<float>({3, 4}, iota_floats(12));
  Tensor y = run1(node_with("Slice", {"x"}, {"y"},
                            {ints_attr("starts", {1, 0}), ints_attr("ends", {1000, -1}), ints_attr("axes", {0, 1})}),
                  9, {x});
  EXPECT_EQ(y.dims(), (Dims{2, 3}));
  EXPECT_EQ(values_of<float>(y), (std::vector<float>{4, 5, 6, 8, 9, 10}));
  // Rows 1..2 of a row-major matrix are contiguous: a view.
  Tensor v = run1(make_node("Slice", {"x", "s", "e"}, {"y"}), 13, {x, ints({1}), ints({3})});
  EXPECT_EQ(v.raw(), static_cast<const char*>(x.raw()) + 4 * sizeof(float));
  // int32 starts/ends.
  Tensor w = run1(make_node("Slice", {"x", "s", "e", "a"}, {"y"}), 13,
                  {x, make_tensor<int32_t>({1}, {-1}), make_tensor<int32_t>({1}, {-5}), ints({1})});
  EXPECT_EQ(w.numel(), 0);
  Tensor z = run1(make_node("Slice", {"x", "s", "e", "a", "p"}, {"y"}), 13,
                  {x, ints({-1}), ints({std::numeric_limits<int64_t>::min()}), ints({1}), ints({-2})});
  EXPECT_EQ(values_of<float>(z), (std::vector<float>{3, 1, 7, 5, 11, 9}));
  EXPECT_EQ(run_status(make_node("Slice", {"x", "s", "e", "a", "p"}, {"y"}), 13,
                       {x, ints({0}), ints({1}), ints({0}), ints({0})}).code(),
            ErrorCode::kShape);
  EXPECT_EQ(run_status(make_node("Slice", {"x", "s", "e", "a"}, {"y"}), 13, {x, ints({0}), ints({1}), ints({2})}).code(),
            ErrorCode::kShape);
}

// ---------------------------------------------------------------------------------------------------- Pad

// numpy.pad semantics per axis, for the reference.
int64_t ref_pad_index(int64_t k, int64_t len, const std::string& mode) {
  if (k >= 0 && k < len) return k;
  if (mode == "constant") return -1;
  if (mode == "edge") return k < 0 ? 0 : len - 1;
  if (mode == "wrap") return ((k % len) + len) % len;
  // reflect: bounce off the ends until inside
  if (len == 1) return 0;
  while (k < 0 || k >= len) k = k < 0 ? -k : 2 * (len - 1) - k;
  return k;
}

TEST(ShapeOps, PadModesAgainstReference) {
  const Dims dims = {2, 3, 4};
  std::vector<float> xv = iota_floats(24, 1.f);
  Tensor x = make_tensor<float>(dims, xv);
  std::mt19937 rng(5);
  for (const char* mode : {"constant", "reflect", "edge", "wrap"}) {
    for (int iter = 0; iter < 20; iter++) {
      std::vector<int64_t> pads(6);
      for (size_t i = 0; i < 6; i++) pads[i] = int64_t(rng() % 6) - 1;  // includes cropping by 1
      Dims od(3);
      for (size_t a = 0; a < 3; a++) od[a] = dims[a] + pads[a] + pads[a + 3];
      std::vector<float> expect;
      int64_t total = od[0] * od[1] * od[2];
      for (int64_t o = 0; o < total; o++) {
        std::vector<int64_t> c = unravel_index(o, od), ic(3);
        bool fill = false;
        for (size_t a = 0; a < 3; a++) {
          const int64_t lo = std::max<int64_t>(0, -pads[a]);
          const int64_t len = dims[a] - lo - std::max<int64_t>(0, -pads[a + 3]);
          const int64_t k = ref_pad_index(c[a] - std::max<int64_t>(0, pads[a]), len, mode);
          if (k < 0) fill = true;
          ic[a] = lo + k;
        }
        expect.push_back(fill ? 9.5f : xv[size_t(ravel_index(ic, dims))]);
      }
      Tensor y = run1(node_with("Pad", {"x", "p", "v"}, {"y"}, {string_attr("mode", mode)}), 19,
                      {x, ints(pads), make_tensor<float>({}, {9.5f})});
      ASSERT_EQ(y.dims(), od) << mode;
      EXPECT_EQ(values_of<float>(y), expect) << mode << " pads " << dims_str(pads);
    }
  }
}

TEST(ShapeOps, PadAttributesAndAxes) {
  Tensor x = make_tensor<float>({2, 2}, {1, 2, 3, 4});
  Tensor y = run1(node_with("Pad", {"x"}, {"y"}, {ints_attr("pads", {0, 1, 0, 1}), float_attr("value", 7.f)}), 2, {x});
  EXPECT_EQ(values_of<float>(y), (std::vector<float>{7, 1, 2, 7, 7, 3, 4, 7}));
  // opset 18 axes input; absent constant_value means zero.
  Tensor z = run1(make_node("Pad", {"x", "p", "", "a"}, {"y"}), 18, {x, ints({1, 0}), Tensor(), ints({-2})});
  EXPECT_EQ(values_of<float>(z), (std::vector<float>{0, 0, 1, 2, 3, 4}));
  Tensor big = make_tensor<float>({1, 3, 64, 64}, iota_floats(3 * 64 * 64));
  Tensor b = run1(make_node("Pad", {"x", "p"}, {"y"}), 13, {big, ints({0, 0, 1, 1, 0, 0, 1, 1})});
  EXPECT_EQ(b.dims(), (Dims{1, 3, 66, 66}));
  EXPECT_EQ(values_of<float>(b)[66 + 1], 0.f);
  EXPECT_EQ(values_of<float>(b)[66 * 2 + 1], 64.f);
  EXPECT_EQ(run_status(make_node("Pad", {"x", "p"}, {"y"}), 13, {x, ints({1, 1})}).code(), ErrorCode::kShape);
  Tensor e = make_tensor<float>({0, 2}, {});
  EXPECT_EQ(run_status(node_with("Pad", {"x", "p"}, {"y"}, {string_attr("mode", "edge")}), 13,
                       {e, ints({1, 0, 0, 0})}).code(),
            ErrorCode::kShape);
}

// ----------------------------------------------------------------------------------------- Gather family

TEST(ShapeOps, GatherAxesAndIndexTypes) {
  Tensor x = make_tensor<float>({3, 4}, iota_floats(12));
  Tensor y = run1(node_with("Gather", {"x", "i"}, {"y"}, {int_attr("axis", 1)}), 13,
                  {x, make_tensor<int32_t>({2, 2}, {0, -1, 2, 1})});
  EXPECT_EQ(y.dims(), (Dims{3, 2, 2}));
  EXPECT_EQ(values_of<float>(y), (std::vector<float>{0, 3, 2, 1, 4, 7, 6, 5, 8, 11, 10, 9}));
  Tensor z = run1(make_node("Gather", {"x", "i"}, {"y"}), 13, {x, make_tensor<int64_t>({}, {-1})});
  EXPECT_EQ(z.dims(), (Dims{4}));
  EXPECT_EQ(values_of<float>(z), (std::vector<float>{8, 9, 10, 11}));
  EXPECT_EQ(run_status(make_node("Gather", {"x", "i"}, {"y"}), 13, {x, ints({3})}).code(), ErrorCode::kShape);
  EXPECT_EQ(run_status(make_node("Gather", {"x", "i"}, {"y"}), 13, {x, make_tensor<float>({1}, {0})}).code(),
            ErrorCode::kDtype);
}

TEST(ShapeOps, GatherElementsAndScatterElements) {
  Tensor x = make_tensor<float>({3, 3}, iota_floats(9, 1));
  Tensor i = make_tensor<int64_t>({2, 3}, {1, 2, 0, 2, 0, -3});
  Tensor g = run1(node_with("GatherElements", {"x", "i"}, {"y"}, {int_attr("axis", 0)}), 13, {x, i});
  EXPECT_EQ(values_of<float>(g), (std::vector<float>{4, 8, 3, 7, 2, 3}));
  Tensor u = make_tensor<float>({2, 3}, {10, 20, 30, 40, 50, 60});
  Tensor s = run1(node_with("ScatterElements", {"x", "i", "u"}, {"y"}, {int_attr("axis", 0)}), 13, {x, i, u});
  EXPECT_EQ(values_of<float>(s), (std::vector<float>{1, 50, 60, 10, 5, 6, 40, 20, 9}));
  Tensor a = run1(node_with("ScatterElements", {"x", "i", "u"}, {"y"},
                            {int_attr("axis", 0), string_attr("reduction", "add")}),
                  16, {x, i, u});
  EXPECT_EQ(values_of<float>(a), (std::vector<float>{1, 52, 93, 14, 5, 6, 47, 28, 9}));
  Tensor m = run1(node_with("ScatterElements", {"x", "i", "u"}, {"y"},
                            {int_attr("axis", 1), string_attr("reduction", "max")}),
                  18, {x, make_tensor<int64_t>({2, 3}, {0, 0, 0, 1, 1, 1}), u});
  EXPECT_EQ(values_of<float>(m), (std::vector<float>{30, 2, 3, 4, 60, 6, 7, 8, 9}));
  EXPECT_EQ(run_status(node_with("ScatterElements", {"x", "i", "u"}, {"y"}), 13,
                       {x, make_tensor<int64_t>({1, 1}, {3}), make_tensor<float>({1, 1}, {0})}).code(),
            ErrorCode::kShape);
  // Deprecated Scatter (opset 9-10).
  Tensor d = run1(node_with("Scatter", {"x", "i", "u"}, {"y"}, {int_attr("axis", 1)}), 10,
                  {x, make_tensor<int64_t>({1, 2}, {2, 0}), make_tensor<float>({1, 2}, {-1, -2})});
  EXPECT_EQ(values_of<float>(d), (std::vector<float>{-2, 2, -1, 4, 5, 6, 7, 8, 9}));
}

TEST(ShapeOps, GatherNDAndScatterND) {
  Tensor x = make_tensor<int32_t>({2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  Tensor g = run1(make_node("GatherND", {"x", "i"}, {"y"}), 13, {x, make_tensor<int64_t>({2, 2}, {0, 1, 1, 0})});
  EXPECT_EQ(g.dims(), (Dims{2, 2}));
  EXPECT_EQ(values_of<int32_t>(g), (std::vector<int32_t>{2, 3, 4, 5}));
  Tensor b = run1(node_with("GatherND", {"x", "i"}, {"y"}, {int_attr("batch_dims", 1)}), 13,
                  {x, make_tensor<int64_t>({2, 1}, {1, 0})});
  EXPECT_EQ(b.dims(), (Dims{2, 2}));
  EXPECT_EQ(values_of<int32_t>(b), (std::vector<int32_t>{2, 3, 4, 5}));
  Tensor e = run1(make_node("GatherND", {"x", "i"}, {"y"}), 13, {x, make_tensor<int64_t>({1, 3}, {1, -1, 0})});
  EXPECT_EQ(values_of<int32_t>(e), (std::vector<int32_t>{6}));
  EXPECT_EQ(run_status(make_node("GatherND", {"x", "i"}, {"y"}), 13, {x, make_tensor<int64_t>({1, 1}, {2})}).code(),
            ErrorCode::kShape);

  Tensor f = make_tensor<float>({4, 2}, iota_floats(8));
  Tensor s = run1(make_node("ScatterND", {"x", "i", "u"}, {"y"}), 13,
                  {f, make_tensor<int64_t>({2, 1}, {3, 1}), make_tensor<float>({2, 2}, {-1, -2, -3, -4})});
  EXPECT_EQ(values_of<float>(s), (std::vector<float>{0, 1, -3, -4, 4, 5, -1, -2}));
  Tensor m = run1(node_with("ScatterND", {"x", "i", "u"}, {"y"}, {string_attr("reduction", "mul")}), 16,
                  {f, make_tensor<int64_t>({2, 2}, {1, 1, 1, 1}), make_tensor<float>({2}, {2, 5})});
  EXPECT_EQ(values_of<float>(m), (std::vector<float>{0, 1, 2, 30, 4, 5, 6, 7}));
  EXPECT_EQ(run_status(make_node("ScatterND", {"x", "i", "u"}, {"y"}), 13,
                       {f, make_tensor<int64_t>({1, 1}, {0}), make_tensor<float>({1, 3}, {0, 0, 0})}).code(),
            ErrorCode::kShape);
}

TEST(ShapeOps, NonZeroAndOneHot) {
  Tensor x = make_tensor<float>({2, 3}, {0, 1.5f, -0.f, 2, 0, 3});
  Tensor n = run1(make_node("NonZero", {"x"}, {"y"}), 13, {x});
  EXPECT_EQ(n.dims(), (Dims{2, 3}));
  EXPECT_EQ(values_of<int64_t>(n), (std::vector<int64_t>{0, 1, 1, 1, 0, 2}));
  Tensor bools = make_tensor<uint8_t>({3}, {1, 0, 1});
  Tensor bt = Tensor(DType::kBool, bools.dims(), bools.buffer());
  EXPECT_EQ(values_of<int64_t>(run1(make_node("NonZero", {"x"}, {"y"}), 13, {bt})), (std::vector<int64_t>{0, 2}));

  Tensor idx = make_tensor<int64_t>({3}, {0, -1, 5});
  Tensor depth = make_tensor<float>({}, {3.f});
  Tensor vals = make_tensor<int32_t>({2}, {0, 1});
  Tensor o = run1(make_node("OneHot", {"i", "d", "v"}, {"y"}), 11, {idx, depth, vals});
  EXPECT_EQ(o.dims(), (Dims{3, 3}));
  EXPECT_EQ(values_of<int32_t>(o), (std::vector<int32_t>{1, 0, 0, 0, 0, 1, 0, 0, 0}));
  Tensor o0 = run1(node_with("OneHot", {"i", "d", "v"}, {"y"}, {int_attr("axis", 0)}), 11, {idx, depth, vals});
  EXPECT_EQ(values_of<int32_t>(o0), (std::vector<int32_t>{1, 0, 0, 0, 0, 0, 0, 1, 0}));
}

// ------------------------------------------------------------------ TopK, CumSum, Trilu, ReverseSequence

TEST(ShapeOps, TopK) {
  Tensor x = make_tensor<float>({2, 4}, {1, 3, 3, 2, 4, -1, 0, 4});
  std::vector<Tensor> out;
  ASSERT_TRUE(run_op(make_node("TopK", {"x", "k"}, {"v", "i"}), 11, {x, ints({2})}, &out).ok());
  EXPECT_EQ(values_of<float>(out[0]), (std::vector<float>{3, 3, 4, 4}));
  EXPECT_EQ(values_of<int64_t>(out[1]), (std::vector<int64_t>{1, 2, 0, 3}));
  ASSERT_TRUE(run_op(node_with("TopK", {"x", "k"}, {"v", "i"}, {int_attr("largest", 0), int_attr("axis", 0)}), 11,
                     {x, ints({1})}, &out)
                  .ok());
  EXPECT_EQ(values_of<float>(out[0]), (std::vector<float>{1, -1, 0, 2}));
  EXPECT_EQ(values_of<int64_t>(out[1]), (std::vector<int64_t>{0, 1, 1, 0}));
  // opset 1: k attribute; NaN ranks above everything.
  Tensor nan = make_tensor<float>({3}, {1, std::numeric_limits<float>::quiet_NaN(), 2});
  ASSERT_TRUE(run_op(node_with("TopK", {"x"}, {"v", "i"}, {int_attr("k", 3)}), 1, {nan}, &out).ok());
  EXPECT_EQ(values_of<int64_t>(out[1]), (std::vector<int64_t>{1, 2, 0}));
  Tensor u = make_tensor<uint64_t>({3}, {5, uint64_t(1) << 63, 7});
  ASSERT_TRUE(run_op(make_node("TopK", {"x", "k"}, {"v", "i"}), 11, {u, ints({1})}, &out).ok());
  EXPECT_EQ(values_of<uint64_t>(out[0])[0], uint64_t(1) << 63);
  EXPECT_EQ(run_status(make_node("TopK", {"x", "k"}, {"v", "i"}), 11, {x, ints({5})}).code(), ErrorCode::kShape);
}

TEST(ShapeOps, CumSum) {
  Tensor x = make_tensor<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor axis = make_tensor<int32_t>({}, {1});
  EXPECT_EQ(values_of<float>(run1(make_node("CumSum", {"x", "a"}, {"y"}), 14, {x, axis})),
            (std::vector<float>{1, 3, 6, 4, 9, 15}));
  EXPECT_EQ(values_of<float>(run1(node_with("CumSum", {"x", "a"}, {"y"}, {int_attr("exclusive", 1),
                                                                          int_attr("reverse", 1)}),
                                  14, {x, axis})),
            (std::vector<float>{5, 3, 0, 11, 6, 0}));
  Tensor xi = make_tensor<int64_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(values_of<int64_t>(run1(make_node("CumSum", {"x", "a"}, {"y"}), 14, {xi, make_tensor<int64_t>({}, {-2})})),
            (std::vector<int64_t>{1, 2, 3, 5, 7, 9}));
}

TEST(ShapeOps, Trilu) {
  Tensor x = make_tensor<float>({3, 4}, iota_floats(12, 1));
  EXPECT_EQ(values_of<float>(run1(make_node("Trilu", {"x"}, {"y"}), 14, {x})),
            (std::vector<float>{1, 2, 3, 4, 0, 6, 7, 8, 0, 0, 11, 12}));
  EXPECT_EQ(values_of<float>(run1(node_with("Trilu", {"x", "k"}, {"y"}, {int_attr("upper", 0)}), 14,
                                  {x, make_tensor<int64_t>({}, {-1})})),
            (std::vector<float>{0, 0, 0, 0, 5, 0, 0, 0, 9, 10, 0, 0}));
  EXPECT_EQ(values_of<float>(run1(make_node("Trilu", {"x", "k"}, {"y"}), 14,
                                  {x, make_tensor<int64_t>({}, {std::numeric_limits<int64_t>::min()})})),
            values_of<float>(x));
}

TEST(ShapeOps, ReverseSequence) {
  Tensor x = make_tensor<float>({4, 2}, {0, 1, 2, 3, 4, 5, 6, 7});  // [time, batch]
  Tensor y = run1(make_node("ReverseSequence", {"x", "l"}, {"y"}), 10, {x, ints({3, 1})});
  EXPECT_EQ(values_of<float>(y), (std::vector<float>{4, 1, 2, 3, 0, 5, 6, 7}));
  Tensor z = run1(node_with("ReverseSequence", {"x", "l"}, {"y"}, {int_attr("batch_axis", 0), int_attr("time_axis", 1)}),
                  10, {x, ints({2, 2, 1, 0})});
  EXPECT_EQ(values_of<float>(z), (std::vector<float>{1, 0, 3, 2, 4, 5, 6, 7}));
  EXPECT_EQ(run_status(make_node("ReverseSequence", {"x", "l"}, {"y"}), 10, {x, ints({5, 1})}).code(),
            ErrorCode::kShape);
}

TEST(ShapeOps, UnsupportedElementTypesAreRefused) {
  // A string tensor cannot be created, but a kernel must still refuse one cleanly if handed such a descriptor.
  Tensor s(DType::kString, {2}, Buffer::allocate(16));
  EXPECT_EQ(run_status(make_node("Transpose", {"x"}, {"y"}), 13, {s}).code(), ErrorCode::kDtype);
  EXPECT_EQ(run_status(node_with("Concat", {"a"}, {"y"}, {int_attr("axis", 0)}), 13, {s}).code(), ErrorCode::kDtype);
}

}  // namespace
}  // namespace int8rt
