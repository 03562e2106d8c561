// Shared pieces of the int8 operator family (ops/int8*.cc): registration of its parts, input checks, and the scalar
// requantization steps every int8 kernel ends with. The numeric conventions (scales as node attributes, symmetric
// int8 with zero point 0, round half to even, saturation) are those of quant/qnode.h; the GEMM-shaped kernels follow
// the epilogue of kernels/qgemm.h bit for bit.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "core/op_kernel.h"
#include "quant/qnode.h"

namespace int8rt {
namespace int8ops {

// Registration of the family's parts, called from register_int8_ops (ops/int8.cc).
void register_int8_conv_ops(KernelRegistry& r);     // ops/int8_conv.cc: Conv
void register_int8_gemm_ops(KernelRegistry& r);     // ops/int8_gemm.cc: Gemm, MatMul
void register_int8_eltwise_ops(KernelRegistry& r);  // ops/int8_eltwise.cc: Add, Mul, Relu, Clip, table ops, Concat
void register_int8_pool_ops(KernelRegistry& r);     // ops/int8_pool.cc: pools and the dtype-agnostic data movers

// Input i as an int8 tensor: kModel when absent, kDtype when it is not int8.
inline Status int8_input(const OpContext& ctx, size_t i, const Tensor** out) {
  const Tensor* t = ctx.input(i);
  if (!t)
    return Status(ErrorCode::kModel, ctx.node().describe() + ": required input " + std::to_string(i) + " is missing");
  if (t->dtype() != DType::kInt8)
    return dtype_error(ctx.node(), "int8 kernel got input " + std::to_string(i) + " of type " +
                                       dtype_name(t->dtype()));
  *out = t;
  return Status::OK();
}

// v rounded half to even and saturated to int8; v must not be NaN. Clamping to the integer bounds first and rounding
// second gives the same result as the other order and keeps the float -> int conversion in range.
inline int8_t round_sat_s8(float v) {
  v = std::min(std::max(v, -128.f), 127.f);
  return int8_t(std::nearbyint(v));
}

// The qgemm epilogue for one accumulator (kernels/qgemm.h): v = (float)acc * multiplier, plus the residual through
// one fused multiply-add, clamped to [qmin, qmax] and rounded half to even.
inline int8_t requantize_acc(int32_t acc, float multiplier, int32_t qmin, int32_t qmax) {
  float v = float(acc) * multiplier;
  v = std::min(std::max(v, float(qmin)), float(qmax));
  return int8_t(std::nearbyint(v));
}
inline int8_t requantize_acc(int32_t acc, float multiplier, int8_t residual, float residual_multiplier, int32_t qmin,
                             int32_t qmax) {
  float v = float(acc) * multiplier;
  v = std::fma(float(residual), residual_multiplier, v);
  v = std::min(std::max(v, float(qmin)), float(qmax));
  return int8_t(std::nearbyint(v));
}

// int32 bias of output channel c: rne(b / (s_x * s_w)), saturated to what an int32 accumulator of `depth` int8 x int8
// products can still absorb without overflowing (|acc| <= depth * 128 * 127). Such a bias is beyond any real model;
// the bound only keeps the integer arithmetic defined.
inline int32_t quantize_bias(float b, float s_x, float s_w, int64_t depth) {
  const double scale = double(s_x * s_w);
  const double limit = double(INT32_MAX) - double(std::max<int64_t>(depth, 0)) * 128.0 * 127.0;
  double q = std::nearbyint(double(b) / scale);
  if (std::isnan(q)) q = 0;
  q = std::min(std::max(q, -limit), limit);
  return int32_t(q);
}

// Bounds of a fused Relu/Clip (`__activation`, `__clip_min`/`__clip_max`) on an int8 output of scale s_y. Anything
// else cannot be folded into an int8 epilogue: an unsupported error with the reason.
inline Status fused_activation_bounds(const NodeDef& node, float s_y, int32_t* qmin, int32_t* qmax) {
  const std::string act = node.attr_string("__activation", "");
  float lo = -INFINITY, hi = INFINITY;
  if (act == "Relu") {
    lo = 0.f;
  } else if (act == "Clip") {
    lo = node.attr_float("__clip_min", -INFINITY);
    hi = node.attr_float("__clip_max", INFINITY);
    if (std::isnan(lo) || std::isnan(hi)) return unsupported(node, "the fused Clip has a NaN bound");
  } else if (!act.empty()) {
    return unsupported(node, "int8 " + node.op_type + " fuses only Relu and Clip, not " + act);
  }
  activation_bounds_s8(lo, hi, s_y, qmin, qmax);
  return Status::OK();
}

// dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols (int8), in cache-sized blocks.
void transpose_s8(const int8_t* src, int64_t lds, int8_t* dst, int64_t ldd, int64_t rows, int64_t cols);

}  // namespace int8ops
}  // namespace int8rt
