// Resize / Upsample planning shared with the CUDA operators (ops/cuda/movement.cc): the CPU kernel's own coordinate
// and nearest-index computation (ops/resize.cc), so that a device Resize picks exactly the CPU's source elements.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/op_kernel.h"

namespace int8rt {

class ResizeNearestPlanner {
 public:
  virtual ~ResizeNearestPlanner() = default;
  // For input x (only its dims are read) and ctx's roi / scales / sizes inputs: the output dims and, per axis, the
  // input index each output position reads. *identity when every axis maps position o to o (the CPU then returns
  // x itself). kUnsupported when an output position takes extrapolation_value (tf_crop_and_resize outside the crop).
  virtual Status nearest_indices(const OpContext& ctx, const Tensor& x, Dims* out,
                                 std::vector<std::vector<int64_t>>* index, bool* identity) const = 0;
};

// The planner of the CPU Resize / Upsample kernel built for `info` (the same attribute parsing and checks);
// kUnsupported for a mode other than nearest.
Status make_resize_nearest_planner(const KernelInfo& info, std::unique_ptr<ResizeNearestPlanner>* out);

}  // namespace int8rt
