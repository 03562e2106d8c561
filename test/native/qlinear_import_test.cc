// The QDQ import pass (quant/qdq_import.h) through Engine::build: a graph quantized the way onnxruntime's quantizer
// lays it out (asymmetric int8 activations as Q -> DQ pairs, per-channel int8 weights and an int32 bias behind
// DequantizeLinear, a hard-swish written as elementwise nodes between a DQ and a Q) runs as QLinearConv and a
// QLookup table, its report says so, the Q/DQ that stay are boundaries with their reasons, and its outputs are those
// of the QDQ graph's float semantics computed here (within one quantization step, where float and integer sums round
// differently, and equal almost everywhere). Opsets above 22 are accepted for Q/DQ-only models only.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/engine.h"

namespace int8rt {
namespace {

ValueInfo value(const std::string& name, DType t, Dims dims) {
  ValueInfo v;
  v.name = name;
  v.dtype = t;
  v.has_shape = true;
  v.dims = std::move(dims);
  v.dim_params.assign(v.dims.size(), "");
  return v;
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

template <typename T>
Tensor tensor(DType t, const Dims& dims, const std::vector<T>& v) {
  Tensor x;
  EXPECT_TRUE(Tensor::create(t, dims, &x).ok());
  for (size_t i = 0; i < v.size(); i++) x.data<T>()[i] = v[i];
  return x;
}

float rne(float v) { return std::nearbyint(v); }
int32_t quantize(float x, float s, int32_t z) { return int32_t(std::min(std::max(rne(x / s) + z, -128.f), 127.f)); }

// x[1,3,7,7] -Q/DQ(sx, zx)-> Conv 3x3 pad 1 (8 channels, per-channel w, int32 b) -> Relu -Q/DQ(sy, zy)->
// hard-swish (Add 3, Clip 0..6, Mul, Div 6) -Q/DQ(sh, zh)-> y
struct Qdq {
  ModelDef model;
  float sx = 0.021f, sy = 0.037f, sh = 0.029f;
  int32_t zx = 5, zy = -128, zh = -11;
  std::vector<int8_t> w;
  std::vector<float> sw;
  std::vector<int32_t> b;
};

Qdq make_qdq() {
  Qdq q;
  ModelDef& m = q.model;
  m.opsets[""] = 13;
  m.inputs.push_back(value("x", DType::kFloat32, {1, 3, 7, 7}));
  m.outputs.push_back(value("y", DType::kFloat32, {1, 8, 7, 7}));
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> wd(-127, 127), bd(-3000, 3000);
  q.w.resize(8 * 3 * 9);
  for (auto& v : q.w) v = int8_t(wd(rng));
  q.sw.resize(8);
  for (size_t c = 0; c < 8; c++) q.sw[c] = 0.002f + 0.0005f * float(c);
  q.b.resize(8);
  for (auto& v : q.b) v = bd(rng);
  std::vector<float> bs(8);
  for (size_t c = 0; c < 8; c++) bs[c] = q.sx * q.sw[c];
  auto init = [&](const std::string& n, const Tensor& t) { m.initializers.emplace_back(n, t); };
  init("sx", tensor<float>(DType::kFloat32, {}, {q.sx}));
  init("zx", tensor<int8_t>(DType::kInt8, {}, {int8_t(q.zx)}));
  init("sy", tensor<float>(DType::kFloat32, {}, {q.sy}));
  init("zy", tensor<int8_t>(DType::kInt8, {}, {int8_t(q.zy)}));
  init("sh", tensor<float>(DType::kFloat32, {}, {q.sh}));
  init("zh", tensor<int8_t>(DType::kInt8, {}, {int8_t(q.zh)}));
  init("wq", tensor<int8_t>(DType::kInt8, {8, 3, 3, 3}, q.w));
  init("ws", tensor<float>(DType::kFloat32, {8}, q.sw));
  init("wz", tensor<int8_t>(DType::kInt8, {8}, std::vector<int8_t>(8, 0)));
  init("bq", tensor<int32_t>(DType::kInt32, {8}, q.b));
  init("bs", tensor<float>(DType::kFloat32, {8}, bs));
  init("bz", tensor<int32_t>(DType::kInt32, {8}, std::vector<int32_t>(8, 0)));
  init("three", tensor<float>(DType::kFloat32, {}, {3.f}));
  init("zero", tensor<float>(DType::kFloat32, {}, {0.f}));
  init("six", tensor<float>(DType::kFloat32, {}, {6.f}));
  NodeDef wdq = node("w_dq", "DequantizeLinear", {"wq", "ws", "wz"}, {"w"});
  wdq.set_attr_int("axis", 0);
  NodeDef bdq = node("b_dq", "DequantizeLinear", {"bq", "bs", "bz"}, {"b"});
  bdq.set_attr_int("axis", 0);
  NodeDef conv = node("conv", "Conv", {"x_dq", "w", "b"}, {"c"});
  Attribute pads;
  pads.name = "pads";
  pads.type = Attribute::Type::kInts;
  pads.ints = {1, 1, 1, 1};
  conv.attrs.push_back(pads);
  m.nodes = {node("x_q", "QuantizeLinear", {"x", "sx", "zx"}, {"xq"}),
             node("x_dqn", "DequantizeLinear", {"xq", "sx", "zx"}, {"x_dq"}),
             wdq,
             bdq,
             conv,
             node("relu", "Relu", {"c"}, {"r"}),
             node("r_q", "QuantizeLinear", {"r", "sy", "zy"}, {"rq"}),
             node("r_dq", "DequantizeLinear", {"rq", "sy", "zy"}, {"rd"}),
             node("add3", "Add", {"rd", "three"}, {"a"}),
             node("clip", "Clip", {"a", "zero", "six"}, {"cl"}),
             node("mul", "Mul", {"rd", "cl"}, {"mu"}),
             node("div6", "Div", {"mu", "six"}, {"hs"}),
             node("h_q", "QuantizeLinear", {"hs", "sh", "zh"}, {"hq"}),
             node("y_dq", "DequantizeLinear", {"hq", "sh", "zh"}, {"y"})};
  return q;
}

TEST(QdqImport, FoldsConvAndAnElementwiseChainIntoInt8Nodes) {
  Qdq q = make_qdq();
  std::shared_ptr<Engine> e;
  EngineOptions opts;
  opts.intra_op_threads = 2;
  Status st = Engine::build(q.model, opts, &e);
  ASSERT_TRUE(st.ok()) << st.message();
  std::map<std::string, NodeReport> rows;
  for (const auto& r : e->report()) rows[r.name] = r;
  EXPECT_EQ(rows["conv"].precision, "int8");
  EXPECT_NE(rows["conv"].kernel.find("qlinearconv"), std::string::npos) << rows["conv"].kernel;
  EXPECT_EQ(rows["relu"].fused_into, "conv");
  EXPECT_EQ(rows["r_q"].fused_into, "conv");
  EXPECT_EQ(rows["w_dq"].fused_into, "conv");
  for (const char* n : {"add3", "clip", "mul", "div6"}) {
    EXPECT_EQ(rows[n].precision, "int8") << n;
    EXPECT_EQ(rows[n].kernel, "qlookup") << n;
  }
  EXPECT_TRUE(rows["x_q"].boundary);
  EXPECT_NE(rows["x_q"].reason.find("graph input 'x'"), std::string::npos) << rows["x_q"].reason;
  EXPECT_TRUE(rows["y_dq"].boundary);
  EXPECT_NE(rows["y_dq"].reason.find("graph output"), std::string::npos) << rows["y_dq"].reason;
  EXPECT_FALSE(rows["r_dq"].boundary);

  // The QDQ graph's float semantics, computed here.
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u(-2.5f, 2.5f);
  Tensor x;
  ASSERT_TRUE(Tensor::create(DType::kFloat32, {1, 3, 7, 7}, &x).ok());
  for (int64_t i = 0; i < x.numel(); i++) x.data<float>()[i] = u(rng);
  std::vector<Tensor> outs;
  st = e->run({{"x", x}}, &outs);
  ASSERT_TRUE(st.ok()) << st.message();
  const float* y = outs[0].data<float>();
  std::vector<float> xd(size_t(x.numel()));
  for (size_t i = 0; i < xd.size(); i++) xd[i] = float(quantize(x.data<float>()[i], q.sx, q.zx) - q.zx) * q.sx;
  int64_t equal = 0, n = 0;
  for (int64_t c = 0; c < 8; c++)
    for (int64_t oy = 0; oy < 7; oy++)
      for (int64_t ox = 0; ox < 7; ox++) {
        double acc = double(q.b[size_t(c)]) * double(q.sx * q.sw[size_t(c)]);
        for (int64_t ci = 0; ci < 3; ci++)
          for (int64_t ky = 0; ky < 3; ky++)
            for (int64_t kx = 0; kx < 3; kx++) {
              const int64_t iy = oy + ky - 1, ix = ox + kx - 1;
              if (iy < 0 || iy >= 7 || ix < 0 || ix >= 7) continue;
              acc += double(xd[size_t((ci * 7 + iy) * 7 + ix)]) *
                     double(float(q.w[size_t(((c * 3 + ci) * 3 + ky) * 3 + kx)]) * q.sw[size_t(c)]);
            }
        const float r = std::max(float(acc), 0.f);
        const float rd = float(quantize(r, q.sy, q.zy) - q.zy) * q.sy;
        const float hs = rd * std::min(std::max(rd + 3.f, 0.f), 6.f) / 6.f;
        const float want = float(quantize(hs, q.sh, q.zh) - q.zh) * q.sh;
        const float got = y[(c * 7 + oy) * 7 + ox];
        EXPECT_LE(std::fabs(got - want), q.sh * 1.001f) << c << "," << oy << "," << ox;
        equal += got == want;
        n++;
      }
  EXPECT_GE(double(equal) / double(n), 0.95);
  double total, int8;
  e->macs(&total, &int8);
  EXPECT_GT(total, 0);
  EXPECT_EQ(total, int8);
}

TEST(QdqImport, ADequantizeLinearReadByAFloatNodeIsABoundaryWithItsReason) {
  Qdq q = make_qdq();
  // The Relu's dequantized output also feeds a Softmax, which has no quantized kernel: that DQ stays, the hard-swish
  // still folds (it reads the quantized tensor itself).
  q.model.nodes.push_back(node("sm", "Softmax", {"rd"}, {"p"}));
  q.model.outputs.push_back(value("p", DType::kFloat32, {1, 8, 7, 7}));
  std::shared_ptr<Engine> e;
  Status st = Engine::build(q.model, EngineOptions(), &e);
  ASSERT_TRUE(st.ok()) << st.message();
  std::map<std::string, NodeReport> rows;
  for (const auto& r : e->report()) rows[r.name] = r;
  EXPECT_TRUE(rows["r_dq"].boundary);
  EXPECT_NE(rows["r_dq"].reason.find("Softmax 'sm'"), std::string::npos) << rows["r_dq"].reason;
  EXPECT_EQ(rows["sm"].precision, "fp32");
  EXPECT_EQ(rows["add3"].kernel, "qlookup");
}

TEST(QdqImport, OpsetsAbove22OnlyForQuantizeDequantizeModels) {
  ModelDef m;
  m.opsets[""] = 25;
  m.inputs.push_back(value("x", DType::kFloat32, {4}));
  m.outputs.push_back(value("y", DType::kFloat32, {4}));
  m.initializers.emplace_back("s", tensor<float>(DType::kFloat32, {}, {0.5f}));
  m.initializers.emplace_back("z", tensor<uint8_t>(DType::kUint8, {}, {uint8_t(128)}));
  m.nodes = {node("q", "QuantizeLinear", {"x", "s", "z"}, {"xq"}), node("dq", "DequantizeLinear", {"xq", "s", "z"}, {"y"})};
  std::shared_ptr<Engine> e;
  Status st = Engine::build(m, EngineOptions(), &e);
  ASSERT_TRUE(st.ok()) << st.message();
  std::vector<Tensor> outs;
  ASSERT_TRUE(e->run({{"x", tensor<float>(DType::kFloat32, {4}, {0.f, 1.2f, -70.f, 3.25f})}}, &outs).ok());
  EXPECT_EQ(outs[0].data<float>()[1], 1.f);   // 1.2 / 0.5 = 2.4 -> 2 -> 1.0
  EXPECT_EQ(outs[0].data<float>()[2], -64.f);  // saturates at 0 - 128
  EXPECT_EQ(outs[0].data<float>()[3], 3.f);   // 6.5 -> 6 (half to even)
  m.outputs[0].name = "r";
  m.nodes.push_back(node("relu", "Relu", {"y"}, {"r"}));
  st = Engine::build(m, EngineOptions(), &e);
  EXPECT_EQ(st.code(), ErrorCode::kOpset) << st.message();
}

}  // namespace
}  // namespace int8rt
