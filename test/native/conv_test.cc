// Conv / ConvTranspose against naive direct loops (double accumulation) over random shapes: 1-D/2-D/3-D,
// strides, pads, dilations, auto_pad, groups, depthwise, 1x1, batch > 1, bias, fused activation + residual,
// constant and non-constant weights, one and two threads. Plus the depthwise kernels against each other and the
// shape/attribute errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/dwconv.h"
#include "op_test_util.h"

namespace int8rt {
namespace {

using testing::make_node;
using testing::make_tensor;
using testing::run_op;
using testing::values_of;

Attribute ints_attr(const std::string& name, const std::vector<int64_t>& v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kInts;
  a.ints = v;
  return a;
}

std::vector<float> random_values(std::mt19937& rng, int64_t n) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(size_t(std::max<int64_t>(n, 0)));
  for (auto& x : v) x = u(rng);
  return v;
}

int64_t prod(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (int64_t x : v) p *= x;
  return p;
}

struct Act {
  std::string name;  // "" none
  float lo = -INFINITY, hi = INFINITY, alpha = 0.f, beta = 0.f;
  double apply(double v) const {
    if (name == "Relu") return std::max(v, 0.0);
    if (name == "Clip") return std::min(std::max(v, double(lo)), double(hi));
    if (name == "LeakyRelu") return v >= 0 ? v : alpha * v;
    if (name == "HardSigmoid") return std::min(std::max(alpha * v + beta, 0.0), 1.0);
    if (name == "HardSwish") return v * std::min(std::max(v / 6.0 + 0.5, 0.0), 1.0);
    if (name == "Sigmoid") return 1.0 / (1.0 + std::exp(-v));
    return v;
  }
  void set_on(NodeDef* n) const {
    if (name.empty()) return;
    n->set_attr_string("__activation", name);
    if (name == "Clip") {
      n->set_attr_float("__clip_min", lo);
      n->set_attr_float("__clip_max", hi);
    }
    if (name == "LeakyRelu" || name == "HardSigmoid") {
      n->set_attr_float("__alpha", alpha);
      if (name == "HardSigmoid") n->set_attr_float("__beta", beta);
    }
  }
};

Act random_act(std::mt19937& rng) {
  static const char* names[] = {"", "", "Relu", "Clip", "LeakyRelu", "HardSigmoid", "HardSwish", "Sigmoid"};
  Act a;
  a.name = names[rng() % 8];
  if (a.name == "Clip") {
    a.lo = -0.5f;
    a.hi = 0.75f;
  }
  if (a.name == "LeakyRelu") a.alpha = 0.1f;
  if (a.name == "HardSigmoid") {
    a.alpha = 0.25f;
    a.beta = 0.4f;
  }
  return a;
}

// The case as a test describes it: explicit geometry; the test resolves pads itself for auto_pad.
struct Case {
  int64_t N = 1, C = 1, M = 1, group = 1;
  std::vector<int64_t> in, k, s, d, pads;  // pads: begin..., end...
  std::string auto_pad;                    // "" = attribute absent
  std::vector<int64_t> output_padding, output_shape;  // ConvTranspose
  bool bias = false, residual = false, const_w = false;
  Act act;
  int threads = 2;
  std::string describe() const {
    std::string r = "N=" + std::to_string(N) + " C=" + std::to_string(C) + " M=" + std::to_string(M) +
                    " group=" + std::to_string(group) + " in=" + dims_str(in) + " k=" + dims_str(k) +
                    " s=" + dims_str(s) + " d=" + dims_str(d) + " pads=" + dims_str(pads) + " auto_pad=" + auto_pad +
                    " bias=" + std::to_string(bias) + " residual=" + std::to_string(residual) +
                    " const_w=" + std::to_string(const_w) + " act=" + act.name + " threads=" + std::to_string(threads);
    if (!output_padding.empty()) r += " output_padding=" + dims_str(output_padding);
    if (!output_shape.empty()) r += " output_shape=" + dims_str(output_shape);
    return r;
  }
};

// Naive Conv. Resolves auto_pad; returns output dims in *ydims.
std::vector<double> naive_conv(const Case& c, const std::vector<float>& x, const std::vector<float>& w,
                               const std::vector<float>& b, Dims* ydims, std::vector<int64_t>* out_sp) {
  const size_t n = c.in.size();
  std::vector<int64_t> pb(n, 0), pe(n, 0), out(n);
  for (size_t i = 0; i < n; i++) {
    const int64_t dk = (c.k[i] - 1) * c.d[i] + 1;
    if (c.auto_pad == "SAME_UPPER" || c.auto_pad == "SAME_LOWER") {
      out[i] = (c.in[i] + c.s[i] - 1) / c.s[i];
      int64_t total = std::max<int64_t>(0, (out[i] - 1) * c.s[i] + dk - c.in[i]);
      pb[i] = c.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe[i] = total - pb[i];
    } else {
      if (c.auto_pad != "VALID" && !c.pads.empty()) {
        pb[i] = c.pads[i];
        pe[i] = c.pads[i + n];
      }
      out[i] = (c.in[i] + pb[i] + pe[i] - dk) / c.s[i] + 1;
    }
  }
  *out_sp = out;
  *ydims = {c.N, c.M};
  ydims->insert(ydims->end(), out.begin(), out.end());
  const int64_t Cg = c.C / c.group, Mg = c.M / c.group, P = prod(out), I = prod(c.in), K = prod(c.k);
  std::vector<double> y(size_t(c.N * c.M * P));
  std::vector<int64_t> o(n), kk(n);
  for (int64_t nn = 0; nn < c.N; nn++)
    for (int64_t m = 0; m < c.M; m++) {
      const int64_t g = m / Mg;
      for (int64_t p = 0; p < P; p++) {
        for (int64_t t = p, i = int64_t(n) - 1; i >= 0; i--) {
          o[i] = t % out[i];
          t /= out[i];
        }
        double acc = b.empty() ? 0.0 : b[m];
        for (int64_t ci = 0; ci < Cg; ci++)
          for (int64_t kr = 0; kr < K; kr++) {
            for (int64_t t = kr, i = int64_t(n) - 1; i >= 0; i--) {
              kk[i] = t % c.k[i];
              t /= c.k[i];
            }
            int64_t off = 0;
            bool inside = true;
            for (size_t i = 0; i < n; i++) {
              int64_t xi = o[i] * c.s[i] - pb[i] + kk[i] * c.d[i];
              if (xi < 0 || xi >= c.in[i]) inside = false;
              off = off * c.in[i] + xi;
            }
            if (!inside) continue;
            acc += double(w[(m * Cg + ci) * K + kr]) * x[(nn * c.C + g * Cg + ci) * I + off];
          }
        y[(nn * c.M + m) * P + p] = acc;
      }
    }
  return y;
}

// Naive ConvTranspose: scatter every input pixel through every tap.
std::vector<double> naive_conv_transpose(const Case& c, const std::vector<float>& x, const std::vector<float>& w,
                                         const std::vector<float>& b, Dims* ydims) {
  const size_t n = c.in.size();
  std::vector<int64_t> pb(n, 0), pe(n, 0), out(n);
  for (size_t i = 0; i < n; i++) {
    const int64_t op = c.output_padding.empty() ? 0 : c.output_padding[i];
    const int64_t dk = (c.k[i] - 1) * c.d[i] + 1;
    const int64_t full = c.s[i] * (c.in[i] - 1) + op + dk;
    if (!c.output_shape.empty() || c.auto_pad == "SAME_UPPER" || c.auto_pad == "SAME_LOWER") {
      out[i] = c.output_shape.empty() ? c.in[i] * c.s[i] : c.output_shape[i];
      const int64_t total = full - out[i];
      const int64_t half = int64_t(std::floor(total / 2.0));
      if (c.auto_pad == "SAME_UPPER") {
        pb[i] = half;
      } else {
        pb[i] = total - half;
      }
    } else {
      if (c.auto_pad != "VALID" && !c.pads.empty()) {
        pb[i] = c.pads[i];
        pe[i] = c.pads[i + n];
      }
      out[i] = full - pb[i] - pe[i];
    }
  }
  *ydims = {c.N, c.M};
  ydims->insert(ydims->end(), out.begin(), out.end());
  const int64_t Cg = c.C / c.group, Mg = c.M / c.group, P = prod(out), I = prod(c.in), K = prod(c.k);
  std::vector<double> y(size_t(c.N * c.M * P));
  for (int64_t nn = 0; nn < c.N; nn++)
    for (int64_t m = 0; m < c.M; m++)
      for (int64_t p = 0; p < P; p++) y[(nn * c.M + m) * P + p] = b.empty() ? 0.0 : b[m];
  std::vector<int64_t> ii(n), kk(n);
  for (int64_t nn = 0; nn < c.N; nn++)
    for (int64_t ci = 0; ci < c.C; ci++) {
      const int64_t g = ci / Cg;
      for (int64_t q = 0; q < I; q++) {
        for (int64_t t = q, i = int64_t(n) - 1; i >= 0; i--) {
          ii[i] = t % c.in[i];
          t /= c.in[i];
        }
        const double xv = x[(nn * c.C + ci) * I + q];
        for (int64_t mg = 0; mg < Mg; mg++)
          for (int64_t kr = 0; kr < K; kr++) {
            for (int64_t t = kr, i = int64_t(n) - 1; i >= 0; i--) {
              kk[i] = t % c.k[i];
              t /= c.k[i];
            }
            int64_t off = 0;
            bool inside = true;
            for (size_t i = 0; i < n; i++) {
              int64_t yi = ii[i] * c.s[i] - pb[i] + kk[i] * c.d[i];
              if (yi < 0 || yi >= out[i]) inside = false;
              off = off * out[i] + yi;
            }
            if (!inside) continue;
            y[(nn * c.M + g * Mg + mg) * P + off] += xv * double(w[(ci * Mg + mg) * K + kr]);
          }
      }
    }
  return y;
}

NodeDef node_for(const std::string& op, const Case& c) {
  std::vector<std::string> inputs{"X", "W", c.bias ? "B" : ""};
  if (c.residual) inputs.push_back("R");
  NodeDef node = make_node(op, inputs, {"Y"});
  if (c.group != 1) node.set_attr_int("group", c.group);
  node.attrs.push_back(ints_attr("kernel_shape", c.k));
  node.attrs.push_back(ints_attr("strides", c.s));
  node.attrs.push_back(ints_attr("dilations", c.d));
  if (!c.pads.empty()) node.attrs.push_back(ints_attr("pads", c.pads));
  if (!c.auto_pad.empty()) node.set_attr_string("auto_pad", c.auto_pad);
  if (!c.output_padding.empty()) node.attrs.push_back(ints_attr("output_padding", c.output_padding));
  if (!c.output_shape.empty()) node.attrs.push_back(ints_attr("output_shape", c.output_shape));
  c.act.set_on(&node);
  return node;
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size(); i++) {
    const double tol = 1e-4 * std::max(1.0, std::fabs(want[i]));
    if (!(std::fabs(got[i] - want[i]) <= tol)) {
      if (++bad <= 5) ADD_FAILURE() << what << "\n  at " << i << ": got " << got[i] << " want " << want[i];
    }
  }
  EXPECT_EQ(bad, 0) << what;
}

void check_conv(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  Dims xdims{c.N, c.C}, wdims{c.M, c.C / c.group};
  xdims.insert(xdims.end(), c.in.begin(), c.in.end());
  wdims.insert(wdims.end(), c.k.begin(), c.k.end());
  std::vector<float> x = random_values(rng, dims_numel(xdims)), w = random_values(rng, dims_numel(wdims));
  std::vector<float> b = c.bias ? random_values(rng, c.M) : std::vector<float>();
  Dims ydims;
  std::vector<int64_t> out_sp;
  std::vector<double> want = naive_conv(c, x, w, b, &ydims, &out_sp);
  std::vector<float> r;
  if (c.residual) {
    r = random_values(rng, dims_numel(ydims));
    for (size_t i = 0; i < want.size(); i++) want[i] += r[i];
  }
  for (auto& v : want) v = c.act.apply(v);

  NodeDef node = node_for("Conv", c);
  std::vector<Tensor> inputs{make_tensor<float>(xdims, x), make_tensor<float>(wdims, w),
                             c.bias ? make_tensor<float>({c.M}, b) : Tensor()};
  if (c.residual) inputs.push_back(make_tensor<float>(ydims, r));
  std::vector<Tensor> outputs;
  Status st = run_op(node, 17, inputs, &outputs, {false, c.const_w, c.const_w, false}, c.threads);
  ASSERT_TRUE(st.ok()) << st.message() << "\n" << c.describe();
  ASSERT_EQ(outputs[0].dims(), ydims) << c.describe();
  expect_close(values_of<float>(outputs[0]), want, c.describe());
}

void check_conv_transpose(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  Dims xdims{c.N, c.C}, wdims{c.C, c.M / c.group};
  xdims.insert(xdims.end(), c.in.begin(), c.in.end());
  wdims.insert(wdims.end(), c.k.begin(), c.k.end());
  std::vector<float> x = random_values(rng, dims_numel(xdims)), w = random_values(rng, dims_numel(wdims));
  std::vector<float> b = c.bias ? random_values(rng, c.M) : std::vector<float>();
  Dims ydims;
  std::vector<double> want = naive_conv_transpose(c, x, w, b, &ydims);
  std::vector<float> r;
  if (c.residual) {
    r = random_values(rng, dims_numel(ydims));
    for (size_t i = 0; i < want.size(); i++) want[i] += r[i];
  }
  for (auto& v : want) v = c.act.apply(v);
  NodeDef node = node_for("ConvTranspose", c);
  std::vector<Tensor> inputs{make_tensor<float>(xdims, x), make_tensor<float>(wdims, w),
                             c.bias ? make_tensor<float>({c.M}, b) : Tensor()};
  if (c.residual) inputs.push_back(make_tensor<float>(ydims, r));
  std::vector<Tensor> outputs;
  Status st = run_op(node, 17, inputs, &outputs, {false, c.const_w, c.const_w, false}, c.threads);
  ASSERT_TRUE(st.ok()) << st.message() << "\n" << c.describe();
  ASSERT_EQ(outputs[0].dims(), ydims) << c.describe();
  expect_close(values_of<float>(outputs[0]), want, c.describe());
}

int64_t pick(std::mt19937& rng, int64_t lo, int64_t hi) { return lo + int64_t(rng() % uint32_t(hi - lo + 1)); }

TEST(Conv, RandomShapes) {
  std::mt19937 rng(42);
  for (int iter = 0; iter < 300; iter++) {
    Case c;
    const int nsp = iter % 5 == 0 ? 1 : iter % 7 == 0 ? 3 : 2;
    c.N = pick(rng, 1, 2);
    c.group = rng() % 3 == 0 ? pick(rng, 2, 3) : 1;
    c.C = c.group * pick(rng, 1, 4);
    c.M = c.group * pick(rng, 1, 5);
    for (int i = 0; i < nsp; i++) {
      c.k.push_back(pick(rng, 1, nsp == 3 ? 3 : 5));
      c.s.push_back(pick(rng, 1, 3));
      c.d.push_back(rng() % 4 == 0 ? 2 : 1);
    }
    const int mode = int(rng() % 6);
    c.auto_pad = mode == 0 ? "SAME_UPPER" : mode == 1 ? "SAME_LOWER" : mode == 2 ? "VALID" : "";
    c.pads.assign(size_t(2 * nsp), 0);
    if (mode >= 3)
      for (auto& p : c.pads) p = pick(rng, 0, 2);
    for (int i = 0; i < nsp; i++) {
      const int64_t dk = (c.k[i] - 1) * c.d[i] + 1;
      const int64_t min_in = std::max<int64_t>(1, dk - c.pads[i] - c.pads[i + nsp]);
      c.in.push_back(min_in + pick(rng, 0, nsp == 3 ? 4 : 12));
    }
    if (mode < 3 && rng() % 2) c.pads.clear();  // auto_pad ignores pads; also test the attribute absent
    c.bias = rng() % 2;
    c.residual = rng() % 3 == 0;
    c.const_w = rng() % 2;
    c.act = random_act(rng);
    c.threads = rng() % 3 == 0 ? 1 : 2;
    SCOPED_TRACE(iter);
    check_conv(c, 1000 + iter);
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(Conv, Depthwise) {
  std::mt19937 rng(7);
  int iter = 0;
  for (int64_t k : {3, 5, 1, 7})
    for (int64_t s : {1, 2, 3})
      for (int64_t width : {1, 5, 8, 13, 31, 40, 67}) {
        Case c;
        c.N = 1 + (iter % 2);
        c.C = c.M = c.group = pick(rng, 1, 6);
        c.k = {k, k};
        c.s = {s, s};
        c.d = {iter % 5 == 0 ? 2 : 1, 1};
        const int64_t pad = k / 2;
        c.pads = {pad, pad, pad + (iter % 3 == 0), pad};
        const int64_t dkh = (k - 1) * c.d[0] + 1;
        c.in = {std::max<int64_t>(dkh - 2 * pad, 1) + pick(rng, 0, 9),
                std::max<int64_t>(k - 2 * pad, width)};
        c.bias = iter % 2;
        c.residual = iter % 3 == 1;
        c.const_w = iter % 4 < 2;
        c.act = random_act(rng);
        c.threads = iter % 2 + 1;
        SCOPED_TRACE(iter);
        check_conv(c, 2000 + iter++);
        if (::testing::Test::HasFailure()) return;
      }
}

TEST(Conv, DepthwiseKernelsAgree) {
  // The dispatched kernel (AVX2 where available) against the portable one, bit-for-bit close, over many planes.
  std::mt19937 rng(3);
  for (int iter = 0; iter < 400; iter++) {
    DwConvPlane p;
    p.kh = pick(rng, 1, 5);
    p.kw = pick(rng, 1, 5);
    p.sh = pick(rng, 1, 2);
    p.sw = pick(rng, 1, 3);
    p.dh = pick(rng, 1, 2);
    p.dw = pick(rng, 1, 2);
    p.pad_t = pick(rng, 0, 2);
    p.pad_l = pick(rng, 0, 3);
    const int64_t pad_b = pick(rng, 0, 2), pad_r = pick(rng, 0, 3);
    p.H = std::max<int64_t>(1, (p.kh - 1) * p.dh + 1 - p.pad_t - pad_b) + pick(rng, 0, 8);
    p.W = std::max<int64_t>(1, (p.kw - 1) * p.dw + 1 - p.pad_l - pad_r) + pick(rng, 0, 80);
    p.OH = (p.H + p.pad_t + pad_b - ((p.kh - 1) * p.dh + 1)) / p.sh + 1;
    p.OW = (p.W + p.pad_l + pad_r - ((p.kw - 1) * p.dw + 1)) / p.sw + 1;
    if (p.OH <= 0 || p.OW <= 0) continue;
    if (iter % 3 == 0) {
      p.clip_min = 0.f;
      p.clip_max = 0.5f;
    }
    std::vector<float> in = random_values(rng, p.H * p.W), w = random_values(rng, p.kh * p.kw);
    std::vector<float> res = random_values(rng, p.OH * p.OW);
    std::vector<float> a(size_t(p.OH * p.OW)), b(a.size());
    const float* r = iter % 2 ? res.data() : nullptr;
    dwconv2d_f32(p, in.data(), w.data(), 0.25f, r, a.data());
    dwconv2d_f32_ref(p, in.data(), w.data(), 0.25f, r, b.data());
    for (size_t i = 0; i < a.size(); i++) ASSERT_NEAR(a[i], b[i], 1e-5f) << "iter " << iter << " at " << i;
  }
}

TEST(Conv, PointwiseAndLargeTiles) {
  // 1x1 (zero-copy B), and shapes big enough to be cut into several im2col tiles that run in parallel.
  int seed = 3000;
  for (int threads : {1, 2}) {
    Case c;
    c.N = 2;
    c.C = 24;
    c.M = 20;
    c.in = {17, 19};
    c.k = {1, 1};
    c.s = {1, 1};
    c.d = {1, 1};
    c.bias = true;
    c.residual = true;
    c.act.name = "Relu";
    c.threads = threads;
    c.const_w = threads == 2;
    check_conv(c, seed++);

    Case t;
    t.N = 1;
    t.C = 48;
    t.M = 32;
    t.in = {45, 41};
    t.k = {3, 3};
    t.s = {1, 1};
    t.d = {1, 1};
    t.pads = {1, 1, 1, 1};
    t.bias = true;
    t.residual = threads == 1;
    t.act.name = "HardSwish";
    t.threads = threads;
    t.const_w = true;
    check_conv(t, seed++);

    // Grouped (non-depthwise) with channel multiplier, and depthwise with a multiplier (goes through GEMM).
    Case gcase = t;
    gcase.group = 4;
    gcase.C = 16;
    gcase.M = 8;
    gcase.in = {30, 33};
    gcase.s = {2, 2};
    check_conv(gcase, seed++);
    Case dm = t;
    dm.group = 8;
    dm.C = 8;
    dm.M = 16;
    dm.in = {20, 21};
    check_conv(dm, seed++);
  }
}

TEST(Conv, StridedOneByOne) {
  Case c;
  c.N = 2;
  c.C = 8;
  c.M = 12;
  c.in = {14, 15};
  c.k = {1, 1};
  c.s = {2, 2};
  c.d = {1, 1};
  c.bias = true;
  c.const_w = true;
  check_conv(c, 99);
  c.pads = {1, 0, 0, 1};  // padded 1x1
  check_conv(c, 100);
}

TEST(Conv, OnnxBasicExample) {
  // onnx docs: 5x5 input 0..24, 3x3 ones kernel, pads 1.
  NodeDef node = make_node("Conv", {"X", "W"}, {"Y"});
  node.attrs.push_back(ints_attr("kernel_shape", {3, 3}));
  node.attrs.push_back(ints_attr("pads", {1, 1, 1, 1}));
  std::vector<float> x(25);
  for (int i = 0; i < 25; i++) x[i] = float(i);
  std::vector<Tensor> outputs;
  ASSERT_TRUE(run_op(node, 11, {make_tensor<float>({1, 1, 5, 5}, x), make_tensor<float>({1, 1, 3, 3},
                                                                                        std::vector<float>(9, 1.f))},
                     &outputs)
                  .ok());
  std::vector<float> want{12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108, 117, 81,
                          93, 144, 153, 162, 111, 72, 111, 117, 123, 84};
  EXPECT_EQ(values_of<float>(outputs[0]), want);
}

TEST(Conv, EmptyBatch) {
  Case c;
  c.N = 0;
  c.C = 2;
  c.M = 3;
  c.in = {4, 4};
  c.k = {3, 3};
  c.s = {1, 1};
  c.d = {1, 1};
  NodeDef node = node_for("Conv", c);
  std::vector<Tensor> outputs;
  ASSERT_TRUE(run_op(node, 11, {make_tensor<float>({0, 2, 4, 4}, {}), make_tensor<float>({3, 2, 3, 3},
                                                                                         std::vector<float>(54, 1.f))},
                     &outputs)
                  .ok());
  EXPECT_EQ(outputs[0].dims(), (Dims{0, 3, 2, 2}));
}

Status run_conv_error(const NodeDef& node, const Dims& xd, const Dims& wd, const Dims& bd = {}) {
  std::vector<Tensor> in{make_tensor<float>(xd, std::vector<float>(size_t(dims_numel(xd)))),
                         make_tensor<float>(wd, std::vector<float>(size_t(dims_numel(wd))))};
  if (!bd.empty()) in.push_back(make_tensor<float>(bd, std::vector<float>(size_t(dims_numel(bd)))));
  std::vector<Tensor> out;
  return run_op(node, 13, in, &out);
}

TEST(Conv, Errors) {
  NodeDef n = make_node("Conv", {"X", "W"}, {"Y"});
  // channels vs W
  EXPECT_EQ(run_conv_error(n, {1, 3, 5, 5}, {4, 2, 3, 3}).code(), ErrorCode::kShape);
  // kernel larger than (padded) input
  Status st = run_conv_error(n, {1, 1, 2, 2}, {1, 1, 3, 3});
  EXPECT_EQ(st.code(), ErrorCode::kShape);
  EXPECT_NE(st.message().find("Conv_test"), std::string::npos) << st.message();
  // W rank
  EXPECT_EQ(run_conv_error(n, {1, 1, 5, 5}, {1, 1, 3}).code(), ErrorCode::kShape);
  // X rank
  EXPECT_EQ(run_conv_error(n, {1, 1}, {1, 1}).code(), ErrorCode::kShape);
  // bias shape
  NodeDef nb = make_node("Conv", {"X", "W", "B"}, {"Y"});
  EXPECT_EQ(run_conv_error(nb, {1, 1, 5, 5}, {2, 1, 3, 3}, {3}).code(), ErrorCode::kShape);
  // kernel_shape mismatch
  NodeDef nk = n;
  nk.attrs.push_back(ints_attr("kernel_shape", {2, 2}));
  EXPECT_EQ(run_conv_error(nk, {1, 1, 5, 5}, {1, 1, 3, 3}).code(), ErrorCode::kShape);
  // strides of wrong length / zero
  NodeDef ns = n;
  ns.attrs.push_back(ints_attr("strides", {1}));
  EXPECT_EQ(run_conv_error(ns, {1, 1, 5, 5}, {1, 1, 3, 3}).code(), ErrorCode::kShape);
  NodeDef ns0 = n;
  ns0.attrs.push_back(ints_attr("strides", {0, 1}));
  EXPECT_EQ(run_conv_error(ns0, {1, 1, 5, 5}, {1, 1, 3, 3}).code(), ErrorCode::kShape);
  // negative pads, odd pads length
  NodeDef np = n;
  np.attrs.push_back(ints_attr("pads", {-1, 0, 0, 0}));
  EXPECT_EQ(run_conv_error(np, {1, 1, 5, 5}, {1, 1, 3, 3}).code(), ErrorCode::kShape);
  NodeDef np3 = n;
  np3.attrs.push_back(ints_attr("pads", {1, 1, 1}));
  EXPECT_EQ(run_conv_error(np3, {1, 1, 5, 5}, {1, 1, 3, 3}).code(), ErrorCode::kShape);
  // group does not divide
  NodeDef ng = n;
  ng.set_attr_int("group", 2);
  EXPECT_EQ(run_conv_error(ng, {1, 4, 5, 5}, {3, 2, 3, 3}).code(), ErrorCode::kShape);
  NodeDef ng0 = n;
  ng0.set_attr_int("group", 0);
  EXPECT_EQ(run_conv_error(ng0, {1, 4, 5, 5}, {3, 2, 3, 3}).code(), ErrorCode::kShape);
  // bad auto_pad, bad fused activation
  NodeDef na = n;
  na.set_attr_string("auto_pad", "SAME");
  EXPECT_EQ(run_conv_error(na, {1, 1, 5, 5}, {1, 1, 3, 3}).code(), ErrorCode::kShape);
  NodeDef nf = n;
  nf.set_attr_string("__activation", "Gelu");
  EXPECT_EQ(run_conv_error(nf, {1, 1, 5, 5}, {1, 1, 3, 3}).code(), ErrorCode::kUnsupported);
  // dtype
  std::vector<Tensor> out;
  EXPECT_EQ(run_op(n, 13,
                   {make_tensor<double>({1, 1, 3, 3}, std::vector<double>(9)),
                    make_tensor<double>({1, 1, 3, 3}, std::vector<double>(9))},
                   &out)
                .code(),
            ErrorCode::kDtype);
  // residual of the wrong shape
  NodeDef nr = make_node("Conv", {"X", "W", "", "R"}, {"Y"});
  EXPECT_EQ(run_op(nr, 13,
                   {make_tensor<float>({1, 1, 3, 3}, std::vector<float>(9)),
                    make_tensor<float>({1, 1, 3, 3}, std::vector<float>(9)), Tensor(),
                    make_tensor<float>({1, 1, 2, 1}, std::vector<float>(2))},
                   &out)
                .code(),
            ErrorCode::kShape);
  // constant W checked at build time
  EXPECT_EQ(run_op(ng, 13,
                   {make_tensor<float>({1, 4, 5, 5}, std::vector<float>(100)),
                    make_tensor<float>({3, 2, 3, 3}, std::vector<float>(54))},
                   &out, {false, true})
                .code(),
            ErrorCode::kShape);
}

TEST(ConvTranspose, RandomShapes) {
  std::mt19937 rng(11);
  for (int iter = 0; iter < 200; iter++) {
    Case c;
    const int nsp = iter % 5 == 0 ? 1 : iter % 7 == 0 ? 3 : 2;
    c.N = pick(rng, 1, 2);
    c.group = rng() % 3 == 0 ? pick(rng, 2, 3) : 1;
    c.C = c.group * pick(rng, 1, 4);
    c.M = c.group * pick(rng, 1, 4);
    for (int i = 0; i < nsp; i++) {
      c.k.push_back(pick(rng, 1, nsp == 3 ? 3 : 4));
      c.s.push_back(pick(rng, 1, 3));
      c.d.push_back(rng() % 4 == 0 ? 2 : 1);
      c.in.push_back(pick(rng, 1, nsp == 3 ? 4 : 9));
    }
    const int mode = int(rng() % 6);
    if (mode == 0) c.auto_pad = "SAME_UPPER";
    if (mode == 1) c.auto_pad = "SAME_LOWER";
    if (mode == 2) c.auto_pad = "VALID";
    if (mode >= 3) {
      c.pads.assign(size_t(2 * nsp), 0);
      for (int i = 0; i < nsp; i++) {
        const int64_t dk = (c.k[i] - 1) * c.d[i] + 1;
        c.pads[i] = pick(rng, 0, std::min<int64_t>(2, dk - 1));
        c.pads[i + nsp] = pick(rng, 0, std::min<int64_t>(2, dk - 1));
      }
    }
    if (rng() % 3 == 0) {
      c.output_padding.assign(size_t(nsp), 0);
      for (int i = 0; i < nsp; i++) c.output_padding[i] = pick(rng, 0, c.s[i] - 1);
    }
    if (mode == 4) {  // explicit output_shape, sometimes one longer than the natural size
      c.pads.clear();
      for (int i = 0; i < nsp; i++) {
        const int64_t op = c.output_padding.empty() ? 0 : c.output_padding[i];
        c.output_shape.push_back(c.s[i] * (c.in[i] - 1) + op + (c.k[i] - 1) * c.d[i] + 1 - pick(rng, -1, 1));
      }
    }
    c.bias = rng() % 2;
    c.const_w = rng() % 2;
    c.act = rng() % 3 == 0 ? random_act(rng) : Act();
    c.residual = rng() % 4 == 0;
    c.threads = rng() % 3 == 0 ? 1 : 2;
    SCOPED_TRACE(iter);
    check_conv_transpose(c, 5000 + iter);
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(ConvTranspose, LargeTiled) {
  // PP-OCR det's upsampling head: 2x2 stride 2, several column tiles.
  Case c;
  c.N = 1;
  c.C = 64;
  c.M = 16;
  c.in = {40, 52};
  c.k = {2, 2};
  c.s = {2, 2};
  c.d = {1, 1};
  c.bias = true;
  c.const_w = true;
  check_conv_transpose(c, 77);
  c.k = {3, 3};
  c.pads = {1, 1, 1, 1};
  c.output_padding = {1, 1};
  c.act.name = "Sigmoid";
  c.const_w = false;
  check_conv_transpose(c, 78);
}

TEST(ConvTranspose, Errors) {
  NodeDef n = make_node("ConvTranspose", {"X", "W"}, {"Y"});
  std::vector<Tensor> out;
  // W's first dim must equal X's channels.
  EXPECT_EQ(run_op(n, 13,
                   {make_tensor<float>({1, 2, 3, 3}, std::vector<float>(18)),
                    make_tensor<float>({3, 1, 3, 3}, std::vector<float>(27))},
                   &out)
                .code(),
            ErrorCode::kShape);
  // pads larger than the output
  NodeDef np = n;
  np.attrs.push_back(ints_attr("pads", {5, 5, 5, 5}));
  EXPECT_EQ(run_op(np, 13,
                   {make_tensor<float>({1, 1, 2, 2}, std::vector<float>(4)),
                    make_tensor<float>({1, 1, 2, 2}, std::vector<float>(4))},
                   &out)
                .code(),
            ErrorCode::kShape);
  NodeDef no = n;
  no.attrs.push_back(ints_attr("output_shape", {1, 2, 3}));
  EXPECT_EQ(run_op(no, 13,
                   {make_tensor<float>({1, 1, 2, 2}, std::vector<float>(4)),
                    make_tensor<float>({1, 1, 2, 2}, std::vector<float>(4))},
                   &out)
                .code(),
            ErrorCode::kShape);
}

}  // namespace
}  // namespace int8rt
