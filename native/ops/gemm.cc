// Gemm and MatMul on the SGEMM engine (kernels/sgemm.h).
//
// Gemm (opset 1+): Y[M,N] = alpha * op(A) * op(B) + beta * C, C unidirectionally broadcast to [M,N] (scalar, [N],
// [1,N], [M,1], [M,N]; optional from opset 11). The C term rides on the GEMM epilogue: a row vector becomes
// bias_col, a column vector bias_row, a full matrix the residual; beta is applied once in the factory when C is a
// constant. A constant B is packed once in the factory, with alpha folded into it.
//
// MatMul (opset 1+): numpy matmul. 1-D operands are promoted ([K] -> [1,K] for A, [K,1] for B) and the added dim
// dropped from the result; leading (batch) dims broadcast. When B has no batch dims, A's batch dims fold into M and
// the whole product is one GEMM (the common "activations x weights" case, with B packed once when constant).
// Otherwise each batch is its own GEMM; many small ones run in parallel across batches, large ones one after the
// other with the threads inside.
//
// float32 runs on the engine; float16 converts to float32 around it; float64 and (MatMul) the integer types use a
// plain loop. A fused Relu/Clip (node attribute "__activation", as graph passes set it) becomes the clamp.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/sgemm.h"
#include "ops/fused_clamp.h"
#include "ops/matmul_shape.h"
#include "ops/registry.h"

namespace int8rt {
namespace {

// Below this many multiply-adds per product, batched MatMul parallelises across batches instead of inside each.
constexpr double kSmallProductMacs = double(1 << 21);

std::string dims_of(const Tensor& t) { return dims_str(t.dims()); }

Status parse_bool_attr(const NodeDef& node, const char* name, bool* out) {
  const int64_t v = node.attr_int(name, 0);
  if (v != 0 && v != 1) return shape_error(node, std::string(name) + " must be 0 or 1, got " + std::to_string(v));
  *out = v != 0;
  return Status::OK();
}

// The fused activation a graph pass may attach; only clamps can ride on the GEMM epilogue.
Status parse_fused_clamp(const NodeDef& node, float* lo, float* hi) {
  return fused_clamp_bounds(node, "float " + node.op_type, lo, hi);
}

Status half_to_float_scratch(OpContext& ctx, const Tensor& t, float** out) {
  void* p = nullptr;
  INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(std::max<int64_t>(t.numel(), 1)) * sizeof(float), &p));
  float* f = static_cast<float*>(p);
  const uint16_t* h = t.data<uint16_t>();
  for (int64_t i = 0; i < t.numel(); i++) f[i] = half_to_float(h[i]);
  *out = f;
  return Status::OK();
}

std::vector<float> half_to_float_vector(const Tensor& t) {
  std::vector<float> f(size_t(t.numel()));
  const uint16_t* h = t.data<uint16_t>();
  for (size_t i = 0; i < f.size(); i++) f[i] = half_to_float(h[i]);
  return f;
}

// The float32 views the engine works on: A, B and Y themselves, or for float16 float32 copies of A and (when
// `convert_b`; b stays null otherwise) B in scratch and a float32 Y in scratch, which store_half_output converts back.
struct FloatOperands {
  const float* a = nullptr;
  const float* b = nullptr;
  float* y = nullptr;
};

Status float_operands(OpContext& ctx, const Tensor& A, const Tensor& B, bool half, bool convert_b, Tensor* Y,
                      FloatOperands* f) {
  if (!half) {
    f->a = A.data<float>();
    f->b = B.data<float>();
    f->y = Y->data<float>();
    return Status::OK();
  }
  float* t = nullptr;
  INT8RT_RETURN_IF_ERROR(half_to_float_scratch(ctx, A, &t));
  f->a = t;
  if (convert_b) {
    INT8RT_RETURN_IF_ERROR(half_to_float_scratch(ctx, B, &t));
    f->b = t;
  }
  void* p = nullptr;
  INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(Y->numel()) * sizeof(float), &p));
  f->y = static_cast<float*>(p);
  return Status::OK();
}

// Y (float16) from the float32 result float_operands staged.
void store_half_output(const float* y, Tensor* Y) {
  uint16_t* yh = Y->data<uint16_t>();
  const int64_t n = Y->numel();
  for (int64_t i = 0; i < n; i++) yh[i] = float_to_half(y[i]);
}

// A constant B (float32, K x N as op(B)) packed once. `__fp16_weights` (set by the engine for precision 'fp16'):
// stored as binary16, computed in float32.
Status pack_constant_b(const NodeDef& node, const float* b, int64_t ldb, bool trans, int64_t K, int64_t N,
                       PackedB* out) {
  const bool half = node.attr_int("__fp16_weights", 0) != 0;
  return pack_b(b, ldb, trans, K, N, out, half);
}

// "<op>_fp32_[packed_b_]<engine>", or "<op>_fp16w_packed_b_<engine>" when B is packed as binary16.
std::string sgemm_op_kernel_name(const char* op, bool has_packed_b, const PackedB& packed_b) {
  if (has_packed_b && packed_b.half) return std::string(op) + "_fp16w_packed_b_" + sgemm_kernel_name();
  return std::string(op) + "_fp32_" + (has_packed_b ? "packed_b_" : "") + sgemm_kernel_name();
}

// Plain-loop product for the element types the engine does not cover: Y[M,N] = op(A) * op(B).
template <typename T>
void matmul_loop(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb,
                 T* Y, int64_t ldy) {
  for (int64_t m = 0; m < M; m++) {
    T* y = Y + m * ldy;
    if (!tb) {
      for (int64_t n = 0; n < N; n++) y[n] = T(0);
      for (int64_t k = 0; k < K; k++) {
        const T a = ta ? A[k * lda + m] : A[m * lda + k];
        const T* b = B + k * ldb;
        for (int64_t n = 0; n < N; n++) y[n] += a * b[n];
      }
    } else {
      for (int64_t n = 0; n < N; n++) {
        T acc = T(0);
        for (int64_t k = 0; k < K; k++) acc += (ta ? A[k * lda + m] : A[m * lda + k]) * B[n * ldb + k];
        y[n] = acc;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Gemm

// How C maps onto [M,N]: element (m, n) is C[m * stride_m + n * stride_n] (a stride is 0 along a broadcast dim).
struct CLayout {
  int64_t stride_m = 0, stride_n = 0;
};

Status c_layout(const NodeDef& node, const Tensor& C, int64_t M, int64_t N, bool strict, CLayout* out) {
  if (C.rank() > 2) return shape_error(node, "C must have rank <= 2, got " + dims_of(C));
  const int64_t rows = C.rank() == 2 ? C.dim(0) : 1;
  const int64_t cols = C.rank() >= 1 ? C.dim(C.rank() - 1) : 1;
  const bool ok = strict ? (C.rank() == 2 && rows == M && cols == N)
                         : ((rows == 1 || rows == M) && (cols == 1 || cols == N));
  if (!ok)
    return shape_error(node, "C " + dims_of(C) + " cannot be broadcast to [" + std::to_string(M) + "," +
                                 std::to_string(N) + "]");
  out->stride_m = rows == 1 ? 0 : cols;
  out->stride_n = cols == 1 ? 0 : 1;
  return Status::OK();
}

class GemmKernel final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    std::unique_ptr<GemmKernel> k(new GemmKernel());
    INT8RT_RETURN_IF_ERROR(parse_bool_attr(node, "transA", &k->trans_a_));
    INT8RT_RETURN_IF_ERROR(parse_bool_attr(node, "transB", &k->trans_b_));
    k->alpha_ = node.attr_float("alpha", 1.f);
    k->beta_ = node.attr_float("beta", 1.f);
    // Gemm-1..6: C is required and only broadcast when broadcast=1.
    if (info.opset() < 7) {
      bool bc = false;
      INT8RT_RETURN_IF_ERROR(parse_bool_attr(node, "broadcast", &bc));
      k->strict_c_ = !bc;
    }
    INT8RT_RETURN_IF_ERROR(parse_fused_clamp(node, &k->lo_, &k->hi_));
    if (!info.has_input(0) || !info.has_input(1)) return shape_error(node, "inputs A and B are required");
    if (info.opset() < 11 && !info.has_input(2)) return shape_error(node, "input C is required before opset 11");

    // A constant 2-D float B: packed once, alpha folded in.
    const Tensor* B = info.constant_input(1);
    if (B && B->rank() == 2 && (B->dtype() == DType::kFloat32 || B->dtype() == DType::kFloat16)) {
      std::vector<float> scaled;
      const float* b = B->data<float>();
      if (B->dtype() == DType::kFloat16 || k->alpha_ != 1.f) {
        scaled = B->dtype() == DType::kFloat16 ? half_to_float_vector(*B)
                                               : std::vector<float>(b, b + B->numel());
        for (auto& v : scaled) v *= k->alpha_;
        b = scaled.data();
      }
      const int64_t Kb = k->trans_b_ ? B->dim(1) : B->dim(0), N = k->trans_b_ ? B->dim(0) : B->dim(1);
      INT8RT_RETURN_IF_ERROR(pack_constant_b(node, b, B->dim(1), k->trans_b_, Kb, N, &k->packed_b_));
      k->packed_dtype_ = B->dtype();
      k->has_packed_b_ = true;
    }
    // A constant float C: beta applied once.
    const Tensor* C = info.has_input(2) ? info.constant_input(2) : nullptr;
    if (C && k->beta_ != 0.f && (C->dtype() == DType::kFloat32 || C->dtype() == DType::kFloat16)) {
      k->c_scaled_ = C->dtype() == DType::kFloat16
                         ? half_to_float_vector(*C)
                         : std::vector<float>(C->data<float>(), C->data<float>() + C->numel());
      for (auto& v : k->c_scaled_) v *= k->beta_;
      k->c_dtype_ = C->dtype();
      k->c_dims_ = C->dims();
      k->has_c_scaled_ = true;
    }
    *out = std::move(k);
    return Status::OK();
  }

  std::string kernel_name() const override { return sgemm_op_kernel_name("gemm", has_packed_b_, packed_b_); }
  // A constant B is read only through its packing, a constant C only as beta * C (or not at all when beta is 0).
  bool reads_input_data(size_t i) const override {
    if (i == 1) return !has_packed_b_;
    if (i == 2) return !(has_c_scaled_ || beta_ == 0.f);
    return true;
  }
  size_t weight_bytes() const override {
    return vector_bytes(packed_b_.data) + vector_bytes(packed_b_.half_data) + vector_bytes(c_scaled_);
  }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* A = ctx.input(0);
    const Tensor* B = ctx.input(1);
    const Tensor* C = ctx.input(2);
    if (!A || !B) return shape_error(node, "inputs A and B are required");
    const DType dt = A->dtype();
    if (B->dtype() != dt || (C && C->dtype() != dt))
      return dtype_error(node, std::string("A, B and C must share one element type, got ") + dtype_name(dt) + ", " +
                                   dtype_name(B->dtype()) + (C ? std::string(", ") + dtype_name(C->dtype()) : ""));
    if (dt != DType::kFloat32 && dt != DType::kFloat16 && dt != DType::kFloat64)
      return dtype_error(node, std::string("element type ") + dtype_name(dt) + " is not supported");
    if (A->rank() != 2 || B->rank() != 2)
      return shape_error(node, "A and B must be 2-D, got " + dims_of(*A) + " and " + dims_of(*B));
    const int64_t M = trans_a_ ? A->dim(1) : A->dim(0), K = trans_a_ ? A->dim(0) : A->dim(1);
    const int64_t Kb = trans_b_ ? B->dim(1) : B->dim(0), N = trans_b_ ? B->dim(0) : B->dim(1);
    if (K != Kb)
      return shape_error(node, "inner dimensions differ: op(A) is [" + std::to_string(M) + "," + std::to_string(K) +
                                   "], op(B) is [" + std::to_string(Kb) + "," + std::to_string(N) + "]");
    CLayout cl;
    const bool use_c = C && beta_ != 0.f;  // as onnxruntime: beta == 0 ignores C (even NaN/Inf in it)
    if (C) INT8RT_RETURN_IF_ERROR(c_layout(node, *C, M, N, strict_c_, &cl));
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, dt, {M, N}, &Y));
    if (M == 0 || N == 0) return Status::OK();

    if (dt == DType::kFloat64) {
      double* y = Y->data<double>();
      matmul_loop<double>(trans_a_, trans_b_, M, N, K, A->data<double>(), A->dim(1), B->data<double>(), B->dim(1), y,
                          N);
      const double* c = use_c ? C->data<double>() : nullptr;
      for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
          double v = double(alpha_) * y[m * N + n];
          if (c) v += double(beta_) * c[m * cl.stride_m + n * cl.stride_n];
          y[m * N + n] = std::min(std::max(v, double(lo_)), double(hi_));
        }
      return Status::OK();
    }

    const bool half = dt == DType::kFloat16;
    FloatOperands f;
    INT8RT_RETURN_IF_ERROR(float_operands(ctx, *A, *B, half, !has_packed_b_, Y, &f));
    const float *a = f.a, *b = f.b, *c = nullptr;
    float* y = f.y;

    // The C term as epilogue fields, beta applied.
    GemmEpilogue ep;
    ep.clip_min = lo_;
    ep.clip_max = hi_;
    if (use_c) {
      const bool pre = has_c_scaled_ && c_dims_ == C->dims() && c_dtype_ == dt;
      const int64_t cn = C->numel();
      if (pre) {
        c = c_scaled_.data();
      } else {
        void* p = nullptr;
        INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(cn) * sizeof(float), &p));
        float* t = static_cast<float*>(p);
        for (int64_t i = 0; i < cn; i++) t[i] = beta_ * (half ? half_to_float(C->data<uint16_t>()[i]) : C->data<float>()[i]);
        c = t;
      }
      if (cl.stride_m == 0 && cl.stride_n == 0) {  // one value: spread along the columns
        void* p = nullptr;
        INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(N) * sizeof(float), &p));
        float* t = static_cast<float*>(p);
        std::fill(t, t + N, c[0]);
        ep.bias_col = t;
      } else if (cl.stride_m == 0) {
        ep.bias_col = c;
      } else if (cl.stride_n == 0) {
        ep.bias_row = c;
      } else {
        ep.residual = c;
        ep.ldr = N;
      }
    }

    ThreadPool* pool = ctx.pool();
    if (has_packed_b_ && packed_dtype_ == dt && packed_b_.K == K && packed_b_.N == N) {
      sgemm_packed_b(M, a, A->dim(1), trans_a_, packed_b_, y, N, ep, pool);
    } else {
      if (!b) {  // float16 with a packing that does not match this B (cannot happen for a constant B)
        float* t = nullptr;
        INT8RT_RETURN_IF_ERROR(half_to_float_scratch(ctx, *B, &t));
        b = t;
      }
      sgemm(trans_a_, trans_b_, M, N, K, alpha_, a, A->dim(1), b, B->dim(1), 0.f, y, N, ep, pool);
    }
    if (half) store_half_output(y, Y);
    return Status::OK();
  }

 private:
  bool trans_a_ = false, trans_b_ = false, strict_c_ = false;
  float alpha_ = 1.f, beta_ = 1.f;
  float lo_ = -INFINITY, hi_ = INFINITY;
  bool has_packed_b_ = false;
  DType packed_dtype_ = DType::kUndefined;
  PackedB packed_b_;  // alpha * op(B)
  bool has_c_scaled_ = false;
  DType c_dtype_ = DType::kUndefined;
  Dims c_dims_;
  std::vector<float> c_scaled_;  // beta * C
};

// ---------------------------------------------------------------------------------------------------------------
// MatMul

struct MatMulPlan {
  Dims out;
  int64_t M = 0, N = 0, K = 0;
  int64_t batch = 1;                 // number of [M,N] products (1 when A's batch dims fold into M)
  std::vector<int64_t> a_off, b_off;  // per product, element offsets into A and B
};

Status plan_matmul(const NodeDef& node, const Dims& ad, const Dims& bd, MatMulPlan* p) {
  MatMulShape sh;
  INT8RT_RETURN_IF_ERROR(matmul_shape(node, ad, bd, &sh));
  const Dims &ab = sh.a_batch, &bb = sh.b_batch, &ob = sh.batch;
  const size_t rank = ob.size();
  p->out = sh.out;
  p->M = sh.M;
  p->N = sh.N;
  p->K = sh.K;
  if (bb.empty()) {  // B shared by every batch: one GEMM with A's batch folded into M (A is contiguous)
    int64_t fold = 1;
    for (int64_t d : ab) fold *= d;
    p->M = sh.M * fold;
    p->batch = 1;
    p->a_off = {0};
    p->b_off = {0};
    return Status::OK();
  }
  int64_t batch = 1;
  for (int64_t d : ob) batch *= d;
  p->batch = batch;
  p->a_off.assign(size_t(batch), 0);
  p->b_off.assign(size_t(batch), 0);
  if (batch == 0) return Status::OK();
  const std::vector<int64_t>& as = sh.a_strides;
  const std::vector<int64_t>& bs = sh.b_strides;
  std::vector<int64_t> idx(rank, 0);
  int64_t ao = 0, bo = 0;
  for (int64_t q = 0; q < batch; q++) {
    p->a_off[size_t(q)] = ao;
    p->b_off[size_t(q)] = bo;
    for (size_t i = rank; i-- > 0;) {  // odometer increment
      ao += as[i];
      bo += bs[i];
      if (++idx[i] < ob[i]) break;
      ao -= as[i] * ob[i];
      bo -= bs[i] * ob[i];
      idx[i] = 0;
    }
  }
  return Status::OK();
}

template <typename T>
Status matmul_typed_loop(const MatMulPlan& p, const Tensor& A, const Tensor& B, Tensor* Y, ThreadPool* pool) {
  const T* a = A.data<T>();
  const T* b = B.data<T>();
  T* y = Y->data<T>();
  const int64_t M = p.M, N = p.N, K = p.K;
  parallel_for(pool, p.batch * M, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, N * K)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const int64_t q = r / M, m = r % M;
      matmul_loop<T>(false, false, 1, N, K, a + p.a_off[size_t(q)] + m * K, K, b + p.b_off[size_t(q)], N,
                     y + (q * M + m) * N, N);
    }
  });
  return Status::OK();
}

class MatMulKernel final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    std::unique_ptr<MatMulKernel> k(new MatMulKernel());
    INT8RT_RETURN_IF_ERROR(parse_fused_clamp(node, &k->lo_, &k->hi_));
    if (!info.has_input(0) || !info.has_input(1)) return shape_error(node, "inputs A and B are required");
    const Tensor* B = info.constant_input(1);
    if (B && B->rank() >= 1 && B->rank() <= 2 && (B->dtype() == DType::kFloat32 || B->dtype() == DType::kFloat16)) {
      std::vector<float> converted;
      const float* b = B->data<float>();
      if (B->dtype() == DType::kFloat16) {
        converted = half_to_float_vector(*B);
        b = converted.data();
      }
      const int64_t K = B->dim(0), N = B->rank() == 2 ? B->dim(1) : 1;
      INT8RT_RETURN_IF_ERROR(pack_constant_b(node, b, N, false, K, N, &k->packed_b_));
      k->packed_dims_ = B->dims();
      k->packed_dtype_ = B->dtype();
      k->has_packed_b_ = true;
    }
    *out = std::move(k);
    return Status::OK();
  }

  std::string kernel_name() const override { return sgemm_op_kernel_name("matmul", has_packed_b_, packed_b_); }
  bool reads_input_data(size_t i) const override { return i != 1 || !has_packed_b_; }
  size_t weight_bytes() const override { return vector_bytes(packed_b_.data) + vector_bytes(packed_b_.half_data); }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* A = ctx.input(0);
    const Tensor* B = ctx.input(1);
    if (!A || !B) return shape_error(node, "inputs A and B are required");
    const DType dt = A->dtype();
    if (B->dtype() != dt)
      return dtype_error(node, std::string("A and B must share one element type, got ") + dtype_name(dt) + " and " +
                                   dtype_name(B->dtype()));
    MatMulPlan p;
    INT8RT_RETURN_IF_ERROR(plan_matmul(node, A->dims(), B->dims(), &p));
    const bool clamp = !(lo_ == -INFINITY && hi_ == INFINITY);
    if (dt != DType::kFloat32 && dt != DType::kFloat16 && clamp)
      return unsupported(node, "a fused activation needs float input");
    switch (dt) {
      case DType::kFloat32:
      case DType::kFloat16: break;
      case DType::kFloat64:
      case DType::kInt32:
      case DType::kInt64:
      case DType::kUint32:
      case DType::kUint64: {
        Tensor* Y = nullptr;
        INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, dt, p.out, &Y));
        if (Y->numel() == 0) return Status::OK();
        if (dt == DType::kFloat64) return matmul_typed_loop<double>(p, *A, *B, Y, ctx.pool());
        if (dt == DType::kInt32) return matmul_typed_loop<int32_t>(p, *A, *B, Y, ctx.pool());
        if (dt == DType::kInt64) return matmul_typed_loop<int64_t>(p, *A, *B, Y, ctx.pool());
        if (dt == DType::kUint32) return matmul_typed_loop<uint32_t>(p, *A, *B, Y, ctx.pool());
        return matmul_typed_loop<uint64_t>(p, *A, *B, Y, ctx.pool());
      }
      default:
        return dtype_error(node, std::string("element type ") + dtype_name(dt) + " is not supported");
    }

    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, dt, p.out, &Y));
    const int64_t total = Y->numel();
    if (total == 0) return Status::OK();
    const bool half = dt == DType::kFloat16;
    const bool packed = has_packed_b_ && packed_dtype_ == dt && packed_dims_ == B->dims();
    FloatOperands f;
    INT8RT_RETURN_IF_ERROR(float_operands(ctx, *A, *B, half, !packed, Y, &f));
    const float *a = f.a, *b = f.b;
    float* y = f.y;
    GemmEpilogue ep;
    ep.clip_min = lo_;
    ep.clip_max = hi_;
    const int64_t M = p.M, N = p.N, K = p.K;
    ThreadPool* pool = ctx.pool();
    if (packed) {
      sgemm_packed_b(M, a, K, false, packed_b_, y, N, ep, pool);
    } else if (p.batch == 1) {
      sgemm(false, false, M, N, K, 1.f, a + p.a_off[0], K, b + p.b_off[0], N, 0.f, y, N, ep, pool);
    } else if (double(M) * double(N) * double(K) < kSmallProductMacs && pool->num_threads() > 1) {
      const int64_t grain = std::max<int64_t>(1, int64_t(kSmallProductMacs / std::max(1.0, double(M) * N * K)) / 8);
      parallel_for(pool, p.batch, grain, [&](int64_t q0, int64_t q1) {
        for (int64_t q = q0; q < q1; q++)
          sgemm(false, false, M, N, K, 1.f, a + p.a_off[size_t(q)], K, b + p.b_off[size_t(q)], N, 0.f, y + q * M * N,
                N, ep, nullptr);
      });
    } else {
      for (int64_t q = 0; q < p.batch; q++)
        sgemm(false, false, M, N, K, 1.f, a + p.a_off[size_t(q)], K, b + p.b_off[size_t(q)], N, 0.f, y + q * M * N, N,
              ep, pool);
    }
    if (half) store_half_output(y, Y);
    return Status::OK();
  }

 private:
  float lo_ = -INFINITY, hi_ = INFINITY;
  bool has_packed_b_ = false;
  PackedB packed_b_;
  Dims packed_dims_;
  DType packed_dtype_ = DType::kUndefined;
};

Status create_gemm(const KernelInfo& info, std::unique_ptr<OpKernel>* out) { return GemmKernel::create(info, out); }
Status create_matmul(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return MatMulKernel::create(info, out);
}

}  // namespace

void register_gemm_ops(KernelRegistry& r) {
  r.add({"Gemm", "", 1, 0, Device::kCpu, Precision::kFp32, "gemm_fp32", &create_gemm});
  r.add({"MatMul", "", 1, 0, Device::kCpu, Precision::kFp32, "matmul_fp32", &create_matmul});
}

}  // namespace int8rt
