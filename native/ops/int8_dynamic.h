// Dynamic int8 (precision 'int8-dynamic'): Conv, Gemm and MatMul with float32 activations in and out, weights
// quantized per output channel at build (and packed there, but for Conv groups of a few channels), and the activation
// quantized per run from its own absmax.
// The planner (plan_dynamic_int8, quant/quantize_pass.cc) marks such nodes with the attribute `__dynamic` = 1 and
// gives them Precision::kInt8; the static int8 factories (ops/int8_conv.cc, ops/int8_gemm.cc) hand those nodes to
// the factories declared here.
//
// Numerics, per run: s_x = absmax(X) / 127, q_x = rne(x / s_x) (quant/qnode.h quantize_s8), the int32 bias
// rne(b / (s_x * s_w[c])) (int8_common.h quantize_bias), and qgemm_s8_f32 (kernels/qgemm.h) with
// multiplier[c] = s_x * s_w[c] and a fused Relu/Clip as its float clamp. A fused residual (Conv input 3, float) is
// added in float after the GEMM, then the activation applies. absmax = 0 gives the bias alone (through the same
// activation); a non-finite absmax (Inf or NaN in X) gives NaN outputs, as the float product would.
// Refused (the node stays fp32, the planner records the reason): non-constant or non-float32 weights/bias, fused
// activations other than Relu/Clip, and what the static int8 kernels refuse (Gemm transA, MatMul batched B).
#pragma once
#include <memory>

#include "core/op_kernel.h"

namespace int8rt {
namespace int8ops {

Status make_conv_dynamic(const KernelInfo& info, std::unique_ptr<OpKernel>* out);
Status make_gemm_dynamic(const KernelInfo& info, std::unique_ptr<OpKernel>* out);
Status make_matmul_dynamic(const KernelInfo& info, std::unique_ptr<OpKernel>* out);

}  // namespace int8ops
}  // namespace int8rt
