// How an int8 node looks after the quantization pass (native/quant/quantize_pass.cc), and helpers the int8 kernels
// share. The scheme is int8rt's default (see README "Quantization"):
//   activations: int8, symmetric, per tensor, zero point 0, scale s = amax / 127; q = sat(rne(x / s))
//   weights:     int8, symmetric, per output channel, range [-127, 127], s_w[c] = max|W[c]| / 127 (1 if all zero)
//   bias:        int32, scale s_x * s_w[c]
//   requantization follows ONNX QLinearConv: y = sat(rne(acc * s_x * s_w[c] / s_y))
//
// An int8 node keeps its ONNX op_type and domain and is registered with Precision::kInt8 (except the planner's own
// int8rt.LookupTable, which stands for a fused chain of elementwise nodes and carries its table as __table, 256 ints). Its activation inputs and
// outputs are int8 tensors; their scales are node attributes:
//   __in_scales   floats, one per input: the scale of that input, 0 for inputs that are not int8 activations
//                 (weights, biases, shape inputs such as Reshape's shape, Resize's scales)
//   __out_scales  floats, one per output
// Weights and biases stay float32 constants in the node's inputs; the int8 kernel quantizes and packs them once in its
// factory. Conv keeps the fp32 fusion attributes (__activation "Relu"/"Clip" with __clip_min/__clip_max; other
// activations are never fused into an int8 Conv) and the optional residual input 3 (int8, scale __in_scales[3]).
// Ops whose output scale equals the input scale (Reshape, Transpose, MaxPool, Slice, Resize nearest, ...) get
// __out_scales equal to __in_scales[0]; their kernels are the float kernels, which are dtype-agnostic.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/graph.h"
#include "core/status.h"

namespace int8rt {

// Reads __in_scales/__out_scales; fails when they are missing or not positive where required.
Status node_in_scale(const NodeDef& node, size_t input, float* scale);
Status node_out_scale(const NodeDef& node, size_t output, float* scale);

// Round half to even, saturate to int8: the ONNX QuantizeLinear rule, with a true division as onnxruntime does.
inline int8_t quantize_s8(float x, float scale) {
  float v = x / scale;
  v = std::min(std::max(v, -128.f), 127.f);
  return int8_t(std::nearbyint(v));
}

// int8 clamp bounds of a fused Relu/Clip at output scale s: [ceil-ish(lo/s), hi/s] rounded the way the float values
// would round, then intersected with [-128, 127].
inline void activation_bounds_s8(float lo, float hi, float s, int32_t* qmin, int32_t* qmax) {
  float a = std::isinf(lo) ? -128.f : std::nearbyint(std::min(std::max(lo / s, -128.f), 127.f));
  float b = std::isinf(hi) ? 127.f : std::nearbyint(std::min(std::max(hi / s, -128.f), 127.f));
  *qmin = int32_t(a);
  *qmax = int32_t(b);
}

// Per-output-channel symmetric weight quantization: W is [C, per] float; q gets [C, per] int8 in [-127, 127],
// q = rne(w / s_w[c]).
void quantize_weights_per_channel(const float* W, int64_t C, int64_t per, std::vector<int8_t>* q,
                                  std::vector<float>* scales);

}  // namespace int8rt
