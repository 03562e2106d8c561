// Binary and variadic elementwise operators with numpy broadcasting: arithmetic (Add, Sub, Mul, Div, Mod, Pow),
// comparison (Equal, Less, Greater, LessOrEqual, GreaterOrEqual), logic (And, Or, Xor), bitwise (BitwiseAnd/Or/Xor,
// BitShift), PRelu, Where, and the variadic Max, Min, Sum, Mean.
//
// Every operator walks a BroadcastPlan (elementwise.cc). float32 arithmetic runs through the vectorised loop table
// of the active ISA; other element types through the templates below; float16 is converted to float32 and back.
//
// Integer semantics: arithmetic wraps around (two's complement) instead of overflowing; Div truncates toward zero;
// division or Mod by zero gives 0 (ONNX leaves it undefined, and it must not trap); BitShift by the bit width or
// more gives 0.
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

// ---- element operations -------------------------------------------------------------------------------------------

// The type integer arithmetic of T is done in so that it wraps instead of overflowing: unsigned, at least int wide.
template <typename T, bool = std::is_integral<T>::value>
struct WrapOf {
  using type = T;
};
template <typename T>
struct WrapOf<T, true> {
  using type = std::make_unsigned_t<decltype(T() + T())>;
};
template <typename T>
using Wrap = typename WrapOf<T>::type;

enum class Op : int {
  kAdd, kSub, kMul, kDiv, kMod, kFMod, kMax, kMin, kPRelu,
  kBitAnd, kBitOr, kBitXor, kShiftLeft, kShiftRight,
  kAnd, kOr, kXor,
  kEqual, kLess, kGreater, kLessEqual, kGreaterEqual,
};

bool is_compare(Op op) { return op >= Op::kEqual; }
bool is_logic(Op op) { return op == Op::kAnd || op == Op::kOr || op == Op::kXor; }

template <Op kOp>
struct Elem;

template <>
struct Elem<Op::kAdd> {
  template <typename T> T operator()(T a, T b) const { return T(Wrap<T>(a) + Wrap<T>(b)); }
};
template <>
struct Elem<Op::kSub> {
  template <typename T> T operator()(T a, T b) const { return T(Wrap<T>(a) - Wrap<T>(b)); }
};
template <>
struct Elem<Op::kMul> {
  template <typename T> T operator()(T a, T b) const { return T(Wrap<T>(a) * Wrap<T>(b)); }
};
template <>
struct Elem<Op::kDiv> {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral<T>::value) {
      if (b == 0) return T(0);
      if constexpr (std::is_signed<T>::value) {
        if (b == T(-1)) return T(Wrap<T>(0) - Wrap<T>(a));  // min / -1 wraps
      }
    }
    return T(a / b);
  }
};
// Mod with fmod = 0: the result takes the divisor's sign (Python, numpy.mod). Integers only.
template <>
struct Elem<Op::kMod> {
  template <typename T>
  T operator()(T a, T b) const {
    if (b == 0) return T(0);
    if constexpr (std::is_signed<T>::value) {
      if (b == T(-1)) return T(0);
      T r = T(a % b);
      if (r != 0 && ((r < 0) != (b < 0))) r = T(r + b);
      return r;
    } else {
      return T(a % b);
    }
  }
};
// Mod with fmod = 1: the result takes the dividend's sign (C fmod, %).
template <>
struct Elem<Op::kFMod> {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point<T>::value) {
      return std::fmod(a, b);
    } else {
      if (b == 0) return T(0);
      if constexpr (std::is_signed<T>::value) {
        if (b == T(-1)) return T(0);
      }
      return T(a % b);
    }
  }
};
template <>
struct Elem<Op::kMax> {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point<T>::value) {
      if (a != a) return a;  // NaN propagates, as numpy.maximum
    }
    return a > b ? a : b;
  }
};
template <>
struct Elem<Op::kMin> {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point<T>::value) {
      if (a != a) return a;
    }
    return a < b ? a : b;
  }
};
template <>
struct Elem<Op::kPRelu> {
  template <typename T> T operator()(T x, T slope) const { return x < T(0) ? T(Wrap<T>(x) * Wrap<T>(slope)) : x; }
};
template <>
struct Elem<Op::kBitAnd> {
  template <typename T> T operator()(T a, T b) const { return T(a & b); }
};
template <>
struct Elem<Op::kBitOr> {
  template <typename T> T operator()(T a, T b) const { return T(a | b); }
};
template <>
struct Elem<Op::kBitXor> {
  template <typename T> T operator()(T a, T b) const { return T(a ^ b); }
};
template <>
struct Elem<Op::kShiftLeft> {
  template <typename T>
  T operator()(T a, T b) const {
    return b >= T(8 * sizeof(T)) ? T(0) : T(Wrap<T>(a) << b);
  }
};
template <>
struct Elem<Op::kShiftRight> {
  template <typename T>
  T operator()(T a, T b) const {
    return b >= T(8 * sizeof(T)) ? T(0) : T(a >> b);
  }
};
// Logic on bool tensors (bytes, any non-zero value counting as true).
template <>
struct Elem<Op::kAnd> {
  template <typename T> uint8_t operator()(T a, T b) const { return (a != 0) & (b != 0); }
};
template <>
struct Elem<Op::kOr> {
  template <typename T> uint8_t operator()(T a, T b) const { return (a != 0) | (b != 0); }
};
template <>
struct Elem<Op::kXor> {
  template <typename T> uint8_t operator()(T a, T b) const { return (a != 0) ^ (b != 0); }
};
template <>
struct Elem<Op::kEqual> {
  template <typename T> uint8_t operator()(T a, T b) const { return a == b; }
};
template <>
struct Elem<Op::kLess> {
  template <typename T> uint8_t operator()(T a, T b) const { return a < b; }
};
template <>
struct Elem<Op::kGreater> {
  template <typename T> uint8_t operator()(T a, T b) const { return a > b; }
};
template <>
struct Elem<Op::kLessEqual> {
  template <typename T> uint8_t operator()(T a, T b) const { return a <= b; }
};
template <>
struct Elem<Op::kGreaterEqual> {
  template <typename T> uint8_t operator()(T a, T b) const { return a >= b; }
};

// ---- plan walkers ------------------------------------------------------------------------------------------------

// y = f(a, b) over a two-input plan. a and y may be the same array (in-place accumulation).
template <typename TA, typename TB, typename TO, typename F>
void run_plan2(const BroadcastPlan& plan, const TA* a, const TB* b, TO* y, ThreadPool* pool, int64_t grain, F f) {
  const bool av = plan.inner_vec[0], bv = plan.inner_vec[1];
  parallel_for(pool, plan.numel, grain, [&](int64_t begin, int64_t end) {
    plan.for_each_run(begin, end, [&](int64_t o, const int64_t* off, int64_t len) {
      const TA* pa = a + off[0];
      const TB* pb = b + off[1];
      TO* py = y + o;
      if (av && bv) {
        for (int64_t i = 0; i < len; i++) py[i] = f(pa[i], pb[i]);
      } else if (av) {
        const TB s = *pb;
        for (int64_t i = 0; i < len; i++) py[i] = f(pa[i], s);
      } else if (bv) {
        const TA s = *pa;
        for (int64_t i = 0; i < len; i++) py[i] = f(s, pb[i]);
      } else {
        const TO v = f(*pa, *pb);
        for (int64_t i = 0; i < len; i++) py[i] = v;
      }
    });
  });
}

// float32 arithmetic through the ISA's vector loops.
void run_plan2_f32(const BroadcastPlan& plan, BinaryOp op, const float* a, const float* b, float* y,
                   ThreadPool* pool) {
  const F32Kernels& k = f32_kernels();
  const bool av = plan.inner_vec[0], bv = plan.inner_vec[1];
  parallel_for(pool, plan.numel, kGrainCheap, [&](int64_t begin, int64_t end) {
    plan.for_each_run(begin, end, [&](int64_t o, const int64_t* off, int64_t len) {
      k.binary(op, a + off[0], av, b + off[1], bv, y + o, len);
    });
  });
}

bool f32_table_op(Op op, BinaryOp* out) {
  switch (op) {
    case Op::kAdd: *out = BinaryOp::kAdd; return true;
    case Op::kSub: *out = BinaryOp::kSub; return true;
    case Op::kMul: *out = BinaryOp::kMul; return true;
    case Op::kDiv: *out = BinaryOp::kDiv; return true;
    case Op::kMax: *out = BinaryOp::kMax; return true;
    case Op::kMin: *out = BinaryOp::kMin; return true;
    case Op::kPRelu: *out = BinaryOp::kPRelu; return true;
    default: return false;
  }
}

// The element types each operator accepts (float16 aside, which goes through float32 where the operator takes
// floats). Returns false for a type the operator does not take.
template <Op kOp, typename Fn>
bool dispatch_op_types(DType dt, Fn&& fn) {
  if constexpr (kOp == Op::kBitAnd || kOp == Op::kBitOr || kOp == Op::kBitXor) {
    return dispatch(IntTypes{}, dt, fn);
  } else if constexpr (kOp == Op::kShiftLeft || kOp == Op::kShiftRight) {
    return dispatch(UnsignedTypes{}, dt, fn);
  } else if constexpr (kOp == Op::kAnd || kOp == Op::kOr || kOp == Op::kXor) {
    return dt == DType::kBool && dispatch(TypeList<uint8_t>{}, DType::kUint8, fn);
  } else if constexpr (kOp == Op::kMod) {  // fmod = 0 is for integers; floats need fmod = 1
    return dispatch(IntTypes{}, dt, fn);
  } else {
    return dispatch(NumericTypes{}, dt, fn);
  }
}

bool takes_float16(Op op) {
  switch (op) {
    case Op::kAdd: case Op::kSub: case Op::kMul: case Op::kDiv: case Op::kFMod: case Op::kMax: case Op::kMin:
    case Op::kPRelu: case Op::kEqual: case Op::kLess: case Op::kGreater: case Op::kLessEqual:
    case Op::kGreaterEqual:
      return true;
    default:
      return false;
  }
}

// Converts a float16 tensor into float32 scratch memory.
Status f16_to_scratch(OpContext& ctx, const Tensor& t, const float** out) {
  void* p = nullptr;
  INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(t.numel() > 0 ? t.numel() : 1) * sizeof(float), &p));
  half_to_float_array(t.data<uint16_t>(), static_cast<float*>(p), t.numel());
  *out = static_cast<const float*>(p);
  return Status::OK();
}

// Runs op over a two-input plan for raw arrays of element type dt (not float16). y has the output type (bool for
// comparisons and logic). Returns false when dt is not a type the operator takes.
template <Op kOp>
bool run_typed(const BroadcastPlan& plan, DType dt, const void* a, const void* b, void* y, ThreadPool* pool) {
  BinaryOp table_op;
  if (dt == DType::kFloat32 && f32_table_op(kOp, &table_op)) {
    run_plan2_f32(plan, table_op, static_cast<const float*>(a), static_cast<const float*>(b), static_cast<float*>(y),
                  pool);
    return true;
  }
  if (kOp == Op::kEqual && dt == DType::kBool) {  // bytes holding any non-zero value as true
    run_plan2(plan, static_cast<const uint8_t*>(a), static_cast<const uint8_t*>(b), static_cast<uint8_t*>(y), pool,
              kGrainCheap, [](uint8_t u, uint8_t v) -> uint8_t { return (u != 0) == (v != 0); });
    return true;
  }
  return dispatch_op_types<kOp>(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using TO = std::conditional_t<kOp >= Op::kAnd, uint8_t, T>;
    run_plan2(plan, static_cast<const T*>(a), static_cast<const T*>(b), static_cast<TO*>(y), pool, kGrainCheap,
              Elem<kOp>());
  });
}

using RunFn = bool (*)(const BroadcastPlan&, DType, const void*, const void*, void*, ThreadPool*);

RunFn run_fn(Op op) {
  switch (op) {
    case Op::kAdd: return &run_typed<Op::kAdd>;
    case Op::kSub: return &run_typed<Op::kSub>;
    case Op::kMul: return &run_typed<Op::kMul>;
    case Op::kDiv: return &run_typed<Op::kDiv>;
    case Op::kMod: return &run_typed<Op::kMod>;
    case Op::kFMod: return &run_typed<Op::kFMod>;
    case Op::kMax: return &run_typed<Op::kMax>;
    case Op::kMin: return &run_typed<Op::kMin>;
    case Op::kPRelu: return &run_typed<Op::kPRelu>;
    case Op::kBitAnd: return &run_typed<Op::kBitAnd>;
    case Op::kBitOr: return &run_typed<Op::kBitOr>;
    case Op::kBitXor: return &run_typed<Op::kBitXor>;
    case Op::kShiftLeft: return &run_typed<Op::kShiftLeft>;
    case Op::kShiftRight: return &run_typed<Op::kShiftRight>;
    case Op::kAnd: return &run_typed<Op::kAnd>;
    case Op::kOr: return &run_typed<Op::kOr>;
    case Op::kXor: return &run_typed<Op::kXor>;
    case Op::kEqual: return &run_typed<Op::kEqual>;
    case Op::kLess: return &run_typed<Op::kLess>;
    case Op::kGreater: return &run_typed<Op::kGreater>;
    case Op::kLessEqual: return &run_typed<Op::kLessEqual>;
    case Op::kGreaterEqual: return &run_typed<Op::kGreaterEqual>;
  }
  return nullptr;
}

Status type_error(const NodeDef& node, DType dt) {
  return dtype_error(node, std::string("inputs of type ") + dtype_name(dt) + " are not supported");
}

// ---- two-input operators -----------------------------------------------------------------------------------------

class BinaryKernel : public OpKernel {
 public:
  // unidirectional: PRelu, whose slope broadcasts to the input's shape and not the other way.
  BinaryKernel(Op op, bool unidirectional) : op_(op), unidirectional_(unidirectional), run_(run_fn(op)) {}

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* a = ctx.input(0);
    const Tensor* b = ctx.input(1);
    if (!a || !b) return shape_error(node, "expects two inputs");
    const DType dt = a->dtype();
    if (b->dtype() != dt)
      return dtype_error(node, std::string("input types differ: ") + dtype_name(dt) + " and " + dtype_name(b->dtype()));
    Dims out_dims;
    INT8RT_RETURN_IF_ERROR(broadcast_dims(node, {&a->dims(), &b->dims()}, &out_dims));
    if (unidirectional_ && out_dims != a->dims())
      return shape_error(node, "slope of shape " + dims_str(b->dims()) + " does not broadcast to the input shape " +
                                   dims_str(a->dims()));
    const bool bool_out = is_compare(op_) || is_logic(op_);
    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, bool_out ? DType::kBool : dt, out_dims, &y));
    if (y->numel() == 0) return Status::OK();
    BroadcastPlan plan;
    if (!plan.init(out_dims, {&a->dims(), &b->dims()})) return shape_error(node, "internal broadcast error");

    if (op_ == Op::kMod && (dt == DType::kFloat32 || dt == DType::kFloat64 || dt == DType::kFloat16))
      return attr_error(node, "floating point inputs need fmod = 1");
    if (dt == DType::kFloat16) {
      if (!takes_float16(op_)) return type_error(node, dt);
      const float *fa = nullptr, *fb = nullptr;
      INT8RT_RETURN_IF_ERROR(f16_to_scratch(ctx, *a, &fa));
      INT8RT_RETURN_IF_ERROR(f16_to_scratch(ctx, *b, &fb));
      if (bool_out) {
        run_(plan, DType::kFloat32, fa, fb, y->raw(), ctx.pool());
        return Status::OK();
      }
      void* fy = nullptr;
      INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(y->numel()) * sizeof(float), &fy));
      run_(plan, DType::kFloat32, fa, fb, fy, ctx.pool());
      float_to_half_array(static_cast<const float*>(fy), y->data<uint16_t>(), y->numel());
      return Status::OK();
    }
    if (!run_(plan, dt, a->raw(), b->raw(), y->raw(), ctx.pool())) return type_error(node, dt);
    return Status::OK();
  }

 private:
  Op op_;
  bool unidirectional_;
  RunFn run_;
};

template <Op kOp>
Status make_binary(const KernelInfo&, std::unique_ptr<OpKernel>* out) {
  out->reset(new BinaryKernel(kOp, kOp == Op::kPRelu));
  return Status::OK();
}

Status make_mod(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  const int64_t fmod = info.node().attr_int("fmod", 0);
  if (fmod != 0 && fmod != 1) return attr_error(info.node(), "fmod must be 0 or 1");
  // Float inputs require fmod = 1 (checked at run time, where the type is known, through the type lists: kMod
  // takes integers only).
  out->reset(new BinaryKernel(fmod ? Op::kFMod : Op::kMod, false));
  return Status::OK();
}

Status make_bitshift(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  const std::string dir = info.node().attr_string("direction", "");
  if (dir != "LEFT" && dir != "RIGHT")
    return attr_error(info.node(), "direction must be LEFT or RIGHT, not '" + dir + "'");
  out->reset(new BinaryKernel(dir == "LEFT" ? Op::kShiftLeft : Op::kShiftRight, false));
  return Status::OK();
}

// ---- Max, Min, Sum, Mean (variadic) ---------------------------------------------------------------------------

class VariadicKernel : public OpKernel {
 public:
  VariadicKernel(Op op, bool mean) : mean_(mean), run_(run_fn(op)) {}

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    std::vector<const Tensor*> ins;
    std::vector<const Dims*> shapes;
    for (size_t i = 0; i < ctx.num_inputs(); i++) {
      const Tensor* t = ctx.input(i);
      if (!t) continue;
      ins.push_back(t);
      shapes.push_back(&t->dims());
    }
    if (ins.empty()) return shape_error(node, "expects at least one input");
    const DType dt = ins[0]->dtype();
    for (const Tensor* t : ins)
      if (t->dtype() != dt)
        return dtype_error(node, std::string("input types differ: ") + dtype_name(dt) + " and " + dtype_name(t->dtype()));
    if (dt != DType::kFloat16 && !dispatch(NumericTypes{}, dt, [](auto) {})) return type_error(node, dt);
    if (mean_ && dt != DType::kFloat32 && dt != DType::kFloat64 && dt != DType::kFloat16) return type_error(node, dt);
    if (ins.size() == 1) {  // max, min, sum and mean of one tensor: the tensor itself
      ctx.set_output(0, *ins[0]);
      return Status::OK();
    }
    Dims out_dims;
    INT8RT_RETURN_IF_ERROR(broadcast_dims(node, shapes, &out_dims));
    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, dt, out_dims, &y));
    const int64_t n = y->numel();
    if (n == 0) return Status::OK();

    // Inputs as raw arrays of the compute type (float16 converted to float32), accumulating into acc.
    const DType ct = dt == DType::kFloat16 ? DType::kFloat32 : dt;
    std::vector<const void*> raw(ins.size());
    void* acc = y->raw();
    if (dt == DType::kFloat16) {
      for (size_t i = 0; i < ins.size(); i++) {
        const float* f = nullptr;
        INT8RT_RETURN_IF_ERROR(f16_to_scratch(ctx, *ins[i], &f));
        raw[i] = f;
      }
      INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(n) * sizeof(float), &acc));
    } else {
      for (size_t i = 0; i < ins.size(); i++) raw[i] = ins[i]->raw();
    }
    BroadcastPlan plan;
    if (!plan.init(out_dims, {shapes[0], shapes[1]})) return shape_error(node, "internal broadcast error");
    run_(plan, ct, raw[0], raw[1], acc, ctx.pool());
    for (size_t i = 2; i < ins.size(); i++) {
      if (!plan.init(out_dims, {&out_dims, shapes[i]})) return shape_error(node, "internal broadcast error");
      run_(plan, ct, acc, raw[i], acc, ctx.pool());
    }
    if (mean_) {
      const Dims scalar;
      if (!plan.init(out_dims, {&out_dims, &scalar})) return shape_error(node, "internal broadcast error");
      const double count = double(ins.size());
      if (ct == DType::kFloat32) {
        const float c = float(count);
        run_typed<Op::kDiv>(plan, ct, acc, &c, acc, ctx.pool());
      } else {
        run_typed<Op::kDiv>(plan, ct, acc, &count, acc, ctx.pool());
      }
    }
    if (dt == DType::kFloat16) float_to_half_array(static_cast<const float*>(acc), y->data<uint16_t>(), n);
    return Status::OK();
  }

 private:
  bool mean_;
  RunFn run_;
};

template <Op kOp, bool kMean>
Status make_variadic(const KernelInfo&, std::unique_ptr<OpKernel>* out) {
  out->reset(new VariadicKernel(kOp, kMean));
  return Status::OK();
}

// ---- Pow -----------------------------------------------------------------------------------------------------------

// Integer power by squaring, wrapping around like the other integer arithmetic. Negative exponents give the
// truncated quotient 1 / base^-e: 0, except for bases 1 and -1.
template <typename T>
T int_pow(T base, int64_t e, bool e_negative) {
  if (e_negative) {
    if (base == T(1)) return T(1);
    if constexpr (std::is_signed<T>::value) {
      if (base == T(-1)) return (e & 1) ? T(-1) : T(1);
    }
    return T(0);
  }
  Wrap<T> r = 1, b = Wrap<T>(base);
  uint64_t u = uint64_t(e);
  while (u) {
    if (u & 1) r = Wrap<T>(r * b);
    b = Wrap<T>(b * b);
    u >>= 1;
  }
  return T(r);
}

// double -> integer type, truncating toward zero and saturating (NaN gives 0).
template <typename T>
T saturate_int(double v) {
  if (!(v == v)) return T(0);
  if (v <= double(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  if (v >= double(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return T(v);
}

template <typename TX, typename TY>
TX pow_elem(TX x, TY y) {
  if constexpr (std::is_integral<TX>::value && std::is_integral<TY>::value) {
    const bool neg = std::is_signed<TY>::value && y < TY(0);
    return int_pow<TX>(x, int64_t(y), neg);
  } else if constexpr (std::is_same<TX, float>::value && std::is_same<TY, float>::value) {
    return std::pow(x, y);
  } else if constexpr (std::is_floating_point<TX>::value) {
    return TX(std::pow(double(x), double(y)));
  } else {
    return saturate_int<TX>(std::pow(double(x), double(y)));
  }
}

class PowKernel : public OpKernel {
 public:
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x = ctx.input(0);
    const Tensor* e = ctx.input(1);
    if (!x || !e) return shape_error(node, "expects two inputs");
    Dims out_dims;
    INT8RT_RETURN_IF_ERROR(broadcast_dims(node, {&x->dims(), &e->dims()}, &out_dims));
    const DType xt = x->dtype();
    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, xt, out_dims, &y));
    if (y->numel() == 0) return Status::OK();

    // float32 (or float16) base with one float exponent: the common x^2, x^3, x^0.5 become cheap loops. (sqrt
    // differs from pow only at -0 and -inf, where pow gives +0 and +inf.)
    if ((xt == DType::kFloat32 || xt == DType::kFloat16) && e->numel() == 1 && out_dims == x->dims() &&
        (e->dtype() == DType::kFloat32 || e->dtype() == DType::kFloat64 || e->dtype() == DType::kFloat16)) {
      const double p = e->float_at(0);
      UnaryOp op;
      bool special = true;
      if (p == 2) op = UnaryOp::kSquare;
      else if (p == 3) op = UnaryOp::kCube;
      else if (p == 0.5) op = UnaryOp::kSqrt;
      else if (p == -1) op = UnaryOp::kReciprocal;
      else special = false;
      if (special) return run_float_unary(ctx, op, *x, y);
    }

    const float* xf = nullptr;
    const float* ef = nullptr;
    DType xc = xt, ec = e->dtype();
    const void* xr = x->raw();
    const void* er = e->raw();
    void* yr = y->raw();
    if (xt == DType::kFloat16) {
      INT8RT_RETURN_IF_ERROR(f16_to_scratch(ctx, *x, &xf));
      xr = xf;
      xc = DType::kFloat32;
      INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(y->numel()) * sizeof(float), &yr));
    }
    if (ec == DType::kFloat16) {
      INT8RT_RETURN_IF_ERROR(f16_to_scratch(ctx, *e, &ef));
      er = ef;
      ec = DType::kFloat32;
    }
    BroadcastPlan plan;
    if (!plan.init(out_dims, {&x->dims(), &e->dims()})) return shape_error(node, "internal broadcast error");
    bool known_y = false;
    const bool known_x = dispatch(TypeList<float, double, int32_t, int64_t>{}, xc, [&](auto xtag) {
      using TX = typename decltype(xtag)::type;
      known_y = dispatch(NumericTypes{}, ec, [&](auto etag) {
        using TY = typename decltype(etag)::type;
        run_plan2(plan, static_cast<const TX*>(xr), static_cast<const TY*>(er), static_cast<TX*>(yr), ctx.pool(),
                  kGrainHeavy, [](TX a, TY b) { return pow_elem<TX, TY>(a, b); });
      });
    });
    if (!known_x) return dtype_error(node, std::string("base of type ") + dtype_name(xt) + " is not supported");
    if (!known_y) return dtype_error(node, std::string("exponent of type ") + dtype_name(e->dtype()) + " is not supported");
    if (xt == DType::kFloat16) float_to_half_array(static_cast<const float*>(yr), y->data<uint16_t>(), y->numel());
    return Status::OK();
  }

 private:
  static Status run_float_unary(OpContext& ctx, UnaryOp op, const Tensor& x, Tensor* y) {
    const F32Kernels& k = f32_kernels();
    const int64_t n = x.numel();
    UnaryParams p;
    if (x.dtype() == DType::kFloat32) {
      const float* xs = x.data<float>();
      float* ys = y->data<float>();
      parallel_for(ctx.pool(), n, kGrainCheap, [&](int64_t b, int64_t e) { k.unary(op, p, xs + b, ys + b, e - b); });
      return Status::OK();
    }
    void* buf = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(n) * sizeof(float), &buf));
    float* f = static_cast<float*>(buf);
    half_to_float_array(x.data<uint16_t>(), f, n);
    k.unary(op, p, f, f, n);
    float_to_half_array(f, y->data<uint16_t>(), n);
    return Status::OK();
  }
};

Status make_pow(const KernelInfo&, std::unique_ptr<OpKernel>* out) {
  out->reset(new PowKernel());
  return Status::OK();
}

// ---- Where ---------------------------------------------------------------------------------------------------------

template <typename T>
void run_where(const BroadcastPlan& plan, const uint8_t* c, const T* x, const T* y, T* out, ThreadPool* pool) {
  const int64_t sc = plan.inner_vec[0], sx = plan.inner_vec[1], sy = plan.inner_vec[2];
  parallel_for(pool, plan.numel, kGrainCheap, [&](int64_t begin, int64_t end) {
    plan.for_each_run(begin, end, [&](int64_t o, const int64_t* off, int64_t len) {
      const uint8_t* pc = c + off[0];
      const T* px = x + off[1];
      const T* py = y + off[2];
      T* po = out + o;
      if (sc && sx && sy) {
        for (int64_t i = 0; i < len; i++) po[i] = pc[i] ? px[i] : py[i];
      } else {
        for (int64_t i = 0; i < len; i++) po[i] = pc[i * sc] ? px[i * sx] : py[i * sy];
      }
    });
  });
}

class WhereKernel : public OpKernel {
 public:
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* c = ctx.input(0);
    const Tensor* x = ctx.input(1);
    const Tensor* y = ctx.input(2);
    if (!c || !x || !y) return shape_error(node, "expects three inputs");
    if (c->dtype() != DType::kBool) return dtype_error(node, std::string("condition must be bool, got ") + dtype_name(c->dtype()));
    if (x->dtype() != y->dtype())
      return dtype_error(node, std::string("X and Y types differ: ") + dtype_name(x->dtype()) + " and " +
                                   dtype_name(y->dtype()));
    Dims out_dims;
    INT8RT_RETURN_IF_ERROR(broadcast_dims(node, {&c->dims(), &x->dims(), &y->dims()}, &out_dims));
    Tensor* out = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), out_dims, &out));
    if (out->numel() == 0) return Status::OK();
    BroadcastPlan plan;
    if (!plan.init(out_dims, {&c->dims(), &x->dims(), &y->dims()})) return shape_error(node, "internal broadcast error");
    const uint8_t* cs = c->data<uint8_t>();
    // Only the element size matters for a select.
    switch (dtype_size(x->dtype())) {
      case 1: run_where(plan, cs, x->data<uint8_t>(), y->data<uint8_t>(), out->data<uint8_t>(), ctx.pool()); break;
      case 2: run_where(plan, cs, x->data<uint16_t>(), y->data<uint16_t>(), out->data<uint16_t>(), ctx.pool()); break;
      case 4: run_where(plan, cs, x->data<uint32_t>(), y->data<uint32_t>(), out->data<uint32_t>(), ctx.pool()); break;
      case 8: run_where(plan, cs, x->data<uint64_t>(), y->data<uint64_t>(), out->data<uint64_t>(), ctx.pool()); break;
      default: return type_error(node, x->dtype());
    }
    return Status::OK();
  }
};

Status make_where(const KernelInfo&, std::unique_ptr<OpKernel>* out) {
  out->reset(new WhereKernel());
  return Status::OK();
}

}  // namespace

void register_binary_ops(KernelRegistry& r) {
  auto add = [&r](const char* op, const char* name, KernelFactory f) {
    r.add({op, "", 7, 0, Device::kCpu, Precision::kFp32, name, f});
  };
  add("Add", "add_fp32", &make_binary<Op::kAdd>);
  add("Sub", "sub_fp32", &make_binary<Op::kSub>);
  add("Mul", "mul_fp32", &make_binary<Op::kMul>);
  add("Div", "div_fp32", &make_binary<Op::kDiv>);
  add("Mod", "mod", &make_mod);
  add("Pow", "pow_fp32", &make_pow);
  add("PRelu", "prelu_fp32", &make_binary<Op::kPRelu>);
  add("Equal", "equal", &make_binary<Op::kEqual>);
  add("Less", "less", &make_binary<Op::kLess>);
  add("Greater", "greater", &make_binary<Op::kGreater>);
  add("LessOrEqual", "less_or_equal", &make_binary<Op::kLessEqual>);
  add("GreaterOrEqual", "greater_or_equal", &make_binary<Op::kGreaterEqual>);
  add("And", "and_bool", &make_binary<Op::kAnd>);
  add("Or", "or_bool", &make_binary<Op::kOr>);
  add("Xor", "xor_bool", &make_binary<Op::kXor>);
  add("BitwiseAnd", "bitwise_and", &make_binary<Op::kBitAnd>);
  add("BitwiseOr", "bitwise_or", &make_binary<Op::kBitOr>);
  add("BitwiseXor", "bitwise_xor", &make_binary<Op::kBitXor>);
  add("BitShift", "bitshift", &make_bitshift);
  add("Max", "max_fp32", &make_variadic<Op::kMax, false>);
  add("Min", "min_fp32", &make_variadic<Op::kMin, false>);
  add("Sum", "sum_fp32", &make_variadic<Op::kAdd, false>);
  add("Mean", "mean_fp32", &make_variadic<Op::kAdd, true>);
  add("Where", "where", &make_where);
}

}  // namespace eltwise
}  // namespace int8rt
