// The float32 CUDA operators (ops/cuda/{eltwise,reduce,softmax,matmul}_f32.cc over kernels/cuda/
// {eltwise-f32-broadcast,reduce-f32-rows,gemm-f32-tiled}.cu), each run through its Device::kCuda registration on
// device tensors and compared with the CPU operator (testing::run_op_at) on random shapes, broadcasting and constant
// operands included, within the tolerances kernels/cuda/params.h states:
//   bit for bit   Add, Sub, Mul, Div, Max, Min, Relu, LeakyRelu, Neg, Abs, Sqrt, Reciprocal, Clip, Pow x^2 / x^0.5,
//                 ReduceMax (dims always)
//   rel 1e-5      Sigmoid, Tanh, Exp, Erf, HardSigmoid, HardSwish, Pow (general) -- plus 1e-6 absolute near 0
//   rel 1e-4      ReduceSum / ReduceMean, Softmax (plus 1e-6 absolute), MatMul / Gemm (plus 1e-5 * K absolute,
//                 for operands in [-1, 1])
// and the refusals that keep nodes on the CPU (int64 or unknown input types, axes that are not the trailing ones).
//
// Suite CudaFloat needs a device: without one (int8rt_native_tests on a machine without a GPU) every test is
// skipped; int8rt_cuda_emulated_tests runs it on the CPU emulator of the driver (fake_libcuda.cc,
// fake_cuda_float.inc), whose memcheck also catches any access outside the operands.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/op_kernel.h"
#include "cuda/driver.h"
#include "cuda/exec.h"
#include "cuda/kernels.h"
#include "cuda_op_test_util.h"
#include "op_test_util.h"

namespace int8rt {
namespace cuda {
namespace {

Tensor random_f32(std::mt19937& rng, const Dims& dims, float lo = -1.f, float hi = 1.f) {
  Tensor x;
  EXPECT_TRUE(Tensor::create(DType::kFloat32, dims, &x).ok());
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < x.numel(); i++) x.data<float>()[i] = u(rng);
  return x;
}

Tensor scalar_f32(float v, const Dims& dims = {}) {
  Tensor x;
  EXPECT_TRUE(Tensor::create(DType::kFloat32, dims, &x).ok());
  for (int64_t i = 0; i < x.numel(); i++) x.data<float>()[i] = v;
  return x;
}

// A broadcasting partner of `d`: some leading dims dropped, some dims set to 1.
Dims broadcast_partner(std::mt19937& rng, const Dims& d) {
  const size_t drop = std::uniform_int_distribution<size_t>(0, d.size())(rng);
  Dims p(d.begin() + long(drop), d.end());
  for (auto& v : p)
    if (rng() % 3 == 0) v = 1;
  return p;
}

struct Tolerance {
  double rel = 0, abs = 0;  // both 0: bit for bit (NaN matching NaN)
};

class CudaFloat : public CudaOpTest {
 protected:
  Status build(const NodeDef& node, int opset, const std::vector<Tensor>& inputs, const std::vector<bool>& constant,
               std::unique_ptr<OpKernel>* kernel, bool unknown_types = false) {
    return CudaOpTest::build(Precision::kFp32, node, opset, inputs, constant, kernel, unknown_types);
  }
  Status run_cuda(const NodeDef& node, int opset, const std::vector<Tensor>& inputs, const std::vector<bool>& constant,
                  std::vector<Tensor>* outputs) {
    return CudaOpTest::run_cuda(Precision::kFp32, node, opset, inputs, constant, outputs);
  }

  // The CUDA kernel against the CPU kernel: same dims, values within `tol`.
  void expect_close(const NodeDef& node, int opset, const std::vector<Tensor>& inputs,
                    const std::vector<bool>& constant, Tolerance tol, const std::string& what) {
    SCOPED_TRACE(node.op_type + " " + what);
    std::vector<Tensor> want, got;
    Status st = testing::run_op_at(Precision::kFp32, node, opset, inputs, &want, constant);
    ASSERT_TRUE(st.ok()) << "CPU: " << st.message();
    st = run_cuda(node, opset, inputs, constant, &got);
    ASSERT_TRUE(st.ok()) << "CUDA: " << st.message();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); i++) {
      ASSERT_EQ(dims_str(got[i].dims()), dims_str(want[i].dims()));
      ASSERT_EQ(got[i].dtype(), DType::kFloat32);
      const float* g = got[i].data<float>();
      const float* w = want[i].data<float>();
      int64_t bad = 0, first = -1;
      for (int64_t k = 0; k < want[i].numel(); k++) {
        bool ok;
        if (std::isnan(w[k]) || std::isnan(g[k])) {
          ok = std::isnan(w[k]) && std::isnan(g[k]);
        } else if (tol.rel == 0 && tol.abs == 0) {
          ok = std::memcmp(&g[k], &w[k], 4) == 0;
        } else {
          ok = g[k] == w[k] || std::fabs(double(g[k]) - double(w[k])) <= tol.rel * std::fabs(double(w[k])) + tol.abs;
        }
        if (!ok && bad++ == 0) first = k;
      }
      EXPECT_EQ(bad, 0) << "of " << want[i].numel() << " elements; first at " << first << ": got "
                        << (first >= 0 ? g[first] : 0.f) << ", want " << (first >= 0 ? w[first] : 0.f);
    }
  }

};

const Tolerance kExact{0, 0};
const Tolerance kElementwise{1e-5, 1e-6};
const Tolerance kReduction{1e-4, 1e-6};

TEST_F(CudaFloat, BinaryBroadcasting) {
  std::mt19937 rng(1);
  const char* ops[] = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Pow"};
  for (const char* op : ops) {
    for (int iter = 0; iter < 12; iter++) {
      const int rank = iter % 7;  // 0..6
      Dims a = random_dims(rng, rank, iter < 6 ? 5 : 33);
      Dims b = broadcast_partner(rng, a);
      if (iter % 2) std::swap(a, b);
      const bool pow = std::string(op) == "Pow";
      std::vector<Tensor> in = {random_f32(rng, a, pow ? 0.1f : -2.f, 2.f), random_f32(rng, b, -2.f, 2.f)};
      if (iter == 3 && !pow) in[0].data<float>()[0] = NAN;  // NaN propagation, either side
      if (iter == 4 && !pow) in[1].data<float>()[0] = NAN;
      const std::vector<bool> constant = {iter % 4 == 2, iter % 4 == 1};
      NodeDef node = testing::make_node(op, {"a", "b"}, {"y"});
      expect_close(node, 17, in, constant, pow ? kElementwise : kExact,
                   dims_str(a) + " x " + dims_str(b) + (constant[0] ? " (a constant)" : constant[1] ? " (b constant)" : ""));
    }
  }
}

TEST_F(CudaFloat, PowConstantExponents) {
  std::mt19937 rng(2);
  for (float e : {2.f, 3.f, 0.5f, -1.f, 1.7f}) {
    const Dims d = {3, 7, 19};
    std::vector<Tensor> in = {random_f32(rng, d, 0.05f, 3.f), scalar_f32(e)};
    NodeDef node = testing::make_node("Pow", {"x", "e"}, {"y"});
    expect_close(node, 17, in, {false, true}, e == 1.7f ? kElementwise : kExact, "exponent " + std::to_string(e));
    // A [1, 1] exponent broadcasting a [5] base to [1, 5]: the general path, as on the CPU.
    std::vector<Tensor> in2 = {random_f32(rng, {5}, 0.05f, 3.f), scalar_f32(e, {1, 1})};
    expect_close(node, 17, in2, {false, true}, kElementwise, "broadcast exponent " + std::to_string(e));
  }
}

TEST_F(CudaFloat, Unary) {
  std::mt19937 rng(3);
  struct Case {
    const char* op;
    Tolerance tol;
    float lo, hi;
  };
  const Case cases[] = {{"Relu", kExact, -3, 3},        {"LeakyRelu", kExact, -3, 3},  {"Neg", kExact, -3, 3},
                        {"Abs", kExact, -3, 3},         {"Sqrt", kExact, 0, 9},        {"Reciprocal", kExact, 0.1f, 4},
                        {"Sigmoid", kElementwise, -12, 12}, {"Tanh", kElementwise, -5, 5}, {"Exp", kElementwise, -20, 20},
                        {"Erf", kElementwise, -3, 3},   {"HardSigmoid", kElementwise, -6, 6},
                        {"HardSwish", kElementwise, -6, 6}};
  for (const Case& c : cases) {
    for (const Dims& d : {Dims{}, Dims{1}, Dims{257}, Dims{2, 3, 5, 7, 11}}) {
      NodeDef node = testing::make_node(c.op, {"x"}, {"y"});
      if (std::string(c.op) == "LeakyRelu") node.attrs.push_back(float_attr("alpha", 0.13f));
      if (std::string(c.op) == "HardSigmoid") {
        node.attrs.push_back(float_attr("alpha", 0.25f));
        node.attrs.push_back(float_attr("beta", 0.4f));
      }
      expect_close(node, 17, {random_f32(rng, d, c.lo, c.hi)}, {}, c.tol, dims_str(d));
    }
  }
}

TEST_F(CudaFloat, Clip) {
  std::mt19937 rng(4);
  const Dims d = {4, 33};
  // Opset 13: optional scalar inputs (absent: unbounded); opset 6: attributes.
  NodeDef both = testing::make_node("Clip", {"x", "lo", "hi"}, {"y"});
  expect_close(both, 13, {random_f32(rng, d, -3, 3), scalar_f32(-0.5f), scalar_f32(1.25f)}, {false, true, true},
               kExact, "min and max");
  NodeDef hi_only = testing::make_node("Clip", {"x", "", "hi"}, {"y"});
  expect_close(hi_only, 13, {random_f32(rng, d, -3, 3), Tensor(), scalar_f32(0.f)}, {false, true, true}, kExact,
               "max only");
  NodeDef legacy = testing::make_node("Clip", {"x"}, {"y"});
  legacy.attrs.push_back(float_attr("min", -1.f));
  legacy.attrs.push_back(float_attr("max", 2.f));
  expect_close(legacy, 6, {random_f32(rng, d, -3, 3)}, {}, kExact, "opset 6 attributes");
}

TEST_F(CudaFloat, Reductions) {
  std::mt19937 rng(5);
  struct Shape {
    Dims d;
    std::vector<int64_t> axes;  // empty: all
  };
  const Shape shapes[] = {{{2, 3, 1}, {-1}},      {{5, 255}, {-1}},       {{3, 257}, {-1}},   {{2, 1000}, {-1}},
                          {{4, 6, 7}, {-2, -1}},  {{4, 6, 7}, {-1, -2}},  {{3, 5, 9}, {}},    {{1}, {-1}},
                          {{7, 300, 2}, {-1}},    {{2, 3, 0}, {-1}}};
  for (const char* op : {"ReduceMean", "ReduceSum", "ReduceMax"}) {
    for (const Shape& s : shapes) {
      for (int keep = 0; keep <= 1; keep++) {
        // Opset 13: axes attribute (ReduceMean / ReduceMax) or input (ReduceSum).
        const bool as_input = std::string(op) == "ReduceSum" && !s.axes.empty();
        NodeDef node = testing::make_node(op, as_input ? std::vector<std::string>{"x", "axes"}
                                                       : std::vector<std::string>{"x"},
                                          {"y"});
        node.attrs.push_back(int_attr("keepdims", keep));
        std::vector<Tensor> in = {random_f32(rng, s.d, -2, 2)};
        if (!s.axes.empty() && !as_input) node.attrs.push_back(ints_attr("axes", s.axes));
        if (as_input) {
          Tensor a;
          ASSERT_TRUE(Tensor::create(DType::kInt64, {int64_t(s.axes.size())}, &a).ok());
          for (size_t i = 0; i < s.axes.size(); i++) a.data<int64_t>()[i] = s.axes[i];
          in.push_back(a);
        }
        expect_close(node, 13, in, {false, true}, std::string(op) == "ReduceMax" ? kExact : kReduction,
                     dims_str(s.d) + " keepdims " + std::to_string(keep));
      }
    }
  }
}

TEST_F(CudaFloat, Softmax) {
  std::mt19937 rng(6);
  for (const Dims& d : {Dims{1}, Dims{3, 1}, Dims{2, 5, 255}, Dims{4, 257}, Dims{2, 3, 1500}, Dims{}}) {
    NodeDef node = testing::make_node("Softmax", {"x"}, {"y"});
    expect_close(node, 13, {random_f32(rng, d, -8, 8)}, {}, kReduction, "opset 13 " + dims_str(d));
  }
  // Opset 11: the input as [prod(dims[:axis]), prod(dims[axis:])].
  for (int64_t axis : {0, 1, 2, -1}) {
    NodeDef node = testing::make_node("Softmax", {"x"}, {"y"});
    node.attrs.push_back(int_attr("axis", axis));
    expect_close(node, 11, {random_f32(rng, {3, 4, 37}, -8, 8)}, {}, kReduction, "opset 11 axis " + std::to_string(axis));
  }
  // Large values: the max shift keeps exp finite.
  NodeDef node = testing::make_node("Softmax", {"x"}, {"y"});
  expect_close(node, 13, {random_f32(rng, {3, 40}, 80, 100)}, {}, kReduction, "large");
}

TEST_F(CudaFloat, MatMul) {
  std::mt19937 rng(7);
  struct Case {
    Dims a, b;
  };
  const Case cases[] = {{{1, 1}, {1, 1}},           {{17, 33}, {33, 15}},           {{16, 16}, {16, 16}},
                        {{3, 40, 25}, {25, 31}},     {{2, 3, 9, 20}, {2, 3, 20, 7}}, {{2, 1, 9, 20}, {1, 4, 20, 7}},
                        {{5, 70}, {3, 70, 2}},       {{70}, {70, 9}},               {{4, 70}, {70}},
                        {{6, 2, 1, 3, 4}, {1, 2, 5, 4, 6}}, {{2, 8, 0}, {0, 5}},    {{0, 4}, {4, 3}}};
  for (const Case& c : cases) {
    for (int constant_b = 0; constant_b <= 1; constant_b++) {
      NodeDef node = testing::make_node("MatMul", {"a", "b"}, {"y"});
      const int64_t K = c.a.back();
      expect_close(node, 13, {random_f32(rng, c.a), random_f32(rng, c.b)}, {false, constant_b == 1},
                   Tolerance{1e-4, 1e-5 * double(std::max<int64_t>(K, 1))},
                   dims_str(c.a) + " x " + dims_str(c.b) + (constant_b ? " (B constant)" : ""));
    }
  }
}

TEST_F(CudaFloat, GemmAttributes) {
  std::mt19937 rng(8);
  const int64_t M = 19, K = 37, N = 23;
  for (int ta = 0; ta <= 1; ta++)
    for (int tb = 0; tb <= 1; tb++)
      for (int cform = 0; cform < 5; cform++) {
        NodeDef node = testing::make_node("Gemm", {"a", "b", cform == 4 ? "" : "c"}, {"y"});
        node.attrs.push_back(int_attr("transA", ta));
        node.attrs.push_back(int_attr("transB", tb));
        node.attrs.push_back(float_attr("alpha", cform == 2 ? 1.f : 0.75f));
        node.attrs.push_back(float_attr("beta", cform == 3 ? 0.f : -1.5f));
        const Dims cd = cform == 0 ? Dims{M, N} : cform == 1 ? Dims{N} : cform == 2 ? Dims{M, 1} : Dims{1, 1};
        std::vector<Tensor> in = {random_f32(rng, ta ? Dims{K, M} : Dims{M, K}),
                                  random_f32(rng, tb ? Dims{N, K} : Dims{K, N}), random_f32(rng, cd)};
        expect_close(node, 13, in, {false, cform % 2 == 1, cform < 3}, Tolerance{1e-4, 1e-5 * K},
                     "transA " + std::to_string(ta) + " transB " + std::to_string(tb) + " C " + dims_str(cd));
      }
}

TEST_F(CudaFloat, FusedClampOnMatMul) {
  std::mt19937 rng(9);
  NodeDef node = testing::make_node("MatMul", {"a", "b"}, {"y"});
  node.attrs.push_back(Attribute());
  node.attrs.back().name = "__activation";
  node.attrs.back().type = Attribute::Type::kString;
  node.attrs.back().s = "Relu";
  expect_close(node, 13, {random_f32(rng, {9, 21}), random_f32(rng, {21, 18})}, {false, true}, Tolerance{1e-4, 1e-4},
               "Relu");
}

// What stays on the CPU: the factories answer kUnsupported (the engine then places the node on the CPU).
TEST_F(CudaFloat, RefusesWhatTheCpuKeeps) {
  std::mt19937 rng(10);
  auto refused = [&](const NodeDef& node, int opset, const std::vector<Tensor>& in, const std::vector<bool>& constant,
                     bool unknown_types = false) {
    std::unique_ptr<OpKernel> k;
    Status st = build(node, opset, in, constant, &k, unknown_types);
    EXPECT_EQ(st.code(), ErrorCode::kUnsupported) << node.op_type << ": " << st.message();
  };
  Tensor i64;
  ASSERT_TRUE(Tensor::create(DType::kInt64, {4}, &i64).ok());
  for (int64_t i = 0; i < 4; i++) i64.data<int64_t>()[i] = i;
  // Shape arithmetic on int64, as activations and as constants.
  refused(testing::make_node("Mul", {"a", "b"}, {"y"}), 17, {i64, i64}, {});
  refused(testing::make_node("Add", {"a", "b"}, {"y"}), 17, {random_f32(rng, {4}), i64}, {false, true});
  // Inputs whose type the build does not know.
  refused(testing::make_node("Add", {"a", "b"}, {"y"}), 17, {random_f32(rng, {4}), random_f32(rng, {4})}, {},
          true);
  refused(testing::make_node("Relu", {"x"}, {"y"}), 17, {random_f32(rng, {4})}, {}, true);
  // Axes that are not the trailing ones whatever the rank.
  NodeDef mean = testing::make_node("ReduceMean", {"x"}, {"y"});
  mean.attrs.push_back(ints_attr("axes", {1}));
  refused(mean, 13, {random_f32(rng, {2, 3})}, {});
  NodeDef soft = testing::make_node("Softmax", {"x"}, {"y"});
  soft.attrs.push_back(int_attr("axis", 1));
  refused(soft, 13, {random_f32(rng, {2, 3})}, {});
  // Max of three inputs.
  refused(testing::make_node("Max", {"a", "b", "c"}, {"y"}), 17,
          {random_f32(rng, {4}), random_f32(rng, {4}), random_f32(rng, {4})}, {});
}

// Shape errors are the CPU's (kShape, naming the node).
TEST_F(CudaFloat, ShapeErrorsMatchTheCpu) {
  std::mt19937 rng(11);
  NodeDef add = testing::make_node("Add", {"a", "b"}, {"y"});
  std::vector<Tensor> bad = {random_f32(rng, {3, 4}), random_f32(rng, {5})};
  std::vector<Tensor> out;
  Status cpu = testing::run_op_at(Precision::kFp32, add, 17, bad, &out);
  Status gpu = run_cuda(add, 17, bad, {}, &out);
  EXPECT_EQ(cpu.code(), ErrorCode::kShape);
  EXPECT_EQ(gpu.code(), cpu.code());
  EXPECT_EQ(gpu.message(), cpu.message());
  NodeDef mm = testing::make_node("MatMul", {"a", "b"}, {"y"});
  bad = {random_f32(rng, {3, 4}), random_f32(rng, {5, 2})};
  cpu = testing::run_op_at(Precision::kFp32, mm, 13, bad, &out);
  gpu = run_cuda(mm, 13, bad, {}, &out);
  EXPECT_EQ(cpu.code(), ErrorCode::kShape);
  EXPECT_EQ(gpu.code(), cpu.code());
  EXPECT_EQ(gpu.message(), cpu.message());
}

}  // namespace
}  // namespace cuda
}  // namespace int8rt
