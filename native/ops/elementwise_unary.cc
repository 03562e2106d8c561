// Unary elementwise operators: activations, math functions, Clip, IsNaN/IsInf, Not/BitwiseNot, Identity, Dropout.
//
// float32 runs through the vectorised loop table of the active ISA (elementwise_vec.h); float16 through the same
// table, converted in small blocks; float64 through the C library one element at a time (precise, not fast); the
// integer types where ONNX defines the operator for them (Abs, Neg, Sign, Relu, Clip).
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "core/thread_pool.h"
#include "ops/elementwise_internal.h"

namespace int8rt {
namespace eltwise {
namespace {

// ---- reference loops for float64 (and other floating types) ---------------------------------------------------

template <typename T>
T sigmoid_ref(T x) {
  if (x >= 0) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

template <typename T>
T softplus_ref(T x) {
  return (x > 0 ? x : T(0)) + std::log1p(std::exp(-std::fabs(x)));
}

template <typename T, typename F>
void map_ref(const T* x, T* y, int64_t n, F f) {
  for (int64_t i = 0; i < n; i++) y[i] = f(x[i]);
}

template <typename T>
void unary_float_ref(UnaryOp op, const UnaryParams& p, const T* x, T* y, int64_t n) {
  const T alpha = p.alpha, beta = p.beta, gamma = p.gamma, lo = p.lo, hi = p.hi;
  switch (op) {
    case UnaryOp::kRelu: return map_ref(x, y, n, [](T v) { return v < 0 ? T(0) : v; });
    case UnaryOp::kLeakyRelu: return map_ref(x, y, n, [=](T v) { return v < 0 ? alpha * v : v; });
    case UnaryOp::kElu: return map_ref(x, y, n, [=](T v) { return v < 0 ? alpha * std::expm1(v) : v; });
    case UnaryOp::kSelu:
      return map_ref(x, y, n, [=](T v) { return v <= 0 ? gamma * alpha * std::expm1(v) : gamma * v; });
    case UnaryOp::kCelu: return map_ref(x, y, n, [=](T v) { return v > 0 ? v : alpha * std::expm1(v / alpha); });
    case UnaryOp::kSigmoid: return map_ref(x, y, n, [](T v) { return sigmoid_ref(v); });
    case UnaryOp::kHardSigmoid:
      return map_ref(x, y, n, [=](T v) {
        T t = alpha * v + beta;
        t = t < 0 ? T(0) : t;
        return t > 1 ? T(1) : t;
      });
    case UnaryOp::kHardSwish:
      return map_ref(x, y, n, [](T v) {
        T t = v / 6 + T(0.5);
        t = t < 0 ? T(0) : t;
        return v * (t > 1 ? T(1) : t);
      });
    case UnaryOp::kSwish: return map_ref(x, y, n, [=](T v) { return v * sigmoid_ref(alpha * v); });
    case UnaryOp::kTanh: return map_ref(x, y, n, [](T v) { return std::tanh(v); });
    case UnaryOp::kExp: return map_ref(x, y, n, [](T v) { return std::exp(v); });
    case UnaryOp::kLog: return map_ref(x, y, n, [](T v) { return std::log(v); });
    case UnaryOp::kSqrt: return map_ref(x, y, n, [](T v) { return std::sqrt(v); });
    case UnaryOp::kAbs: return map_ref(x, y, n, [](T v) { return std::fabs(v); });
    case UnaryOp::kNeg: return map_ref(x, y, n, [](T v) { return -v; });
    case UnaryOp::kReciprocal: return map_ref(x, y, n, [](T v) { return T(1) / v; });
    case UnaryOp::kFloor: return map_ref(x, y, n, [](T v) { return std::floor(v); });
    case UnaryOp::kCeil: return map_ref(x, y, n, [](T v) { return std::ceil(v); });
    case UnaryOp::kRound: return map_ref(x, y, n, [](T v) { return std::nearbyint(v); });  // ties to even
    case UnaryOp::kErf: return map_ref(x, y, n, [](T v) { return std::erf(v); });
    case UnaryOp::kSign: return map_ref(x, y, n, [](T v) { return v > 0 ? T(1) : v < 0 ? T(-1) : v; });
    case UnaryOp::kSoftplus: return map_ref(x, y, n, [](T v) { return softplus_ref(v); });
    case UnaryOp::kSoftsign: return map_ref(x, y, n, [](T v) { return v / (T(1) + std::fabs(v)); });
    case UnaryOp::kMish: return map_ref(x, y, n, [](T v) { return v * std::tanh(softplus_ref(v)); });
    case UnaryOp::kGelu:
      return map_ref(x, y, n, [](T v) { return v * std::erfc(-v * T(0.70710678118654752440)) / 2; });
    case UnaryOp::kGeluTanh:
      return map_ref(x, y, n, [](T v) {
        const T u = T(0.79788456080286535588) * (v + T(0.044715) * v * v * v);
        return v * sigmoid_ref(2 * u);
      });
    case UnaryOp::kThresholdedRelu: return map_ref(x, y, n, [=](T v) { return v > alpha ? v : T(0); });
    case UnaryOp::kShrink:
      return map_ref(x, y, n, [=](T v) { return v < -alpha ? v + beta : v > alpha ? v - beta : T(0); });
    case UnaryOp::kClip:
      return map_ref(x, y, n, [=](T v) {
        v = v < lo ? lo : v;
        return v > hi ? hi : v;
      });
    case UnaryOp::kSquare: return map_ref(x, y, n, [](T v) { return v * v; });
    case UnaryOp::kCube: return map_ref(x, y, n, [](T v) { return v * v * v; });
    case UnaryOp::kSin: return map_ref(x, y, n, [](T v) { return std::sin(v); });
    case UnaryOp::kCos: return map_ref(x, y, n, [](T v) { return std::cos(v); });
    case UnaryOp::kTan: return map_ref(x, y, n, [](T v) { return std::tan(v); });
    case UnaryOp::kAsin: return map_ref(x, y, n, [](T v) { return std::asin(v); });
    case UnaryOp::kAcos: return map_ref(x, y, n, [](T v) { return std::acos(v); });
    case UnaryOp::kAtan: return map_ref(x, y, n, [](T v) { return std::atan(v); });
    case UnaryOp::kSinh: return map_ref(x, y, n, [](T v) { return std::sinh(v); });
    case UnaryOp::kCosh: return map_ref(x, y, n, [](T v) { return std::cosh(v); });
    case UnaryOp::kAsinh: return map_ref(x, y, n, [](T v) { return std::asinh(v); });
    case UnaryOp::kAcosh: return map_ref(x, y, n, [](T v) { return std::acosh(v); });
    case UnaryOp::kAtanh: return map_ref(x, y, n, [](T v) { return std::atanh(v); });
  }
}

// Integer element types: the operators ONNX defines for them. Negation goes through the unsigned type so that
// the most negative value wraps instead of overflowing.
template <typename T>
bool unary_int(UnaryOp op, const T* x, T* y, int64_t n) {
  using U = std::make_unsigned_t<T>;
  switch (op) {
    case UnaryOp::kAbs:
      if (std::is_unsigned<T>::value) {
        map_ref(x, y, n, [](T v) { return v; });
      } else {
        map_ref(x, y, n, [](T v) { return v < 0 ? T(U(0) - U(v)) : v; });
      }
      return true;
    case UnaryOp::kNeg: map_ref(x, y, n, [](T v) { return T(U(0) - U(v)); }); return true;
    case UnaryOp::kSign: map_ref(x, y, n, [](T v) { return v > 0 ? T(1) : v < 0 ? T(-1) : T(0); }); return true;
    case UnaryOp::kRelu: map_ref(x, y, n, [](T v) { return v < 0 ? T(0) : v; }); return true;
    default: return false;
  }
}

bool op_takes_ints(UnaryOp op) {
  return op == UnaryOp::kAbs || op == UnaryOp::kNeg || op == UnaryOp::kSign || op == UnaryOp::kRelu;
}

// float16 through a float32 loop, converted in blocks that stay in L1.
template <typename Fn>
void map_f16_via_f32(const uint16_t* x, uint16_t* y, int64_t n, ThreadPool* pool, int64_t grain, Fn f32) {
  parallel_for(pool, n, grain, [&](int64_t begin, int64_t end) {
    constexpr int64_t kBlock = 1024;
    float buf[kBlock];
    for (int64_t i = begin; i < end; i += kBlock) {
      const int64_t len = end - i < kBlock ? end - i : kBlock;
      half_to_float_array(x + i, buf, len);
      f32(buf, buf, len);
      float_to_half_array(buf, y + i, len);
    }
  });
}

bool op_is_heavy(UnaryOp op) {
  switch (op) {
    case UnaryOp::kRelu: case UnaryOp::kLeakyRelu: case UnaryOp::kHardSigmoid: case UnaryOp::kHardSwish:
    case UnaryOp::kAbs: case UnaryOp::kNeg: case UnaryOp::kFloor: case UnaryOp::kCeil: case UnaryOp::kRound:
    case UnaryOp::kSign: case UnaryOp::kThresholdedRelu: case UnaryOp::kShrink: case UnaryOp::kClip:
    case UnaryOp::kSquare: case UnaryOp::kCube: case UnaryOp::kSoftsign:
      return false;
    default:
      return true;
  }
}

// Runs `op` over x into y (same dtype, same numel); x and y may alias.
Status run_unary(const NodeDef& node, UnaryOp op, const UnaryParams& p, const Tensor& x, Tensor* y, ThreadPool* pool) {
  const int64_t n = x.numel();
  const int64_t grain = op_is_heavy(op) ? kGrainHeavy : kGrainCheap;
  const DType dt = x.dtype();
  if (n == 0) return Status::OK();
  if (dt == DType::kFloat32) {
    const F32Kernels& k = f32_kernels();
    const float* xs = x.data<float>();
    float* ys = y->data<float>();
    parallel_for(pool, n, grain, [&](int64_t b, int64_t e) { k.unary(op, p, xs + b, ys + b, e - b); });
    return Status::OK();
  }
  if (dt == DType::kFloat16) {
    const F32Kernels& k = f32_kernels();
    map_f16_via_f32(x.data<uint16_t>(), y->data<uint16_t>(), n, pool, grain,
                    [&](const float* a, float* b, int64_t len) { k.unary(op, p, a, b, len); });
    return Status::OK();
  }
  if (dt == DType::kFloat64) {
    const double* xs = x.data<double>();
    double* ys = y->data<double>();
    parallel_for(pool, n, grain, [&](int64_t b, int64_t e) { unary_float_ref(op, p, xs + b, ys + b, e - b); });
    return Status::OK();
  }
  bool ok = false;
  if (op_takes_ints(op)) {
    ok = dispatch(IntTypes{}, dt, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* xs = x.data<T>();
      T* ys = y->data<T>();
      parallel_for(pool, n, kGrainCheap, [&](int64_t b, int64_t e) { unary_int(op, xs + b, ys + b, e - b); });
    });
  }
  if (!ok) return dtype_error(node, std::string("input of type ") + dtype_name(dt) + " is not supported");
  return Status::OK();
}

class UnaryKernel : public OpKernel {
 public:
  UnaryKernel(UnaryOp op, const UnaryParams& p) : op_(op), p_(p) {}
  Status compute(OpContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (!x) return shape_error(ctx.node(), "missing input");
    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), x->dims(), &y));
    return run_unary(ctx.node(), op_, p_, *x, y, ctx.pool());
  }

 private:
  UnaryOp op_;
  UnaryParams p_;
};

// ---- factories ---------------------------------------------------------------------------------------------------

template <UnaryOp kOp>
Status make_simple(const KernelInfo&, std::unique_ptr<OpKernel>* out) {
  out->reset(new UnaryKernel(kOp, UnaryParams()));
  return Status::OK();
}

// Operators with one `alpha` attribute.
template <UnaryOp kOp>
Status make_alpha(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  UnaryParams p;
  switch (kOp) {
    case UnaryOp::kLeakyRelu: p.alpha = info.node().attr_float("alpha", 0.01f); break;
    default: p.alpha = info.node().attr_float("alpha", 1.0f); break;
  }
  if (kOp == UnaryOp::kCelu && p.alpha == 0) return attr_error(info.node(), "alpha must not be 0");
  out->reset(new UnaryKernel(kOp, p));
  return Status::OK();
}

Status make_selu(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  UnaryParams p;
  p.alpha = info.node().attr_float("alpha", 1.67326319217681884765625f);
  p.gamma = info.node().attr_float("gamma", 1.05070102214813232421875f);
  out->reset(new UnaryKernel(UnaryOp::kSelu, p));
  return Status::OK();
}

Status make_hard_sigmoid(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  UnaryParams p;
  p.alpha = info.node().attr_float("alpha", 0.2f);
  p.beta = info.node().attr_float("beta", 0.5f);
  out->reset(new UnaryKernel(UnaryOp::kHardSigmoid, p));
  return Status::OK();
}

Status make_shrink(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  UnaryParams p;
  p.alpha = info.node().attr_float("lambd", 0.5f);
  p.beta = info.node().attr_float("bias", 0.0f);
  out->reset(new UnaryKernel(UnaryOp::kShrink, p));
  return Status::OK();
}

Status make_gelu(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  const std::string approx = info.node().attr_string("approximate", "none");
  UnaryOp op;
  if (approx == "none") {
    op = UnaryOp::kGelu;
  } else if (approx == "tanh") {
    op = UnaryOp::kGeluTanh;
  } else {
    return attr_error(info.node(), "approximate must be 'none' or 'tanh', not '" + approx + "'");
  }
  out->reset(new UnaryKernel(op, UnaryParams()));
  return Status::OK();
}

// ---- Clip --------------------------------------------------------------------------------------------------------

// Opset < 11: bounds are float attributes. Opset >= 11: optional scalar inputs 1 (min) and 2 (max) of the input's
// type, absent meaning unbounded. With min > max every element becomes max.
class ClipKernel : public OpKernel {
 public:
  ClipKernel(bool legacy, float lo, float hi) : legacy_(legacy), attr_lo_(lo), attr_hi_(hi) {}

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x = ctx.input(0);
    if (!x) return shape_error(node, "missing input");
    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), x->dims(), &y));
    const DType dt = x->dtype();
    const int64_t n = x->numel();
    if (dt == DType::kFloat32 || dt == DType::kFloat16) {
      UnaryParams p;
      p.lo = legacy_ ? attr_lo_ : -INFINITY;
      p.hi = legacy_ ? attr_hi_ : INFINITY;
      if (!legacy_) {
        for (int i = 1; i <= 2; i++) {
          const Tensor* b = ctx.input(size_t(i));
          if (!b) continue;
          INT8RT_RETURN_IF_ERROR(check_bound(node, *b, dt, i));
          const float v = dt == DType::kFloat32 ? b->data<float>()[0] : half_to_float(b->data<uint16_t>()[0]);
          (i == 1 ? p.lo : p.hi) = v;
        }
      }
      return run_unary(node, UnaryOp::kClip, p, *x, y, ctx.pool());
    }
    if (legacy_ && dt != DType::kFloat64)
      return dtype_error(node, std::string("input of type ") + dtype_name(dt) + " needs opset 12 or later");
    Status st;
    const bool known = dispatch(NumericTypes{}, dt, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T lo = std::numeric_limits<T>::lowest(), hi = std::numeric_limits<T>::max();
      if (legacy_) {
        lo = T(attr_lo_);
        hi = T(attr_hi_);
      } else {
        for (int i = 1; i <= 2 && st.ok(); i++) {
          const Tensor* b = ctx.input(size_t(i));
          if (!b) continue;
          st = check_bound(node, *b, dt, i);
          if (st.ok()) (i == 1 ? lo : hi) = b->data<T>()[0];
        }
      }
      if (!st.ok() || n == 0) return;
      const T* xs = x->data<T>();
      T* ys = y->data<T>();
      parallel_for(ctx.pool(), n, kGrainCheap, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; i++) {
          T v = xs[i] < lo ? lo : xs[i];
          ys[i] = v > hi ? hi : v;
        }
      });
    });
    if (!known) return dtype_error(node, std::string("input of type ") + dtype_name(dt) + " is not supported");
    return st;
  }

 private:
  static Status check_bound(const NodeDef& node, const Tensor& b, DType dt, int i) {
    const char* which = i == 1 ? "min" : "max";
    if (b.dtype() != dt)
      return dtype_error(node, std::string(which) + " has type " + dtype_name(b.dtype()) + ", input has " +
                                   dtype_name(dt));
    if (b.numel() != 1) return shape_error(node, std::string(which) + " must be a scalar, got shape " + dims_str(b.dims()));
    return Status::OK();
  }

  bool legacy_;
  float attr_lo_, attr_hi_;
};

Status make_clip(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  const bool legacy = info.opset() < 11;
  const float lo = info.node().attr_float("min", -std::numeric_limits<float>::max());
  const float hi = info.node().attr_float("max", std::numeric_limits<float>::max());
  out->reset(new ClipKernel(legacy, lo, hi));
  return Status::OK();
}

// ---- IsNaN, IsInf (bool output) -----------------------------------------------------------------------------------

class ClassifyKernel : public OpKernel {
 public:
  // inf_mode: 0 = IsNaN; otherwise IsInf with bit 1 = detect +inf, bit 2 = detect -inf.
  explicit ClassifyKernel(int inf_mode) : inf_mode_(inf_mode) {}
  Status compute(OpContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (!x) return shape_error(ctx.node(), "missing input");
    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kBool, x->dims(), &y));
    const int64_t n = x->numel();
    uint8_t* ys = y->data<uint8_t>();
    const bool pos = inf_mode_ & 1, neg = inf_mode_ & 2, nan = inf_mode_ == 0;
    auto classify = [&](double v) -> uint8_t {
      if (nan) return v != v;
      return (pos && v == INFINITY) || (neg && v == -INFINITY);
    };
    switch (x->dtype()) {
      case DType::kFloat32: {
        const float* xs = x->data<float>();
        for (int64_t i = 0; i < n; i++) ys[i] = classify(xs[i]);
        return Status::OK();
      }
      case DType::kFloat64: {
        const double* xs = x->data<double>();
        for (int64_t i = 0; i < n; i++) ys[i] = classify(xs[i]);
        return Status::OK();
      }
      case DType::kFloat16: {
        const uint16_t* xs = x->data<uint16_t>();
        for (int64_t i = 0; i < n; i++) ys[i] = classify(half_to_float(xs[i]));
        return Status::OK();
      }
      default:
        return dtype_error(ctx.node(), std::string("input of type ") + dtype_name(x->dtype()) + " is not supported");
    }
  }

 private:
  int inf_mode_;
};

Status make_isnan(const KernelInfo&, std::unique_ptr<OpKernel>* out) {
  out->reset(new ClassifyKernel(0));
  return Status::OK();
}

Status make_isinf(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  const int mode = (info.node().attr_int("detect_positive", 1) ? 1 : 0) | (info.node().attr_int("detect_negative", 1) ? 2 : 0);
  // Neither sign detected: nothing is ever flagged, which mode 4 (no bits for +inf/-inf, not IsNaN) encodes.
  out->reset(new ClassifyKernel(mode ? mode : 4));
  return Status::OK();
}

// ---- Not (bool), BitwiseNot (integers) ---------------------------------------------------------------------------

class NotKernel : public OpKernel {
 public:
  explicit NotKernel(bool bitwise) : bitwise_(bitwise) {}
  Status compute(OpContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (!x) return shape_error(ctx.node(), "missing input");
    const DType dt = x->dtype();
    Tensor* y = nullptr;
    if (!bitwise_) {
      if (dt != DType::kBool) return dtype_error(ctx.node(), std::string("input must be bool, got ") + dtype_name(dt));
      INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, dt, x->dims(), &y));
      const uint8_t* xs = x->data<uint8_t>();
      uint8_t* ys = y->data<uint8_t>();
      for (int64_t i = 0, n = x->numel(); i < n; i++) ys[i] = xs[i] == 0;
      return Status::OK();
    }
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, dt, x->dims(), &y));
    const bool known = dispatch(IntTypes{}, dt, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* xs = x->data<T>();
      T* ys = y->data<T>();
      for (int64_t i = 0, n = x->numel(); i < n; i++) ys[i] = T(~xs[i]);
    });
    if (!known) return dtype_error(ctx.node(), std::string("input of type ") + dtype_name(dt) + " is not supported");
    return Status::OK();
  }

 private:
  bool bitwise_;
};

Status make_not(const KernelInfo&, std::unique_ptr<OpKernel>* out) {
  out->reset(new NotKernel(false));
  return Status::OK();
}

Status make_bitwise_not(const KernelInfo&, std::unique_ptr<OpKernel>* out) {
  out->reset(new NotKernel(true));
  return Status::OK();
}

// ---- Identity, Dropout ------------------------------------------------------------------------------------------

class IdentityKernel : public OpKernel {
 public:
  Status compute(OpContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (!x) return shape_error(ctx.node(), "missing input");
    ctx.set_output(0, *x);
    return Status::OK();
  }
};

Status make_identity(const KernelInfo&, std::unique_ptr<OpKernel>* out) {
  out->reset(new IdentityKernel());
  return Status::OK();
}

// Inference-time Dropout: the output is the input; the optional mask is all true (bool from opset 10, the input's
// type before). Opset 12 made ratio and training_mode inputs: training with a ratio above 0 needs random numbers
// whose stream no test can match, so it is refused; training with ratio 0 keeps every element, as inference does.
class DropoutKernel : public OpKernel {
 public:
  explicit DropoutKernel(int opset) : opset_(opset) {}
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x = ctx.input(0);
    if (!x) return shape_error(node, "missing input");
    if (opset_ >= 12) {
      double ratio = 0.5;
      if (const Tensor* r = ctx.input(1)) {
        if (r->numel() != 1) return shape_error(node, "ratio must be a scalar");
        if (r->dtype() != DType::kFloat32 && r->dtype() != DType::kFloat64 && r->dtype() != DType::kFloat16)
          return dtype_error(node, "ratio must be a floating point scalar");
        ratio = r->float_at(0);
      }
      bool training = false;
      if (const Tensor* t = ctx.input(2)) {
        if (t->numel() != 1 || t->dtype() != DType::kBool) return dtype_error(node, "training_mode must be a bool scalar");
        training = t->data<uint8_t>()[0] != 0;
      }
      if (!(ratio >= 0 && ratio < 1)) return attr_error(node, "ratio must be in [0, 1)");
      if (training && ratio > 0) return unsupported(node, "training mode with a ratio above 0 is not supported");
    }
    ctx.set_output(0, *x);
    if (ctx.num_outputs() > 1 && ctx.output_used(1)) {
      const DType mask_type = opset_ >= 10 ? DType::kBool : x->dtype();
      Tensor* mask = nullptr;
      INT8RT_RETURN_IF_ERROR(ctx.allocate_output(1, mask_type, x->dims(), &mask));
      const int64_t n = x->numel();
      bool ok = true;
      if (mask_type == DType::kBool) {
        std::memset(mask->raw(), 1, size_t(n));
      } else if (mask_type == DType::kFloat16) {
        uint16_t* m = mask->data<uint16_t>();
        for (int64_t i = 0; i < n; i++) m[i] = 0x3c00;  // 1.0
      } else {
        ok = dispatch(NumericTypes{}, mask_type, [&](auto tag) {
          using T = typename decltype(tag)::type;
          T* m = mask->data<T>();
          for (int64_t i = 0; i < n; i++) m[i] = T(1);
        });
      }
      if (!ok) return dtype_error(node, std::string("input of type ") + dtype_name(x->dtype()) + " is not supported");
    }
    return Status::OK();
  }

 private:
  int opset_;
};

Status make_dropout(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  if (info.opset() < 12) {
    const float ratio = info.node().attr_float("ratio", 0.5f);
    if (!(ratio >= 0 && ratio < 1)) return attr_error(info.node(), "ratio must be in [0, 1)");
  }
  out->reset(new DropoutKernel(info.opset()));
  return Status::OK();
}

}  // namespace

void register_unary_ops(KernelRegistry& r) {
  auto add = [&r](const char* op, const char* name, KernelFactory f) {
    r.add({op, "", 1, 0, Device::kCpu, Precision::kFp32, name, f});
  };
  add("Relu", "relu_fp32", &make_simple<UnaryOp::kRelu>);
  add("LeakyRelu", "leakyrelu_fp32", &make_alpha<UnaryOp::kLeakyRelu>);
  add("Elu", "elu_fp32", &make_alpha<UnaryOp::kElu>);
  add("Selu", "selu_fp32", &make_selu);
  add("Celu", "celu_fp32", &make_alpha<UnaryOp::kCelu>);
  add("Sigmoid", "sigmoid_fp32", &make_simple<UnaryOp::kSigmoid>);
  add("HardSigmoid", "hardsigmoid_fp32", &make_hard_sigmoid);
  add("HardSwish", "hardswish_fp32", &make_simple<UnaryOp::kHardSwish>);
  add("Swish", "swish_fp32", &make_alpha<UnaryOp::kSwish>);
  add("Tanh", "tanh_fp32", &make_simple<UnaryOp::kTanh>);
  add("Exp", "exp_fp32", &make_simple<UnaryOp::kExp>);
  add("Log", "log_fp32", &make_simple<UnaryOp::kLog>);
  add("Sqrt", "sqrt_fp32", &make_simple<UnaryOp::kSqrt>);
  add("Abs", "abs_fp32", &make_simple<UnaryOp::kAbs>);
  add("Neg", "neg_fp32", &make_simple<UnaryOp::kNeg>);
  add("Reciprocal", "reciprocal_fp32", &make_simple<UnaryOp::kReciprocal>);
  add("Floor", "floor_fp32", &make_simple<UnaryOp::kFloor>);
  add("Ceil", "ceil_fp32", &make_simple<UnaryOp::kCeil>);
  add("Round", "round_fp32", &make_simple<UnaryOp::kRound>);
  add("Erf", "erf_fp32", &make_simple<UnaryOp::kErf>);
  add("Sign", "sign_fp32", &make_simple<UnaryOp::kSign>);
  add("Softplus", "softplus_fp32", &make_simple<UnaryOp::kSoftplus>);
  add("Softsign", "softsign_fp32", &make_simple<UnaryOp::kSoftsign>);
  add("Mish", "mish_fp32", &make_simple<UnaryOp::kMish>);
  add("Gelu", "gelu_fp32", &make_gelu);
  add("ThresholdedRelu", "thresholdedrelu_fp32", &make_alpha<UnaryOp::kThresholdedRelu>);
  add("Shrink", "shrink_fp32", &make_shrink);
  add("Sin", "sin_fp32", &make_simple<UnaryOp::kSin>);
  add("Cos", "cos_fp32", &make_simple<UnaryOp::kCos>);
  add("Tan", "tan_fp32", &make_simple<UnaryOp::kTan>);
  add("Asin", "asin_fp32", &make_simple<UnaryOp::kAsin>);
  add("Acos", "acos_fp32", &make_simple<UnaryOp::kAcos>);
  add("Atan", "atan_fp32", &make_simple<UnaryOp::kAtan>);
  add("Sinh", "sinh_fp32", &make_simple<UnaryOp::kSinh>);
  add("Cosh", "cosh_fp32", &make_simple<UnaryOp::kCosh>);
  add("Asinh", "asinh_fp32", &make_simple<UnaryOp::kAsinh>);
  add("Acosh", "acosh_fp32", &make_simple<UnaryOp::kAcosh>);
  add("Atanh", "atanh_fp32", &make_simple<UnaryOp::kAtanh>);
  add("Clip", "clip_fp32", &make_clip);
  add("IsNaN", "isnan", &make_isnan);
  add("IsInf", "isinf", &make_isinf);
  add("Not", "not_bool", &make_not);
  add("BitwiseNot", "bitwise_not", &make_bitwise_not);
  add("Identity", "identity", &make_identity);
  add("Dropout", "dropout_inference", &make_dropout);
}

}  // namespace eltwise
}  // namespace int8rt
