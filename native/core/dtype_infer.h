// Element types of a graph's values at build time, as far as they follow from the graph inputs' declared types, the
// constants and the operators' typing rules: what core/engine.cc hands a CUDA kernel factory
// (cuda::BuildContext::input_dtypes), so that a float32 kernel takes a node only when its inputs are float32
// activations and leaves shape arithmetic (Shape -> Gather -> Cast -> ... on int64) on the CPU. Conservative: an
// operator whose output type is not listed here gives kUndefined, and so does everything that depends on it.
#pragma once
#include <cstddef>
#include <vector>

#include "core/dtype.h"
#include "core/graph.h"

namespace int8rt {

// The type of output `i` of `node`, given its inputs' types (kUndefined where unknown or absent).
DType infer_output_dtype(const NodeDef& node, const std::vector<DType>& inputs, size_t i);

}  // namespace int8rt
