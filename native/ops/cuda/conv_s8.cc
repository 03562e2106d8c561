// Conv, int8, on a CUDA device: the plan of ops/int8_plan.h (the CPU kernel's numbers) with its weights,
// int32 bias and multipliers staged in the engine's weight arena once. 1-D and 2-D convolutions:
//   depthwise (group == C_in == C_out)  dwconv_s8_direct
//   everything else                     qgemm_s8_{imma_128x128,dp4a_64x64}[_im2col]: a batched GEMM for 1x1 stride-1
//                                       unpadded convs, the implicit im2col otherwise (cuda::conv2d_qgemm_params)
// with the fused Relu/Clip bounds and residual Add in the epilogue.
#include <string>

#include "cuda/kernels.h"
#include "ops/conv_params.h"
#include "ops/cuda/cuda_common.h"
#include "ops/int8_common.h"
#include "ops/int8_plan.h"

namespace int8rt {
namespace cudaops {
namespace {

using int8ops::ConvS8Plan;

class ConvS8Cuda final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
    const cuda::BuildContext* bc;
    INT8RT_RETURN_IF_ERROR(build_context(info, &bc));
    std::unique_ptr<ConvS8Cuda> k(new ConvS8Cuda());
    ConvS8Plan& p = k->plan_;
    INT8RT_RETURN_IF_ERROR(int8ops::plan_conv_s8(info, &p));
    const size_t nsp = p.w_dims.size() - 2;
    if (nsp < 1 || nsp > 2) return unsupported(info.node(), "the CUDA int8 Conv handles 1-D and 2-D convolutions");
    k->weights_ = bc->weights;
    k->path_ = bc->gemm_path;
    if (p.depthwise) {
      k->w_ = bc->weights->stage(p.wq.data(), p.wq.size());
      k->label_ = "conv_s8_cuda_dwconv_direct";
    } else {
      const std::vector<int8_t> a = cuda::pack_qgemm_a(p.wq.data(), p.per, p.M, p.per);
      k->w_ = bc->weights->stage(a.data(), a.size());
      k->label_ = std::string("conv_s8_cuda_") + cuda::qgemm_kernel_name(k->path_, true);
    }
    k->bias_ = bc->weights->stage(p.bias.data(), p.bias.size() * sizeof(int32_t));
    k->multiplier_ = bc->weights->stage(p.multiplier.data(), p.multiplier.size() * sizeof(float));
    p.wq.clear();  // on the device now
    p.wq.shrink_to_fit();
    *out = std::move(k);
    return Status::OK();
  }

  std::string kernel_name() const override { return label_; }
  bool reads_input_data(size_t i) const override { return i == 0 || i == 3; }
  size_t weight_bytes() const override { return vector_bytes(plan_.bias) + vector_bytes(plan_.multiplier); }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const cuda::ExecContext* ex;
    INT8RT_RETURN_IF_ERROR(exec_context(ctx, &ex));
    const Tensor* X;
    INT8RT_RETURN_IF_ERROR(device_input(ctx, 0, DType::kInt8, &X));
    conv_params::Geometry g;
    INT8RT_RETURN_IF_ERROR(conv_params::conv_geometry(node, plan_.attrs, X->dims(), plan_.w_dims, &g));
    Dims ydims{g.N, g.M};
    ydims.insert(ydims.end(), g.out.begin(), g.out.end());
    const Tensor* R = nullptr;
    if (plan_.has_residual) {
      INT8RT_RETURN_IF_ERROR(device_input(ctx, 3, DType::kInt8, &R));
      if (R->dims() != ydims)
        return shape_error(node, "the fused residual " + dims_str(R->dims()) + " must have the output shape " +
                                     dims_str(ydims));
    }
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kInt8, ydims, &Y));
    if (Y->numel() == 0) return Status::OK();

    const conv_params::Patch2d p2 = conv_params::make_patch2d(g);
    const int64_t pb = g.nsp == 2 ? g.pe[0] : 0, pr = g.pe[size_t(g.nsp - 1)];
    const float lo = float(plan_.qmin), hi = float(plan_.qmax);
    if (plan_.depthwise) {
      cuda::DwConvParams p{};
      p.x = X->device_address();
      p.w = weights_->address(w_);
      p.bias = weights_->address(bias_);
      p.multiplier = weights_->address(multiplier_);
      p.residual = R ? R->device_address() : 0;
      p.y = Y->device_address();
      p.batch = int(g.N);
      p.C = int(g.C);
      p.H = int(p2.IH);
      p.W = int(p2.IW);
      p.OH = int(p2.CH);
      p.OW = int(p2.CW);
      p.kh = int(p2.kh);
      p.kw = int(p2.kw);
      p.sh = int(p2.sh);
      p.sw = int(p2.sw);
      p.dh = int(p2.dh);
      p.dw = int(p2.dw);
      p.pt = int(p2.pt);
      p.pl = int(p2.pl);
      p.residual_multiplier = plan_.residual_multiplier;
      p.lo = lo;
      p.hi = hi;
      return cuda::launch_dwconv_s8(*ex->device, ex->stream(), p);
    }
    cuda::Conv2dShape s;
    s.batch = g.N;
    s.C = g.C;
    s.H = p2.IH;
    s.W = p2.IW;
    s.M = g.M;
    s.group = g.group;
    s.kh = p2.kh;
    s.kw = p2.kw;
    s.sh = p2.sh;
    s.sw = p2.sw;
    s.dh = p2.dh;
    s.dw = p2.dw;
    s.pt = p2.pt;
    s.pl = p2.pl;
    s.pb = pb;
    s.pr = pr;
    if (s.OH() != p2.CH || s.OW() != p2.CW)
      return Status(ErrorCode::kInternal, node.describe() + ": CUDA conv geometry disagrees with the node's");
    cuda::QGemmParams p{};
    INT8RT_RETURN_IF_ERROR(cuda::conv2d_qgemm_params(s, &p));
    p.a = weights_->address(w_);
    p.b = X->device_address();
    p.c = Y->device_address();
    p.bias = weights_->address(bias_);
    p.multiplier = weights_->address(multiplier_);
    if (R) {
      p.residual = R->device_address();
      p.residual_multiplier = plan_.residual_multiplier;
    }
    p.out_kind = cuda_kernels::kQGemmOutS8;
    cuda::set_s8_bounds(plan_.qmin, plan_.qmax, &p);
    return cuda::launch_qgemm(*ex->device, ex->stream(), p, path_);
  }

 private:
  ConvS8Plan plan_;  // attributes and the host copies of bias and multipliers (the weights live on the device)
  const cuda::WeightArena* weights_ = nullptr;
  size_t w_ = 0, bias_ = 0, multiplier_ = 0;  // offsets in the weight arena
  cuda::QGemmPath path_ = cuda::QGemmPath::kImma;
  std::string label_;
};

Status make_conv_s8_cuda(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  if (info.node().attr_int("__dynamic", 0))
    return unsupported(info.node(), "no CUDA kernel for dynamic int8 Conv (float input quantized per run)");
  return ConvS8Cuda::create(info, out);
}

}  // namespace

void register_cuda_conv_ops(KernelRegistry& r) {
  r.add({"Conv", "", 1, 0, Device::kCuda, Precision::kInt8, "conv_s8_cuda", &make_conv_s8_cuda});
}

}  // namespace cudaops
}  // namespace int8rt
