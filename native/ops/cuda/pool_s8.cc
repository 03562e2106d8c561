// Int8 pooling on a CUDA device: MaxPool and AveragePool over 1-D/2-D windows (the window geometry of the float
// pools, ops/pool_params.h, so that the output shape is the CPU's), GlobalAveragePool and GlobalMaxPool. The
// numbers follow ops/int8_pool.cc: int32 window sums requantized once; max keeps the input scale.
#include <string>

#include "cuda/kernels.h"
#include "ops/cuda/cuda_common.h"
#include "ops/int8_common.h"
#include "ops/pool_params.h"

namespace int8rt {
namespace cudaops {
namespace {

using cuda::PoolOp;

class PoolS8Cuda final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, bool average, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    const cuda::BuildContext* bc;
    INT8RT_RETURN_IF_ERROR(build_context(info, &bc));
    std::unique_ptr<PoolS8Cuda> k(new PoolS8Cuda());
    k->average_ = average;
    INT8RT_RETURN_IF_ERROR(pool_params::parse_window_attrs(node, &k->a_));
    if (k->a_.kernel.size() > 2) return unsupported(node, "the CUDA int8 pools handle 1-D and 2-D windows");
    INT8RT_RETURN_IF_ERROR(node_in_scale(node, 0, &k->s_x_));
    INT8RT_RETURN_IF_ERROR(node_out_scale(node, 0, &k->s_y_));
    if (!average) {
      if (node.outputs.size() > 1 && !node.outputs[1].empty())
        return unsupported(node, "int8 MaxPool does not produce the Indices output");
      if (k->s_x_ != k->s_y_) return unsupported(node, "int8 MaxPool needs its output scale to equal the input scale");
    }
    *out = std::move(k);
    return Status::OK();
  }

  std::string kernel_name() const override { return average_ ? "averagepool_s8_cuda" : "maxpool_s8_cuda"; }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const cuda::ExecContext* ex;
    INT8RT_RETURN_IF_ERROR(exec_context(ctx, &ex));
    const Tensor* X;
    INT8RT_RETURN_IF_ERROR(device_input(ctx, 0, DType::kInt8, &X));
    const Dims& dims = X->dims();
    INT8RT_RETURN_IF_ERROR(pool_params::check_input_rank(node, dims, a_.kernel.size()));
    std::vector<pool_params::Axis> axes;
    INT8RT_RETURN_IF_ERROR(pool_params::plan_axes(node, a_, dims, &axes));
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kInt8, pool_params::pooled_dims(dims, axes), &Y));
    if (Y->numel() == 0) return Status::OK();
    const pool_params::Axis h = axes.size() == 2 ? axes[0] : pool_params::Axis(), &w = axes.back();
    cuda::PoolParams p{};
    p.x = X->device_address();
    p.y = Y->device_address();
    p.planes = dims[0] * dims[1];
    p.H = int(h.in);
    p.W = int(w.in);
    p.OH = int(h.out);
    p.OW = int(w.out);
    p.kh = int(h.k);
    p.kw = int(w.k);
    p.sh = int(h.s);
    p.sw = int(w.s);
    p.dh = int(h.d);
    p.dw = int(w.d);
    p.pt = int(h.pad_b);
    p.pl = int(w.pad_b);
    p.pb = int(h.pad_e);
    p.pr = int(w.pad_e);
    p.count_include_pad = a_.count_include_pad ? 1 : 0;
    p.s_x = s_x_;
    p.s_y = s_y_;
    return cuda::launch_pool(*ex->device, ex->stream(), average_ ? PoolOp::kAverage : PoolOp::kMax, p);
  }

 private:
  bool average_ = false;
  pool_params::WindowAttrs a_;
  float s_x_ = 1.f, s_y_ = 1.f;
};

class GlobalPoolS8Cuda final : public OpKernel {
 public:
  GlobalPoolS8Cuda(bool average, float s_x, float s_y) : average_(average), s_x_(s_x), s_y_(s_y) {}
  std::string kernel_name() const override { return average_ ? "global_avgpool_s8_cuda" : "global_maxpool_s8_cuda"; }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const cuda::ExecContext* ex;
    INT8RT_RETURN_IF_ERROR(exec_context(ctx, &ex));
    const Tensor* X;
    INT8RT_RETURN_IF_ERROR(device_input(ctx, 0, DType::kInt8, &X));
    const Dims& d = X->dims();
    if (d.size() < 3) return shape_error(node, "input must have rank >= 3, got " + dims_str(d));
    Dims od(d.size(), 1);
    od[0] = d[0];
    od[1] = d[1];
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kInt8, od, &Y));
    if (Y->numel() == 0) return Status::OK();
    int64_t size = 1;
    for (size_t i = 2; i < d.size(); i++) size *= d[i];
    cuda::GlobalPoolParams p{};
    p.x = X->device_address();
    p.y = Y->device_address();
    p.planes = d[0] * d[1];
    p.size = size;
    p.multiplier = cuda::global_avgpool_multiplier(s_x_, s_y_, size);
    return cuda::launch_global_pool(*ex->device, ex->stream(), average_ ? PoolOp::kAverage : PoolOp::kMax, p);
  }

 private:
  bool average_;
  float s_x_, s_y_;
};

Status make_maxpool(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return PoolS8Cuda::create(info, false, out);
}
Status make_avgpool(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return PoolS8Cuda::create(info, true, out);
}
Status make_global(const KernelInfo& info, bool average, std::unique_ptr<OpKernel>* out) {
  const NodeDef& node = info.node();
  const cuda::BuildContext* bc;
  INT8RT_RETURN_IF_ERROR(build_context(info, &bc));
  float s_x, s_y;
  INT8RT_RETURN_IF_ERROR(node_in_scale(node, 0, &s_x));
  INT8RT_RETURN_IF_ERROR(node_out_scale(node, 0, &s_y));
  if (!average && s_x != s_y) return unsupported(node, "int8 GlobalMaxPool needs its output scale to equal the input scale");
  out->reset(new GlobalPoolS8Cuda(average, s_x, s_y));
  return Status::OK();
}
Status make_global_avg(const KernelInfo& info, std::unique_ptr<OpKernel>* out) { return make_global(info, true, out); }
Status make_global_max(const KernelInfo& info, std::unique_ptr<OpKernel>* out) { return make_global(info, false, out); }

}  // namespace

void register_cuda_pool_ops(KernelRegistry& r) {
  const Device gpu = Device::kCuda;
  const Precision s8 = Precision::kInt8;
  r.add({"MaxPool", "", 1, 0, gpu, s8, "maxpool_s8_cuda", &make_maxpool});
  r.add({"AveragePool", "", 1, 0, gpu, s8, "averagepool_s8_cuda", &make_avgpool});
  r.add({"GlobalAveragePool", "", 1, 0, gpu, s8, "global_avgpool_s8_cuda", &make_global_avg});
  r.add({"GlobalMaxPool", "", 1, 0, gpu, s8, "global_maxpool_s8_cuda", &make_global_max});
}

}  // namespace cudaops
}  // namespace int8rt
