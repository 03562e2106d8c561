// The QLinear operators (ops/qlinear_*.cc) against straightforward scalar references written here from the operator
// definitions, bit for bit: QLinearConv and ConvInteger (1x1, kxk, strided, dilated, padded, grouped, depthwise,
// 1-D/2-D/3-D; int8/uint8 in every combination; per-tensor and per-channel weight parameters; zero points that do and
// do not fit the weights' subtraction; bias, fused residual, Relu/Clip), QLinearMatMul, MatMulInteger and QGemm
// (M = 1, batched and broadcast, 1-D operands, constant and runtime B, per-column parameters), QLinearAdd/Mul with
// broadcasting, QLinearConcat, QLinearGlobalAveragePool, QLinearAveragePool, QLookup and the 8-bit data movers. One
// and two threads.
// Run the binary again with INT8RT_ISA=scalar for the portable GEMM end to end.
#include <gtest/gtest.h>

#include <algorithm>
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
using testing::SimpleOpContext;

// ---------------------------------------------------------------------------------------------------------------
// Harness

Status run_q(const NodeDef& node, int opset, const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs,
             const std::vector<bool>& constant, int threads) {
  return testing::run_op_at(Precision::kInt8, node, opset, inputs, outputs, constant, threads);
}

Attribute ints_attr(const std::string& name, const std::vector<int64_t>& v) {
  Attribute a;
  a.name = name;
  a.type = Attribute::Type::kInts;
  a.ints = v;
  return a;
}

// An 8-bit tensor of type t holding signed-domain values (uint8 stores s + 128).
Tensor q8_tensor(DType t, const Dims& dims, const std::vector<int32_t>& signed_values) {
  Tensor x;
  EXPECT_TRUE(Tensor::create(t, dims, &x).ok());
  for (size_t i = 0; i < signed_values.size(); i++) {
    const int32_t s = signed_values[i];
    if (t == DType::kUint8)
      x.data<uint8_t>()[i] = uint8_t(s + 128);
    else
      x.data<int8_t>()[i] = int8_t(s);
  }
  return x;
}
int32_t signed_at(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kUint8 ? int32_t(t.data<uint8_t>()[i]) - 128 : int32_t(t.data<int8_t>()[i]);
}
Tensor f32_tensor(const Dims& dims, const std::vector<float>& v) { return make_tensor<float>(dims, v); }

std::vector<int32_t> random_q(std::mt19937& rng, int64_t n, int32_t lo = -128, int32_t hi = 127) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}
float random_scale(std::mt19937& rng) { return std::uniform_real_distribution<float>(0.002f, 0.05f)(rng); }

int32_t wrap(int64_t v) { return int32_t(uint32_t(uint64_t(v))); }

// The reference requantization: saturate(rne(v) + z) within [lo, hi] (signed domain).
int32_t ref_requant(float v, int32_t z, int32_t lo, int32_t hi) {
  double r = std::nearbyint(double(v));  // v is a float: rne in double is the same
  r += z;
  r = std::min<double>(std::max<double>(r, lo), hi);
  return int32_t(r);
}

// Bounds of Q(Relu/Clip): each float bound quantized as QuantizeLinear would, in the signed domain.
void ref_bounds(const std::string& act, float clo, float chi, float sy, int32_t zy, int32_t* lo, int32_t* hi) {
  *lo = -128;
  *hi = 127;
  auto q = [&](float b) {
    const float d = b / sy;
    double r = std::nearbyint(double(d)) + zy;
    return int32_t(std::min<double>(std::max<double>(r, -128), 127));
  };
  if (act == "Relu") *lo = q(0.f);
  if (act == "Clip") {
    *lo = q(clo);
    *hi = q(chi);
  }
  if (*lo > *hi) *lo = *hi;
}

// ---------------------------------------------------------------------------------------------------------------
// QLinearConv / ConvInteger

struct ConvCase {
  std::vector<int64_t> in;  // spatial input dims
  std::vector<int64_t> k, s, d, pads;
  int64_t N = 1, C = 4, M = 4, group = 1;
  DType xt = DType::kUint8, wt = DType::kInt8, yt = DType::kUint8;
  bool per_channel = true, bias = true, residual = false, const_w = true;
  std::string act;            // "", "Relu", "Clip"
  int wzp_mode = 0;           // 0: zero point 0 (128 for uint8), 1: random that fits, 2: random that does not fit
  DType rt = DType::kInt8;    // residual type
  bool zero_x = false;        // x zero point 0 (signed domain)
  bool zero_y = false;        // y zero point 0 (signed domain)
  bool zero_r = false;
};

void run_conv_case(const ConvCase& cc, bool integer, int threads, uint32_t seed) {
  std::mt19937 rng(seed);
  const int nsp = int(cc.in.size());
  const int64_t Cg = cc.C / cc.group, Mg = cc.M / cc.group;
  std::vector<int64_t> out(static_cast<size_t>(nsp));
  int64_t in_size = 1, out_size = 1, taps = 1;
  for (int i = 0; i < nsp; i++) {
    const int64_t dk = (cc.k[i] - 1) * cc.d[i] + 1;
    out[i] = (cc.in[i] + cc.pads[i] + cc.pads[i + nsp] - dk) / cc.s[i] + 1;
    in_size *= cc.in[i];
    out_size *= out[i];
    taps *= cc.k[i];
  }
  Dims xd{cc.N, cc.C}, wd{cc.M, Cg}, yd{cc.N, cc.M};
  for (int i = 0; i < nsp; i++) {
    xd.push_back(cc.in[i]);
    wd.push_back(cc.k[i]);
    yd.push_back(out[i]);
  }
  const int64_t per = Cg * taps;
  auto xv = random_q(rng, cc.N * cc.C * in_size);
  auto wv = random_q(rng, cc.M * per);
  if (cc.wzp_mode == 2) wv[0] = 127, wv[1] = -128;  // forces a zero point left in the weights
  const int32_t zx = cc.zero_x ? 0 : random_q(rng, 1, -20, 20)[0];
  std::vector<int32_t> zw(static_cast<size_t>(cc.per_channel ? cc.M : 1), 0);
  for (auto& z : zw) z = cc.wzp_mode == 0 ? 0 : cc.wzp_mode == 1 ? 0 : random_q(rng, 1, -30, 30)[0];
  if (cc.wzp_mode == 1) {  // zero points that fit: weights within [-100, 100], zero points within [-27, 27]
    for (auto& w : wv) w = std::max(-100, std::min(100, w));
    for (auto& z : zw) z = random_q(rng, 1, -27, 27)[0];
  }
  if (cc.wzp_mode == 2) zw[0] = 5;
  const int32_t zy = cc.zero_y ? 0 : random_q(rng, 1, -30, 30)[0];
  const float sx = random_scale(rng), sy = random_scale(rng) * 8;
  std::vector<float> sw(zw.size());
  for (auto& s : sw) s = random_scale(rng);
  std::vector<int32_t> bias(static_cast<size_t>(cc.M));
  for (auto& b : bias) b = std::uniform_int_distribution<int>(-20000, 20000)(rng);
  std::vector<int32_t> rv = random_q(rng, cc.N * cc.M * out_size);
  const int32_t zr = cc.zero_r ? 0 : random_q(rng, 1, -10, 10)[0];
  const float sr = random_scale(rng) * 4;
  const float clo = -0.3f, chi = 0.9f;

  // Reference.
  std::vector<int32_t> ref(static_cast<size_t>(cc.N * cc.M * out_size));
  int32_t lo = -128, hi = 127;
  if (!integer) ref_bounds(cc.act, clo, chi, sy, zy, &lo, &hi);
  std::vector<int64_t> oidx(static_cast<size_t>(nsp)), kidx(static_cast<size_t>(nsp));
  for (int64_t n = 0; n < cc.N; n++)
    for (int64_t m = 0; m < cc.M; m++) {
      const int64_t g = m / Mg;
      const int32_t zwm = zw[zw.size() == 1 ? 0 : size_t(m)];
      for (int64_t p = 0; p < out_size; p++) {
        int64_t rem = p;
        for (int i = nsp - 1; i >= 0; i--) oidx[i] = rem % out[i], rem /= out[i];
        int64_t acc = 0;
        for (int64_t c = 0; c < Cg; c++)
          for (int64_t t = 0; t < taps; t++) {
            int64_t kr = t;
            for (int i = nsp - 1; i >= 0; i--) kidx[i] = kr % cc.k[i], kr /= cc.k[i];
            int64_t off = 0;
            bool inside = true;
            for (int i = 0; i < nsp; i++) {
              const int64_t xi = oidx[i] * cc.s[i] - cc.pads[i] + kidx[i] * cc.d[i];
              inside = inside && xi >= 0 && xi < cc.in[i];
              off = off * cc.in[i] + xi;
            }
            if (!inside) continue;  // padding reads zx: (zx - zx) * w = 0
            const int32_t x = xv[size_t((n * cc.C + g * Cg + c) * in_size + off)];
            const int32_t w = wv[size_t(m * per + c * taps + t)];
            acc += int64_t(x - zx) * int64_t(w - zwm);
          }
        const size_t o = size_t((n * cc.M + m) * out_size + p);
        if (integer) {
          ref[o] = wrap(acc);
          continue;
        }
        if (cc.bias) acc += bias[size_t(m)];
        const float mult = (sx * sw[sw.size() == 1 ? 0 : size_t(m)]) / sy;
        float v = float(wrap(acc)) * mult;
        if (cc.residual) v = std::fma(float(rv[o] - zr), sr / sy, v);
        ref[o] = ref_requant(v, zy, lo, hi);
      }
    }

  // The node.
  NodeDef node;
  node.name = "qconv";
  node.op_type = integer ? "ConvInteger" : "QLinearConv";
  node.attrs.push_back(ints_attr("strides", cc.s));
  node.attrs.push_back(ints_attr("dilations", cc.d));
  node.attrs.push_back(ints_attr("pads", cc.pads));
  node.set_attr_int("group", cc.group);
  if (!integer && !cc.act.empty()) {
    node.set_attr_string("__activation", cc.act);
    node.set_attr_float("__clip_min", clo);
    node.set_attr_float("__clip_max", chi);
  }
  auto zp_tensor = [&](DType t, const std::vector<int32_t>& z, bool vec) {
    return q8_tensor(t, vec ? Dims{int64_t(z.size())} : Dims{}, z);
  };
  const Tensor X = q8_tensor(cc.xt, xd, xv);
  const Tensor W = q8_tensor(cc.wt, wd, wv);
  std::vector<int32_t> zw_full(zw);
  std::vector<Tensor> inputs;
  std::vector<bool> constant;
  if (integer) {
    node.inputs = {"x", "w", "x_zero_point", "w_zero_point"};
    inputs = {X, W, zp_tensor(cc.xt, {zx}, false), zp_tensor(cc.wt, zw, cc.per_channel)};
    constant = {false, cc.const_w, true, true};
  } else {
    node.inputs = {"x", "x_scale", "x_zero_point", "w", "w_scale", "w_zero_point", "y_scale", "y_zero_point"};
    inputs = {X,
              f32_tensor({}, {sx}),
              zp_tensor(cc.xt, {zx}, false),
              W,
              f32_tensor(cc.per_channel ? Dims{cc.M} : Dims{}, sw),
              zp_tensor(cc.wt, zw, cc.per_channel),
              f32_tensor({}, {sy}),
              zp_tensor(cc.yt, {zy}, false)};
    constant = {false, true, true, cc.const_w, true, true, true, true};
    if (cc.bias || cc.residual) {
      node.inputs.push_back(cc.bias ? "B" : "");
      inputs.push_back(make_tensor<int32_t>({cc.M}, bias));
      constant.push_back(true);
    }
    if (cc.residual) {
      node.inputs.insert(node.inputs.end(), {"r", "r_scale", "r_zero_point"});
      inputs.push_back(q8_tensor(cc.rt, yd, rv));
      inputs.push_back(f32_tensor({}, {sr}));
      inputs.push_back(zp_tensor(cc.rt, {zr}, false));
      constant.insert(constant.end(), {false, true, true});
    }
  }
  node.outputs = {"y"};
  std::vector<Tensor> outs;
  Status st = run_q(node, 10, inputs, &outs, constant, threads);
  ASSERT_TRUE(st.ok()) << st.message();
  const Tensor& Y = outs[0];
  ASSERT_EQ(Y.dims(), yd);
  ASSERT_EQ(Y.dtype(), integer ? DType::kInt32 : cc.yt);
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < Y.numel(); i++) {
    const int32_t got = integer ? Y.data<int32_t>()[i] : signed_at(Y, i);
    if (got != ref[size_t(i)]) {
      if (first < 0) first = i;
      bad++;
    }
  }
  EXPECT_EQ(bad, 0) << "first mismatch at " << first << ": got "
                    << (integer ? Y.data<int32_t>()[first] : signed_at(Y, first)) << ", expected " << ref[size_t(first)];
}

ConvCase conv2d(std::vector<int64_t> in, int64_t k, int64_t s, int64_t p, int64_t d = 1) {
  ConvCase c;
  c.in = in;
  c.k = {k, k};
  c.s = {s, s};
  c.d = {d, d};
  c.pads = {p, p, p, p};
  return c;
}

TEST(QLinearConv, MatchesReferenceAcrossShapesAndTypes) {
  uint32_t seed = 1;
  for (int threads : {1, 2}) {
    for (DType xt : {DType::kUint8, DType::kInt8})
      for (DType wt : {DType::kInt8, DType::kUint8})
        for (DType yt : {DType::kUint8, DType::kInt8}) {
          ConvCase c = conv2d({9, 11}, 3, 1, 1);
          c.C = 5, c.M = 7, c.N = 2, c.xt = xt, c.wt = wt, c.yt = yt;
          SCOPED_TRACE(std::string(dtype_name(xt)) + "/" + dtype_name(wt) + "/" + dtype_name(yt));
          run_conv_case(c, false, threads, seed++);
          c.wzp_mode = 1;
          run_conv_case(c, false, threads, seed++);
          c.wzp_mode = 2;
          run_conv_case(c, false, threads, seed++);
        }
  }
}

TEST(QLinearConv, GeometriesPathsAndEpilogues) {
  uint32_t seed = 100;
  std::vector<ConvCase> cases;
  {  // 1x1 pointwise (no im2col), int8 exact epilogue (zero points 0)
    ConvCase c = conv2d({7, 13}, 1, 1, 0);
    c.C = 19, c.M = 33, c.xt = c.wt = c.yt = DType::kInt8, c.zero_x = c.zero_y = true;
    cases.push_back(c);
    c.xt = DType::kUint8;  // uint8 input: converted copy
    cases.push_back(c);
    c.yt = DType::kUint8, c.zero_y = true;  // uint8 output, zero point 128: exact epilogue then a top-bit flip
    cases.push_back(c);
  }
  {  // strided, dilated, asymmetric padding
    ConvCase c = conv2d({15, 12}, 3, 2, 2, 2);
    c.pads = {1, 2, 0, 3};
    c.C = 6, c.M = 10;
    cases.push_back(c);
    c.zero_x = c.zero_y = true, c.xt = c.wt = c.yt = DType::kInt8;  // exact epilogue, padding reads 0 in place
    cases.push_back(c);
  }
  {  // grouped
    ConvCase c = conv2d({8, 8}, 3, 1, 1);
    c.C = 8, c.M = 12, c.group = 4;
    cases.push_back(c);
  }
  for (bool fast : {false, true}) {  // depthwise: direct int32 loop, and the dwconv-s8 kernel
    ConvCase c = conv2d({13, 17}, 3, 1, 1);
    c.C = c.M = c.group = 6;
    if (fast) c.zero_y = true, c.yt = DType::kInt8;
    cases.push_back(c);
    c.s = {2, 2};
    cases.push_back(c);
    c.k = {5, 5}, c.pads = {2, 2, 2, 2}, c.act = "Relu";
    cases.push_back(c);
    c.residual = true, c.zero_r = true;
    cases.push_back(c);
    c.wzp_mode = 2;
    cases.push_back(c);
  }
  {  // fused Relu/Clip and residuals on the GEMM path
    ConvCase c = conv2d({6, 9}, 3, 1, 1);
    c.C = 3, c.M = 17, c.act = "Relu";
    cases.push_back(c);
    c.act = "Clip", c.residual = true, c.rt = DType::kUint8;
    cases.push_back(c);
    c.zero_y = c.zero_r = true, c.yt = DType::kInt8, c.rt = DType::kInt8, c.wt = DType::kInt8;  // exact epilogue
    cases.push_back(c);
    c.bias = false;
    cases.push_back(c);
  }
  {  // 1-D and 3-D
    ConvCase c;
    c.in = {20}, c.k = {4}, c.s = {3}, c.d = {1}, c.pads = {2, 1}, c.C = 3, c.M = 5;
    cases.push_back(c);
    ConvCase d;
    d.in = {4, 5, 6}, d.k = {2, 3, 2}, d.s = {1, 2, 1}, d.d = {1, 1, 2}, d.pads = {1, 0, 1, 0, 1, 1};
    d.C = 2, d.M = 3;
    cases.push_back(d);
  }
  {  // runtime (non-constant) weights, one output channel, one input channel
    ConvCase c = conv2d({5, 5}, 2, 1, 0);
    c.C = 1, c.M = 1, c.const_w = false, c.per_channel = false;
    cases.push_back(c);
  }
  for (size_t i = 0; i < cases.size(); i++)
    for (int threads : {1, 2}) {
      SCOPED_TRACE("case " + std::to_string(i) + ", threads " + std::to_string(threads));
      run_conv_case(cases[i], false, threads, seed++);
    }
}

TEST(ConvInteger, MatchesReference) {
  uint32_t seed = 500;
  for (int mode : {0, 1, 2})
    for (DType xt : {DType::kUint8, DType::kInt8}) {
      ConvCase c = conv2d({7, 6}, 3, 1, 1);
      c.C = 4, c.M = 6, c.xt = xt, c.wt = DType::kUint8, c.wzp_mode = mode;
      run_conv_case(c, true, 2, seed++);
      c.C = c.M = c.group = 4;
      run_conv_case(c, true, 1, seed++);
      c.k = {1, 1}, c.pads = {0, 0, 0, 0}, c.group = 1;
      run_conv_case(c, true, 2, seed++);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// QLinearMatMul / MatMulInteger / QGemm

struct MatCase {
  Dims a, b;
  DType at = DType::kUint8, bt = DType::kInt8, yt = DType::kUint8;
  bool per_col = false, const_b = true, zero_a = false, zero_y = false;
  int bzp_mode = 0;  // as ConvCase::wzp_mode
};

void run_mat_case(const MatCase& mc, const std::string& op, int threads, uint32_t seed, bool trans_b = false,
                  bool with_c = false, float alpha = 1.f, bool float_out = false) {
  std::mt19937 rng(seed);
  const Dims& ad = mc.a;
  const Dims& bd = mc.b;
  const int64_t K = ad.back(), M = ad.size() >= 2 ? ad[ad.size() - 2] : 1;
  const int64_t N = bd.size() >= 2 ? (trans_b ? bd[bd.size() - 2] : bd.back()) : 1;
  auto av = random_q(rng, dims_numel(ad));
  auto bv = random_q(rng, dims_numel(bd));
  const int32_t za = mc.zero_a ? 0 : random_q(rng, 1, -20, 20)[0];
  std::vector<int32_t> zb(static_cast<size_t>(mc.per_col ? N : 1), 0);
  if (mc.bzp_mode == 1) {
    for (auto& b : bv) b = std::max(-100, std::min(100, b));
    for (auto& z : zb) z = random_q(rng, 1, -27, 27)[0];
  } else if (mc.bzp_mode == 2) {
    for (auto& z : zb) z = random_q(rng, 1, -30, 30)[0];
    bv[0] = 127;
    zb[0] = -7;
  }
  const int32_t zy = mc.zero_y ? 0 : random_q(rng, 1, -30, 30)[0];
  const float sa = random_scale(rng), sy = random_scale(rng) * 16;
  std::vector<float> sb(zb.size());
  for (auto& s : sb) s = random_scale(rng);
  std::vector<int32_t> cv(static_cast<size_t>(N));
  for (auto& c : cv) c = std::uniform_int_distribution<int>(-5000, 5000)(rng);

  // Batch shapes.
  const Dims abatch(ad.begin(), ad.end() - std::min<size_t>(ad.size(), 2));
  const Dims bbatch(bd.begin(), bd.end() - std::min<size_t>(bd.size(), 2));
  const size_t r = std::max(abatch.size(), bbatch.size());
  Dims batch(r, 1);
  for (size_t i = 0; i < r; i++) {
    const int64_t x = i + abatch.size() >= r ? abatch[i + abatch.size() - r] : 1;
    const int64_t y = i + bbatch.size() >= r ? bbatch[i + bbatch.size() - r] : 1;
    batch[i] = std::max(x, y);
  }
  Dims yd = batch;
  if (ad.size() >= 2) yd.push_back(M);
  if (bd.size() >= 2) yd.push_back(N);
  const int64_t nb = dims_numel(batch);
  std::vector<double> ref(static_cast<size_t>(nb * M * N));
  for (int64_t bi = 0; bi < nb; bi++) {
    int64_t rem = bi, aoff = 0, boff = 0, as = M * K, bs = K * N;
    for (size_t i = r; i-- > 0;) {
      const int64_t idx = rem % batch[i];
      rem /= batch[i];
      const bool ha = i + abatch.size() >= r, hb = i + bbatch.size() >= r;
      const int64_t ea = ha ? abatch[i + abatch.size() - r] : 1, eb = hb ? bbatch[i + bbatch.size() - r] : 1;
      if (ea != 1) aoff += idx * as;
      if (eb != 1) boff += idx * bs;
      as *= ea;
      bs *= eb;
    }
    for (int64_t m = 0; m < M; m++)
      for (int64_t n = 0; n < N; n++) {
        const int32_t zbn = zb[zb.size() == 1 ? 0 : size_t(n)];
        int64_t acc = 0;
        for (int64_t k = 0; k < K; k++) {
          const int32_t b = bv[size_t(boff + (trans_b ? n * K + k : k * N + n))];
          acc += int64_t(av[size_t(aoff + m * K + k)] - za) * int64_t(b - zbn);
        }
        double out;
        if (op == "MatMulInteger") {
          out = wrap(acc);
        } else {
          if (with_c) acc += cv[size_t(n)];
          const float sbn = sb[sb.size() == 1 ? 0 : size_t(n)];
          const float sa2 = alpha != 1.f ? alpha * sa : sa;
          if (float_out)
            out = float(wrap(acc)) * (sa2 * sbn);
          else
            out = ref_requant(float(wrap(acc)) * ((sa2 * sbn) / sy), zy, -128, 127);
        }
        ref[size_t((bi * M + m) * N + n)] = out;
      }
  }

  NodeDef node;
  node.name = "qmm";
  node.op_type = op;
  const Tensor A = q8_tensor(mc.at, ad, av), B = q8_tensor(mc.bt, bd, bv);
  auto zt = [&](DType t, const std::vector<int32_t>& z) {
    return q8_tensor(t, z.size() == 1 ? Dims{} : Dims{int64_t(z.size())}, z);
  };
  std::vector<Tensor> inputs;
  std::vector<bool> constant;
  if (op == "MatMulInteger") {
    node.inputs = {"a", "b", "a_zero_point", "b_zero_point"};
    inputs = {A, B, zt(mc.at, {za}), zt(mc.bt, zb)};
    constant = {false, mc.const_b, true, true};
  } else {
    node.inputs = {"a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point"};
    inputs = {A, f32_tensor({}, {sa}), zt(mc.at, {za}), B,
              f32_tensor(sb.size() == 1 ? Dims{} : Dims{N}, sb), zt(mc.bt, zb)};
    constant = {false, true, true, mc.const_b, true, true};
    if (op == "QGemm") {
      node.domain = "com.microsoft";
      node.inputs.push_back(with_c ? "C" : "");
      inputs.push_back(make_tensor<int32_t>({N}, cv));
      constant.push_back(true);
      if (trans_b) node.set_attr_int("transB", 1);
      if (alpha != 1.f) node.set_attr_float("alpha", alpha);
    }
    if (!float_out) {
      node.inputs.insert(node.inputs.end(), {"y_scale", "y_zero_point"});
      inputs.push_back(f32_tensor({}, {sy}));
      inputs.push_back(zt(mc.yt, {zy}));
      constant.insert(constant.end(), {true, true});
    }
  }
  node.outputs = {"y"};
  std::vector<Tensor> outs;
  Status st = run_q(node, 21, inputs, &outs, constant, threads);
  ASSERT_TRUE(st.ok()) << st.message();
  const Tensor& Y = outs[0];
  ASSERT_EQ(Y.dims(), yd);
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < Y.numel(); i++) {
    double got = Y.dtype() == DType::kInt32    ? Y.data<int32_t>()[i]
                 : Y.dtype() == DType::kFloat32 ? Y.data<float>()[i]
                                                : signed_at(Y, i);
    if (got != ref[size_t(i)]) {
      if (first < 0) first = i;
      bad++;
    }
  }
  EXPECT_EQ(bad, 0) << "first mismatch at " << first;
}

TEST(QLinearMatMul, MatchesReference) {
  uint32_t seed = 1000;
  std::vector<MatCase> cases;
  for (DType at : {DType::kUint8, DType::kInt8})
    for (DType bt : {DType::kInt8, DType::kUint8})
      for (DType yt : {DType::kUint8, DType::kInt8}) {
        MatCase c;
        c.a = {7, 37}, c.b = {37, 19}, c.at = at, c.bt = bt, c.yt = yt;
        cases.push_back(c);
      }
  MatCase c;
  c.a = {1, 64}, c.b = {64, 33};  // M = 1
  cases.push_back(c);
  c.a = {3, 5, 24}, c.b = {24, 17}, c.per_col = true;  // batch dims folded into M, per-column b
  cases.push_back(c);
  c.bzp_mode = 1;
  cases.push_back(c);
  c.bzp_mode = 2;
  cases.push_back(c);
  c.a = {2, 4, 9}, c.b = {2, 9, 6}, c.bzp_mode = 0, c.per_col = false;  // batched B
  cases.push_back(c);
  c.a = {4, 9}, c.b = {3, 9, 5};  // broadcast A
  cases.push_back(c);
  c.a = {9}, c.b = {9, 5};  // 1-D a
  cases.push_back(c);
  c.a = {4, 9}, c.b = {9};  // 1-D b
  cases.push_back(c);
  c.a = {6, 40}, c.b = {40, 70}, c.zero_a = c.zero_y = true, c.at = c.bt = c.yt = DType::kInt8;  // exact epilogue
  cases.push_back(c);
  c.yt = DType::kUint8, c.at = DType::kUint8;
  cases.push_back(c);
  c.const_b = false;
  cases.push_back(c);
  for (size_t i = 0; i < cases.size(); i++)
    for (int threads : {1, 2}) {
      SCOPED_TRACE("case " + std::to_string(i));
      run_mat_case(cases[i], "QLinearMatMul", threads, seed++);
    }
}

TEST(MatMulInteger, MatchesReference) {
  uint32_t seed = 2000;
  for (int mode : {0, 1, 2})
    for (bool const_b : {true, false}) {
      MatCase c;
      c.a = {5, 23}, c.b = {23, 11}, c.per_col = true, c.bzp_mode = mode, c.const_b = const_b;
      run_mat_case(c, "MatMulInteger", 2, seed++);
      c.a = {2, 1, 3, 23}, c.b = {1, 4, 23, 11};
      run_mat_case(c, "MatMulInteger", 1, seed++);
    }
}

TEST(QGemmContrib, MatchesReference) {
  uint32_t seed = 3000;
  for (bool trans : {false, true})
    for (bool with_c : {false, true}) {
      MatCase c;
      c.a = {9, 31};
      c.b = trans ? Dims{13, 31} : Dims{31, 13};
      c.per_col = true;
      run_mat_case(c, "QGemm", 2, seed++, trans, with_c);
      run_mat_case(c, "QGemm", 1, seed++, trans, with_c, 0.75f);
      run_mat_case(c, "QGemm", 2, seed++, trans, with_c, 1.f, /*float_out=*/true);
      c.zero_a = c.zero_y = true, c.at = c.bt = c.yt = DType::kInt8;
      run_mat_case(c, "QGemm", 2, seed++, trans, with_c);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// QLinearAdd / QLinearMul / QLinearConcat / QLookup / data movers

void run_binary_case(const std::string& op, const Dims& ad, const Dims& bd, DType at, DType bt, DType ct, bool zeros,
                     uint32_t seed) {
  std::mt19937 rng(seed);
  auto av = random_q(rng, dims_numel(ad)), bv = random_q(rng, dims_numel(bd));
  const int32_t za = zeros ? 0 : random_q(rng, 1, -40, 40)[0], zb = zeros ? 0 : random_q(rng, 1, -40, 40)[0];
  const int32_t zc = zeros ? 0 : random_q(rng, 1, -40, 40)[0];
  const float sa = random_scale(rng), sb = random_scale(rng), sc = random_scale(rng) * (op == "QLinearMul" ? 0.1f : 2);
  NodeDef node;
  node.name = "qbin";
  node.op_type = op;
  node.domain = "com.microsoft";
  node.inputs = {"a", "as", "az", "b", "bs", "bz", "cs", "cz"};
  node.outputs = {"c"};
  auto zt = [&](DType t, int32_t z) { return q8_tensor(t, {}, {z}); };
  std::vector<Tensor> inputs = {q8_tensor(at, ad, av), f32_tensor({}, {sa}), zt(at, za), q8_tensor(bt, bd, bv),
                                f32_tensor({}, {sb}), zt(bt, zb), f32_tensor({}, {sc}), zt(ct, zc)};
  std::vector<Tensor> outs;
  Status st = run_q(node, 13, inputs, &outs, std::vector<bool>(8, true), 2);
  ASSERT_TRUE(st.ok()) << st.message();
  const Tensor& Y = outs[0];
  // Reference with explicit broadcasting over the output index.
  const Dims& od = Y.dims();
  const size_t r = od.size();
  auto index_of = [&](const Dims& d, int64_t flat) {
    int64_t off = 0, stride = 1;
    for (size_t i = r; i-- > 0;) {
      const int64_t idx = flat % od[i];
      flat /= od[i];
      const size_t j = i + d.size() - r;
      if (i + d.size() >= r) {
        if (d[j] != 1) off += idx * stride;
        stride *= d[j];
      }
    }
    return off;
  };
  int64_t bad = 0;
  for (int64_t i = 0; i < Y.numel(); i++) {
    const int32_t qa = av[size_t(index_of(ad, i))] - za, qb = bv[size_t(index_of(bd, i))] - zb;
    float v;
    if (op == "QLinearAdd")
      v = std::fma(float(qb), sb / sc, float(qa) * (sa / sc));
    else
      v = float(qa * qb) * ((sa * sb) / sc);
    bad += signed_at(Y, i) != ref_requant(v, zc, -128, 127);
  }
  EXPECT_EQ(bad, 0);
}

TEST(QLinearBinary, AddMulMatchReference) {
  uint32_t seed = 4000;
  for (const char* op : {"QLinearAdd", "QLinearMul"}) {
    SCOPED_TRACE(op);
    run_binary_case(op, {2, 3, 40}, {2, 3, 40}, DType::kUint8, DType::kUint8, DType::kUint8, false, seed++);
    run_binary_case(op, {2, 3, 40}, {3, 1}, DType::kInt8, DType::kUint8, DType::kInt8, false, seed++);
    run_binary_case(op, {1}, {5, 7}, DType::kInt8, DType::kInt8, DType::kUint8, false, seed++);
    run_binary_case(op, {4, 1, 70}, {1, 3, 70}, DType::kInt8, DType::kInt8, DType::kInt8, true, seed++);  // vector loops
    run_binary_case(op, {4, 3, 70}, {70}, DType::kInt8, DType::kInt8, DType::kInt8, true, seed++);
  }
}

TEST(QLinearConcat, CopiesAndRequantizes) {
  std::mt19937 rng(5000);
  const Dims d0{2, 3, 4}, d1{2, 5, 4};
  auto v0 = random_q(rng, dims_numel(d0)), v1 = random_q(rng, dims_numel(d1));
  const float sy = 0.02f, s1 = 0.031f;
  const int32_t zy = 3, z1 = -9;
  NodeDef node;
  node.name = "qcat";
  node.op_type = "QLinearConcat";
  node.domain = "com.microsoft";
  node.set_attr_int("axis", 1);
  node.inputs = {"ys", "yz", "x0", "s0", "z0", "x1", "s1", "z1"};
  node.outputs = {"y"};
  std::vector<Tensor> inputs = {f32_tensor({}, {sy}),  q8_tensor(DType::kUint8, {}, {zy}),
                                q8_tensor(DType::kUint8, d0, v0), f32_tensor({}, {sy}),
                                q8_tensor(DType::kUint8, {}, {zy}), q8_tensor(DType::kInt8, d1, v1),
                                f32_tensor({}, {s1}), q8_tensor(DType::kInt8, {}, {z1})};
  std::vector<Tensor> outs;
  ASSERT_TRUE(run_q(node, 13, inputs, &outs, std::vector<bool>(8, false), 2).ok());
  const Tensor& Y = outs[0];
  ASSERT_EQ(Y.dims(), (Dims{2, 8, 4}));
  for (int64_t n = 0; n < 2; n++)
    for (int64_t c = 0; c < 8; c++)
      for (int64_t w = 0; w < 4; w++) {
        const int32_t got = signed_at(Y, (n * 8 + c) * 4 + w);
        const int32_t want = c < 3 ? v0[size_t((n * 3 + c) * 4 + w)]
                                   : ref_requant(float(v1[size_t((n * 5 + c - 3) * 4 + w)] - z1) * (s1 / sy), zy,
                                                 -128, 127);
        ASSERT_EQ(got, want) << n << "," << c << "," << w;
      }
}

TEST(QLinearGlobalAveragePool, MatchesReference) {
  std::mt19937 rng(5500);
  for (DType xt : {DType::kUint8, DType::kInt8})
    for (DType yt : {DType::kUint8, DType::kInt8}) {
      const Dims xd{2, 5, 7, 9};
      auto v = random_q(rng, dims_numel(xd));
      const int32_t zx = xt == DType::kInt8 ? 0 : random_q(rng, 1, -20, 20)[0];
      const int32_t zy = random_q(rng, 1, -20, 20)[0];
      const float sx = random_scale(rng), sy = random_scale(rng);
      NodeDef node;
      node.name = "gap";
      node.op_type = "QLinearGlobalAveragePool";
      node.domain = "com.microsoft";
      node.inputs = {"x", "xs", "xz", "ys", "yz"};
      node.outputs = {"y"};
      std::vector<Tensor> outs;
      ASSERT_TRUE(run_q(node, 13,
                        {q8_tensor(xt, xd, v), f32_tensor({}, {sx}), q8_tensor(xt, {}, {zx}), f32_tensor({}, {sy}),
                         q8_tensor(yt, {}, {zy})},
                        &outs, std::vector<bool>(5, false), 2)
                      .ok());
      ASSERT_EQ(outs[0].dims(), (Dims{2, 5, 1, 1}));
      for (int64_t p = 0; p < 10; p++) {
        int64_t sum = 0;
        for (int64_t i = 0; i < 63; i++) sum += v[size_t(p * 63 + i)] - zx;
        ASSERT_EQ(signed_at(outs[0], p), ref_requant(float(sum) * (sx / (63.f * sy)), zy, -128, 127)) << p;
      }
    }
}

// With zero points 0 the int8 planner's AveragePool (scales as attributes) is the reference, geometry included; a uint8
// tensor with zero point 128 holds the same values; a real zero point against the definition on one window shape.
TEST(QLinearAveragePool, MatchesThePlannersKernelAndZeroPoints) {
  std::mt19937 rng(5600);
  struct Geo {
    std::vector<int64_t> in, k, s, pads;
    bool ceil, include_pad;
  };
  const std::vector<Geo> geos = {{{9, 11}, {3, 3}, {2, 2}, {1, 1, 1, 1}, false, false},
                                 {{9, 11}, {3, 3}, {2, 2}, {1, 1, 1, 1}, true, true},
                                 {{8, 7}, {2, 3}, {2, 1}, {0, 1, 1, 0}, true, false},
                                 {{13}, {4}, {3}, {2, 1}, false, true},
                                 {{6, 6}, {6, 6}, {1, 1}, {0, 0, 0, 0}, false, false}};
  for (const Geo& g : geos) {
    Dims xd{2, 3};
    xd.insert(xd.end(), g.in.begin(), g.in.end());
    auto v = random_q(rng, dims_numel(xd));
    const float sx = random_scale(rng), sy = random_scale(rng);
    auto attrs = [&](NodeDef& n) {
      n.attrs.push_back(ints_attr("kernel_shape", g.k));
      n.attrs.push_back(ints_attr("strides", g.s));
      n.attrs.push_back(ints_attr("pads", g.pads));
      n.set_attr_int("ceil_mode", g.ceil);
      n.set_attr_int("count_include_pad", g.include_pad);
    };
    NodeDef planner = make_node("AveragePool", {"x"}, {"y"});
    attrs(planner);
    Attribute in_s, out_s;
    in_s.name = "__in_scales";
    in_s.type = Attribute::Type::kFloats;
    in_s.floats = {sx};
    out_s = in_s;
    out_s.name = "__out_scales";
    out_s.floats = {sy};
    planner.attrs.push_back(in_s);
    planner.attrs.push_back(out_s);
    std::vector<Tensor> want;
    ASSERT_TRUE(run_q(planner, 13, {q8_tensor(DType::kInt8, xd, v)}, &want, {false}, 1).ok());
    NodeDef node;
    node.name = "qap";
    node.op_type = "QLinearAveragePool";
    node.domain = "com.microsoft";
    attrs(node);
    node.inputs = {"x", "xs", "xz", "ys", "yz"};
    node.outputs = {"y"};
    for (DType t : {DType::kInt8, DType::kUint8}) {
      std::vector<Tensor> got;
      ASSERT_TRUE(run_q(node, 13,
                        {q8_tensor(t, xd, v), f32_tensor({}, {sx}), q8_tensor(t, {}, {0}), f32_tensor({}, {sy}),
                         q8_tensor(t, {}, {0})},
                        &got, std::vector<bool>(5, false), 2)
                      .ok());
      ASSERT_EQ(got[0].dims(), want[0].dims());
      for (int64_t i = 0; i < got[0].numel(); i++) ASSERT_EQ(signed_at(got[0], i), signed_at(want[0], i)) << i;
    }
  }
  // Zero points: a 2x2 window, stride 2, no padding, on x [1, 1, 4, 4].
  const std::vector<int32_t> v = random_q(rng, 16);
  const int32_t zx = 9, zy = -7;
  const float sx = 0.03f, sy = 0.02f;
  NodeDef node;
  node.name = "qap";
  node.op_type = "QLinearAveragePool";
  node.domain = "com.microsoft";
  node.attrs.push_back(ints_attr("kernel_shape", {2, 2}));
  node.attrs.push_back(ints_attr("strides", {2, 2}));
  node.inputs = {"x", "xs", "xz", "ys", "yz"};
  node.outputs = {"y"};
  std::vector<Tensor> got;
  ASSERT_TRUE(run_q(node, 13,
                    {q8_tensor(DType::kUint8, {1, 1, 4, 4}, v), f32_tensor({}, {sx}),
                     q8_tensor(DType::kUint8, {}, {zx}), f32_tensor({}, {sy}), q8_tensor(DType::kInt8, {}, {zy})},
                    &got, std::vector<bool>(5, false), 1)
                  .ok());
  for (int64_t oy = 0; oy < 2; oy++)
    for (int64_t ox = 0; ox < 2; ox++) {
      int64_t sum = 0;
      for (int64_t dy = 0; dy < 2; dy++)
        for (int64_t dx = 0; dx < 2; dx++) sum += v[size_t((2 * oy + dy) * 4 + 2 * ox + dx)] - zx;
      EXPECT_EQ(signed_at(got[0], oy * 2 + ox), ref_requant(float(sum) * (sx / (4.f * sy)), zy, -128, 127));
    }
}

TEST(QLookup, TablesForEveryTypePair) {
  for (DType in : {DType::kInt8, DType::kUint8})
    for (DType out : {DType::kInt8, DType::kUint8}) {
      // table[s + 128] (signed-domain output) = 3 * s / 4 clamped: any function will do.
      std::vector<int32_t> table(256);
      for (int v = 0; v < 256; v++) table[size_t(v)] = std::max(-128, std::min(127, (3 * (v - 128)) / 4 + 5));
      NodeDef node;
      node.name = "lut";
      node.op_type = "QLookup";
      node.domain = "int8rt";
      Attribute a;
      a.name = "table";
      a.type = Attribute::Type::kTensor;
      a.t = q8_tensor(out, {256}, table);
      node.attrs.push_back(a);
      node.inputs = {"x"};
      node.outputs = {"y"};
      std::vector<int32_t> xs(300);
      for (size_t i = 0; i < xs.size(); i++) xs[i] = int32_t(i % 256) - 128;
      std::vector<Tensor> outs;
      ASSERT_TRUE(run_q(node, 13, {q8_tensor(in, {300}, xs)}, &outs, {false}, 2).ok());
      for (size_t i = 0; i < xs.size(); i++) ASSERT_EQ(signed_at(outs[0], int64_t(i)), table[size_t(xs[i] + 128)]);
    }
}

TEST(Q8DataMovers, ForwardToTheFloatKernels) {
  std::mt19937 rng(6000);
  auto v = random_q(rng, 2 * 3 * 4 * 4);
  NodeDef node;
  node.name = "pool";
  node.op_type = "MaxPool";
  node.domain = "int8rt";
  node.attrs.push_back(ints_attr("kernel_shape", {2, 2}));
  node.attrs.push_back(ints_attr("strides", {2, 2}));
  node.inputs = {"x"};
  node.outputs = {"y"};
  for (DType t : {DType::kInt8, DType::kUint8}) {
    std::vector<Tensor> outs;
    ASSERT_TRUE(run_q(node, 13, {q8_tensor(t, {2, 3, 4, 4}, v)}, &outs, {false}, 1).ok());
    ASSERT_EQ(outs[0].dtype(), t);
    for (int64_t p = 0; p < 6; p++)
      for (int64_t y = 0; y < 2; y++)
        for (int64_t x = 0; x < 2; x++) {
          int32_t m = -129;
          for (int dy = 0; dy < 2; dy++)
            for (int dx = 0; dx < 2; dx++) m = std::max(m, v[size_t(p * 16 + (2 * y + dy) * 4 + 2 * x + dx)]);
          ASSERT_EQ(signed_at(outs[0], p * 4 + y * 2 + x), m);
        }
  }
  NodeDef tr = make_node("Transpose", {"x"}, {"y"});
  tr.domain = "int8rt";
  tr.attrs.push_back(ints_attr("perm", {1, 0}));
  std::vector<Tensor> outs;
  ASSERT_TRUE(run_q(tr, 13, {q8_tensor(DType::kUint8, {2, 3}, {1, 2, 3, 4, 5, 6})}, &outs, {false}, 1).ok());
  EXPECT_EQ(signed_at(outs[0], 1), 4);
  ASSERT_FALSE(run_q(tr, 13, {f32_tensor({2, 3}, {1, 2, 3, 4, 5, 6})}, &outs, {false}, 1).ok());
}

// Opsets 23+: QuantizeLinear's `precision` (float32 only) and a float16 scale's float16 division are refused, saying
// so; DequantizeLinear's `output_dtype` picks the output type.
TEST(QuantizeDequantize, Opset23Attributes) {
  auto run_fp32 = [](const NodeDef& n, int opset, const std::vector<Tensor>& in, std::vector<Tensor>* out) {
    std::string why;
    const KernelDef* def = kernel_registry().find(n.op_type, "", opset, Device::kCpu, Precision::kFp32, &why);
    EXPECT_NE(def, nullptr) << why;
    std::vector<const Tensor*> ins;
    for (const auto& t : in) ins.push_back(&t);
    KernelInfo info(n, opset, std::vector<const Tensor*>(in.size(), nullptr));
    std::unique_ptr<OpKernel> k;
    INT8RT_RETURN_IF_ERROR(def->factory(info, &k));
    ThreadPool pool(1);
    SimpleOpContext ctx(n, ins, &pool);
    INT8RT_RETURN_IF_ERROR(k->compute(ctx));
    *out = ctx.outputs();
    return Status::OK();
  };
  const Tensor x = f32_tensor({3}, {1.f, 2.5f, -3.f});
  const Tensor zp = q8_tensor(DType::kInt8, {}, {0});
  NodeDef q = make_node("QuantizeLinear", {"x", "s", "z"}, {"y"});
  std::vector<Tensor> out;
  q.set_attr_int("precision", 10);
  EXPECT_EQ(run_fp32(q, 25, {x, f32_tensor({}, {0.5f}), zp}, &out).code(), ErrorCode::kUnsupported);
  q.set_attr_int("precision", 1);
  ASSERT_TRUE(run_fp32(q, 25, {x, f32_tensor({}, {0.5f}), zp}, &out).ok());
  EXPECT_EQ(signed_at(out[0], 1), 5);
  Tensor half;
  ASSERT_TRUE(Tensor::create(DType::kFloat16, {}, &half).ok());
  half.data<uint16_t>()[0] = float_to_half(0.5f);
  NodeDef q0 = make_node("QuantizeLinear", {"x", "s", "z"}, {"y"});
  Status st = run_fp32(q0, 25, {x, half, zp}, &out);
  EXPECT_EQ(st.code(), ErrorCode::kUnsupported) << st.message();
  EXPECT_TRUE(run_fp32(q0, 21, {x, half, zp}, &out).ok());
  EXPECT_TRUE(run_fp32(q, 25, {x, half, zp}, &out).ok());  // precision = FLOAT: the float32 division is asked for

  NodeDef dq = make_node("DequantizeLinear", {"x", "s", "z"}, {"y"});
  dq.set_attr_int("output_dtype", int64_t(DType::kFloat16));
  ASSERT_TRUE(run_fp32(dq, 25, {q8_tensor(DType::kInt8, {2}, {4, -6}), f32_tensor({}, {0.25f}), zp}, &out).ok());
  ASSERT_EQ(out[0].dtype(), DType::kFloat16);
  EXPECT_EQ(half_to_float(out[0].data<uint16_t>()[1]), -1.5f);
  dq.set_attr_int("output_dtype", int64_t(DType::kInt32));
  EXPECT_EQ(run_fp32(dq, 25, {q8_tensor(DType::kInt8, {2}, {4, -6}), f32_tensor({}, {0.25f}), zp}, &out).code(),
            ErrorCode::kDtype);
}

TEST(QLinear, Refusals) {
  // A per-row a_scale, a float scale of zero, mismatched zero-point types: clear errors, no crash.
  NodeDef node;
  node.name = "qmm";
  node.op_type = "QLinearMatMul";
  node.inputs = {"a", "as", "az", "b", "bs", "bz", "ys", "yz"};
  node.outputs = {"y"};
  const Tensor A = q8_tensor(DType::kUint8, {2, 3}, {0, 1, 2, 3, 4, 5});
  const Tensor B = q8_tensor(DType::kInt8, {3, 2}, {0, 1, 2, 3, 4, 5});
  auto run = [&](const Tensor& as, const Tensor& az) {
    std::vector<Tensor> outs;
    return run_q(node, 21,
                 {A, as, az, B, f32_tensor({}, {0.1f}), q8_tensor(DType::kInt8, {}, {0}), f32_tensor({}, {0.1f}),
                  q8_tensor(DType::kUint8, {}, {0})},
                 &outs, std::vector<bool>(8, true), 1);
  };
  Status st = run(f32_tensor({2}, {0.1f, 0.2f}), q8_tensor(DType::kUint8, {2}, {0, 0}));
  EXPECT_EQ(st.code(), ErrorCode::kUnsupported) << st.message();
  st = run(f32_tensor({}, {0.f}), q8_tensor(DType::kUint8, {}, {0}));
  EXPECT_EQ(st.code(), ErrorCode::kUnsupported) << st.message();
  st = run(f32_tensor({}, {0.1f}), q8_tensor(DType::kInt8, {}, {0}));
  EXPECT_EQ(st.code(), ErrorCode::kDtype) << st.message();
  EXPECT_NE(st.message().find("qmm"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace int8rt
