// MatMul and Gemm (float32) on a CUDA device (kernels/cuda/gemm-f32-tiled.cu, gemm_f32_tiled_16x16). MatMul: numpy
// matmul rules as ops/gemm.cc plan_matmul (rank-1 operands promoted, batch dims broadcast; at most 4 output batch
// dims), B a constant (staged in the weight arena) or an activation -- attention's Q x K^T and P x V are two
// activations. A B without batch dims folds A's batch into M, as the CPU does. Gemm: transA / transB / alpha / beta
// and C broadcast to [M, N] (c_layout's rules; strict before opset 7 unless broadcast = 1). Both take the fused Relu
// / Clip a graph pass may attach, as the CPU's epilogue does; other fused activations stay on the CPU.
#include <cmath>
#include <string>
#include <vector>

#include "cuda/kernels.h"
#include "ops/fused_clamp.h"
#include "ops/matmul_shape.h"
#include "ops/cuda/f32_common.h"

namespace int8rt {
namespace cudaops {
namespace {

namespace ck = cuda_kernels;

Status fused_clamp(const NodeDef& node, float* lo, float* hi) {
  return fused_clamp_bounds(node, "the CUDA float " + node.op_type, lo, hi);
}

Status bool_attr(const NodeDef& node, const char* name, bool* out) {
  const int64_t v = node.attr_int(name, 0);
  if (v != 0 && v != 1) return shape_error(node, std::string(name) + " must be 0 or 1, got " + std::to_string(v));
  *out = v != 0;
  return Status::OK();
}

class GemmF32Cuda final : public OpKernel {
 public:
  std::string kernel_name() const override { return gemm_ ? "gemm_f32_cuda" : "matmul_f32_cuda"; }
  bool reads_input_data(size_t i) const override { return i < 3 && !operand_[i].constant; }

  Status compute(OpContext& ctx) const override {
    const cuda::ExecContext* ex;
    INT8RT_RETURN_IF_ERROR(exec_context(ctx, &ex));
    Dims dims[3];
    cuda::CUdeviceptr addr[3] = {0, 0, 0};
    for (size_t i = 0; i < (has_c_ ? 3u : 2u); i++)
      INT8RT_RETURN_IF_ERROR(resolve_f32_operand(ctx, weights_, i, operand_[i], &dims[i], &addr[i]));
    ck::GemmF32Params p{};
    Dims out;
    INT8RT_RETURN_IF_ERROR(gemm_ ? plan_gemm(ctx.node(), dims, &p, &out) : plan_matmul(ctx.node(), dims, &p, &out));
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kFloat32, out, &Y));
    if (Y->numel() == 0) return Status::OK();
    p.a = addr[0];
    p.b = addr[1];
    p.bias = has_c_ && beta_ != 0.f ? addr[2] : 0;  // as the CPU (and onnxruntime): beta 0 ignores C
    p.c = Y->device_address();
    p.lo = lo_;
    p.hi = hi_;
    return cuda::launch_gemm_f32(*ex->device, ex->stream(), p);
  }

  static Status create(const KernelInfo& info, bool gemm, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    const cuda::BuildContext* bc;
    INT8RT_RETURN_IF_ERROR(build_context(info, &bc));
    std::unique_ptr<GemmF32Cuda> k(new GemmF32Cuda());
    k->gemm_ = gemm;
    k->weights_ = bc->weights;
    INT8RT_RETURN_IF_ERROR(fused_clamp(node, &k->lo_, &k->hi_));
    if (gemm) {
      INT8RT_RETURN_IF_ERROR(bool_attr(node, "transA", &k->trans_a_));
      INT8RT_RETURN_IF_ERROR(bool_attr(node, "transB", &k->trans_b_));
      k->alpha_ = node.attr_float("alpha", 1.f);
      k->beta_ = node.attr_float("beta", 1.f);
      if (info.opset() < 7) {
        bool bc7 = false;
        INT8RT_RETURN_IF_ERROR(bool_attr(node, "broadcast", &bc7));
        k->strict_c_ = !bc7;
      }
      if (!info.has_input(0) || !info.has_input(1)) return shape_error(node, "inputs A and B are required");
      if (info.opset() < 11 && !info.has_input(2)) return shape_error(node, "input C is required before opset 11");
      k->has_c_ = info.has_input(2);
    } else {
      if (info.num_inputs() != 2 || !info.has_input(0) || !info.has_input(1))
        return unsupported(node, "the CUDA float32 MatMul takes exactly two inputs");
    }
    for (size_t i = 0; i < (k->has_c_ ? 3u : 2u); i++)
      INT8RT_RETURN_IF_ERROR(stage_f32_operand(info, *bc, i, &k->operand_[i]));
    if (k->operand_[0].constant && k->operand_[1].constant && (!k->has_c_ || k->operand_[2].constant))
      return unsupported(node, "a node of constants is folded on the CPU");
    *out = std::move(k);
    return Status::OK();
  }

 private:
  // MatMul shapes (ops/matmul_shape.h, as the CPU's).
  Status plan_matmul(const NodeDef& node, const Dims* d, ck::GemmF32Params* p, Dims* out) const {
    MatMulShape sh;
    INT8RT_RETURN_IF_ERROR(matmul_shape(node, d[0], d[1], &sh));
    const Dims& ob = sh.batch;
    const size_t rank = ob.size();
    *out = sh.out;
    p->M = sh.M;
    p->N = sh.N;
    p->K = sh.K;
    p->lda = sh.K;
    p->ldb = sh.N;
    p->alpha = 1.f;
    p->beta = 1.f;
    if (sh.b_batch.empty()) {  // B shared by every product: A's batch folds into M
      for (int64_t x : sh.a_batch) p->M *= x;
      return Status::OK();
    }
    const std::vector<int64_t>& as = sh.a_strides;
    const std::vector<int64_t>& bs = sh.b_strides;
    int r = 0;
    for (size_t i = 0; i < rank; i++) {
      if (ob[i] == 1) continue;
      if (r == ck::kGemmMaxBatchRank)
        return unsupported(node, "the CUDA float32 MatMul takes at most 4 batch dimensions");
      p->batch_dims[r] = ob[i];
      p->a_bstrides[r] = as[i];
      p->b_bstrides[r] = bs[i];
      r++;
    }
    p->batch_rank = r;
    return Status::OK();
  }

  // Gemm shapes (ops/gemm.cc's GemmKernel and c_layout).
  Status plan_gemm(const NodeDef& node, const Dims* d, ck::GemmF32Params* p, Dims* out) const {
    const Dims& ad = d[0];
    const Dims& bd = d[1];
    if (ad.size() != 2 || bd.size() != 2)
      return shape_error(node, "A and B must be 2-D, got " + dims_str(ad) + " and " + dims_str(bd));
    const int64_t M = trans_a_ ? ad[1] : ad[0], K = trans_a_ ? ad[0] : ad[1];
    const int64_t Kb = trans_b_ ? bd[1] : bd[0], N = trans_b_ ? bd[0] : bd[1];
    if (K != Kb)
      return shape_error(node, "inner dimensions differ: op(A) is [" + std::to_string(M) + "," + std::to_string(K) +
                                   "], op(B) is [" + std::to_string(Kb) + "," + std::to_string(N) + "]");
    p->M = M;
    p->N = N;
    p->K = K;
    p->lda = ad[1];
    p->ldb = bd[1];
    p->trans_a = trans_a_;
    p->trans_b = trans_b_;
    p->alpha = alpha_;
    p->beta = beta_;
    if (has_c_) {
      const Dims& cd = d[2];
      if (cd.size() > 2) return shape_error(node, "C must have rank <= 2, got " + dims_str(cd));
      const int64_t rows = cd.size() == 2 ? cd[0] : 1;
      const int64_t cols = cd.size() >= 1 ? cd.back() : 1;
      const bool ok = strict_c_ ? (cd.size() == 2 && rows == M && cols == N)
                                : ((rows == 1 || rows == M) && (cols == 1 || cols == N));
      if (!ok)
        return shape_error(node, "C " + dims_str(cd) + " cannot be broadcast to [" + std::to_string(M) + "," +
                                     std::to_string(N) + "]");
      p->bias_sm = rows == 1 ? 0 : cols;
      p->bias_sn = cols == 1 ? 0 : 1;
    }
    *out = Dims{M, N};
    return Status::OK();
  }

  bool gemm_ = false, trans_a_ = false, trans_b_ = false, strict_c_ = false, has_c_ = false;
  float alpha_ = 1.f, beta_ = 1.f, lo_ = -INFINITY, hi_ = INFINITY;
  const cuda::WeightArena* weights_ = nullptr;
  F32Operand operand_[3];
};

Status make_matmul(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return GemmF32Cuda::create(info, false, out);
}
Status make_gemm(const KernelInfo& info, std::unique_ptr<OpKernel>* out) { return GemmF32Cuda::create(info, true, out); }

}  // namespace

void register_cuda_matmul_f32_ops(KernelRegistry& r) {
  r.add({"MatMul", "", 1, 0, Device::kCuda, Precision::kFp32, "matmul_f32_cuda", &make_matmul});
  r.add({"Gemm", "", 1, 0, Device::kCuda, Precision::kFp32, "gemm_f32_cuda", &make_gemm});
}

}  // namespace cudaops
}  // namespace int8rt
