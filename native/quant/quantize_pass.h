// The int8 planner. Given the float graph (after constant and BatchNorm folding and Conv+Add+Relu/Clip fusion) and
// calibrated ranges, it decides for every node whether it runs in int8, records why not when it does not, and rewrites
// the graph: int8 nodes get their scales as attributes (quant/qnode.h) and write `<name>::q` int8 values;
// QuantizeLinear / DequantizeLinear nodes are inserted only where a float value meets an int8 node or the reverse
// (precision boundaries), and graph outputs stay float.
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

}  // namespace int8rt
