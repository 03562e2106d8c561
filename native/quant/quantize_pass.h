// The int8 planner. Given the float graph (after constant and BatchNorm folding and Conv+Add+Relu/Clip fusion) and
// calibrated ranges, it decides for every node whether it runs in int8, records why not when it does not, and rewrites
// the graph: int8 nodes get their scales as attributes (quant/qnode.h) and write `<name>::q` int8 values;
// QuantizeLinear / DequantizeLinear nodes are inserted only where a float value meets an int8 node or the reverse
// (precision boundaries), and graph outputs stay float.
//
// Before planning it removes requantization steps that int8 would otherwise add: Conv -> constant Mul/Add/Sub/Div
// folds into the Conv (core/passes.h fold_conv_affine), and each chain of elementwise nodes computing y = f(x) from one
// tensor x (find_unary_chains: hard-swish as x * Clip(x + 3, 0, 6) / 6, swish, an affine step after an activation)
// becomes one node, int8rt.LookupTable, named after the chain's last node. When x is int8 the table is f evaluated
// by the fp32 kernels on the 256 values of x's grid and quantized to y's scale: y's calibrated range, narrowed to the
// largest |f| the table reaches. Otherwise the chain's own nodes are planned one by one. The report shows the other
// nodes of a chain as fused into that one.
#pragma once
#include <map>
#include <string>

#include "core/op_kernel.h"
#include "core/passes.h"

namespace int8rt {

struct QuantizeOptions {
  std::map<std::string, float> amax;                 // calibrated |x| range per tensor name
  std::map<std::string, Precision> node_precision;   // per ONNX node name: kFp32 or kInt8 (kInt8 must be possible)
};

struct NodeDecision {
  Precision precision = Precision::kFp32;
  std::string reason;  // why it is not int8 ("" when it is)
};

// Rewrites g in place. `decisions` is keyed by executed node name (fused nodes by their host's name).
Status quantize_graph(PassState& g, const QuantizeOptions& opts, std::map<std::string, NodeDecision>* decisions);

// The dynamic int8 plan (precision 'int8-dynamic'; no calibration): every Conv, Gemm and MatMul whose int8 kernel
// accepts it (constant float32 weights, a fused Relu/Clip at most) gets `__dynamic` = 1 and Precision::kInt8; it
// keeps float32 inputs and outputs and quantizes its input per run (ops/int8_dynamic.h). Every other node stays fp32,
// so no QuantizeLinear/DequantizeLinear is inserted. opts.node_precision is obeyed as in quantize_graph; opts.amax is
// not used.
Status plan_dynamic_int8(PassState& g, const QuantizeOptions& opts, std::map<std::string, NodeDecision>* decisions);

}  // namespace int8rt
