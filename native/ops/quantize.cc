// QuantizeLinear, DequantizeLinear (opsets 10-25) and DynamicQuantizeLinear (11): the float-graph quantization
// operators (Precision::kFp32). The int8 planner also inserts QuantizeLinear / DequantizeLinear at the boundaries
// between float and int8 regions (quant/quantize_pass.cc), with a float32 scalar scale and an int8 zero point; that
// case has vector loops (kernels/eltwise-s8.h).
//
// QuantizeLinear   y = saturate(rne(x / y_scale) + y_zero_point)
//   x float32 or float16; y_scale float32/float16, a scalar (per tensor) or 1-D along `axis` (per axis, default
//   axis 1); y int8, uint8, int16 or uint16, the type of y_zero_point, else of `output_dtype` (opset 21), else uint8.
//   x / y_scale is one IEEE float32 division (float16 converts to float32 first); a NaN quotient saturates to the
//   lowest value, as onnxruntime's MLAS loops do.
// DequantizeLinear y = (x - x_zero_point) * x_scale
//   x int8, uint8, int16, uint16 or int32; y has the scale's type (float32 or float16), or `output_dtype`'s (opset
//   23+); the difference is exact in int64 and converted to float once.
// DynamicQuantizeLinear (uint8 per the spec): y_scale = (max(0, max x) - min(0, min x)) / 255 (1/255 when that range
//   is 0), y_zero_point = rne(clamp(-min(0, min x) / y_scale, 0, 255)), y = saturate(rne(x / y_scale) + zp).
// Opsets 23 to 25 (accepted for models made of these two operators only: quant/qdq_import.h) add element types, which
// are refused as below, QuantizeLinear's `precision` (the type the division runs in: float32 is supported, which is
// the default for a float32 scale) and DequantizeLinear's `output_dtype` (float32 or float16).
// Unsupported: blocked quantization (block_size != 0), float8/int4/... element types (kDtype), a float16 scale at
// opset >= 23 without precision = FLOAT (the division would have to run in float16).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/eltwise-s8.h"
#include "ops/registry.h"

namespace int8rt {
namespace {

constexpr int64_t kGrain = 16384;  // elements per parallel task

// Where per-axis parameters apply: element (o, c, i) of [outer, C, inner] uses parameter c. Per tensor: C = 1.
struct AxisPlan {
  int64_t outer = 1, C = 1, inner = 1;
};

// `axis_attr` is used only when the scale is 1-D with more than one element.
Status plan_axis(const NodeDef& node, const Dims& x, const Tensor& scale, const Tensor* zp, int64_t axis_attr,
                 AxisPlan* p) {
  const int64_t n = dims_numel(x);
  const bool per_tensor = scale.rank() == 0 || (scale.rank() == 1 && scale.dim(0) == 1);
  if (zp && (zp->rank() != scale.rank() || zp->numel() != scale.numel()))
    return shape_error(node, "the zero point " + dims_str(zp->dims()) + " must have the scale's shape " +
                                 dims_str(scale.dims()));
  if (per_tensor) {
    *p = AxisPlan{1, 1, n};
    return Status::OK();
  }
  if (scale.rank() != 1)
    return unsupported(node, "blocked quantization (a scale of shape " + dims_str(scale.dims()) +
                                 ") is not supported");
  const int64_t r = int64_t(x.size());
  if (axis_attr < -r || axis_attr >= r)
    return shape_error(node, "axis " + std::to_string(axis_attr) + " is out of range for rank " + std::to_string(r));
  const size_t axis = size_t(axis_attr < 0 ? axis_attr + r : axis_attr);
  if (x[axis] != scale.dim(0))
    return shape_error(node, "the scale has " + std::to_string(scale.dim(0)) + " values for axis " +
                                 std::to_string(axis) + " of size " + std::to_string(x[axis]));
  p->outer = 1;
  p->inner = 1;
  for (size_t i = 0; i < axis; i++) p->outer *= x[i];
  for (size_t i = axis + 1; i < x.size(); i++) p->inner *= x[i];
  p->C = x[axis];
  return Status::OK();
}

// Scale values as float32.
Status read_scales(const NodeDef& node, const Tensor& s, std::vector<float>* out) {
  const int64_t n = s.numel();
  out->resize(size_t(n));
  if (s.dtype() == DType::kFloat32) {
    if (n) std::memcpy(out->data(), s.raw(), size_t(n) * sizeof(float));
  } else if (s.dtype() == DType::kFloat16) {
    for (int64_t i = 0; i < n; i++) (*out)[size_t(i)] = half_to_float(s.data<uint16_t>()[i]);
  } else {
    return dtype_error(node, std::string("scale of type ") + dtype_name(s.dtype()) + " is not supported");
  }
  return Status::OK();
}

// Zero points as int64 (absent: zeros).
std::vector<int64_t> read_zero_points(const Tensor* zp, int64_t n) {
  std::vector<int64_t> v(size_t(n), 0);
  if (zp)
    for (int64_t i = 0; i < n; i++) v[size_t(i)] = zp->int_at(i);
  return v;
}

bool quantized_type(DType t) {
  return t == DType::kInt8 || t == DType::kUint8 || t == DType::kInt16 || t == DType::kUint16;
}

template <typename Q>
inline Q quantize_one(float x, float scale, float lo, float hi, int32_t zp) {
  float v = x / scale;
  v = v > lo ? v : lo;  // NaN -> lo
  v = v < hi ? v : hi;
  return Q(int32_t(std::nearbyint(v)) + zp);
}

// ---------------------------------------------------------------------------------------------------------------
// QuantizeLinear

class QuantizeLinearKernel final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    std::unique_ptr<QuantizeLinearKernel> k(new QuantizeLinearKernel());
    k->axis_ = node.attr_int("axis", 1);
    if (node.attr_int("block_size", 0) != 0) return unsupported(node, "blocked quantization is not supported");
    const int64_t od = node.attr_int("output_dtype", 0);
    if (od != 0) {
      if (!dtype_valid(int32_t(od)) || !quantized_type(DType(od)))
        return dtype_error(node, "output_dtype " + std::to_string(od) + " is not supported (int8, uint8, int16 and "
                                 "uint16 are)");
      k->output_dtype_ = DType(od);
    }
    if (info.num_inputs() < 2) return shape_error(node, "inputs x and y_scale are required");
    // The division's precision: float32 always here. Opset 23 made it the scale's type unless `precision` says
    // otherwise, so a float16 scale there must come with precision = FLOAT.
    const int64_t precision = node.attr_int("precision", 0);
    if (precision != 0 && precision != int64_t(DType::kFloat32))
      return unsupported(node, "precision " + std::to_string(precision) + " is not supported (the division runs in "
                               "float32: precision 1)");
    k->f16_scale_needs_precision_ = info.opset() >= 23 && precision == 0;
    k->opset_ = info.opset();
    *out = std::move(k);
    return Status::OK();
  }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x = ctx.input(0);
    const Tensor* s = ctx.input(1);
    const Tensor* zp = ctx.input(2);
    if (!x || !s) return shape_error(node, "inputs x and y_scale are required");
    if (x->dtype() != DType::kFloat32 && x->dtype() != DType::kFloat16)
      return dtype_error(node, std::string("x of type ") + dtype_name(x->dtype()) + " is not supported");
    DType yt = output_dtype_ == DType::kUndefined ? DType::kUint8 : output_dtype_;
    if (zp) {
      if (!quantized_type(zp->dtype()))
        return dtype_error(node, std::string("zero point of type ") + dtype_name(zp->dtype()) + " is not supported");
      if (output_dtype_ != DType::kUndefined && zp->dtype() != output_dtype_)
        return dtype_error(node, "output_dtype differs from the zero point's type");
      yt = zp->dtype();
    }
    if (f16_scale_needs_precision_ && s->dtype() == DType::kFloat16)
      return unsupported(node, "a float16 scale at opset " + std::to_string(opset_) +
                               " asks for the division in float16, which is not supported (set precision = 1)");
    AxisPlan p;
    INT8RT_RETURN_IF_ERROR(plan_axis(node, x->dims(), *s, zp, axis_, &p));
    std::vector<float> scales;
    INT8RT_RETURN_IF_ERROR(read_scales(node, *s, &scales));
    const std::vector<int64_t> zps = read_zero_points(zp, s->numel());
    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, yt, x->dims(), &y));
    if (y->numel() == 0) return Status::OK();
    // float16 input: converted to float32 in a temporary.
    const float* xf = nullptr;
    if (x->dtype() == DType::kFloat16) {
      float* tmp = nullptr;
      INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(x->numel()) * sizeof(float), reinterpret_cast<void**>(&tmp)));
      const uint16_t* h = x->data<uint16_t>();
      for (int64_t i = 0; i < x->numel(); i++) tmp[i] = half_to_float(h[i]);
      xf = tmp;
    } else {
      xf = x->data<float>();
    }
    switch (yt) {
      case DType::kInt8: run<int8_t>(ctx, xf, p, scales, zps, y); break;
      case DType::kUint8: run<uint8_t>(ctx, xf, p, scales, zps, y); break;
      case DType::kInt16: run<int16_t>(ctx, xf, p, scales, zps, y); break;
      default: run<uint16_t>(ctx, xf, p, scales, zps, y); break;
    }
    return Status::OK();
  }

 private:
  template <typename Q>
  void run(OpContext& ctx, const float* x, const AxisPlan& p, const std::vector<float>& scales,
           const std::vector<int64_t>& zps, Tensor* yt) const {
    Q* y = yt->data<Q>();
    const float qlo = float(std::numeric_limits<Q>::lowest()), qhi = float(std::numeric_limits<Q>::max());
    if (p.C == 1) {
      const float s = scales[0];
      const int32_t z = int32_t(zps[0]);
      const float lo = qlo - float(z), hi = qhi - float(z);
      const EltwiseS8Kernels& k = eltwise_s8();
      parallel_for(ctx.pool(), p.inner, kGrain, [&](int64_t b, int64_t e) {
        if (std::is_same<Q, int8_t>::value) {
          k.quantize(x + b, reinterpret_cast<int8_t*>(y) + b, e - b, s, z);
        } else {
          for (int64_t i = b; i < e; i++) y[i] = quantize_one<Q>(x[i], s, lo, hi, z);
        }
      });
      return;
    }
    const int64_t rows = p.outer * p.C;
    parallel_for(ctx.pool(), rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(p.inner, 1)),
                 [&](int64_t b, int64_t e) {
                   for (int64_t r = b; r < e; r++) {
                     const int64_t c = r % p.C;
                     const float s = scales[size_t(c)];
                     const int32_t z = int32_t(zps[size_t(c)]);
                     const float lo = qlo - float(z), hi = qhi - float(z);
                     const float* xr = x + r * p.inner;
                     Q* yr = y + r * p.inner;
                     for (int64_t i = 0; i < p.inner; i++) yr[i] = quantize_one<Q>(xr[i], s, lo, hi, z);
                   }
                 });
  }

  int64_t axis_ = 1;
  DType output_dtype_ = DType::kUndefined;
  bool f16_scale_needs_precision_ = false;
  int opset_ = 0;
};

// ---------------------------------------------------------------------------------------------------------------
// DequantizeLinear

class DequantizeLinearKernel final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    std::unique_ptr<DequantizeLinearKernel> k(new DequantizeLinearKernel());
    k->axis_ = node.attr_int("axis", 1);
    if (node.attr_int("block_size", 0) != 0) return unsupported(node, "blocked quantization is not supported");
    if (info.num_inputs() < 2) return shape_error(node, "inputs x and x_scale are required");
    const int64_t od = node.attr_int("output_dtype", 0);  // opset 23+
    if (od != 0 && od != int64_t(DType::kFloat32) && od != int64_t(DType::kFloat16))
      return dtype_error(node, "output_dtype " + std::to_string(od) + " is not supported (float32 and float16 are)");
    k->output_dtype_ = DType(od);
    *out = std::move(k);
    return Status::OK();
  }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x = ctx.input(0);
    const Tensor* s = ctx.input(1);
    const Tensor* zp = ctx.input(2);
    if (!x || !s) return shape_error(node, "inputs x and x_scale are required");
    const DType xt = x->dtype();
    if (!quantized_type(xt) && xt != DType::kInt32)
      return dtype_error(node, std::string("x of type ") + dtype_name(xt) + " is not supported");
    if (zp && zp->dtype() != xt) return dtype_error(node, "the zero point must have x's type");
    if (s->dtype() != DType::kFloat32 && s->dtype() != DType::kFloat16)
      return dtype_error(node, std::string("scale of type ") + dtype_name(s->dtype()) + " is not supported");
    AxisPlan p;
    INT8RT_RETURN_IF_ERROR(plan_axis(node, x->dims(), *s, zp, axis_, &p));
    std::vector<float> scales;
    INT8RT_RETURN_IF_ERROR(read_scales(node, *s, &scales));
    const std::vector<int64_t> zps = read_zero_points(zp, s->numel());
    const DType yt = output_dtype_ == DType::kUndefined ? s->dtype() : output_dtype_;
    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, yt, x->dims(), &y));
    if (y->numel() == 0) return Status::OK();
    const bool half = yt == DType::kFloat16;
    switch (xt) {
      case DType::kInt8: run<int8_t>(ctx, *x, p, scales, zps, half, y); break;
      case DType::kUint8: run<uint8_t>(ctx, *x, p, scales, zps, half, y); break;
      case DType::kInt16: run<int16_t>(ctx, *x, p, scales, zps, half, y); break;
      case DType::kUint16: run<uint16_t>(ctx, *x, p, scales, zps, half, y); break;
      default: run<int32_t>(ctx, *x, p, scales, zps, half, y); break;
    }
    return Status::OK();
  }

 private:
  template <typename Q>
  void run(OpContext& ctx, const Tensor& xt, const AxisPlan& p, const std::vector<float>& scales,
           const std::vector<int64_t>& zps, bool half, Tensor* yt) const {
    const Q* x = xt.data<Q>();
    const int64_t rows = p.outer * p.C;
    const int64_t inner = p.inner;
    // Per tensor, the rows are cut into chunks of the flat array.
    const int64_t chunk = p.C == 1 ? std::min<int64_t>(inner, kGrain) : inner;
    const int64_t chunks_per_row = p.C == 1 ? (inner + chunk - 1) / chunk : 1;
    const EltwiseS8Kernels& k = eltwise_s8();
    parallel_for(ctx.pool(), rows * chunks_per_row,
                 std::max<int64_t>(1, kGrain / std::max<int64_t>(chunk, 1)), [&](int64_t b, int64_t e) {
                   for (int64_t it = b; it < e; it++) {
                     const int64_t r = it / chunks_per_row, i0 = (it % chunks_per_row) * chunk;
                     const int64_t i1 = std::min(inner, i0 + chunk), off = r * inner;
                     const int64_t c = r % p.C;
                     const float s = scales[size_t(c)];
                     const int64_t z = zps[size_t(c)];
                     if (half) {
                       uint16_t* y = yt->data<uint16_t>() + off;
                       for (int64_t i = i0; i < i1; i++) y[i] = float_to_half(float(int64_t(x[off + i]) - z) * s);
                     } else if (std::is_same<Q, int8_t>::value) {
                       k.dequantize(reinterpret_cast<const int8_t*>(x) + off + i0, yt->data<float>() + off + i0,
                                    i1 - i0, s, int32_t(z));
                     } else {
                       float* y = yt->data<float>() + off;
                       for (int64_t i = i0; i < i1; i++) y[i] = float(int64_t(x[off + i]) - z) * s;
                     }
                   }
                 });
  }

  int64_t axis_ = 1;
  DType output_dtype_ = DType::kUndefined;  // kUndefined: the scale's type
};

// ---------------------------------------------------------------------------------------------------------------
// DynamicQuantizeLinear

class DynamicQuantizeLinearKernel final : public OpKernel {
 public:
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x = ctx.input(0);
    if (!x) return shape_error(node, "input x is required");
    if (x->dtype() != DType::kFloat32)
      return dtype_error(node, std::string("x of type ") + dtype_name(x->dtype()) + " is not supported");
    const float* xp = x->data<float>();
    const int64_t n = x->numel();
    // The range always includes 0, so that 0 is exactly representable.
    float mn = 0.f, mx = 0.f;
    for (int64_t i = 0; i < n; i++) {
      mn = xp[i] < mn ? xp[i] : mn;
      mx = xp[i] > mx ? xp[i] : mx;
    }
    const float scale = (mx == mn ? 1.f : mx - mn) / 255.f;
    float zpf = 0.f - mn / scale;
    zpf = std::min(std::max(zpf, 0.f), 255.f);
    const int32_t zp = int32_t(std::nearbyint(zpf));
    Tensor *y = nullptr, *ys = nullptr, *yz = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kUint8, x->dims(), &y));
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(1, DType::kFloat32, {}, &ys));
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(2, DType::kUint8, {}, &yz));
    ys->data<float>()[0] = scale;
    yz->data<uint8_t>()[0] = uint8_t(zp);
    uint8_t* yp = y->data<uint8_t>();
    const float lo = 0.f - float(zp), hi = 255.f - float(zp);
    parallel_for(ctx.pool(), n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; i++) yp[i] = quantize_one<uint8_t>(xp[i], scale, lo, hi, zp);
    });
    return Status::OK();
  }
};

Status make_quantize(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return QuantizeLinearKernel::create(info, out);
}
Status make_dequantize(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return DequantizeLinearKernel::create(info, out);
}
Status make_dynamic_quantize(const KernelInfo&, std::unique_ptr<OpKernel>* out) {
  out->reset(new DynamicQuantizeLinearKernel());
  return Status::OK();
}

}  // namespace

void register_quantize_ops(KernelRegistry& r) {
  r.add({"QuantizeLinear", "", 10, 0, Device::kCpu, Precision::kFp32, "quantize_linear", &make_quantize});
  r.add({"DequantizeLinear", "", 10, 0, Device::kCpu, Precision::kFp32, "dequantize_linear", &make_dequantize});
  r.add({"DynamicQuantizeLinear", "", 11, 0, Device::kCpu, Precision::kFp32, "dynamic_quantize_linear",
         &make_dynamic_quantize});
}

}  // namespace int8rt
