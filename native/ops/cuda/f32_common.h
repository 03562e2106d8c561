// Shared pieces of the float32 CUDA operators (ops/cuda/{eltwise,reduce,softmax,matmul}_f32.cc).
#pragma once
#include <string>

#include "ops/cuda/cuda_common.h"

namespace int8rt {
namespace cudaops {

// Input i of a float32 CUDA node at build: a constant must be float32 (it is staged in the weight arena by the
// caller); an activation must be known float32 (cuda::BuildContext::input_dtypes), so that shape arithmetic on
// int64 or values of unknown type stay on the CPU. kUnsupported otherwise.
inline Status float32_operand(const KernelInfo& info, const cuda::BuildContext& bc, size_t i) {
  const NodeDef& node = info.node();
  if (const Tensor* c = info.constant_input(i)) {
    if (c->dtype() != DType::kFloat32)
      return unsupported(node, "the CUDA float32 " + node.op_type + " needs float32 operands, input " +
                                   std::to_string(i) + " is a " + dtype_name(c->dtype()) + " constant");
    return Status::OK();
  }
  const DType dt = i < bc.input_dtypes.size() ? bc.input_dtypes[i] : DType::kUndefined;
  if (dt != DType::kFloat32)
    return unsupported(node, "the CUDA float32 " + node.op_type + " takes float32 activations only; input " +
                                 std::to_string(i) + " is " +
                                 (dt == DType::kUndefined ? std::string("of a type not known at build")
                                                          : std::string(dtype_name(dt))));
  return Status::OK();
}

// A float32 operand at run: the staged constant (dims and device address) or the device input.
struct F32Operand {
  bool constant = false;
  Dims dims;
  size_t offset = 0;  // in the weight arena
};

inline Status stage_f32_operand(const KernelInfo& info, const cuda::BuildContext& bc, size_t i, F32Operand* out) {
  INT8RT_RETURN_IF_ERROR(float32_operand(info, bc, i));
  if (const Tensor* c = info.constant_input(i)) {
    out->constant = true;
    out->dims = c->dims();
    out->offset = c->nbytes() ? bc.weights->stage(c->raw(), c->nbytes()) : 0;
  }
  return Status::OK();
}

inline Status resolve_f32_operand(const OpContext& ctx, const cuda::WeightArena* weights, size_t i,
                                  const F32Operand& op, Dims* dims, cuda::CUdeviceptr* addr) {
  if (op.constant) {
    *dims = op.dims;
    *addr = weights->address(op.offset);
    return Status::OK();
  }
  const Tensor* t;
  INT8RT_RETURN_IF_ERROR(device_input(ctx, i, DType::kFloat32, &t));
  *dims = t->dims();
  *addr = t->device_address();
  return Status::OK();
}

}  // namespace cudaops
}  // namespace int8rt
