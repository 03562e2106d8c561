// Elementwise operators: broadcasting (against a naive index-mapping reference), element types, attributes and
// opset differences, the float32 math against the C library, and error reporting.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "op_test_util.h"
#include "ops/elementwise_internal.h"

namespace int8rt {
namespace {

using testing::make_node;
using testing::make_tensor;
using testing::run_op;
using testing::values_of;

// ---- helpers -------------------------------------------------------------------------------------------------------

Tensor make_bool(const Dims& dims, const std::vector<int>& v) {
  Tensor t;
  EXPECT_TRUE(Tensor::create(DType::kBool, dims, &t).ok());
  for (size_t i = 0; i < v.size(); i++) t.data<uint8_t>()[i] = uint8_t(v[i]);
  return t;
}

std::vector<int> bools_of(const Tensor& t) {
  EXPECT_EQ(t.dtype(), DType::kBool);
  std::vector<int> v(size_t(t.numel()));
  for (size_t i = 0; i < v.size(); i++) v[i] = t.data<uint8_t>()[i];
  return v;
}

Tensor make_half(const Dims& dims, const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); i++) h[i] = float_to_half(v[i]);
  Tensor t = make_tensor<uint16_t>(dims, h);
  return Tensor(DType::kFloat16, dims, t.buffer());
}

std::vector<float> halves_of(const Tensor& t) {
  EXPECT_EQ(t.dtype(), DType::kFloat16);
  std::vector<float> v(size_t(t.numel()));
  for (size_t i = 0; i < v.size(); i++) v[i] = half_to_float(t.data<uint16_t>()[i]);
  return v;
}

// Runs a one-output node and returns its output (fails the test on error).
Tensor run1(const NodeDef& node, int opset, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> out;
  Status st = run_op(node, opset, inputs, &out);
  EXPECT_TRUE(st.ok()) << st.message();
  return out.empty() ? Tensor() : out[0];
}

Status run_status(const NodeDef& node, int opset, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> out;
  return run_op(node, opset, inputs, &out);
}

NodeDef binary(const std::string& op) { return make_node(op, {"a", "b"}, {"y"}); }
NodeDef unary(const std::string& op) { return make_node(op, {"x"}, {"y"}); }

// Input index of output element `o` under numpy broadcasting.
int64_t bcast_index(const Dims& out, const Dims& in, int64_t o) {
  int64_t idx = 0, stride = 1;
  for (size_t k = 0; k < out.size(); k++) {
    const size_t d = out.size() - 1 - k;
    const int64_t coord = o % out[d];
    o /= out[d];
    if (k < in.size()) {
      const int64_t n = in[in.size() - 1 - k];
      if (n != 1) idx += coord * stride;
      stride *= n;
    }
  }
  return idx;
}

template <typename T>
std::vector<T> iota_values(int64_t n, T start, T step) {
  std::vector<T> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++) v[size_t(i)] = T(start + T(i) * step);
  return v;
}

// ---- broadcasting ----------------------------------------------------------------------------------------------

struct BcastCase {
  Dims a, b, out;
};

TEST(ElementwiseBroadcast, ShapesMatchNaiveReference) {
  const std::vector<BcastCase> cases = {
      {{2, 3, 4}, {2, 3, 4}, {2, 3, 4}},              // same shape
      {{2, 3, 4}, {}, {2, 3, 4}},                     // scalar (rank 0)
      {{}, {2, 3, 4}, {2, 3, 4}},                     // scalar first
      {{}, {}, {}},                                   // both rank 0
      {{1}, {}, {1}},                                 //
      {{2, 5, 3, 3}, {1, 5, 1, 1}, {2, 5, 3, 3}},     // per-channel
      {{1, 5, 1, 1}, {2, 5, 3, 3}, {2, 5, 3, 3}},     // per-channel first
      {{2, 5, 3, 3}, {5, 1, 1}, {2, 5, 3, 3}},        // per-channel, lower rank
      {{2, 5, 3, 3}, {2, 5, 1, 1}, {2, 5, 3, 3}},     // squeeze-excite
      {{6, 7}, {7}, {6, 7}},                          // rows
      {{6, 7}, {6, 1}, {6, 7}},                       // columns
      {{6, 1}, {1, 7}, {6, 7}},                       // outer product
      {{3, 1, 5}, {1, 4, 1}, {3, 4, 5}},              // alternating
      {{2, 1, 3, 1, 2}, {1, 4, 1, 5, 1}, {2, 4, 3, 5, 2}},
      {{1, 1, 1}, {1}, {1, 1, 1}},                    // all ones
      {{2, 1}, {1, 1, 1}, {1, 2, 1}},                 // rank grows through a 1
      {{0, 3}, {3}, {0, 3}},                          // zero-size
      {{0}, {1}, {0}},                                //
      {{2, 0, 4}, {1, 1, 4}, {2, 0, 4}},              //
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(dims_str(c.a) + " + " + dims_str(c.b));
    const int64_t na = dims_numel(c.a), nb = dims_numel(c.b), no = dims_numel(c.out);
    Tensor a = make_tensor<float>(c.a, iota_values<float>(na, 1.f, 1.f));
    Tensor b = make_tensor<float>(c.b, iota_values<float>(nb, 0.5f, 100.f));
    Tensor y = run1(binary("Sub"), 14, {a, b});
    ASSERT_EQ(y.dims(), c.out);
    auto got = values_of<float>(y);
    auto av = values_of<float>(a), bv = values_of<float>(b);
    for (int64_t o = 0; o < no; o++)
      ASSERT_EQ(got[size_t(o)], av[size_t(bcast_index(c.out, c.a, o))] - bv[size_t(bcast_index(c.out, c.b, o))]) << o;
    // The same through the generic integer path.
    Tensor ai = make_tensor<int32_t>(c.a, iota_values<int32_t>(na, 3, 7));
    Tensor bi = make_tensor<int32_t>(c.b, iota_values<int32_t>(nb, -5, 3));
    Tensor yi = run1(binary("Mul"), 14, {ai, bi});
    ASSERT_EQ(yi.dims(), c.out);
    auto gi = values_of<int32_t>(yi);
    auto aiv = values_of<int32_t>(ai), biv = values_of<int32_t>(bi);
    for (int64_t o = 0; o < no; o++)
      ASSERT_EQ(gi[size_t(o)], aiv[size_t(bcast_index(c.out, c.a, o))] * biv[size_t(bcast_index(c.out, c.b, o))]);
  }
}

TEST(ElementwiseBroadcast, RandomShapesLargeAndThreaded) {
  // Shapes big enough to be split across threads, with chunks starting in the middle of runs.
  std::mt19937 rng(7);
  for (int iter = 0; iter < 40; iter++) {
    const int rank = 1 + int(rng() % 5);
    Dims out(static_cast<size_t>(rank)), a, b;
    for (auto& d : out) d = 1 + int64_t(rng() % 9);
    out[0] *= 40;  // make the tensor large
    const int ra = 1 + int(rng() % rank), rb = 1 + int(rng() % rank);
    for (int k = rank - ra; k < rank; k++) a.push_back(rng() % 3 == 0 ? 1 : out[size_t(k)]);
    for (int k = rank - rb; k < rank; k++) b.push_back(rng() % 3 == 0 ? 1 : out[size_t(k)]);
    Dims expect;
    ASSERT_TRUE(eltwise::broadcast_dims(NodeDef(), {&a, &b}, &expect).ok());
    SCOPED_TRACE(dims_str(a) + " + " + dims_str(b));
    std::vector<float> av(size_t(dims_numel(a))), bv(size_t(dims_numel(b)));
    for (auto& v : av) v = float(int(rng() % 1000) - 500) / 8;
    for (auto& v : bv) v = float(int(rng() % 1000) - 500) / 8;
    Tensor y = run1(binary("Add"), 14, {make_tensor<float>(a, av), make_tensor<float>(b, bv)});
    ASSERT_EQ(y.dims(), expect);
    auto got = values_of<float>(y);
    for (int64_t o = 0; o < y.numel(); o++)
      ASSERT_EQ(got[size_t(o)], av[size_t(bcast_index(expect, a, o))] + bv[size_t(bcast_index(expect, b, o))]);
  }
}

TEST(ElementwiseBroadcast, IncompatibleShapesAreShapeErrors) {
  Tensor a = make_tensor<float>({2, 3}, std::vector<float>(6, 1.f));
  Tensor b = make_tensor<float>({4}, std::vector<float>(4, 1.f));
  Status st = run_status(binary("Add"), 14, {a, b});
  EXPECT_EQ(st.code(), ErrorCode::kShape);
  EXPECT_NE(st.message().find("Add_test"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("[2,3]"), std::string::npos) << st.message();
  Tensor z = make_tensor<float>({0}, {});
  EXPECT_EQ(run_status(binary("Mul"), 14, {z, b}).code(), ErrorCode::kShape);  // 0 vs 4
  NodeDef w = make_node("Where", {"c", "x", "y"}, {"o"});
  EXPECT_EQ(run_status(w, 16, {make_bool({2}, {1, 0}), a, a}).code(), ErrorCode::kShape);
  EXPECT_EQ(run_status(binary("Add"), 14, {a, make_tensor<int32_t>({3}, {1, 2, 3})}).code(), ErrorCode::kDtype);
}

TEST(ElementwiseBroadcast, PlanMergesCommonCases) {
  eltwise::BroadcastPlan p;
  Dims nchw{2, 8, 5, 5}, chan{1, 8, 1, 1}, scalar{}, same{2, 8, 5, 5};
  ASSERT_TRUE(p.init(nchw, {&nchw, &same}));
  EXPECT_EQ(p.dims, (std::vector<int64_t>{400}));
  ASSERT_TRUE(p.init(nchw, {&nchw, &scalar}));
  EXPECT_EQ(p.dims, (std::vector<int64_t>{400}));
  EXPECT_FALSE(p.inner_vec[1]);
  ASSERT_TRUE(p.init(nchw, {&nchw, &chan}));
  EXPECT_EQ(p.dims, (std::vector<int64_t>{2, 8, 25}));
  EXPECT_EQ(p.strides[1], (std::vector<int64_t>{0, 1, 0}));
  Dims bad{3};
  EXPECT_FALSE(p.init(nchw, {&nchw, &bad}));
}

// ---- binary arithmetic over element types ------------------------------------------------------------------------

TEST(ElementwiseBinary, IntegerSemantics) {
  // Div truncates toward zero; division by zero gives 0; the most negative value / -1 wraps.
  Tensor a = make_tensor<int32_t>({6}, {-7, 7, -7, 7, 5, std::numeric_limits<int32_t>::min()});
  Tensor b = make_tensor<int32_t>({6}, {2, 2, -2, -2, 0, -1});
  EXPECT_EQ(values_of<int32_t>(run1(binary("Div"), 14, {a, b})),
            (std::vector<int32_t>{-3, 3, 3, -3, 0, std::numeric_limits<int32_t>::min()}));
  // int8 wraps around.
  Tensor c = make_tensor<int8_t>({3}, {127, -128, 100});
  Tensor d = make_tensor<int8_t>({3}, {1, -1, 100});
  EXPECT_EQ(values_of<int8_t>(run1(binary("Add"), 14, {c, d})), (std::vector<int8_t>{-128, 127, -56}));
  EXPECT_EQ(values_of<int8_t>(run1(binary("Mul"), 14, {c, d})), (std::vector<int8_t>{127, -128, 16}));
  // uint16 products overflow int when promoted; must wrap, not overflow.
  Tensor e = make_tensor<uint16_t>({1}, {65535});
  EXPECT_EQ(values_of<uint16_t>(run1(binary("Mul"), 14, {e, e})), (std::vector<uint16_t>{1}));
  // uint8 Sub wraps.
  Tensor f = make_tensor<uint8_t>({2}, {1, 200});
  Tensor g = make_tensor<uint8_t>({2}, {2, 100});
  EXPECT_EQ(values_of<uint8_t>(run1(binary("Sub"), 14, {f, g})), (std::vector<uint8_t>{255, 100}));
}

TEST(ElementwiseBinary, AllNumericTypesAdd) {
  auto check = [](auto tag) {
    using T = typename decltype(tag)::type;
    Tensor a = make_tensor<T>({2, 3}, {1, 2, 3, 4, 5, 6});
    Tensor b = make_tensor<T>({3}, {10, 20, 30});
    EXPECT_EQ(values_of<T>(run1(binary("Add"), 14, {a, b})), (std::vector<T>{11, 22, 33, 14, 25, 36}));
    EXPECT_EQ(values_of<T>(run1(binary("Sub"), 14, {b, a})), (std::vector<T>{9, 18, 27, 6, 15, 24}));
    EXPECT_EQ(values_of<T>(run1(binary("Div"), 14, {b, a})), (std::vector<T>{10, 10, 10, T(2.5), 4, 5}));
    NodeDef mx = make_node("Max", {"a", "b"}, {"y"});
    EXPECT_EQ(values_of<T>(run1(mx, 13, {a, make_tensor<T>({}, {4})})), (std::vector<T>{4, 4, 4, 4, 5, 6}));
  };
  check(eltwise::Tag<float>{});
  check(eltwise::Tag<double>{});
  check(eltwise::Tag<int8_t>{});
  check(eltwise::Tag<uint8_t>{});
  check(eltwise::Tag<int16_t>{});
  check(eltwise::Tag<uint16_t>{});
  check(eltwise::Tag<int32_t>{});
  check(eltwise::Tag<uint32_t>{});
  check(eltwise::Tag<int64_t>{});
  check(eltwise::Tag<uint64_t>{});
}

TEST(ElementwiseBinary, FloatArithmeticAllLayouts) {
  // Every vector/scalar combination and lengths around the vector width (tails).
  for (int n : {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33}) {
    std::vector<float> av(static_cast<size_t>(n)), bv(static_cast<size_t>(n));
    for (int i = 0; i < n; i++) {
      av[size_t(i)] = float(i) - 4.5f;
      bv[size_t(i)] = float(2 * i + 1) * 0.25f;
    }
    Tensor a = make_tensor<float>({n}, av), b = make_tensor<float>({n}, bv), s = make_tensor<float>({}, {-1.5f});
    for (const char* op : {"Add", "Sub", "Mul", "Div", "PRelu"}) {
      SCOPED_TRACE(std::string(op) + " n=" + std::to_string(n));
      auto f = [&](float u, float v) {
        std::string o = op;
        if (o == "Add") return u + v;
        if (o == "Sub") return u - v;
        if (o == "Mul") return u * v;
        if (o == "Div") return u / v;
        return u < 0 ? u * v : u;
      };
      auto vv = values_of<float>(run1(binary(op), 14, {a, b}));
      auto vs = values_of<float>(run1(binary(op), 14, {a, s}));
      for (int i = 0; i < n; i++) {
        ASSERT_EQ(vv[size_t(i)], f(av[size_t(i)], bv[size_t(i)]));
        ASSERT_EQ(vs[size_t(i)], f(av[size_t(i)], -1.5f));
      }
      if (std::string(op) != "PRelu") {
        auto sv = values_of<float>(run1(binary(op), 14, {s, b}));
        for (int i = 0; i < n; i++) ASSERT_EQ(sv[size_t(i)], f(-1.5f, bv[size_t(i)]));
      }
    }
  }
}

TEST(ElementwiseBinary, ModBothConventions) {
  Tensor a = make_tensor<int32_t>({4}, {-4, 7, 5, -5});
  Tensor b = make_tensor<int32_t>({4}, {3, -3, 0, 2});
  NodeDef m = binary("Mod");
  EXPECT_EQ(values_of<int32_t>(run1(m, 13, {a, b})), (std::vector<int32_t>{2, -2, 0, 1}));  // sign of divisor
  m.set_attr_int("fmod", 1);
  EXPECT_EQ(values_of<int32_t>(run1(m, 13, {a, b})), (std::vector<int32_t>{-1, 1, 0, -1}));  // sign of dividend
  Tensor fa = make_tensor<float>({3}, {-4.5f, 7.5f, 5.f});
  Tensor fb = make_tensor<float>({3}, {2.f, -2.f, 3.f});
  EXPECT_EQ(values_of<float>(run1(m, 13, {fa, fb})), (std::vector<float>{-0.5f, 1.5f, 2.f}));
  NodeDef m0 = binary("Mod");
  EXPECT_EQ(run_status(m0, 13, {fa, fb}).code(), ErrorCode::kInvalidArgument);  // floats need fmod = 1
  m0.set_attr_int("fmod", 2);
  EXPECT_EQ(run_status(m0, 13, {a, b}).code(), ErrorCode::kInvalidArgument);
  // uint64 and float16
  NodeDef mu = binary("Mod");
  EXPECT_EQ(values_of<uint64_t>(run1(mu, 13, {make_tensor<uint64_t>({2}, {7, 9}), make_tensor<uint64_t>({}, {4})})),
            (std::vector<uint64_t>{3, 1}));
  EXPECT_EQ(halves_of(run1(m, 13, {make_half({2}, {-4.5f, 7.5f}), make_half({2}, {2.f, -2.f})})),
            (std::vector<float>{-0.5f, 1.5f}));
}

TEST(ElementwiseBinary, PowTypes) {
  NodeDef p = binary("Pow");
  Tensor x = make_tensor<float>({4}, {1.f, 2.f, 3.f, -2.f});
  EXPECT_EQ(values_of<float>(run1(p, 15, {x, make_tensor<float>({}, {2.f})})), (std::vector<float>{1, 4, 9, 4}));
  EXPECT_EQ(values_of<float>(run1(p, 15, {x, make_tensor<float>({}, {3.f})})), (std::vector<float>{1, 8, 27, -8}));
  EXPECT_EQ(values_of<float>(run1(p, 15, {x, make_tensor<int64_t>({4}, {0, 1, 2, 3})})),
            (std::vector<float>{1, 2, 9, -8}));
  auto h = values_of<float>(run1(p, 15, {x, make_tensor<float>({}, {0.5f})}));
  EXPECT_FLOAT_EQ(h[1], std::sqrt(2.f));
  EXPECT_TRUE(std::isnan(h[3]));
  auto g = values_of<float>(run1(p, 15, {x, make_tensor<float>({}, {1.7f})}));
  EXPECT_FLOAT_EQ(g[2], std::pow(3.f, 1.7f));
  Tensor xi = make_tensor<int32_t>({4}, {1, 2, 3, -2});
  EXPECT_EQ(values_of<int32_t>(run1(p, 15, {xi, make_tensor<int32_t>({4}, {4, 5, 6, 3})})),
            (std::vector<int32_t>{1, 32, 729, -8}));
  EXPECT_EQ(values_of<int32_t>(run1(p, 15, {xi, make_tensor<float>({4}, {4.f, 5.f, 6.f, 0.5f})})),
            (std::vector<int32_t>{1, 32, 729, 0}));  // (-2)^0.5 is NaN, which converts to 0
  EXPECT_EQ(values_of<int64_t>(run1(p, 15, {make_tensor<int64_t>({3}, {2, -1, 5}), make_tensor<int64_t>({}, {-1})})),
            (std::vector<int64_t>{0, -1, 0}));
  EXPECT_EQ(run_status(p, 15, {make_tensor<uint8_t>({1}, {2}), make_tensor<uint8_t>({1}, {2})}).code(),
            ErrorCode::kDtype);
}

TEST(ElementwiseBinary, ComparisonsAndLogic) {
  Tensor a = make_tensor<float>({2, 2}, {1.f, 2.f, NAN, 4.f});
  Tensor b = make_tensor<float>({2}, {2.f, 2.f});
  EXPECT_EQ(bools_of(run1(binary("Equal"), 13, {a, b})), (std::vector<int>{0, 1, 0, 0}));
  EXPECT_EQ(bools_of(run1(binary("Less"), 13, {a, b})), (std::vector<int>{1, 0, 0, 0}));
  EXPECT_EQ(bools_of(run1(binary("Greater"), 13, {a, b})), (std::vector<int>{0, 0, 0, 1}));
  EXPECT_EQ(bools_of(run1(binary("LessOrEqual"), 16, {a, b})), (std::vector<int>{1, 1, 0, 0}));
  EXPECT_EQ(bools_of(run1(binary("GreaterOrEqual"), 16, {a, b})), (std::vector<int>{0, 1, 0, 1}));
  Tensor ia = make_tensor<int64_t>({3}, {-1, 0, 5}), ib = make_tensor<int64_t>({}, {0});
  EXPECT_EQ(bools_of(run1(binary("Less"), 13, {ia, ib})), (std::vector<int>{1, 0, 0}));
  Tensor ua = make_tensor<uint8_t>({2}, {0, 255}), ub = make_tensor<uint8_t>({2}, {255, 255});
  EXPECT_EQ(bools_of(run1(binary("Equal"), 13, {ua, ub})), (std::vector<int>{0, 1}));
  Tensor p = make_bool({4}, {0, 0, 1, 1}), q = make_bool({4}, {0, 1, 0, 2});  // 2 counts as true
  EXPECT_EQ(bools_of(run1(binary("And"), 7, {p, q})), (std::vector<int>{0, 0, 0, 1}));
  EXPECT_EQ(bools_of(run1(binary("Or"), 7, {p, q})), (std::vector<int>{0, 1, 1, 1}));
  EXPECT_EQ(bools_of(run1(binary("Xor"), 7, {p, q})), (std::vector<int>{0, 1, 1, 0}));
  EXPECT_EQ(bools_of(run1(binary("Equal"), 13, {p, q})), (std::vector<int>{1, 0, 0, 1}));
  EXPECT_EQ(bools_of(run1(binary("And"), 7, {make_bool({2, 1}, {1, 0}), make_bool({3}, {1, 1, 0})})),
            (std::vector<int>{1, 1, 0, 0, 0, 0}));
  EXPECT_EQ(run_status(binary("And"), 7, {a, a}).code(), ErrorCode::kDtype);
  EXPECT_EQ(run_status(binary("Less"), 13, {p, q}).code(), ErrorCode::kDtype);
  // float16 comparison
  EXPECT_EQ(bools_of(run1(binary("Greater"), 13, {make_half({2}, {1.f, 3.f}), make_half({}, {2.f})})),
            (std::vector<int>{0, 1}));
}

TEST(ElementwiseBinary, BitOperations) {
  NodeDef sh = binary("BitShift");
  sh.set_attr_string("direction", "LEFT");
  EXPECT_EQ(values_of<uint8_t>(run1(sh, 11, {make_tensor<uint8_t>({4}, {16, 4, 1, 255}),
                                              make_tensor<uint8_t>({4}, {1, 2, 3, 8})})),
            (std::vector<uint8_t>{32, 16, 8, 0}));
  sh.set_attr_string("direction", "RIGHT");
  EXPECT_EQ(values_of<uint64_t>(run1(sh, 11, {make_tensor<uint64_t>({3}, {16, 4, ~0ull}),
                                               make_tensor<uint64_t>({3}, {1, 2, 64})})),
            (std::vector<uint64_t>{8, 1, 0}));
  EXPECT_EQ(run_status(sh, 11, {make_tensor<int32_t>({1}, {1}), make_tensor<int32_t>({1}, {1})}).code(),
            ErrorCode::kDtype);
  NodeDef bad = binary("BitShift");
  bad.set_attr_string("direction", "UP");
  EXPECT_EQ(run_status(bad, 11, {make_tensor<uint8_t>({1}, {1}), make_tensor<uint8_t>({1}, {1})}).code(),
            ErrorCode::kInvalidArgument);
  Tensor a = make_tensor<int16_t>({3}, {0x0f0f, -1, 5}), b = make_tensor<int16_t>({}, {0x00ff});
  EXPECT_EQ(values_of<int16_t>(run1(binary("BitwiseAnd"), 18, {a, b})), (std::vector<int16_t>{0x0f, 0xff, 5}));
  EXPECT_EQ(values_of<int16_t>(run1(binary("BitwiseOr"), 18, {a, b})), (std::vector<int16_t>{0x0fff, -1, 0xff}));
  EXPECT_EQ(values_of<int16_t>(run1(binary("BitwiseXor"), 18, {a, b})), (std::vector<int16_t>{0x0ff0, -256, 0xfa}));
  EXPECT_EQ(values_of<int16_t>(run1(unary("BitwiseNot"), 18, {a})), (std::vector<int16_t>{~0x0f0f, 0, ~5}));
}

TEST(ElementwiseBinary, PReluUnidirectional) {
  NodeDef p = make_node("PRelu", {"x", "slope"}, {"y"});
  Tensor x = make_tensor<float>({1, 2, 2, 1}, {-1.f, 2.f, -3.f, 4.f});
  Tensor s = make_tensor<float>({2, 1, 1}, {0.5f, 0.25f});
  EXPECT_EQ(values_of<float>(run1(p, 16, {x, s})), (std::vector<float>{-0.5f, 2.f, -0.75f, 4.f}));
  // The slope may not enlarge the output.
  EXPECT_EQ(run_status(p, 16, {make_tensor<float>({2}, {1.f, -1.f}), make_tensor<float>({2, 2}, {1, 1, 1, 1})}).code(),
            ErrorCode::kShape);
  EXPECT_EQ(values_of<int32_t>(run1(p, 16, {make_tensor<int32_t>({3}, {-4, 0, 4}), make_tensor<int32_t>({}, {3})})),
            (std::vector<int32_t>{-12, 0, 4}));
}

TEST(ElementwiseBinary, WhereThreeWayBroadcast) {
  NodeDef w = make_node("Where", {"c", "x", "y"}, {"o"});
  Tensor c = make_bool({2, 1}, {1, 0});
  Tensor x = make_tensor<float>({3}, {1.f, 2.f, 3.f});
  Tensor y = make_tensor<float>({}, {-1.f});
  Tensor o = run1(w, 16, {c, x, y});
  EXPECT_EQ(o.dims(), (Dims{2, 3}));
  EXPECT_EQ(values_of<float>(o), (std::vector<float>{1, 2, 3, -1, -1, -1}));
  Tensor xi = make_tensor<int64_t>({2, 3}, {1, 2, 3, 4, 5, 6}), yi = make_tensor<int64_t>({2, 3}, {-1, -2, -3, -4, -5, -6});
  Tensor ci = make_bool({2, 3}, {1, 0, 1, 0, 1, 0});
  EXPECT_EQ(values_of<int64_t>(run1(w, 16, {ci, xi, yi})), (std::vector<int64_t>{1, -2, 3, -4, 5, -6}));
  Tensor xb = make_bool({3}, {1, 1, 1}), yb = make_bool({3}, {0, 0, 0});
  EXPECT_EQ(bools_of(run1(w, 16, {make_bool({3}, {1, 0, 1}), xb, yb})), (std::vector<int>{1, 0, 1}));
  EXPECT_EQ(run_status(w, 16, {make_tensor<float>({1}, {1.f}), x, x}).code(), ErrorCode::kDtype);
  EXPECT_EQ(run1(w, 16, {make_bool({0, 1}, {}), x, y}).dims(), (Dims{0, 3}));
}

TEST(ElementwiseBinary, VariadicMaxMinSumMean) {
  Tensor a = make_tensor<float>({2, 2}, {1.f, 5.f, NAN, 2.f});
  Tensor b = make_tensor<float>({2}, {3.f, 3.f});
  Tensor c = make_tensor<float>({}, {4.f});
  NodeDef mx = make_node("Max", {"a", "b", "c"}, {"y"});
  auto m = values_of<float>(run1(mx, 13, {a, b, c}));
  EXPECT_EQ(m[0], 4.f);
  EXPECT_EQ(m[1], 5.f);
  EXPECT_TRUE(std::isnan(m[2]));
  EXPECT_EQ(m[3], 4.f);
  NodeDef mn = make_node("Min", {"a", "b", "c"}, {"y"});
  auto n = values_of<float>(run1(mn, 13, {a, b, c}));
  EXPECT_EQ(n[0], 1.f);
  EXPECT_TRUE(std::isnan(n[2]));
  NodeDef sum = make_node("Sum", {"a", "b", "c"}, {"y"});
  Tensor s = run1(sum, 13, {b, c, make_tensor<float>({3, 1}, {0.f, 10.f, 20.f})});
  EXPECT_EQ(s.dims(), (Dims{3, 2}));
  EXPECT_EQ(values_of<float>(s), (std::vector<float>{7, 7, 17, 17, 27, 27}));
  NodeDef mean = make_node("Mean", {"a", "b"}, {"y"});
  EXPECT_EQ(values_of<float>(run1(mean, 13, {b, c})), (std::vector<float>{3.5f, 3.5f}));
  EXPECT_EQ(values_of<double>(run1(mean, 13, {make_tensor<double>({1}, {1.0}), make_tensor<double>({1}, {2.0})})),
            (std::vector<double>{1.5}));
  EXPECT_EQ(run_status(mean, 13, {make_tensor<int32_t>({1}, {1}), make_tensor<int32_t>({1}, {2})}).code(),
            ErrorCode::kDtype);
  // One input: the input itself, no copy.
  NodeDef one = make_node("Sum", {"a"}, {"y"});
  Tensor only = run1(one, 13, {a});
  EXPECT_EQ(only.buffer(), a.buffer());
  // Integer and float16 inputs.
  NodeDef mx2 = make_node("Max", {"a", "b"}, {"y"});
  EXPECT_EQ(values_of<uint32_t>(run1(mx2, 13, {make_tensor<uint32_t>({2}, {1, 4000000000u}), make_tensor<uint32_t>({}, {7})})),
            (std::vector<uint32_t>{7, 4000000000u}));
  EXPECT_EQ(halves_of(run1(mx2, 13, {make_half({2}, {1.f, 5.f}), make_half({2}, {2.f, 3.f})})),
            (std::vector<float>{2.f, 5.f}));
  NodeDef mean3 = make_node("Mean", {"a", "b", "c"}, {"y"});
  EXPECT_EQ(halves_of(run1(mean3, 13, {make_half({2}, {1.f, 5.f}), make_half({2}, {2.f, 3.f}), make_half({}, {3.f})})),
            (std::vector<float>{2.f, half_to_float(float_to_half(11.f / 3))}));
  EXPECT_EQ(run_status(mx2, 13, {a, make_tensor<float>({3}, {1, 2, 3})}).code(), ErrorCode::kShape);
}

TEST(ElementwiseBinary, Float16Arithmetic) {
  Tensor a = make_half({3}, {1.5f, -2.f, 1000.f});
  Tensor b = make_half({}, {0.5f});
  EXPECT_EQ(halves_of(run1(binary("Add"), 14, {a, b})), (std::vector<float>{2.f, -1.5f, 1000.5f}));
  EXPECT_EQ(halves_of(run1(binary("Mul"), 14, {a, b})), (std::vector<float>{0.75f, -1.f, 500.f}));
}

// ---- unary float32 math ------------------------------------------------------------------------------------------

// Samples over the float range: a stride through all bit patterns plus special values.
std::vector<float> float_samples(uint32_t stride) {
  std::vector<float> v;
  for (uint64_t bits = 0; bits < (1ull << 32); bits += stride) {
    float f;
    uint32_t u = uint32_t(bits);
    std::memcpy(&f, &u, 4);
    v.push_back(f);
  }
  for (float f : {0.f, -0.f, INFINITY, -INFINITY, NAN, 1e-45f, -1e-45f, 1e-30f, 88.72f, -87.3f, -103.9f, 0.5f, -0.5f,
                  1.f, -1.f, 0.9999f, 1.0001f, 3.f, -3.f, 9.9f, 10.1f, 20.f, -20.f})
    v.push_back(f);
  return v;
}

double ref_of(const std::string& op, double x) {
  if (op == "Exp") return std::exp(x);
  if (op == "Log") return std::log(x);
  if (op == "Tanh") return std::tanh(x);
  if (op == "Sigmoid") return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x));
  if (op == "Erf") return std::erf(x);
  if (op == "Softplus") return (x > 0 ? x : 0) + std::log1p(std::exp(-std::fabs(x)));
  if (op == "Elu") return x < 0 ? std::expm1(x) : x;
  if (op == "Mish") return x * std::tanh((x > 0 ? x : 0) + std::log1p(std::exp(-std::fabs(x))));
  if (op == "Gelu") return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
  if (op == "Sqrt") return std::sqrt(x);
  return 0;
}

void check_accuracy(const eltwise::F32Kernels& k, const std::string& op, eltwise::UnaryOp uop, double tol,
                    double lo = -INFINITY, double hi = INFINITY) {
  SCOPED_TRACE(op + std::string(" on ") + k.isa);
  std::vector<float> xs = float_samples(4099);
  std::vector<float> ys(xs.size());
  eltwise::UnaryParams p;
  p.alpha = 1.f;
  k.unary(uop, p, xs.data(), ys.data(), int64_t(xs.size()));
  double worst = 0;
  float worst_x = 0;
  for (size_t i = 0; i < xs.size(); i++) {
    const double x = xs[i];
    if (!(x >= lo && x <= hi) && !std::isnan(x)) continue;
    const double r = ref_of(op, x), y = ys[i];
    if (std::isnan(r)) {
      ASSERT_TRUE(std::isnan(y)) << "x=" << x;
      continue;
    }
    const double rf = double(float(r));  // the reference as a float
    if (std::isinf(rf)) {
      ASSERT_EQ(y, rf) << "x=" << x;
      continue;
    }
    if (std::fabs(rf) < 1e-37) {  // subnormal results: absolute error
      ASSERT_LE(std::fabs(y - r), 1e-43) << "x=" << x;
      continue;
    }
    const double rel = std::fabs(y - r) / std::fabs(r);
    if (rel > worst) {
      worst = rel;
      worst_x = float(x);
    }
  }
  EXPECT_LE(worst, tol) << "worst at x=" << worst_x;
}

std::vector<const eltwise::F32Kernels*> kernel_tables() {
  std::vector<const eltwise::F32Kernels*> t = {&eltwise::f32_kernels_portable()};
#if defined(__x86_64__) || defined(_M_X64)
  if (cpu_features().avx2 && cpu_features().fma) t.push_back(&eltwise::f32_kernels_avx2());
#endif
  return t;
}

TEST(ElementwiseUnary, TranscendentalAccuracyAgainstLibm) {
  using U = eltwise::UnaryOp;
  for (const auto* k : kernel_tables()) {
    check_accuracy(*k, "Exp", U::kExp, 1e-6);
    check_accuracy(*k, "Log", U::kLog, 1e-6);
    check_accuracy(*k, "Tanh", U::kTanh, 1e-6);
    check_accuracy(*k, "Sigmoid", U::kSigmoid, 1e-6);
    check_accuracy(*k, "Erf", U::kErf, 1e-6);
    check_accuracy(*k, "Elu", U::kElu, 1e-6);
    check_accuracy(*k, "Sqrt", U::kSqrt, 1e-7);
    check_accuracy(*k, "Softplus", U::kSoftplus, 1e-6, -INFINITY, 1e30);
    check_accuracy(*k, "Mish", U::kMish, 1e-6, -80, INFINITY);
    check_accuracy(*k, "Gelu", U::kGelu, 1e-6);
  }
}

TEST(ElementwiseUnary, IsasAgreeAndTailsMatch) {
  // Every length up to a few vectors: the tail path must give the values of the vector path.
  std::vector<float> xs(37);
  for (size_t i = 0; i < xs.size(); i++) xs[i] = float(i) * 0.37f - 6.f;
  for (const auto* k : kernel_tables()) {
    for (auto op : {eltwise::UnaryOp::kSigmoid, eltwise::UnaryOp::kTanh, eltwise::UnaryOp::kGelu}) {
      std::vector<float> full(xs.size());
      eltwise::UnaryParams p;
      k->unary(op, p, xs.data(), full.data(), int64_t(xs.size()));
      for (size_t n = 1; n <= xs.size(); n++) {
        std::vector<float> part(n);
        k->unary(op, p, xs.data() + (xs.size() - n), part.data(), int64_t(n));
        for (size_t i = 0; i < n; i++) ASSERT_EQ(part[i], full[xs.size() - n + i]) << k->isa << " n=" << n;
      }
    }
  }
}

TEST(ElementwiseUnary, RoundingFunctions) {
  Tensor x = make_tensor<float>({12}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 0.49999997f, 2.3f, -2.7f, 8388609.f,
                                       1e30f, -0.f});
  std::vector<float> round = values_of<float>(run1(unary("Round"), 11, {x}));
  std::vector<float> floor = values_of<float>(run1(unary("Floor"), 13, {x}));
  std::vector<float> ceil = values_of<float>(run1(unary("Ceil"), 13, {x}));
  auto xv = values_of<float>(x);
  for (size_t i = 0; i < xv.size(); i++) {
    EXPECT_EQ(round[i], std::nearbyint(xv[i])) << xv[i];
    EXPECT_EQ(std::signbit(round[i]), std::signbit(std::nearbyint(xv[i]))) << xv[i];
    EXPECT_EQ(floor[i], std::floor(xv[i])) << xv[i];
    EXPECT_EQ(ceil[i], std::ceil(xv[i])) << xv[i];
  }
  Tensor nan = make_tensor<float>({3}, {NAN, INFINITY, -INFINITY});
  auto r = values_of<float>(run1(unary("Floor"), 13, {nan}));
  EXPECT_TRUE(std::isnan(r[0]));
  EXPECT_EQ(r[1], INFINITY);
  EXPECT_EQ(r[2], -INFINITY);
}

TEST(ElementwiseUnary, ActivationsWithAttributes) {
  Tensor x = make_tensor<float>({6}, {-3.f, -1.f, -0.25f, 0.f, 0.5f, 4.f});
  auto xv = values_of<float>(x);
  auto expect_near = [&](const NodeDef& node, int opset, auto f) {
    auto y = values_of<float>(run1(node, opset, {x}));
    for (size_t i = 0; i < xv.size(); i++) {
      const double r = f(double(xv[i]));
      if (std::isinf(r)) {
        EXPECT_EQ(y[i], r) << node.op_type << " x=" << xv[i];
      } else {
        EXPECT_NEAR(y[i], r, 1e-6) << node.op_type << " x=" << xv[i];
      }
    }
  };
  expect_near(unary("Relu"), 14, [](double v) { return v < 0 ? 0 : v; });
  NodeDef lr = unary("LeakyRelu");
  expect_near(lr, 16, [](double v) { return v < 0 ? 0.01 * v : v; });
  lr.set_attr_float("alpha", 0.2f);
  expect_near(lr, 16, [](double v) { return v < 0 ? 0.2 * v : v; });
  NodeDef elu = unary("Elu");
  elu.set_attr_float("alpha", 2.f);
  expect_near(elu, 6, [](double v) { return v < 0 ? 2 * std::expm1(v) : v; });
  expect_near(unary("Selu"), 6, [](double v) {
    return v <= 0 ? 1.0507009873554805 * 1.6732632423543772 * std::expm1(v) : 1.0507009873554805 * v;
  });
  NodeDef celu = unary("Celu");
  celu.set_attr_float("alpha", 2.f);
  expect_near(celu, 12, [](double v) { return v > 0 ? v : 2 * std::expm1(v / 2); });
  expect_near(unary("HardSigmoid"), 6, [](double v) { return std::min(1.0, std::max(0.0, 0.2 * v + 0.5)); });
  expect_near(unary("HardSwish"), 14, [](double v) { return v * std::min(1.0, std::max(0.0, v / 6 + 0.5)); });
  expect_near(unary("Softsign"), 1, [](double v) { return v / (1 + std::fabs(v)); });
  expect_near(unary("Softplus"), 1, [](double v) { return std::log1p(std::exp(v)); });
  expect_near(unary("Mish"), 18, [](double v) { return v * std::tanh(std::log1p(std::exp(v))); });
  expect_near(unary("Gelu"), 20, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); });
  NodeDef gt = unary("Gelu");
  gt.set_attr_string("approximate", "tanh");
  expect_near(gt, 20, [](double v) {
    return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
  });
  expect_near(unary("ThresholdedRelu"), 10, [](double v) { return v > 1 ? v : 0; });
  expect_near(unary("Shrink"), 9, [](double v) { return v < -0.5 ? v : v > 0.5 ? v : 0; });
  NodeDef sh = unary("Shrink");
  sh.set_attr_float("lambd", 0.2f);
  sh.set_attr_float("bias", 0.1f);
  expect_near(sh, 9, [](double v) { return v < -0.2 ? v + 0.1 : v > 0.2 ? v - 0.1 : 0; });
  expect_near(unary("Sign"), 13, [](double v) { return v > 0 ? 1 : v < 0 ? -1 : 0; });
  expect_near(unary("Reciprocal"), 13, [](double v) { return 1 / v; });
  expect_near(unary("Neg"), 13, [](double v) { return -v; });
  expect_near(unary("Abs"), 13, [](double v) { return std::fabs(v); });
  expect_near(unary("Sin"), 7, [](double v) { return std::sin(v); });
  expect_near(unary("Cos"), 7, [](double v) { return std::cos(v); });
  expect_near(unary("Atan"), 7, [](double v) { return std::atan(v); });

  NodeDef bad = unary("Gelu");
  bad.set_attr_string("approximate", "fast");
  EXPECT_EQ(run_status(bad, 20, {x}).code(), ErrorCode::kInvalidArgument);
  NodeDef celu0 = unary("Celu");
  celu0.set_attr_float("alpha", 0.f);
  EXPECT_EQ(run_status(celu0, 12, {x}).code(), ErrorCode::kInvalidArgument);
}

TEST(ElementwiseUnary, OtherElementTypes) {
  Tensor i8 = make_tensor<int8_t>({4}, {-128, -3, 0, 7});
  EXPECT_EQ(values_of<int8_t>(run1(unary("Abs"), 13, {i8})), (std::vector<int8_t>{-128, 3, 0, 7}));
  EXPECT_EQ(values_of<int8_t>(run1(unary("Neg"), 13, {i8})), (std::vector<int8_t>{-128, 3, 0, -7}));
  EXPECT_EQ(values_of<int8_t>(run1(unary("Relu"), 14, {i8})), (std::vector<int8_t>{0, 0, 0, 7}));
  EXPECT_EQ(values_of<int8_t>(run1(unary("Sign"), 13, {i8})), (std::vector<int8_t>{-1, -1, 0, 1}));
  EXPECT_EQ(run_status(unary("Exp"), 13, {i8}).code(), ErrorCode::kDtype);
  Tensor d = make_tensor<double>({3}, {-1.0, 0.5, 2.0});
  auto e = values_of<double>(run1(unary("Exp"), 13, {d}));
  EXPECT_DOUBLE_EQ(e[2], std::exp(2.0));
  auto s = values_of<double>(run1(unary("Sigmoid"), 13, {d}));
  EXPECT_DOUBLE_EQ(s[1], 1 / (1 + std::exp(-0.5)));
  Tensor h = make_half({3}, {-1.f, 0.5f, 2.f});
  auto t = halves_of(run1(unary("Tanh"), 13, {h}));
  EXPECT_EQ(t[2], half_to_float(float_to_half(std::tanh(2.f))));
  EXPECT_EQ(halves_of(run1(unary("Celu"), 12, {h}))[1], 0.5f);
}

TEST(ElementwiseUnary, LargeTensorsThreaded) {
  const int64_t n = 300001;
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++) v[size_t(i)] = float(i % 2001 - 1000) / 100.f;
  auto y = values_of<float>(run1(unary("Sigmoid"), 13, {make_tensor<float>({n}, v)}));
  for (int64_t i = 0; i < n; i += 997) EXPECT_NEAR(y[size_t(i)], 1 / (1 + std::exp(-double(v[size_t(i)]))), 1e-7);
  auto r = values_of<float>(run1(unary("Relu"), 13, {make_tensor<float>({n}, v)}));
  for (int64_t i = 0; i < n; i++) ASSERT_EQ(r[size_t(i)], v[size_t(i)] < 0 ? 0.f : v[size_t(i)]);
}

TEST(ElementwiseUnary, ZeroSizeAndScalar) {
  Tensor z = make_tensor<float>({2, 0}, {});
  Tensor y = run1(unary("Exp"), 13, {z});
  EXPECT_EQ(y.dims(), (Dims{2, 0}));
  Tensor s = make_tensor<float>({}, {1.f});
  Tensor e = run1(unary("Exp"), 13, {s});
  EXPECT_EQ(e.dims(), Dims{});
  EXPECT_FLOAT_EQ(values_of<float>(e)[0], std::exp(1.f));
}

TEST(ElementwiseUnary, ClipAcrossOpsets) {
  Tensor x = make_tensor<float>({5}, {-2.f, -0.5f, 0.f, 0.5f, NAN});
  NodeDef legacy = unary("Clip");
  legacy.set_attr_float("min", -1.f);
  legacy.set_attr_float("max", 0.25f);
  auto a = values_of<float>(run1(legacy, 6, {x}));
  EXPECT_EQ(a[0], -1.f);
  EXPECT_EQ(a[1], -0.5f);
  EXPECT_EQ(a[3], 0.25f);
  EXPECT_TRUE(std::isnan(a[4]));
  NodeDef c = make_node("Clip", {"x", "min", "max"}, {"y"});
  auto b = values_of<float>(run1(c, 13, {x, make_tensor<float>({}, {-1.f}), make_tensor<float>({}, {0.25f})}));
  EXPECT_EQ(b[0], -1.f);
  EXPECT_EQ(b[3], 0.25f);
  NodeDef only_max = make_node("Clip", {"x", "", "max"}, {"y"});
  auto m = values_of<float>(run1(only_max, 13, {x, Tensor(), make_tensor<float>({}, {0.f})}));
  EXPECT_EQ(m[0], -2.f);
  EXPECT_EQ(m[3], 0.f);
  NodeDef none = unary("Clip");
  EXPECT_EQ(values_of<float>(run1(none, 13, {make_tensor<float>({1}, {3.f})}))[0], 3.f);
  // min > max: everything becomes max.
  auto g = values_of<float>(run1(c, 13, {x, make_tensor<float>({}, {2.f}), make_tensor<float>({}, {1.f})}));
  EXPECT_EQ(g[0], 1.f);
  EXPECT_EQ(g[3], 1.f);
  Tensor i = make_tensor<int8_t>({4}, {-128, -5, 5, 127});
  EXPECT_EQ(values_of<int8_t>(run1(c, 13, {i, make_tensor<int8_t>({}, {-6}), make_tensor<int8_t>({}, {6})})),
            (std::vector<int8_t>{-6, -5, 5, 6}));
  NodeDef c1 = make_node("Clip", {"x", "min"}, {"y"});
  EXPECT_EQ(values_of<int64_t>(run1(c1, 13, {make_tensor<int64_t>({2}, {-9, 9}), make_tensor<int64_t>({}, {0})})),
            (std::vector<int64_t>{0, 9}));
  EXPECT_EQ(run_status(c, 13, {i, make_tensor<float>({}, {-6.f}), make_tensor<int8_t>({}, {6})}).code(),
            ErrorCode::kDtype);
  EXPECT_EQ(run_status(c, 13, {x, make_tensor<float>({2}, {0.f, 1.f}), make_tensor<float>({}, {1.f})}).code(),
            ErrorCode::kShape);
}

TEST(ElementwiseUnary, ClassifyAndLogic) {
  Tensor x = make_tensor<float>({5}, {1.f, NAN, INFINITY, -INFINITY, 0.f});
  EXPECT_EQ(bools_of(run1(unary("IsNaN"), 13, {x})), (std::vector<int>{0, 1, 0, 0, 0}));
  EXPECT_EQ(bools_of(run1(unary("IsInf"), 10, {x})), (std::vector<int>{0, 0, 1, 1, 0}));
  NodeDef pos = unary("IsInf");
  pos.set_attr_int("detect_negative", 0);
  EXPECT_EQ(bools_of(run1(pos, 10, {x})), (std::vector<int>{0, 0, 1, 0, 0}));
  NodeDef neither = unary("IsInf");
  neither.set_attr_int("detect_negative", 0);
  neither.set_attr_int("detect_positive", 0);
  EXPECT_EQ(bools_of(run1(neither, 10, {x})), (std::vector<int>{0, 0, 0, 0, 0}));
  EXPECT_EQ(bools_of(run1(unary("IsNaN"), 13, {make_half({2}, {NAN, 1.f})})), (std::vector<int>{1, 0}));
  EXPECT_EQ(bools_of(run1(unary("Not"), 1, {make_bool({3}, {0, 1, 5})})), (std::vector<int>{1, 0, 0}));
  EXPECT_EQ(run_status(unary("Not"), 1, {x}).code(), ErrorCode::kDtype);
}

TEST(ElementwiseUnary, IdentityAndDropoutAreZeroCopy) {
  Tensor x = make_tensor<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor y = run1(unary("Identity"), 16, {x});
  EXPECT_EQ(y.buffer(), x.buffer());
  EXPECT_EQ(y.dims(), x.dims());
  NodeDef d = make_node("Dropout", {"x"}, {"y", "mask"});
  std::vector<Tensor> out;
  ASSERT_TRUE(run_op(d, 13, {x}, &out).ok());
  EXPECT_EQ(out[0].buffer(), x.buffer());
  EXPECT_EQ(bools_of(out[1]), (std::vector<int>{1, 1, 1, 1, 1, 1}));
  ASSERT_TRUE(run_op(d, 7, {x}, &out).ok());  // opset 7-9: the mask has the input's type
  EXPECT_EQ(values_of<float>(out[1]), (std::vector<float>{1, 1, 1, 1, 1, 1}));
  NodeDef dt = make_node("Dropout", {"x", "r", "t"}, {"y", "mask"});
  ASSERT_TRUE(run_op(dt, 13, {x, make_tensor<float>({}, {0.f}), make_bool({}, {1})}, &out).ok());
  EXPECT_EQ(out[0].buffer(), x.buffer());
  EXPECT_EQ(run_op(dt, 13, {x, make_tensor<float>({}, {0.5f}), make_bool({}, {1})}, &out).code(),
            ErrorCode::kUnsupported);
  EXPECT_EQ(run_op(dt, 13, {x, make_tensor<float>({}, {1.5f}), make_bool({}, {0})}, &out).code(),
            ErrorCode::kInvalidArgument);
}

// ---- Cast ---------------------------------------------------------------------------------------------------------

NodeDef cast_to(DType t) {
  NodeDef n = unary("Cast");
  n.set_attr_int("to", int64_t(t));
  return n;
}

TEST(ElementwiseCast, AllPairsRoundTripSmallIntegers) {
  const DType types[] = {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kInt8,  DType::kUint8,
                         DType::kInt16,   DType::kUint16,  DType::kInt32,   DType::kUint32, DType::kInt64,
                         DType::kUint64,  DType::kBool};
  // 0..5 survive every conversion except into bool, where they become 0/1.
  Tensor src = make_tensor<int32_t>({6}, {0, 1, 2, 3, 4, 5});
  for (DType a : types) {
    Tensor ta = run1(cast_to(a), 19, {src});
    ASSERT_EQ(ta.dtype(), a);
    for (DType b : types) {
      SCOPED_TRACE(std::string(dtype_name(a)) + " -> " + dtype_name(b));
      Tensor tb = run1(cast_to(b), 19, {ta});
      ASSERT_EQ(tb.dtype(), b);
      Tensor back = run1(cast_to(DType::kInt64), 19, {tb});
      const bool via_bool = a == DType::kBool || b == DType::kBool;
      EXPECT_EQ(values_of<int64_t>(back),
                via_bool ? (std::vector<int64_t>{0, 1, 1, 1, 1, 1}) : (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
    }
  }
}

TEST(ElementwiseCast, ConversionRules) {
  Tensor f = make_tensor<float>({7}, {-1.7f, 2.9f, 300.f, -300.f, NAN, 1e20f, -0.f});
  EXPECT_EQ(values_of<int8_t>(run1(cast_to(DType::kInt8), 13, {f})),
            (std::vector<int8_t>{-1, 2, 127, -128, 0, 127, 0}));
  EXPECT_EQ(values_of<uint8_t>(run1(cast_to(DType::kUint8), 13, {f})), (std::vector<uint8_t>{0, 2, 255, 0, 0, 255, 0}));
  EXPECT_EQ(bools_of(run1(cast_to(DType::kBool), 13, {f})), (std::vector<int>{1, 1, 1, 1, 1, 1, 0}));
  EXPECT_EQ(values_of<int8_t>(run1(cast_to(DType::kInt8), 13, {make_tensor<int32_t>({2}, {300, -129})})),
            (std::vector<int8_t>{44, 127}));  // integers wrap
  // float64 -> float16 rounds once: 1 + 2^-11 + 2^-30 lies just above the tie between 1 and 1 + 2^-10.
  Tensor d = make_tensor<double>({1}, {1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -30)});
  EXPECT_EQ(halves_of(run1(cast_to(DType::kFloat16), 13, {d}))[0], 1.f + std::ldexp(1.f, -10));
  Tensor h = make_half({2}, {65504.f, -0.5f});
  EXPECT_EQ(values_of<float>(run1(cast_to(DType::kFloat32), 13, {h})), (std::vector<float>{65504.f, -0.5f}));
  // Same type: the input itself.
  EXPECT_EQ(run1(cast_to(DType::kFloat32), 13, {f}).buffer(), f.buffer());
  // CastLike takes the type of its second input.
  NodeDef cl = make_node("CastLike", {"x", "like"}, {"y"});
  Tensor y = run1(cl, 15, {f, make_tensor<int16_t>({}, {0})});
  EXPECT_EQ(y.dtype(), DType::kInt16);
  EXPECT_EQ(values_of<int16_t>(y)[2], 300);
}

TEST(ElementwiseCast, UnsupportedTypes) {
  NodeDef s = unary("Cast");
  s.set_attr_int("to", 8);  // string
  EXPECT_EQ(run_status(s, 13, {make_tensor<float>({1}, {1.f})}).code(), ErrorCode::kUnsupported);
  s.set_attr_int("to", 16);  // bfloat16
  Status st = run_status(s, 13, {make_tensor<float>({1}, {1.f})});
  EXPECT_EQ(st.code(), ErrorCode::kUnsupported);
  EXPECT_NE(st.message().find("bfloat16"), std::string::npos);
  NodeDef none = unary("Cast");
  EXPECT_EQ(run_status(none, 13, {make_tensor<float>({1}, {1.f})}).code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace int8rt
