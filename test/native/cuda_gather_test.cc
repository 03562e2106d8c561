// The CUDA data-movement operators (ops/cuda/movement.cc over kernels/cuda/gather-axes.cu): Transpose, Slice,
// Concat and Resize / Upsample nearest, fp32 precision (several element types) and int8, each run through its
// Device::kCuda registration on device tensors and compared with the CPU operator (testing::run_op_at) bit for bit,
// dims included, on random shapes: ranks 1..6, unit axes, negative and oversized steps, empty slices and inputs,
// Concat of many inputs with different int8 scales, the Resize coordinate and rounding modes.
//
// Suite CudaGather needs a device: without one (int8rt_native_tests on a machine without a GPU) every test is
// skipped; int8rt_cuda_emulated_tests runs it on the CPU emulator of the driver (fake_libcuda.cc,
// fake_cuda_gather.inc), whose memcheck also catches any access outside the tensors, the tables and the outputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
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

// A tensor of random bytes (any element type: data movement never interprets them; float NaN payloads included).
Tensor random_tensor(std::mt19937& rng, DType t, const Dims& dims) {
  Tensor x;
  EXPECT_TRUE(Tensor::create(t, dims, &x).ok());
  unsigned char* p = static_cast<unsigned char*>(x.raw());
  for (size_t i = 0; i < x.nbytes(); i++) p[i] = static_cast<unsigned char>(rng());
  return x;
}

class CudaGather : public CudaOpTest {
 protected:
  // The CUDA kernel against the CPU kernel of the same precision: same dims, same bytes.
  void expect_same(Precision prec, const NodeDef& node, int opset, const std::vector<Tensor>& inputs,
                   const std::vector<bool>& constant = {}) {
    std::vector<Tensor> want, got;
    Status st = testing::run_op_at(prec, node, opset, inputs, &want, constant);
    ASSERT_TRUE(st.ok()) << "CPU: " << st.message();
    st = run_cuda(prec, node, opset, inputs, constant, &got);
    ASSERT_TRUE(st.ok()) << "CUDA: " << st.message();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); i++) {
      ASSERT_EQ(dims_str(got[i].dims()), dims_str(want[i].dims()));
      ASSERT_EQ(got[i].dtype(), want[i].dtype());
      ASSERT_EQ(got[i].nbytes(), want[i].nbytes());
      if (want[i].nbytes()) {
        const unsigned char* g = static_cast<const unsigned char*>(got[i].raw());
        const unsigned char* w = static_cast<const unsigned char*>(want[i].raw());
        size_t bad = 0, first = 0;
        for (size_t k = 0; k < want[i].nbytes(); k++)
          if (g[k] != w[k] && bad++ == 0) first = k;
        EXPECT_EQ(bad, 0u) << "bytes differ, first at " << first;
      }
    }
  }

};

// Precision and element type pairs: fp32-precision kernels move any element size, int8 ones take int8.
struct Flavour {
  Precision prec;
  DType dtype;
};
const Flavour kFlavours[] = {{Precision::kFp32, DType::kFloat32},
                             {Precision::kFp32, DType::kUint16},
                             {Precision::kFp32, DType::kInt64},
                             {Precision::kFp32, DType::kUint8},
                             {Precision::kInt8, DType::kInt8}};

// Int8 nodes carry their scales as the planner writes them (quant/qnode.h).
void add_scales(NodeDef* n, std::vector<float> in, std::vector<float> out) {
  n->attrs.push_back(floats_attr("__in_scales", in));
  n->attrs.push_back(floats_attr("__out_scales", out));
}

TEST_F(CudaGather, TransposeRandomShapes) {
  std::mt19937 rng(7001);
  int cases = 0;
  for (const Flavour& f : kFlavours)
    for (int rank = 1; rank <= 6; rank++)
      for (int rep = 0; rep < 3; rep++) {
        const Dims d = random_dims(rng, rank, rank >= 5 ? 4 : 7);
        std::vector<int64_t> perm(static_cast<size_t>(rank));
        for (int i = 0; i < rank; i++) perm[size_t(i)] = i;
        std::shuffle(perm.begin(), perm.end(), rng);
        NodeDef n = testing::make_node("Transpose", {"x"}, {"y"});
        if (rep != 2) n.attrs.push_back(ints_attr("perm", perm));  // rep 2: the default, axes reversed
        if (f.prec == Precision::kInt8) add_scales(&n, {0.05f}, {0.05f});
        SCOPED_TRACE(dims_str(d) + " perm " + (rep != 2 ? dims_str(perm) : "reversed") + " " + dtype_name(f.dtype));
        expect_same(f.prec, n, 13, {random_tensor(rng, f.dtype, d)});
        cases++;
      }
  // Rank 8 with unit axes and merged runs (within the kernel's six axes after coalescing), and an empty tensor.
  NodeDef n = testing::make_node("Transpose", {"x"}, {"y"});
  n.attrs.push_back(ints_attr("perm", {0, 1, 2, 7, 3, 4, 5, 6}));
  expect_same(Precision::kFp32, n, 13, {random_tensor(rng, DType::kFloat32, {1, 2, 3, 4, 1, 5, 1, 3})});
  NodeDef e = testing::make_node("Transpose", {"x"}, {"y"});
  expect_same(Precision::kFp32, e, 13, {random_tensor(rng, DType::kFloat32, {3, 0, 2})});
  EXPECT_EQ(cases, 5 * 6 * 3);
}

TEST_F(CudaGather, SliceStepsAndEdges) {
  std::mt19937 rng(7002);
  auto i64 = [](std::vector<int64_t> v) { return testing::make_tensor<int64_t>({int64_t(v.size())}, v); };
  for (const Flavour& f : kFlavours)
    for (int rank = 1; rank <= 6; rank++)
      for (int rep = 0; rep < 4; rep++) {
        const Dims d = random_dims(rng, rank, rank >= 5 ? 5 : 9);
        std::vector<int64_t> starts, ends, axes, steps;
        for (int a = 0; a < rank; a++) {
          if (rng() % 3 == 0) continue;  // a whole axis
          const int64_t dim = d[size_t(a)];
          std::uniform_int_distribution<int64_t> pos(-dim - 2, dim + 2);
          int64_t step = std::uniform_int_distribution<int64_t>(-3, 3)(rng);
          if (step == 0) step = rng() % 2 ? dim + 5 : -dim - 5;  // beyond the axis: one element
          axes.push_back(rng() % 2 ? a : a - rank);
          starts.push_back(rep == 3 ? (step > 0 ? 0 : -1) : pos(rng));
          ends.push_back(rep == 3 ? (step > 0 ? INT64_MAX : INT64_MIN) : pos(rng));
          steps.push_back(step);
        }
        NodeDef n = testing::make_node("Slice", {"x", "s", "e", "a", "st"}, {"y"});
        if (f.prec == Precision::kInt8) add_scales(&n, {0.1f, 1.f, 1.f, 1.f, 1.f}, {0.1f});
        SCOPED_TRACE(dims_str(d) + " starts " + dims_str(starts) + " ends " + dims_str(ends) + " axes " +
                     dims_str(axes) + " steps " + dims_str(steps) + " " + dtype_name(f.dtype));
        expect_same(f.prec, n, 13, {random_tensor(rng, f.dtype, d), i64(starts), i64(ends), i64(axes), i64(steps)},
                    {false, true, true, true, true});
      }
  // Opset 9: attributes; an empty result; a contiguous slice (returned as a view of the input at an offset).
  NodeDef a = testing::make_node("Slice", {"x"}, {"y"});
  a.attrs.push_back(ints_attr("starts", {1, 0}));
  a.attrs.push_back(ints_attr("ends", {3, 100}));
  expect_same(Precision::kFp32, a, 9, {random_tensor(rng, DType::kFloat32, {4, 5, 6})});
  NodeDef e = testing::make_node("Slice", {"x", "s", "e"}, {"y"});
  expect_same(Precision::kFp32, e, 13, {random_tensor(rng, DType::kFloat32, {4, 5}), i64({2, 1}), i64({2, 4})},
              {false, true, true});
}

TEST_F(CudaGather, SliceNeedsConstantBounds) {
  NodeDef n = testing::make_node("Slice", {"x", "s", "e"}, {"y"});
  std::vector<Tensor> out;
  std::mt19937 rng(7003);
  const std::vector<Tensor> in = {random_tensor(rng, DType::kFloat32, {4, 5}),
                                  testing::make_tensor<int64_t>({1}, {1}), testing::make_tensor<int64_t>({1}, {3})};
  Status st = run_cuda(Precision::kFp32, n, 13, in, {false, false, true}, &out);
  EXPECT_EQ(st.code(), ErrorCode::kUnsupported) << st.message();
  EXPECT_NE(st.message().find("needs input 1 to be a constant"), std::string::npos) << st.message();
}

TEST_F(CudaGather, ConcatManyInputsAndScales) {
  std::mt19937 rng(7004);
  for (const Flavour& f : kFlavours)
    for (int rank = 1; rank <= 6; rank++)
      for (int rep = 0; rep < 3; rep++) {
        Dims d = random_dims(rng, rank, rank >= 5 ? 4 : 6);
        const int64_t axis = std::uniform_int_distribution<int64_t>(-rank, rank - 1)(rng);
        const size_t a = size_t(axis < 0 ? axis + rank : axis);
        const int count = 1 + int(rng() % 6);
        std::vector<Tensor> in;
        std::vector<std::string> names;
        std::vector<float> scales;
        for (int i = 0; i < count; i++) {
          Dims di = d;
          di[a] = std::uniform_int_distribution<int64_t>(0, 4)(rng);  // empty inputs too
          in.push_back(random_tensor(rng, f.dtype, di));
          names.push_back("x" + std::to_string(i));
          // Some inputs at the output scale (copied), the others requantized up or down (saturating).
          scales.push_back(i % 3 == 0 ? 0.02f : 0.02f * std::uniform_real_distribution<float>(0.3f, 3.f)(rng));
        }
        NodeDef n = testing::make_node("Concat", names, {"y"});
        n.set_attr_int("axis", axis);
        if (f.prec == Precision::kInt8) add_scales(&n, scales, {0.02f});
        SCOPED_TRACE(dims_str(d) + " axis " + std::to_string(axis) + " inputs " + std::to_string(count) + " " +
                     dtype_name(f.dtype));
        expect_same(f.prec, n, 13, in);
      }
}

TEST_F(CudaGather, ResizeNearestModes) {
  std::mt19937 rng(7005);
  const char* coords[] = {"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel", "tf_half_pixel_for_nn"};
  const char* rounding[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
  int cases = 0;
  for (Precision prec : {Precision::kFp32, Precision::kInt8})
    for (const char* c : coords)
      for (const char* r : rounding) {
        const DType t = prec == Precision::kInt8 ? DType::kInt8 : DType::kFloat32;
        const int opset = std::string(c) == "tf_half_pixel_for_nn" ? 11 : 13;
        const bool by_sizes = rng() % 2;
        const Dims d = {1 + int64_t(rng() % 2), 1 + int64_t(rng() % 3), 1 + int64_t(rng() % 7), 1 + int64_t(rng() % 9)};
        NodeDef n = testing::make_node("Resize", {"x", "roi", "scales", "sizes"}, {"y"});
        n.attrs.push_back(string_attr("mode", "nearest"));
        n.attrs.push_back(string_attr("coordinate_transformation_mode", c));
        n.attrs.push_back(string_attr("nearest_mode", r));
        if (prec == Precision::kInt8) add_scales(&n, {0.3f, 1.f, 1.f, 1.f}, {0.3f});
        std::vector<Tensor> in = {random_tensor(rng, t, d), testing::make_tensor<float>({0}, {})};
        if (by_sizes) {
          const std::vector<int64_t> sz = {d[0], d[1], 1 + int64_t(rng() % 13), 1 + int64_t(rng() % 17)};
          in.push_back(testing::make_tensor<float>({0}, {}));
          in.push_back(testing::make_tensor<int64_t>({4}, sz));
        } else {
          const float choices[] = {0.5f, 0.75f, 1.f, 1.5f, 2.f, 3.f, 1.7f};
          const std::vector<float> s = {1.f, 1.f, choices[rng() % 7], choices[rng() % 7]};
          in.push_back(testing::make_tensor<float>({4}, s));
          n.inputs.pop_back();
        }
        SCOPED_TRACE(std::string(c) + " " + r + " " + dims_str(d) + (by_sizes ? " sizes " : " scales ") +
                     dims_str(in.back().dims()) + " " + precision_name(prec));
        std::vector<bool> constant(in.size(), true);
        constant[0] = false;
        expect_same(prec, n, opset, in, constant);
        cases++;
      }
  EXPECT_EQ(cases, 2 * 5 * 4);
  // Upsample (opset 9, scales input) and an identity Resize (the input itself comes back).
  NodeDef u = testing::make_node("Upsample", {"x", "scales"}, {"y"});
  expect_same(Precision::kFp32, u, 9,
              {random_tensor(rng, DType::kFloat32, {1, 2, 3, 4}), testing::make_tensor<float>({4}, {1, 1, 2, 2.5f})},
              {false, true});
  NodeDef id = testing::make_node("Resize", {"x", "", "scales"}, {"y"});
  expect_same(Precision::kFp32, id, 13,
              {random_tensor(rng, DType::kFloat32, {1, 2, 3, 4}), Tensor(),
               testing::make_tensor<float>({4}, {1, 1, 1, 1})},
              {false, false, true});
}

TEST_F(CudaGather, LaunchRefusesBadParameters) {
  GatherAxesParams p;
  std::memset(&p, 0, sizeof(p));
  p.n = 6;
  p.rank = 7;
  EXPECT_EQ(launch_gather_axes(*dev_, run_->stream(), 1, false, p).code(), ErrorCode::kInvalidArgument);
  p.rank = 2;
  p.dims[0] = 2;
  p.dims[1] = 3;
  p.x = p.y = p.tables = 256;
  EXPECT_EQ(launch_gather_axes(*dev_, run_->stream(), 3, false, p).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(launch_gather_axes(*dev_, run_->stream(), 4, true, p).code(), ErrorCode::kInvalidArgument);
  p.dims[1] = 4;  // product 8 != n
  EXPECT_EQ(launch_gather_axes(*dev_, run_->stream(), 1, false, p).code(), ErrorCode::kInvalidArgument);
  p.dims[1] = 3;
  p.x = 257;  // misaligned for 4-byte elements
  EXPECT_EQ(launch_gather_axes(*dev_, run_->stream(), 4, false, p).code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace cuda
}  // namespace int8rt
