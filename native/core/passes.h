// Graph passes that run once at engine build, on topologically sorted nodes:
//   fold_constants       nodes whose inputs are all known at build run once; their outputs become constants
//   fold_batchnorm       Conv -> BatchNormalization becomes one Conv with rescaled weights and bias
//   fuse_conv_epilogue   Conv -> Add(residual) -> Relu/Clip/... becomes one Conv with a fused epilogue
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

}  // namespace int8rt
