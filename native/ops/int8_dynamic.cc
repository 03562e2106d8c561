// Dynamic int8 Conv, Gemm and MatMul (precision 'int8-dynamic'); the scheme is described in ops/int8_dynamic.h.
//
// Execution mirrors the static int8 kernels (ops/int8_conv.cc, ops/int8_gemm.cc): Conv runs per image and group as
// Y_g[M/g, P] = W_g[M/g, K] * im2col(q_x)[K, P] with the weights packed once per group at build, or per run for
// groups of fewer than 8 channels (depthwise convolutions take the same path with M/g = 1); Gemm/MatMul compute Y^T[N, M] = Wq^T[N, K] * q_x^T[K, M]. What differs is the
// per-run prologue (absmax, activation quantization, int32 bias and multipliers from s_x) and the float epilogue
// (qgemm_s8_f32).
#include "ops/int8_dynamic.h"
#include "ops/fused_clamp.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/qgemm.h"
#include "ops/conv_params.h"
#include "ops/int8_common.h"
#include "ops/int8_linear_kernels.h"

namespace int8rt {
namespace int8ops {
namespace {

using conv_params::ceil_div;

// max |x| over n floats; NaN when x holds a NaN (it sticks in its lane), +Inf when x holds an infinity. Eight
// independent lanes let the compiler vectorise the loop without reassociating a float reduction.
float absmax_block(const float* x, int64_t n) {
  float m[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) {
      const float a = std::fabs(x[i + j]);
      m[j] = (a > m[j] || a != a) ? a : m[j];
    }
  for (; i < n; i++) {
    const float a = std::fabs(x[i]);
    m[0] = (a > m[0] || a != a) ? a : m[0];
  }
  float r = 0.f;
  for (int j = 0; j < 8; j++) r = (m[j] > r || m[j] != m[j]) ? m[j] : r;
  return r;
}

float absmax_f32(ThreadPool* pool, const float* x, int64_t n) {
  constexpr int64_t kChunk = 1 << 15;
  const int64_t chunks = ceil_div(n, kChunk);
  if (chunks <= 1) return absmax_block(x, n);
  std::vector<float> part(size_t(chunks), 0.f);
  parallel_for(pool, chunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; c++)
      part[size_t(c)] = absmax_block(x + c * kChunk, std::min(kChunk, n - c * kChunk));
  });
  return absmax_block(part.data(), chunks);
}

// q = rne(x / s) saturated (quantize_s8), in parallel over blocks.
void quantize_f32_s8(ThreadPool* pool, const float* x, int64_t n, float s, int8_t* q) {
  parallel_for(n >= (int64_t(1) << 15) ? pool : nullptr, n, int64_t(1) << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) q[i] = quantize_s8(x[i], s);
  });
}

// The float clamp of a fused Relu/Clip; anything else is refused so that the node stays fp32.
Status float_activation_bounds(const NodeDef& node, float* lo, float* hi) {
  return fused_clamp_bounds(node, "dynamic int8 " + node.op_type, lo, hi);
}

inline float clampf(float v, float lo, float hi) { return std::fmin(std::fmax(v, lo), hi); }

// Per-run epilogue constants: multiplier[c] = s_x * s_w[c], bias[c] = rne(b[c] / (s_x * s_w[c])).
void dynamic_epilogue(float s_x, const std::vector<float>& s_w, const std::vector<float>& bias, int64_t depth,
                      float* multiplier, int32_t* qbias) {
  for (size_t c = 0; c < s_w.size(); c++) {
    multiplier[c] = s_x * s_w[c];
    qbias[c] = bias.empty() ? 0 : quantize_bias(bias[c], s_x, s_w[c], depth);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Conv

class ConvDynKernel final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    std::unique_ptr<ConvDynKernel> k(new ConvDynKernel());
    INT8RT_RETURN_IF_ERROR(conv_params::parse_conv_attrs(node, &k->attrs_));
    if (info.num_inputs() < 2 || !info.has_input(0) || !info.has_input(1))
      return shape_error(node, "inputs X and W are required");
    INT8RT_RETURN_IF_ERROR(float_activation_bounds(node, &k->lo_, &k->hi_));
    k->has_residual_ = info.has_input(3);
    const Tensor* W = info.constant_input(1);
    if (!W || W->dtype() != DType::kFloat32)
      return unsupported(node, "dynamic int8 Conv needs constant float32 weights");
    if (W->rank() < 3) return shape_error(node, "W must have rank >= 3, got " + dims_str(W->dims()));
    const int64_t M = W->dim(0), group = k->attrs_.group;
    if (M % group != 0)
      return shape_error(node, "W's output channels (" + std::to_string(M) + ") are not divisible by group " +
                                   std::to_string(group));
    const int64_t per = M > 0 ? W->numel() / M : 0;
    const Tensor* B = info.has_input(2) ? info.constant_input(2) : nullptr;
    if (info.has_input(2) && (!B || B->dtype() != DType::kFloat32))
      return unsupported(node, "dynamic int8 Conv needs a constant float32 bias");
    if (B && (B->rank() != 1 || B->dim(0) != M))
      return shape_error(node, "bias " + dims_str(B->dims()) + " must have shape [" + std::to_string(M) + "]");
    if (B) k->bias_.assign(B->data<float>(), B->data<float>() + M);
    k->w_dims_ = W->dims();
    k->per_ = per;
    std::vector<int8_t> wq;
    quantize_weights_per_channel(W->data<float>(), M, per, &wq, &k->s_w_);
    k->has_product_ = M > 0 && per > 0;
    const int64_t Mg = M / group;
    if (k->has_product_ && Mg >= kMinPackedRows) {
      k->packed_.resize(size_t(group));
      for (int64_t g = 0; g < group; g++)
        INT8RT_RETURN_IF_ERROR(qpack_a(wq.data() + g * Mg * per, per, Mg, per, &k->packed_[size_t(g)]));
    } else if (k->has_product_) {
      k->wq_ = std::move(wq);  // packed per group at run time (see kMinPackedRows)
    }
    k->label_ = "conv_s8_dynamic_" + qgemm_kernel_name();
    *out = std::move(k);
    return Status::OK();
  }

  std::string kernel_name() const override { return label_; }
  // W lives on quantized and packed, B as a float copy: only X and the residual are read.
  bool reads_input_data(size_t i) const override { return i == 0 || i == 3; }
  size_t weight_bytes() const override {
    size_t n = vector_bytes(packed_) + vector_bytes(wq_) + vector_bytes(s_w_) + vector_bytes(bias_);
    for (const QPackedA& p : packed_) n += vector_bytes(p.data) + vector_bytes(p.row_sums);
    return n;
  }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* X = ctx.input(0);
    if (!X) return Status(ErrorCode::kModel, node.describe() + ": required input 0 is missing");
    if (X->dtype() != DType::kFloat32)
      return dtype_error(node, "dynamic int8 Conv takes float32 X, got " + std::string(dtype_name(X->dtype())));
    conv_params::Geometry g;
    INT8RT_RETURN_IF_ERROR(conv_params::conv_geometry(node, attrs_, X->dims(), w_dims_, &g));
    Dims ydims{g.N, g.M};
    ydims.insert(ydims.end(), g.out.begin(), g.out.end());
    const Tensor* R = nullptr;
    if (has_residual_) {
      R = ctx.input(3);
      if (!R || R->dtype() != DType::kFloat32)
        return dtype_error(node, "the fused residual must be a float32 tensor");
      if (R->dims() != ydims)
        return shape_error(node, "the fused residual " + dims_str(R->dims()) + " must have the output shape " +
                                     dims_str(ydims));
    }
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kFloat32, ydims, &Y));
    const int64_t total = Y->numel(), P = g.out_size;
    if (total == 0) return Status::OK();
    float* y = Y->data<float>();
    ThreadPool* pool = ctx.pool();
    const float amax = absmax_f32(pool, X->data<float>(), X->numel());
    const int64_t Kg = g.C / g.group * g.k_size;
    if (!std::isfinite(amax)) {
      std::fill(y, y + total, std::numeric_limits<float>::quiet_NaN());
      return Status::OK();
    }
    const float* r = R ? R->data<float>() : nullptr;
    if (amax == 0.f || Kg == 0 || !has_product_) {  // the product is 0: bias, residual, activation
      parallel_for(pool, g.N * g.M, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; i++) {
          const float bias = bias_.empty() ? 0.f : bias_[size_t(i % g.M)];
          for (int64_t j = 0; j < P; j++) y[i * P + j] = clampf(r ? bias + r[i * P + j] : bias, lo_, hi_);
        }
      });
      return Status::OK();
    }
    const float s_x = amax / 127.f;
    int8_t* xq = nullptr;
    float* multiplier = nullptr;
    int32_t* qbias = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(X->numel()), reinterpret_cast<void**>(&xq)));
    INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(g.M) * sizeof(float), reinterpret_cast<void**>(&multiplier)));
    INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(g.M) * sizeof(int32_t), reinterpret_cast<void**>(&qbias)));
    quantize_f32_s8(pool, X->data<float>(), X->numel(), s_x, xq);
    dynamic_epilogue(s_x, s_w_, bias_, per_, multiplier, qbias);
    INT8RT_RETURN_IF_ERROR(gemm_conv(ctx, g, xq, multiplier, qbias, y));
    if (r) {  // residual and activation in float, after the product
      parallel_for(total >= (int64_t(1) << 15) ? pool : nullptr, total, int64_t(1) << 14, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; i++) y[i] = clampf(y[i] + r[i], lo_, hi_);
      });
    }
    return Status::OK();
  }

 private:
  Status gemm_conv(OpContext& ctx, const conv_params::Geometry& g, const int8_t* x, const float* multiplier,
                   const int32_t* qbias, float* y) const {
    const int64_t G = g.group, Cg = g.C / G, Mg = g.M / G, Kg = Cg * g.k_size, P = g.out_size;
    ThreadPool* pool = ctx.pool();
    bool pointwise = true;  // 1x1, stride 1, no padding: the quantized input planes are the GEMM's B as they are
    for (int i = 0; i < g.nsp; i++)
      pointwise = pointwise && g.k[i] == 1 && g.s[i] == 1 && g.pb[i] == 0 && g.pe[i] == 0;
    const bool fast2d = g.nsp <= 2;
    const conv_params::Patch2d p2 = fast2d ? conv_params::make_patch2d(g) : conv_params::Patch2d();
    const conv_params::PatchNd pn = fast2d ? conv_params::PatchNd() : conv_params::make_patch_nd(g);
    const int64_t nt = conv_params::tile_cols(Kg, P, 1, 256 << 10), ntiles = ceil_div(P, nt);
    const int64_t items = g.N * G * ntiles;
    const int threads = pool->num_threads();
    const bool tile_parallel = threads > 1 && items >= 2 * threads;
    const int tasks = tile_parallel ? threads : 1;
    int8_t* scratch = nullptr;
    if (!pointwise)
      INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(tasks) * size_t(Kg * nt), reinterpret_cast<void**>(&scratch)));
    ThreadPool* inner = tile_parallel ? nullptr : pool;
    // Residuals are added afterwards in float; without one the activation is qgemm's float clamp.
    const float fmin = has_residual_ ? -INFINITY : lo_, fmax = has_residual_ ? INFINITY : hi_;
    // Weights kept unpacked (few rows per group): each task packs the group it works on, once per run of items of
    // that group (items of one group are consecutive). qpack_a only fails when out of memory.
    std::vector<QPackedA> task_packed(packed_.empty() ? size_t(tasks) : 0);
    std::vector<int64_t> task_group(task_packed.size(), -1);
    std::vector<Status> task_status(task_packed.size());
    conv_params::run_items(pool, tasks, items, tile_parallel, [&](int64_t item, int64_t task) {
      const int64_t t = item % ntiles, ng = item / ntiles, n = ng / G, gi = ng % G;
      const QPackedA* a = nullptr;
      if (packed_.empty()) {
        const size_t ti = size_t(task);
        if (!task_status[ti].ok()) return;
        if (task_group[ti] != gi) {
          task_status[ti] = qpack_a(wq_.data() + gi * Mg * per_, per_, Mg, per_, &task_packed[ti]);
          if (!task_status[ti].ok()) return;
          task_group[ti] = gi;
        }
        a = &task_packed[ti];
      } else {
        a = &packed_[size_t(gi)];
      }
      const int64_t p0 = t * nt, p1 = std::min(P, p0 + nt), ncols = p1 - p0;
      const int8_t* xg = x + (n * g.C + gi * Cg) * g.in_size;
      const int8_t* b = xg + p0;
      int64_t ldb = P;
      if (!pointwise) {
        int8_t* col = scratch + task * Kg * nt;
        const int64_t grain = std::max<int64_t>(1, 16384 / ncols);
        parallel_for(inner, Kg, grain, [&](int64_t r0, int64_t r1) {
          if (fast2d)
            conv_params::im2col_2d(p2, xg, r0, r1, p0, p1, col + r0 * ncols);
          else
            conv_params::im2col_nd(pn, xg, r0, r1, p0, p1, col + r0 * ncols);
        });
        b = col;
        ldb = ncols;
      }
      QEpilogue ep;
      ep.bias = qbias + gi * Mg;
      ep.multiplier = multiplier + gi * Mg;
      ep.fmin = fmin;
      ep.fmax = fmax;
      qgemm_s8_f32(*a, ncols, b, ldb, y + (n * g.M + gi * Mg) * P + p0, P, ep, inner);
    });
    for (const Status& st : task_status) INT8RT_RETURN_IF_ERROR(st);
    return Status::OK();
  }

  conv_params::ConvAttrs attrs_;
  Dims w_dims_;
  int64_t per_ = 0;                // C/group * taps: the GEMM depth
  bool has_residual_ = false;
  // Groups of fewer than kMinPackedRows output channels (depthwise: one) are not packed at build: a packing rounds
  // its rows up to the microkernel's panel height (6 or 8) and adds a pad, which for a depthwise 3x3 makes ~100 bytes
  // of 9 weights, more than the float weights. Those keep their int8 weights in wq_ and are packed per run.
  static constexpr int64_t kMinPackedRows = 8;
  bool has_product_ = false;       // M > 0 and per_ > 0
  std::vector<QPackedA> packed_;   // quantized weights packed per group (groups of >= kMinPackedRows channels)
  std::vector<int8_t> wq_;         // otherwise: quantized weights [M, per_], packed per run
  std::vector<float> s_w_;         // [M] weight scales
  std::vector<float> bias_;        // [M] float bias (empty: none)
  float lo_ = -INFINITY, hi_ = INFINITY;
  std::string label_;
};

// ---------------------------------------------------------------------------------------------------------------
// Gemm and MatMul

void transpose_f32(ThreadPool* pool, const float* src, int64_t rows, int64_t cols, float* dst) {
  constexpr int64_t kBlock = 32;
  const int64_t blocks = ceil_div(cols, kBlock);
  parallel_for(rows * cols >= (int64_t(1) << 15) ? pool : nullptr, blocks, 1, [&](int64_t b, int64_t e) {
    for (int64_t cb = b; cb < e; cb++) {
      const int64_t c0 = cb * kBlock, c1 = std::min(cols, c0 + kBlock);
      for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
        const int64_t r1 = std::min(rows, r0 + kBlock);
        for (int64_t c = c0; c < c1; c++)
          for (int64_t r = r0; r < r1; r++) dst[c * rows + r] = src[r * cols + c];
      }
    }
  });
}

Status float_input(const OpContext& ctx, size_t i, const Tensor** out) {
  const Tensor* t = ctx.input(i);
  if (!t)
    return Status(ErrorCode::kModel, ctx.node().describe() + ": required input " + std::to_string(i) + " is missing");
  if (t->dtype() != DType::kFloat32)
    return dtype_error(ctx.node(), "dynamic int8 kernel takes float32 input " + std::to_string(i) + ", got " +
                                       dtype_name(t->dtype()));
  *out = t;
  return Status::OK();
}

// y[M, N] = x[M, K] * W + bias, W quantized per output column n as Wt[N, K]; the Gemm and MatMul shells around it
// are ops/int8_linear_kernels.h's.
class LinearDyn {
 public:
  using Elem = float;
  static constexpr const char* kPrecision = "dynamic int8";
  static constexpr const char* kKernelTag = "s8_dynamic";
  static Status input(const OpContext& ctx, size_t i, const Tensor** out) { return float_input(ctx, i, out); }

  Status init(const NodeDef& node, const std::vector<float>& wt, std::vector<float> bias, int64_t N, int64_t K) {
    INT8RT_RETURN_IF_ERROR(float_activation_bounds(node, &lo_, &hi_));
    N_ = N;
    K_ = K;
    bias_ = std::move(bias);
    std::vector<int8_t> q;
    quantize_weights_per_channel(wt.data(), N, K, &q, &s_w_);
    if (N > 0 && K > 0) INT8RT_RETURN_IF_ERROR(qpack_a(q.data(), K, N, K, &packed_));
    return Status::OK();
  }

  size_t bytes() const {
    return vector_bytes(packed_.data) + vector_bytes(packed_.row_sums) + vector_bytes(s_w_) + vector_bytes(bias_);
  }

  Status run(OpContext& ctx, const float* x, int64_t M, float* y) const {
    const int64_t N = N_, K = K_;
    if (M == 0 || N == 0) return Status::OK();
    ThreadPool* pool = ctx.pool();
    const float amax = absmax_f32(pool, x, M * K);
    if (!std::isfinite(amax)) {
      std::fill(y, y + M * N, std::numeric_limits<float>::quiet_NaN());
      return Status::OK();
    }
    if (amax == 0.f || K == 0) {
      for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) y[m * N + n] = clampf(bias_.empty() ? 0.f : bias_[size_t(n)], lo_, hi_);
      return Status::OK();
    }
    const float s_x = amax / 127.f;
    int8_t* xq = nullptr;
    float* multiplier = nullptr;
    int32_t* qbias = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(M * K), reinterpret_cast<void**>(&xq)));
    INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(N) * sizeof(float), reinterpret_cast<void**>(&multiplier)));
    INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(N) * sizeof(int32_t), reinterpret_cast<void**>(&qbias)));
    quantize_f32_s8(pool, x, M * K, s_x, xq);
    dynamic_epilogue(s_x, s_w_, bias_, K, multiplier, qbias);
    QEpilogue ep;
    ep.bias = qbias;
    ep.multiplier = multiplier;
    ep.fmin = lo_;
    ep.fmax = hi_;
    if (M == 1) {
      qgemm_s8_f32(packed_, 1, xq, 1, y, 1, ep, pool);
      return Status::OK();
    }
    int8_t* xt = nullptr;
    float* yt = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(K * M), reinterpret_cast<void**>(&xt)));
    INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(N * M) * sizeof(float), reinterpret_cast<void**>(&yt)));
    transpose_s8(xq, K, xt, M, M, K);
    qgemm_s8_f32(packed_, M, xt, M, yt, M, ep, pool);
    transpose_f32(pool, yt, N, M, y);
    return Status::OK();
  }

 private:
  int64_t N_ = 0, K_ = 0;
  QPackedA packed_;
  std::vector<float> s_w_, bias_;
  float lo_ = -INFINITY, hi_ = INFINITY;
};

}  // namespace

Status make_conv_dynamic(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return ConvDynKernel::create(info, out);
}
Status make_gemm_dynamic(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return LinearOpKernel<LinearDyn, LinearOp::kGemm>::create(info, out);
}
Status make_matmul_dynamic(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return LinearOpKernel<LinearDyn, LinearOp::kMatMul>::create(info, out);
}

}  // namespace int8ops
}  // namespace int8rt
