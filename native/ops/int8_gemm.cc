// Gemm and MatMul, int8 (Precision::kInt8): int8 activations X times constant float weights, int8 output.
//
// Both become Y[M, N] = X[M, K] * W[K, N] (+ bias[N]) with W quantized per output column n (s_w[n]) in the factory.
// qgemm's A operand holds one row per output channel, so the product is computed transposed:
//   Y^T[N, M] = Wq^T[N, K] * X^T[K, M]
// with X^T and Y^T in scratch (a row vector, M == 1, needs neither transpose). Requantization is qgemm's epilogue:
// acc = bias[n] + sum q_w * q_x, v = (float)acc * (s_x * s_w[n] / s_y), clamped to the fused Relu/Clip bounds and
// rounded half to even.
//
// Gemm: transA = 0 only; B constant 2-D (transB either way); alpha is folded into the weights before quantization
// and beta into the bias; C optional, constant, one value per output column ([N], [1, N]) or one for all (scalar,
// [1], [1, 1]). MatMul: B constant, 1-D or 2-D (no batch dims); X of any rank >= 1, its leading dims folded into M.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/qgemm.h"
#include "ops/int8_common.h"
#include "ops/int8_dynamic.h"

namespace int8rt {
namespace int8ops {

void transpose_s8(const int8_t* src, int64_t lds, int8_t* dst, int64_t ldd, int64_t rows, int64_t cols) {
  constexpr int64_t kBlock = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    const int64_t r1 = std::min(rows, r0 + kBlock);
    for (int64_t c0 = 0; c0 < cols; c0 += kBlock) {
      const int64_t c1 = std::min(cols, c0 + kBlock);
      for (int64_t c = c0; c < c1; c++) {
        int8_t* d = dst + c * ldd;
        for (int64_t r = r0; r < r1; r++) d[r] = src[r * lds + c];
      }
    }
  }
}

namespace {

// Transposes in parallel over column blocks when the matrix is large.
void transpose_s8_parallel(ThreadPool* pool, const int8_t* src, int64_t lds, int8_t* dst, int64_t ldd, int64_t rows,
                           int64_t cols) {
  constexpr int64_t kBlock = 64;
  const int64_t blocks = (cols + kBlock - 1) / kBlock;
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(rows * kBlock, 1));
  parallel_for(rows * cols >= (int64_t(1) << 16) ? pool : nullptr, blocks, grain, [&](int64_t b, int64_t e) {
    const int64_t c0 = b * kBlock, c1 = std::min(cols, e * kBlock);
    transpose_s8(src + c0, lds, dst + c0 * ldd, ldd, rows, c1 - c0);
  });
}

// The int8 product of both operators, once the weights are quantized as Wt[N, K] (row n = output column n).
class LinearS8 {
 public:
  // wt: [N, K] float (alpha already applied); bias: N floats or null.
  Status init(const NodeDef& node, const std::vector<float>& wt, const std::vector<float>* bias, int64_t N,
              int64_t K) {
    float s_x, s_y;
    INT8RT_RETURN_IF_ERROR(node_in_scale(node, 0, &s_x));
    INT8RT_RETURN_IF_ERROR(node_out_scale(node, 0, &s_y));
    INT8RT_RETURN_IF_ERROR(fused_activation_bounds(node, s_y, &qmin_, &qmax_));
    N_ = N;
    K_ = K;
    std::vector<int8_t> q;
    std::vector<float> s_w;
    quantize_weights_per_channel(wt.data(), N, K, &q, &s_w);
    multiplier_.resize(size_t(N));
    bias_.assign(size_t(N), 0);
    for (int64_t n = 0; n < N; n++) {
      multiplier_[size_t(n)] = s_x * s_w[size_t(n)] / s_y;
      if (bias) bias_[size_t(n)] = quantize_bias((*bias)[size_t(n)], s_x, s_w[size_t(n)], K);
    }
    if (N > 0 && K > 0) INT8RT_RETURN_IF_ERROR(qpack_a(q.data(), K, N, K, &packed_));
    return Status::OK();
  }

  // y[M, N] = requantize(x[M, K] * W).
  Status run(OpContext& ctx, const int8_t* x, int64_t M, int8_t* y) const {
    const int64_t N = N_, K = K_;
    if (M == 0 || N == 0) return Status::OK();
    QEpilogue ep;
    ep.bias = bias_.data();
    ep.multiplier = multiplier_.data();
    ep.qmin = qmin_;
    ep.qmax = qmax_;
    if (K == 0) {
      for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++)
          y[m * N + n] = requantize_acc(bias_[size_t(n)], multiplier_[size_t(n)], qmin_, qmax_);
      return Status::OK();
    }
    ThreadPool* pool = ctx.pool();
    if (M == 1) {
      qgemm_s8(packed_, 1, x, 1, y, 1, ep, pool);
      return Status::OK();
    }
    int8_t* xt = nullptr;
    int8_t* yt = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(K * M), reinterpret_cast<void**>(&xt)));
    INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(N * M), reinterpret_cast<void**>(&yt)));
    transpose_s8_parallel(pool, x, K, xt, M, M, K);
    qgemm_s8(packed_, M, xt, M, yt, M, ep, pool);
    transpose_s8_parallel(pool, yt, M, y, N, N, M);
    return Status::OK();
  }

  std::string kernel_suffix() const { return qgemm_kernel_name(); }
  size_t bytes() const {
    return vector_bytes(packed_.data) + vector_bytes(packed_.row_sums) + vector_bytes(bias_) +
           vector_bytes(multiplier_);
  }

 private:
  int64_t N_ = 0, K_ = 0;
  QPackedA packed_;
  std::vector<int32_t> bias_;
  std::vector<float> multiplier_;
  int32_t qmin_ = -128, qmax_ = 127;
};

class GemmS8Kernel final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    std::unique_ptr<GemmS8Kernel> k(new GemmS8Kernel());
    std::vector<float> wt, bias;
    int64_t N = 0, K = 0;
    INT8RT_RETURN_IF_ERROR(gemm_constant_operands(info, "int8 Gemm", &wt, &bias, &N, &K));
    INT8RT_RETURN_IF_ERROR(k->lin_.init(node, wt, bias.empty() ? nullptr : &bias, N, K));
    k->N_ = N;
    k->K_ = K;
    *out = std::move(k);
    return Status::OK();
  }

  std::string kernel_name() const override { return "gemm_s8_" + lin_.kernel_suffix(); }
  // The weights (and Gemm's C) live on quantized and packed in lin_: only the activation is read.
  bool reads_input_data(size_t i) const override { return i == 0; }
  size_t weight_bytes() const override { return lin_.bytes(); }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* X;
    INT8RT_RETURN_IF_ERROR(int8_input(ctx, 0, &X));
    if (X->rank() != 2 || X->dim(1) != K_)
      return shape_error(node, "A " + dims_str(X->dims()) + " must be [M, " + std::to_string(K_) + "]");
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kInt8, {X->dim(0), N_}, &Y));
    return lin_.run(ctx, X->data<int8_t>(), X->dim(0), Y->data<int8_t>());
  }

 private:
  LinearS8 lin_;
  int64_t N_ = 0, K_ = 0;
};

class MatMulS8Kernel final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    std::unique_ptr<MatMulS8Kernel> k(new MatMulS8Kernel());
    const Tensor* B = info.constant_input(1);
    if (!B || B->dtype() != DType::kFloat32) return unsupported(node, "int8 MatMul needs a constant float32 B");
    if (B->rank() != 1 && B->rank() != 2)
      return unsupported(node, "int8 MatMul supports only a 1-D or 2-D B, got " + dims_str(B->dims()));
    k->b_vector_ = B->rank() == 1;
    const int64_t K = B->dim(0), N = k->b_vector_ ? 1 : B->dim(1);
    std::vector<float> wt(size_t(N * K));
    const float* b = B->data<float>();
    for (int64_t n = 0; n < N; n++)
      for (int64_t kk = 0; kk < K; kk++) wt[size_t(n * K + kk)] = b[kk * N + n];
    INT8RT_RETURN_IF_ERROR(k->lin_.init(node, wt, nullptr, N, K));
    k->N_ = N;
    k->K_ = K;
    *out = std::move(k);
    return Status::OK();
  }

  std::string kernel_name() const override { return "matmul_s8_" + lin_.kernel_suffix(); }
  // The weights (and Gemm's C) live on quantized and packed in lin_: only the activation is read.
  bool reads_input_data(size_t i) const override { return i == 0; }
  size_t weight_bytes() const override { return lin_.bytes(); }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* X;
    INT8RT_RETURN_IF_ERROR(int8_input(ctx, 0, &X));
    if (X->rank() < 1 || X->dims().back() != K_)
      return shape_error(node, "A " + dims_str(X->dims()) + " does not match B's " + std::to_string(K_) + " rows");
    Dims ydims = X->dims();
    ydims.pop_back();  // [..., M, K] -> [..., M]; a 1-D A ([K]) has no M
    const int64_t M = K_ > 0 ? X->numel() / K_ : dims_numel(ydims);
    if (!b_vector_) ydims.push_back(N_);
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kInt8, ydims, &Y));
    return lin_.run(ctx, X->data<int8_t>(), M, Y->data<int8_t>());
  }

 private:
  LinearS8 lin_;
  bool b_vector_ = false;
  int64_t N_ = 0, K_ = 0;
};

// Nodes the dynamic int8 planner marked (`__dynamic` = 1) take float activations: ops/int8_dynamic.h.
Status make_gemm_s8(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  if (info.node().attr_int("__dynamic", 0)) return make_gemm_dynamic(info, out);
  return GemmS8Kernel::create(info, out);
}
Status make_matmul_s8(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  if (info.node().attr_int("__dynamic", 0)) return make_matmul_dynamic(info, out);
  return MatMulS8Kernel::create(info, out);
}

}  // namespace

void register_int8_gemm_ops(KernelRegistry& r) {
  r.add({"Gemm", "", 1, 0, Device::kCpu, Precision::kInt8, "gemm_s8", &make_gemm_s8});
  r.add({"MatMul", "", 1, 0, Device::kCpu, Precision::kInt8, "matmul_s8", &make_matmul_s8});
}

}  // namespace int8ops
}  // namespace int8rt
