// Engine memory: after build the engine frees every constant that no kernel reads at run time (weights packed or
// quantized at build, pre-scaled biases) and Engine::memory() accounts for what it keeps. Checked on one small graph
// that has every kind of constant reader (packed Conv/ConvTranspose/Gemm/MatMul weights, a depthwise Conv that reads
// its weights, a constant read both by a packing MatMul and by an Add, a constant shared by two Gemms, a constant
// that is also a graph output), at every precision: the outputs are bit for bit those of an engine that keeps all
// its constants, the MAC count is unchanged, and exactly the expected constants are freed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/engine.h"

namespace int8rt {
namespace {

ValueInfo value(const std::string& name, Dims dims) {
  ValueInfo v;
  v.name = name;
  v.dtype = DType::kFloat32;
  v.has_shape = true;
  v.dims = std::move(dims);
  v.dim_params.assign(v.dims.size(), "");
  return v;
}

Tensor random_tensor(const Dims& dims, float scale, std::mt19937* rng) {
  Tensor t;
  EXPECT_TRUE(Tensor::create(DType::kFloat32, dims, &t).ok());
  std::uniform_real_distribution<float> u(-scale, scale);
  for (int64_t i = 0; i < t.numel(); i++) t.data<float>()[i] = u(*rng);
  return t;
}

NodeDef node(const std::string& name, const std::string& op, std::vector<std::string> in,
             std::vector<std::string> out) {
  NodeDef n;
  n.name = name;
  n.op_type = op;
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  return n;
}

Attribute ints(const std::string& name, std::vector<int64_t> v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kInts;
  a.ints = std::move(v);
  return a;
}

Attribute one_int(const std::string& name, int64_t v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kInt;
  a.i = v;
  return a;
}

// x[1,4,9,9] -> Conv 3x3 (W1, B1) -> Relu -> depthwise Conv 3x3 (W2, B2) -> Conv 1x1 (W3) -> c3
//   c3 -> ConvTranspose 2x2/2 (WT) -> t                                                    [output]
//   c3 -> GlobalAveragePool -> Flatten -> f[1,6]
//   f -> Gemm (WG, CG) -> h ; f -> Gemm (WG) -> h2                                          [h2 output]
//   h -> MatMul (S) -> m ; Add(m, S) -> a ; a -> MatMul (T) -> y2                           [a, y2 output]
//   T                                                                                       [output]
struct TestModel {
  ModelDef model;
  std::map<std::string, size_t> bytes;  // initializer name -> bytes
};

TestModel make_model() {
  std::mt19937 rng(7);
  TestModel tm;
  ModelDef& m = tm.model;
  m.opsets[""] = 13;
  m.inputs.push_back(value("x", {1, 4, 9, 9}));
  auto init = [&](const std::string& name, Dims dims, float scale) {
    Tensor t = random_tensor(dims, scale, &rng);
    tm.bytes[name] = t.nbytes();
    m.initializers.emplace_back(name, t);
  };
  init("W1", {8, 4, 3, 3}, 0.3f);
  init("B1", {8}, 0.1f);
  init("W2", {8, 1, 3, 3}, 0.3f);
  init("B2", {8}, 0.1f);
  init("W3", {6, 8, 1, 1}, 0.4f);
  init("WT", {6, 2, 2, 2}, 0.4f);
  init("WG", {6, 5}, 0.5f);
  init("CG", {5}, 0.1f);
  init("S", {5, 5}, 0.5f);
  init("T", {5, 3}, 0.5f);

  NodeDef conv1 = node("conv1", "Conv", {"x", "W1", "B1"}, {"c1"});
  conv1.attrs = {ints("pads", {1, 1, 1, 1})};
  NodeDef dw = node("dw", "Conv", {"r1", "W2", "B2"}, {"c2"});
  dw.attrs = {ints("pads", {1, 1, 1, 1}), one_int("group", 8)};
  NodeDef ct = node("ct", "ConvTranspose", {"c3", "WT"}, {"t"});
  ct.attrs = {ints("strides", {2, 2})};
  NodeDef flat = node("flat", "Flatten", {"g"}, {"f"});
  m.nodes = {conv1,
             node("relu1", "Relu", {"c1"}, {"r1"}),
             dw,
             node("pw", "Conv", {"c2", "W3"}, {"c3"}),
             ct,
             node("gap", "GlobalAveragePool", {"c3"}, {"g"}),
             flat,
             node("gemm", "Gemm", {"f", "WG", "CG"}, {"h"}),
             node("gemm2", "Gemm", {"f", "WG"}, {"h2"}),
             node("mm", "MatMul", {"h", "S"}, {"m"}),
             node("add", "Add", {"m", "S"}, {"a"}),
             node("mm2", "MatMul", {"a", "T"}, {"y2"})};
  m.outputs = {value("t", {1, 2, 18, 18}), value("h2", {1, 5}), value("a", {5, 5}), value("y2", {5, 3}),
               value("T", {5, 3})};
  return tm;
}

// Largest |x| of every float value a run produces: a min-max calibration for the int8 engines.
class AbsMax : public RunObserver {
 public:
  void on_value(const std::string& name, const Tensor& t) override {
    float& a = amax[name];
    for (int64_t i = 0; i < t.numel(); i++) a = std::max(a, std::fabs(t.data<float>()[i]));
  }
  std::map<std::string, float> amax;
};

enum class Mode { kFp32, kFp16, kInt8Dynamic, kInt8 };

struct Built {
  std::shared_ptr<Engine> engine;
  std::vector<Tensor> outputs;
  double macs = 0;
};

Built build_and_run(Mode mode, bool release, const Tensor& x, const std::map<std::string, float>& amax) {
  Built b;
  EngineOptions opts;
  opts.intra_op_threads = 2;
  opts.release_constants = release;
  opts.fp16_weights = mode == Mode::kFp16;
  if (mode == Mode::kInt8Dynamic || mode == Mode::kInt8) opts.precision = Precision::kInt8;
  opts.dynamic_int8 = mode == Mode::kInt8Dynamic;
  if (mode == Mode::kInt8) opts.quant.amax = amax;
  Status st = Engine::build(make_model().model, opts, &b.engine);
  EXPECT_TRUE(st.ok()) << st.message();
  if (!st.ok()) return b;
  st = b.engine->run({{"x", x}}, &b.outputs);
  EXPECT_TRUE(st.ok()) << st.message();
  double int8 = 0;
  b.engine->macs(&b.macs, &int8);
  return b;
}

size_t sum_bytes(const TestModel& tm, const std::vector<std::string>& names) {
  size_t n = 0;
  for (const auto& s : names) n += tm.bytes.at(s);
  return n;
}

class EngineMemoryTest : public ::testing::TestWithParam<Mode> {};

TEST_P(EngineMemoryTest, FreesExactlyTheUnreadConstantsAndKeepsOutputs) {
  const Mode mode = GetParam();
  const TestModel tm = make_model();
  std::mt19937 rng(11);
  const Tensor x = random_tensor({1, 4, 9, 9}, 1.f, &rng);

  std::map<std::string, float> amax;
  if (mode == Mode::kInt8) {
    AbsMax obs;
    std::vector<Tensor> outs;
    EngineOptions opts;
    opts.fuse_epilogues = false;  // every ONNX tensor observable, as calibrate() does
    std::shared_ptr<Engine> cal;
    ASSERT_TRUE(Engine::build(make_model().model, opts, &cal).ok());
    ASSERT_TRUE(cal->run({{"x", x}}, &outs, &obs).ok());
    amax = obs.amax;
  }

  Built keep = build_and_run(mode, false, x, amax);
  Built freed = build_and_run(mode, true, x, amax);
  ASSERT_TRUE(keep.engine && freed.engine);

  // The same kernels on the same packed weights: identical bits, identical MACs (weight dims survive the release).
  ASSERT_EQ(keep.outputs.size(), freed.outputs.size());
  for (size_t i = 0; i < keep.outputs.size(); i++) {
    ASSERT_EQ(keep.outputs[i].dims(), freed.outputs[i].dims()) << "output " << i;
    ASSERT_EQ(keep.outputs[i].nbytes(), freed.outputs[i].nbytes());
    EXPECT_EQ(std::memcmp(keep.outputs[i].raw(), freed.outputs[i].raw(), keep.outputs[i].nbytes()), 0)
        << "output " << i;
  }
  EXPECT_GT(keep.macs, 0);
  EXPECT_EQ(keep.macs, freed.macs);
  // The constant output T comes back with its values.
  EXPECT_EQ(std::memcmp(freed.outputs[4].raw(), tm.model.initializers.back().second.raw(), tm.bytes.at("T")), 0);

  // The int8 plans do what the expectations below assume.
  if (mode == Mode::kInt8 || mode == Mode::kInt8Dynamic) {
    std::map<std::string, std::string> precision;
    for (const NodeReport& r : freed.engine->report()) precision[r.name] = r.precision;
    for (const char* n : {"conv1", "dw", "pw", "gemm", "gemm2", "mm", "mm2"}) EXPECT_EQ(precision[n], "int8") << n;
    EXPECT_EQ(precision["ct"], "fp32");
  }

  const EngineMemory& k = keep.engine->memory();
  const EngineMemory& f = freed.engine->memory();
  EXPECT_EQ(k.released, 0u);
  EXPECT_EQ(k.packed, f.packed);
  EXPECT_GT(f.packed, 0u);
  EXPECT_EQ(f.constants + f.released, k.constants);
  EXPECT_EQ(f.weights(), f.constants + f.packed);

  // What stays: S (read by the Add), T (a graph output), and per precision what a kernel reads as it is.
  std::vector<std::string> kept;
  switch (mode) {
    case Mode::kFp32:
    case Mode::kFp16:  // float biases are read as they are; depthwise weights are not packed
      kept = {"B1", "W2", "B2", "S", "T"};
      break;
    case Mode::kInt8Dynamic:  // every Conv is int8 (depthwise included); the ConvTranspose stays fp32, packed
      kept = {"S", "T"};
      break;
    case Mode::kInt8:  // the Add may quantize S once for itself: S is then read by nobody but packing kernels
      EXPECT_LE(f.constants, sum_bytes(tm, {"S", "T"}) + 256) << "int8 engine keeps more constants than S and T";
      EXPECT_GE(f.released, sum_bytes(tm, {"W1", "B1", "W2", "B2", "W3", "WT", "WG", "CG"}));
      return;
  }
  const size_t kept_bytes = sum_bytes(tm, kept);
  size_t all = 0;
  for (const auto& kv : tm.bytes) all += kv.second;
  EXPECT_EQ(f.constants, kept_bytes);
  EXPECT_EQ(f.released, all - kept_bytes);
  EXPECT_EQ(k.constants, all);

  // Packed weights: half-width panels for fp16 (the Gemm's pre-scaled C and the padding keep it a bit above half).
  if (mode == Mode::kFp16) {
    Built fp32 = build_and_run(Mode::kFp32, true, x, {});
    ASSERT_TRUE(fp32.engine);
    EXPECT_LT(double(f.packed), 0.6 * double(fp32.engine->memory().packed));
  }
}

INSTANTIATE_TEST_SUITE_P(Precisions, EngineMemoryTest,
                         ::testing::Values(Mode::kFp32, Mode::kFp16, Mode::kInt8Dynamic, Mode::kInt8),
                         [](const ::testing::TestParamInfo<Mode>& p) {
                           switch (p.param) {
                             case Mode::kFp32: return std::string("fp32");
                             case Mode::kFp16: return std::string("fp16");
                             case Mode::kInt8Dynamic: return std::string("int8_dynamic");
                             default: return std::string("int8");
                           }
                         });

}  // namespace
}  // namespace int8rt
