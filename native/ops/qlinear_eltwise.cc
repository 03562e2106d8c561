// Elementwise and data-movement kernels on 8-bit quantized tensors with explicit scales and zero points (the
// signed-domain conventions of ops/qlinear_common.h):
//
//   QLinearAdd (com.microsoft)     v = fmaf((float)(b - zb), s_b / s_c, (float)(a - za) * (s_a / s_c))
//   QLinearMul (com.microsoft)     v = (float)((a - za) * (b - zb)) * ((s_a * s_b) / s_c)
//                                  c = saturate(rne(v) + zc); numpy broadcasting; with every zero point 0 and int8
//                                  data these are exactly the int8 planner's Add and Mul (kernels/eltwise-s8.h), whose
//                                  vector loops they then use
//   QLinearConcat (com.microsoft)  inputs y_scale, y_zero_point, then (x, x_scale, x_zero_point) per input; each input
//                                  copied when its type, scale and zero point are the output's, else requantized:
//                                  y = saturate(rne((float)(x - zx) * (s_x / s_y)) + zy)
//   QLinearGlobalAveragePool (com.microsoft)
//                                  y = saturate(rne((float)(sum - count * zx) * (s_x / (count * s_y))) + zy) per
//                                  plane (NCHW)
//   QLookup (int8rt)               y = table[x]: any function of one 8-bit input, tabulated at build by the QDQ
//                                  import pass (attribute `table`: 256 values of the output type, indexed by the
//                                  input's signed-domain value + 128)
//   Reshape, Transpose, MaxPool, ... (int8rt)
//                                  the float operator's kernel run on the 8-bit tensor (these kernels move bytes or
//                                  compare values, so the quantization passes through unchanged); the QDQ import
//                                  pass writes them where a DequantizeLinear -> op -> QuantizeLinear with equal
//                                  parameters on both sides becomes the op on the quantized tensor.
// Scales and zero points are per tensor. Loads and stores flip the top bit of uint8 bytes to reach the signed domain.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/eltwise-s8.h"
#include "ops/elementwise_internal.h"
#include "ops/qlinear_common.h"

namespace int8rt {
namespace qlinear {
namespace {

constexpr int64_t kGrain = 32768;

// The byte mask that takes a stored 8-bit value to the signed domain and back.
inline uint8_t flip_of(DType t) { return t == DType::kUint8 ? 0x80u : 0u; }

// A per-tensor 8-bit operand of a node: data at input `x`, scale at `x + 1`, zero point at `x + 2` (optional).
Status operand(const OpContext& ctx, size_t x, const std::string& what, const Tensor** data, QParam* q) {
  const Tensor* t = ctx.input(x);
  if (!t) return shape_error(ctx.node(), "input " + what + " is required");
  *data = t;
  return read_qparam(ctx.node(), what, t->dtype(), ctx.input(x + 1), ctx.input(x + 2), 0, q);
}

// ---------------------------------------------------------------------------------------------------------------
// QLinearAdd, QLinearMul

enum class BinOp { kAdd, kMul };

class QBinaryKernel final : public OpKernel {
 public:
  explicit QBinaryKernel(BinOp op) : op_(op) {}
  std::string kernel_name() const override { return op_ == BinOp::kAdd ? "qlinearadd" : "qlinearmul"; }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor *A, *B;
    QParam aq, bq, cq;
    INT8RT_RETURN_IF_ERROR(operand(ctx, 0, "A", &A, &aq));
    INT8RT_RETURN_IF_ERROR(operand(ctx, 3, "B", &B, &bq));
    const Tensor* cz = ctx.input(7);
    INT8RT_RETURN_IF_ERROR(read_qparam(node, "C", cz ? cz->dtype() : A->dtype(), ctx.input(6), cz, 0, &cq));
    Dims od;
    INT8RT_RETURN_IF_ERROR(eltwise::broadcast_dims(node, {&A->dims(), &B->dims()}, &od));
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, cq.type, od, &Y));
    if (Y->numel() == 0) return Status::OK();
    eltwise::BroadcastPlan plan;
    if (!plan.init(od, {&A->dims(), &B->dims()})) return shape_error(node, "inputs do not broadcast");
    const float ma = op_ == BinOp::kAdd ? aq.scale[0] / cq.scale[0] : (aq.scale[0] * bq.scale[0]) / cq.scale[0];
    const float mb = op_ == BinOp::kAdd ? bq.scale[0] / cq.scale[0] : 0.f;
    if (!std::isfinite(ma) || !std::isfinite(mb))
      return unsupported(node, "the scales give a requantization multiplier out of float range");
    const int32_t za = aq.zero[0], zb = bq.zero[0], zc = cq.zero[0];
    const uint8_t fa = flip_of(A->dtype()), fb = flip_of(B->dtype()), fc = flip_of(cq.type);
    const uint8_t* a = static_cast<const uint8_t*>(A->raw());
    const uint8_t* b = static_cast<const uint8_t*>(B->raw());
    uint8_t* y = static_cast<uint8_t*>(Y->raw());
    const bool av = plan.inner_vec[0], bv = plan.inner_vec[1];
    // int8 with zero points 0: the int8 planner's loops (same formula, vectorised).
    const bool plain = fa == 0 && fb == 0 && fc == 0 && za == 0 && zb == 0 && zc == 0;
    const EltwiseS8Kernels& k = eltwise_s8();
    const BinOp op = op_;
    parallel_for(ctx.pool(), plan.numel, kGrain, [&](int64_t begin, int64_t end) {
      plan.for_each_run(begin, end, [&](int64_t o, const int64_t* off, int64_t len) {
        if (plain) {
          const int8_t* pa = reinterpret_cast<const int8_t*>(a + off[0]);
          const int8_t* pb = reinterpret_cast<const int8_t*>(b + off[1]);
          int8_t* py = reinterpret_cast<int8_t*>(y + o);
          if (op == BinOp::kAdd)
            k.add(pa, av, pb, bv, py, len, ma, mb);
          else
            k.mul(pa, av, pb, bv, py, len, ma);
          return;
        }
        for (int64_t i = 0; i < len; i++) {
          const int32_t qa = int32_t(int8_t(a[off[0] + (av ? i : 0)] ^ fa)) - za;
          const int32_t qb = int32_t(int8_t(b[off[1] + (bv ? i : 0)] ^ fb)) - zb;
          const float v = op == BinOp::kAdd ? std::fma(float(qb), mb, float(qa) * ma) : float(qa * qb) * ma;
          y[o + i] = uint8_t(requantize(v, zc, -128, 127)) ^ fc;
        }
      });
    });
    return Status::OK();
  }

 private:
  BinOp op_;
};

Status make_qlinear_add(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  if (info.num_inputs() < 7 || !info.has_input(0) || !info.has_input(3) || !info.has_input(6))
    return shape_error(info.node(), "QLinearAdd needs A, A_scale, B, B_scale and C_scale");
  out->reset(new QBinaryKernel(BinOp::kAdd));
  return Status::OK();
}
Status make_qlinear_mul(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  if (info.num_inputs() < 7 || !info.has_input(0) || !info.has_input(3) || !info.has_input(6))
    return shape_error(info.node(), "QLinearMul needs A, A_scale, B, B_scale and C_scale");
  out->reset(new QBinaryKernel(BinOp::kMul));
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------------------------
// QLinearConcat

class QConcatKernel final : public OpKernel {
 public:
  explicit QConcatKernel(int64_t axis) : axis_(axis) {}
  std::string kernel_name() const override { return "qlinearconcat"; }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const size_t n_in = (ctx.num_inputs() - 2) / 3;
    if (n_in == 0 || ctx.num_inputs() != 2 + 3 * n_in)
      return shape_error(node, "QLinearConcat takes y_scale, y_zero_point and a (x, scale, zero point) triple per input");
    const Tensor* yz = ctx.input(1);
    if (!yz) return shape_error(node, "y_zero_point is required");
    QParam yq;
    INT8RT_RETURN_IF_ERROR(read_qparam(node, "y", yz->dtype(), ctx.input(0), yz, 0, &yq));
    std::vector<const Tensor*> xs(n_in);
    std::vector<QParam> xq(n_in);
    for (size_t i = 0; i < n_in; i++)
      INT8RT_RETURN_IF_ERROR(operand(ctx, 2 + 3 * i, "input " + std::to_string(i), &xs[i], &xq[i]));
    const Dims& d0 = xs[0]->dims();
    const int64_t r = int64_t(d0.size());
    if (r == 0) return shape_error(node, "inputs must have rank >= 1");
    if (axis_ < -r || axis_ >= r) return shape_error(node, "axis " + std::to_string(axis_) + " is out of range");
    const size_t ax = size_t(axis_ < 0 ? axis_ + r : axis_);
    Dims od = d0;
    od[ax] = 0;
    for (size_t i = 0; i < n_in; i++) {
      const Dims& d = xs[i]->dims();
      if (d.size() != d0.size())
        return shape_error(node, "input " + std::to_string(i) + " " + dims_str(d) + " has another rank than " +
                                     dims_str(d0));
      for (size_t j = 0; j < d.size(); j++)
        if (j != ax && d[j] != d0[j])
          return shape_error(node, "input " + std::to_string(i) + " " + dims_str(d) + " does not match " +
                                       dims_str(d0) + " off the concat axis");
      od[ax] += d[ax];
    }
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, yq.type, od, &Y));
    if (Y->numel() == 0) return Status::OK();
    int64_t outer = 1, inner = 1;
    for (size_t j = 0; j < ax; j++) outer *= od[j];
    for (size_t j = ax + 1; j < od.size(); j++) inner *= od[j];
    const int64_t yrow = od[ax] * inner;
    int64_t at = 0;
    uint8_t* y = static_cast<uint8_t*>(Y->raw());
    const uint8_t fy = flip_of(yq.type);
    for (size_t i = 0; i < n_in; i++) {
      const int64_t len = xs[i]->dims()[ax] * inner;
      const uint8_t* x = static_cast<const uint8_t*>(xs[i]->raw());
      const bool copy =
          xs[i]->dtype() == yq.type && xq[i].scale[0] == yq.scale[0] && xq[i].zero[0] == yq.zero[0];
      const float m = xq[i].scale[0] / yq.scale[0];
      const int32_t zx = xq[i].zero[0], zy = yq.zero[0];
      const uint8_t fx = flip_of(xs[i]->dtype());
      parallel_for(ctx.pool(), outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(len, 1)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t o = b; o < e; o++) {
                       const uint8_t* src = x + o * len;
                       uint8_t* dst = y + o * yrow + at;
                       if (copy) {
                         std::memcpy(dst, src, size_t(len));
                         continue;
                       }
                       for (int64_t j = 0; j < len; j++)
                         dst[j] = uint8_t(requantize(float(int32_t(int8_t(src[j] ^ fx)) - zx) * m, zy, -128, 127)) ^
                                  fy;
                     }
                   });
      at += len;
    }
    return Status::OK();
  }

 private:
  int64_t axis_;
};

Status make_qlinear_concat(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  if (!info.node().has_attr("axis")) return shape_error(info.node(), "QLinearConcat needs the axis attribute");
  out->reset(new QConcatKernel(info.node().attr_int("axis", 0)));
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------------------------
// QLinearGlobalAveragePool (com.microsoft): inputs X, x_scale, x_zero_point, y_scale, y_zero_point; NCHW
// (channels_last = 0). Per plane of `count` values: v = (float)(sum - count * zx) * (s_x / ((float)count * s_y)),
// y = saturate(rne(v) + zy): with zero points 0, the int8 planner's GlobalAveragePool (ops/int8_pool.cc) exactly.

class QGlobalAvgPoolKernel final : public OpKernel {
 public:
  std::string kernel_name() const override { return "qlinearglobalaveragepool"; }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* X;
    QParam xq, yq;
    INT8RT_RETURN_IF_ERROR(operand(ctx, 0, "X", &X, &xq));
    const Tensor* yz = ctx.input(4);
    INT8RT_RETURN_IF_ERROR(read_qparam(node, "Y", yz ? yz->dtype() : X->dtype(), ctx.input(3), yz, 0, &yq));
    if (X->rank() < 3) return shape_error(node, "X must have rank >= 3, got " + dims_str(X->dims()));
    Dims od = X->dims();
    int64_t count = 1;
    for (size_t d = 2; d < od.size(); d++) {
      count *= od[d];
      od[d] = 1;
    }
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, yq.type, od, &Y));
    const int64_t planes = od[0] * od[1];
    if (planes == 0) return Status::OK();
    if (count == 0) return shape_error(node, "X has empty spatial dims");
    const float m = xq.scale[0] / (float(count) * yq.scale[0]);
    const int32_t zx = xq.zero[0], zy = yq.zero[0];
    const uint8_t fx = flip_of(X->dtype()), fy = flip_of(yq.type);
    const uint8_t* x = static_cast<const uint8_t*>(X->raw());
    uint8_t* y = static_cast<uint8_t*>(Y->raw());
    parallel_for(ctx.pool(), planes, std::max<int64_t>(1, kGrain / count), [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; p++) {
        const uint8_t* xp = x + p * count;
        int64_t sum = 0;
        for (int64_t i = 0; i < count; i++) sum += int8_t(xp[i] ^ fx);
        const float v = float(wrap64(sum - count * int64_t(zx))) * m;
        y[p] = uint8_t(requantize(v, zy, -128, 127)) ^ fy;
      }
    });
    return Status::OK();
  }
};

Status make_qlinear_global_avgpool(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  if (info.node().attr_int("channels_last", 0) != 0)
    return unsupported(info.node(), "QLinearGlobalAveragePool with channels_last = 1 is not supported");
  if (!info.has_input(0) || !info.has_input(1) || !info.has_input(3))
    return shape_error(info.node(), "QLinearGlobalAveragePool needs X, x_scale and y_scale");
  out->reset(new QGlobalAvgPoolKernel());
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------------------------
// QLookup

class QLookupKernel final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    const Attribute* a = node.attr("table");
    if (!a || a->type != Attribute::Type::kTensor || a->t.empty() || a->t.numel() != 256 || !is_q8(a->t.dtype()))
      return shape_error(node, "QLookup needs a `table` attribute of 256 int8 or uint8 values");
    std::unique_ptr<QLookupKernel> k(new QLookupKernel());
    k->out_type_ = a->t.dtype();
    const uint8_t fo = flip_of(k->out_type_);
    // signed[s + 128]: the output in the signed domain, for the int8 -> int8 vector loop; raw[byte]: the stored
    // output for the stored input byte, for an int8 input (raw_s8) and a uint8 input (raw_u8).
    for (int v = 0; v < 256; v++) {
      const uint8_t stored = static_cast<const uint8_t*>(a->t.raw())[v];
      k->signed_[size_t(v)] = int8_t(stored ^ fo);
      k->raw_s8_[size_t(uint8_t(int8_t(v - 128)))] = stored;
      k->raw_u8_[size_t(v)] = stored;
    }
    *out = std::move(k);
    return Status::OK();
  }
  std::string kernel_name() const override { return "qlookup"; }

  Status compute(OpContext& ctx) const override {
    const Tensor* X = ctx.input(0);
    if (!X || !is_q8(X->dtype()))
      return dtype_error(ctx.node(), "QLookup needs an int8 or uint8 input");
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, out_type_, X->dims(), &Y));
    const int64_t n = X->numel();
    const uint8_t* x = static_cast<const uint8_t*>(X->raw());
    uint8_t* y = static_cast<uint8_t*>(Y->raw());
    const bool s8s8 = X->dtype() == DType::kInt8 && out_type_ == DType::kInt8;
    const uint8_t* raw = X->dtype() == DType::kUint8 ? raw_u8_ : raw_s8_;
    parallel_for(ctx.pool(), n, kGrain * 4, [&](int64_t b, int64_t e) {
      if (s8s8) {
        lookup_s8(reinterpret_cast<const int8_t*>(x + b), reinterpret_cast<int8_t*>(y + b), e - b, signed_);
        return;
      }
      for (int64_t i = b; i < e; i++) y[i] = raw[x[i]];
    });
    return Status::OK();
  }

 private:
  DType out_type_ = DType::kInt8;
  int8_t signed_[256] = {};
  uint8_t raw_s8_[256] = {};
  uint8_t raw_u8_[256] = {};
};

Status make_qlookup(const KernelInfo& info, std::unique_ptr<OpKernel>* out) { return QLookupKernel::create(info, out); }

// ---------------------------------------------------------------------------------------------------------------
// Data movement on 8-bit tensors: the float operator's kernel, which moves bytes (or compares values: MaxPool).

class Q8ForwardKernel final : public OpKernel {
 public:
  Q8ForwardKernel(std::unique_ptr<OpKernel> inner, std::string name) : inner_(std::move(inner)), name_(std::move(name)) {}
  std::string kernel_name() const override { return name_; }
  Status compute(OpContext& ctx) const override {
    const Tensor* X = ctx.input(0);
    if (!X || !is_q8(X->dtype()))
      return dtype_error(ctx.node(), "this quantized " + ctx.node().op_type + " needs an int8 or uint8 input");
    return inner_->compute(ctx);
  }

 private:
  std::unique_ptr<OpKernel> inner_;
  std::string name_;
};

Status make_q8_forward(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  const NodeDef& node = info.node();
  for (size_t o = 1; o < node.outputs.size(); o++)
    if (!node.outputs[o].empty())
      return unsupported(node, "a quantized " + node.op_type + " produces only its first output");
  std::string why;
  const KernelDef* def = kernel_registry().find(node.op_type, "", info.opset(), Device::kCpu, Precision::kFp32, &why);
  if (!def) return unsupported(node, why);
  std::unique_ptr<OpKernel> inner;
  INT8RT_RETURN_IF_ERROR(def->factory(info, &inner));
  std::string name = def->name;
  const size_t at = name.find("fp32");
  name = at == std::string::npos ? name + "_q8" : name.replace(at, 4, "q8");
  out->reset(new Q8ForwardKernel(std::move(inner), name));
  return Status::OK();
}

}  // namespace

const char* const kQ8DataMovers[] = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "MaxPool", "Identity",
                                     "Slice", "DepthToSpace", "SpaceToDepth", nullptr};

void register_qlinear_eltwise_ops(KernelRegistry& r) {
  const Device cpu = Device::kCpu;
  const Precision s8 = Precision::kInt8;
  r.add({"QLinearAdd", "com.microsoft", 1, 0, cpu, s8, "qlinearadd", &make_qlinear_add});
  r.add({"QLinearMul", "com.microsoft", 1, 0, cpu, s8, "qlinearmul", &make_qlinear_mul});
  r.add({"QLinearConcat", "com.microsoft", 1, 0, cpu, s8, "qlinearconcat", &make_qlinear_concat});
  r.add({"QLinearGlobalAveragePool", "com.microsoft", 1, 0, cpu, s8, "qlinearglobalaveragepool",
         &make_qlinear_global_avgpool});
  r.add({"QLookup", "int8rt", 1, 0, cpu, s8, "qlookup", &make_qlookup});
  for (const char* const* op = kQ8DataMovers; *op; op++)
    r.add({*op, "int8rt", 1, 0, cpu, s8, "q8_forward", &make_q8_forward});
}

}  // namespace qlinear
}  // namespace int8rt
