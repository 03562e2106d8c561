// Dynamic int8 Conv, Gemm and MatMul (ops/int8_dynamic.h: Precision::kInt8 kernels with `__dynamic` = 1) against
// reference loops written here from the scheme: s_x = absmax(X) / 127, q_x = rne(x / s_x), weights per output
// channel q_w = rne(w / s_w[c]) with s_w[c] = max|W[c]| / 127, int32 bias rne(b / (s_x * s_w[c])), and the output
// float(acc + bias) * (s_x * s_w[c]), clamped by a fused Relu/Clip. The int32 products are exact and the epilogue
// has one rounding, so the kernels must match the reference bit for bit.
#include <cmath>
#include <random>

#include "op_test_util.h"

namespace int8rt {
namespace {

using testing::make_node;
using testing::make_tensor;
using testing::SimpleOpContext;
using testing::values_of;

Status run_dynamic(NodeDef node, int opset, const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs,
                   const std::vector<bool>& constant, std::string* kernel_name = nullptr) {
  node.set_attr_int("__dynamic", 1);
  std::string why;
  const KernelDef* def =
      kernel_registry().find(node.op_type, node.domain, opset, Device::kCpu, Precision::kInt8, &why);
  if (!def) return Status(ErrorCode::kUnsupportedOp, why);
  std::vector<const Tensor*> consts(node.inputs.size(), nullptr), ins(node.inputs.size(), nullptr);
  for (size_t i = 0; i < inputs.size() && i < node.inputs.size(); i++) {
    if (node.inputs[i].empty()) continue;
    ins[i] = &inputs[i];
    if (i < constant.size() && constant[i]) consts[i] = &inputs[i];
  }
  KernelInfo info(node, opset, consts);
  std::unique_ptr<OpKernel> kernel;
  INT8RT_RETURN_IF_ERROR(def->factory(info, &kernel));
  if (kernel_name) *kernel_name = kernel->kernel_name();
  ThreadPool pool(2);
  SimpleOpContext ctx(node, ins, &pool);
  INT8RT_RETURN_IF_ERROR(kernel->compute(ctx));
  *outputs = ctx.outputs();
  return Status::OK();
}

std::vector<float> random_f32(std::mt19937& rng, int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = u(rng);
  return v;
}

int32_t ref_q(float x, float s) { return int32_t(std::nearbyint(std::min(std::max(x / s, -128.f), 127.f))); }

// Quantized weights [C, per] and their scales.
void ref_weights(const std::vector<float>& w, int64_t C, int64_t per, std::vector<int32_t>* q, std::vector<float>* s) {
  q->resize(w.size());
  s->resize(size_t(C));
  for (int64_t c = 0; c < C; c++) {
    float amax = 0.f;
    for (int64_t j = 0; j < per; j++) amax = std::max(amax, std::fabs(w[size_t(c * per + j)]));
    const float sc = amax > 0.f ? amax / 127.f : 1.f;
    (*s)[size_t(c)] = sc;
    for (int64_t j = 0; j < per; j++)
      (*q)[size_t(c * per + j)] =
          int32_t(std::nearbyint(std::min(std::max(w[size_t(c * per + j)] / sc, -127.f), 127.f)));
  }
}

float ref_absmax(const std::vector<float>& x) {
  float m = 0.f;
  for (float v : x) m = std::max(m, std::fabs(v));
  return m;
}

int32_t ref_bias(float b, float s_x, float s_w) { return int32_t(std::nearbyint(double(b) / double(s_x * s_w))); }

// 2-D Conv reference (dilation 1, symmetric pads) on the quantized operands.
struct ConvCase {
  int64_t N, C, H, W, M, group, k, stride, pad;
};

std::vector<float> ref_conv(const ConvCase& p, const std::vector<float>& x, const std::vector<float>& w,
                            const std::vector<float>& b, const std::vector<float>* residual, float lo, float hi) {
  const int64_t Cg = p.C / p.group, Mg = p.M / p.group, per = Cg * p.k * p.k;
  const int64_t OH = (p.H + 2 * p.pad - p.k) / p.stride + 1, OW = (p.W + 2 * p.pad - p.k) / p.stride + 1;
  const float s_x = ref_absmax(x) / 127.f;
  std::vector<int32_t> qw;
  std::vector<float> s_w;
  ref_weights(w, p.M, per, &qw, &s_w);
  std::vector<float> y(size_t(p.N * p.M * OH * OW));
  for (int64_t n = 0; n < p.N; n++)
    for (int64_t m = 0; m < p.M; m++) {
      const int64_t g = m / Mg;
      for (int64_t oy = 0; oy < OH; oy++)
        for (int64_t ox = 0; ox < OW; ox++) {
          int32_t acc = b.empty() ? 0 : ref_bias(b[size_t(m)], s_x, s_w[size_t(m)]);
          for (int64_t c = 0; c < Cg; c++)
            for (int64_t ky = 0; ky < p.k; ky++)
              for (int64_t kx = 0; kx < p.k; kx++) {
                const int64_t iy = oy * p.stride - p.pad + ky, ix = ox * p.stride - p.pad + kx;
                if (iy < 0 || iy >= p.H || ix < 0 || ix >= p.W) continue;
                const float xv = x[size_t(((n * p.C + g * Cg + c) * p.H + iy) * p.W + ix)];
                acc += ref_q(xv, s_x) * qw[size_t(m * per + (c * p.k + ky) * p.k + kx)];
              }
          const size_t o = size_t(((n * p.M + m) * OH + oy) * OW + ox);
          float v = float(acc) * (s_x * s_w[size_t(m)]);
          if (residual) v += (*residual)[o];
          y[o] = std::fmin(std::fmax(v, lo), hi);
        }
    }
  return y;
}

void set_ints(NodeDef* n, const std::string& name, const std::vector<int64_t>& v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kInts;
  a.ints = v;
  n->attrs.push_back(a);
}

NodeDef conv_node(const ConvCase& p, bool bias, bool residual) {
  std::vector<std::string> ins = {"x", "w", bias ? "b" : ""};
  if (residual) ins.push_back("r");
  NodeDef n = make_node("Conv", ins, {"y"});
  set_ints(&n, "kernel_shape", {p.k, p.k});
  set_ints(&n, "strides", {p.stride, p.stride});
  set_ints(&n, "pads", {p.pad, p.pad, p.pad, p.pad});
  n.set_attr_int("group", p.group);
  return n;
}

void expect_same(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); i++) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << i;
      continue;
    }
    ASSERT_EQ(got[i], want[i]) << "at " << i;
  }
}

TEST(Int8DynamicConv, GroupedStridedReluMatchesReference) {
  std::mt19937 rng(11);
  const ConvCase p{2, 6, 9, 11, 8, 2, 3, 2, 1};
  const auto x = random_f32(rng, p.N * p.C * p.H * p.W, -2.f, 3.f);
  const auto w = random_f32(rng, p.M * (p.C / p.group) * 9, -0.5f, 0.5f);
  const auto b = random_f32(rng, p.M, -1.f, 1.f);
  NodeDef n = conv_node(p, true, false);
  n.set_attr_string("__activation", "Relu");
  std::vector<Tensor> out;
  std::string kname;
  Status st = run_dynamic(n, 17,
                          {make_tensor<float>({p.N, p.C, p.H, p.W}, x),
                           make_tensor<float>({p.M, p.C / p.group, 3, 3}, w), make_tensor<float>({p.M}, b)},
                          &out, {false, true, true}, &kname);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_NE(kname.find("dynamic"), std::string::npos) << kname;
  ASSERT_EQ(out[0].dtype(), DType::kFloat32);
  EXPECT_EQ(out[0].dims(), (Dims{2, 8, 5, 6}));
  const auto want = ref_conv(p, x, w, b, nullptr, 0.f, INFINITY);
  expect_same(values_of<float>(out[0]), want);

  // And it stays close to the float Conv.
  NodeDef f = conv_node(p, true, false);
  std::vector<Tensor> fout;
  ASSERT_TRUE(testing::run_op(f, 17,
                              {make_tensor<float>({p.N, p.C, p.H, p.W}, x),
                               make_tensor<float>({p.M, p.C / p.group, 3, 3}, w), make_tensor<float>({p.M}, b)},
                              &fout, {false, true, true})
                  .ok());
  const auto fy = values_of<float>(fout[0]);
  const auto qy = values_of<float>(out[0]);
  float maxerr = 0.f, maxabs = 0.f;
  for (size_t i = 0; i < fy.size(); i++) {
    maxerr = std::max(maxerr, std::fabs(std::max(fy[i], 0.f) - qy[i]));
    maxabs = std::max(maxabs, std::fabs(fy[i]));
  }
  EXPECT_LT(maxerr, 0.03f * maxabs);
}

TEST(Int8DynamicConv, DepthwiseAndPointwiseWithResidualAndClip) {
  std::mt19937 rng(12);
  for (const ConvCase& p : {ConvCase{1, 5, 7, 7, 5, 5, 3, 1, 1}, ConvCase{2, 4, 6, 5, 7, 1, 1, 1, 0}}) {
    const int64_t OH = (p.H + 2 * p.pad - p.k) / p.stride + 1, OW = (p.W + 2 * p.pad - p.k) / p.stride + 1;
    const auto x = random_f32(rng, p.N * p.C * p.H * p.W, -1.f, 1.f);
    const auto w = random_f32(rng, p.M * (p.C / p.group) * p.k * p.k, -1.f, 1.f);
    const auto r = random_f32(rng, p.N * p.M * OH * OW, -1.f, 1.f);
    NodeDef n = conv_node(p, false, true);
    n.set_attr_string("__activation", "Clip");
    n.set_attr_float("__clip_min", -0.5f);
    n.set_attr_float("__clip_max", 0.75f);
    std::vector<Tensor> out;
    Status st = run_dynamic(n, 17,
                            {make_tensor<float>({p.N, p.C, p.H, p.W}, x),
                             make_tensor<float>({p.M, p.C / p.group, p.k, p.k}, w), Tensor(),
                             make_tensor<float>({p.N, p.M, OH, OW}, r)},
                            &out, {false, true, false, false});
    ASSERT_TRUE(st.ok()) << st.message();
    expect_same(values_of<float>(out[0]), ref_conv(p, x, w, {}, &r, -0.5f, 0.75f));
  }
}

// Groups of >= 8 output channels are packed at build; smaller ones (depthwise) keep compact int8 weights that each
// task packs per run, once per run of column tiles of one group. Both equal the reference, tiles in parallel included.
TEST(Int8DynamicConv, PackedAtBuildAndPerRunGroupsMatchReference) {
  std::mt19937 rng(13);
  for (const ConvCase& p : {ConvCase{2, 12, 40, 40, 16, 2, 3, 1, 1}, ConvCase{1, 3, 200, 200, 3, 3, 3, 1, 1},
                            ConvCase{1, 6, 30, 30, 12, 3, 3, 2, 1}}) {
    const auto x = random_f32(rng, p.N * p.C * p.H * p.W, -1.f, 2.f);
    const auto w = random_f32(rng, p.M * (p.C / p.group) * p.k * p.k, -1.f, 1.f);
    const auto b = random_f32(rng, p.M, -0.5f, 0.5f);
    std::vector<Tensor> out;
    Status st = run_dynamic(conv_node(p, true, false), 17,
                            {make_tensor<float>({p.N, p.C, p.H, p.W}, x),
                             make_tensor<float>({p.M, p.C / p.group, p.k, p.k}, w), make_tensor<float>({p.M}, b)},
                            &out, {false, true, true});
    ASSERT_TRUE(st.ok()) << st.message();
    expect_same(values_of<float>(out[0]), ref_conv(p, x, w, b, nullptr, -INFINITY, INFINITY));
  }
}

TEST(Int8DynamicConv, ZeroInputGivesBiasAndNaNPropagates) {
  const ConvCase p{1, 2, 3, 3, 3, 1, 1, 1, 0};
  std::vector<float> x(18, 0.f), w(6, 0.5f), b = {-1.f, 0.25f, 2.f};
  NodeDef n = conv_node(p, true, false);
  n.set_attr_string("__activation", "Relu");
  std::vector<Tensor> out;
  ASSERT_TRUE(run_dynamic(n, 17,
                          {make_tensor<float>({1, 2, 3, 3}, x), make_tensor<float>({3, 2, 1, 1}, w),
                           make_tensor<float>({3}, b)},
                          &out, {false, true, true})
                  .ok());
  const auto y = values_of<float>(out[0]);
  for (int i = 0; i < 9; i++) {
    EXPECT_EQ(y[size_t(i)], 0.f);
    EXPECT_EQ(y[size_t(9 + i)], 0.25f);
    EXPECT_EQ(y[size_t(18 + i)], 2.f);
  }
  x[4] = NAN;
  ASSERT_TRUE(run_dynamic(n, 17,
                          {make_tensor<float>({1, 2, 3, 3}, x), make_tensor<float>({3, 2, 1, 1}, w),
                           make_tensor<float>({3}, b)},
                          &out, {false, true, true})
                  .ok());
  for (float v : values_of<float>(out[0])) EXPECT_TRUE(std::isnan(v));
}

TEST(Int8DynamicConv, RefusesWhatItCannotDo) {
  const ConvCase p{1, 2, 3, 3, 3, 1, 1, 1, 0};
  NodeDef n = conv_node(p, false, false);
  n.set_attr_string("__activation", "Sigmoid");
  std::vector<Tensor> out;
  std::vector<Tensor> ins = {make_tensor<float>({1, 2, 3, 3}, std::vector<float>(18, 1.f)),
                             make_tensor<float>({3, 2, 1, 1}, std::vector<float>(6, 1.f))};
  Status st = run_dynamic(n, 17, ins, &out, {false, true});
  EXPECT_EQ(st.code(), ErrorCode::kUnsupported);
  EXPECT_NE(st.message().find("Sigmoid"), std::string::npos) << st.message();
  n = conv_node(p, false, false);
  st = run_dynamic(n, 17, ins, &out, {false, false});  // weights not constant
  EXPECT_EQ(st.code(), ErrorCode::kUnsupported);
}

// Y[M, N] = X[M, K] * W[K, N] + bias (alpha folded into W, beta into bias before quantization).
std::vector<float> ref_linear(const std::vector<float>& x, int64_t M, int64_t K, const std::vector<float>& w_kn,
                              int64_t N, const std::vector<float>& bias, float lo, float hi) {
  std::vector<float> wt(size_t(N * K));
  for (int64_t n = 0; n < N; n++)
    for (int64_t k = 0; k < K; k++) wt[size_t(n * K + k)] = w_kn[size_t(k * N + n)];
  std::vector<int32_t> qw;
  std::vector<float> s_w;
  ref_weights(wt, N, K, &qw, &s_w);
  const float s_x = ref_absmax(x) / 127.f;
  std::vector<float> y(size_t(M * N));
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < N; n++) {
      int32_t acc = bias.empty() ? 0 : ref_bias(bias[size_t(n)], s_x, s_w[size_t(n)]);
      for (int64_t k = 0; k < K; k++) acc += ref_q(x[size_t(m * K + k)], s_x) * qw[size_t(n * K + k)];
      y[size_t(m * N + n)] = std::fmin(std::fmax(float(acc) * (s_x * s_w[size_t(n)]), lo), hi);
    }
  return y;
}

TEST(Int8DynamicGemm, TransBAlphaBetaMatchesReference) {
  std::mt19937 rng(13);
  for (int64_t M : {int64_t(1), int64_t(5), int64_t(33)}) {
    const int64_t K = 37, N = 19;
    const float alpha = 0.75f, beta = 2.f;
    const auto x = random_f32(rng, M * K, -4.f, 4.f);
    const auto w_nk = random_f32(rng, N * K, -1.f, 1.f);  // transB = 1: B is [N, K]
    const auto c = random_f32(rng, N, -1.f, 1.f);
    NodeDef n = make_node("Gemm", {"a", "b", "c"}, {"y"});
    n.set_attr_int("transB", 1);
    n.set_attr_float("alpha", alpha);
    n.set_attr_float("beta", beta);
    std::vector<Tensor> out;
    std::string kname;
    Status st = run_dynamic(n, 13,
                            {make_tensor<float>({M, K}, x), make_tensor<float>({N, K}, w_nk),
                             make_tensor<float>({N}, c)},
                            &out, {false, true, true}, &kname);
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_NE(kname.find("gemm_s8_dynamic"), std::string::npos) << kname;
    EXPECT_EQ(out[0].dims(), (Dims{M, N}));
    std::vector<float> w_kn(static_cast<size_t>(K * N)), bias(static_cast<size_t>(N));
    for (int64_t k = 0; k < K; k++)
      for (int64_t j = 0; j < N; j++) w_kn[size_t(k * N + j)] = alpha * w_nk[size_t(j * K + k)];
    for (int64_t j = 0; j < N; j++) bias[size_t(j)] = beta * c[size_t(j)];
    expect_same(values_of<float>(out[0]), ref_linear(x, M, K, w_kn, N, bias, -INFINITY, INFINITY));
  }
}

TEST(Int8DynamicMatMul, BatchedActivationMatchesReference) {
  std::mt19937 rng(14);
  const int64_t K = 24, N = 10;
  const auto x = random_f32(rng, 2 * 3 * K, -1.f, 2.f);
  const auto w = random_f32(rng, K * N, -0.3f, 0.3f);
  NodeDef n = make_node("MatMul", {"a", "b"}, {"y"});
  std::vector<Tensor> out;
  Status st = run_dynamic(n, 13, {make_tensor<float>({2, 3, K}, x), make_tensor<float>({K, N}, w)}, &out,
                          {false, true});
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(out[0].dims(), (Dims{2, 3, N}));
  expect_same(values_of<float>(out[0]), ref_linear(x, 6, K, w, N, {}, -INFINITY, INFINITY));
}

}  // namespace
}  // namespace int8rt
