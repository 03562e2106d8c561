// Cast and CastLike between every pair of the element types the runtime holds: float32, float64, float16, int8,
// uint8, int16, uint16, int32, uint32, int64, uint64, bool. A cast to the input's own type is the input itself
// (no copy). Strings and the types the runtime cannot hold (bfloat16, float8, int4, ...) are refused.
//
// Conversions: integer to integer wraps (two's complement, as numpy's astype); floating to integer truncates toward
// zero and saturates at the target's range, NaN giving 0 (C++ leaves out-of-range conversions undefined); anything
// to bool is "not zero" (NaN is true); bool is 0 or 1; to float16 rounds to nearest even, also from float64 (no
// double rounding through float32).
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

// Tags for the two element types without a C++ arithmetic type of their own.
struct HalfT {};
struct BoolT {};

template <typename T>
struct CastTraits {
  using storage = T;
  static constexpr DType dtype = DTypeOf<T>::value;
};
template <>
struct CastTraits<HalfT> {
  using storage = uint16_t;
  static constexpr DType dtype = DType::kFloat16;
};
template <>
struct CastTraits<BoolT> {
  using storage = uint8_t;
  static constexpr DType dtype = DType::kBool;
};

using CastTypes = TypeList<float, double, HalfT, int8_t, uint8_t, int16_t, uint16_t, int32_t, uint32_t, int64_t,
                           uint64_t, BoolT>;

template <typename... Ts, typename Fn>
bool dispatch_cast(TypeList<Ts...>, DType dt, Fn&& fn) {
  bool hit = false;
  (void)((CastTraits<Ts>::dtype == dt ? (fn(Tag<Ts>{}), hit = true) : false) || ...);
  return hit;
}

// float64 -> float16 with one rounding: first to float32 rounding to odd (an inexact result gets its last mantissa
// bit set), which keeps the information float_to_half needs to round the 13 extra bits correctly.
uint16_t double_to_half(double d) {
  float f = float(d);
  if (std::isfinite(f) && double(f) != d) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    if (std::fabs(double(f)) > std::fabs(d)) bits -= 1;  // truncate toward zero ...
    bits |= 1;                                           // ... then mark inexact
    std::memcpy(&f, &bits, 4);
  }
  return float_to_half(f);
}

// The value of a stored element, as the arithmetic type conversions start from.
template <typename S>
auto load(typename CastTraits<S>::storage v) {
  if constexpr (std::is_same<S, HalfT>::value) {
    return half_to_float(v);
  } else if constexpr (std::is_same<S, BoolT>::value) {
    return uint8_t(v != 0);
  } else {
    return v;
  }
}

template <typename D, typename V>
typename CastTraits<D>::storage convert(V v) {
  using Out = typename CastTraits<D>::storage;
  if constexpr (std::is_same<D, BoolT>::value) {
    return Out(v != V(0));
  } else if constexpr (std::is_same<D, HalfT>::value) {
    if constexpr (std::is_same<V, double>::value) {
      return double_to_half(v);
    } else if constexpr (std::is_integral<V>::value && sizeof(V) > 2) {
      return double_to_half(double(v));  // large integers: avoid rounding twice through float32
    } else {
      return float_to_half(float(v));
    }
  } else if constexpr (std::is_integral<Out>::value && std::is_floating_point<V>::value) {
    const double d = double(v);
    if (!(d == d)) return Out(0);
    if (d <= double(std::numeric_limits<Out>::lowest())) return std::numeric_limits<Out>::lowest();
    if (d >= double(std::numeric_limits<Out>::max())) return std::numeric_limits<Out>::max();
    return Out(d);
  } else {
    return Out(v);
  }
}

template <typename S, typename D>
void cast_loop(const void* src, void* dst, int64_t begin, int64_t end) {
  const auto* s = static_cast<const typename CastTraits<S>::storage*>(src);
  auto* d = static_cast<typename CastTraits<D>::storage*>(dst);
  for (int64_t i = begin; i < end; i++) d[i] = convert<D>(load<S>(s[i]));
}

const char* code_name(int32_t code) {
  switch (code) {
    case 8: return "string";
    case 14: return "complex64";
    case 15: return "complex128";
    case 16: return "bfloat16";
    case 17: return "float8e4m3fn";
    case 18: return "float8e4m3fnuz";
    case 19: return "float8e5m2";
    case 20: return "float8e5m2fnuz";
    case 21: return "uint4";
    case 22: return "int4";
    case 23: return "float4e2m1";
    default: return nullptr;
  }
}

// Whether the runtime can cast to/from ONNX type `code`; *why says which type it is when not.
bool castable(int32_t code, std::string* why) {
  if (code != int32_t(DType::kString) && dtype_valid(code)) return true;
  const char* name = code_name(code);
  *why = name ? std::string(name) : "type code " + std::to_string(code);
  return false;
}

Status run_cast(OpContext& ctx, const Tensor& x, DType to) {
  const NodeDef& node = ctx.node();
  std::string why;
  if (!castable(int32_t(x.dtype()), &why)) return unsupported(node, "casting from " + why + " is not supported");
  if (!castable(int32_t(to), &why)) return unsupported(node, "casting to " + why + " is not supported");
  if (x.dtype() == to) {
    ctx.set_output(0, x);
    return Status::OK();
  }
  Tensor* y = nullptr;
  INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, to, x.dims(), &y));
  const int64_t n = x.numel();
  if (n == 0) return Status::OK();
  const void* src = x.raw();
  void* dst = y->raw();
  bool known_to = false;
  const bool known_from = dispatch_cast(CastTypes{}, x.dtype(), [&](auto stag) {
    using S = typename decltype(stag)::type;
    known_to = dispatch_cast(CastTypes{}, to, [&](auto dtag) {
      using D = typename decltype(dtag)::type;
      parallel_for(ctx.pool(), n, kGrainCheap, [&](int64_t b, int64_t e) { cast_loop<S, D>(src, dst, b, e); });
    });
  });
  if (!known_from || !known_to)
    return unsupported(node, std::string("casting ") + dtype_name(x.dtype()) + " to " + dtype_name(to) +
                                 " is not supported");
  return Status::OK();
}

class CastKernel : public OpKernel {
 public:
  explicit CastKernel(DType to) : to_(to) {}
  Status compute(OpContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (!x) return shape_error(ctx.node(), "missing input");
    return run_cast(ctx, *x, to_);
  }

 private:
  DType to_;
};

Status make_cast(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  const Attribute* a = info.node().attr("to");
  if (!a || a->type != Attribute::Type::kInt) return attr_error(info.node(), "the 'to' attribute is required");
  if (a->i < 0 || a->i > std::numeric_limits<int32_t>::max())
    return attr_error(info.node(), "'to' is not an element type code: " + std::to_string(a->i));
  const int32_t code = int32_t(a->i);
  std::string why;
  if (!castable(code, &why)) return unsupported(info.node(), "casting to " + why + " is not supported");
  out->reset(new CastKernel(static_cast<DType>(code)));
  return Status::OK();
}

// CastLike: the target type is the type of input 1 (its values are not read).
class CastLikeKernel : public OpKernel {
 public:
  Status compute(OpContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* like = ctx.input(1);
    if (!x || !like) return shape_error(ctx.node(), "expects two inputs");
    return run_cast(ctx, *x, like->dtype());
  }
};

Status make_cast_like(const KernelInfo&, std::unique_ptr<OpKernel>* out) {
  out->reset(new CastLikeKernel());
  return Status::OK();
}

}  // namespace

void register_cast_ops(KernelRegistry& r) {
  r.add({"Cast", "", 6, 0, Device::kCpu, Precision::kFp32, "cast", &make_cast});
  r.add({"CastLike", "", 15, 0, Device::kCpu, Precision::kFp32, "cast_like", &make_cast_like});
}

}  // namespace eltwise
}  // namespace int8rt
