// QLinearConv and ConvInteger (ONNX QOperator convolutions) on the exact int8 GEMM, with the zero-point arithmetic of
// ops/qlinear_common.h.
//
//   ConvInteger  y[n,m,p] = sum_{c,k} (x[n,c,p·k] - zx) (w[m,c,k] - zw[m])                 int32 (wraps mod 2^32)
//   QLinearConv  acc      = the same sum + B[m] (int32, optional)
//                y        = saturate(rne((float)acc * ((s_x * s_w[m]) / s_y)) + z_y)
// Taps in the padding read zx (they add nothing). x, w and y are int8 or uint8 in any combination; scales and zero
// points are per tensor, those of w may be per output channel.
//
// The QDQ import pass (quant/qdq_import.h) also writes QLinearConv nodes for DequantizeLinear -> Conv ->
// [Add(DequantizeLinear r)] -> [Relu | Clip] -> QuantizeLinear, with two extensions the ONNX operator lacks:
//   inputs 9, 10, 11 = r, r_scale, r_zero_point: a residual added before rounding, v = fmaf(r - z_r, s_r / s_y, v);
//   attributes __activation = "Relu" | "Clip" (with __clip_min / __clip_max): the output clamp of the fused Relu/Clip.
//
// Execution. The weights are converted to the signed domain, their zero point subtracted per channel where the result
// stays in int8 (symmetric uint8 weights, zero point 128, become plain int8), row sums kept for the correction terms,
// and packed for qgemm once at build when W and its zero point are constants (else per run). Each run works out the
// per-channel int32 offset (B - zx * rowsum + K zx zw) and float multipliers, which is O(M). Then:
//   * the input is used as it is when it is int8 and padding reads 0 (zx = 0); otherwise it is first copied into the
//     signed domain with its padding materialised as zx, so that the kernels below never pad;
//   * depthwise 1-D/2-D convolutions (group = C = M) run one channel plane at a time: the direct int8 kernel
//     (kernels/dwconv-s8.h) when its epilogue is exact for this output (z_y = 0 in the signed domain, no weight zero
//     point left, an int8 residual with zero point 0), else a direct int32 loop and the general epilogue;
//   * everything else is qgemm per image, group and column tile (im2col when not a 1x1 stride-1 unpadded conv),
//     with the int8 epilogue straight into Y in the same exact case, else through float (qgemm_s8_f32: v with its
//     single rounding) or int32 (qgemm_s8_s32, when a weight zero point is left and per-column input sums are
//     needed) and the general epilogue.
// Every path equals the scalar reference of the formulas above bit for bit (test/native/qlinear_test.cc).
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/dwconv-s8.h"
#include "kernels/qgemm.h"
#include "ops/conv_params.h"
#include "ops/qlinear_common.h"

namespace int8rt {
namespace qlinear {
namespace {

using conv_params::ceil_div;

enum class ConvKind { kQLinear, kInteger };

// Input slots of the two operators.
struct Slots {
  size_t x, x_scale, x_zero, w, w_scale, w_zero, y_scale, y_zero, bias, r, r_scale, r_zero;
};
constexpr Slots kQLinearSlots{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
constexpr size_t kNone = size_t(-1);
constexpr Slots kIntegerSlots{0, kNone, 2, 1, kNone, 3, kNone, kNone, kNone, kNone, kNone, kNone};

// The weights in the form the kernels use: what depends on W and its zero point only.
struct ConvWeights {
  Dims w_dims;
  int64_t M = 0, per = 0;      // output channels; weights per output channel (C/group * taps)
  bool depthwise = false;
  std::vector<int8_t> w;       // [M, per] signed domain, the channel's zero point subtracted where it stays in int8
                               // (kept for the depthwise kernels only)
  std::vector<int32_t> zw;     // per channel: the zero point still to apply (0 after the subtraction)
  bool zw_left = false;
  std::vector<int32_t> rowsum; // per channel: sum_k w[m,k]
  std::vector<QPackedA> packed;  // per group (not depthwise)

  size_t bytes() const {
    size_t n = vector_bytes(w) + vector_bytes(zw) + vector_bytes(rowsum) + vector_bytes(packed);
    for (const QPackedA& p : packed) n += vector_bytes(p.data) + vector_bytes(p.row_sums);
    return n;
  }
};

Status prepare_weights(const NodeDef& node, const conv_params::ConvAttrs& attrs, const Tensor& W,
                       const Tensor* w_zero, ConvWeights* out) {
  if (!is_q8(W.dtype()))
    return dtype_error(node, std::string("w has type ") + dtype_name(W.dtype()) + "; int8 and uint8 are supported");
  if (W.rank() < 3) return shape_error(node, "w must have rank >= 3, got " + dims_str(W.dims()));
  const int64_t M = W.dim(0), group = attrs.group;
  if (M % group != 0)
    return shape_error(node, "w's output channels (" + std::to_string(M) + ") are not divisible by group " +
                                 std::to_string(group));
  // Zero points: per tensor or per output channel.
  std::vector<int32_t> z(size_t(M), W.dtype() == DType::kUint8 ? -128 : 0);
  if (w_zero) {
    if (w_zero->dtype() != W.dtype())
      return dtype_error(node, std::string("the zero point of w has type ") + dtype_name(w_zero->dtype()) +
                                   ", not w's type " + dtype_name(W.dtype()));
    const int64_t nz = w_zero->numel();
    if (nz != 1 && !(w_zero->rank() == 1 && nz == M))
      return unsupported(node, "the zero point of w has shape " + dims_str(w_zero->dims()) +
                                   "; one value or one per output channel is supported");
    for (int64_t m = 0; m < M; m++) z[size_t(m)] = q8_at(w_zero->raw(), W.dtype(), nz == 1 ? 0 : m);
  }
  ConvWeights& cw = *out;
  cw.w_dims = W.dims();
  cw.M = M;
  cw.per = M > 0 ? W.numel() / M : 0;
  cw.depthwise = W.dim(1) == 1 && group == M && W.rank() <= 4;
  cw.w.resize(size_t(W.numel()));
  to_signed(W.raw(), W.dtype(), cw.w.data(), W.numel());
  cw.zw.assign(size_t(M), 0);
  cw.rowsum.assign(size_t(M), 0);
  cw.zw_left = false;
  for (int64_t m = 0; m < M; m++) {
    int8_t* row = cw.w.data() + m * cw.per;
    const int32_t zm = z[size_t(m)];
    bool fits = true;
    for (int64_t k = 0; k < cw.per && fits; k++) {
      const int32_t d = int32_t(row[k]) - zm;
      fits = d >= -128 && d <= 127;
    }
    if (fits) {
      for (int64_t k = 0; k < cw.per; k++) row[k] = int8_t(int32_t(row[k]) - zm);
    } else {
      cw.zw[size_t(m)] = zm;
      cw.zw_left = true;
    }
    int32_t s = 0;
    for (int64_t k = 0; k < cw.per; k++) s += row[k];  // |s| <= 128 * per: no overflow for any real weight tensor
    cw.rowsum[size_t(m)] = s;
  }
  cw.packed.clear();
  if (!cw.depthwise && M > 0 && cw.per > 0) {
    const int64_t Mg = M / group;
    cw.packed.resize(size_t(group));
    for (int64_t g = 0; g < group; g++)
      INT8RT_RETURN_IF_ERROR(qpack_a(cw.w.data() + g * Mg * cw.per, cw.per, Mg, cw.per, &cw.packed[size_t(g)]));
    cw.w.clear();
    cw.w.shrink_to_fit();
  }
  return Status::OK();
}

// What one run works with besides the weights.
struct RunParams {
  DType x_type = DType::kInt8;
  int32_t zx = 0;
  std::vector<int32_t> offset;  // per channel: B - zx * rowsum + per * zx * zw (wrapping int32)
  // QLinear only:
  DType y_type = DType::kInt8;
  int32_t zy = 0, lo = -128, hi = 127;
  std::vector<float> mult;      // per channel: (s_x * s_w[m]) / s_y
  const Tensor* residual = nullptr;
  int32_t zr = 0;
  float rmult = 0.f;
};

class QConvKernel final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, ConvKind kind, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    std::unique_ptr<QConvKernel> k(new QConvKernel());
    k->kind_ = kind;
    k->slots_ = kind == ConvKind::kQLinear ? kQLinearSlots : kIntegerSlots;
    const Slots& s = k->slots_;
    INT8RT_RETURN_IF_ERROR(conv_params::parse_conv_attrs(node, &k->attrs_));
    if (kind == ConvKind::kQLinear) {
      for (size_t i : {s.x, s.x_scale, s.x_zero, s.w, s.w_scale, s.w_zero, s.y_scale, s.y_zero})
        if (!info.has_input(i))
          return shape_error(node, "QLinearConv needs inputs x, x_scale, x_zero_point, w, w_scale, w_zero_point, "
                                   "y_scale and y_zero_point");
      k->has_residual_ = info.has_input(s.r);
      if (k->has_residual_ && (!info.has_input(s.r_scale) || !info.has_input(s.r_zero)))
        return shape_error(node, "a fused residual needs its scale and zero point");
    } else {
      if (!info.has_input(s.x) || !info.has_input(s.w)) return shape_error(node, "ConvInteger needs inputs x and w");
    }
    // Weights packed once when they and their zero point are constants.
    const Tensor* W = info.constant_input(s.w);
    const bool zw_known = !info.has_input(s.w_zero) || info.constant_input(s.w_zero);
    if (W && zw_known) {
      k->weights_.reset(new ConvWeights());
      INT8RT_RETURN_IF_ERROR(prepare_weights(node, k->attrs_, *W, info.constant_input(s.w_zero), k->weights_.get()));
    }
    const bool gemm = !k->weights_ || !k->weights_->depthwise;
    k->label_ = std::string(kind == ConvKind::kQLinear ? "qlinearconv_" : "convinteger_") +
                (gemm ? qgemm_kernel_name() : std::string("depthwise_") + dwconv2d_s8_kernel_name());
    *out = std::move(k);
    return Status::OK();
  }

  std::string kernel_name() const override { return label_; }
  bool reads_input_data(size_t i) const override { return !(weights_ && i == slots_.w); }
  size_t weight_bytes() const override { return weights_ ? weights_->bytes() : 0; }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Slots& s = slots_;
    const Tensor* X = ctx.input(s.x);
    const Tensor* Wt = ctx.input(s.w);
    if (!X || !Wt) return shape_error(node, "inputs x and w are required");
    if (!is_q8(X->dtype()))
      return dtype_error(node, std::string("x has type ") + dtype_name(X->dtype()) + "; int8 and uint8 are supported");
    ConvWeights local;
    const ConvWeights* cw = weights_.get();
    if (!cw) {
      INT8RT_RETURN_IF_ERROR(prepare_weights(node, attrs_, *Wt, s.w_zero == kNone ? nullptr : ctx.input(s.w_zero),
                                             &local));
      cw = &local;
    }
    conv_params::Geometry g;
    INT8RT_RETURN_IF_ERROR(conv_params::conv_geometry(node, attrs_, X->dims(), cw->w_dims, &g));
    Dims ydims{g.N, g.M};
    ydims.insert(ydims.end(), g.out.begin(), g.out.end());

    RunParams rp;
    INT8RT_RETURN_IF_ERROR(run_params(ctx, *cw, *X, ydims, &rp));
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(
        ctx.allocate_output(0, kind_ == ConvKind::kQLinear ? rp.y_type : DType::kInt32, ydims, &Y));
    if (Y->numel() == 0) return Status::OK();

    const bool fast = kind_ == ConvKind::kQLinear && rp.zy == 0 && !cw->zw_left &&
                      (!rp.residual || (rp.residual->dtype() == DType::kInt8 && rp.zr == 0));
    bool padded = false;
    for (int i = 0; i < g.nsp; i++) padded = padded || g.pb[i] != 0 || g.pe[i] != 0;
    const bool depthwise = cw->depthwise && g.nsp <= 2;
    // The input in the signed domain with its padding materialised, when the kernels cannot use it as it is.
    const bool copy = X->dtype() == DType::kUint8 || (padded && (rp.zx != 0 || (depthwise && !fast)));
    const int8_t* x = X->data<int8_t>();
    if (copy) {
      int8_t* buf = nullptr;
      INT8RT_RETURN_IF_ERROR(pad_input(ctx, *X, rp.zx, &g, &buf));
      x = buf;
    }
    if (depthwise) return run_depthwise(ctx, *cw, g, x, rp, fast, Y);
    return run_gemm(ctx, *cw, g, x, rp, fast, Y);
  }

 private:
  Status run_params(OpContext& ctx, const ConvWeights& cw, const Tensor& X, const Dims& ydims, RunParams* rp) const {
    const NodeDef& node = ctx.node();
    const Slots& s = slots_;
    const int64_t M = cw.M;
    QParam xq;
    if (kind_ == ConvKind::kQLinear) {
      INT8RT_RETURN_IF_ERROR(read_qparam(node, "x", X.dtype(), ctx.input(s.x_scale), ctx.input(s.x_zero), 0, &xq));
    } else {
      const Tensor* zx = ctx.input(s.x_zero);
      if (zx && zx->numel() != 1)
        return unsupported(node, "x_zero_point has shape " + dims_str(zx->dims()) + "; one value is supported");
      Tensor one;
      INT8RT_RETURN_IF_ERROR(Tensor::create(DType::kFloat32, {}, &one));
      one.data<float>()[0] = 1.f;
      INT8RT_RETURN_IF_ERROR(read_qparam(node, "x", X.dtype(), &one, zx, 0, &xq));
    }
    rp->x_type = X.dtype();
    rp->zx = xq.zero[0];
    // offset = B - zx * rowsum + per * zx * zw, wrapping.
    const Tensor* B = s.bias == kNone ? nullptr : ctx.input(s.bias);
    if (B) {
      if (B->dtype() != DType::kInt32)
        return dtype_error(node, std::string("B has type ") + dtype_name(B->dtype()) + "; int32 is required");
      if (B->rank() != 1 || B->dim(0) != M)
        return shape_error(node, "B " + dims_str(B->dims()) + " must have shape [" + std::to_string(M) + "]");
    }
    rp->offset.resize(size_t(M));
    for (int64_t m = 0; m < M; m++) {
      int32_t o = B ? B->data<int32_t>()[m] : 0;
      o = wrap_add(o, wrap_mul(-rp->zx, cw.rowsum[size_t(m)]));
      o = wrap_add(o, wrap_mul(wrap_mul(int32_t(cw.per), rp->zx), cw.zw[size_t(m)]));
      rp->offset[size_t(m)] = o;
    }
    if (kind_ != ConvKind::kQLinear) return Status::OK();
    QParam wq, yq;
    const Tensor* W = ctx.input(s.w);
    INT8RT_RETURN_IF_ERROR(read_qparam(node, "w", W->dtype(), ctx.input(s.w_scale), nullptr, M, &wq));
    const Tensor* yz = ctx.input(s.y_zero);
    if (!yz) return shape_error(node, "y_zero_point is required");
    INT8RT_RETURN_IF_ERROR(read_qparam(node, "y", yz->dtype(), ctx.input(s.y_scale), yz, 0, &yq));
    rp->y_type = yq.type;
    rp->zy = yq.zero[0];
    INT8RT_RETURN_IF_ERROR(activation_bounds(node, yq.scale[0], rp->zy, &rp->lo, &rp->hi));
    rp->mult.resize(size_t(M));
    for (int64_t m = 0; m < M; m++) rp->mult[size_t(m)] = (xq.scale[0] * wq.s(m)) / yq.scale[0];
    if (has_residual_) {
      const Tensor* R = ctx.input(s.r);
      if (!R) return shape_error(node, "the fused residual is missing");
      if (R->dims() != ydims)
        return shape_error(node, "the fused residual " + dims_str(R->dims()) + " must have the output shape " +
                                     dims_str(ydims));
      QParam rq;
      INT8RT_RETURN_IF_ERROR(read_qparam(node, "the residual", R->dtype(), ctx.input(s.r_scale), ctx.input(s.r_zero),
                                         0, &rq));
      rp->residual = R;
      rp->zr = rq.zero[0];
      rp->rmult = rq.scale[0] / yq.scale[0];
    }
    return Status::OK();
  }

  // Copies X into scratch in the signed domain, padded with zx on every side, and makes g describe the padded input
  // (no padding left). Handles any spatial rank.
  static Status pad_input(OpContext& ctx, const Tensor& X, int32_t zx, conv_params::Geometry* g, int8_t** out) {
    const int nsp = g->nsp;
    std::vector<int64_t> pin(static_cast<size_t>(nsp));
    int64_t pin_size = 1;
    for (int i = 0; i < nsp; i++) {
      pin[size_t(i)] = g->in[size_t(i)] + g->pb[size_t(i)] + g->pe[size_t(i)];
      pin_size *= pin[size_t(i)];
    }
    const int64_t planes = g->N * g->C;
    int8_t* buf = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(planes * pin_size), reinterpret_cast<void**>(&buf)));
    const DType t = X.dtype();
    const int64_t row = g->in[size_t(nsp - 1)], rows = g->in_size / std::max<int64_t>(row, 1);
    const conv_params::Geometry& gc = *g;
    parallel_for(ctx.pool(), planes, 1, [&](int64_t b, int64_t e) {
      std::vector<int64_t> idx(static_cast<size_t>(nsp), 0);
      for (int64_t p = b; p < e; p++) {
        int8_t* dst = buf + p * pin_size;
        std::memset(dst, int8_t(zx), size_t(pin_size));
        const char* src = static_cast<const char*>(X.raw()) + p * gc.in_size;
        std::fill(idx.begin(), idx.end(), 0);
        for (int64_t r = 0; r < rows; r++) {
          // idx holds the input row's coordinates on the outer axes (the last axis is the row itself).
          int64_t off = 0;
          for (int i = 0; i < nsp; i++)
            off = off * pin[size_t(i)] + (i == nsp - 1 ? gc.pb[size_t(i)] : idx[size_t(i)] + gc.pb[size_t(i)]);
          to_signed(src + r * row, t, dst + off, row);
          for (int i = nsp - 2; i >= 0; i--) {
            if (++idx[size_t(i)] < gc.in[size_t(i)]) break;
            idx[size_t(i)] = 0;
          }
        }
      }
    });
    for (int i = 0; i < nsp; i++) {
      g->in[size_t(i)] = pin[size_t(i)];
      g->pb[size_t(i)] = g->pe[size_t(i)] = 0;
    }
    g->in_size = pin_size;
    *out = buf;
    return Status::OK();
  }

  // The general epilogue of `rows` output channels [m0, m0 + rows) over columns [p0, p0 + ncols) of image n: from
  // float values v (already (float)acc * mult) or int32 sums (acc before offset and zw corrections) to Y.
  void finish(const RunParams& rp, const ConvWeights& cw, const float* vf, const int32_t* vi, int64_t ldv,
              const int32_t* colsum, int64_t n, int64_t m0, int64_t rows, int64_t p0, int64_t ncols, int64_t P,
              Tensor* Y) const {
    const int64_t M = cw.M;
    std::vector<int8_t> tmp(kind_ == ConvKind::kQLinear ? size_t(ncols) : 0);
    const Tensor* R = rp.residual;
    for (int64_t r = 0; r < rows; r++) {
      const int64_t m = m0 + r, yoff = (n * M + m) * P + p0;
      if (kind_ == ConvKind::kInteger) {
        int32_t* y = Y->data<int32_t>() + yoff;
        const int32_t o = rp.offset[size_t(m)], z = cw.zw[size_t(m)];
        for (int64_t j = 0; j < ncols; j++) {
          int32_t a = wrap_add(vi[r * ldv + j], o);
          if (z) a = wrap_add(a, wrap_mul(-z, colsum[j]));
          y[j] = a;
        }
        continue;
      }
      const float mult = rp.mult[size_t(m)];
      for (int64_t j = 0; j < ncols; j++) {
        float v;
        if (vf) {
          v = vf[r * ldv + j];
        } else {
          int32_t a = wrap_add(vi[r * ldv + j], rp.offset[size_t(m)]);
          if (cw.zw[size_t(m)]) a = wrap_add(a, wrap_mul(-cw.zw[size_t(m)], colsum[j]));
          v = float(a) * mult;
        }
        if (R) v = std::fma(float(q8_at(R->raw(), R->dtype(), yoff + j) - rp.zr), rp.rmult, v);
        tmp[size_t(j)] = requantize(v, rp.zy, rp.lo, rp.hi);
      }
      store_q8(tmp.data(), static_cast<int8_t*>(Y->raw()) + yoff, rp.y_type, ncols);
    }
  }

  Status run_gemm(OpContext& ctx, const ConvWeights& cw, const conv_params::Geometry& g, const int8_t* x,
                  const RunParams& rp, bool fast, Tensor* Y) const {
    const int64_t G = g.group, Cg = g.C / G, Mg = g.M / G, Kg = Cg * g.k_size, P = g.out_size;
    ThreadPool* pool = ctx.pool();
    if (Kg == 0 || cw.packed.empty()) {  // no input channels: every output is the offset alone
      std::vector<int32_t> zeros(size_t(P), 0);
      for (int64_t n = 0; n < g.N; n++)
        finish(rp, cw, nullptr, zeros.data(), 0, zeros.data(), n, 0, g.M, 0, P, P, Y);
      return Status::OK();
    }
    const bool pointwise = conv_params::is_pointwise(g);
    const conv_params::Patches patches = conv_params::make_patches(g);
    const bool s32 = kind_ == ConvKind::kInteger || cw.zw_left;  // raw sums needed (colsums or int32 output)

    const int64_t nt = conv_params::tile_cols(Kg, P, 1, 256 << 10), ntiles = ceil_div(P, nt);
    const int64_t items = g.N * G * ntiles;
    const conv_params::ItemSchedule sched = conv_params::schedule_items(pool, items);
    // Per task: the im2col block, a float/int32 tile of the general epilogue, the column sums.
    const size_t col_bytes = pointwise ? 0 : size_t((Kg * nt + 63) / 64 * 64);
    const size_t tile_bytes = fast ? 0 : size_t(Mg * nt) * 4;
    const size_t sum_bytes = cw.zw_left ? size_t(nt) * 4 : 0;
    const size_t task_bytes = (col_bytes + tile_bytes + sum_bytes + 63) / 64 * 64;
    char* scratch = nullptr;
    if (task_bytes)
      INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(sched.tasks) * task_bytes, reinterpret_cast<void**>(&scratch)));
    ThreadPool* inner = sched.inner;
    const int8_t* res = rp.residual ? rp.residual->data<int8_t>() : nullptr;

    conv_params::run_items(pool, sched.tasks, items, sched.parallel, [&](int64_t item, int64_t task) {
      const int64_t t = item % ntiles, ng = item / ntiles, n = ng / G, gi = ng % G;
      const int64_t p0 = t * nt, p1 = std::min(P, p0 + nt), ncols = p1 - p0;
      char* mine = scratch + size_t(task) * task_bytes;
      const int8_t* xg = x + (n * g.C + gi * Cg) * g.in_size;
      const int8_t* b = xg + p0;
      int64_t ldb = P;
      if (!pointwise) {
        int8_t* col = reinterpret_cast<int8_t*>(mine);
        conv_params::im2col_block(inner, patches, xg, Kg, p0, p1, std::max<int64_t>(1, 16384 / ncols), col);
        b = col;
        ldb = ncols;
      }
      const int64_t m0 = gi * Mg, yoff = (n * g.M + m0) * P + p0;
      const QPackedA& A = cw.packed[size_t(gi)];
      if (fast) {
        QEpilogue ep;
        ep.bias = rp.offset.data() + m0;
        ep.multiplier = rp.mult.data() + m0;
        if (res) {
          ep.residual = res + yoff;
          ep.ldr = P;
          ep.residual_multiplier = rp.rmult;
        }
        ep.qmin = rp.lo;
        ep.qmax = rp.hi;
        int8_t* y = static_cast<int8_t*>(Y->raw()) + yoff;
        qgemm_s8(A, ncols, b, ldb, y, P, ep, inner);
        if (rp.y_type == DType::kUint8)
          for (int64_t r = 0; r < Mg; r++) flip_sign_bits(y + r * P, ncols);
        return;
      }
      void* tile = mine + col_bytes;
      int32_t* colsum = cw.zw_left ? reinterpret_cast<int32_t*>(mine + col_bytes + tile_bytes) : nullptr;
      if (colsum) {
        std::fill(colsum, colsum + ncols, 0);
        for (int64_t k = 0; k < Kg; k++)
          for (int64_t j = 0; j < ncols; j++) colsum[j] += b[k * ldb + j];  // |sum| <= 128 * Kg
      }
      if (s32) {
        qgemm_s8_s32(A, ncols, b, ldb, static_cast<int32_t*>(tile), ncols, inner);
        finish(rp, cw, nullptr, static_cast<const int32_t*>(tile), ncols, colsum, n, m0, Mg, p0, ncols, P, Y);
      } else {
        QEpilogue ep;
        ep.bias = rp.offset.data() + m0;
        ep.multiplier = rp.mult.data() + m0;
        qgemm_s8_f32(A, ncols, b, ldb, static_cast<float*>(tile), ncols, ep, inner);
        finish(rp, cw, static_cast<const float*>(tile), nullptr, ncols, nullptr, n, m0, Mg, p0, ncols, P, Y);
      }
    });
    return Status::OK();
  }

  Status run_depthwise(OpContext& ctx, const ConvWeights& cw, const conv_params::Geometry& g, const int8_t* x,
                       const RunParams& rp, bool fast, Tensor* Y) const {
    const int64_t C = g.C, P = g.out_size, taps = g.k_size, planes = g.N * C;
    ThreadPool* pool = ctx.pool();
    DwConvS8Plane p;
    conv_params::set_plane_geometry(conv_params::make_patch2d(g), &p);
    p.qmin = rp.lo;
    p.qmax = rp.hi;
    // Per task: the direct kernel's workspace, or an int32 row of sums and a float row for the general epilogue.
    const size_t ws = fast ? (dwconv2d_s8_workspace(p) + 63) / 64 * 64 : size_t((p.OW * 4 + 63) / 64 * 64);
    const int64_t work = P * taps;
    const int ntasks = int(std::max<int64_t>(
        1, std::min<int64_t>({int64_t(pool->num_threads()), planes, std::max<int64_t>(1, planes * work / 32768)})));
    char* scratch = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.scratch(ws * size_t(ntasks), reinterpret_cast<void**>(&scratch)));
    const int8_t* res = rp.residual ? rp.residual->data<int8_t>() : nullptr;
    conv_params::run_items(pool, ntasks, planes, ntasks > 1, [&](int64_t i, int64_t task) {
      const int64_t n = i / C, c = i % C;
      const int8_t* in = x + i * g.in_size;
      void* work_area = scratch + size_t(task) * ws;
      if (fast) {
        DwConvS8Channel ch;
        ch.w = cw.w.data() + c * taps;
        ch.bias = rp.offset[size_t(c)];
        ch.multiplier = rp.mult[size_t(c)];
        ch.residual = res ? res + i * P : nullptr;
        ch.residual_multiplier = rp.rmult;
        int8_t* y = static_cast<int8_t*>(Y->raw()) + i * P;
        dwconv2d_s8(p, in, ch, y, work_area);
        if (rp.y_type == DType::kUint8) flip_sign_bits(y, P);
        return;
      }
      // Direct int32 sums over the padded plane (no bounds to check), one output row at a time.
      int32_t* acc = static_cast<int32_t*>(work_area);
      const int8_t* wc = cw.w.data() + c * taps;
      const int32_t zwc = cw.zw[size_t(c)];
      for (int64_t oy = 0; oy < p.OH; oy++) {
        std::fill(acc, acc + p.OW, 0);
        for (int64_t ky = 0; ky < p.kh; ky++) {
          const int8_t* rowp = in + (oy * p.sh + ky * p.dh) * p.W;
          for (int64_t kx = 0; kx < p.kw; kx++) {
            const int32_t wv = int32_t(wc[ky * p.kw + kx]) - zwc;
            const int8_t* src = rowp + kx * p.dw;
            if (p.sw == 1)
              for (int64_t ox = 0; ox < p.OW; ox++) acc[ox] += wv * int32_t(src[ox]);
            else
              for (int64_t ox = 0; ox < p.OW; ox++) acc[ox] += wv * int32_t(src[ox * p.sw]);
          }
        }
        finish_depthwise_row(rp, acc, n, c, oy * p.OW, p.OW, P, cw.M, Y);
      }
    });
    return Status::OK();
  }

  // Epilogue of one depthwise output row: acc holds sum (w - zw) x over the padded plane.
  void finish_depthwise_row(const RunParams& rp, const int32_t* acc, int64_t n, int64_t c, int64_t p0, int64_t len,
                            int64_t P, int64_t M, Tensor* Y) const {
    const int64_t yoff = (n * M + c) * P + p0;
    // With zw applied to the weights, the offset's zw term is already inside acc: sum (w - zw)(x - zx) =
    // sum (w - zw) x - zx (rowsum - per zw), and offset = B - zx rowsum + per zx zw is exactly the second part.
    const int32_t o = rp.offset[size_t(c)];
    if (kind_ == ConvKind::kInteger) {
      int32_t* y = Y->data<int32_t>() + yoff;
      for (int64_t j = 0; j < len; j++) y[j] = wrap_add(acc[j], o);
      return;
    }
    const float mult = rp.mult[size_t(c)];
    const Tensor* R = rp.residual;
    int8_t tmp[256];
    for (int64_t j0 = 0; j0 < len; j0 += 256) {
      const int64_t cnt = std::min<int64_t>(256, len - j0);
      for (int64_t j = 0; j < cnt; j++) {
        float v = float(wrap_add(acc[j0 + j], o)) * mult;
        if (R) v = std::fma(float(q8_at(R->raw(), R->dtype(), yoff + j0 + j) - rp.zr), rp.rmult, v);
        tmp[j] = requantize(v, rp.zy, rp.lo, rp.hi);
      }
      store_q8(tmp, static_cast<int8_t*>(Y->raw()) + yoff + j0, rp.y_type, cnt);
    }
  }

  ConvKind kind_ = ConvKind::kQLinear;
  Slots slots_ = kQLinearSlots;
  conv_params::ConvAttrs attrs_;
  bool has_residual_ = false;
  std::unique_ptr<ConvWeights> weights_;  // null: W or its zero point is not constant, prepared per run
  std::string label_;
};

Status make_qlinear_conv(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return QConvKernel::create(info, ConvKind::kQLinear, out);
}
Status make_conv_integer(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return QConvKernel::create(info, ConvKind::kInteger, out);
}

}  // namespace

void register_qlinear_conv_ops(KernelRegistry& r) {
  r.add({"QLinearConv", "", 10, 0, Device::kCpu, Precision::kInt8, "qlinearconv", &make_qlinear_conv});
  r.add({"ConvInteger", "", 10, 0, Device::kCpu, Precision::kInt8, "convinteger", &make_conv_integer});
}

}  // namespace qlinear
}  // namespace int8rt
