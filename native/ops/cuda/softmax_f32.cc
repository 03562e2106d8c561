// Softmax (float32) on a CUDA device (kernels/cuda/reduce-f32-rows.cu, softmax_rows_f32): one row per softmax.
// Opset 13 on: over `axis` (default -1), taken on the device when the axis is the last one whatever the rank
// (axis -1 at build); opset < 13: over the input viewed as [prod(dims[:axis]), prod(dims[axis:])] (ops/reduce.cc's
// coercion), which is always rows. Axis range errors are the CPU's.
#include <algorithm>
#include <string>

#include "cuda/kernels.h"
#include "ops/cuda/f32_common.h"

namespace int8rt {
namespace cudaops {
namespace {

class SoftmaxF32Cuda final : public OpKernel {
 public:
  explicit SoftmaxF32Cuda(int64_t axis) : axis_(axis) {}
  std::string kernel_name() const override { return "softmax_f32_cuda"; }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const cuda::ExecContext* ex;
    INT8RT_RETURN_IF_ERROR(exec_context(ctx, &ex));
    const Tensor* X;
    INT8RT_RETURN_IF_ERROR(device_input(ctx, 0, DType::kFloat32, &X));
    const Dims& dims = X->dims();
    const int64_t rank = std::max<int64_t>(1, int64_t(dims.size()));
    if (axis_ < -rank || axis_ >= rank)
      return shape_error(node, "axis " + std::to_string(axis_) + " is out of range for an input of rank " +
                                   std::to_string(rank));
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    int64_t rows = 1, cols = 1;
    for (size_t d = 0; d < dims.size(); d++) (int64_t(d) < axis ? rows : cols) *= dims[d];
    // (opset 13 on, axis_ is -1: cols is the last dim, rows the rest; a scalar is one row of one)
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kFloat32, dims, &Y));
    if (Y->numel() == 0) return Status::OK();
    cuda_kernels::RowsF32Params p{};
    p.x = X->device_address();
    p.y = Y->device_address();
    p.rows = rows;
    p.cols = cols;
    return cuda::launch_rows_f32(*ex->device, ex->stream(), true, p);
  }

 private:
  int64_t axis_;  // opset < 13: where the 2-D coercion splits; from 13: -1
};

Status make_softmax(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  const NodeDef& node = info.node();
  const cuda::BuildContext* bc;
  INT8RT_RETURN_IF_ERROR(build_context(info, &bc));
  if (!info.has_input(0)) return shape_error(node, "missing input 'input'");
  INT8RT_RETURN_IF_ERROR(float32_operand(info, *bc, 0));
  if (info.constant_input(0)) return unsupported(node, "a constant input is folded on the CPU");
  const bool legacy = info.opset() < 13;
  const int64_t axis = node.attr_int("axis", legacy ? 1 : -1);
  if (!legacy && axis != -1)
    return unsupported(node, "the CUDA float32 Softmax runs over the last axis, given as -1");
  out->reset(new SoftmaxF32Cuda(axis));
  return Status::OK();
}

}  // namespace

void register_cuda_softmax_f32_ops(KernelRegistry& r) {
  r.add({"Softmax", "", 1, 0, Device::kCuda, Precision::kFp32, "softmax_f32_cuda", &make_softmax, true});
}

}  // namespace cudaops
}  // namespace int8rt
