// The int8 operators (Precision::kInt8, ops/int8*.cc) against straightforward reference loops written here, bit for
// bit: Conv (1x1, kxk, strided, dilated, grouped, depthwise, auto_pad, 1-D/2-D/3-D, bias, residual, Relu/Clip),
// Gemm/MatMul, Add/Mul with broadcasting, Relu/Clip, the table ops, Concat, AveragePool/GlobalAveragePool/
// GlobalMaxPool, and the data-movement ops that forward to the float kernels. Random and awkward shapes, extreme
// values, one and two threads; the AVX2 kernels also against the portable ones in-process. Run the binary again
// with INT8RT_ISA=scalar for the portable paths end to end.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "kernels/dwconv-s8.h"
#include "kernels/eltwise-s8.h"
#include "op_test_util.h"
#include "quant/qnode.h"

namespace int8rt {
namespace {

using testing::make_node;
using testing::make_tensor;
using testing::SimpleOpContext;
using testing::values_of;

// ---------------------------------------------------------------------------------------------------------------
// Harness

// Creates the int8 kernel for `node` and runs it (as testing::run_op does for float kernels).
Status run_s8(const NodeDef& node, int opset, const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs,
              const std::vector<bool>& constant = {}, int threads = 2) {
  return testing::run_op_at(Precision::kInt8, node, opset, inputs, outputs, constant, threads);
}

Attribute floats_attr(const std::string& name, const std::vector<float>& v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kFloats;
  a.floats = v;
  return a;
}
Attribute ints_attr(const std::string& name, const std::vector<int64_t>& v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kInts;
  a.ints = v;
  return a;
}

void set_scales(NodeDef* n, const std::vector<float>& in, const std::vector<float>& out) {
  n->attrs.push_back(floats_attr("__in_scales", in));
  n->attrs.push_back(floats_attr("__out_scales", out));
}

std::vector<int8_t> random_s8(std::mt19937& rng, int64_t n, int lo = -128, int hi = 127) {
  std::uniform_int_distribution<int> u(lo, hi);
  std::vector<int8_t> v(size_t(std::max<int64_t>(n, 0)));
  for (auto& x : v) x = int8_t(u(rng));
  return v;
}
std::vector<float> random_f(std::mt19937& rng, int64_t n, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(size_t(std::max<int64_t>(n, 0)));
  for (auto& x : v) x = u(rng);
  return v;
}
int64_t prod(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (int64_t x : v) p *= x;
  return p;
}

// The reference requantization steps (quant/qnode.h, kernels/qgemm.h).
int8_t ref_epilogue(int64_t acc, float m, const int8_t* r, float rm, int32_t qmin, int32_t qmax) {
  float v = float(int32_t(acc)) * m;
  if (r) v = std::fma(float(*r), rm, v);
  v = std::min(std::max(v, float(qmin)), float(qmax));
  return int8_t(std::nearbyint(v));
}
int8_t ref_round_sat(float v) { return int8_t(std::nearbyint(std::min(std::max(v, -128.f), 127.f))); }

// Per-row symmetric weight quantization written out: s = max|w| / 127 (1 when all zero), q = rne(w / s).
void ref_quantize_rows(const std::vector<float>& w, int64_t rows, int64_t per, std::vector<int8_t>* q,
                       std::vector<float>* s) {
  q->resize(w.size());
  s->resize(size_t(rows));
  for (int64_t r = 0; r < rows; r++) {
    float amax = 0.f;
    for (int64_t j = 0; j < per; j++) amax = std::max(amax, std::fabs(w[size_t(r * per + j)]));
    const float sc = amax > 0.f ? amax / 127.f : 1.f;
    (*s)[size_t(r)] = sc;
    for (int64_t j = 0; j < per; j++) {
      const float v = w[size_t(r * per + j)] / sc;
      (*q)[size_t(r * per + j)] = int8_t(std::nearbyint(std::min(std::max(v, -127.f), 127.f)));
    }
  }
}
int32_t ref_bias(float b, float s_x, float s_w, int64_t depth) {
  const double lim = 2147483647.0 - double(depth) * 128.0 * 127.0;
  double q = std::nearbyint(double(b) / double(s_x * s_w));
  return int32_t(std::min(std::max(q, -lim), lim));
}

// ---------------------------------------------------------------------------------------------------------------
// Conv

struct ConvCase {
  int64_t N = 1, C = 1, M = 1, group = 1;
  std::vector<int64_t> in, k, s, d, pb, pe;  // spatial
  std::string auto_pad;                      // "" = explicit pads
  bool bias = true, residual = false;
  std::string act;  // "", "Relu", "Clip"
  float clip_lo = 0.f, clip_hi = 6.f;
  float s_x = 0.02f, s_y = 0.05f, s_r = 0.03f;
  float w_range = 1.f, b_range = 1.f;
  int x_fill = 0;  // 0: random inputs; else every input (and residual) element is this value
  int threads = 2;
};

void run_conv_case(const ConvCase& cc, uint32_t seed) {
  SCOPED_TRACE("conv seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const size_t nsp = cc.in.size();
  std::vector<int64_t> s = cc.s.empty() ? std::vector<int64_t>(nsp, 1) : cc.s;
  std::vector<int64_t> d = cc.d.empty() ? std::vector<int64_t>(nsp, 1) : cc.d;
  std::vector<int64_t> pb = cc.pb.empty() ? std::vector<int64_t>(nsp, 0) : cc.pb;
  std::vector<int64_t> pe = cc.pe.empty() ? std::vector<int64_t>(nsp, 0) : cc.pe;
  std::vector<int64_t> out(nsp);
  for (size_t i = 0; i < nsp; i++) {
    const int64_t dk = (cc.k[i] - 1) * d[i] + 1;
    if (cc.auto_pad == "SAME_UPPER" || cc.auto_pad == "SAME_LOWER") {
      out[i] = (cc.in[i] + s[i] - 1) / s[i];
      const int64_t total = std::max<int64_t>(0, (out[i] - 1) * s[i] + dk - cc.in[i]);
      pb[i] = cc.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe[i] = total - pb[i];
    } else {
      if (cc.auto_pad == "VALID") pb[i] = pe[i] = 0;
      out[i] = (cc.in[i] + pb[i] + pe[i] - dk) / s[i] + 1;
    }
  }
  const int64_t Cg = cc.C / cc.group, Mg = cc.M / cc.group, taps = prod(cc.k), per = Cg * taps;
  Dims xd{cc.N, cc.C}, wd{cc.M, Cg}, yd{cc.N, cc.M};
  xd.insert(xd.end(), cc.in.begin(), cc.in.end());
  wd.insert(wd.end(), cc.k.begin(), cc.k.end());
  yd.insert(yd.end(), out.begin(), out.end());
  std::vector<int8_t> x = random_s8(rng, prod(xd));
  std::vector<float> w = random_f(rng, prod(wd), -cc.w_range, cc.w_range);
  std::vector<float> b = random_f(rng, cc.M, -cc.b_range, cc.b_range);
  std::vector<int8_t> r = random_s8(rng, prod(yd));
  if (cc.x_fill) {
    std::fill(x.begin(), x.end(), int8_t(cc.x_fill));
    std::fill(r.begin(), r.end(), int8_t(cc.x_fill));
    for (size_t i = 0; i < w.size(); i++) w[i] = i % 2 ? cc.w_range : -cc.w_range;
  }

  NodeDef n = make_node("Conv", {"x", "w", cc.bias ? "b" : "", cc.residual ? "r" : ""}, {"y"});
  if (!cc.residual) n.inputs.pop_back();
  if (!cc.bias && !cc.residual) n.inputs.pop_back();
  n.set_attr_int("group", cc.group);
  if (!cc.auto_pad.empty()) {
    n.set_attr_string("auto_pad", cc.auto_pad);
  } else {
    std::vector<int64_t> pads = pb;
    pads.insert(pads.end(), pe.begin(), pe.end());
    n.attrs.push_back(ints_attr("pads", pads));
  }
  n.attrs.push_back(ints_attr("strides", s));
  n.attrs.push_back(ints_attr("dilations", d));
  n.attrs.push_back(ints_attr("kernel_shape", cc.k));
  if (!cc.act.empty()) {
    n.set_attr_string("__activation", cc.act);
    if (cc.act == "Clip") {
      n.set_attr_float("__clip_min", cc.clip_lo);
      n.set_attr_float("__clip_max", cc.clip_hi);
    }
  }
  set_scales(&n, {cc.s_x, 0.f, 0.f, cc.residual ? cc.s_r : 0.f}, {cc.s_y});

  // Reference.
  std::vector<int8_t> wq;
  std::vector<float> sw;
  ref_quantize_rows(w, cc.M, per, &wq, &sw);
  int32_t qmin = -128, qmax = 127;
  if (cc.act == "Relu") activation_bounds_s8(0.f, INFINITY, cc.s_y, &qmin, &qmax);
  if (cc.act == "Clip") activation_bounds_s8(cc.clip_lo, cc.clip_hi, cc.s_y, &qmin, &qmax);
  // Pad the spatial shape to 3-D for the loops.
  auto pad3 = [&](const std::vector<int64_t>& v, int64_t fill) {
    std::vector<int64_t> o(3 - nsp, fill);
    o.insert(o.end(), v.begin(), v.end());
    return o;
  };
  const auto I = pad3(cc.in, 1), O = pad3(out, 1), K = pad3(cc.k, 1), S = pad3(s, 1), D = pad3(d, 1),
             P = pad3(pb, 0);
  const int64_t isz = prod(cc.in), osz = prod(out);
  std::vector<int8_t> expect(size_t(prod(yd)));
  for (int64_t nn = 0; nn < cc.N; nn++)
    for (int64_t m = 0; m < cc.M; m++) {
      const int64_t g = m / Mg;
      const float mult = cc.s_x * sw[size_t(m)] / cc.s_y;
      const int32_t bq = cc.bias ? ref_bias(b[size_t(m)], cc.s_x, sw[size_t(m)], per) : 0;
      for (int64_t o0 = 0; o0 < O[0]; o0++)
        for (int64_t o1 = 0; o1 < O[1]; o1++)
          for (int64_t o2 = 0; o2 < O[2]; o2++) {
            int64_t acc = bq;
            for (int64_t c = 0; c < Cg; c++)
              for (int64_t k0 = 0; k0 < K[0]; k0++)
                for (int64_t k1 = 0; k1 < K[1]; k1++)
                  for (int64_t k2 = 0; k2 < K[2]; k2++) {
                    const int64_t i0 = o0 * S[0] - P[0] + k0 * D[0], i1 = o1 * S[1] - P[1] + k1 * D[1],
                                  i2 = o2 * S[2] - P[2] + k2 * D[2];
                    if (i0 < 0 || i0 >= I[0] || i1 < 0 || i1 >= I[1] || i2 < 0 || i2 >= I[2]) continue;
                    const int64_t xi = (nn * cc.C + g * Cg + c) * isz + (i0 * I[1] + i1) * I[2] + i2;
                    const int64_t wi = m * per + c * taps + (k0 * K[1] + k1) * K[2] + k2;
                    acc += int64_t(wq[size_t(wi)]) * x[size_t(xi)];
                  }
            const int64_t yi = (nn * cc.M + m) * osz + (o0 * O[1] + o1) * O[2] + o2;
            expect[size_t(yi)] = ref_epilogue(acc, mult, cc.residual ? &r[size_t(yi)] : nullptr, cc.s_r / cc.s_y,
                                              qmin, qmax);
          }
    }

  std::vector<Tensor> ins = {make_tensor<int8_t>(xd, x), make_tensor<float>(wd, w),
                             make_tensor<float>({cc.M}, b), make_tensor<int8_t>(yd, r)};
  std::vector<Tensor> outs;
  Status st = run_s8(n, 13, ins, &outs, {false, true, true, false}, cc.threads);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(outs[0].dims(), yd);
  ASSERT_EQ(outs[0].dtype(), DType::kInt8);
  const std::vector<int8_t> got = values_of<int8_t>(outs[0]);
  int64_t bad = 0;
  for (size_t i = 0; i < got.size(); i++)
    if (got[i] != expect[i] && bad++ < 5)
      ADD_FAILURE() << "at " << i << ": got " << int(got[i]) << " want " << int(expect[i]);
  EXPECT_EQ(bad, 0);
}

TEST(Int8Conv, Pointwise) {
  ConvCase c;
  c.N = 2, c.C = 5, c.M = 7, c.in = {9, 11}, c.k = {1, 1};
  for (int t : {1, 2}) {
    c.threads = t;
    run_conv_case(c, 1);
  }
  c.in = {1, 1};
  run_conv_case(c, 2);
}

TEST(Int8Conv, KxK) {
  ConvCase c;
  c.N = 1, c.C = 3, c.M = 16, c.in = {13, 17}, c.k = {3, 3}, c.pb = {1, 1}, c.pe = {1, 1};
  for (int t : {1, 2}) {
    c.threads = t;
    run_conv_case(c, 3);
  }
  c.k = {3, 5}, c.pb = {0, 2}, c.pe = {2, 1}, c.s = {2, 3};
  run_conv_case(c, 4);
  c.s = {1, 1}, c.d = {2, 3};
  run_conv_case(c, 5);
  c.k = {7, 7}, c.pb = {3, 3}, c.pe = {3, 3}, c.s = {2, 2}, c.d = {};
  run_conv_case(c, 6);
}

TEST(Int8Conv, Grouped) {
  ConvCase c;
  c.N = 2, c.C = 8, c.M = 12, c.group = 4, c.in = {10, 9}, c.k = {3, 3}, c.pb = {1, 1}, c.pe = {1, 1};
  run_conv_case(c, 7);
  c.group = 2, c.s = {2, 2};
  c.threads = 1;
  run_conv_case(c, 8);
}

TEST(Int8Conv, AutoPad) {
  ConvCase c;
  c.C = 4, c.M = 6, c.in = {10, 7}, c.k = {3, 4}, c.s = {2, 3};
  for (const char* ap : {"SAME_UPPER", "SAME_LOWER", "VALID"}) {
    SCOPED_TRACE(ap);
    c.auto_pad = ap;
    run_conv_case(c, 9);
  }
}

TEST(Int8Conv, OneAndThreeD) {
  ConvCase c;
  c.N = 2, c.C = 6, c.M = 5, c.in = {31}, c.k = {5}, c.s = {2}, c.pb = {2}, c.pe = {1};
  run_conv_case(c, 10);
  c.in = {1}, c.k = {1}, c.s = {}, c.pb = {}, c.pe = {};
  run_conv_case(c, 11);
  ConvCase c3;
  c3.C = 3, c3.M = 4, c3.in = {4, 5, 6}, c3.k = {2, 3, 3}, c3.pb = {1, 0, 1}, c3.pe = {0, 1, 1}, c3.s = {1, 2, 1};
  run_conv_case(c3, 12);
}

TEST(Int8Conv, BiasResidualActivation) {
  ConvCase c;
  c.N = 2, c.C = 6, c.M = 8, c.in = {9, 9}, c.k = {3, 3}, c.pb = {1, 1}, c.pe = {1, 1};
  c.residual = true;
  run_conv_case(c, 13);
  c.act = "Relu";
  run_conv_case(c, 14);
  c.act = "Clip", c.clip_lo = -0.3f, c.clip_hi = 2.f;
  run_conv_case(c, 15);
  c.bias = false;
  run_conv_case(c, 16);
  c.residual = false;
  run_conv_case(c, 17);
  c.bias = true, c.act = "", c.b_range = 1e9f;  // biases far beyond the output range: saturation
  run_conv_case(c, 18);
  c.b_range = 1e30f;  // beyond int32: the bias saturates
  run_conv_case(c, 19);
  c.w_range = 0.f;  // all-zero weights: scale 1
  run_conv_case(c, 20);
}

TEST(Int8Conv, ExtremeValuesAndScales) {
  ConvCase c;
  c.C = 64, c.M = 9, c.in = {6, 6}, c.k = {3, 3}, c.pb = {1, 1}, c.pe = {1, 1};
  c.s_x = 1.f, c.s_y = 1e-3f;  // everything saturates
  run_conv_case(c, 21);
  c.s_x = 1e-4f, c.s_y = 10.f;  // everything rounds to ~0
  run_conv_case(c, 22);
  // All inputs -128 with weights at the extremes: the largest accumulators.
  c.s_x = 0.02f, c.s_y = 0.05f, c.x_fill = -128;
  run_conv_case(c, 23);
  c.residual = true;
  c.C = c.M = c.group = 9;  // depthwise
  run_conv_case(c, 25);
  c.x_fill = 127;
  run_conv_case(c, 26);
}

TEST(Int8Conv, LargeTiledParallel) {
  ConvCase c;
  c.N = 2, c.C = 16, c.M = 24, c.in = {40, 70}, c.k = {3, 3}, c.pb = {1, 1}, c.pe = {1, 1};
  c.residual = true, c.act = "Relu";
  for (int t : {1, 2}) {
    c.threads = t;
    run_conv_case(c, 24);
  }
}

TEST(Int8Conv, Depthwise) {
  ConvCase c;
  c.N = 2, c.C = c.M = c.group = 13, c.in = {15, 21}, c.k = {3, 3}, c.pb = {1, 1}, c.pe = {1, 1};
  for (int t : {1, 2}) {
    c.threads = t;
    run_conv_case(c, 30);
  }
  c.k = {5, 5}, c.pb = {2, 2}, c.pe = {2, 2}, c.s = {2, 2};
  run_conv_case(c, 31);
  c.k = {3, 3}, c.pb = {2, 2}, c.pe = {2, 2}, c.s = {1, 1}, c.d = {2, 2};
  run_conv_case(c, 32);
  c.d = {}, c.s = {3, 1}, c.pb = {0, 1}, c.pe = {2, 0};
  run_conv_case(c, 33);
  c.in = {7, 7}, c.s = {1, 1}, c.pb = {1, 1}, c.pe = {1, 1};
  c.residual = true, c.act = "Clip", c.clip_lo = 0.f, c.clip_hi = 3.f;
  run_conv_case(c, 34);
  c.in = {37, 75}, c.act = "Relu";
  run_conv_case(c, 35);
  c.in = {2, 3}, c.k = {3, 3}, c.pb = {2, 2}, c.pe = {2, 2};  // kernel larger than the plane
  run_conv_case(c, 36);
  ConvCase d1;
  d1.C = d1.M = d1.group = 5, d1.in = {40}, d1.k = {3}, d1.pb = {1}, d1.pe = {1};
  run_conv_case(d1, 37);
  d1.s = {2}, d1.k = {7}, d1.pb = {3}, d1.pe = {3};
  run_conv_case(d1, 38);
}

TEST(Int8Conv, Refusals) {
  std::vector<Tensor> outs;
  NodeDef n = make_node("Conv", {"x", "w"}, {"y"});
  set_scales(&n, {0.1f, 0.f}, {0.1f});
  Tensor x = make_tensor<int8_t>({1, 1, 3, 3}, std::vector<int8_t>(9, 1));
  Tensor w = make_tensor<float>({1, 1, 1, 1}, {1.f});
  // Weights that are not constant.
  Status st = run_s8(n, 13, {x, w}, &outs, {false, false});
  EXPECT_EQ(st.code(), ErrorCode::kUnsupported);
  // A fused activation without an int8 epilogue.
  NodeDef l = n;
  l.set_attr_string("__activation", "LeakyRelu");
  st = run_s8(l, 13, {x, w}, &outs, {false, true});
  EXPECT_EQ(st.code(), ErrorCode::kUnsupported);
  EXPECT_NE(st.message().find("LeakyRelu"), std::string::npos) << st.message();
  // No scales.
  NodeDef ns = make_node("Conv", {"x", "w"}, {"y"});
  st = run_s8(ns, 13, {x, w}, &outs, {false, true});
  EXPECT_FALSE(st.ok());
  // A float input at run time.
  Tensor xf = make_tensor<float>({1, 1, 3, 3}, std::vector<float>(9, 1.f));
  st = run_s8(n, 13, {xf, w}, &outs, {false, true});
  EXPECT_EQ(st.code(), ErrorCode::kDtype);
  // A channel mismatch.
  Tensor x2 = make_tensor<int8_t>({1, 2, 3, 3}, std::vector<int8_t>(18, 1));
  st = run_s8(n, 13, {x2, w}, &outs, {false, true});
  EXPECT_EQ(st.code(), ErrorCode::kShape);
  // Empty batch: an empty output.
  Tensor x0 = make_tensor<int8_t>({0, 1, 3, 3}, {});
  st = run_s8(n, 13, {x0, w}, &outs, {false, true});
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(outs[0].dims(), (Dims{0, 1, 3, 3}));
}

// The depthwise kernels against each other over many geometries, in-process (the AVX2 one when the CPU has it).
TEST(Int8DwConvKernel, Avx2MatchesPortable) {
#if defined(__x86_64__) || defined(_M_X64)
  if (!cpu_features().avx2) GTEST_SKIP() << "no AVX2";
  int tested = 0;
  std::mt19937 rng(40);
  std::uniform_int_distribution<int> U(0, 1 << 30);
  for (int it = 0; it < 400; it++) {
    DwConvS8Plane p;
    p.kh = 1 + U(rng) % 7, p.kw = 1 + U(rng) % 7;
    if (it % 50 == 0) p.kw = 17;  // wider than the AVX2 kernel takes: the portable fallback
    p.sh = 1 + U(rng) % 3, p.sw = 1 + U(rng) % 4;
    p.dh = 1 + U(rng) % 2, p.dw = 1 + U(rng) % 3;
    p.H = 1 + U(rng) % 40, p.W = 1 + U(rng) % 70;
    p.pad_t = U(rng) % (p.kh + 1), p.pad_l = U(rng) % (p.kw + 1);
    const int64_t pad_b = U(rng) % (p.kh + 1), pad_r = U(rng) % (p.kw + 1);
    const int64_t ekh = (p.kh - 1) * p.dh + 1, ekw = (p.kw - 1) * p.dw + 1;
    if (p.H + p.pad_t + pad_b < ekh || p.W + p.pad_l + pad_r < ekw) continue;
    p.OH = (p.H + p.pad_t + pad_b - ekh) / p.sh + 1;
    p.OW = (p.W + p.pad_l + pad_r - ekw) / p.sw + 1;
    p.qmin = it % 3 == 0 ? 0 : -128;
    p.qmax = it % 5 == 0 ? 100 : 127;
    std::vector<int8_t> in = random_s8(rng, p.H * p.W), w = random_s8(rng, p.kh * p.kw, -127, 127);
    std::vector<int8_t> res = random_s8(rng, p.OH * p.OW);
    if (it % 7 == 0) std::fill(in.begin(), in.end(), int8_t(-128));
    if (it % 7 == 0) std::fill(w.begin(), w.end(), int8_t(-127));
    DwConvS8Channel ch;
    ch.w = w.data();
    ch.bias = int32_t(U(rng) % 20001) - 10000;
    ch.multiplier = std::uniform_real_distribution<float>(1e-4f, 0.05f)(rng);
    if (it % 2) {
      ch.residual = res.data();
      ch.residual_multiplier = 0.7f;
    }
    std::vector<char> ws1(dwconv2d_s8_ref_workspace(p)), ws2(dwconv2d_s8_avx2_workspace(p));
    std::vector<int8_t> o1(size_t(p.OH * p.OW));
    dwconv2d_s8_ref(p, in.data(), ch, o1.data(), ws1.data());
    const std::string where = "iteration " + std::to_string(it) + " k " + std::to_string(p.kh) + "x" +
                              std::to_string(p.kw) + " s " + std::to_string(p.sh) + "," + std::to_string(p.sw) +
                              " d " + std::to_string(p.dh) + "," + std::to_string(p.dw) + " in " +
                              std::to_string(p.H) + "x" + std::to_string(p.W);
    std::vector<int8_t> o2(o1.size(), 99);
    dwconv2d_s8_avx2(p, in.data(), ch, o2.data(), ws2.data());
    ASSERT_EQ(o1, o2) << where;
    tested++;
  }
  EXPECT_GT(tested, 200);  // most random geometries are valid
#else
  GTEST_SKIP() << "x86 only";
#endif
}

// ---------------------------------------------------------------------------------------------------------------
// Gemm, MatMul

void ref_linear(const std::vector<int8_t>& x, int64_t M, int64_t K, const std::vector<float>& wt /* [N,K] */,
                int64_t N, const std::vector<float>* bias, float s_x, float s_y, int32_t qmin, int32_t qmax,
                std::vector<int8_t>* y) {
  std::vector<int8_t> q;
  std::vector<float> sw;
  ref_quantize_rows(wt, N, K, &q, &sw);
  y->assign(size_t(M * N), 0);
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < N; n++) {
      int64_t acc = bias ? ref_bias((*bias)[size_t(n)], s_x, sw[size_t(n)], K) : 0;
      for (int64_t k = 0; k < K; k++) acc += int64_t(q[size_t(n * K + k)]) * x[size_t(m * K + k)];
      (*y)[size_t(m * N + n)] = ref_epilogue(acc, s_x * sw[size_t(n)] / s_y, nullptr, 0.f, qmin, qmax);
    }
}

void expect_same(const std::vector<int8_t>& got, const std::vector<int8_t>& want) {
  ASSERT_EQ(got.size(), want.size());
  int64_t bad = 0;
  for (size_t i = 0; i < got.size(); i++)
    if (got[i] != want[i] && bad++ < 5)
      ADD_FAILURE() << "at " << i << ": got " << int(got[i]) << " want " << int(want[i]);
  EXPECT_EQ(bad, 0);
}

TEST(Int8Gemm, Shapes) {
  std::mt19937 rng(50);
  struct Case {
    int64_t M, K, N;
    bool transB;
    float alpha, beta;
    int bias;  // 0 none, 1 [N], 2 [1,N], 3 scalar
    std::string act;
  };
  const Case cases[] = {{1, 64, 10, false, 1.f, 1.f, 1, ""},   {1, 1, 1, true, 1.f, 1.f, 0, ""},
                        {5, 37, 19, true, 0.5f, 2.f, 2, "Relu"}, {33, 100, 7, false, -1.5f, 0.f, 3, ""},
                        {64, 17, 130, true, 1.f, 1.f, 1, "Clip"}, {3, 0, 4, false, 1.f, 1.f, 1, ""},
                        {2, 5, 3, false, 0.f, 1.f, 1, ""}};
  for (const Case& c : cases) {
    for (int t : {1, 2}) {
      SCOPED_TRACE("gemm M " + std::to_string(c.M) + " K " + std::to_string(c.K) + " N " + std::to_string(c.N));
      const float s_x = 0.03f, s_y = 0.07f;
      std::vector<int8_t> x = random_s8(rng, c.M * c.K);
      std::vector<float> B = random_f(rng, c.K * c.N), C = random_f(rng, c.N);
      Dims bd = c.transB ? Dims{c.N, c.K} : Dims{c.K, c.N};
      Dims cdims = c.bias == 1 ? Dims{c.N} : c.bias == 2 ? Dims{1, c.N} : Dims{};
      if (c.bias == 3) C.resize(1);
      NodeDef n = make_node("Gemm", {"a", "b", c.bias ? "c" : ""}, {"y"});
      if (!c.bias) n.inputs.pop_back();
      n.set_attr_int("transB", c.transB);
      n.set_attr_float("alpha", c.alpha);
      n.set_attr_float("beta", c.beta);
      int32_t qmin = -128, qmax = 127;
      if (!c.act.empty()) {
        n.set_attr_string("__activation", c.act);
        n.set_attr_float("__clip_min", -0.5f);
        n.set_attr_float("__clip_max", 1.f);
        if (c.act == "Relu") activation_bounds_s8(0.f, INFINITY, s_y, &qmin, &qmax);
        else activation_bounds_s8(-0.5f, 1.f, s_y, &qmin, &qmax);
      }
      set_scales(&n, {s_x, 0.f, 0.f}, {s_y});
      std::vector<float> wt(size_t(c.N * c.K)), bias(size_t(c.N));
      for (int64_t nn = 0; nn < c.N; nn++) {
        for (int64_t k = 0; k < c.K; k++)
          wt[size_t(nn * c.K + k)] = c.alpha * (c.transB ? B[size_t(nn * c.K + k)] : B[size_t(k * c.N + nn)]);
        if (c.bias) bias[size_t(nn)] = c.beta * C[c.bias == 3 ? 0 : size_t(nn)];
      }
      std::vector<int8_t> want;
      ref_linear(x, c.M, c.K, wt, c.N, c.bias ? &bias : nullptr, s_x, s_y, qmin, qmax, &want);
      std::vector<Tensor> outs;
      Status st = run_s8(n, 13,
                         {make_tensor<int8_t>({c.M, c.K}, x), make_tensor<float>(bd, B), make_tensor<float>(cdims, C)},
                         &outs, {false, true, true}, t);
      ASSERT_TRUE(st.ok()) << st.message();
      EXPECT_EQ(outs[0].dims(), (Dims{c.M, c.N}));
      expect_same(values_of<int8_t>(outs[0]), want);
    }
  }
}

TEST(Int8Gemm, Refusals) {
  std::vector<Tensor> outs;
  NodeDef n = make_node("Gemm", {"a", "b", "c"}, {"y"});
  set_scales(&n, {0.1f, 0.f, 0.f}, {0.1f});
  Tensor a = make_tensor<int8_t>({2, 3}, std::vector<int8_t>(6, 1));
  Tensor b = make_tensor<float>({3, 4}, std::vector<float>(12, 1.f));
  Tensor c = make_tensor<float>({2, 4}, std::vector<float>(8, 1.f));
  EXPECT_EQ(run_s8(n, 13, {a, b, c}, &outs, {false, true, true}).code(), ErrorCode::kUnsupported);  // [M,N] bias
  EXPECT_EQ(run_s8(n, 13, {a, b, c}, &outs, {false, false, false}).code(), ErrorCode::kUnsupported);
  NodeDef t = make_node("Gemm", {"a", "b"}, {"y"});
  set_scales(&t, {0.1f, 0.f}, {0.1f});
  t.set_attr_int("transA", 1);
  EXPECT_EQ(run_s8(t, 13, {a, b}, &outs, {false, true}).code(), ErrorCode::kUnsupported);
  NodeDef ok = make_node("Gemm", {"a", "b"}, {"y"});
  set_scales(&ok, {0.1f, 0.f}, {0.1f});
  Tensor bad = make_tensor<int8_t>({2, 5}, std::vector<int8_t>(10, 1));
  EXPECT_EQ(run_s8(ok, 13, {bad, b}, &outs, {false, true}).code(), ErrorCode::kShape);
}

TEST(Int8MatMul, Shapes) {
  std::mt19937 rng(60);
  struct Case {
    Dims x;
    Dims b;
  };
  const Case cases[] = {{{7}, {7, 5}},        {{1, 7}, {7, 5}},     {{3, 4, 20}, {20, 9}}, {{2, 1, 3, 33}, {33, 1}},
                        {{6, 16}, {16}},      {{16}, {16}},         {{0, 5}, {5, 3}},      {{200, 24}, {24, 40}}};
  for (const Case& c : cases) {
    for (int t : {1, 2}) {
      SCOPED_TRACE("matmul " + dims_str(c.x) + " x " + dims_str(c.b));
      const float s_x = 0.05f, s_y = 0.11f;
      const int64_t K = c.b[0], N = c.b.size() == 2 ? c.b[1] : 1, M = prod(c.x) / K;
      std::vector<int8_t> x = random_s8(rng, prod(c.x));
      std::vector<float> B = random_f(rng, prod(c.b));
      std::vector<float> wt(size_t(N * K));
      for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++) wt[size_t(n * K + k)] = B[size_t(k * N + n)];
      std::vector<int8_t> want;
      ref_linear(x, M, K, wt, N, nullptr, s_x, s_y, -128, 127, &want);
      NodeDef n = make_node("MatMul", {"a", "b"}, {"y"});
      set_scales(&n, {s_x, 0.f}, {s_y});
      std::vector<Tensor> outs;
      Status st = run_s8(n, 13, {make_tensor<int8_t>(c.x, x), make_tensor<float>(c.b, B)}, &outs, {false, true}, t);
      ASSERT_TRUE(st.ok()) << st.message();
      Dims yd = c.x;
      yd.pop_back();
      if (c.b.size() == 2) yd.push_back(N);
      EXPECT_EQ(outs[0].dims(), yd);
      expect_same(values_of<int8_t>(outs[0]), want);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Add, Mul

// Broadcast reference: output index -> input index by numpy rules.
int64_t bcast_index(const Dims& od, const Dims& id, int64_t o) {
  int64_t idx = 0, stride = 1;
  for (size_t k = 0; k < od.size(); k++) {
    const size_t dd = od.size() - 1 - k;
    const int64_t c = o % od[dd];
    o /= od[dd];
    if (k < id.size()) {
      const int64_t n = id[id.size() - 1 - k];
      idx += (n == 1 ? 0 : c) * stride;
      stride *= n;
    }
  }
  return idx;
}

TEST(Int8Binary, AddMulBroadcast) {
  std::mt19937 rng(70);
  struct Case {
    Dims a, b;
  };
  const Case cases[] = {{{2, 3, 5, 7}, {2, 3, 5, 7}}, {{2, 3, 5, 7}, {}},        {{}, {4, 33}},
                        {{2, 13, 6, 7}, {1, 13, 1, 1}}, {{13, 1, 1}, {2, 13, 9, 9}}, {{5, 1}, {1, 6}},
                        {{1000}, {1000}},              {{3, 0, 2}, {3, 1, 2}},     {{1}, {77}}};
  for (const Case& c : cases)
    for (const char* op : {"Add", "Mul"})
      for (int t : {1, 2}) {
        SCOPED_TRACE(std::string(op) + " " + dims_str(c.a) + " " + dims_str(c.b));
        const float sa = 0.04f, sb = 0.013f, sy = std::string(op) == "Add" ? 0.05f : 0.004f;
        std::vector<int8_t> a = random_s8(rng, prod(c.a)), b = random_s8(rng, prod(c.b));
        if (!a.empty()) a[0] = -128;
        if (!b.empty()) b[0] = -128;
        NodeDef n = make_node(op, {"a", "b"}, {"y"});
        set_scales(&n, {sa, sb}, {sy});
        std::vector<Tensor> outs;
        Status st = run_s8(n, 14, {make_tensor<int8_t>(c.a, a), make_tensor<int8_t>(c.b, b)}, &outs, {}, t);
        ASSERT_TRUE(st.ok()) << st.message();
        Dims od(std::max(c.a.size(), c.b.size()), 1);
        for (size_t k = 0; k < od.size(); k++) {
          const int64_t x = k < c.a.size() ? c.a[c.a.size() - 1 - k] : 1;
          const int64_t y = k < c.b.size() ? c.b[c.b.size() - 1 - k] : 1;
          od[od.size() - 1 - k] = x == 1 ? y : x;
        }
        ASSERT_EQ(outs[0].dims(), od);
        std::vector<int8_t> want(size_t(prod(od)));
        for (int64_t o = 0; o < prod(od); o++) {
          const int8_t av = a[size_t(bcast_index(od, c.a, o))], bv = b[size_t(bcast_index(od, c.b, o))];
          want[size_t(o)] = std::string(op) == "Add"
                                ? ref_round_sat(std::fma(float(bv), sb / sy, float(av) * (sa / sy)))
                                : ref_round_sat(float(int32_t(av) * bv) * (sa * sb / sy));
        }
        expect_same(values_of<int8_t>(outs[0]), want);
      }
}

TEST(Int8Binary, KernelsMatch) {
  std::mt19937 rng(71);
  const EltwiseS8Kernels& p = eltwise_s8_portable();
  const EltwiseS8Kernels& k = eltwise_s8();
  for (int64_t n : {0, 1, 31, 32, 33, 100, 1000}) {
    std::vector<int8_t> a = random_s8(rng, n + 1), b = random_s8(rng, n + 1);
    std::vector<int8_t> y1(static_cast<size_t>(n)), y2(static_cast<size_t>(n));
    for (int mode = 0; mode < 3; mode++) {
      const bool av = mode != 1, bv = mode != 2;
      p.add(a.data(), av, b.data(), bv, y1.data(), n, 0.37f, 1.9f);
      k.add(a.data(), av, b.data(), bv, y2.data(), n, 0.37f, 1.9f);
      EXPECT_EQ(y1, y2);
      p.mul(a.data(), av, b.data(), bv, y1.data(), n, 0.0123f);
      k.mul(a.data(), av, b.data(), bv, y2.data(), n, 0.0123f);
      EXPECT_EQ(y1, y2);
    }
    p.rescale(a.data(), y1.data(), n, 2.5f);
    k.rescale(a.data(), y2.data(), n, 2.5f);
    EXPECT_EQ(y1, y2);
    // Exact ties: x * 0.5 lands on .5 for odd x, which rounds to even.
    p.rescale(a.data(), y1.data(), n, 0.5f);
    k.rescale(a.data(), y2.data(), n, 0.5f);
    EXPECT_EQ(y1, y2);
    for (int64_t i = 0; i < n; i++) EXPECT_EQ(y1[size_t(i)], int8_t(std::nearbyint(a[size_t(i)] * 0.5f)));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Relu, Clip, tables

TEST(Int8Unary, ReluClip) {
  std::vector<int8_t> x(256);
  for (int i = 0; i < 256; i++) x[size_t(i)] = int8_t(i - 128);
  std::vector<Tensor> outs;
  NodeDef r = make_node("Relu", {"x"}, {"y"});
  set_scales(&r, {0.1f}, {0.1f});
  ASSERT_TRUE(run_s8(r, 14, {make_tensor<int8_t>({256}, x)}, &outs).ok());
  std::vector<int8_t> y = values_of<int8_t>(outs[0]);
  for (int i = 0; i < 256; i++) EXPECT_EQ(y[size_t(i)], std::max<int8_t>(x[size_t(i)], 0));
  NodeDef r2 = make_node("Relu", {"x"}, {"y"});
  set_scales(&r2, {0.1f}, {0.2f});
  EXPECT_EQ(run_s8(r2, 14, {make_tensor<int8_t>({256}, x)}, &outs).code(), ErrorCode::kUnsupported);

  // Clip opset 13: bounds from constant inputs, rounded to the grid.
  NodeDef c = make_node("Clip", {"x", "lo", "hi"}, {"y"});
  set_scales(&c, {0.1f, 0.f, 0.f}, {0.1f});
  ASSERT_TRUE(run_s8(c, 13,
                     {make_tensor<int8_t>({16, 16}, x), make_tensor<float>({}, {-2.04f}),
                      make_tensor<float>({}, {6.f})},
                     &outs, {false, true, true})
                  .ok());
  y = values_of<int8_t>(outs[0]);
  for (int i = 0; i < 256; i++) EXPECT_EQ(y[size_t(i)], std::min<int8_t>(std::max<int8_t>(x[size_t(i)], -20), 60));
  // Clip opset 6: attributes; an absent bound.
  NodeDef c6 = make_node("Clip", {"x"}, {"y"});
  set_scales(&c6, {0.1f}, {0.1f});
  c6.set_attr_float("min", 0.f);
  ASSERT_TRUE(run_s8(c6, 6, {make_tensor<int8_t>({256}, x)}, &outs).ok());
  y = values_of<int8_t>(outs[0]);
  for (int i = 0; i < 256; i++) EXPECT_EQ(y[size_t(i)], std::max<int8_t>(x[size_t(i)], 0));
  // Non-constant bounds are refused.
  EXPECT_EQ(run_s8(c, 13,
                   {make_tensor<int8_t>({256}, x), make_tensor<float>({}, {0.f}), make_tensor<float>({}, {6.f})},
                   &outs, {false, false, false})
                .code(),
            ErrorCode::kUnsupported);
}

// Table ops: the int8 result is the float32 operator's result on the dequantized input, quantized.
TEST(Int8Unary, Tables) {
  struct Case {
    const char* op;
    std::vector<std::pair<std::string, float>> attrs;
    std::function<double(double)> f;  // the operator in double, to cross-check the float kernel's values
  };
  const double kPi = 3.14159265358979323846;
  (void)kPi;
  const std::vector<Case> cases = {
      {"Sigmoid", {}, [](double v) { return 1 / (1 + std::exp(-v)); }},
      {"Tanh", {}, [](double v) { return std::tanh(v); }},
      {"HardSigmoid",
       {{"alpha", 0.3f}, {"beta", 0.4f}},
       [](double v) { return std::min(std::max(0.3 * v + 0.4, 0.), 1.); }},
      {"HardSwish", {}, [](double v) { return v * std::min(std::max(v / 6 + 0.5, 0.), 1.); }},
      {"LeakyRelu", {{"alpha", 0.1f}}, [](double v) { return v < 0 ? 0.1 * v : v; }},
      {"Elu", {}, [](double v) { return v < 0 ? std::expm1(v) : v; }},
      {"Exp", {}, [](double v) { return std::exp(v); }},
      {"Softplus", {}, [](double v) { return std::log1p(std::exp(v)); }},
      {"Gelu", {}, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }},
      {"Erf", {}, [](double v) { return std::erf(v); }},
      {"Abs", {}, [](double v) { return std::fabs(v); }},
      {"Neg", {}, [](double v) { return -v; }},
      {"Round", {}, [](double v) { return std::nearbyint(v); }},
  };
  std::vector<int8_t> x(256);
  for (int i = 0; i < 256; i++) x[size_t(i)] = int8_t(i - 128);
  for (const Case& c : cases)
    for (float s_x : {0.01f, 0.05f, 0.3f}) {
      SCOPED_TRACE(std::string(c.op) + " s_x " + std::to_string(s_x));
      const float s_y = 0.02f;
      NodeDef n = make_node(c.op, {"x"}, {"y"});
      for (const auto& a : c.attrs) n.set_attr_float(a.first, a.second);
      set_scales(&n, {s_x}, {s_y});
      std::vector<Tensor> outs;
      Status st = run_s8(n, 20, {make_tensor<int8_t>({2, 128}, x)}, &outs);
      ASSERT_TRUE(st.ok()) << st.message();
      // The float32 kernel on the dequantized values (the fp32 engine's result), quantized.
      std::vector<float> xf(256);
      for (int i = 0; i < 256; i++) xf[size_t(i)] = float(x[size_t(i)]) * s_x;
      std::vector<Tensor> fouts;
      ASSERT_TRUE(testing::run_op(n, 20, {make_tensor<float>({256}, xf)}, &fouts).ok());
      const std::vector<float> yf = values_of<float>(fouts[0]);
      const std::vector<int8_t> y = values_of<int8_t>(outs[0]);
      for (int i = 0; i < 256; i++) {
        const int8_t from_float = quantize_s8(yf[size_t(i)], s_y);
        const int8_t from_double = quantize_s8(float(c.f(double(xf[size_t(i)]))), s_y);
        // The table is built with the portable float loops, the float engine may use AVX2 ones: they agree to an
        // ulp, which moves a quantized value only when it sits on a rounding boundary.
        EXPECT_LE(std::abs(int(y[size_t(i)]) - int(from_float)), 1) << "x " << int(x[size_t(i)]);
        EXPECT_LE(std::abs(int(y[size_t(i)]) - int(from_double)), 1) << "x " << int(x[size_t(i)]);
      }
    }
  // An operator undefined on part of the range is refused.
  NodeDef lg = make_node("Log", {"x"}, {"y"});
  set_scales(&lg, {0.1f}, {0.1f});
  std::vector<Tensor> outs;
  EXPECT_EQ(run_s8(lg, 13, {make_tensor<int8_t>({256}, x)}, &outs).code(), ErrorCode::kUnsupported);
}

// ---------------------------------------------------------------------------------------------------------------
// Concat

TEST(Int8Concat, RequantizeAndCopy) {
  std::mt19937 rng(80);
  for (int64_t axis : {0, 1, 2, -1}) {
    for (int t : {1, 2}) {
      SCOPED_TRACE("axis " + std::to_string(axis));
      const Dims base = {2, 3, 4};
      const size_t ax = size_t(axis < 0 ? axis + 3 : axis);
      std::vector<Dims> ds = {base, base, base};
      ds[1][ax] = 5;
      ds[2][ax] = 0;  // an empty input
      const std::vector<float> sc = {0.1f, 0.05f, 0.3f};
      const float s_y = 0.1f;  // input 0 is copied
      NodeDef n = make_node("Concat", {"a", "b", "c"}, {"y"});
      n.set_attr_int("axis", axis);
      set_scales(&n, sc, {s_y});
      std::vector<Tensor> ins;
      std::vector<std::vector<int8_t>> vals;
      for (const Dims& d : ds) {
        vals.push_back(random_s8(rng, prod(d)));
        ins.push_back(make_tensor<int8_t>(d, vals.back()));
      }
      std::vector<Tensor> outs;
      Status st = run_s8(n, 13, ins, &outs, {}, t);
      ASSERT_TRUE(st.ok()) << st.message();
      Dims od = base;
      od[ax] = ds[0][ax] + ds[1][ax] + ds[2][ax];
      ASSERT_EQ(outs[0].dims(), od);
      const std::vector<int8_t> y = values_of<int8_t>(outs[0]);
      int64_t outer = 1, inner = 1;
      for (size_t j = 0; j < ax; j++) outer *= od[j];
      for (size_t j = ax + 1; j < 3; j++) inner *= od[j];
      std::vector<int8_t> want;
      for (int64_t o = 0; o < outer; o++)
        for (size_t i = 0; i < 3; i++) {
          const int64_t len = ds[i][ax] * inner;
          for (int64_t j = 0; j < len; j++)
            want.push_back(ref_round_sat(float(vals[i][size_t(o * len + j)]) * (sc[i] / s_y)));
        }
      expect_same(y, want);
    }
  }
  NodeDef n = make_node("Concat", {"a", "b"}, {"y"});
  n.set_attr_int("axis", 1);
  set_scales(&n, {0.1f, 0.1f}, {0.1f});
  std::vector<Tensor> outs;
  const std::vector<Tensor> mismatched = {make_tensor<int8_t>({2, 3}, std::vector<int8_t>(6)),
                                          make_tensor<int8_t>({3, 3}, std::vector<int8_t>(9))};
  EXPECT_EQ(run_s8(n, 13, mismatched, &outs).code(), ErrorCode::kShape);
}

// ---------------------------------------------------------------------------------------------------------------
// Pools

struct PoolCase {
  Dims x;  // N, C, spatial...
  std::vector<int64_t> k, s, d, pads;
  bool ceil_mode = false, include_pad = false;
  std::string auto_pad;
};

PoolCase pool_case(Dims x, std::vector<int64_t> k, std::vector<int64_t> s, std::vector<int64_t> d = {},
                   std::vector<int64_t> pads = {}) {
  PoolCase c;
  c.x = std::move(x);
  c.k = std::move(k);
  c.s = std::move(s);
  c.d = std::move(d);
  c.pads = std::move(pads);
  return c;
}

void run_avgpool_case(const PoolCase& pc, uint32_t seed, int threads) {
  SCOPED_TRACE("avgpool seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const size_t sr = pc.k.size();
  std::vector<int64_t> s = pc.s.empty() ? std::vector<int64_t>(sr, 1) : pc.s;
  std::vector<int64_t> d = pc.d.empty() ? std::vector<int64_t>(sr, 1) : pc.d;
  std::vector<int64_t> pads = pc.pads.empty() ? std::vector<int64_t>(2 * sr, 0) : pc.pads;
  std::vector<int64_t> out(sr);
  for (size_t i = 0; i < sr; i++) {
    const int64_t in = pc.x[2 + i], span = d[i] * (pc.k[i] - 1) + 1;
    if (pc.auto_pad == "SAME_UPPER" || pc.auto_pad == "SAME_LOWER") {
      out[i] = (in + s[i] - 1) / s[i];
      const int64_t need = std::max<int64_t>(0, (out[i] - 1) * s[i] + span - in);
      pads[i] = pc.auto_pad == "SAME_UPPER" ? need / 2 : need - need / 2;
      pads[i + sr] = need - pads[i];
    } else {
      const int64_t room = in + pads[i] + pads[i + sr] - span;
      out[i] = (pc.ceil_mode ? (room + s[i] - 1) / s[i] : room / s[i]) + 1;
      if (pc.ceil_mode && (out[i] - 1) * s[i] >= in + pads[i]) out[i]--;
    }
  }
  const float s_x = 0.03f, s_y = 0.021f;
  std::vector<int8_t> x = random_s8(rng, prod(pc.x));
  NodeDef n = make_node("AveragePool", {"x"}, {"y"});
  n.attrs.push_back(ints_attr("kernel_shape", pc.k));
  n.attrs.push_back(ints_attr("strides", s));
  n.attrs.push_back(ints_attr("dilations", d));
  if (pc.auto_pad.empty())
    n.attrs.push_back(ints_attr("pads", pads));
  else
    n.set_attr_string("auto_pad", pc.auto_pad);
  n.set_attr_int("ceil_mode", pc.ceil_mode);
  n.set_attr_int("count_include_pad", pc.include_pad);
  set_scales(&n, {s_x}, {s_y});
  std::vector<Tensor> outs;
  Status st = run_s8(n, 19, {make_tensor<int8_t>(pc.x, x)}, &outs, {}, threads);
  ASSERT_TRUE(st.ok()) << st.message();
  Dims od = {pc.x[0], pc.x[1]};
  od.insert(od.end(), out.begin(), out.end());
  ASSERT_EQ(outs[0].dims(), od);
  // Reference over a 3-D window.
  std::vector<int64_t> I(3 - sr, 1), O(3 - sr, 1), K(3 - sr, 1), S(3 - sr, 1), D(3 - sr, 1), PB(3 - sr, 0),
      PE(3 - sr, 0);
  for (size_t i = 0; i < sr; i++) {
    I.push_back(pc.x[2 + i]), O.push_back(out[i]), K.push_back(pc.k[i]), S.push_back(s[i]), D.push_back(d[i]);
    PB.push_back(pads[i]), PE.push_back(pads[i + sr]);
  }
  std::vector<int8_t> want;
  for (int64_t pl = 0; pl < pc.x[0] * pc.x[1]; pl++)
    for (int64_t o0 = 0; o0 < O[0]; o0++)
      for (int64_t o1 = 0; o1 < O[1]; o1++)
        for (int64_t o2 = 0; o2 < O[2]; o2++) {
          int64_t sum = 0, cnt = 1;
          const int64_t o[3] = {o0, o1, o2};
          for (int a = 0; a < 3; a++) {  // per-axis counts
            int64_t c = 0;
            for (int64_t t = 0; t < K[a]; t++) {
              const int64_t i = o[a] * S[a] - PB[a] + t * D[a];
              if (pc.include_pad ? (i >= -PB[a] && i < I[a] + PE[a]) : (i >= 0 && i < I[a])) c++;
            }
            cnt *= c;
          }
          for (int64_t t0 = 0; t0 < K[0]; t0++)
            for (int64_t t1 = 0; t1 < K[1]; t1++)
              for (int64_t t2 = 0; t2 < K[2]; t2++) {
                const int64_t i0 = o0 * S[0] - PB[0] + t0 * D[0], i1 = o1 * S[1] - PB[1] + t1 * D[1],
                              i2 = o2 * S[2] - PB[2] + t2 * D[2];
                if (i0 < 0 || i0 >= I[0] || i1 < 0 || i1 >= I[1] || i2 < 0 || i2 >= I[2]) continue;
                sum += x[size_t(pl * I[0] * I[1] * I[2] + (i0 * I[1] + i1) * I[2] + i2)];
              }
          want.push_back(cnt > 0 ? ref_round_sat(float(sum) * (s_x / (float(cnt) * s_y))) : int8_t(0));
        }
  expect_same(values_of<int8_t>(outs[0]), want);
}

TEST(Int8Pool, AveragePool) {
  for (int t : {1, 2}) {
    run_avgpool_case(pool_case({2, 3, 9, 11}, {3, 3}, {2, 2}, {}, {1, 1, 1, 1}), 90, t);
    PoolCase ip = pool_case({2, 3, 9, 11}, {3, 3}, {2, 2}, {}, {1, 1, 1, 1});
    ip.include_pad = true;
    run_avgpool_case(ip, 91, t);
    PoolCase cm = pool_case({1, 4, 10, 10}, {3, 2}, {3, 2}, {}, {0, 1, 2, 0});
    cm.ceil_mode = true;
    run_avgpool_case(cm, 92, t);
    cm.include_pad = true;
    run_avgpool_case(cm, 93, t);
    run_avgpool_case(pool_case({2, 5, 33}, {4}, {3}, {}, {2, 1}), 94, t);
    run_avgpool_case(pool_case({1, 2, 5, 6, 7}, {2, 3, 2}, {1, 2, 2}, {}, {1, 0, 1, 0, 1, 1}), 95, t);
    run_avgpool_case(pool_case({1, 3, 12, 12}, {3, 3}, {1, 1}, {2, 2}, {2, 2, 2, 2}), 96, t);
    PoolCase sa = pool_case({1, 3, 7, 8}, {3, 3}, {2, 2});
    sa.auto_pad = "SAME_UPPER";
    run_avgpool_case(sa, 97, t);
    sa.auto_pad = "SAME_LOWER";
    run_avgpool_case(sa, 98, t);
    run_avgpool_case(pool_case({1, 64, 56, 56}, {7, 7}, {1, 1}), 99, t);  // large window sums
  }
}

TEST(Int8Pool, GlobalPools) {
  std::mt19937 rng(100);
  const Dims shapes[] = {{2, 3, 7, 7}, {1, 5, 1, 1}, {2, 4, 33}, {1, 2, 3, 4, 5}, {1, 3, 100, 100}};
  for (const Dims& d : shapes) {
    SCOPED_TRACE(dims_str(d));
    std::vector<int8_t> x = random_s8(rng, prod(d));
    if (prod(d) > 10000) std::fill(x.begin(), x.end(), int8_t(-128));  // extreme sums
    const int64_t planes = d[0] * d[1], s = prod(d) / planes;
    Dims od = d;
    for (size_t i = 2; i < od.size(); i++) od[i] = 1;
    NodeDef a = make_node("GlobalAveragePool", {"x"}, {"y"});
    set_scales(&a, {0.02f}, {0.015f});
    NodeDef m = make_node("GlobalMaxPool", {"x"}, {"y"});
    set_scales(&m, {0.02f}, {0.02f});
    std::vector<Tensor> oa, om;
    ASSERT_TRUE(run_s8(a, 13, {make_tensor<int8_t>(d, x)}, &oa).ok());
    ASSERT_TRUE(run_s8(m, 13, {make_tensor<int8_t>(d, x)}, &om).ok());
    EXPECT_EQ(oa[0].dims(), od);
    std::vector<int8_t> wa, wm;
    for (int64_t p = 0; p < planes; p++) {
      int64_t sum = 0;
      int8_t mx = -128;
      for (int64_t i = 0; i < s; i++) {
        sum += x[size_t(p * s + i)];
        mx = std::max(mx, x[size_t(p * s + i)]);
      }
      wa.push_back(ref_round_sat(float(sum) * (0.02f / (float(s) * 0.015f))));
      wm.push_back(mx);
    }
    expect_same(values_of<int8_t>(oa[0]), wa);
    expect_same(values_of<int8_t>(om[0]), wm);
  }
  NodeDef m = make_node("GlobalMaxPool", {"x"}, {"y"});
  set_scales(&m, {0.02f}, {0.03f});
  std::vector<Tensor> outs;
  EXPECT_EQ(run_s8(m, 13, {make_tensor<int8_t>({1, 1, 2, 2}, std::vector<int8_t>(4))}, &outs).code(),
            ErrorCode::kUnsupported);
}

// ---------------------------------------------------------------------------------------------------------------
// Data movement forwarded to the float kernels: the int8 result equals the float kernel's result on the input
// converted to float32.

TEST(Int8Forward, DataMovementOps) {
  std::mt19937 rng(110);
  const Dims xd = {2, 4, 6, 6};
  std::vector<int8_t> x = random_s8(rng, prod(xd));
  const Tensor X = make_tensor<int8_t>(xd, x);
  struct Case {
    NodeDef node;
    std::vector<Tensor> extra;  // constant inputs after X
    int opset;
  };
  std::vector<Case> cases;
  auto add = [&](NodeDef n, std::vector<Tensor> extra, int opset = 13) {
    cases.push_back({std::move(n), std::move(extra), opset});
  };
  add(make_node("Reshape", {"x", "shape"}, {"y"}), {make_tensor<int64_t>({2}, {8, -1})});
  add(make_node("Flatten", {"x"}, {"y"}), {});
  add(make_node("Unsqueeze", {"x", "axes"}, {"y"}), {make_tensor<int64_t>({1}, {1})});
  {
    NodeDef t = make_node("Transpose", {"x"}, {"y"});
    t.attrs.push_back(ints_attr("perm", {0, 2, 3, 1}));
    add(t, {});
  }
  add(make_node("Slice", {"x", "st", "en", "ax", "sp"}, {"y"}),
      {make_tensor<int64_t>({2}, {1, 5}), make_tensor<int64_t>({2}, {4, 0}), make_tensor<int64_t>({2}, {1, 2}),
       make_tensor<int64_t>({2}, {2, -2})});
  {
    NodeDef s = make_node("Split", {"x"}, {"y", "z"});
    s.set_attr_int("axis", 1);
    add(s, {});
  }
  {
    NodeDef g = make_node("Gather", {"x", "idx"}, {"y"});
    g.set_attr_int("axis", 1);
    add(g, {make_tensor<int64_t>({3}, {3, 0, -1})});
  }
  add(make_node("Identity", {"x"}, {"y"}), {});
  add(make_node("Dropout", {"x"}, {"y"}), {});
  {
    NodeDef d = make_node("DepthToSpace", {"x"}, {"y"});
    d.set_attr_int("blocksize", 2);
    add(d, {});
    NodeDef s = make_node("SpaceToDepth", {"x"}, {"y"});
    s.set_attr_int("blocksize", 3);
    add(s, {});
  }
  {
    NodeDef r = make_node("Resize", {"x", "", "scales"}, {"y"});
    add(r, {Tensor(), make_tensor<float>({4}, {1.f, 1.f, 2.f, 1.5f})});
  }
  add(make_node("Pad", {"x", "pads"}, {"y"}), {make_tensor<int64_t>({8}, {0, 0, 1, 2, 0, 1, 0, 3})});
  add(make_node("Pad", {"x", "pads", "value"}, {"y"}),
      {make_tensor<int64_t>({8}, {0, 0, 1, 2, 0, 1, 0, 3}), make_tensor<float>({}, {0.f})});
  add(make_node("Expand", {"x", "shape"}, {"y"}), {make_tensor<int64_t>({5}, {3, 1, 1, 1, 1})});
  add(make_node("Tile", {"x", "reps"}, {"y"}), {make_tensor<int64_t>({4}, {1, 2, 1, 2})});
  {
    NodeDef m = make_node("MaxPool", {"x"}, {"y"});
    m.attrs.push_back(ints_attr("kernel_shape", {3, 3}));
    m.attrs.push_back(ints_attr("pads", {1, 1, 1, 1}));
    m.attrs.push_back(ints_attr("strides", {2, 2}));
    add(m, {});
  }
  for (Case& c : cases) {
    SCOPED_TRACE(c.node.op_type);
    std::vector<float> in_scales(c.node.inputs.size(), 0.f);
    in_scales[0] = 0.1f;
    set_scales(&c.node, in_scales, std::vector<float>(c.node.outputs.size(), 0.1f));
    std::vector<Tensor> ins = {X};
    std::vector<bool> constant = {false};
    for (const Tensor& t : c.extra) {
      ins.push_back(t);
      constant.push_back(true);
    }
    std::vector<Tensor> got, want;
    Status st = run_s8(c.node, c.opset, ins, &got, constant);
    ASSERT_TRUE(st.ok()) << st.message();
    // The float kernel on the input converted to float32: the int8 result, converted, must equal its result.
    std::vector<Tensor> fins = ins;
    std::vector<float> xf(x.begin(), x.end());
    fins[0] = make_tensor<float>(xd, xf);
    ASSERT_TRUE(testing::run_op(c.node, c.opset, fins, &want, constant).ok());
    ASSERT_EQ(got.size(), want.size());
    for (size_t o = 0; o < got.size(); o++) {
      EXPECT_EQ(got[o].dtype(), DType::kInt8);
      ASSERT_EQ(got[o].dims(), want[o].dims());
      const std::vector<int8_t> g = values_of<int8_t>(got[o]);
      EXPECT_EQ(std::vector<float>(g.begin(), g.end()), values_of<float>(want[o]));
    }
  }
}

TEST(Int8Forward, Refusals) {
  const Tensor X = make_tensor<int8_t>({1, 1, 2, 2}, {1, 2, 3, 4});
  std::vector<Tensor> outs;
  auto code = [&](NodeDef n, std::vector<Tensor> ins, std::vector<bool> c, int opset = 13) {
    std::vector<float> in_scales(n.inputs.size(), 0.f);
    in_scales[0] = 0.1f;
    if (!n.has_attr("__in_scales")) set_scales(&n, in_scales, std::vector<float>(n.outputs.size(), 0.1f));
    return run_s8(n, opset, ins, &outs, c).code();
  };
  NodeDef r = make_node("Resize", {"x", "", "scales"}, {"y"});
  r.set_attr_string("mode", "linear");
  EXPECT_EQ(code(r, {X, Tensor(), make_tensor<float>({4}, {1, 1, 2, 2})}, {false, false, true}),
            ErrorCode::kUnsupported);
  NodeDef p = make_node("Pad", {"x", "pads", "v"}, {"y"});
  EXPECT_EQ(code(p, {X, make_tensor<int64_t>({8}, {0, 0, 1, 1, 0, 0, 1, 1}), make_tensor<float>({}, {1.f})},
                 {false, true, true}),
            ErrorCode::kUnsupported);
  NodeDef pr = make_node("Pad", {"x", "pads"}, {"y"});
  pr.set_attr_string("mode", "reflect");
  EXPECT_EQ(code(pr, {X, make_tensor<int64_t>({8}, {0, 0, 1, 1, 0, 0, 1, 1})}, {false, true}),
            ErrorCode::kUnsupported);
  NodeDef mp = make_node("MaxPool", {"x"}, {"y", "idx"});
  mp.attrs.push_back(ints_attr("kernel_shape", {2, 2}));
  EXPECT_EQ(code(mp, {X}, {false}), ErrorCode::kUnsupported);
  NodeDef t = make_node("Transpose", {"x"}, {"y"});
  set_scales(&t, {0.1f}, {0.2f});
  EXPECT_EQ(code(t, {X}, {false}), ErrorCode::kUnsupported);
  // A float tensor where the int8 node expects int8.
  NodeDef id = make_node("Identity", {"x"}, {"y"});
  EXPECT_EQ(code(id, {make_tensor<float>({1}, {1.f})}, {false}), ErrorCode::kDtype);
}

}  // namespace
}  // namespace int8rt

// lookup_s8 reads eight bytes at a time with a byte tail: it must equal the plain per-byte definition for every
// length and start offset (tails of 0-7 bytes, unaligned buffers) and every input byte, and write nothing past n.
TEST(Int8Lookup, EqualsPerByteTableOnEveryLengthAndOffset) {
  std::mt19937 gen(123);
  std::uniform_int_distribution<int> byte(-128, 127);
  int8_t table[256];
  for (auto& v : table) v = int8_t(byte(gen));
  std::vector<int8_t> x(600), y(600 + 16), expect;
  for (size_t i = 0; i < x.size(); i++) x[i] = int8_t(int(i % 256) - 128);  // every value, then random
  std::shuffle(x.begin(), x.end(), gen);
  for (int64_t off = 0; off < 8; off++) {
    for (int64_t n : {0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 256, 511, 592}) {
      std::fill(y.begin(), y.end(), int8_t(0x5A));
      int8rt::lookup_s8(x.data() + off, y.data() + off, n, table);
      for (int64_t i = 0; i < n; i++)
        ASSERT_EQ(y[size_t(off + i)], table[int(x[size_t(off + i)]) + 128]) << n << " " << i;
      for (size_t i = size_t(off + n); i < y.size(); i++) ASSERT_EQ(y[i], int8_t(0x5A)) << "wrote past n " << n;
      for (int64_t i = 0; i < off; i++) ASSERT_EQ(y[size_t(i)], int8_t(0x5A));
    }
  }
}
