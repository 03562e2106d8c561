// The clamp of a Relu or Clip that a graph pass fused into the node before it (`__activation` "Relu" / "Clip" with
// `__clip_min` / `__clip_max`: core/passes.cc), for the kernels whose epilogue can only clamp (GEMMs, int8 and dynamic
// int8 operators, the CUDA float GEMM): [lo, hi], or [-inf, inf] when nothing is fused. Any other fused activation,
// or a NaN bound, is kUnsupported naming `what` ("int8 Conv", "dynamic int8 MatMul", ...), so that the engine keeps
// the node on a kernel that applies it.
#pragma once
#include <cmath>
#include <string>

#include "core/op_kernel.h"

namespace int8rt {

inline Status fused_clamp_bounds(const NodeDef& node, const std::string& what, float* lo, float* hi) {
  const std::string act = node.attr_string("__activation", "");
  *lo = -INFINITY;
  *hi = INFINITY;
  if (act == "Relu") {
    *lo = 0.f;
  } else if (act == "Clip") {
    *lo = node.attr_float("__clip_min", -INFINITY);
    *hi = node.attr_float("__clip_max", INFINITY);
    if (std::isnan(*lo) || std::isnan(*hi)) return unsupported(node, "the fused Clip has a NaN bound");
  } else if (!act.empty()) {
    return unsupported(node, what + " fuses only Relu and Clip, not " + act);
  }
  return Status::OK();
}

}  // namespace int8rt
