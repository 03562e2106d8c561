// Graph passes that run once at engine build, on topologically sorted nodes:
//   fold_constants       nodes whose inputs are all known at build run once; their outputs become constants
//   fold_batchnorm       Conv -> BatchNormalization becomes one Conv with rescaled weights and bias
//   fuse_conv_epilogue   Conv -> Add(residual) -> Relu/Clip/... becomes one Conv with a fused epilogue
// and, for the int8 planner (quant/quantize_pass.cc):
//   fold_conv_affine     Conv -> Mul/Add/Sub/Div by a per-channel or scalar constant becomes one Conv
//   find_unary_chains    regions of elementwise nodes that compute y = f(x) of one tensor x, which int8 runs as one
//                        256-entry table (evaluate_unary_chain computes f on given values with the fp32 kernels)
// Each pass records what happened to the original nodes in `notes` (ONNX node name -> what became of it).
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/graph.h"

namespace int8rt {

struct PassState {
  std::vector<NodeDef> nodes;                // topologically sorted
  std::map<std::string, Tensor> constants;   // initializers and folded values
  std::set<std::string> graph_outputs;       // names that must stay observable
  int opset = 0;                             // default-domain opset
  struct Fate {
    std::string fused_into;  // node name it now runs inside
    std::string note;
  };
  std::map<std::string, Fate> fates;  // by original node name
};

Status fold_constants(PassState& g);
Status fold_batchnorm(PassState& g);
// Conv -> Add(constant of shape [C,1,1] / [1,C,1,1] / [C]-broadcastable per channel) becomes the Conv's bias.
Status fold_conv_bias_add(PassState& g);
// clamp_only: fuse only Relu/Clip activations (int8 plans keep other activations as their own int8 nodes).
Status fuse_conv_epilogue(PassState& g, bool clamp_only = false);

// Conv (no fused epilogue, no residual) -> Mul/Add/Sub/Div(y, c) with c a float constant of one value per output
// channel on the output's channel axis ([C,1,1], [1,C,1,1] for 2-D) or one value for all (rank <= the Conv's output
// rank, so the output's shape does not change; y - c and y / c only, c nonzero for Div): the Conv's weights and
// bias absorb it (Mul/Div scale channel c's weights and bias, Add/Sub shift the bias), repeatedly, so that PaddleOCR's
// learnable affine blocks (Conv -> Mul(scalar) -> Add(scalar)) become one Conv. Exact in real arithmetic; in float32
// it changes the rounding of the folded steps only. The int8 planner runs it: an int8 Conv then requantizes once
// instead of once per step.
Status fold_conv_affine(PassState& g);

// A region of elementwise nodes whose only non-constant input is one tensor x and which has one output y read
// outside the region: y = f(x) elementwise, for any f the nodes compose (hard-swish written as x * Clip(x + 3, 0, 6)
// / 6, swish as x * Sigmoid(x), an affine step after an activation, ...). Its nodes are unary operators (Relu,
// Sigmoid, HardSigmoid, Clip with constant bounds, ...) and Add/Sub/Mul/Div/Pow/Max/Min whose operands are x, values
// of the region, or float constants holding one value (rank <= 1, so the output has x's shape); every value the
// region computes except y is read only inside it.
struct UnaryChain {
  std::string input;          // x
  std::string output;         // y
  std::vector<size_t> nodes;  // indices into PassState::nodes, in graph order; at least two
};
// The chains of g, maximal and disjoint, in graph order: each grows from the earliest x that starts one, over every
// node it can take, and ends at the latest node whose region is closed (intermediates read only inside).
std::vector<UnaryChain> find_unary_chains(const PassState& g);
// f(xs) by the chain's nodes (in graph order, reading `input` and g's constants) with the fp32 kernels: ys gets one
// float per x. Fails when a node cannot run on a 1-D float32 tensor or the result is not float32 of the same size.
Status evaluate_unary_chain(const PassState& g, const std::vector<NodeDef>& nodes, const std::string& input,
                            const std::string& output, const std::vector<float>& xs, std::vector<float>* ys);

}  // namespace int8rt
