// Gemm and MatMul, int8, on a CUDA device: Y[M, N] = X[M, K] * W (+ bias), the numbers of ops/int8_gemm.cc
// (ops/int8_plan.h) with the weights [N, K] staged in the weight arena as the GEMM's packed A operand.
//
// The GEMM kernels compute C = A[rows, K] x B[K, cols] with A the weights, so each row x of X is one problem of the
// batch: its B is x read as a one-channel image [1, K] through a 1 x K window (the implicit-im2col kernel, which reads
// B[k, 0] = x[k] without a transpose), and its C, N values with ldc 1, is row x of Y. That is a GEMV per row: right for
// the batch-1 heads of classifiers and recognisers; a tiled batched GEMM for many rows is future work.
#include <string>

#include "cuda/kernels.h"
#include "ops/cuda/cuda_common.h"
#include "ops/int8_common.h"
#include "ops/int8_linear_kernels.h"
#include "ops/int8_plan.h"

namespace int8rt {
namespace cudaops {
namespace {

using int8ops::LinearOp;
using int8ops::LinearS8Plan;

class LinearS8Cuda final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, LinearOp op, std::unique_ptr<OpKernel>* out) {
    const cuda::BuildContext* bc;
    INT8RT_RETURN_IF_ERROR(build_context(info, &bc));
    if (info.node().attr_int("__dynamic", 0))
      return unsupported(info.node(), "no CUDA kernel for dynamic int8 " + info.node().op_type);
    std::unique_ptr<LinearS8Cuda> k(new LinearS8Cuda());
    k->op_ = op;
    std::vector<float> wt, bias;
    int64_t N = 0, K = 0;
    if (op == LinearOp::kGemm)
      INT8RT_RETURN_IF_ERROR(gemm_constant_operands(info, "int8 Gemm", &wt, &bias, &N, &K));
    else
      INT8RT_RETURN_IF_ERROR(int8ops::matmul_constant_weights(info, "int8 MatMul", &wt, &N, &K, &k->b_vector_));
    LinearS8Plan& p = k->plan_;
    INT8RT_RETURN_IF_ERROR(int8ops::plan_linear_s8(info.node(), wt, bias, N, K, &p));
    k->weights_ = bc->weights;
    k->path_ = bc->gemm_path;
    const std::vector<int8_t> a = cuda::pack_qgemm_a(p.wq.data(), K, N, K);
    k->w_ = bc->weights->stage(a.data(), a.size());
    k->bias_ = bc->weights->stage(p.bias.data(), p.bias.size() * sizeof(int32_t));
    k->multiplier_ = bc->weights->stage(p.multiplier.data(), p.multiplier.size() * sizeof(float));
    p.wq.clear();
    p.wq.shrink_to_fit();
    k->label_ = std::string(op == LinearOp::kGemm ? "gemm" : "matmul") + "_s8_cuda_" +
                cuda::qgemm_kernel_name(k->path_, true);
    *out = std::move(k);
    return Status::OK();
  }

  std::string kernel_name() const override { return label_; }
  bool reads_input_data(size_t i) const override { return i == 0; }
  size_t weight_bytes() const override { return vector_bytes(plan_.bias) + vector_bytes(plan_.multiplier); }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const cuda::ExecContext* ex;
    INT8RT_RETURN_IF_ERROR(exec_context(ctx, &ex));
    const Tensor* X;
    INT8RT_RETURN_IF_ERROR(device_input(ctx, 0, DType::kInt8, &X));
    const int64_t N = plan_.N, K = plan_.K;
    Dims ydims;
    int64_t M = 0;
    if (op_ == LinearOp::kGemm) {
      if (X->rank() != 2 || X->dim(1) != K)
        return shape_error(node, "A " + dims_str(X->dims()) + " must be [M, " + std::to_string(K) + "]");
      M = X->dim(0);
      ydims = {M, N};
    } else {
      if (X->rank() < 1 || X->dims().back() != K)
        return shape_error(node, "A " + dims_str(X->dims()) + " does not match B's " + std::to_string(K) + " rows");
      ydims = X->dims();
      ydims.pop_back();
      M = K > 0 ? X->numel() / K : dims_numel(ydims);
      if (!b_vector_) ydims.push_back(N);
    }
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kInt8, ydims, &Y));
    if (Y->numel() == 0) return Status::OK();
    if (K == 0) return unsupported(node, "the CUDA int8 " + node.op_type + " needs K > 0");
    if (M > 65535) return unsupported(node, "the CUDA int8 " + node.op_type + " handles at most 65535 rows");
    cuda::QGemmParams p = cuda::qgemm_params(N, 1, K);
    p.a = weights_->address(w_);
    p.b = X->device_address();
    p.c = Y->device_address();
    p.bias = weights_->address(bias_);
    p.multiplier = weights_->address(multiplier_);
    p.batch = int(M);
    p.b_batch_stride = K;
    p.c_batch_stride = N;
    p.ldc = 1;
    p.conv = 1;
    p.IH = 1;
    p.IW = int(K);
    p.OH = p.OW = 1;
    p.kh = 1;
    p.kw = int(K);
    p.out_kind = cuda_kernels::kQGemmOutS8;
    cuda::set_s8_bounds(plan_.qmin, plan_.qmax, &p);
    return cuda::launch_qgemm(*ex->device, ex->stream(), p, path_);
  }

 private:
  LinearOp op_ = LinearOp::kGemm;
  bool b_vector_ = false;
  LinearS8Plan plan_;
  const cuda::WeightArena* weights_ = nullptr;
  size_t w_ = 0, bias_ = 0, multiplier_ = 0;
  cuda::QGemmPath path_ = cuda::QGemmPath::kImma;
  std::string label_;
};

Status make_gemm(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return LinearS8Cuda::create(info, LinearOp::kGemm, out);
}
Status make_matmul(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return LinearS8Cuda::create(info, LinearOp::kMatMul, out);
}

}  // namespace

void register_cuda_linear_ops(KernelRegistry& r) {
  r.add({"Gemm", "", 1, 0, Device::kCuda, Precision::kInt8, "gemm_s8_cuda", &make_gemm});
  r.add({"MatMul", "", 1, 0, Device::kCuda, Precision::kInt8, "matmul_s8_cuda", &make_matmul});
}

}  // namespace cudaops
}  // namespace int8rt
