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
#include "ops/int8_linear_kernels.h"
#include "ops/int8_plan.h"

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

Status plan_linear_s8(const NodeDef& node, const std::vector<float>& wt, const std::vector<float>& bias, int64_t N,
                      int64_t K, LinearS8Plan* out) {
  LinearS8Plan& p = *out;
  float s_x, s_y;
  INT8RT_RETURN_IF_ERROR(node_in_scale(node, 0, &s_x));
  INT8RT_RETURN_IF_ERROR(node_out_scale(node, 0, &s_y));
  INT8RT_RETURN_IF_ERROR(fused_activation_bounds(node, s_y, &p.qmin, &p.qmax));
  p.N = N;
  p.K = K;
  std::vector<float> s_w;
  quantize_weights_per_channel(wt.data(), N, K, &p.wq, &s_w);
  p.multiplier.resize(size_t(N));
  p.bias.assign(size_t(N), 0);
  for (int64_t n = 0; n < N; n++) {
    p.multiplier[size_t(n)] = s_x * s_w[size_t(n)] / s_y;
    if (!bias.empty()) p.bias[size_t(n)] = quantize_bias(bias[size_t(n)], s_x, s_w[size_t(n)], K);
  }
  return Status::OK();
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

// The int8 product of both operators, once the weights are quantized as Wt[N, K] (row n = output column n); the
// operator shells around it are ops/int8_linear_kernels.h's.
class LinearS8 {
 public:
  using Elem = int8_t;
  static constexpr const char* kPrecision = "int8";
  static constexpr const char* kKernelTag = "s8";
  static Status input(const OpContext& ctx, size_t i, const Tensor** out) { return int8_input(ctx, i, out); }

  // wt: [N, K] float (alpha already applied); bias: N floats or empty.
  Status init(const NodeDef& node, const std::vector<float>& wt, std::vector<float> bias, int64_t N, int64_t K) {
    LinearS8Plan p;
    INT8RT_RETURN_IF_ERROR(plan_linear_s8(node, wt, bias, N, K, &p));
    N_ = N;
    K_ = K;
    qmin_ = p.qmin;
    qmax_ = p.qmax;
    bias_ = std::move(p.bias);
    multiplier_ = std::move(p.multiplier);
    if (N > 0 && K > 0) INT8RT_RETURN_IF_ERROR(qpack_a(p.wq.data(), K, N, K, &packed_));
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

// Nodes the dynamic int8 planner marked (`__dynamic` = 1) take float activations: ops/int8_dynamic.h.
Status make_gemm_s8(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  if (info.node().attr_int("__dynamic", 0)) return make_gemm_dynamic(info, out);
  return LinearOpKernel<LinearS8, LinearOp::kGemm>::create(info, out);
}
Status make_matmul_s8(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  if (info.node().attr_int("__dynamic", 0)) return make_matmul_dynamic(info, out);
  return LinearOpKernel<LinearS8, LinearOp::kMatMul>::create(info, out);
}

}  // namespace

void register_int8_gemm_ops(KernelRegistry& r) {
  r.add({"Gemm", "", 1, 0, Device::kCpu, Precision::kInt8, "gemm_s8", &make_gemm_s8});
  r.add({"MatMul", "", 1, 0, Device::kCpu, Precision::kInt8, "matmul_s8", &make_matmul_s8});
}

}  // namespace int8ops
}  // namespace int8rt
