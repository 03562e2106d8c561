// The operator shell of the int8 Gemm and MatMul kernels (LinearOpKernel), shared by the static int8
// (ops/int8_gemm.cc) and the dynamic int8 (ops/int8_dynamic.cc) families: constant weights taken as Wt[N, K] at
// build, the activation's shape checked and folded to X[M, K] per run, Y allocated, and the product handed to the
// family's engine.
//
// An engine `Linear` computes y[M, N] = x[M, K] * W (+ bias) and provides:
//   using Elem;                                activation and output element type (int8_t, float)
//   static constexpr const char* kPrecision;   refusals say "<kPrecision> Gemm ..." ("int8", "dynamic int8")
//   static constexpr const char* kKernelTag;   kernel names are "<op>_<kKernelTag>_<qgemm kernel>"
//   static Status input(const OpContext&, size_t i, const Tensor** out);      input i, type-checked
//   Status init(const NodeDef&, const std::vector<float>& wt, std::vector<float> bias, int64_t N, int64_t K);
//                                              wt: [N, K]; bias: N values or empty
//   Status run(OpContext&, const Elem* x, int64_t M, Elem* y) const;
//   size_t bytes() const;                      what the packed weights hold
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/op_kernel.h"
#include "kernels/qgemm.h"
#include "ops/int8_common.h"

namespace int8rt {
namespace int8ops {

// MatMul's constant float32 B ([K] or [K, N]) as Wt[N, K]; *b_vector when B is 1-D (Y then drops the N axis).
// `what` names the kernel in refusals ("int8 MatMul", "dynamic int8 MatMul").
inline Status matmul_constant_weights(const KernelInfo& info, const std::string& what, std::vector<float>* wt,
                                      int64_t* N_out, int64_t* K_out, bool* b_vector) {
  const NodeDef& node = info.node();
  const Tensor* B = info.constant_input(1);
  if (!B || B->dtype() != DType::kFloat32) return unsupported(node, what + " needs a constant float32 B");
  if (B->rank() != 1 && B->rank() != 2)
    return unsupported(node, what + " supports only a 1-D or 2-D B, got " + dims_str(B->dims()));
  *b_vector = B->rank() == 1;
  const int64_t K = B->dim(0), N = *b_vector ? 1 : B->dim(1);
  wt->assign(size_t(N * K), 0.f);
  const float* b = B->data<float>();
  for (int64_t n = 0; n < N; n++)
    for (int64_t kk = 0; kk < K; kk++) (*wt)[size_t(n * K + kk)] = b[kk * N + n];
  *N_out = N;
  *K_out = K;
  return Status::OK();
}

// Gemm: A [M, K] (transA = 0), constant B and C (ops/int8_common.h gemm_constant_operands).
// MatMul: A of any rank >= 1 with its leading dims folded into M, constant 1-D or 2-D B (matmul_constant_weights).
enum class LinearOp { kGemm, kMatMul };

template <typename Linear, LinearOp Op>
class LinearOpKernel final : public OpKernel {
 public:
  using Elem = typename Linear::Elem;

  static Status create(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
    std::unique_ptr<LinearOpKernel> k(new LinearOpKernel());
    std::vector<float> wt, bias;
    if (Op == LinearOp::kGemm) {
      INT8RT_RETURN_IF_ERROR(
          gemm_constant_operands(info, std::string(Linear::kPrecision) + " Gemm", &wt, &bias, &k->N_, &k->K_));
    } else {
      INT8RT_RETURN_IF_ERROR(matmul_constant_weights(info, std::string(Linear::kPrecision) + " MatMul", &wt, &k->N_,
                                                     &k->K_, &k->b_vector_));
    }
    INT8RT_RETURN_IF_ERROR(k->lin_.init(info.node(), wt, std::move(bias), k->N_, k->K_));
    *out = std::move(k);
    return Status::OK();
  }

  std::string kernel_name() const override {
    return std::string(Op == LinearOp::kGemm ? "gemm_" : "matmul_") + Linear::kKernelTag + "_" + qgemm_kernel_name();
  }
  // The weights (and Gemm's C) live on quantized and packed in lin_: only the activation is read.
  bool reads_input_data(size_t i) const override { return i == 0; }
  size_t weight_bytes() const override { return lin_.bytes(); }

  Status compute(OpContext& ctx) const override {
    const Tensor* X;
    INT8RT_RETURN_IF_ERROR(Linear::input(ctx, 0, &X));
    Dims ydims;
    int64_t M = 0;
    if (Op == LinearOp::kGemm) {
      if (X->rank() != 2 || X->dim(1) != K_)
        return shape_error(ctx.node(), "A " + dims_str(X->dims()) + " must be [M, " + std::to_string(K_) + "]");
      M = X->dim(0);
      ydims = {M, N_};
    } else {
      if (X->rank() < 1 || X->dims().back() != K_)
        return shape_error(ctx.node(),
                           "A " + dims_str(X->dims()) + " does not match B's " + std::to_string(K_) + " rows");
      ydims = X->dims();
      ydims.pop_back();  // [..., M, K] -> [..., M]; a 1-D A ([K]) has no M
      M = K_ > 0 ? X->numel() / K_ : dims_numel(ydims);
      if (!b_vector_) ydims.push_back(N_);
    }
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DTypeOf<Elem>::value, ydims, &Y));
    return lin_.run(ctx, X->data<Elem>(), M, Y->data<Elem>());
  }

 private:
  Linear lin_;
  bool b_vector_ = false;  // MatMul with a 1-D B: Y drops the N axis
  int64_t N_ = 0, K_ = 0;
};

}  // namespace int8ops
}  // namespace int8rt
