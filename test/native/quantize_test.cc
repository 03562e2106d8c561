// QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear (ops/quantize.cc) against reference loops written here:
// every quantized type, per tensor and per axis, with and without zero points, float16 operands, ties, saturation,
// NaN and infinities, sizes that take the vector loops, one and two threads; and the refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/eltwise-s8.h"
#include "op_test_util.h"

namespace int8rt {
namespace {

using testing::make_node;
using testing::make_tensor;
using testing::run_op;
using testing::values_of;

Tensor make_half(const Dims& d, const std::vector<float>& v) {
  std::vector<uint16_t> h;
  for (float x : v) h.push_back(float_to_half(x));
  const Tensor t = make_tensor<uint16_t>(d, h);
  return Tensor(DType::kFloat16, d, t.buffer());
}

int64_t prod(const Dims& d) {
  int64_t p = 1;
  for (int64_t x : d) p *= x;
  return p;
}

// Reference: y = saturate(rne(x / s) + zp); a NaN quotient gives the lowest value.
template <typename Q>
Q ref_quantize(float x, float s, int64_t zp) {
  const float v = x / s;
  if (std::isnan(v)) return std::numeric_limits<Q>::lowest();
  double q = std::nearbyint(double(std::min(std::max(v, -1e30f), 1e30f))) + double(zp);
  q = std::min(std::max(q, double(std::numeric_limits<Q>::lowest())), double(std::numeric_limits<Q>::max()));
  return Q(q);
}

std::vector<float> test_values(std::mt19937& rng, int64_t n, float range) {
  std::uniform_real_distribution<float> u(-range, range);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = u(rng);
  // Specials up front: ties, saturation, NaN, infinities, signed zero.
  const float specials[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 1e9f, -1e9f, NAN, INFINITY, -INFINITY, -0.f};
  for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]) && i < v.size(); i++) v[i] = specials[i] * 0.1f;
  return v;
}

template <typename Q>
void check_quantize(const Dims& xd, int64_t axis, bool with_zp, bool per_axis, int threads, uint32_t seed) {
  SCOPED_TRACE(std::string(dtype_name(DTypeOf<Q>::value)) + " " + dims_str(xd) + " axis " + std::to_string(axis) +
               (per_axis ? " per-axis" : " per-tensor") + (with_zp ? " zp" : ""));
  std::mt19937 rng(seed);
  const std::vector<float> x = test_values(rng, prod(xd), 30.f);
  const int64_t r = int64_t(xd.size()), ax = axis < 0 ? axis + r : axis;
  const int64_t C = per_axis ? xd[size_t(ax)] : 1;
  std::vector<float> s(static_cast<size_t>(C));
  std::vector<Q> z(static_cast<size_t>(C));
  std::uniform_real_distribution<float> us(0.01f, 0.5f);
  std::uniform_int_distribution<int> uz(int(std::numeric_limits<Q>::lowest()) / 2,
                                        int(std::numeric_limits<Q>::max()) / 2);
  for (int64_t c = 0; c < C; c++) {
    s[size_t(c)] = c == 0 ? 0.1f : us(rng);
    z[size_t(c)] = with_zp ? Q(uz(rng)) : Q(0);
  }
  NodeDef n = make_node("QuantizeLinear", {"x", "s", with_zp ? "z" : ""}, {"y"});
  if (!with_zp) n.inputs.pop_back();
  n.set_attr_int("axis", axis);
  const Dims sd = per_axis ? Dims{C} : Dims{};
  std::vector<Tensor> ins = {make_tensor<float>(xd, x), make_tensor<float>(sd, s), make_tensor<Q>(sd, z)};
  if (!with_zp) {
    ins.pop_back();
    if (!std::is_same<Q, uint8_t>::value) n.set_attr_int("output_dtype", int64_t(DTypeOf<Q>::value));
  }
  std::vector<Tensor> outs;
  Status st = run_op(n, 21, ins, &outs, {}, threads);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(outs[0].dtype(), DTypeOf<Q>::value);
  ASSERT_EQ(outs[0].dims(), xd);
  const std::vector<Q> y = values_of<Q>(outs[0]);
  int64_t inner = 1;
  for (size_t i = size_t(ax) + 1; i < xd.size(); i++) inner *= xd[i];
  int bad = 0;
  for (size_t i = 0; i < y.size(); i++) {
    const int64_t c = per_axis ? (int64_t(i) / inner) % C : 0;
    const Q want = ref_quantize<Q>(x[i], s[size_t(c)], z[size_t(c)]);
    if (y[i] != want && bad++ < 5)
      ADD_FAILURE() << "x " << x[i] << " s " << s[size_t(c)] << ": got " << int64_t(y[i]) << " want "
                    << int64_t(want);
  }
}

TEST(QuantizeLinear, AllTypes) {
  for (int t : {1, 2}) {
    for (bool zp : {false, true}) {
      check_quantize<int8_t>({3, 1000}, 1, zp, false, t, 1);  // the vector loop with its tail
      check_quantize<uint8_t>({3, 1000}, 1, zp, false, t, 2);
      check_quantize<int16_t>({77}, 0, zp, false, t, 3);
      check_quantize<uint16_t>({5, 7}, 1, zp, false, t, 4);
      check_quantize<int8_t>({2, 3, 4, 5}, 1, zp, true, t, 5);
      check_quantize<uint8_t>({2, 3, 4, 5}, -1, zp, true, t, 6);
      check_quantize<int16_t>({6, 3}, 0, zp, true, t, 7);
      check_quantize<int8_t>({40000}, 0, zp, false, t, 8);  // several parallel chunks
    }
  }
}

TEST(QuantizeLinear, ScalarShapesAndFloat16) {
  // A [1] scale is per tensor; the default output is uint8; float16 x and scale.
  NodeDef n = make_node("QuantizeLinear", {"x", "s"}, {"y"});
  std::vector<Tensor> outs;
  ASSERT_TRUE(run_op(n, 13, {make_tensor<float>({4}, {-1.f, 0.25f, 0.75f, 300.f}), make_tensor<float>({1}, {0.5f})},
                     &outs)
                  .ok());
  EXPECT_EQ(outs[0].dtype(), DType::kUint8);
  EXPECT_EQ(values_of<uint8_t>(outs[0]), (std::vector<uint8_t>{0, 0, 2, 255}));  // 0.5 -> 0, 1.5 -> 2
  NodeDef h = make_node("QuantizeLinear", {"x", "s", "z"}, {"y"});
  ASSERT_TRUE(run_op(h, 19,
                     {make_half({3}, {1.f, -2.5f, 3.f}), make_half({}, {1.f}), make_tensor<int8_t>({}, {int8_t(-1)})},
                     &outs)
                  .ok());
  EXPECT_EQ(values_of<int8_t>(outs[0]), (std::vector<int8_t>{0, -3, 2}));
}

TEST(QuantizeLinear, Refusals) {
  std::vector<Tensor> outs;
  const Tensor x = make_tensor<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  NodeDef b = make_node("QuantizeLinear", {"x", "s"}, {"y"});
  b.set_attr_int("block_size", 2);
  EXPECT_EQ(run_op(b, 21, {x, make_tensor<float>({2, 2}, {1, 1, 1, 1})}, &outs).code(), ErrorCode::kUnsupported);
  NodeDef f8 = make_node("QuantizeLinear", {"x", "s"}, {"y"});
  f8.set_attr_int("output_dtype", 17);  // float8e4m3fn
  EXPECT_EQ(run_op(f8, 21, {x, make_tensor<float>({}, {1.f})}, &outs).code(), ErrorCode::kDtype);
  NodeDef n = make_node("QuantizeLinear", {"x", "s", "z"}, {"y"});
  EXPECT_EQ(run_op(n, 13, {x, make_tensor<float>({}, {1.f}), make_tensor<int32_t>({}, {0})}, &outs).code(),
            ErrorCode::kDtype);
  EXPECT_EQ(run_op(n, 13, {x, make_tensor<float>({2}, {1.f, 1.f}), make_tensor<int8_t>({2}, {0, 0})}, &outs).code(),
            ErrorCode::kShape);  // axis 1 has 3 elements
  EXPECT_EQ(run_op(n, 13, {x, make_tensor<float>({3}, {1.f, 1.f, 1.f}), make_tensor<int8_t>({2}, {0, 0})}, &outs)
                .code(),
            ErrorCode::kShape);  // zero point shape
  NodeDef i32 = make_node("QuantizeLinear", {"x", "s"}, {"y"});
  EXPECT_EQ(run_op(i32, 13, {make_tensor<int32_t>({1}, {1}), make_tensor<float>({}, {1.f})}, &outs).code(),
            ErrorCode::kDtype);
}

template <typename Q>
void check_dequantize(const Dims& xd, int64_t axis, bool with_zp, bool per_axis, bool half, int threads,
                      uint32_t seed) {
  SCOPED_TRACE(std::string(dtype_name(DTypeOf<Q>::value)) + " " + dims_str(xd) + (per_axis ? " per-axis" : "") +
               (with_zp ? " zp" : "") + (half ? " float16" : ""));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> u(int64_t(std::numeric_limits<Q>::lowest()),
                                           int64_t(std::numeric_limits<Q>::max()));
  std::vector<Q> x(size_t(prod(xd)));
  for (auto& v : x) v = Q(u(rng));
  if (!x.empty()) x[0] = std::numeric_limits<Q>::lowest();
  if (x.size() > 1) x[1] = std::numeric_limits<Q>::max();
  const int64_t r = int64_t(xd.size()), ax = axis < 0 ? axis + r : axis;
  const int64_t C = per_axis ? xd[size_t(ax)] : 1;
  std::vector<float> s(static_cast<size_t>(C));
  std::vector<Q> z(static_cast<size_t>(C));
  std::uniform_real_distribution<float> us(0.001f, 2.f);
  for (int64_t c = 0; c < C; c++) {
    s[size_t(c)] = half ? half_to_float(float_to_half(us(rng))) : us(rng);
    z[size_t(c)] = with_zp ? Q(u(rng)) : Q(0);
  }
  NodeDef n = make_node("DequantizeLinear", {"x", "s", with_zp ? "z" : ""}, {"y"});
  if (!with_zp) n.inputs.pop_back();
  n.set_attr_int("axis", axis);
  const Dims sd = per_axis ? Dims{C} : Dims{};
  std::vector<Tensor> ins = {make_tensor<Q>(xd, x), half ? make_half(sd, s) : make_tensor<float>(sd, s),
                             make_tensor<Q>(sd, z)};
  if (!with_zp) ins.pop_back();
  std::vector<Tensor> outs;
  Status st = run_op(n, 21, ins, &outs, {}, threads);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(outs[0].dtype(), half ? DType::kFloat16 : DType::kFloat32);
  int64_t inner = 1;
  for (size_t i = size_t(ax) + 1; i < xd.size(); i++) inner *= xd[i];
  int bad = 0;
  for (size_t i = 0; i < x.size(); i++) {
    const int64_t c = per_axis ? (int64_t(i) / inner) % C : 0;
    const float want = float(int64_t(x[i]) - int64_t(z[size_t(c)])) * s[size_t(c)];
    const float got = half ? half_to_float(outs[0].data<uint16_t>()[i]) : outs[0].data<float>()[i];
    const float w = half ? half_to_float(float_to_half(want)) : want;
    if (got != w && bad++ < 5) ADD_FAILURE() << "at " << i << ": got " << got << " want " << w;
  }
}

TEST(DequantizeLinear, AllTypes) {
  for (int t : {1, 2})
    for (bool zp : {false, true}) {
      check_dequantize<int8_t>({3, 1001}, 1, zp, false, false, t, 10);
      check_dequantize<int8_t>({40000}, 0, zp, false, false, t, 11);
      check_dequantize<uint8_t>({5, 9}, 1, zp, false, false, t, 12);
      check_dequantize<int16_t>({2, 3, 4}, 1, zp, true, false, t, 13);
      check_dequantize<uint16_t>({4, 6}, 0, zp, true, false, t, 14);
      check_dequantize<int32_t>({17}, 0, zp, false, false, t, 15);
      check_dequantize<int8_t>({2, 3, 5}, -1, zp, true, true, t, 16);
      check_dequantize<uint8_t>({9}, 0, zp, false, true, t, 17);
    }
}

TEST(DequantizeLinear, Refusals) {
  std::vector<Tensor> outs;
  NodeDef n = make_node("DequantizeLinear", {"x", "s", "z"}, {"y"});
  const Tensor x = make_tensor<int8_t>({2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(run_op(n, 13, {x, make_tensor<float>({}, {1.f}), make_tensor<uint8_t>({}, {0})}, &outs).code(),
            ErrorCode::kDtype);
  EXPECT_EQ(run_op(n, 13,
                   {make_tensor<float>({1}, {1.f}), make_tensor<float>({}, {1.f}), make_tensor<float>({}, {0.f})},
                   &outs)
                .code(),
            ErrorCode::kDtype);
  NodeDef b = make_node("DequantizeLinear", {"x", "s"}, {"y"});
  b.set_attr_int("block_size", 2);
  EXPECT_EQ(run_op(b, 21, {x, make_tensor<float>({2, 1}, {1.f, 1.f})}, &outs).code(), ErrorCode::kUnsupported);
  NodeDef d = make_node("DequantizeLinear", {"x", "s"}, {"y"});
  EXPECT_EQ(run_op(d, 13, {x, make_tensor<int32_t>({}, {1})}, &outs).code(), ErrorCode::kDtype);
}

// The ONNX specification's examples, and a random check against the reference formula.
TEST(DynamicQuantizeLinear, Examples) {
  struct Case {
    Dims d;
    std::vector<float> x;
    float scale;
    uint8_t zp;
    std::vector<uint8_t> y;
  };
  const Case cases[] = {
      {{6}, {0, 2, -3, -2.5f, 1.34f, 0.5f}, 5.f / 255.f, 153, {153, 255, 0, 26, 221, 179}},
      {{6}, {-1.f, -2.1f, -1.3f, -2.5f, -3.34f, -4.f}, 4.f / 255.f, 255, {191, 121, 172, 96, 42, 0}},
      {{3, 4},
       {1, 2.1f, 1.3f, 2.5f, 3.34f, 4.f, 1.5f, 2.6f, 3.9f, 4.f, 3.f, 2.345f},
       4.f / 255.f,
       0,
       {64, 134, 83, 159, 213, 255, 96, 166, 249, 255, 191, 149}},
      {{3}, {0, 0, 0}, 1.f / 255.f, 0, {0, 0, 0}},
  };
  for (const Case& c : cases) {
    NodeDef n = make_node("DynamicQuantizeLinear", {"x"}, {"y", "s", "z"});
    std::vector<Tensor> outs;
    ASSERT_TRUE(run_op(n, 11, {make_tensor<float>(c.d, c.x)}, &outs).ok());
    EXPECT_EQ(values_of<uint8_t>(outs[0]), c.y);
    EXPECT_EQ(outs[1].dims(), Dims{});
    EXPECT_FLOAT_EQ(values_of<float>(outs[1])[0], c.scale);
    EXPECT_EQ(values_of<uint8_t>(outs[2])[0], c.zp);
  }
  std::mt19937 rng(20);
  std::vector<float> x = test_values(rng, 50000, 7.f);
  x[8] = 0.f;  // no NaN or infinity here: they would make the range meaningless
  x[9] = 0.f;
  x[10] = 0.f;
  NodeDef n = make_node("DynamicQuantizeLinear", {"x"}, {"y", "s", "z"});
  std::vector<Tensor> outs;
  ASSERT_TRUE(run_op(n, 11, {make_tensor<float>({50000}, x)}, &outs).ok());
  float mn = 0.f, mx = 0.f;
  for (float v : x) mn = std::min(mn, v), mx = std::max(mx, v);
  const float s = (mx - mn) / 255.f;
  const uint8_t zp = uint8_t(std::nearbyint(std::min(std::max(-mn / s, 0.f), 255.f)));
  EXPECT_EQ(values_of<float>(outs[1])[0], s);
  EXPECT_EQ(values_of<uint8_t>(outs[2])[0], zp);
  const std::vector<uint8_t> y = values_of<uint8_t>(outs[0]);
  int bad = 0;
  for (size_t i = 0; i < x.size(); i++)
    if (y[i] != ref_quantize<uint8_t>(x[i], s, zp) && bad++ < 5) ADD_FAILURE() << "at " << i;
}

// The int8 boundary loops (the int8 planner's QuantizeLinear / DequantizeLinear) against each other.
TEST(QuantizeKernels, VectorMatchesPortable) {
  std::mt19937 rng(30);
  const EltwiseS8Kernels& p = eltwise_s8_portable();
  const EltwiseS8Kernels& k = eltwise_s8();
  for (int64_t n : {0, 1, 31, 32, 33, 257}) {
    std::vector<float> x = test_values(rng, n, 20.f);
    std::vector<int8_t> q1(static_cast<size_t>(n)), q2(static_cast<size_t>(n));
    for (int32_t zp : {0, -128, 127, 5}) {
      p.quantize(x.data(), q1.data(), n, 0.07f, zp);
      k.quantize(x.data(), q2.data(), n, 0.07f, zp);
      EXPECT_EQ(q1, q2);
      for (int64_t i = 0; i < n; i++) EXPECT_EQ(q1[size_t(i)], ref_quantize<int8_t>(x[size_t(i)], 0.07f, zp));
      std::vector<float> f1(static_cast<size_t>(n)), f2(static_cast<size_t>(n));
      p.dequantize(q1.data(), f1.data(), n, 0.07f, zp);
      k.dequantize(q1.data(), f2.data(), n, 0.07f, zp);
      EXPECT_EQ(f1, f2);
    }
  }
}

}  // namespace
}  // namespace int8rt
