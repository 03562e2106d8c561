// Elementwise int8 operators (Precision::kInt8): Add, Mul, Relu, Clip, the unary operators a 256-entry table can
// express, and Concat. Inputs and outputs are int8 with the scales of quant/qnode.h (zero point 0).
//
//   Add     y = sat(rne(fmaf((float)b, s_b/s_y, (float)a * (s_a/s_y))))      numpy broadcasting
//   Mul     y = sat(rne((float)(a * b) * (s_a*s_b/s_y)))                     numpy broadcasting
//   Relu    y = max(x, 0)                  output scale must equal the input scale
//   Clip    y = min(max(x, qlo), qhi)      output scale must equal the input scale; qlo/qhi = the bounds rounded
//                                          to the int8 grid (activation_bounds_s8)
//   table   y = table[x + 128], table[q + 128] = quantize_s8(f(q * s_x), s_y) with f the float32 operator itself,
//           so the int8 result is the float result quantized, exactly. Built in the factory; an operator whose
//           float result is NaN somewhere in the int8 input range (Log, Sqrt of negative inputs, ...) is refused.
//   int8rt.LookupTable  y = table[x + 128] with the table given by the planner (attribute __table, 256 ints in
//           [-128, 127]): a chain of elementwise nodes y = f(x) fused by quant/quantize_pass.cc, whose table is f
//           evaluated in float32 on x's int8 grid and quantized to y's scale, as for the single operators above.
//   Concat  each input requantized to the output scale, y = sat(rne((float)x * (s_i/s_y))), or copied when the
//           scales are equal.
// The float steps are single IEEE binary32 roundings in this order on every ISA (kernels/eltwise-s8.h).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/eltwise-s8.h"
#include "ops/elementwise_internal.h"
#include "ops/int8_common.h"

namespace int8rt {
namespace int8ops {
namespace {

constexpr int64_t kGrain = 32768;  // elements per parallel task (memory-bound loops)

// ---------------------------------------------------------------------------------------------------------------
// Add, Mul

enum class BinaryS8 { kAdd, kMul };

class BinaryS8Kernel final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, BinaryS8 op, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    if (info.num_inputs() != 2 || !info.has_input(0) || !info.has_input(1))
      return shape_error(node, "takes exactly two inputs");
    if (!node.attr_string("__activation", "").empty())
      return unsupported(node, "int8 " + node.op_type + " has no fused activation");
    std::unique_ptr<BinaryS8Kernel> k(new BinaryS8Kernel());
    k->op_ = op;
    INT8RT_RETURN_IF_ERROR(binary_s8_multipliers(node, op == BinaryS8::kAdd, &k->ma_, &k->mb_));
    *out = std::move(k);
    return Status::OK();
  }

  std::string kernel_name() const override {
    return std::string(op_ == BinaryS8::kAdd ? "add_s8_" : "mul_s8_") + eltwise_s8().isa;
  }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor *A, *B;
    INT8RT_RETURN_IF_ERROR(int8_input(ctx, 0, &A));
    INT8RT_RETURN_IF_ERROR(int8_input(ctx, 1, &B));
    Dims od;
    INT8RT_RETURN_IF_ERROR(eltwise::broadcast_dims(node, {&A->dims(), &B->dims()}, &od));
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kInt8, od, &Y));
    if (Y->numel() == 0) return Status::OK();
    eltwise::BroadcastPlan plan;
    if (!plan.init(od, {&A->dims(), &B->dims()})) return shape_error(node, "inputs do not broadcast");
    const int8_t* a = A->data<int8_t>();
    const int8_t* b = B->data<int8_t>();
    int8_t* y = Y->data<int8_t>();
    const EltwiseS8Kernels& k = eltwise_s8();
    const bool av = plan.inner_vec[0], bv = plan.inner_vec[1];
    parallel_for(ctx.pool(), plan.numel, kGrain, [&](int64_t begin, int64_t end) {
      plan.for_each_run(begin, end, [&](int64_t o, const int64_t* off, int64_t len) {
        if (op_ == BinaryS8::kAdd)
          k.add(a + off[0], av, b + off[1], bv, y + o, len, ma_, mb_);
        else
          k.mul(a + off[0], av, b + off[1], bv, y + o, len, ma_);
      });
    });
    return Status::OK();
  }

 private:
  BinaryS8 op_ = BinaryS8::kAdd;
  float ma_ = 0.f, mb_ = 0.f;
};

Status make_add_s8(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return BinaryS8Kernel::create(info, BinaryS8::kAdd, out);
}
Status make_mul_s8(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return BinaryS8Kernel::create(info, BinaryS8::kMul, out);
}

// ---------------------------------------------------------------------------------------------------------------
// Relu, Clip: clamps on the int8 grid.

class ClampS8Kernel final : public OpKernel {
 public:
  ClampS8Kernel(int8_t lo, int8_t hi) : lo_(lo), hi_(hi) {}
  std::string kernel_name() const override { return "clamp_s8"; }

  Status compute(OpContext& ctx) const override {
    const Tensor* X;
    INT8RT_RETURN_IF_ERROR(int8_input(ctx, 0, &X));
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kInt8, X->dims(), &Y));
    const int8_t* x = X->data<int8_t>();
    int8_t* y = Y->data<int8_t>();
    parallel_for(ctx.pool(), X->numel(), kGrain * 4,
                 [&](int64_t b, int64_t e) { clamp_s8(x + b, y + b, e - b, lo_, hi_); });
    return Status::OK();
  }

 private:
  int8_t lo_, hi_;
};

// Relu and Clip keep values on the input's grid, so they need the output scale to be the input scale.
Status same_scale(const NodeDef& node, float* s) {
  float s_x, s_y;
  INT8RT_RETURN_IF_ERROR(node_in_scale(node, 0, &s_x));
  INT8RT_RETURN_IF_ERROR(node_out_scale(node, 0, &s_y));
  if (s_x != s_y)
    return unsupported(node, "int8 " + node.op_type + " needs the output scale to equal the input scale");
  *s = s_x;
  return Status::OK();
}

Status make_clamp_s8(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  int8_t lo, hi;
  INT8RT_RETURN_IF_ERROR(clamp_s8_bounds(info, &lo, &hi));
  out->reset(new ClampS8Kernel(lo, hi));
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------------------------
// Unary operators as tables.

class TableS8Kernel final : public OpKernel {
 public:
  explicit TableS8Kernel(const int8_t* table) { std::memcpy(table_, table, sizeof(table_)); }
  std::string kernel_name() const override { return "table_s8"; }

  Status compute(OpContext& ctx) const override {
    const Tensor* X;
    INT8RT_RETURN_IF_ERROR(int8_input(ctx, 0, &X));
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kInt8, X->dims(), &Y));
    const int8_t* x = X->data<int8_t>();
    int8_t* y = Y->data<int8_t>();
    parallel_for(ctx.pool(), X->numel(), kGrain,
                 [&](int64_t b, int64_t e) { lookup_s8(x + b, y + b, e - b, table_); });
    return Status::OK();
  }

 private:
  int8_t table_[256];
};

// The float32 operator behind each table op, with its attributes read as the float kernel reads them
// (ops/elementwise_unary.cc).
Status table_params(const NodeDef& node, eltwise::UnaryOp* op, eltwise::UnaryParams* p) {
  using eltwise::UnaryOp;
  struct Simple {
    const char* name;
    UnaryOp op;
  };
  static const Simple kSimple[] = {
      {"Sigmoid", UnaryOp::kSigmoid}, {"HardSwish", UnaryOp::kHardSwish}, {"Tanh", UnaryOp::kTanh},
      {"Exp", UnaryOp::kExp},         {"Log", UnaryOp::kLog},             {"Sqrt", UnaryOp::kSqrt},
      {"Abs", UnaryOp::kAbs},         {"Neg", UnaryOp::kNeg},             {"Reciprocal", UnaryOp::kReciprocal},
      {"Floor", UnaryOp::kFloor},     {"Ceil", UnaryOp::kCeil},           {"Round", UnaryOp::kRound},
      {"Erf", UnaryOp::kErf},         {"Sign", UnaryOp::kSign},           {"Softplus", UnaryOp::kSoftplus},
      {"Softsign", UnaryOp::kSoftsign}, {"Mish", UnaryOp::kMish},         {"Sin", UnaryOp::kSin},
      {"Cos", UnaryOp::kCos},         {"Tan", UnaryOp::kTan},             {"Asin", UnaryOp::kAsin},
      {"Acos", UnaryOp::kAcos},       {"Atan", UnaryOp::kAtan},           {"Sinh", UnaryOp::kSinh},
      {"Cosh", UnaryOp::kCosh},       {"Asinh", UnaryOp::kAsinh},         {"Acosh", UnaryOp::kAcosh},
      {"Atanh", UnaryOp::kAtanh},
  };
  const std::string& t = node.op_type;
  for (const Simple& s : kSimple)
    if (t == s.name) {
      *op = s.op;
      return Status::OK();
    }
  if (t == "LeakyRelu") {
    *op = UnaryOp::kLeakyRelu;
    p->alpha = node.attr_float("alpha", 0.01f);
  } else if (t == "Elu" || t == "Celu" || t == "ThresholdedRelu" || t == "Swish") {
    *op = t == "Elu" ? UnaryOp::kElu : t == "Celu" ? UnaryOp::kCelu : t == "Swish" ? UnaryOp::kSwish
                                                                                      : UnaryOp::kThresholdedRelu;
    p->alpha = node.attr_float("alpha", 1.0f);
    if (t == "Celu" && p->alpha == 0) return eltwise::attr_error(node, "alpha must not be 0");
  } else if (t == "Selu") {
    *op = UnaryOp::kSelu;
    p->alpha = node.attr_float("alpha", 1.67326319217681884765625f);
    p->gamma = node.attr_float("gamma", 1.05070102214813232421875f);
  } else if (t == "HardSigmoid") {
    *op = UnaryOp::kHardSigmoid;
    p->alpha = node.attr_float("alpha", 0.2f);
    p->beta = node.attr_float("beta", 0.5f);
  } else if (t == "Shrink") {
    *op = UnaryOp::kShrink;
    p->alpha = node.attr_float("lambd", 0.5f);
    p->beta = node.attr_float("bias", 0.0f);
  } else if (t == "Gelu") {
    const std::string approx = node.attr_string("approximate", "none");
    if (approx == "none")
      *op = UnaryOp::kGelu;
    else if (approx == "tanh")
      *op = UnaryOp::kGeluTanh;
    else
      return eltwise::attr_error(node, "approximate must be 'none' or 'tanh', not '" + approx + "'");
  } else {
    return unsupported(node, "no int8 table for " + t);
  }
  return Status::OK();
}

Status make_table_s8(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  int8_t table[256];
  INT8RT_RETURN_IF_ERROR(table_s8(info, table));
  out->reset(new TableS8Kernel(table));
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------------------------
// Concat

class ConcatS8Kernel final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    if (!node.has_attr("axis")) return shape_error(node, "attribute 'axis' is required");
    std::unique_ptr<ConcatS8Kernel> k(new ConcatS8Kernel());
    k->axis_ = node.attr_int("axis", 0);
    INT8RT_RETURN_IF_ERROR(concat_s8_multipliers(node, info.num_inputs(), &k->multiplier_, &k->copy_));
    *out = std::move(k);
    return Status::OK();
  }

  std::string kernel_name() const override { return std::string("concat_s8_") + eltwise_s8().isa; }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const size_t n = ctx.num_inputs();
    if (n != copy_.size()) return shape_error(node, "input count changed since the kernel was built");
    std::vector<const Tensor*> in(n);
    for (size_t i = 0; i < n; i++) INT8RT_RETURN_IF_ERROR(int8_input(ctx, i, &in[i]));
    const Dims& d0 = in[0]->dims();
    const int64_t rank = int64_t(d0.size());
    if (rank == 0) return shape_error(node, "cannot concatenate scalars");
    if (axis_ < -rank || axis_ >= rank)
      return shape_error(node, "axis " + std::to_string(axis_) + " is out of range for rank " + std::to_string(rank));
    const size_t axis = size_t(axis_ < 0 ? axis_ + rank : axis_);
    Dims od = d0;
    od[axis] = 0;
    for (size_t i = 0; i < n; i++) {
      const Dims& d = in[i]->dims();
      bool ok = d.size() == d0.size();
      for (size_t j = 0; ok && j < d.size(); j++) ok = j == axis || d[j] == d0[j];
      if (!ok)
        return shape_error(node, "input " + std::to_string(i) + " " + dims_str(d) + " does not match input 0 " +
                                     dims_str(d0) + " outside axis " + std::to_string(axis));
      od[axis] += d[axis];
    }
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kInt8, od, &Y));
    if (Y->numel() == 0) return Status::OK();
    int64_t outer = 1, inner = 1;
    for (size_t j = 0; j < axis; j++) outer *= od[j];
    for (size_t j = axis + 1; j < od.size(); j++) inner *= od[j];
    const int64_t out_row = od[axis] * inner;
    // Work items: (outer index, input) blocks, each a contiguous copy or rescale.
    std::vector<int64_t> offset(n), len(n);
    int64_t acc = 0;
    for (size_t i = 0; i < n; i++) {
      offset[i] = acc;
      len[i] = in[i]->dims()[axis] * inner;
      acc += len[i];
    }
    int8_t* y = Y->data<int8_t>();
    const EltwiseS8Kernels& k = eltwise_s8();
    const int64_t items = outer * int64_t(n);
    const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, out_row / int64_t(n)));
    parallel_for(ctx.pool(), items, grain, [&](int64_t b, int64_t e) {
      for (int64_t it = b; it < e; it++) {
        const int64_t o = it / int64_t(n);
        const size_t i = size_t(it % int64_t(n));
        if (len[i] == 0) continue;
        const int8_t* src = in[i]->data<int8_t>() + o * len[i];
        int8_t* dst = y + o * out_row + offset[i];
        if (copy_[i])
          std::memcpy(dst, src, size_t(len[i]));
        else
          k.rescale(src, dst, len[i], multiplier_[i]);
      }
    });
    return Status::OK();
  }

 private:
  int64_t axis_ = 0;
  std::vector<float> multiplier_;
  std::vector<bool> copy_;
};

Status make_concat_s8(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return ConcatS8Kernel::create(info, out);
}

}  // namespace

Status binary_s8_multipliers(const NodeDef& node, bool add, float* ma, float* mb) {
  float s_a, s_b, s_y;
  INT8RT_RETURN_IF_ERROR(node_in_scale(node, 0, &s_a));
  INT8RT_RETURN_IF_ERROR(node_in_scale(node, 1, &s_b));
  INT8RT_RETURN_IF_ERROR(node_out_scale(node, 0, &s_y));
  *ma = add ? s_a / s_y : s_a * s_b / s_y;
  *mb = add ? s_b / s_y : 0.f;
  if (!std::isfinite(*ma) || !std::isfinite(*mb))
    return unsupported(node, "the int8 scales give a requantization multiplier out of float range");
  return Status::OK();
}

Status concat_s8_multipliers(const NodeDef& node, size_t n, std::vector<float>* multiplier, std::vector<bool>* copy) {
  float s_y;
  INT8RT_RETURN_IF_ERROR(node_out_scale(node, 0, &s_y));
  if (n == 0) return shape_error(node, "needs at least one input");
  multiplier->resize(n);
  copy->resize(n);
  for (size_t i = 0; i < n; i++) {
    float s;
    INT8RT_RETURN_IF_ERROR(node_in_scale(node, i, &s));
    (*copy)[i] = s == s_y;
    (*multiplier)[i] = s / s_y;
    if (!std::isfinite((*multiplier)[i]))
      return unsupported(node, "the int8 scales give a requantization multiplier out of float range");
  }
  return Status::OK();
}

Status clamp_s8_bounds(const KernelInfo& info, int8_t* lo_q, int8_t* hi_q) {
  const NodeDef& node = info.node();
  float s;
  INT8RT_RETURN_IF_ERROR(same_scale(node, &s));
  if (node.op_type == "Relu") {
    *lo_q = 0;
    *hi_q = 127;
    return Status::OK();
  }
  float lo = -INFINITY, hi = INFINITY;
  if (info.opset() < 11) {
    lo = node.attr_float("min", -INFINITY);
    hi = node.attr_float("max", INFINITY);
  } else {
    for (size_t i = 1; i <= 2; i++) {
      if (!info.has_input(i)) continue;
      const Tensor* b = info.constant_input(i);
      if (!b || b->dtype() != DType::kFloat32 || b->numel() != 1)
        return unsupported(node, "int8 Clip needs constant float32 scalar bounds");
      (i == 1 ? lo : hi) = b->data<float>()[0];
    }
  }
  if (std::isnan(lo) || std::isnan(hi)) return unsupported(node, "int8 Clip has a NaN bound");
  int32_t qlo, qhi;
  activation_bounds_s8(lo, hi, s, &qlo, &qhi);
  *lo_q = int8_t(qlo);
  *hi_q = int8_t(qhi);
  return Status::OK();
}

Status table_s8(const KernelInfo& info, int8_t table[256]) {
  const NodeDef& node = info.node();
  float s_x, s_y;
  INT8RT_RETURN_IF_ERROR(node_in_scale(node, 0, &s_x));
  INT8RT_RETURN_IF_ERROR(node_out_scale(node, 0, &s_y));
  if (node.domain == "int8rt" && node.op_type == "LookupTable") {  // a table the planner computed
    if (info.num_inputs() != 1 || !info.has_input(0)) return shape_error(node, "takes exactly one input");
    const std::vector<int64_t> t = node.attr_ints("__table");
    if (t.size() != 256) return unsupported(node, "needs a __table of 256 entries, got " + std::to_string(t.size()));
    for (size_t i = 0; i < 256; i++) {
      if (t[i] < -128 || t[i] > 127)
        return unsupported(node, "__table[" + std::to_string(i) + "] = " + std::to_string(t[i]) + " is not an int8");
      table[i] = int8_t(t[i]);
    }
    return Status::OK();
  }
  eltwise::UnaryOp op = eltwise::UnaryOp::kRelu;  // set by table_params on success
  eltwise::UnaryParams p;
  INT8RT_RETURN_IF_ERROR(table_params(node, &op, &p));
  float xs[256], ys[256];
  for (int q = -128; q < 128; q++) xs[q + 128] = float(q) * s_x;
  // The portable loops: the same table on every machine.
  eltwise::f32_kernels_portable().unary(op, p, xs, ys, 256);
  for (int i = 0; i < 256; i++) {
    if (std::isnan(ys[i]))
      return unsupported(node, "int8 " + node.op_type + " is undefined for part of its int8 input range (" +
                                   std::to_string(xs[i]) + " gives NaN)");
    table[i] = quantize_s8(ys[i], s_y);
  }
  return Status::OK();
}

void register_int8_eltwise_ops(KernelRegistry& r) {
  auto add = [&r](const char* op, int since, const char* name, KernelFactory f) {
    r.add({op, "", since, 0, Device::kCpu, Precision::kInt8, name, f});
  };
  add("Add", 7, "add_s8", &make_add_s8);
  add("Mul", 7, "mul_s8", &make_mul_s8);
  add("Relu", 1, "relu_s8", &make_clamp_s8);
  add("Clip", 1, "clip_s8", &make_clamp_s8);
  add("Concat", 4, "concat_s8", &make_concat_s8);
  r.add({"LookupTable", "int8rt", 1, 0, Device::kCpu, Precision::kInt8, "table_s8", &make_table_s8});
  for (const char* op : {"Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "LeakyRelu", "Elu", "Selu", "Celu", "Exp",
                         "Log", "Sqrt", "Softplus", "Softsign", "Gelu", "Erf", "Mish", "Swish", "ThresholdedRelu",
                         "Shrink", "Abs", "Neg", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "Tan",
                         "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh"})
    add(op, 1, "table_s8", &make_table_s8);
}

}  // namespace int8ops
}  // namespace int8rt
