// QLinearMatMul, MatMulInteger (ONNX) and QGemm (onnxruntime's com.microsoft domain) on the exact int8 GEMM, with the
// zero-point arithmetic of ops/qlinear_common.h.
//
//   MatMulInteger  y[m,n] = sum_k (a[m,k] - za) (b[k,n] - zb[n])                     int32 (wraps mod 2^32)
//   QLinearMatMul  y[m,n] = saturate(rne((float)acc * ((s_a * s_b[n]) / s_y)) + z_y)
//   QGemm          acc    = the same sum + C[n] (int32, optional; ONNX Gemm's beta and C's scale already in it)
//                  y      = as QLinearMatMul with the multiplier ((alpha * s_a) * s_b[n]) / s_y, or, without y_scale,
//                           the float (float)acc * ((alpha * s_a) * s_b[n])
// numpy matmul shapes (1-D operands, broadcast batch dims) for the first two, 2-D for QGemm (transA = 0; transB
// either way). The QDQ import pass (quant/qdq_import.h) may add a fused Relu/Clip to the quantized ones: attribute
// __activation (with __clip_min / __clip_max), the output clamp of ops/qlinear_common.h. a and b are int8 or uint8 in any combination; their scale and zero point are per tensor, b's may be
// per output column (1-D, N values).
//
// Execution: qgemm's packed operand is B^T (one row per output column, so that per-column scales and zero points are
// per-row epilogue terms), packed once at build when B is a constant 2-D matrix, else per run and batch. The
// activations go in transposed, A^T [K, M] (no transpose when M = 1), and Y^T comes out. Where the exact int8
// epilogue applies (8-bit output with zero point 0 in the signed domain, no zero point left in B) qgemm requantizes and
// Y^T is transposed back; otherwise qgemm returns int32 sums and the general epilogue writes Y.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/qgemm.h"
#include "ops/int8_common.h"
#include "ops/qlinear_common.h"

namespace int8rt {
namespace qlinear {
namespace {

enum class MatKind { kQLinearMatMul, kMatMulInteger, kQGemm };

struct Slots {
  size_t a, a_scale, a_zero, b, b_scale, b_zero, c, y_scale, y_zero;
};
constexpr size_t kNone = size_t(-1);
constexpr Slots kQLinearSlots{0, 1, 2, 3, 4, 5, kNone, 6, 7};
constexpr Slots kIntegerSlots{0, kNone, 2, 1, kNone, 3, kNone, kNone, kNone};
constexpr Slots kQGemmSlots{0, 1, 2, 3, 4, 5, 6, 7, 8};

// B^T in qgemm's packed form, with what the epilogue needs from B.
struct MatWeights {
  int64_t K = 0, N = 0;
  std::vector<int32_t> zb;      // per column: the zero point still to apply (0 once subtracted from the values)
  bool zb_left = false;
  std::vector<int32_t> colsum;  // per column: sum_k b[k,n] as packed
  QPackedA packed;

  size_t bytes() const {
    return vector_bytes(zb) + vector_bytes(colsum) + vector_bytes(packed.data) + vector_bytes(packed.row_sums);
  }
};

// b: K x N values (or N x K when `trans`), int8 or uint8; zero: absent, one value or N values of b's type.
Status prepare_matrix(const NodeDef& node, const void* b, DType type, int64_t K, int64_t N, bool trans,
                      const Tensor* zero, MatWeights* out) {
  if (!is_q8(type))
    return dtype_error(node, std::string("b has type ") + dtype_name(type) + "; int8 and uint8 are supported");
  std::vector<int32_t> z(size_t(N), type == DType::kUint8 ? -128 : 0);
  if (zero) {
    if (zero->dtype() != type)
      return dtype_error(node, std::string("the zero point of b has type ") + dtype_name(zero->dtype()) +
                                   ", not b's type " + dtype_name(type));
    const int64_t nz = zero->numel();
    if (nz != 1 && nz != N)
      return unsupported(node, "the zero point of b has shape " + dims_str(zero->dims()) +
                                   "; one value or one per column (" + std::to_string(N) + ") is supported");
    for (int64_t n = 0; n < N; n++) z[size_t(n)] = q8_at(zero->raw(), type, nz == 1 ? 0 : n);
  }
  MatWeights& w = *out;
  w.K = K;
  w.N = N;
  std::vector<int8_t> bt(size_t(N * K));  // B^T, signed domain
  for (int64_t n = 0; n < N; n++)
    for (int64_t k = 0; k < K; k++) bt[size_t(n * K + k)] = int8_t(q8_at(b, type, trans ? n * K + k : k * N + n));
  w.zb.assign(size_t(N), 0);
  w.colsum.assign(size_t(N), 0);
  w.zb_left = false;
  for (int64_t n = 0; n < N; n++) {
    int8_t* row = bt.data() + n * K;
    const int32_t zn = z[size_t(n)];
    bool fits = true;
    for (int64_t k = 0; k < K && fits; k++) fits = int32_t(row[k]) - zn >= -128 && int32_t(row[k]) - zn <= 127;
    if (fits) {
      for (int64_t k = 0; k < K; k++) row[k] = int8_t(int32_t(row[k]) - zn);
    } else {
      w.zb[size_t(n)] = zn;
      w.zb_left = true;
    }
    int32_t s = 0;
    for (int64_t k = 0; k < K; k++) s = wrap_add(s, row[k]);
    w.colsum[size_t(n)] = s;
  }
  w.packed = QPackedA();
  if (N > 0 && K > 0) INT8RT_RETURN_IF_ERROR(qpack_a(bt.data(), K, N, K, &w.packed));
  return Status::OK();
}

enum class OutType { kQ8, kS32, kF32 };

// One run's parameters besides B.
struct RunParams {
  DType a_type = DType::kInt8;
  int32_t za = 0;
  OutType out = OutType::kQ8;
  DType y_type = DType::kInt8;
  int32_t zy = 0, lo = -128, hi = 127;  // kQ8: the output bounds (signed domain) of a fused Relu/Clip
  std::vector<float> mult;   // per column (kQ8, kF32)
  const Tensor* c = nullptr; // QGemm's int32 bias, one value or N values
};

class QMatMulKernel final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, MatKind kind, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    std::unique_ptr<QMatMulKernel> k(new QMatMulKernel());
    k->kind_ = kind;
    k->slots_ = kind == MatKind::kQLinearMatMul ? kQLinearSlots
                : kind == MatKind::kMatMulInteger ? kIntegerSlots
                                                   : kQGemmSlots;
    const Slots& s = k->slots_;
    if (!info.has_input(s.a) || !info.has_input(s.b)) return shape_error(node, "inputs a and b are required");
    if (kind == MatKind::kQLinearMatMul)
      for (size_t i : {s.a_scale, s.a_zero, s.b_scale, s.b_zero, s.y_scale, s.y_zero})
        if (!info.has_input(i))
          return shape_error(node, "QLinearMatMul needs inputs a, a_scale, a_zero_point, b, b_scale, b_zero_point, "
                                   "y_scale and y_zero_point");
    if (kind == MatKind::kQGemm) {
      if (node.attr_int("transA", 0) != 0) return unsupported(node, "QGemm with transA = 1 is not supported");
      k->trans_b_ = node.attr_int("transB", 0) != 0;
      k->alpha_ = node.attr_float("alpha", 1.f);
      if (!std::isfinite(k->alpha_)) return unsupported(node, "QGemm needs a finite alpha");
      if (!info.has_input(s.a_scale) || !info.has_input(s.b_scale))
        return shape_error(node, "QGemm needs a_scale and b_scale");
      if (info.has_input(s.y_zero) && !info.has_input(s.y_scale))
        return shape_error(node, "QGemm has y_zero_point but no y_scale");
    }
    const Tensor* B = info.constant_input(s.b);
    const bool zb_known = !info.has_input(s.b_zero) || info.constant_input(s.b_zero);
    if (B && zb_known && B->rank() == 2) {
      const int64_t K = k->trans_b_ ? B->dim(1) : B->dim(0), N = k->trans_b_ ? B->dim(0) : B->dim(1);
      k->weights_.reset(new MatWeights());
      INT8RT_RETURN_IF_ERROR(prepare_matrix(node, B->raw(), B->dtype(), K, N, k->trans_b_,
                                            info.constant_input(s.b_zero), k->weights_.get()));
    }
    k->label_ = std::string(kind == MatKind::kQLinearMatMul   ? "qlinearmatmul_"
                            : kind == MatKind::kMatMulInteger ? "matmulinteger_"
                                                              : "qgemm_") +
                qgemm_kernel_name();
    *out = std::move(k);
    return Status::OK();
  }

  std::string kernel_name() const override { return label_; }
  bool reads_input_data(size_t i) const override { return !(weights_ && i == slots_.b); }
  size_t weight_bytes() const override { return weights_ ? weights_->bytes() : 0; }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Slots& s = slots_;
    const Tensor* A = ctx.input(s.a);
    const Tensor* B = ctx.input(s.b);
    if (!A || !B) return shape_error(node, "inputs a and b are required");
    if (!is_q8(A->dtype()))
      return dtype_error(node, std::string("a has type ") + dtype_name(A->dtype()) + "; int8 and uint8 are supported");
    if (!is_q8(B->dtype()))
      return dtype_error(node, std::string("b has type ") + dtype_name(B->dtype()) + "; int8 and uint8 are supported");
    // Shapes (numpy matmul; QGemm: 2-D).
    const Dims& ad = A->dims();
    const Dims& bd = B->dims();
    if (kind_ == MatKind::kQGemm && (ad.size() != 2 || bd.size() != 2))
      return shape_error(node, "QGemm needs 2-D a and b, got " + dims_str(ad) + " and " + dims_str(bd));
    if (ad.empty() || bd.empty()) return shape_error(node, "a and b must have rank >= 1");
    const int64_t K = ad.back();
    const int64_t M = ad.size() >= 2 ? ad[ad.size() - 2] : 1;
    const int64_t Kb = bd.size() >= 2 ? (trans_b_ ? bd.back() : bd[bd.size() - 2]) : bd[0];
    const int64_t N = bd.size() >= 2 ? (trans_b_ ? bd[bd.size() - 2] : bd.back()) : 1;
    if (Kb != K) return shape_error(node, "a " + dims_str(ad) + " and b " + dims_str(bd) + " do not multiply");
    const Dims abatch(ad.begin(), ad.end() - std::min<size_t>(ad.size(), 2));
    const Dims bbatch(bd.begin(), bd.end() - std::min<size_t>(bd.size(), 2));
    Dims batch;
    {
      const size_t r = std::max(abatch.size(), bbatch.size());
      batch.assign(r, 1);
      for (size_t i = 0; i < r; i++) {
        const int64_t x = i + abatch.size() >= r ? abatch[i + abatch.size() - r] : 1;
        const int64_t y = i + bbatch.size() >= r ? bbatch[i + bbatch.size() - r] : 1;
        if (x != y && x != 1 && y != 1)
          return shape_error(node, "the batch dims of a " + dims_str(ad) + " and b " + dims_str(bd) +
                                       " do not broadcast");
        batch[i] = x == 1 ? y : x;
      }
    }
    Dims ydims = batch;
    if (ad.size() >= 2) ydims.push_back(M);
    if (bd.size() >= 2) ydims.push_back(N);

    RunParams rp;
    INT8RT_RETURN_IF_ERROR(run_params(ctx, *A, *B, N, &rp));
    const DType yt = rp.out == OutType::kQ8 ? rp.y_type : rp.out == OutType::kS32 ? DType::kInt32 : DType::kFloat32;
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, yt, ydims, &Y));
    if (Y->numel() == 0) return Status::OK();
    const Tensor* bz = s.b_zero == kNone ? nullptr : ctx.input(s.b_zero);

    if (bbatch.empty()) {  // one B for every row of A: A's batch dims fold into M
      MatWeights local;
      const MatWeights* w = weights_.get();
      if (!w) {
        INT8RT_RETURN_IF_ERROR(prepare_matrix(node, B->raw(), B->dtype(), K, N, trans_b_, bz, &local));
        w = &local;
      }
      const int64_t rows = K > 0 ? A->numel() / K : dims_numel(abatch) * M;
      return gemm(ctx, *w, rp, A->raw(), rows, Y->raw());
    }
    // Batched B: one product per output batch index, operands found through broadcast strides.
    const int64_t nb = dims_numel(batch);
    std::vector<int64_t> astride(batch.size(), 0), bstride(batch.size(), 0);
    {
      int64_t sa = M * K, sb = K * N;
      for (size_t i = batch.size(); i-- > 0;) {
        const size_t ia = i + abatch.size() - batch.size(), ib = i + bbatch.size() - batch.size();
        const bool ha = i + abatch.size() >= batch.size(), hb = i + bbatch.size() >= batch.size();
        if (ha && abatch[ia] != 1) astride[i] = sa;
        if (hb && bbatch[ib] != 1) bstride[i] = sb;
        if (ha) sa *= abatch[ia];
        if (hb) sb *= bbatch[ib];
      }
    }
    const int64_t esz = 1;  // 8-bit operands
    const size_t ysz = dtype_size(yt);
    for (int64_t bi = 0; bi < nb; bi++) {
      int64_t rem = bi, aoff = 0, boff = 0;
      for (size_t i = batch.size(); i-- > 0;) {
        const int64_t idx = rem % batch[i];
        rem /= batch[i];
        aoff += idx * astride[i];
        boff += idx * bstride[i];
      }
      MatWeights w;
      INT8RT_RETURN_IF_ERROR(prepare_matrix(node, static_cast<const char*>(B->raw()) + boff * esz, B->dtype(), K, N,
                                            trans_b_, bz, &w));
      INT8RT_RETURN_IF_ERROR(gemm(ctx, w, rp, static_cast<const char*>(A->raw()) + aoff * esz, M,
                                  static_cast<char*>(Y->raw()) + size_t(bi * M * N) * ysz));
    }
    return Status::OK();
  }

 private:
  Status run_params(OpContext& ctx, const Tensor& A, const Tensor& B, int64_t N, RunParams* rp) const {
    const NodeDef& node = ctx.node();
    const Slots& s = slots_;
    rp->a_type = A.dtype();
    if (kind_ == MatKind::kMatMulInteger) {
      const Tensor* za = ctx.input(s.a_zero);
      if (za && za->numel() != 1)
        return unsupported(node, "a_zero_point has shape " + dims_str(za->dims()) +
                                     "; one value (per tensor) is supported");
      Tensor one;
      INT8RT_RETURN_IF_ERROR(Tensor::create(DType::kFloat32, {}, &one));
      one.data<float>()[0] = 1.f;
      QParam aq;
      INT8RT_RETURN_IF_ERROR(read_qparam(node, "a", A.dtype(), &one, za, 0, &aq));
      rp->za = aq.zero[0];
      rp->out = OutType::kS32;
      return Status::OK();
    }
    QParam aq, bq;
    INT8RT_RETURN_IF_ERROR(read_qparam(node, "a", A.dtype(), ctx.input(s.a_scale), ctx.input(s.a_zero), 0, &aq));
    INT8RT_RETURN_IF_ERROR(read_qparam(node, "b", B.dtype(), ctx.input(s.b_scale), nullptr, N, &bq));
    rp->za = aq.zero[0];
    const float sa = kind_ == MatKind::kQGemm && alpha_ != 1.f ? alpha_ * aq.scale[0] : aq.scale[0];
    rp->mult.resize(size_t(N));
    if (kind_ == MatKind::kQGemm) {
      rp->c = ctx.input(s.c);
      if (rp->c) {
        const Tensor& c = *rp->c;
        if (c.dtype() != DType::kInt32)
          return dtype_error(node, std::string("C has type ") + dtype_name(c.dtype()) + "; int32 is required");
        const bool ok = c.numel() == 1 || (c.numel() == N && (c.rank() == 1 || (c.rank() == 2 && c.dim(0) == 1)));
        if (!ok)
          return unsupported(node, "C has shape " + dims_str(c.dims()) + "; one value or one per column is supported");
      }
      if (!ctx.input(s.y_scale)) {
        rp->out = OutType::kF32;
        for (int64_t n = 0; n < N; n++) rp->mult[size_t(n)] = sa * bq.s(n);
        return Status::OK();
      }
    }
    const Tensor* yz = ctx.input(s.y_zero);
    QParam yq;
    // QGemm's y_zero_point is optional (uint8 0 when absent, as QuantizeLinear's default).
    INT8RT_RETURN_IF_ERROR(read_qparam(node, "y", yz ? yz->dtype() : DType::kUint8, ctx.input(s.y_scale), yz, 0, &yq));
    rp->out = OutType::kQ8;
    rp->y_type = yq.type;
    rp->zy = yq.zero[0];
    INT8RT_RETURN_IF_ERROR(activation_bounds(node, yq.scale[0], rp->zy, &rp->lo, &rp->hi));
    for (int64_t n = 0; n < N; n++) rp->mult[size_t(n)] = (sa * bq.s(n)) / yq.scale[0];
    return Status::OK();
  }

  // y[M, N] (Y's layout, element type of rp.out) = epilogue(a[M, K] * B) for one matrix of a.
  Status gemm(OpContext& ctx, const MatWeights& w, const RunParams& rp, const void* a, int64_t M, void* y) const {
    const int64_t K = w.K, N = w.N;
    if (M == 0 || N == 0) return Status::OK();
    ThreadPool* pool = ctx.pool();
    // offset[n] = C[n] - za * colsum[n] + K * za * zb[n]
    std::vector<int32_t> offset(static_cast<size_t>(N));
    for (int64_t n = 0; n < N; n++) {
      int32_t o = rp.c ? rp.c->data<int32_t>()[rp.c->numel() == 1 ? 0 : n] : 0;
      o = wrap_add(o, wrap_mul(-rp.za, w.colsum[size_t(n)]));
      o = wrap_add(o, wrap_mul(wrap_mul(int32_t(K), rp.za), w.zb[size_t(n)]));
      offset[size_t(n)] = o;
    }
    // A^T [K, M] in the signed domain (A itself when M = 1 and it is int8).
    const int8_t* at = static_cast<const int8_t*>(a);
    if (K > 0 && (M > 1 || rp.a_type == DType::kUint8)) {
      int8_t* buf = nullptr;
      INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(K * M), reinterpret_cast<void**>(&buf)));
      if (M > 1)
        transpose_parallel(pool, static_cast<const int8_t*>(a), K, buf, M, M, K);
      else
        std::memcpy(buf, a, size_t(K));
      if (rp.a_type == DType::kUint8) flip_sign_bits(buf, K * M);
      at = buf;
    }
    const bool fast = rp.out == OutType::kQ8 && rp.zy == 0 && !w.zb_left && K > 0;
    if (fast) {
      QEpilogue ep;
      ep.bias = offset.data();
      ep.multiplier = rp.mult.data();
      ep.qmin = rp.lo;
      ep.qmax = rp.hi;
      int8_t* out = static_cast<int8_t*>(y);
      int8_t* yt = out;
      if (M > 1) INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(N * M), reinterpret_cast<void**>(&yt)));
      qgemm_s8(w.packed, M, at, M, yt, M, ep, pool);
      if (M > 1) transpose_parallel(pool, yt, M, out, N, N, M);
      if (rp.y_type == DType::kUint8) flip_sign_bits(out, M * N);
      return Status::OK();
    }
    // General: int32 sums, then the epilogue, transposing on the way.
    int32_t* acc = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(N * M) * 4, reinterpret_cast<void**>(&acc)));
    if (K > 0)
      qgemm_s8_s32(w.packed, M, at, M, acc, M, pool);
    else
      std::fill(acc, acc + N * M, 0);
    std::vector<int32_t> rowsum;  // sum_k a[m,k], for the zero points left in B
    if (w.zb_left) {
      rowsum.assign(size_t(M), 0);
      for (int64_t k = 0; k < K; k++)
        for (int64_t m = 0; m < M; m++) rowsum[size_t(m)] = wrap_add(rowsum[size_t(m)], at[k * M + m]);
    }
    parallel_for(pool, M, std::max<int64_t>(1, 16384 / std::max<int64_t>(N, 1)), [&](int64_t m0, int64_t m1) {
      std::vector<int8_t> row(size_t(rp.out == OutType::kQ8 ? N : 0));
      for (int64_t m = m0; m < m1; m++) {
        for (int64_t n = 0; n < N; n++) {
          int32_t v = wrap_add(acc[n * M + m], offset[size_t(n)]);
          if (w.zb_left && w.zb[size_t(n)]) v = wrap_add(v, wrap_mul(-w.zb[size_t(n)], rowsum[size_t(m)]));
          if (rp.out == OutType::kS32)
            static_cast<int32_t*>(y)[m * N + n] = v;
          else if (rp.out == OutType::kF32)
            static_cast<float*>(y)[m * N + n] = float(v) * rp.mult[size_t(n)];
          else
            row[size_t(n)] = requantize(float(v) * rp.mult[size_t(n)], rp.zy, rp.lo, rp.hi);
        }
        if (rp.out == OutType::kQ8) store_q8(row.data(), static_cast<int8_t*>(y) + m * N, rp.y_type, N);
      }
    });
    return Status::OK();
  }

  // dst[c * ldd + r] = src[r * lds + c], in parallel over column blocks when the matrix is large.
  static void transpose_parallel(ThreadPool* pool, const int8_t* src, int64_t lds, int8_t* dst, int64_t ldd,
                                 int64_t rows, int64_t cols) {
    constexpr int64_t kBlock = 64;
    const int64_t blocks = (cols + kBlock - 1) / kBlock;
    const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(rows * kBlock, 1));
    parallel_for(rows * cols >= (int64_t(1) << 16) ? pool : nullptr, blocks, grain, [&](int64_t b, int64_t e) {
      const int64_t c0 = b * kBlock, c1 = std::min(cols, e * kBlock);
      int8ops::transpose_s8(src + c0, lds, dst + c0 * ldd, ldd, rows, c1 - c0);
    });
  }

  MatKind kind_ = MatKind::kQLinearMatMul;
  Slots slots_ = kQLinearSlots;
  bool trans_b_ = false;
  float alpha_ = 1.f;
  std::unique_ptr<MatWeights> weights_;  // null: B is not a constant 2-D matrix (or its zero point is not constant)
  std::string label_;
};

Status make_qlinear_matmul(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return QMatMulKernel::create(info, MatKind::kQLinearMatMul, out);
}
Status make_matmul_integer(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return QMatMulKernel::create(info, MatKind::kMatMulInteger, out);
}
Status make_qgemm(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return QMatMulKernel::create(info, MatKind::kQGemm, out);
}

}  // namespace

void register_qlinear_matmul_ops(KernelRegistry& r) {
  r.add({"QLinearMatMul", "", 10, 0, Device::kCpu, Precision::kInt8, "qlinearmatmul", &make_qlinear_matmul});
  r.add({"MatMulInteger", "", 10, 0, Device::kCpu, Precision::kInt8, "matmulinteger", &make_matmul_integer});
  r.add({"QGemm", "com.microsoft", 1, 0, Device::kCpu, Precision::kInt8, "qgemm", &make_qgemm});
}

}  // namespace qlinear
}  // namespace int8rt
