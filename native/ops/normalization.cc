// Normalisations: BatchNormalization, InstanceNormalization, LRN, LayerNormalization, GroupNormalization,
// MeanVarianceNormalization, LpNormalization.
//
// Statistics are computed in two passes (mean, then the mean of squared deviations) with lane-split float
// accumulators: as accurate as a double-precision E[x^2] - E[x]^2 for the sizes these operators see, and it
// vectorises. Inference BatchNormalization folds its four parameters into one multiply-add per channel (at engine
// build when they are constants), the same folding onnxruntime does, so results match it bit for bit in the
// common case.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/lrn.h"
#include "ops/registry.h"

namespace int8rt {
namespace {

// Element operations below which splitting a loop over the thread pool costs more than it saves (waking a
// worker is a few microseconds).
constexpr int64_t kMinParallelWork = 65536;

int64_t grain_for(int64_t work_per_item) {
  return std::max<int64_t>(1, kMinParallelWork / std::max<int64_t>(1, work_per_item));
}

Status normalize_axis(const NodeDef& node, int64_t axis, int64_t rank, int64_t* out) {
  if (axis < -rank || axis >= rank)
    return shape_error(node, "axis " + std::to_string(axis) + " is out of range for an input of rank " +
                                 std::to_string(rank));
  *out = axis < 0 ? axis + rank : axis;
  return Status::OK();
}

int64_t prod(const Dims& d, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; i++) p *= d[i];
  return p;
}

bool is_float_type(DType t) { return t == DType::kFloat32 || t == DType::kFloat64; }

Status check_float_input(const NodeDef& node, const Tensor* t, const char* what) {
  if (!t) return shape_error(node, std::string("missing input '") + what + "'");
  if (!is_float_type(t->dtype()))
    return dtype_error(node, std::string("input '") + what + "' of type " + dtype_name(t->dtype()) +
                                 " is not supported (float32, float64)");
  return Status::OK();
}

// A parameter input of `n` elements with the data input's type.
Status check_param(const NodeDef& node, const Tensor* t, const char* what, DType dtype, int64_t n) {
  if (!t) return shape_error(node, std::string("missing input '") + what + "'");
  if (t->dtype() != dtype)
    return dtype_error(node, std::string("input '") + what + "' is " + dtype_name(t->dtype()) + ", expected " +
                                 dtype_name(dtype));
  if (t->numel() != n)
    return shape_error(node, std::string("input '") + what + "' has shape " + dims_str(t->dims()) + ", expected " +
                                 std::to_string(n) + " elements");
  return Status::OK();
}

// Sum of x[0..n) and sum of (x - mean)^2, with independent lane accumulators so that g++ vectorises them.
template <typename T>
T lane_sum(const T* x, int64_t n) {
  constexpr int kLanes = sizeof(T) == 4 ? 16 : 8;
  T lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; l++) lane[l] += x[i + l];
  T s = 0;
  for (; i < n; i++) s += x[i];
  for (int l = 0; l < kLanes; l++) s += lane[l];
  return s;
}

template <typename T>
T lane_sq_dev(const T* x, int64_t n, T mean) {
  constexpr int kLanes = sizeof(T) == 4 ? 16 : 8;
  T lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; l++) {
      const T d = x[i + l] - mean;
      lane[l] += d * d;
    }
  T s = 0;
  for (; i < n; i++) s += (x[i] - mean) * (x[i] - mean);
  for (int l = 0; l < kLanes; l++) s += lane[l];
  return s;
}

// Mean and population variance of x[0..n) (n > 0).
template <typename T>
void row_moments(const T* x, int64_t n, T* mean, T* var) {
  const T m = lane_sum(x, n) / T(n);
  *mean = m;
  *var = lane_sq_dev(x, n, m) / T(n);
}

// y = x * a + b over n elements.
template <typename T>
void affine_row(const T* x, T* y, int64_t n, T a, T b) {
  for (int64_t i = 0; i < n; i++) y[i] = x[i] * a + b;
}

// Runs fn(T{}) for float32 or float64 data.
template <typename Fn>
void visit_float(DType dt, Fn&& fn) {
  if (dt == DType::kFloat64)
    fn(double());
  else
    fn(float());
}

// ============================================================================================ BatchNormalization

class BatchNormKernel : public OpKernel {
 public:
  BatchNormKernel(float epsilon, float momentum, bool spatial, bool training)
      : epsilon_(epsilon), momentum_(momentum), spatial_(spatial), training_(training) {}

  // When scale, B, mean and var are all constants, the folded per-channel multiply-add is computed once.
  void fold_constants(const Tensor* scale, const Tensor* bias, const Tensor* mean, const Tensor* var) {
    if (!scale || !bias || !mean || !var || training_) return;
    const DType dt = scale->dtype();
    const int64_t n = scale->numel();
    if (!is_float_type(dt) || bias->dtype() != dt || mean->dtype() != dt || var->dtype() != dt ||
        bias->numel() != n || mean->numel() != n || var->numel() != n)
      return;  // left to compute(), which reports the problem with the actual input shapes
    folded_dtype_ = dt;
    folded_.resize(size_t(2 * n) * (dt == DType::kFloat64 ? 8 : 4));
    visit_float(dt, [&](auto tag) {
      using T = decltype(tag);
      fold<T>(scale->data<T>(), bias->data<T>(), mean->data<T>(), var->data<T>(), n,
              reinterpret_cast<T*>(folded_.data()), reinterpret_cast<T*>(folded_.data()) + n);
    });
    folded_n_ = n;
  }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x = ctx.input(0);
    INT8RT_RETURN_IF_ERROR(check_float_input(node, x, "X"));
    const Dims& dims = x->dims();
    if (dims.size() < 2) return shape_error(node, "input 'X' must have rank >= 2, got " + dims_str(dims));
    const int64_t n = dims[0], c = dims[1], s = prod(dims, 2, dims.size());
    // spatial = 0 (opsets 7-8) normalises each (channel, position) pair with its own parameters.
    const int64_t pn = spatial_ ? c : c * s;
    const DType dt = x->dtype();
    const char* names[4] = {"scale", "B", "input_mean", "input_var"};
    for (int i = 0; i < 4; i++) INT8RT_RETURN_IF_ERROR(check_param(node, ctx.input(size_t(i) + 1), names[i], dt, pn));
    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, dt, dims, &y));
    Status st;
    visit_float(dt, [&](auto tag) {
      using T = decltype(tag);
      st = training_ ? run_training<T>(ctx, *x, y, n, c, s) : run_inference<T>(ctx, *x, y, n, c, s, pn);
    });
    return st;
  }

 private:
  // y = x * a + b with a = scale / sqrt(var + epsilon) and b = B - mean * a.
  template <typename T>
  void fold(const T* scale, const T* bias, const T* mean, const T* var, int64_t n, T* a, T* b) const {
    for (int64_t i = 0; i < n; i++) {
      const T inv_std = T(1) / std::sqrt(var[i] + T(epsilon_));
      a[i] = inv_std * scale[i];
      b[i] = bias[i] - mean[i] * a[i];
    }
  }

  template <typename T>
  Status run_inference(OpContext& ctx, const Tensor& x, Tensor* y, int64_t n, int64_t c, int64_t s,
                       int64_t pn) const {
    const T* a = nullptr;
    const T* b = nullptr;
    if (folded_n_ == pn && folded_dtype_ == x.dtype()) {
      a = reinterpret_cast<const T*>(folded_.data());
      b = a + pn;
    } else {
      void* p = nullptr;
      INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(2 * pn) * sizeof(T) + 1, &p));
      T* ab = static_cast<T*>(p);
      fold(ctx.input(1)->data<T>(), ctx.input(2)->data<T>(), ctx.input(3)->data<T>(), ctx.input(4)->data<T>(), pn,
           ab, ab + pn);
      a = ab;
      b = ab + pn;
    }
    const T* xp = x.data<T>();
    T* yp = y->data<T>();
    if (spatial_) {
      parallel_for(ctx.pool(), n * c, grain_for(s), [&](int64_t b0, int64_t e0) {
        for (int64_t r = b0; r < e0; r++) affine_row(xp + r * s, yp + r * s, s, a[r % c], b[r % c]);
      });
    } else {
      const int64_t row = c * s;
      parallel_for(ctx.pool(), n, grain_for(row), [&](int64_t b0, int64_t e0) {
        for (int64_t r = b0; r < e0; r++) {
          const T* xr = xp + r * row;
          T* yr = yp + r * row;
          for (int64_t i = 0; i < row; i++) yr[i] = xr[i] * a[i] + b[i];
        }
      });
    }
    return Status::OK();
  }

  // training_mode = 1 (opset 14+): normalise with the batch statistics and return the updated running ones:
  // running = input * momentum + batch * (1 - momentum), the batch variance being the population variance.
  template <typename T>
  Status run_training(OpContext& ctx, const Tensor& x, Tensor* y, int64_t n, int64_t c, int64_t s) const {
    const NodeDef& node = ctx.node();
    if (!spatial_) return unsupported(node, "training mode with spatial = 0 is not supported");
    if (n * s == 0 && c > 0) return shape_error(node, "training mode needs a non-empty batch");
    void* p = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(2 * c) * sizeof(T) + 1, &p));
    T* bmean = static_cast<T*>(p);
    T* bvar = bmean + c;
    const T* xp = x.data<T>();
    parallel_for(ctx.pool(), c, grain_for(n * s), [&](int64_t b0, int64_t e0) {
      for (int64_t ch = b0; ch < e0; ch++) {
        T sum = 0;
        for (int64_t i = 0; i < n; i++) sum += lane_sum(xp + (i * c + ch) * s, s);
        const T m = sum / T(n * s);
        T sq = 0;
        for (int64_t i = 0; i < n; i++) sq += lane_sq_dev(xp + (i * c + ch) * s, s, m);
        bmean[ch] = m;
        bvar[ch] = sq / T(n * s);
      }
    });
    const T* scale = ctx.input(1)->data<T>();
    const T* bias = ctx.input(2)->data<T>();
    T* yp = y->data<T>();
    parallel_for(ctx.pool(), n * c, grain_for(s), [&](int64_t b0, int64_t e0) {
      for (int64_t r = b0; r < e0; r++) {
        const int64_t ch = r % c;
        const T a = scale[ch] / std::sqrt(bvar[ch] + T(epsilon_));
        affine_row(xp + r * s, yp + r * s, s, a, bias[ch] - bmean[ch] * a);
      }
    });
    const T* in_mean = ctx.input(3)->data<T>();
    const T* in_var = ctx.input(4)->data<T>();
    const T mom = T(momentum_);
    for (size_t o = 1; o <= 2 && o < ctx.num_outputs(); o++) {
      if (!ctx.output_used(o)) continue;
      Tensor* t = nullptr;
      INT8RT_RETURN_IF_ERROR(ctx.allocate_output(o, x.dtype(), {c}, &t));
      const T* in = o == 1 ? in_mean : in_var;
      const T* batch = o == 1 ? bmean : bvar;
      for (int64_t ch = 0; ch < c; ch++) t->data<T>()[ch] = in[ch] * mom + batch[ch] * (T(1) - mom);
    }
    return Status::OK();
  }

  float epsilon_, momentum_;
  bool spatial_, training_;
  std::vector<unsigned char> folded_;  // a[pn] then b[pn], of folded_dtype_
  DType folded_dtype_ = DType::kUndefined;
  int64_t folded_n_ = -1;
};

Status make_batch_norm(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  const NodeDef& node = info.node();
  const int opset = info.opset();
  const float eps = node.attr_float("epsilon", 1e-5f);
  if (!(eps >= 0.f)) return shape_error(node, "attribute 'epsilon' must be >= 0");
  const bool spatial = opset >= 9 || node.attr_int("spatial", 1) != 0;
  bool training = false;
  if (opset >= 14) {
    training = node.attr_int("training_mode", 0) != 0;
  } else {
    // Older opsets flag training through the optional mean/var/saved outputs (and is_test = 0 before 7).
    for (size_t i = 1; i < node.outputs.size(); i++)
      if (!node.outputs[i].empty())
        return unsupported(node, "training-mode outputs (running/saved statistics) are not supported before opset 14");
  }
  auto k = std::make_unique<BatchNormKernel>(eps, node.attr_float("momentum", 0.9f), spatial, training);
  k->fold_constants(info.constant_input(1), info.constant_input(2), info.constant_input(3), info.constant_input(4));
  *out = std::move(k);
  return Status::OK();
}

// ============================================================================================ InstanceNormalization

class InstanceNormKernel : public OpKernel {
 public:
  explicit InstanceNormKernel(float epsilon) : epsilon_(epsilon) {}

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x = ctx.input(0);
    INT8RT_RETURN_IF_ERROR(check_float_input(node, x, "input"));
    const Dims& dims = x->dims();
    if (dims.size() < 3) return shape_error(node, "input must have rank >= 3, got " + dims_str(dims));
    const int64_t n = dims[0], c = dims[1], s = prod(dims, 2, dims.size());
    INT8RT_RETURN_IF_ERROR(check_param(node, ctx.input(1), "scale", x->dtype(), c));
    INT8RT_RETURN_IF_ERROR(check_param(node, ctx.input(2), "B", x->dtype(), c));
    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), dims, &y));
    if (s == 0) return Status::OK();
    visit_float(x->dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* xp = x->data<T>();
      const T* scale = ctx.input(1)->data<T>();
      const T* bias = ctx.input(2)->data<T>();
      T* yp = y->data<T>();
      parallel_for(ctx.pool(), n * c, grain_for(3 * s), [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; r++) {
          T mean, var;
          row_moments(xp + r * s, s, &mean, &var);
          const T a = scale[r % c] / std::sqrt(var + T(epsilon_));
          affine_row(xp + r * s, yp + r * s, s, a, bias[r % c] - mean * a);
        }
      });
    });
    return Status::OK();
  }

 private:
  float epsilon_;
};

Status make_instance_norm(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  const float eps = info.node().attr_float("epsilon", 1e-5f);
  if (!(eps >= 0.f)) return shape_error(info.node(), "attribute 'epsilon' must be >= 0");
  out->reset(new InstanceNormKernel(eps));
  return Status::OK();
}

// ============================================================================================ LRN

class LrnKernel : public OpKernel {
 public:
  LrnKernel(int64_t size, float alpha, float beta, float bias) : size_(size), alpha_(alpha), beta_(beta), bias_(bias) {}

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x = ctx.input(0);
    INT8RT_RETURN_IF_ERROR(check_float_input(node, x, "X"));
    const Dims& dims = x->dims();
    if (dims.size() < 2) return shape_error(node, "input must have rank >= 2, got " + dims_str(dims));
    const int64_t n = dims[0], c = dims[1], s = prod(dims, 2, dims.size());
    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), dims, &y));
    if (x->numel() == 0) return Status::OK();
    visit_float(x->dtype(), [&](auto tag) {
      using T = decltype(tag);
      run<T>(x->data<T>(), y->data<T>(), n, c, s, ctx.pool());
    });
    return Status::OK();
  }

 private:
  // Each task takes a strip of spatial positions of one image through every channel, so the window of squared
  // channels stays in cache; the window sum is recomputed per channel (size is small) rather than slid, which
  // keeps it free of cancellation.
  template <typename T>
  void run(const T* x, T* y, int64_t n, int64_t c, int64_t s, ThreadPool* pool) const {
    constexpr int64_t kStrip = 256;
    const int64_t strips = (s + kStrip - 1) / kStrip;
    const int64_t lo_off = (size_ - 1) / 2, hi_off = size_ - 1 - lo_off;  // floor and ceil of (size-1)/2
    const T scale = T(alpha_) / T(size_), bias = T(bias_), beta = T(beta_);
    parallel_for(pool, n * strips, grain_for(c * std::min(s, kStrip) * (size_ + 2)), [&](int64_t b, int64_t e) {
      T acc[kStrip];
      for (int64_t t = b; t < e; t++) {
        const int64_t img = t / strips, s0 = (t % strips) * kStrip, len = std::min(s - s0, kStrip);
        const T* xi = x + img * c * s + s0;
        T* yi = y + img * c * s + s0;
        for (int64_t ch = 0; ch < c; ch++) {
          const int64_t lo = std::max<int64_t>(0, ch - lo_off), hi = std::min<int64_t>(c - 1, ch + hi_off);
          for (int64_t i = 0; i < len; i++) acc[i] = 0;
          for (int64_t k = lo; k <= hi; k++) {
            const T* xk = xi + k * s;
            for (int64_t i = 0; i < len; i++) acc[i] += xk[i] * xk[i];
          }
          const T* xc = xi + ch * s;
          T* yc = yi + ch * s;
          if constexpr (std::is_same<T, float>::value) {
            lrn_scale_f32(xc, acc, yc, len, bias_, scale, beta_);
          } else if (beta_ == 0.75f) {  // the AlexNet/GoogLeNet setting: t^0.75 = sqrt(t) * sqrt(sqrt(t)), vectorisable
            for (int64_t i = 0; i < len; i++) {
              const T d = bias + scale * acc[i];
              const T r = std::sqrt(d);
              yc[i] = xc[i] / (r * std::sqrt(r));
            }
          } else if (beta_ == 0.5f) {
            for (int64_t i = 0; i < len; i++) yc[i] = xc[i] / std::sqrt(bias + scale * acc[i]);
          } else {
            for (int64_t i = 0; i < len; i++) yc[i] = xc[i] * std::pow(bias + scale * acc[i], -beta);
          }
        }
      }
    });
  }

  int64_t size_;
  float alpha_, beta_, bias_;
};

Status make_lrn(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  const NodeDef& node = info.node();
  if (!node.has_attr("size")) return shape_error(node, "missing required attribute 'size'");
  const int64_t size = node.attr_int("size", 0);
  if (size < 1) return shape_error(node, "attribute 'size' must be >= 1, got " + std::to_string(size));
  out->reset(new LrnKernel(size, node.attr_float("alpha", 1e-4f), node.attr_float("beta", 0.75f),
                           node.attr_float("bias", 1.0f)));
  return Status::OK();
}

// ============================================================================================ LayerNormalization

// Expands `t` (unidirectionally broadcastable to `tail`) to prod(tail) values of type T; returns a pointer to
// t's own data when no expansion is needed.
template <typename T>
Status broadcast_tail(const NodeDef& node, const Tensor& t, const char* what, const Dims& tail, OpContext& ctx,
                      const T** out) {
  const int64_t d = prod(tail, 0, tail.size());
  const Dims& td = t.dims();
  bool ok = td.size() <= tail.size();
  bool same = ok && t.numel() == d;
  for (size_t i = 0; ok && i < td.size(); i++) {
    const int64_t want = tail[tail.size() - td.size() + i];
    ok = td[i] == want || td[i] == 1;
  }
  if (!ok)
    return shape_error(node, std::string("input '") + what + "' of shape " + dims_str(td) +
                                 " does not broadcast to " + dims_str(tail));
  if (same) {
    *out = t.data<T>();
    return Status::OK();
  }
  void* p = nullptr;
  INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(d) * sizeof(T) + 1, &p));
  T* e = static_cast<T*>(p);
  const T* src = t.data<T>();
  const size_t lead = tail.size() - td.size();
  for (int64_t i = 0; i < d; i++) {
    int64_t rem = i, src_idx = 0, src_stride = 1;
    for (size_t k = tail.size(); k-- > lead;) {
      const int64_t coord = rem % tail[k];
      rem /= tail[k];
      const int64_t sd = td[k - lead];
      src_idx += (sd == 1 ? 0 : coord) * src_stride;
      src_stride *= sd;
    }
    e[i] = src[src_idx];
  }
  *out = e;
  return Status::OK();
}

class LayerNormKernel : public OpKernel {
 public:
  LayerNormKernel(int64_t axis, float epsilon) : axis_(axis), epsilon_(epsilon) {}

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x = ctx.input(0);
    INT8RT_RETURN_IF_ERROR(check_float_input(node, x, "X"));
    const Dims& dims = x->dims();
    int64_t axis = 0;
    INT8RT_RETURN_IF_ERROR(normalize_axis(node, axis_, int64_t(dims.size()), &axis));
    const int64_t rows = prod(dims, 0, size_t(axis)), d = prod(dims, size_t(axis), dims.size());
    const Dims tail(dims.begin() + axis, dims.end());
    const Tensor* scale = ctx.input(1);
    const Tensor* bias = ctx.input(2);
    if (!scale) return shape_error(node, "missing input 'Scale'");
    if (scale->dtype() != x->dtype() || (bias && bias->dtype() != x->dtype()))
      return dtype_error(node, "'Scale' and 'B' must have the type of 'X'");
    Dims stat_dims = dims;
    for (size_t i = size_t(axis); i < stat_dims.size(); i++) stat_dims[i] = 1;
    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), dims, &y));
    Tensor* mean_out = nullptr;
    Tensor* inv_out = nullptr;
    if (ctx.output_used(1)) INT8RT_RETURN_IF_ERROR(ctx.allocate_output(1, x->dtype(), stat_dims, &mean_out));
    if (ctx.output_used(2)) INT8RT_RETURN_IF_ERROR(ctx.allocate_output(2, x->dtype(), stat_dims, &inv_out));
    Status st;
    visit_float(x->dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* sp = nullptr;
      const T* bp = nullptr;
      st = broadcast_tail<T>(node, *scale, "Scale", tail, ctx, &sp);
      if (st.ok() && bias) st = broadcast_tail<T>(node, *bias, "B", tail, ctx, &bp);
      if (!st.ok() || rows == 0) return;
      const T* xp = x->data<T>();
      T* yp = y->data<T>();
      T* mp = mean_out ? mean_out->data<T>() : nullptr;
      T* ip = inv_out ? inv_out->data<T>() : nullptr;
      parallel_for(ctx.pool(), rows, grain_for(3 * d), [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; r++) {
          const T* xr = xp + r * d;
          T* yr = yp + r * d;
          T mean = 0, var = 0;
          if (d > 0) row_moments(xr, d, &mean, &var);
          const T inv = T(1) / std::sqrt(var + T(epsilon_));
          if (mp) mp[r] = d > 0 ? mean : std::numeric_limits<T>::quiet_NaN();
          if (ip) ip[r] = inv;
          if (bp) {
            for (int64_t i = 0; i < d; i++) yr[i] = (xr[i] - mean) * inv * sp[i] + bp[i];
          } else {
            for (int64_t i = 0; i < d; i++) yr[i] = (xr[i] - mean) * inv * sp[i];
          }
        }
      });
    });
    return st;
  }

 private:
  int64_t axis_;
  float epsilon_;
};

Status make_layer_norm(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  const NodeDef& node = info.node();
  const float eps = node.attr_float("epsilon", 1e-5f);
  if (!(eps >= 0.f)) return shape_error(node, "attribute 'epsilon' must be >= 0");
  out->reset(new LayerNormKernel(node.attr_int("axis", -1), eps));
  return Status::OK();
}

// ============================================================================================ GroupNormalization

class GroupNormKernel : public OpKernel {
 public:
  GroupNormKernel(int64_t groups, float epsilon, bool per_channel)
      : groups_(groups), epsilon_(epsilon), per_channel_(per_channel) {}

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x = ctx.input(0);
    INT8RT_RETURN_IF_ERROR(check_float_input(node, x, "X"));
    const Dims& dims = x->dims();
    if (dims.size() < 2) return shape_error(node, "input must have rank >= 2, got " + dims_str(dims));
    const int64_t n = dims[0], c = dims[1], s = prod(dims, 2, dims.size());
    if (c % groups_ != 0)
      return shape_error(node, "channels (" + std::to_string(c) + ") are not divisible by num_groups (" +
                                   std::to_string(groups_) + ")");
    // Opset 18 takes one scale/bias per group, opset 21 one per channel.
    const int64_t pn = per_channel_ ? c : groups_;
    INT8RT_RETURN_IF_ERROR(check_param(node, ctx.input(1), "scale", x->dtype(), pn));
    INT8RT_RETURN_IF_ERROR(check_param(node, ctx.input(2), "bias", x->dtype(), pn));
    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), dims, &y));
    const int64_t cg = c / groups_, block = cg * s;
    if (x->numel() == 0) return Status::OK();
    visit_float(x->dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* xp = x->data<T>();
      const T* scale = ctx.input(1)->data<T>();
      const T* bias = ctx.input(2)->data<T>();
      T* yp = y->data<T>();
      parallel_for(ctx.pool(), n * groups_, grain_for(3 * block), [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; r++) {
          const T* xr = xp + r * block;
          T* yr = yp + r * block;
          T mean, var;
          row_moments(xr, block, &mean, &var);
          const T inv = T(1) / std::sqrt(var + T(epsilon_));
          const int64_t g = r % groups_;
          for (int64_t k = 0; k < cg; k++) {
            const int64_t p = per_channel_ ? g * cg + k : g;
            const T a = scale[p] * inv;
            affine_row(xr + k * s, yr + k * s, s, a, bias[p] - mean * a);
          }
        }
      });
    });
    return Status::OK();
  }

 private:
  int64_t groups_;
  float epsilon_;
  bool per_channel_;
};

Status make_group_norm(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  const NodeDef& node = info.node();
  if (!node.has_attr("num_groups")) return shape_error(node, "missing required attribute 'num_groups'");
  const int64_t groups = node.attr_int("num_groups", 0);
  if (groups < 1) return shape_error(node, "attribute 'num_groups' must be >= 1");
  const float eps = node.attr_float("epsilon", 1e-5f);
  if (!(eps >= 0.f)) return shape_error(node, "attribute 'epsilon' must be >= 0");
  out->reset(new GroupNormKernel(groups, eps, info.opset() >= 21));
  return Status::OK();
}

// =========================================================================================== MeanVarianceNormalization

// (X - mean) / (sqrt(var) + 1e-9) over `axes` (default [0, 2, 3]), the operator's function-body definition.
class MvnKernel : public OpKernel {
 public:
  explicit MvnKernel(std::vector<int64_t> axes) : axes_(std::move(axes)) {}

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x = ctx.input(0);
    INT8RT_RETURN_IF_ERROR(check_float_input(node, x, "X"));
    const Dims& dims = x->dims();
    const int64_t rank = int64_t(dims.size());
    std::vector<bool> reduced(dims.size(), false);
    for (int64_t a : axes_) {
      int64_t ax = 0;
      INT8RT_RETURN_IF_ERROR(normalize_axis(node, a, rank, &ax));
      reduced[size_t(ax)] = true;
    }
    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), dims, &y));
    const int64_t total = x->numel();
    if (total == 0) return Status::OK();
    // Statistic slot of every element: its coordinates on the kept axes, row-major.
    int64_t kept = 1;
    for (size_t d = 0; d < dims.size(); d++)
      if (!reduced[d]) kept *= dims[d];
    const int64_t count = total / kept;
    void* mem = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(total + 2 * kept) * sizeof(int64_t), &mem));
    int64_t* slot = static_cast<int64_t*>(mem);
    double* mean = reinterpret_cast<double*>(slot + total);
    double* var = mean + kept;
    {
      std::vector<int64_t> idx(dims.size(), 0);
      for (int64_t i = 0; i < total; i++) {
        int64_t k = 0;
        for (size_t d = 0; d < dims.size(); d++)
          if (!reduced[d]) k = k * dims[d] + idx[d];
        slot[i] = k;
        for (size_t d = dims.size(); d-- > 0;) {
          if (++idx[d] < dims[d]) break;
          idx[d] = 0;
        }
      }
    }
    visit_float(x->dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* xp = x->data<T>();
      T* yp = y->data<T>();
      std::fill(mean, mean + 2 * kept, 0.0);
      for (int64_t i = 0; i < total; i++) mean[slot[i]] += double(xp[i]);
      for (int64_t k = 0; k < kept; k++) mean[k] /= double(count);
      for (int64_t i = 0; i < total; i++) {
        const double dv = double(xp[i]) - mean[slot[i]];
        var[slot[i]] += dv * dv;
      }
      // var becomes the scale 1 / (std + 1e-9).
      for (int64_t k = 0; k < kept; k++) var[k] = 1.0 / (std::sqrt(var[k] / double(count)) + 1e-9);
      for (int64_t i = 0; i < total; i++) yp[i] = T((double(xp[i]) - mean[slot[i]]) * var[slot[i]]);
    });
    return Status::OK();
  }

 private:
  std::vector<int64_t> axes_;
};

Status make_mvn(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  out->reset(new MvnKernel(info.node().attr_ints("axes", {0, 2, 3})));
  return Status::OK();
}

// ============================================================================================ LpNormalization

class LpNormKernel : public OpKernel {
 public:
  LpNormKernel(int64_t axis, int64_t p) : axis_(axis), p_(p) {}

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x = ctx.input(0);
    INT8RT_RETURN_IF_ERROR(check_float_input(node, x, "input"));
    const Dims& dims = x->dims();
    int64_t axis = 0;
    INT8RT_RETURN_IF_ERROR(normalize_axis(node, axis_, int64_t(dims.size()), &axis));
    const int64_t outer = prod(dims, 0, size_t(axis)), d = dims[size_t(axis)],
                  inner = prod(dims, size_t(axis) + 1, dims.size());
    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), dims, &y));
    if (x->numel() == 0) return Status::OK();
    visit_float(x->dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* xp = x->data<T>();
      T* yp = y->data<T>();
      // Vectors run across `inner` (a strip at a time); the normalised axis is strided by `inner`.
      constexpr int64_t kStrip = 256;
      const int64_t strips = (inner + kStrip - 1) / kStrip;
      parallel_for(ctx.pool(), outer * strips, grain_for(2 * d * std::min(inner, kStrip)), [&](int64_t b, int64_t e) {
        T norm[kStrip];
        for (int64_t t = b; t < e; t++) {
          const int64_t o = t / strips, c0 = (t % strips) * kStrip, len = std::min(inner - c0, kStrip);
          const T* xo = xp + o * d * inner + c0;
          T* yo = yp + o * d * inner + c0;
          for (int64_t i = 0; i < len; i++) norm[i] = 0;
          for (int64_t r = 0; r < d; r++) {
            const T* xr = xo + r * inner;
            if (p_ == 1)
              for (int64_t i = 0; i < len; i++) norm[i] += std::fabs(xr[i]);
            else
              for (int64_t i = 0; i < len; i++) norm[i] += xr[i] * xr[i];
          }
          // A zero vector stays zero (onnxruntime's behaviour) instead of becoming 0/0.
          for (int64_t i = 0; i < len; i++) {
            const T nv = p_ == 1 ? norm[i] : std::sqrt(norm[i]);
            norm[i] = nv == T(0) ? T(0) : T(1) / nv;
          }
          for (int64_t r = 0; r < d; r++) {
            const T* xr = xo + r * inner;
            T* yr = yo + r * inner;
            for (int64_t i = 0; i < len; i++) yr[i] = xr[i] * norm[i];
          }
        }
      });
    });
    return Status::OK();
  }

 private:
  int64_t axis_, p_;
};

Status make_lp_norm(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  const NodeDef& node = info.node();
  const int64_t p = node.attr_int("p", 2);
  if (p != 1 && p != 2) return shape_error(node, "attribute 'p' must be 1 or 2, got " + std::to_string(p));
  out->reset(new LpNormKernel(node.attr_int("axis", -1), p));
  return Status::OK();
}

}  // namespace

void register_normalization_ops(KernelRegistry& r) {
  const Device cpu = Device::kCpu;
  const Precision fp32 = Precision::kFp32;
  r.add({"BatchNormalization", "", 1, 0, cpu, fp32, "batchnorm_fp32", &make_batch_norm});
  r.add({"InstanceNormalization", "", 1, 0, cpu, fp32, "instancenorm_fp32", &make_instance_norm});
  r.add({"LRN", "", 1, 0, cpu, fp32, "lrn_fp32", &make_lrn});
  r.add({"LayerNormalization", "", 17, 0, cpu, fp32, "layernorm_fp32", &make_layer_norm});
  r.add({"GroupNormalization", "", 18, 0, cpu, fp32, "groupnorm_fp32", &make_group_norm});
  r.add({"MeanVarianceNormalization", "", 1, 0, cpu, fp32, "mvn_fp32", &make_mvn});
  r.add({"LpNormalization", "", 1, 0, cpu, fp32, "lpnorm_fp32", &make_lp_norm});
}

}  // namespace int8rt
