// The copies core/engine.cc inserts where a value crosses between host and device memory (MemcpyToDevice,
// MemcpyToHost). Uploads are asynchronous on the run's stream (the run holds the host tensor until the next
// synchronize); a download waits for the stream, since the CPU step after it reads the data.
#include "ops/cuda/cuda_common.h"
#include "ops/cuda/cuda_ops.h"

namespace int8rt {
namespace cudaops {
namespace {

class CopyToDevice final : public OpKernel {
 public:
  std::string kernel_name() const override { return "memcpy_htod"; }
  Status compute(OpContext& ctx) const override {
    const cuda::ExecContext* ex;
    INT8RT_RETURN_IF_ERROR(exec_context(ctx, &ex));
    const Tensor* x = ctx.input(0);
    if (!x) return Status(ErrorCode::kInternal, ctx.node().describe() + ": nothing to copy");
    if (x->on_device()) return Status(ErrorCode::kInternal, ctx.node().describe() + ": the value is on the device");
    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), x->dims(), &y));
    if (x->nbytes() == 0) return Status::OK();
    INT8RT_RETURN_IF_ERROR(ex->device->upload(y->device_address(), x->raw(), x->nbytes(), ex->stream()));
    ex->run->hold(*x);
    return Status::OK();
  }
};

class CopyToHost final : public OpKernel {
 public:
  std::string kernel_name() const override { return "memcpy_dtoh"; }
  Status compute(OpContext& ctx) const override {
    const cuda::ExecContext* ex;
    INT8RT_RETURN_IF_ERROR(exec_context(ctx, &ex));
    const Tensor* x = ctx.input(0);
    if (!x) return Status(ErrorCode::kInternal, ctx.node().describe() + ": nothing to copy");
    if (x->numel() > 0 && !x->on_device())
      return Status(ErrorCode::kInternal, ctx.node().describe() + ": the value is not on the device");
    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), x->dims(), &y));
    if (x->nbytes() == 0) return Status::OK();
    INT8RT_RETURN_IF_ERROR(ex->device->download(y->raw(), x->device_address(), x->nbytes(), ex->stream()));
    return ex->run->synchronize();
  }
};

}  // namespace

std::unique_ptr<OpKernel> make_copy_to_device() { return std::unique_ptr<OpKernel>(new CopyToDevice()); }
std::unique_ptr<OpKernel> make_copy_to_host() { return std::unique_ptr<OpKernel>(new CopyToHost()); }

}  // namespace cudaops
}  // namespace int8rt
