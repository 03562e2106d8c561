// Reshape, Flatten, Squeeze, Unsqueeze on a CUDA device: the CPU kernels themselves (ops/shape.cc), which only give
// the input new dims and never touch its data, so they serve device memory as well. Their shape/axes inputs are read
// on the host (input_on_host: a constant, or a value the executor keeps or copies back to the host); an int8 view
// keeps its input's scale.
#include <string>

#include "ops/cuda/cuda_common.h"
#include "ops/int8_common.h"

namespace int8rt {
namespace cudaops {
namespace {

class ViewCuda final : public OpKernel {
 public:
  ViewCuda(std::unique_ptr<OpKernel> inner, std::string name) : inner_(std::move(inner)), name_(std::move(name)) {}
  std::string kernel_name() const override { return name_; }
  // The shape / axes input is read on the host (the CPU kernel computes the new dims from it).
  bool input_on_host(size_t i) const override { return i >= 1; }
  Status compute(OpContext& ctx) const override {
    for (size_t i = 1; i < ctx.num_inputs(); i++)
      if (ctx.input(i) && ctx.input(i)->on_device())
        return Status(ErrorCode::kInternal, ctx.node().describe() + ": input " + std::to_string(i) + " is on the device");
    const Tensor* x = ctx.input(0);
    if (x && x->numel() > 0 && !x->on_device())
      return Status(ErrorCode::kInternal, ctx.node().describe() + ": input 0 is not in device memory");
    return inner_->compute(ctx);
  }

 private:
  std::unique_ptr<OpKernel> inner_;
  std::string name_;
};

Status make_view(const KernelInfo& info, Precision precision, std::unique_ptr<OpKernel>* out) {
  const NodeDef& node = info.node();
  if (precision == Precision::kInt8) {
    float s_x, s_y;
    INT8RT_RETURN_IF_ERROR(node_in_scale(node, 0, &s_x));
    INT8RT_RETURN_IF_ERROR(node_out_scale(node, 0, &s_y));
    if (s_x != s_y) return unsupported(node, "int8 " + node.op_type + " needs its output scale to equal the input scale");
  }
  std::string why;
  const KernelDef* def =
      kernel_registry().find(node.op_type, node.domain, info.opset(), Device::kCpu, Precision::kFp32, &why);
  if (!def) return unsupported(node, why);
  std::unique_ptr<OpKernel> inner;
  INT8RT_RETURN_IF_ERROR(def->factory(info, &inner));
  out->reset(new ViewCuda(std::move(inner), std::string(def->name) + (precision == Precision::kInt8 ? "_s8" : "") +
                                                "_cuda"));
  return Status::OK();
}

Status make_view_fp32(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return make_view(info, Precision::kFp32, out);
}
Status make_view_s8(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return make_view(info, Precision::kInt8, out);
}

}  // namespace

void register_cuda_view_ops(KernelRegistry& r) {
  for (const char* op : {"Reshape", "Flatten", "Squeeze", "Unsqueeze"}) {
    r.add({op, "", 1, 0, Device::kCuda, Precision::kFp32, "view_cuda", &make_view_fp32, true});
    r.add({op, "", 1, 0, Device::kCuda, Precision::kInt8, "view_s8_cuda", &make_view_s8, true});
  }
}

}  // namespace cudaops
}  // namespace int8rt
