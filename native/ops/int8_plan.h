// What an int8 Conv, Gemm or MatMul computes, fixed at engine build from the node (quant/qnode.h's scheme): weights
// quantized per output channel, int32 bias, requantization multipliers and clamp bounds (and Conv's attributes). The
// CPU kernels (ops/int8_conv.cc, ops/int8_gemm.cc) pack them for their GEMM; the CUDA kernels (ops/cuda/) upload
// them; both therefore compute from the same integers.
#pragma once
#include <cstdint>
#include <vector>

#include "core/op_kernel.h"
#include "ops/conv_params.h"

namespace int8rt {
namespace int8ops {

struct ConvS8Plan {
  conv_params::ConvAttrs attrs;
  Dims w_dims;
  int64_t M = 0;                  // output channels
  int64_t per = 0;                // weights per output channel: C/group * taps
  bool depthwise = false;         // group == C_in == C_out, 1-D/2-D
  bool has_residual = false;      // input 3: a fused residual Add (int8)
  std::vector<int8_t> wq;         // [M, per], in [-127, 127]
  std::vector<int32_t> bias;      // [M]
  std::vector<float> multiplier;  // [M]: s_x * s_w[c] / s_y
  float residual_multiplier = 0.f;
  int32_t qmin = -128, qmax = 127;
};

// kUnsupported for what no int8 Conv takes (weights or bias not constant float32, a fused activation other than
// Relu/Clip), kShape for inconsistent weights.
Status plan_conv_s8(const KernelInfo& info, ConvS8Plan* out);

// Gemm / MatMul as Y[M, N] = X[M, K] * W: the weights given as wt [N, K] float (one row per output column, alpha
// applied: ops/int8_common.h gemm_constant_operands, ops/int8_linear_kernels.h matmul_constant_weights) and the bias
// as N floats or none.
struct LinearS8Plan {
  int64_t N = 0, K = 0;
  std::vector<int8_t> wq;         // [N, K], in [-127, 127]
  std::vector<int32_t> bias;      // [N]
  std::vector<float> multiplier;  // [N]: s_x * s_w[n] / s_y
  int32_t qmin = -128, qmax = 127;
};
Status plan_linear_s8(const NodeDef& node, const std::vector<float>& wt, const std::vector<float>& bias, int64_t N,
                      int64_t K, LinearS8Plan* out);

}  // namespace int8ops
}  // namespace int8rt
