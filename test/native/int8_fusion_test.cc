// What the int8 planner fuses before it plans (quant/quantize_pass.h): Conv -> constant Mul/Add/Sub/Div folded into
// the Conv (fold_conv_affine), and chains of elementwise nodes y = f(x) found (find_unary_chains), evaluated
// (evaluate_unary_chain) and run as one int8 table (int8rt.LookupTable). Checked on PassStates built here and end to
// end through Engine::build: the folded Conv computes what the unfolded nodes compute, a fused chain's int8 output is
// f of the int8 input quantized exactly once, a chain whose input is not int8 is planned node by node, a chain with a
// node pinned to fp32 is not fused, and the report names the host of every fused node.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/passes.h"
#include "op_test_util.h"
#include "quant/qnode.h"

namespace int8rt {
namespace {

using testing::make_tensor;
using testing::values_of;

Tensor random_tensor(const Dims& dims, float lo, float hi, std::mt19937* rng) {
  Tensor t;
  EXPECT_TRUE(Tensor::create(DType::kFloat32, dims, &t).ok());
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < t.numel(); i++) t.data<float>()[i] = u(*rng);
  return t;
}

Tensor scalar(float v, Dims dims = {}) { return make_tensor<float>(dims, {v}); }

NodeDef node(const std::string& name, const std::string& op, std::vector<std::string> in,
             std::vector<std::string> out) {
  NodeDef n;
  n.name = name;
  n.op_type = op;
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  return n;
}

ValueInfo value(const std::string& name, Dims dims) {
  ValueInfo v;
  v.name = name;
  v.dtype = DType::kFloat32;
  v.has_shape = true;
  v.dims = std::move(dims);
  v.dim_params.assign(v.dims.size(), "");
  return v;
}

Attribute ints_attr(const std::string& name, std::vector<int64_t> v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kInts;
  a.ints = std::move(v);
  return a;
}

// Hard-swish as PaddleOCR's exporter writes it, then a learnable affine step: y = w0 * (x * Clip(x + 3, 0, 6) / 6) + w1.
// Node names are prefix + "add3", "clip", "mul", "div", "w0", "w1"; constants prefix + "c3", "c0", "c6", "c1_6",
// "cw0", "cw1" go into `constants`.
std::vector<NodeDef> hardswish_affine(const std::string& p, const std::string& x, const std::string& y,
                                      std::map<std::string, Tensor>* constants, float w0 = 0.75f, float w1 = -0.4f) {
  (*constants)[p + "c3"] = scalar(3.f, {1});
  (*constants)[p + "c0"] = scalar(0.f);
  (*constants)[p + "c6"] = scalar(6.f);
  (*constants)[p + "c1_6"] = scalar(6.f);
  (*constants)[p + "cw0"] = scalar(w0, {1});
  (*constants)[p + "cw1"] = scalar(w1, {1});
  return {node(p + "add3", "Add", {x, p + "c3"}, {p + "a"}),
          node(p + "clip", "Clip", {p + "a", p + "c0", p + "c6"}, {p + "c"}),
          node(p + "mul", "Mul", {x, p + "c"}, {p + "m"}),
          node(p + "div", "Div", {p + "m", p + "c1_6"}, {p + "h"}),
          node(p + "w0", "Mul", {p + "cw0", p + "h"}, {p + "s"}),
          node(p + "w1", "Add", {p + "s", p + "cw1"}, {y})};
}

float hardswish_affine_ref(float x, float w0 = 0.75f, float w1 = -0.4f) {
  const float c = std::min(std::max(x + 3.f, 0.f), 6.f);
  return w0 * (x * c / 6.f) + w1;
}

PassState pass_state(std::vector<NodeDef> nodes, std::map<std::string, Tensor> constants,
                     std::set<std::string> outputs) {
  PassState g;
  g.nodes = std::move(nodes);
  g.constants = std::move(constants);
  g.graph_outputs = std::move(outputs);
  g.opset = 13;
  return g;
}

// ---------------------------------------------------------------------------------------------------------------
// fold_conv_affine

TEST(FoldConvAffine, FoldsPerChannelAndScalarSteps) {
  std::mt19937 rng(3);
  std::map<std::string, Tensor> c;
  c["W"] = random_tensor({4, 3, 3, 3}, -1.f, 1.f, &rng);
  c["B"] = random_tensor({4}, -1.f, 1.f, &rng);
  c["m"] = make_tensor<float>({1, 4, 1, 1}, {0.5f, -2.f, 1.5f, 0.25f});
  c["a"] = scalar(0.3f, {1});
  c["s"] = make_tensor<float>({4, 1, 1}, {1.f, 2.f, 3.f, 4.f});
  c["d"] = scalar(4.f);
  PassState g = pass_state({node("conv", "Conv", {"x", "W", "B"}, {"y0"}), node("mul", "Mul", {"m", "y0"}, {"y1"}),
                            node("add", "Add", {"y1", "a"}, {"y2"}), node("sub", "Sub", {"y2", "s"}, {"y3"}),
                            node("div", "Div", {"y3", "d"}, {"y"})},
                           c, {"y"});
  ASSERT_TRUE(fold_conv_affine(g).ok());
  ASSERT_EQ(g.nodes.size(), 1u);
  const NodeDef& conv = g.nodes[0];
  EXPECT_EQ(conv.name, "conv");
  EXPECT_EQ(conv.outputs, std::vector<std::string>{"y"});
  EXPECT_EQ(conv.fused_from, (std::vector<std::string>{"conv", "mul", "add", "sub", "div"}));
  for (const char* n : {"mul", "add", "sub", "div"}) {
    ASSERT_TRUE(g.fates.count(n)) << n;
    EXPECT_EQ(g.fates[n].fused_into, "conv");
  }
  const std::vector<float> W = values_of<float>(c["W"]), B = values_of<float>(c["B"]);
  const std::vector<float> W2 = values_of<float>(g.constants.at(conv.inputs[1]));
  const std::vector<float> B2 = values_of<float>(g.constants.at(conv.inputs[2]));
  const float m[4] = {0.5f, -2.f, 1.5f, 0.25f}, s[4] = {1.f, 2.f, 3.f, 4.f};
  for (int k = 0; k < 4; k++) {
    for (int j = 0; j < 27; j++) EXPECT_FLOAT_EQ(W2[k * 27 + j], W[k * 27 + j] * m[k] * 0.25f);
    EXPECT_FLOAT_EQ(B2[k], (B[k] * m[k] + 0.3f - s[k]) * 0.25f);
  }
}

TEST(FoldConvAffine, LeavesWhatItCannotFold) {
  std::mt19937 rng(4);
  auto base = [&]() {
    std::map<std::string, Tensor> c;
    c["W"] = random_tensor({4, 2, 1, 1}, -1.f, 1.f, &rng);
    c["k"] = scalar(2.f, {1});
    c["k4"] = make_tensor<float>({1, 4, 1, 2}, {1, 2, 3, 4, 5, 6, 7, 8});  // not one value per channel
    c["k5"] = make_tensor<float>({5, 1, 1}, {1, 2, 3, 4, 5});            // not C values
    c["kw"] = make_tensor<float>({4}, {1, 2, 3, 4});                     // broadcasts along W, not channels
    c["zero"] = make_tensor<float>({4, 1, 1}, {1, 0, 1, 1});
    c["big"] = scalar(2.f, {1, 1, 1, 1, 1});  // would raise the output's rank
    return c;
  };
  struct Case {
    const char* what;
    std::vector<NodeDef> nodes;
    std::set<std::string> outputs;
  };
  const std::vector<Case> cases = {
      {"two readers", {node("conv", "Conv", {"x", "W"}, {"y0"}), node("mul", "Mul", {"y0", "k"}, {"y"}),
                       node("relu", "Relu", {"y0"}, {"r"})}, {"y", "r"}},
      {"graph output", {node("conv", "Conv", {"x", "W"}, {"y0"}), node("mul", "Mul", {"y0", "k"}, {"y"})},
       {"y", "y0"}},
      {"c - y", {node("conv", "Conv", {"x", "W"}, {"y0"}), node("sub", "Sub", {"k", "y0"}, {"y"})}, {"y"}},
      {"c / y", {node("conv", "Conv", {"x", "W"}, {"y0"}), node("div", "Div", {"k", "y0"}, {"y"})}, {"y"}},
      {"division by zero", {node("conv", "Conv", {"x", "W"}, {"y0"}), node("div", "Div", {"y0", "zero"}, {"y"})},
       {"y"}},
      {"not per channel", {node("conv", "Conv", {"x", "W"}, {"y0"}), node("mul", "Mul", {"y0", "k4"}, {"y"})}, {"y"}},
      {"not C values", {node("conv", "Conv", {"x", "W"}, {"y0"}), node("add", "Add", {"y0", "k5"}, {"y"})}, {"y"}},
      {"along W", {node("conv", "Conv", {"x", "W"}, {"y0"}), node("add", "Add", {"y0", "kw"}, {"y"})}, {"y"}},
      {"higher rank", {node("conv", "Conv", {"x", "W"}, {"y0"}), node("mul", "Mul", {"y0", "big"}, {"y"})}, {"y"}},
      {"y * y", {node("conv", "Conv", {"x", "W"}, {"y0"}), node("mul", "Mul", {"y0", "y0"}, {"y"})}, {"y"}},
      {"computed operand", {node("conv", "Conv", {"x", "W"}, {"y0"}), node("mul", "Mul", {"y0", "x"}, {"y"})},
       {"y"}},
  };
  for (const Case& k : cases) {
    PassState g = pass_state(k.nodes, base(), k.outputs);
    ASSERT_TRUE(fold_conv_affine(g).ok()) << k.what;
    EXPECT_EQ(g.nodes.size(), k.nodes.size()) << k.what;
    EXPECT_TRUE(g.fates.empty()) << k.what;
  }
  // A Conv with a fused activation or residual keeps the step after it.
  NodeDef act = node("conv", "Conv", {"x", "W"}, {"y0"});
  act.set_attr_string("__activation", "Relu");
  PassState g = pass_state({act, node("mul", "Mul", {"y0", "k"}, {"y"})}, base(), {"y"});
  ASSERT_TRUE(fold_conv_affine(g).ok());
  EXPECT_EQ(g.nodes.size(), 2u);
  g = pass_state({node("conv", "Conv", {"x", "W", "", "r"}, {"y0"}), node("mul", "Mul", {"y0", "k"}, {"y"})}, base(),
                 {"y"});
  ASSERT_TRUE(fold_conv_affine(g).ok());
  EXPECT_EQ(g.nodes.size(), 2u);
}

// ---------------------------------------------------------------------------------------------------------------
// find_unary_chains, evaluate_unary_chain

TEST(UnaryChains, FindsHardSwishSwishAndAffineChains) {
  std::map<std::string, Tensor> c;
  c["W"] = scalar(1.f, {1, 1, 1, 1});
  c["k"] = scalar(1.702f, {1});
  std::vector<NodeDef> nodes = {node("conv0", "Conv", {"x", "W"}, {"x0"})};
  for (NodeDef& n : hardswish_affine("h_", "x0", "y0", &c)) nodes.push_back(n);
  nodes.push_back(node("conv1", "Conv", {"y0", "W"}, {"x1"}));
  // swish(1.702 x): x * Sigmoid(k * x), then Relu
  nodes.push_back(node("s_mul", "Mul", {"x1", "k"}, {"s_a"}));
  nodes.push_back(node("s_sig", "Sigmoid", {"s_a"}, {"s_b"}));
  nodes.push_back(node("s_out", "Mul", {"x1", "s_b"}, {"s_c"}));
  nodes.push_back(node("s_relu", "Relu", {"s_c"}, {"y1"}));
  nodes.push_back(node("conv2", "Conv", {"y1", "W"}, {"out"}));
  PassState g = pass_state(nodes, c, {"out"});
  const std::vector<UnaryChain> chains = find_unary_chains(g);
  ASSERT_EQ(chains.size(), 2u);
  EXPECT_EQ(chains[0].input, "x0");
  EXPECT_EQ(chains[0].output, "y0");
  EXPECT_EQ(chains[0].nodes, (std::vector<size_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(chains[1].input, "x1");
  EXPECT_EQ(chains[1].output, "y1");
  EXPECT_EQ(chains[1].nodes, (std::vector<size_t>{8, 9, 10, 11}));

  // The chain computes f: hard-swish and the affine step, on values across the Clip's corners.
  std::vector<NodeDef> chain;
  for (size_t i : chains[0].nodes) chain.push_back(g.nodes[i]);
  std::vector<float> xs, ys;
  for (float v = -5.f; v <= 5.f; v += 0.25f) xs.push_back(v);
  ASSERT_TRUE(evaluate_unary_chain(g, chain, "x0", "y0", xs, &ys).ok());
  ASSERT_EQ(ys.size(), xs.size());
  for (size_t i = 0; i < xs.size(); i++) EXPECT_NEAR(ys[i], hardswish_affine_ref(xs[i]), 1e-6f) << xs[i];
}

TEST(UnaryChains, StopsWhereTheRegionIsNotClosedOrNotUnary) {
  std::map<std::string, Tensor> c;
  c["W"] = scalar(1.f, {1, 1, 1, 1});
  c["v3"] = make_tensor<float>({3}, {1.f, 2.f, 3.f});  // one value per channel: not a function of x alone
  c["two"] = scalar(2.f);
  // x -> Sigmoid -> s; y = x * s, but s is also read by a Conv: no closed region of two nodes.
  PassState g = pass_state({node("sig", "Sigmoid", {"x"}, {"s"}), node("mul", "Mul", {"x", "s"}, {"y"}),
                            node("conv", "Conv", {"s", "W"}, {"z"})},
                           c, {"y", "z"});
  EXPECT_TRUE(find_unary_chains(g).empty());
  // The intermediate is a graph output.
  g = pass_state({node("sig", "Sigmoid", {"x"}, {"s"}), node("mul", "Mul", {"x", "s"}, {"y"})}, c, {"y", "s"});
  EXPECT_TRUE(find_unary_chains(g).empty());
  // A per-channel constant ends the chain before it: x -> Relu -> Mul(2) is one, the Add(v3) is not part of it.
  g = pass_state({node("relu", "Relu", {"x"}, {"r"}), node("mul", "Mul", {"r", "two"}, {"m"}),
                  node("add", "Add", {"m", "v3"}, {"y"})},
                 c, {"y"});
  std::vector<UnaryChain> chains = find_unary_chains(g);
  ASSERT_EQ(chains.size(), 1u);
  EXPECT_EQ(chains[0].output, "m");
  EXPECT_EQ(chains[0].nodes, (std::vector<size_t>{0, 1}));
  // Two different tensors meet (x * Sigmoid(t)): the chain from t ends at the Sigmoid (one node: none).
  g = pass_state({node("sig", "Sigmoid", {"t"}, {"s"}), node("mul", "Mul", {"x", "s"}, {"y"})}, c, {"y"});
  EXPECT_TRUE(find_unary_chains(g).empty());
  // x -> Relu -> r; r -> Neg -> n (read by a Conv) and r -> Abs -> y: ending at Abs leaves r read by Neg outside the
  // chain, ending at Neg leaves it read by Abs: no closed region of two nodes or more.
  g = pass_state({node("relu", "Relu", {"x"}, {"r"}), node("neg", "Neg", {"r"}, {"n"}),
                  node("conv", "Conv", {"n", "W"}, {"z"}), node("abs", "Abs", {"r"}, {"y"})},
                 c, {"y", "z"});
  EXPECT_TRUE(find_unary_chains(g).empty());
}

// ---------------------------------------------------------------------------------------------------------------
// int8rt.LookupTable

TEST(Int8LookupTable, AppliesTheTableAndRefusesBadOnes) {
  std::vector<int64_t> table(256);
  for (int i = 0; i < 256; i++) table[size_t(i)] = 127 - i;  // y = -1 - x
  auto make = [&](const std::vector<int64_t>& t) {
    NodeDef n = node("t", "LookupTable", {"x"}, {"y"});
    n.domain = "int8rt";
    Attribute in, out;
    in.name = "__in_scales";
    in.type = Attribute::Type::kFloats;
    in.floats = {0.5f};
    out = in;
    out.name = "__out_scales";
    n.attrs = {in, out, ints_attr("__table", t)};
    return n;
  };
  const KernelDef* def = kernel_registry().find("LookupTable", "int8rt", 13, Device::kCpu, Precision::kInt8, nullptr);
  ASSERT_NE(def, nullptr);
  std::vector<int8_t> xs;
  for (int v = -128; v < 128; v++) xs.push_back(int8_t(v));
  for (int v = 0; v < 300; v++) xs.push_back(int8_t((v * 37) % 256 - 128));  // longer than a vector
  Tensor X = make_tensor<int8_t>({int64_t(xs.size())}, xs);
  NodeDef n = make(table);
  KernelInfo info(n, 13, {nullptr});
  std::unique_ptr<OpKernel> k;
  ASSERT_TRUE(def->factory(info, &k).ok());
  ThreadPool pool(2);
  testing::SimpleOpContext ctx(n, {&X}, &pool);
  ASSERT_TRUE(k->compute(ctx).ok());
  const std::vector<int8_t> ys = values_of<int8_t>(ctx.outputs()[0]);
  for (size_t i = 0; i < xs.size(); i++) ASSERT_EQ(ys[i], int8_t(-1 - xs[i])) << i;

  std::vector<int64_t> short_table(255, 0), bad = table;
  bad[7] = 128;
  for (const auto& t : {short_table, bad}) {
    NodeDef m = make(t);
    KernelInfo mi(m, 13, {nullptr});
    std::unique_ptr<OpKernel> mk;
    Status st = def->factory(mi, &mk);
    EXPECT_EQ(st.code(), ErrorCode::kUnsupported) << st.message();
    EXPECT_NE(st.message().find("__table"), std::string::npos) << st.message();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The planner, end to end

// Records max|x| of every float value of a run: ranges as a minmax calibration would give them.
class AbsMax : public RunObserver {
 public:
  void on_value(const std::string& name, const Tensor& v) override {
    if (v.dtype() != DType::kFloat32) return;
    float& a = amax[name];
    for (int64_t i = 0; i < v.numel(); i++) a = std::max(a, std::fabs(v.data<float>()[i]));
  }
  std::map<std::string, float> amax;
};

// x[1,2,5,5] -> Conv 1x1 (W, B) -> Mul(cm) -> Add(ca) -> hard-swish + affine chain -> Conv 3x3 (W2) -> out
ModelDef chain_model(std::mt19937* rng) {
  ModelDef m;
  m.opsets[""] = 13;
  m.inputs.push_back(value("x", {1, 2, 5, 5}));
  m.outputs.push_back(value("out", {1, 3, 5, 5}));
  std::map<std::string, Tensor> c;
  c["W"] = random_tensor({3, 2, 1, 1}, -1.f, 1.f, rng);
  c["B"] = random_tensor({3}, -0.5f, 0.5f, rng);
  c["cm"] = scalar(1.7f, {1});
  c["ca"] = scalar(-0.3f, {1});
  c["W2"] = random_tensor({3, 3, 3, 3}, -0.5f, 0.5f, rng);
  m.nodes.push_back(node("conv", "Conv", {"x", "W", "B"}, {"c0"}));
  m.nodes.push_back(node("lab_mul", "Mul", {"cm", "c0"}, {"c1"}));
  m.nodes.push_back(node("lab_add", "Add", {"c1", "ca"}, {"c2"}));
  for (NodeDef& n : hardswish_affine("h_", "c2", "h", &c)) m.nodes.push_back(n);
  NodeDef conv2 = node("conv2", "Conv", {"h", "W2"}, {"out"});
  conv2.attrs.push_back(ints_attr("pads", {1, 1, 1, 1}));
  m.nodes.push_back(conv2);
  for (auto& kv : c) m.initializers.emplace_back(kv.first, kv.second);
  return m;
}

std::vector<Tensor> run_engine(const Engine& e, const Tensor& x, RunObserver* obs = nullptr) {
  std::vector<Tensor> outs;
  Status st = e.run({{"x", x}}, &outs, obs);
  EXPECT_TRUE(st.ok()) << st.message();
  return outs;
}

TEST(Int8Planner, FoldsTheAffineStepAndRunsTheChainAsOneTable) {
  std::mt19937 rng(11);
  const ModelDef m = chain_model(&rng);
  const Tensor x = random_tensor({1, 2, 5, 5}, -3.f, 3.f, &rng);
  EngineOptions fp;
  fp.intra_op_threads = 1;
  fp.fuse_epilogues = false;
  std::shared_ptr<Engine> f;
  ASSERT_TRUE(Engine::build(m, fp, &f).ok());
  AbsMax ranges;
  const std::vector<Tensor> ref = run_engine(*f, x, &ranges);

  EngineOptions q = fp;
  q.fuse_epilogues = true;
  q.precision = Precision::kInt8;
  q.quant.amax = ranges.amax;
  std::shared_ptr<Engine> e;
  Status st = Engine::build(m, q, &e);
  ASSERT_TRUE(st.ok()) << st.message();
  std::map<std::string, NodeReport> rows;
  for (const NodeReport& r : e->report()) rows[r.name] = r;
  EXPECT_EQ(rows["conv"].precision, "int8");
  for (const char* n : {"lab_mul", "lab_add"}) {
    EXPECT_EQ(rows[n].fused_into, "conv") << n;
    EXPECT_NE(rows[n].note.find("folded into the Conv"), std::string::npos) << rows[n].note;
  }
  EXPECT_EQ(rows["h_w1"].precision, "int8");
  EXPECT_EQ(rows["h_w1"].kernel, "table_s8");
  EXPECT_TRUE(rows["h_w1"].fused_into.empty());
  for (const char* n : {"h_add3", "h_clip", "h_mul", "h_div", "h_w0"}) {
    EXPECT_EQ(rows[n].fused_into, "h_w1") << n;
    EXPECT_EQ(rows[n].precision, "int8") << n;
    EXPECT_NE(rows[n].note.find("lookup table"), std::string::npos) << rows[n].note;
  }
  // Executed: Q(x), Conv, table, Conv, DQ(out).
  std::vector<std::string> ops;
  for (const StepSummary& s : e->step_summaries()) ops.push_back(s.op_type);
  EXPECT_EQ(ops, (std::vector<std::string>{"QuantizeLinear", "Conv", "LookupTable", "Conv", "DequantizeLinear"}));

  // The int8 result is close to float (one rounding per int8 tensor).
  const std::vector<Tensor> got = run_engine(*e, x);
  const std::vector<float> a = values_of<float>(ref[0]), b = values_of<float>(got[0]);
  float amax = 0, err = 0;
  for (size_t i = 0; i < a.size(); i++) {
    amax = std::max(amax, std::fabs(a[i]));
    err = std::max(err, std::fabs(a[i] - b[i]));
  }
  EXPECT_LT(err, 0.05f * amax);
}

TEST(Int8Planner, TheTableIsTheChainOnTheInt8GridQuantizedOnce) {
  // x -> Conv 1x1 with weight 1 (so that its int8 output is x's int8 value) -> chain -> h (graph output). x lies on
  // the grid of scale s, so every int8 value is known; the output must be s_h * quantize(f(q * s), s_h) exactly, with
  // f computed by a float engine of the chain alone and s_h = min(calibrated range, max |f| on the grid) / 127.
  ModelDef m;
  m.opsets[""] = 13;
  m.inputs.push_back(value("x", {1, 1, 1, 256}));
  m.outputs.push_back(value("h", {1, 1, 1, 256}));
  std::map<std::string, Tensor> c;
  c["W"] = scalar(1.f, {1, 1, 1, 1});
  m.nodes.push_back(node("conv", "Conv", {"x", "W"}, {"c"}));
  for (NodeDef& n : hardswish_affine("h_", "c", "h", &c, 1.25f, 0.2f)) m.nodes.push_back(n);
  for (auto& kv : c) m.initializers.emplace_back(kv.first, kv.second);

  const float amax_x = 6.35f, s = amax_x / 127.f;  // the planner's scale for that range
  std::vector<float> xs(256);
  for (int q = -128; q < 128; q++) xs[size_t(q + 128)] = float(q) * s;
  const Tensor x = make_tensor<float>({1, 1, 1, 256}, xs);
  for (float out_range : {9.f, 3.f}) {  // wider than the table reaches (narrowed to it), and narrower (clips)
    EngineOptions q;
    q.intra_op_threads = 1;
    q.precision = Precision::kInt8;
    q.quant.amax = {{"x", amax_x}, {"c", amax_x}, {"h", out_range}};
    std::shared_ptr<Engine> e;
    Status st = Engine::build(m, q, &e);
    ASSERT_TRUE(st.ok()) << st.message();
    const std::vector<float> got = values_of<float>(run_engine(*e, x)[0]);

    // f by a float engine of the chain alone, on the same 256 values.
    ModelDef fm = m;
    fm.nodes.erase(fm.nodes.begin());
    fm.inputs[0].name = "c";
    std::shared_ptr<Engine> f;
    ASSERT_TRUE(Engine::build(fm, EngineOptions(), &f).ok());
    std::vector<Tensor> fy;
    ASSERT_TRUE(f->run({{"c", x}}, &fy).ok());
    const std::vector<float> ys = values_of<float>(fy[0]);
    float reach = 0;
    for (float v : ys) reach = std::max(reach, std::fabs(v));
    const float s_h = std::min(out_range, reach) / 127.f;
    for (size_t i = 0; i < 256; i++) {
      const float want = float(quantize_s8(ys[i], s_h)) * s_h;
      ASSERT_EQ(got[i], want) << "x " << xs[i] << " range " << out_range;
    }
  }
}

TEST(Int8Planner, AChainOnAFloatValueOrWithAPinnedNodeIsPlannedNodeByNode) {
  std::mt19937 rng(12);
  // The chain reads the graph input: no int8 producer, so it is not fused and stays fp32 (its input comes from a
  // float node), and the engine computes what the float engine computes.
  ModelDef m;
  m.opsets[""] = 13;
  m.inputs.push_back(value("x", {1, 2, 4, 4}));
  m.outputs.push_back(value("out", {1, 2, 4, 4}));
  std::map<std::string, Tensor> c;
  c["W"] = random_tensor({2, 2, 1, 1}, -1.f, 1.f, &rng);
  for (NodeDef& n : hardswish_affine("h_", "x", "h", &c)) m.nodes.push_back(n);
  m.nodes.push_back(node("conv", "Conv", {"h", "W"}, {"out"}));
  for (auto& kv : c) m.initializers.emplace_back(kv.first, kv.second);
  const Tensor x = random_tensor({1, 2, 4, 4}, -4.f, 4.f, &rng);
  EngineOptions fp;
  fp.intra_op_threads = 1;
  std::shared_ptr<Engine> f;
  ASSERT_TRUE(Engine::build(m, fp, &f).ok());
  AbsMax ranges;
  run_engine(*f, x, &ranges);
  EngineOptions q = fp;
  q.precision = Precision::kInt8;
  q.quant.amax = ranges.amax;
  std::shared_ptr<Engine> e;
  ASSERT_TRUE(Engine::build(m, q, &e).ok());
  for (const NodeReport& r : e->report()) {
    if (r.boundary || r.name == "conv") continue;
    EXPECT_EQ(r.precision, "fp32") << r.name;
    EXPECT_TRUE(r.fused_into.empty()) << r.name;
    EXPECT_NE(r.reason.find("float node"), std::string::npos) << r.name << ": " << r.reason;
  }
  for (const StepSummary& s : e->step_summaries()) EXPECT_NE(s.op_type, "LookupTable");

  // After an int8 Conv, with one node of the chain pinned to fp32: not fused; the pinned node says so, the nodes
  // before it run in int8 one by one, the nodes after it read a float value and stay fp32.
  std::mt19937 rng2(13);
  const ModelDef m2 = chain_model(&rng2);
  const Tensor x2 = random_tensor({1, 2, 5, 5}, -3.f, 3.f, &rng2);
  std::shared_ptr<Engine> f2;
  ASSERT_TRUE(Engine::build(m2, fp, &f2).ok());
  AbsMax ranges2;
  run_engine(*f2, x2, &ranges2);
  q.quant.amax = ranges2.amax;
  q.quant.node_precision = {{"h_mul", Precision::kFp32}};
  std::shared_ptr<Engine> e2;
  Status st = Engine::build(m2, q, &e2);
  ASSERT_TRUE(st.ok()) << st.message();
  std::map<std::string, NodeReport> rows;
  for (const NodeReport& r : e2->report()) rows[r.name] = r;
  EXPECT_EQ(rows["h_mul"].precision, "fp32");
  EXPECT_EQ(rows["h_mul"].reason, "pinned to fp32 by nodePrecision");
  for (const char* n : {"h_add3", "h_clip"}) {
    EXPECT_EQ(rows[n].precision, "int8") << n;
    EXPECT_TRUE(rows[n].fused_into.empty()) << n;
  }
  for (const char* n : {"h_div", "h_w0", "h_w1"}) EXPECT_EQ(rows[n].precision, "fp32") << n;
  for (const StepSummary& s : e2->step_summaries()) EXPECT_NE(s.op_type, "LookupTable");
  const std::vector<float> a = values_of<float>(run_engine(*f2, x2)[0]), b = values_of<float>(run_engine(*e2, x2)[0]);
  float amax = 0, err = 0;
  for (size_t i = 0; i < a.size(); i++) {
    amax = std::max(amax, std::fabs(a[i]));
    err = std::max(err, std::fabs(a[i] - b[i]));
  }
  EXPECT_LT(err, 0.05f * amax);
}

TEST(Int8Planner, ReasonsNameTheCauseBeforeAMissingRange) {
  // a[2,4], b[4,3] (graph inputs) -> MatMul(a, b) -> m ; a -> Softmax -> p -> Add(p, k) -> q ;
  // a -> Gemm(W) -> g -> Sigmoid -> s. Only a and g have ranges: the MatMul is refused for its computed B (not for
  // m's missing range), the Add for its float input (not for p's), the Sigmoid for s's missing range.
  ModelDef m;
  m.opsets[""] = 13;
  m.inputs = {value("a", {2, 4}), value("b", {4, 3})};
  m.outputs = {value("m", {2, 3}), value("q", {2, 4}), value("s", {2, 1})};
  m.initializers.emplace_back("k", scalar(0.5f, {1}));
  m.initializers.emplace_back("W", make_tensor<float>({1, 4}, {0.5f, -1.f, 0.25f, 2.f}));
  m.nodes = {node("matmul", "MatMul", {"a", "b"}, {"m"}), node("softmax", "Softmax", {"a"}, {"p"}),
             node("add", "Add", {"p", "k"}, {"q"}), node("gemm", "Gemm", {"a", "W"}, {"g"}),
             node("sigmoid", "Sigmoid", {"g"}, {"s"})};
  m.nodes[3].set_attr_int("transB", 1);
  EngineOptions q;
  q.intra_op_threads = 1;
  q.precision = Precision::kInt8;
  q.quant.amax = {{"a", 1.f}, {"g", 1.f}};
  std::shared_ptr<Engine> e;
  Status st = Engine::build(m, q, &e);
  ASSERT_TRUE(st.ok()) << st.message();
  std::map<std::string, NodeReport> rows;
  for (const NodeReport& r : e->report()) rows[r.name] = r;
  EXPECT_EQ(rows["matmul"].precision, "fp32");
  EXPECT_NE(rows["matmul"].reason.find("constant"), std::string::npos) << rows["matmul"].reason;
  EXPECT_EQ(rows["softmax"].reason, "no int8 kernel for Softmax");
  EXPECT_NE(rows["add"].reason.find("float node"), std::string::npos) << rows["add"].reason;
  EXPECT_EQ(rows["gemm"].precision, "int8");
  EXPECT_EQ(rows["sigmoid"].reason, "no calibration range for tensor 's'");
}

}  // namespace
}  // namespace int8rt
