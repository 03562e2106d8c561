// Shared pieces of the CUDA operators (ops/cuda/cuda_ops.h).
#pragma once
#include <string>

#include "core/op_kernel.h"
#include "cuda/exec.h"

namespace int8rt {
namespace cudaops {

// Registration of the family's parts, called by register_cuda_ops (ops/cuda/registry.cc).
void register_cuda_conv_ops(KernelRegistry& r);
void register_cuda_linear_ops(KernelRegistry& r);
void register_cuda_eltwise_ops(KernelRegistry& r);
void register_cuda_pool_ops(KernelRegistry& r);
void register_cuda_view_ops(KernelRegistry& r);
void register_cuda_movement_ops(KernelRegistry& r);
// The float32 operators (eltwise_f32.cc, reduce_f32.cc, softmax_f32.cc, matmul_f32.cc).
void register_cuda_eltwise_f32_ops(KernelRegistry& r);
void register_cuda_reduce_f32_ops(KernelRegistry& r);
void register_cuda_softmax_f32_ops(KernelRegistry& r);
void register_cuda_matmul_f32_ops(KernelRegistry& r);

// The factory's device context; kInternal when a CUDA factory is called without one.
inline Status build_context(const KernelInfo& info, const cuda::BuildContext** out) {
  *out = info.cuda();
  if (!*out) return Status(ErrorCode::kInternal, info.node().describe() + ": CUDA kernel built without a device");
  return Status::OK();
}

// The run's device context; kInternal when a CUDA kernel runs outside a CUDA step.
inline Status exec_context(const OpContext& ctx, const cuda::ExecContext** out) {
  *out = ctx.cuda();
  if (!*out) return Status(ErrorCode::kInternal, ctx.node().describe() + ": CUDA kernel run without a device");
  return Status::OK();
}

// Input i as a device tensor of `dtype`: kModel when absent, kDtype for another type, kInternal when it is not in
// device memory (the placement copies every activation input a device step reads).
inline Status device_input(const OpContext& ctx, size_t i, DType dtype, const Tensor** out) {
  const Tensor* t = ctx.input(i);
  if (!t)
    return Status(ErrorCode::kModel, ctx.node().describe() + ": required input " + std::to_string(i) + " is missing");
  if (t->dtype() != dtype)
    return dtype_error(ctx.node(), std::string("CUDA kernel wants input ") + std::to_string(i) + " as " +
                                       dtype_name(dtype) + ", got " + dtype_name(t->dtype()));
  if (t->numel() > 0 && !t->on_device())
    return Status(ErrorCode::kInternal, ctx.node().describe() + ": input " + std::to_string(i) +
                                            " is not in device memory");
  *out = t;
  return Status::OK();
}

// Every input from `first` on must be a build-time constant (shape or attribute data the kernel reads on the host).
inline Status constant_inputs_from(const KernelInfo& info, size_t first, const char* what) {
  for (size_t i = first; i < info.num_inputs(); i++)
    if (info.has_input(i) && !info.constant_input(i))
      return unsupported(info.node(), std::string("the CUDA ") + what + " needs input " + std::to_string(i) +
                                          " to be a constant");
  return Status::OK();
}

}  // namespace cudaops
}  // namespace int8rt
