// Shared pieces of the int8 operator family (ops/int8*.cc): registration of its parts, input checks, and the scalar
// requantization steps every int8 kernel ends with. The numeric conventions (scales as node attributes, symmetric
// int8 with zero point 0, round half to even, saturation) are those of quant/qnode.h; the GEMM-shaped kernels follow
// the epilogue of kernels/qgemm.h bit for bit.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/op_kernel.h"
#include "ops/fused_clamp.h"
#include "quant/qnode.h"

namespace int8rt {
namespace int8ops {

// Registration of the family's parts, called from register_int8_ops (ops/int8.cc).
void register_int8_conv_ops(KernelRegistry& r);     // ops/int8_conv.cc: Conv
void register_int8_gemm_ops(KernelRegistry& r);     // ops/int8_gemm.cc: Gemm, MatMul
void register_int8_eltwise_ops(KernelRegistry& r);  // ops/int8_eltwise.cc: Add, Mul, Relu, Clip, table ops, Concat
void register_int8_pool_ops(KernelRegistry& r);     // ops/int8_pool.cc: pools and the dtype-agnostic data movers

// Build-time parameters of the elementwise int8 kernels (ops/int8_eltwise.cc), shared with their CUDA twins
// (ops/cuda/) so that both compute from the same numbers:
//   binary_s8_multipliers  Add: ma = s_a/s_y, mb = s_b/s_y; Mul: ma = s_a*s_b/s_y (mb = 0)
//   clamp_s8_bounds        Relu / Clip on the int8 grid (the output scale must equal the input scale)
//   table_s8               the 256-entry table of a unary op or of an int8rt.LookupTable
Status binary_s8_multipliers(const NodeDef& node, bool add, float* ma, float* mb);
//   concat_s8_multipliers  Concat of n inputs: multiplier[i] = s_i / s_y, copy[i] when the scales are equal
Status concat_s8_multipliers(const NodeDef& node, size_t n, std::vector<float>* multiplier, std::vector<bool>* copy);
Status clamp_s8_bounds(const KernelInfo& info, int8_t* lo, int8_t* hi);
Status table_s8(const KernelInfo& info, int8_t table[256]);

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
  float lo, hi;
  INT8RT_RETURN_IF_ERROR(fused_clamp_bounds(node, "int8 " + node.op_type, &lo, &hi));
  activation_bounds_s8(lo, hi, s_y, qmin, qmax);
  return Status::OK();
}

// dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols (int8), in cache-sized blocks.
void transpose_s8(const int8_t* src, int64_t lds, int8_t* dst, int64_t ldd, int64_t rows, int64_t cols);

}  // namespace int8ops
// Gemm's constant weights and bias for the int8 kernels (static and dynamic): wt = alpha * op(B) as [N, K] (one row
// per output column) and bias = beta * C with one value per output column (empty without C). `what` names the kernel
// in refusals ("int8 Gemm", "dynamic int8 Gemm").
inline Status gemm_constant_operands(const KernelInfo& info, const std::string& what, std::vector<float>* wt,
                                     std::vector<float>* bias, int64_t* N_out, int64_t* K_out) {
  const NodeDef& node = info.node();
  if (node.attr_int("transA", 0) != 0) return unsupported(node, what + " supports only transA = 0");
  const bool trans_b = node.attr_int("transB", 0) != 0;
  const float alpha = node.attr_float("alpha", 1.f), beta = node.attr_float("beta", 1.f);
  if (!std::isfinite(alpha) || !std::isfinite(beta)) return unsupported(node, what + " needs finite alpha and beta");
  const Tensor* B = info.constant_input(1);
  if (!B || B->dtype() != DType::kFloat32) return unsupported(node, what + " needs a constant float32 B");
  if (B->rank() != 2) return shape_error(node, "B must be 2-D, got " + dims_str(B->dims()));
  const int64_t K = trans_b ? B->dim(1) : B->dim(0), N = trans_b ? B->dim(0) : B->dim(1);
  wt->assign(size_t(N * K), 0.f);
  const float* b = B->data<float>();
  for (int64_t n = 0; n < N; n++)
    for (int64_t kk = 0; kk < K; kk++) (*wt)[size_t(n * K + kk)] = alpha * (trans_b ? b[n * K + kk] : b[kk * N + n]);
  bias->clear();
  if (info.has_input(2)) {
    const Tensor* C = info.constant_input(2);
    if (!C || C->dtype() != DType::kFloat32) return unsupported(node, what + " needs a constant float32 C");
    const Dims& cd = C->dims();
    const bool per_col = (cd.size() == 1 && cd[0] == N) || (cd.size() == 2 && cd[0] == 1 && cd[1] == N);
    const bool scalar = C->numel() == 1 && cd.size() <= 2;
    if (!per_col && !scalar)
      return unsupported(node, what + " supports only a bias C with one value per output column, got C " +
                                   dims_str(cd));
    bias->resize(size_t(N));
    for (int64_t n = 0; n < N; n++) (*bias)[size_t(n)] = beta * C->data<float>()[per_col ? n : 0];
  }
  *N_out = N;
  *K_out = K;
  return Status::OK();
}

}  // namespace int8rt
