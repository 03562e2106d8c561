// Gemm and MatMul through the kernel registry, against double-precision reference loops written here: every
// transpose, alpha/beta, each C broadcast form, constant (packed) and runtime B and C, numpy MatMul broadcasting,
// 1-D operands, empty shapes, the other element types, and the errors bad inputs must produce.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
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

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

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

int64_t numel(const Dims& d) {
  int64_t n = 1;
  for (int64_t v : d) n *= v;
  return n;
}

void expect_near_all(const std::vector<float>& got, const std::vector<double>& want, int64_t K, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  const double tol = 1e-5 * std::max<double>(1.0, double(K) / 64.0);
  int bad = 0;
  for (size_t i = 0; i < got.size(); i++)
    if (!(std::fabs(double(got[i]) - want[i]) <= tol * (1.0 + std::fabs(want[i]))) && ++bad <= 3)
      ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i];
  EXPECT_EQ(bad, 0) << what;
}

// ------------------------------------------------------------------------------------------------------- Gemm

struct GemmCase {
  int64_t M, N, K;
  bool ta, tb;
  float alpha, beta;
};

// Y = alpha * op(A) op(B) + beta * C, C broadcast from c_dims (empty c: no C).
std::vector<double> ref_gemm(const GemmCase& g, const std::vector<float>& A, const std::vector<float>& B,
                             const std::vector<float>* C, const Dims& c_dims) {
  std::vector<double> Y(size_t(g.M * g.N));
  const int64_t crow = c_dims.size() == 2 ? c_dims[0] : 1, ccol = c_dims.empty() ? 1 : c_dims.back();
  for (int64_t m = 0; m < g.M; m++)
    for (int64_t n = 0; n < g.N; n++) {
      double acc = 0;
      for (int64_t k = 0; k < g.K; k++) {
        const double a = g.ta ? A[k * g.M + m] : A[m * g.K + k];
        const double b = g.tb ? B[n * g.K + k] : B[k * g.N + n];
        acc += a * b;
      }
      double v = g.alpha * acc;
      if (C) v += g.beta * (*C)[(crow == 1 ? 0 : m) * ccol + (ccol == 1 ? 0 : n)];
      Y[m * g.N + n] = v;
    }
  return Y;
}

NodeDef gemm_node(const GemmCase& g, bool with_c) {
  NodeDef node = make_node("Gemm", with_c ? std::vector<std::string>{"A", "B", "C"} : std::vector<std::string>{"A", "B"},
                           {"Y"});
  node.attrs = {int_attr("transA", g.ta), int_attr("transB", g.tb), float_attr("alpha", g.alpha),
                float_attr("beta", g.beta)};
  return node;
}

TEST(Gemm, MatchesReferenceForEveryCForm) {
  const GemmCase cases[] = {
      {3, 5, 4, false, false, 1.f, 1.f}, {7, 13, 19, true, false, 0.5f, 2.f}, {1, 17, 33, false, true, 1.f, 1.f},
      {17, 1, 9, true, true, -1.5f, 0.25f}, {40, 70, 300, false, true, 1.f, -1.f}, {1, 1, 1, false, false, 2.f, 3.f},
  };
  uint32_t seed = 1;
  for (const GemmCase& g : cases) {
    const std::vector<float> A = random_floats(size_t(g.M * g.K), seed++), B = random_floats(size_t(g.K * g.N), seed++);
    const Dims ad = g.ta ? Dims{g.K, g.M} : Dims{g.M, g.K}, bd = g.tb ? Dims{g.N, g.K} : Dims{g.K, g.N};
    const std::vector<Dims> c_forms = {{}, {1}, {g.N}, {1, g.N}, {g.M, 1}, {g.M, g.N}, {1, 1}};
    for (int with_c = 0; with_c < 2; with_c++)
      for (size_t f = 0; f < (with_c ? c_forms.size() : 1); f++) {
        const Dims cd = with_c ? c_forms[f] : Dims{};
        const std::vector<float> C = random_floats(size_t(numel(cd)), seed++);
        const std::vector<double> want = ref_gemm(g, A, B, with_c ? &C : nullptr, cd);
        for (int consts = 0; consts < 4; consts++) {  // bit 0: B constant (packed), bit 1: C constant
          std::vector<Tensor> in = {make_tensor<float>(ad, A), make_tensor<float>(bd, B)};
          if (with_c) in.push_back(make_tensor<float>(cd, C));
          std::vector<Tensor> out;
          const std::string what = "M=" + std::to_string(g.M) + " N=" + std::to_string(g.N) + " K=" +
                                   std::to_string(g.K) + " ta=" + std::to_string(g.ta) + " tb=" +
                                   std::to_string(g.tb) + " C=" + (with_c ? dims_str(cd) : "none") +
                                   " consts=" + std::to_string(consts);
          for (int threads : {1, 2}) {
            Status st = run_op(gemm_node(g, with_c), 13, in, &out, {false, bool(consts & 1), bool(consts & 2)}, threads);
            ASSERT_TRUE(st.ok()) << what << ": " << st.message();
            EXPECT_EQ(out[0].dims(), (Dims{g.M, g.N})) << what;
            expect_near_all(values_of<float>(out[0]), want, g.K, what);
          }
        }
      }
  }
}

TEST(Gemm, OldOpsetsAndBetaZero) {
  const GemmCase g = {4, 6, 5, false, false, 1.f, 0.f};
  const std::vector<float> A = random_floats(20, 1), B = random_floats(30, 2);
  std::vector<float> C(6, NAN);  // beta == 0: C is ignored, NaN included (as onnxruntime)
  const std::vector<double> want = ref_gemm(g, A, B, nullptr, {});
  std::vector<Tensor> out;
  for (int opset : {7, 9, 11, 13}) {
    Status st = run_op(gemm_node(g, true), opset,
                       {make_tensor<float>({4, 5}, A), make_tensor<float>({5, 6}, B), make_tensor<float>({6}, C)}, &out);
    ASSERT_TRUE(st.ok()) << st.message();
    expect_near_all(values_of<float>(out[0]), want, 5, "opset " + std::to_string(opset));
  }
  // Before opset 11 C is required.
  EXPECT_FALSE(run_op(gemm_node(g, false), 9, {make_tensor<float>({4, 5}, A), make_tensor<float>({5, 6}, B)}, &out).ok());
  // Gemm-6 with broadcast=0 wants C exactly [M,N].
  NodeDef old = gemm_node(g, true);
  old.attrs.push_back(int_attr("broadcast", 0));
  Status st = run_op(old, 6, {make_tensor<float>({4, 5}, A), make_tensor<float>({5, 6}, B), make_tensor<float>({6}, C)},
                     &out);
  EXPECT_EQ(st.code(), ErrorCode::kShape);
}

TEST(Gemm, FusedClampAndEmptyShapes) {
  const GemmCase g = {5, 9, 7, false, false, 1.f, 1.f};
  const std::vector<float> A = random_floats(35, 3), B = random_floats(63, 4), C = random_floats(9, 5);
  std::vector<double> want = ref_gemm(g, A, B, &C, {9});
  for (auto& v : want) v = std::max(v, 0.0);
  NodeDef node = gemm_node(g, true);
  Attribute act;
  act.name = "__activation";
  act.type = Attribute::Type::kString;
  act.s = "Relu";
  node.attrs.push_back(act);
  std::vector<Tensor> out;
  ASSERT_TRUE(run_op(node, 13, {make_tensor<float>({5, 7}, A), make_tensor<float>({7, 9}, B), make_tensor<float>({9}, C)},
                     &out, {false, true, true})
                  .ok());
  expect_near_all(values_of<float>(out[0]), want, 7, "fused relu");

  // K == 0: Y = beta * C.  M == 0: empty output.
  ASSERT_TRUE(run_op(gemm_node(g, true), 13,
                     {make_tensor<float>({5, 0}, {}), make_tensor<float>({0, 9}, {}), make_tensor<float>({9}, C)}, &out)
                  .ok());
  const std::vector<float> y = values_of<float>(out[0]);
  ASSERT_EQ(y.size(), 45u);
  for (int64_t i = 0; i < 45; i++) EXPECT_EQ(y[i], C[i % 9]);
  ASSERT_TRUE(run_op(gemm_node(g, false), 13, {make_tensor<float>({0, 7}, {}), make_tensor<float>({7, 9}, B)}, &out).ok());
  EXPECT_EQ(out[0].dims(), (Dims{0, 9}));
}

TEST(Gemm, DoubleAndHalf) {
  const GemmCase g = {3, 4, 5, true, false, 2.f, 0.5f};
  const std::vector<float> A = random_floats(15, 6), B = random_floats(20, 7), C = random_floats(4, 8);
  const std::vector<double> want = ref_gemm(g, A, B, &C, {4});
  std::vector<double> Ad(A.begin(), A.end()), Bd(B.begin(), B.end()), Cd(C.begin(), C.end());
  std::vector<Tensor> out;
  ASSERT_TRUE(run_op(gemm_node(g, true), 13,
                     {make_tensor<double>({5, 3}, Ad), make_tensor<double>({5, 4}, Bd), make_tensor<double>({4}, Cd)}, &out)
                  .ok());
  const std::vector<double> yd = values_of<double>(out[0]);
  for (size_t i = 0; i < want.size(); i++) EXPECT_NEAR(yd[i], want[i], 1e-12);

  auto to_half = [](const std::vector<float>& v) {
    std::vector<uint16_t> h(v.size());
    for (size_t i = 0; i < v.size(); i++) h[i] = float_to_half(v[i]);
    return h;
  };
  auto from_half = [](const std::vector<uint16_t>& h) {
    std::vector<float> v(h.size());
    for (size_t i = 0; i < h.size(); i++) v[i] = half_to_float(h[i]);
    return v;
  };
  const std::vector<uint16_t> Ah = to_half(A), Bh = to_half(B), Ch = to_half(C);
  const std::vector<double> want_h = ref_gemm(g, from_half(Ah), from_half(Bh), &C, {4});
  for (int consts = 0; consts < 2; consts++) {
    auto half_tensor = [](const Dims& d, const std::vector<uint16_t>& v) {
      Tensor t;
      EXPECT_TRUE(Tensor::create(DType::kFloat16, d, &t).ok());
      std::memcpy(t.raw(), v.data(), v.size() * 2);
      return t;
    };
    ASSERT_TRUE(run_op(gemm_node(g, true), 13, {half_tensor({5, 3}, Ah), half_tensor({5, 4}, Bh), half_tensor({4}, Ch)},
                       &out, {false, bool(consts), bool(consts)})
                    .ok());
    ASSERT_EQ(out[0].dtype(), DType::kFloat16);
    const uint16_t* yh = out[0].data<uint16_t>();
    for (size_t i = 0; i < want_h.size(); i++) EXPECT_NEAR(half_to_float(yh[i]), want_h[i], 5e-3 * (1 + std::fabs(want_h[i])));
  }
}

TEST(Gemm, BadInputsAreErrors) {
  const GemmCase g = {2, 3, 4, false, false, 1.f, 1.f};
  std::vector<Tensor> out;
  auto A = make_tensor<float>({2, 4}, random_floats(8, 1));
  auto B = make_tensor<float>({4, 3}, random_floats(12, 2));
  auto Bbad = make_tensor<float>({5, 3}, random_floats(15, 3));
  EXPECT_EQ(run_op(gemm_node(g, false), 13, {A, Bbad}, &out).code(), ErrorCode::kShape);
  EXPECT_EQ(run_op(gemm_node(g, false), 13, {A, Bbad}, &out, {false, true}).code(), ErrorCode::kShape);
  EXPECT_EQ(run_op(gemm_node(g, true), 13, {A, B, make_tensor<float>({2}, {1, 2})}, &out).code(), ErrorCode::kShape);
  EXPECT_EQ(run_op(gemm_node(g, true), 13, {A, B, make_tensor<float>({3, 3}, std::vector<float>(9))}, &out).code(),
            ErrorCode::kShape);
  EXPECT_EQ(run_op(gemm_node(g, false), 13, {make_tensor<float>({2, 2, 2}, std::vector<float>(8)), B}, &out).code(),
            ErrorCode::kShape);
  EXPECT_EQ(run_op(gemm_node(g, false), 13, {A, make_tensor<double>({4, 3}, std::vector<double>(12))}, &out).code(),
            ErrorCode::kDtype);
  EXPECT_EQ(run_op(gemm_node(g, false), 13,
                   {make_tensor<int32_t>({2, 4}, std::vector<int32_t>(8)), make_tensor<int32_t>({4, 3}, std::vector<int32_t>(12))},
                   &out)
                .code(),
            ErrorCode::kDtype);
  NodeDef bad = gemm_node(g, false);
  bad.attrs[0].i = 2;  // transA
  EXPECT_FALSE(run_op(bad, 13, {A, B}, &out).ok());
}

// ----------------------------------------------------------------------------------------------------- MatMul

// numpy matmul in double.
std::vector<double> ref_matmul(const Dims& ad, const std::vector<float>& A, const Dims& bd, const std::vector<float>& B,
                               Dims* out_dims) {
  Dims a = ad, b = bd;
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  const int64_t M = a[a.size() - 2], K = a.back(), N = b.back();
  const size_t rank = std::max(a.size(), b.size());
  while (a.size() < rank) a.insert(a.begin(), 1);
  while (b.size() < rank) b.insert(b.begin(), 1);
  Dims ob(rank - 2);
  for (size_t i = 0; i + 2 < rank; i++) ob[i] = std::max(a[i], b[i]);
  const int64_t batch = numel(ob);
  std::vector<double> Y(size_t(batch * M * N));
  for (int64_t q = 0; q < batch; q++) {
    int64_t rem = q, ao = 0, bo = 0, as = M * K, bs = K * N;
    for (size_t i = rank - 2; i-- > 0;) {
      const int64_t idx = rem % ob[i];
      rem /= ob[i];
      ao += (a[i] == 1 ? 0 : idx) * as;
      bo += (b[i] == 1 ? 0 : idx) * bs;
      as *= a[i];
      bs *= b[i];
    }
    for (int64_t m = 0; m < M; m++)
      for (int64_t n = 0; n < N; n++) {
        double acc = 0;
        for (int64_t k = 0; k < K; k++) acc += double(A[ao + m * K + k]) * double(B[bo + k * N + n]);
        Y[size_t((q * M + m) * N + n)] = acc;
      }
  }
  *out_dims = ob;
  if (ad.size() != 1) out_dims->push_back(M);
  if (bd.size() != 1) out_dims->push_back(N);
  return Y;
}

TEST(MatMul, NumpySemantics) {
  const std::vector<std::pair<Dims, Dims>> cases = {
      {{3, 4}, {4, 5}},          {{4}, {4, 5}},         {{3, 4}, {4}},           {{4}, {4}},
      {{2, 3, 4}, {4, 5}},       {{2, 3, 4}, {2, 4, 5}}, {{2, 1, 3, 4}, {3, 4, 5}}, {{1, 2, 3, 4}, {4}},
      {{4}, {2, 4, 5}},          {{3, 4}, {2, 4, 5}},   {{2, 70, 300}, {300, 33}}, {{5, 1, 3, 17}, {1, 6, 17, 1}},
      {{8, 12, 16}, {8, 16, 12}}, {{1, 64}, {64, 1000}},
  };
  uint32_t seed = 10;
  for (const auto& c : cases) {
    const std::vector<float> A = random_floats(size_t(numel(c.first)), seed++);
    const std::vector<float> B = random_floats(size_t(numel(c.second)), seed++);
    Dims od;
    const std::vector<double> want = ref_matmul(c.first, A, c.second, B, &od);
    const int64_t K = c.first.back();
    for (int bconst = 0; bconst < 2; bconst++)
      for (int threads : {1, 2}) {
        std::vector<Tensor> out;
        const std::string what = dims_str(c.first) + " x " + dims_str(c.second) + " const=" + std::to_string(bconst) +
                                 " threads=" + std::to_string(threads);
        Status st = run_op(make_node("MatMul", {"A", "B"}, {"Y"}), 13,
                           {make_tensor<float>(c.first, A), make_tensor<float>(c.second, B)}, &out, {false, bool(bconst)},
                           threads);
        ASSERT_TRUE(st.ok()) << what << ": " << st.message();
        EXPECT_EQ(out[0].dims(), od) << what;
        expect_near_all(values_of<float>(out[0]), want, K, what);
      }
  }
}

TEST(MatMul, ManySmallBatchesInParallel) {
  const Dims ad = {48, 16, 8}, bd = {48, 8, 16};
  const std::vector<float> A = random_floats(size_t(numel(ad)), 77), B = random_floats(size_t(numel(bd)), 78);
  Dims od;
  const std::vector<double> want = ref_matmul(ad, A, bd, B, &od);
  std::vector<Tensor> out;
  ASSERT_TRUE(run_op(make_node("MatMul", {"A", "B"}, {"Y"}), 13, {make_tensor<float>(ad, A), make_tensor<float>(bd, B)},
                     &out, {}, 2)
                  .ok());
  expect_near_all(values_of<float>(out[0]), want, 8, "48 batches");
}

TEST(MatMul, IntegerAndDoubleTypes) {
  const std::vector<int64_t> a = {1, 2, 3, 4, 5, 6}, b = {7, 8, 9, 10, 11, 12};
  const std::vector<int64_t> want = {58, 64, 139, 154};
  std::vector<Tensor> out;
  ASSERT_TRUE(run_op(make_node("MatMul", {"A", "B"}, {"Y"}), 13,
                     {make_tensor<int64_t>({2, 3}, a), make_tensor<int64_t>({3, 2}, b)}, &out)
                  .ok());
  EXPECT_EQ(values_of<int64_t>(out[0]), want);
  std::vector<int32_t> a32(a.begin(), a.end()), b32(b.begin(), b.end());
  ASSERT_TRUE(run_op(make_node("MatMul", {"A", "B"}, {"Y"}), 13,
                     {make_tensor<int32_t>({2, 3}, a32), make_tensor<int32_t>({3, 2}, b32)}, &out)
                  .ok());
  EXPECT_EQ(values_of<int32_t>(out[0]), (std::vector<int32_t>{58, 64, 139, 154}));
  std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end());
  ASSERT_TRUE(run_op(make_node("MatMul", {"A", "B"}, {"Y"}), 13,
                     {make_tensor<double>({1, 2, 3}, ad), make_tensor<double>({3, 2}, bd)}, &out)
                  .ok());
  EXPECT_EQ(out[0].dims(), (Dims{1, 2, 2}));
  EXPECT_EQ(values_of<double>(out[0]), (std::vector<double>{58, 64, 139, 154}));
}

TEST(MatMul, EmptyAndErrors) {
  std::vector<Tensor> out;
  const NodeDef node = make_node("MatMul", {"A", "B"}, {"Y"});
  // K == 0: zeros.  A batch of 0: empty output.
  ASSERT_TRUE(run_op(node, 13, {make_tensor<float>({2, 0}, {}), make_tensor<float>({0, 3}, {})}, &out).ok());
  EXPECT_EQ(values_of<float>(out[0]), std::vector<float>(6, 0.f));
  ASSERT_TRUE(run_op(node, 13, {make_tensor<float>({0, 2, 4}, {}), make_tensor<float>({4, 3}, std::vector<float>(12))}, &out)
                  .ok());
  EXPECT_EQ(out[0].dims(), (Dims{0, 2, 3}));
  EXPECT_EQ(run_op(node, 13, {make_tensor<float>({2, 4}, std::vector<float>(8)), make_tensor<float>({3, 2}, std::vector<float>(6))},
                   &out)
                .code(),
            ErrorCode::kShape);
  EXPECT_EQ(run_op(node, 13,
                   {make_tensor<float>({2, 2, 4}, std::vector<float>(16)), make_tensor<float>({3, 4, 2}, std::vector<float>(24))},
                   &out)
                .code(),
            ErrorCode::kShape);
  EXPECT_EQ(run_op(node, 13, {make_tensor<float>({}, {1.f}), make_tensor<float>({1}, {1.f})}, &out).code(), ErrorCode::kShape);
  EXPECT_EQ(run_op(node, 13, {make_tensor<int8_t>({1, 1}, {1}), make_tensor<int8_t>({1, 1}, {1})}, &out).code(),
            ErrorCode::kDtype);
  EXPECT_EQ(run_op(node, 13, {make_tensor<float>({1, 1}, {1}), make_tensor<double>({1, 1}, {1})}, &out).code(),
            ErrorCode::kDtype);
}

}  // namespace
}  // namespace int8rt
