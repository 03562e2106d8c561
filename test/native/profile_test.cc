// Engine::run's StepProfiler hook: called once per executed step, in run order, with ordered steady-clock times, the
// step's MACs and its values; results are the same with and without it.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/engine.h"

namespace int8rt {
namespace {

struct Call {
  size_t step;
  int64_t begin, end;
  double macs;
  std::vector<Dims> inputs, outputs;
  std::vector<bool> input_present;
};

class RecordingProfiler : public StepProfiler {
 public:
  void on_step(size_t step, int64_t begin_ns, int64_t end_ns, double macs, const std::vector<const Tensor*>& inputs,
               const std::vector<const Tensor*>& outputs) override {
    Call c{step, begin_ns, end_ns, macs, {}, {}, {}};
    for (const Tensor* t : inputs) {
      c.input_present.push_back(t != nullptr);
      c.inputs.push_back(t ? t->dims() : Dims());
    }
    for (const Tensor* t : outputs) c.outputs.push_back(t ? t->dims() : Dims());
    calls.push_back(std::move(c));
  }
  std::vector<Call> calls;
};

ValueInfo value(const char* name, DType t, Dims dims) {
  ValueInfo v;
  v.name = name;
  v.dtype = t;
  v.has_shape = true;
  v.dims = std::move(dims);
  v.dim_params.assign(v.dims.size(), "");
  return v;
}

// x[2,3] -> Relu -> r -> Mul(r, r) -> y ; MatMul(x, W[3,4]) -> z ; Shape(x) -> s
std::shared_ptr<Engine> build_engine() {
  ModelDef m;
  m.opsets[""] = 13;
  m.inputs.push_back(value("x", DType::kFloat32, {2, 3}));
  m.outputs.push_back(value("y", DType::kFloat32, {2, 3}));
  m.outputs.push_back(value("z", DType::kFloat32, {2, 4}));
  m.outputs.push_back(value("s", DType::kInt64, {2}));
  Tensor w;
  EXPECT_TRUE(Tensor::create(DType::kFloat32, {3, 4}, &w).ok());
  for (int i = 0; i < 12; i++) w.data<float>()[i] = 0.25f * float(i - 5);
  m.initializers.emplace_back("W", w);
  auto node = [](const char* name, const char* op, std::vector<std::string> in, std::vector<std::string> out) {
    NodeDef n;
    n.name = name;
    n.op_type = op;
    n.inputs = std::move(in);
    n.outputs = std::move(out);
    return n;
  };
  m.nodes = {node("relu", "Relu", {"x"}, {"r"}), node("mul", "Mul", {"r", "r"}, {"y"}),
             node("matmul", "MatMul", {"x", "W"}, {"z"}), node("shape", "Shape", {"x"}, {"s"})};
  std::shared_ptr<Engine> engine;
  EngineOptions opts;
  opts.intra_op_threads = 1;
  Status st = Engine::build(std::move(m), opts, &engine);
  EXPECT_TRUE(st.ok()) << st.message();
  return engine;
}

TEST(EngineProfile, EveryStepOnceInRunOrderWithTimesMacsAndShapes) {
  std::shared_ptr<Engine> engine = build_engine();
  ASSERT_TRUE(engine);
  std::vector<StepSummary> steps = engine->step_summaries();
  ASSERT_EQ(steps.size(), 4u);
  std::vector<std::string> names;
  for (const auto& s : steps) names.push_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{"relu", "mul", "matmul", "shape"}));
  for (const auto& s : steps) {
    EXPECT_FALSE(s.kernel.empty()) << s.name;
    EXPECT_EQ(s.precision, Precision::kFp32);
  }

  Tensor x;
  ASSERT_TRUE(Tensor::create(DType::kFloat32, {2, 3}, &x).ok());
  const float xs[6] = {-4.f, -1.f, 0.f, 0.5f, 1.f, 3.f};
  std::memcpy(x.raw(), xs, sizeof xs);

  std::vector<Tensor> plain, profiled;
  ASSERT_TRUE(engine->run({{"x", x}}, &plain).ok());
  RecordingProfiler prof;
  for (int run = 0; run < 2; run++) ASSERT_TRUE(engine->run({{"x", x}}, &profiled, nullptr, &prof).ok());

  ASSERT_EQ(prof.calls.size(), 8u);
  for (size_t k = 0; k < prof.calls.size(); k++) {
    const Call& c = prof.calls[k];
    EXPECT_EQ(c.step, k % 4);
    EXPECT_LE(c.begin, c.end);
    if (k % 4) EXPECT_LE(prof.calls[k - 1].end, c.begin);  // steps do not overlap
  }
  const Call& mul = prof.calls[1];
  EXPECT_EQ(mul.inputs, (std::vector<Dims>{{2, 3}, {2, 3}}));
  EXPECT_EQ(mul.outputs, (std::vector<Dims>{{2, 3}}));
  EXPECT_EQ(mul.macs, 0);
  const Call& matmul = prof.calls[2];
  EXPECT_EQ(matmul.inputs, (std::vector<Dims>{{2, 3}, {3, 4}}));  // the constant weight is an input too
  EXPECT_EQ(matmul.outputs, (std::vector<Dims>{{2, 4}}));
  EXPECT_EQ(matmul.macs, 2 * 4 * 3);
  EXPECT_EQ(prof.calls[3].outputs, (std::vector<Dims>{{2}}));

  // The hook only observes: the outputs are the same bytes.
  ASSERT_EQ(plain.size(), profiled.size());
  for (size_t i = 0; i < plain.size(); i++) {
    ASSERT_EQ(plain[i].nbytes(), profiled[i].nbytes());
    EXPECT_EQ(std::memcmp(plain[i].raw(), profiled[i].raw(), plain[i].nbytes()), 0) << "output " << i;
  }
}

TEST(EngineProfile, ARefusedFeedTimesNoStep) {
  std::shared_ptr<Engine> engine = build_engine();
  ASSERT_TRUE(engine);
  Tensor bad;
  ASSERT_TRUE(Tensor::create(DType::kFloat32, {2, 2}, &bad).ok());
  RecordingProfiler prof;
  std::vector<Tensor> outs;
  Status st = engine->run({{"x", bad}}, &outs, nullptr, &prof);
  EXPECT_EQ(st.code(), ErrorCode::kShape);  // refused before any step runs
  EXPECT_TRUE(prof.calls.empty());
}

}  // namespace
}  // namespace int8rt
