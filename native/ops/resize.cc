// Resize (opsets 10, 11, 13, 18, 19) and Upsample (7, 9).
//
// Every resized axis gets a plan: for each output position, the input taps it reads (indices clamped to the axis,
// which is the edge padding of the ONNX reference) and their weights, or a flag asking for extrapolation_value
// (tf_crop_and_resize outside the crop). Coordinates follow the ONNX reference implementation, in double:
//   * nearest: one gather over all axes at once, for every element type (elements are moved, never computed), with
//     row de-duplication and a repeat loop for integer upsampling factors;
//   * linear / cubic (float32, float64): separable passes, one per resized axis, least magnified axis first. N-D
//     linear and cubic are separable, so this equals the reference's N-D interpolation. Bilinear on the last two
//     axes of a float32 tensor (NCHW feature maps in detection heads) has a fused 2-D kernel that keeps the
//     horizontally interpolated rows of one plane in cache.
// Work is split over planes (N*C for NCHW) or, for the passes, over output rows.
#include <algorithm>
#include <cmath>
#include <limits>
#include <new>
#include <string>

#include "core/thread_pool.h"
#include "ops/registry.h"
#include "ops/resize.h"
#include "ops/shape_common.h"

namespace int8rt {
namespace {

using shape_ops::kParallelBytes;
using shape_ops::required_input;

enum class Interp { kNearest, kLinear, kCubic };
enum class Coord { kHalfPixel, kHalfPixelSymmetric, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixelForNN,
                   kTfCropAndResize };
enum class NearestRound { kSimple, kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };
enum class AspectPolicy { kStretch, kNotLarger, kNotSmaller };

// How one axis maps output positions to input taps.
struct AxisPlan {
  int64_t in = 0, out = 0;
  int taps = 1;                  // taps per output position (1 for nearest)
  std::vector<int64_t> index;    // out * taps input indices, each in [0, in)
  std::vector<float> weight;     // out * taps weights (linear / cubic)
  std::vector<uint8_t> outside;  // 1 where the output takes extrapolation_value (empty when none does)
  bool identity = false;         // output position o reads exactly input o
};

// Cubic convolution kernel with parameter A at distance x (Keys).
double cubic_kernel(double x, double A) {
  x = std::abs(x);
  if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
  if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return 0;
}

class ResizeKernel : public OpKernel, public ResizeNearestPlanner {
 public:
  Status init(const KernelInfo& info) {
    const NodeDef& node = info.node();
    const int opset = info.opset();
    upsample_ = node.op_type == "Upsample";
    std::string mode = node.attr_string("mode", "nearest");
    if (mode == "nearest") interp_ = Interp::kNearest;
    else if (mode == "linear" || (upsample_ && mode == "bilinear")) interp_ = Interp::kLinear;
    else if (mode == "cubic" && !upsample_ && opset >= 11) interp_ = Interp::kCubic;
    else return shape_error(node, "mode '" + mode + "' is not supported");

    if (upsample_ || opset < 11) {
      // Upsample and Resize-10: asymmetric coordinates; nearest rounds as onnxruntime does for them.
      coord_ = Coord::kAsymmetric;
      nearest_ = NearestRound::kSimple;
      if (upsample_ && opset < 9) {
        if (!node.has_attr("scales")) return shape_error(node, "attribute 'scales' is required");
        for (float s : node.attr_floats("scales")) attr_scales_.push_back(s);
        scales_from_attr_ = true;
      }
      scales_input_ = 1;
    } else {
      const std::string c = node.attr_string("coordinate_transformation_mode", "half_pixel");
      if (c == "half_pixel") coord_ = Coord::kHalfPixel;
      else if (c == "half_pixel_symmetric" && opset >= 19) coord_ = Coord::kHalfPixelSymmetric;
      else if (c == "pytorch_half_pixel") coord_ = Coord::kPytorchHalfPixel;
      else if (c == "align_corners") coord_ = Coord::kAlignCorners;
      else if (c == "asymmetric") coord_ = Coord::kAsymmetric;
      else if (c == "tf_half_pixel_for_nn" && opset < 13) coord_ = Coord::kTfHalfPixelForNN;
      else if (c == "tf_crop_and_resize") coord_ = Coord::kTfCropAndResize;
      else return shape_error(node, "coordinate_transformation_mode '" + c + "' is not supported");
      const std::string n = node.attr_string("nearest_mode", "round_prefer_floor");
      if (n == "round_prefer_floor") nearest_ = NearestRound::kRoundPreferFloor;
      else if (n == "round_prefer_ceil") nearest_ = NearestRound::kRoundPreferCeil;
      else if (n == "floor") nearest_ = NearestRound::kFloor;
      else if (n == "ceil") nearest_ = NearestRound::kCeil;
      else return shape_error(node, "nearest_mode '" + n + "' is not supported");
      cubic_a_ = node.attr_float("cubic_coeff_a", -0.75f);
      exclude_outside_ = node.attr_int("exclude_outside", 0) != 0;
      extrapolation_ = node.attr_float("extrapolation_value", 0.f);
      roi_input_ = 1;
      scales_input_ = 2;
      sizes_input_ = 3;
      if (opset >= 18) {
        antialias_ = node.attr_int("antialias", 0) != 0;
        if (antialias_ && interp_ == Interp::kNearest)
          return shape_error(node, "antialias is only defined for linear and cubic modes");
        const std::string p = node.attr_string("keep_aspect_ratio_policy", "stretch");
        if (p == "stretch") policy_ = AspectPolicy::kStretch;
        else if (p == "not_larger") policy_ = AspectPolicy::kNotLarger;
        else if (p == "not_smaller") policy_ = AspectPolicy::kNotSmaller;
        else return shape_error(node, "keep_aspect_ratio_policy '" + p + "' is not supported");
        has_axes_ = node.has_attr("axes");
        axes_ = node.attr_ints("axes");
      }
    }
    return Status::OK();
  }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    INT8RT_RETURN_IF_ERROR(shape_ops::check_movable(node, x->dtype()));
    const int64_t r = int64_t(x->rank());
    std::vector<AxisPlan> plans;
    INT8RT_RETURN_IF_ERROR(make_plans(ctx, *x, &plans));
    Dims out(static_cast<size_t>(r));
    for (int64_t a = 0; a < r; a++) out[size_t(a)] = plans[size_t(a)].out;

    bool all_identity = true;
    for (const AxisPlan& p : plans) all_identity = all_identity && p.identity;
    if (all_identity) {
      ctx.set_output(0, *x);
      return Status::OK();
    }
    if (interp_ != Interp::kNearest && x->dtype() != DType::kFloat32 && x->dtype() != DType::kFloat64)
      return dtype_error(node, std::string("linear and cubic modes support float32 and float64, not ") +
                                   dtype_name(x->dtype()));
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), out, &y));
    if (y->numel() == 0) return Status::OK();
    if (interp_ == Interp::kNearest) {
      resize_nearest(ctx.pool(), *x, plans, y);
      return Status::OK();
    }
    if (x->dtype() == DType::kFloat32) return resize_separable<float>(ctx, *x, plans, y);
    return resize_separable<double>(ctx, *x, plans, y);
  }

  Status nearest_indices(const OpContext& ctx, const Tensor& x, Dims* out, std::vector<std::vector<int64_t>>* index,
                         bool* identity) const override {
    if (interp_ != Interp::kNearest) return unsupported(ctx.node(), "only mode nearest picks input elements");
    std::vector<AxisPlan> plans;
    INT8RT_RETURN_IF_ERROR(make_plans(ctx, x, &plans));
    out->assign(plans.size(), 0);
    index->assign(plans.size(), {});
    *identity = true;
    for (size_t a = 0; a < plans.size(); a++) {
      if (!plans[a].outside.empty())
        return unsupported(ctx.node(), "output positions outside the crop take extrapolation_value");
      (*out)[a] = plans[a].out;
      (*index)[a] = std::move(plans[a].index);
      *identity = *identity && plans[a].identity;
    }
    return Status::OK();
  }
  bool nearest() const { return interp_ == Interp::kNearest; }

  std::string kernel_name() const override {
    switch (interp_) {
      case Interp::kNearest: return "resize_nearest";
      case Interp::kLinear: return "resize_linear";
      default: return "resize_cubic";
    }
  }

 private:
  // ---- Output sizes, scales and per-axis plans.

  Status make_plans(const OpContext& ctx, const Tensor& x, std::vector<AxisPlan>* plans) const {
    const NodeDef& node = ctx.node();
    const int64_t r = int64_t(x.rank());
    // The axes that scales / sizes / roi talk about.
    std::vector<int64_t> axes;
    if (has_axes_) {
      INT8RT_RETURN_IF_ERROR(shape_ops::normalize_axes(node, axes_, r, &axes));
    } else {
      for (int64_t a = 0; a < r; a++) axes.push_back(a);
    }
    const size_t na = axes.size();

    std::vector<double> scale(size_t(r), 1.0), out_f(size_t(r), 0.0);
    std::vector<int64_t> out(x.dims().begin(), x.dims().end());
    for (int64_t a = 0; a < r; a++) out_f[size_t(a)] = double(x.dim(size_t(a)));

    const Tensor* scales_t = scales_input_ >= 0 ? ctx.input(size_t(scales_input_)) : nullptr;
    const Tensor* sizes_t = sizes_input_ >= 0 ? ctx.input(size_t(sizes_input_)) : nullptr;
    if (scales_t && scales_t->numel() == 0) scales_t = nullptr;
    if (sizes_t && sizes_t->numel() == 0) sizes_t = nullptr;
    if (scales_from_attr_ || scales_t) {
      if (sizes_t) return shape_error(node, "only one of scales and sizes may be given");
      std::vector<double> s;
      if (scales_from_attr_) {
        s = attr_scales_;
      } else {
        if (scales_t->dtype() != DType::kFloat32 && scales_t->dtype() != DType::kFloat64 &&
            scales_t->dtype() != DType::kFloat16)
          return dtype_error(node, "scales must be float");
        for (int64_t i = 0; i < scales_t->numel(); i++) s.push_back(scales_t->float_at(i));
      }
      if (s.size() != na)
        return shape_error(node, std::to_string(s.size()) + " scales for " + std::to_string(na) + " axes");
      for (size_t i = 0; i < na; i++) {
        const size_t a = size_t(axes[i]);
        if (!(s[i] > 0) || !std::isfinite(s[i])) return shape_error(node, "scales must be positive and finite");
        const double o = double(x.dim(a)) * s[i];
        if (o > double(kMaxElements)) return Status(ErrorCode::kTooLarge, node.describe() + ": output is too large");
        scale[a] = s[i];
        out_f[a] = o;
        out[a] = int64_t(std::floor(o));
      }
    } else if (sizes_t) {
      std::vector<int64_t> sz;
      if (sizes_t->dtype() != DType::kInt64) return dtype_error(node, "sizes must be int64");
      INT8RT_RETURN_IF_ERROR(shape_ops::read_ints(node, *sizes_t, "sizes", &sz));
      if (sz.size() != na)
        return shape_error(node, std::to_string(sz.size()) + " sizes for " + std::to_string(na) + " axes");
      for (size_t i = 0; i < na; i++) {
        const size_t a = size_t(axes[i]);
        if (sz[i] < 0) return shape_error(node, "sizes must not be negative");
        if (x.dim(a) == 0 && sz[i] != 0) return shape_error(node, "cannot resize an empty axis to a non-empty one");
        scale[a] = x.dim(a) == 0 ? 1.0 : double(sz[i]) / double(x.dim(a));
        out[a] = sz[i];
        out_f[a] = double(sz[i]);
      }
      if (policy_ != AspectPolicy::kStretch && na > 0) {
        double s = policy_ == AspectPolicy::kNotLarger ? std::numeric_limits<double>::infinity() : 0.0;
        for (int64_t a : axes)
          s = policy_ == AspectPolicy::kNotLarger ? std::min(s, scale[size_t(a)]) : std::max(s, scale[size_t(a)]);
        for (int64_t a : axes) {
          scale[size_t(a)] = s;
          out_f[size_t(a)] = s * double(x.dim(size_t(a)));
          out[size_t(a)] = int64_t(out_f[size_t(a)] + 0.5);
        }
      }
    } else {
      return shape_error(node, "one of scales and sizes is required");
    }

    // Crop box (tf_crop_and_resize only): [starts..., ends...] over `axes`.
    std::vector<double> roi_start(size_t(r), 0.0), roi_end(size_t(r), 1.0);
    if (coord_ == Coord::kTfCropAndResize) {
      const Tensor* roi = roi_input_ >= 0 ? ctx.input(size_t(roi_input_)) : nullptr;
      if (roi && roi->numel() > 0) {
        if (roi->numel() != int64_t(2 * na))
          return shape_error(node, "roi must hold " + std::to_string(2 * na) + " values");
        for (size_t i = 0; i < na; i++) {
          roi_start[size_t(axes[i])] = roi->float_at(int64_t(i));
          roi_end[size_t(axes[i])] = roi->float_at(int64_t(i + na));
        }
      }
    }

    if (dims_numel(out) < 0)
      return Status(ErrorCode::kTooLarge, node.describe() + ": output shape " + dims_str(out) + " is too large");
    // Plans take O(sum of output dims x taps) memory, allocated before the output itself.
    try {
      plans->resize(size_t(r));
      for (int64_t a = 0; a < r; a++)
        build_plan(x.dim(size_t(a)), out[size_t(a)], scale[size_t(a)], out_f[size_t(a)], roi_start[size_t(a)],
                   roi_end[size_t(a)], &(*plans)[size_t(a)]);
    } catch (const std::bad_alloc&) {
      return Status(ErrorCode::kOutOfMemory, node.describe() + ": out of memory planning output " + dims_str(out));
    }
    return Status::OK();
  }

  // The input coordinate of output position o (reference semantics; `out_f` is the unrounded output length).
  double original_coordinate(double o, double scale, int64_t in, int64_t out, double out_f, double roi_start,
                             double roi_end) const {
    switch (coord_) {
      case Coord::kHalfPixel: return (o + 0.5) / scale - 0.5;
      case Coord::kHalfPixelSymmetric: {
        const double adjustment = double(out) / out_f;
        const double center = double(in) / 2;
        return center * (1 - adjustment) + (o + 0.5) / scale - 0.5;
      }
      case Coord::kPytorchHalfPixel: return out_f == 1 ? -0.5 : (o + 0.5) / scale - 0.5;
      case Coord::kAlignCorners: return out_f == 1 ? 0.0 : o * double(in - 1) / (out_f - 1);
      case Coord::kAsymmetric: return o / scale;
      case Coord::kTfHalfPixelForNN: return (o + 0.5) / scale;
      case Coord::kTfCropAndResize: {
        const double span = (roi_end - roi_start) * double(in - 1);
        return roi_start * double(in - 1) + (out_f == 1 ? span / 2 : o * span / (out_f - 1));
      }
    }
    return o;
  }

  int64_t nearest_index(double xo, double scale) const {
    const double fl = std::floor(xo);
    const double frac = xo - fl;
    switch (nearest_) {
      case NearestRound::kSimple: return int64_t(scale < 1 ? std::ceil(xo) : fl);
      case NearestRound::kRoundPreferFloor: return int64_t(frac <= 0.5 ? fl : fl + 1);
      case NearestRound::kRoundPreferCeil: return int64_t(frac < 0.5 ? fl : fl + 1);
      case NearestRound::kFloor: return int64_t(fl);
      case NearestRound::kCeil: return int64_t(std::ceil(xo));
    }
    return int64_t(fl);
  }

  void build_plan(int64_t in, int64_t out, double scale, double out_f, double roi_start, double roi_end,
                  AxisPlan* p) const {
    p->in = in;
    p->out = out;
    if (in == 0 || out == 0) {
      p->identity = in == out;
      return;
    }
    // Taps and their weights for a fractional offset t in [0, 1) from the tap at offset 0.
    int first = 0;  // offset of the first tap from floor(x)
    double filter_scale = 1;
    if (interp_ == Interp::kNearest) {
      p->taps = 1;
    } else if (interp_ == Interp::kLinear) {
      p->taps = 2;
      if (antialias_ && scale < 1) {
        filter_scale = scale;
        first = int(std::floor(-1 / scale) + 1);
        p->taps = 2 - 2 * first;
      }
    } else {
      first = -1;
      p->taps = 4;
      if (antialias_ && scale < 1) {
        filter_scale = scale;
        first = int(std::floor(-2 / scale) + 1);
        p->taps = 2 - 2 * first;
      }
    }
    const int taps = p->taps;
    p->index.resize(size_t(out * taps));
    if (interp_ != Interp::kNearest) p->weight.resize(size_t(out * taps));
    std::vector<double> w(static_cast<size_t>(taps));
    bool identity = in == out;
    for (int64_t o = 0; o < out; o++) {
      const double xo = original_coordinate(double(o), scale, in, out, out_f, roi_start, roi_end);
      if (coord_ == Coord::kTfCropAndResize && (xo < 0 || xo > double(in - 1))) {
        if (p->outside.empty()) p->outside.assign(size_t(out), 0);
        p->outside[size_t(o)] = 1;
        identity = false;
        for (int t = 0; t < taps; t++) p->index[size_t(o * taps + t)] = 0;
        if (!p->weight.empty())
          for (int t = 0; t < taps; t++) p->weight[size_t(o * taps + t)] = 0;
        continue;
      }
      if (interp_ == Interp::kNearest) {
        const int64_t k = std::min(std::max<int64_t>(nearest_index(xo, scale), 0), in - 1);
        p->index[size_t(o)] = k;
        identity = identity && k == o;
        continue;
      }
      const double fl = std::floor(xo);
      const double t = xo - fl;
      const int64_t base = int64_t(fl) + first;
      double sum = 0;
      for (int i = 0; i < taps; i++) {
        const double d = double(first + i) - t;  // tap position relative to xo
        double wi;
        if (interp_ == Interp::kLinear) {
          wi = antialias_ && scale < 1 ? std::max(0.0, 1 - std::abs(d * filter_scale)) : (i == 0 ? 1 - t : t);
        } else {
          wi = cubic_kernel(d * filter_scale, cubic_a_);
        }
        w[size_t(i)] = wi;
        sum += wi;
      }
      if (antialias_ && scale < 1 && sum != 0)
        for (double& wi : w) wi /= sum;
      if (exclude_outside_) {
        double kept = 0;
        for (int i = 0; i < taps; i++) {
          const int64_t idx = base + i;
          if (idx < 0 || idx >= in) w[size_t(i)] = 0;
          kept += w[size_t(i)];
        }
        if (kept != 0)
          for (double& wi : w) wi /= kept;
      }
      double self = 0, others = 0;
      for (int i = 0; i < taps; i++) {
        const int64_t idx = std::min(std::max<int64_t>(base + i, 0), in - 1);
        p->index[size_t(o * taps + i)] = idx;
        p->weight[size_t(o * taps + i)] = float(w[size_t(i)]);
        (idx == o ? self : others) += std::abs(w[size_t(i)]);
      }
      identity = identity && std::abs(self - 1) < 1e-12 && others < 1e-12;
    }
    p->identity = identity;
  }

  // ---- Nearest: one gather over all axes.

  void resize_nearest(ThreadPool* pool, const Tensor& x, const std::vector<AxisPlan>& plans, Tensor* y) const {
    const size_t r = plans.size();
    const size_t es = dtype_size(x.dtype());
    alignas(8) unsigned char fill[8] = {0};
    shape_ops::store_scalar(x.dtype(), fill, 0, double(extrapolation_));
    if (r == 0) {
      std::memcpy(y->raw(), x.raw(), es);
      return;
    }
    const std::vector<int64_t> in_strides = shape_ops::contiguous_strides(x.dims());
    const AxisPlan& last = plans[r - 1];
    const int64_t inner = last.out;
    int64_t rows = 1;
    for (size_t a = 0; a + 1 < r; a++) rows *= plans[a].out;
    // Integer upsampling of the last axis: output o reads o / k.
    int64_t repeat = 0;
    if (last.outside.empty() && last.out >= last.in && last.out % last.in == 0) {
      const int64_t k = last.out / last.in;
      bool ok = true;
      for (int64_t o = 0; o < last.out && ok; o++) ok = last.index[size_t(o)] == o / k;
      if (ok) repeat = k;
    }
    shape_ops::visit_by_size(es, [&](auto tag) {
      using U = typename decltype(tag)::type;
      U fv;
      std::memcpy(&fv, fill, sizeof(U));
      const U* src = static_cast<const U*>(x.raw());
      U* dst = static_cast<U*>(y->raw());
      auto body = [&](int64_t r0, int64_t r1) {
        std::vector<int64_t> c(r, 0);
        int64_t idx = r0;
        for (size_t a = r - 1; a-- > 0;) {
          c[a] = idx % plans[a].out;
          idx /= plans[a].out;
        }
        int64_t prev_off = -1;  // source row of the previous output row in this range (-2: fill row)
        for (int64_t row = r0; row < r1; row++) {
          U* d = dst + row * inner;
          int64_t off = 0;
          bool outside = false;
          for (size_t a = 0; a + 1 < r; a++) {
            const AxisPlan& p = plans[a];
            if (!p.outside.empty() && p.outside[size_t(c[a])]) outside = true;
            off += p.index[size_t(c[a])] * in_strides[a];
          }
          if (outside) off = -2;
          if (row > r0 && off == prev_off) {
            std::memcpy(d, d - inner, size_t(inner) * sizeof(U));  // same source row as the row above
          } else if (outside) {
            for (int64_t i = 0; i < inner; i++) d[i] = fv;
          } else {
            const U* s = src + off;
            if (repeat == 2) {
              for (int64_t i = 0; i < last.in; i++) d[2 * i] = d[2 * i + 1] = s[i];
            } else if (repeat > 0) {
              for (int64_t i = 0; i < last.in; i++)
                for (int64_t k = 0; k < repeat; k++) d[i * repeat + k] = s[i];
            } else {
              const int64_t* m = last.index.data();
              for (int64_t i = 0; i < inner; i++) d[i] = s[m[i]];
              if (!last.outside.empty())
                for (int64_t i = 0; i < inner; i++)
                  if (last.outside[size_t(i)]) d[i] = fv;
            }
          }
          prev_off = off;
          for (size_t a = r - 1; a-- > 0;) {
            if (++c[a] < plans[a].out) break;
            c[a] = 0;
          }
        }
      };
      const int64_t row_bytes = inner * int64_t(es);
      if (rows * row_bytes < 2 * kParallelBytes)
        body(0, rows);
      else
        parallel_for(pool, rows, std::max<int64_t>(1, kParallelBytes / std::max<int64_t>(row_bytes, 1)), body);
    });
  }

  // ---- Linear / cubic.

  template <typename T>
  Status resize_separable(OpContext& ctx, const Tensor& x, const std::vector<AxisPlan>& plans, Tensor* y) const {
    const size_t r = plans.size();
    std::vector<size_t> order;
    for (size_t a = 0; a < r; a++)
      if (!plans[a].identity) order.push_back(a);
    // Fused bilinear over the last two axes (float32): the common NCHW upsampling of detection heads.
    if (std::is_same<T, float>::value && r >= 2 && order.size() == 2 && order[0] == r - 2 && order[1] == r - 1 &&
        plans[r - 2].taps == 2 && plans[r - 1].taps == 2 && plans[r - 2].outside.empty() &&
        plans[r - 1].outside.empty()) {
      bilinear_2d(ctx.pool(), x, plans[r - 2], plans[r - 1], y);
      return Status::OK();
    }
    // Least magnified axes first keeps the intermediates small.
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return double(plans[a].out) / double(plans[a].in) < double(plans[b].out) / double(plans[b].in);
    });
    Dims cur = x.dims();
    const T* src = x.data<T>();
    for (size_t k = 0; k < order.size(); k++) {
      const size_t a = order[k];
      Dims next = cur;
      next[a] = plans[a].out;
      T* dst;
      if (k + 1 == order.size()) {
        dst = y->data<T>();
      } else {
        void* buf;
        INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(dims_numel(next)) * sizeof(T), &buf));
        dst = static_cast<T*>(buf);
      }
      resize_axis<T>(ctx.pool(), src, cur, a, plans[a], dst);
      src = dst;
      cur = next;
    }
    return Status::OK();
  }

  // One separable pass: `axis` of src (dims) resized by plan p into dst.
  template <typename T>
  void resize_axis(ThreadPool* pool, const T* src, const Dims& dims, size_t axis, const AxisPlan& p, T* dst) const {
    int64_t outer = 1, inner = 1;
    for (size_t i = 0; i < axis; i++) outer *= dims[i];
    for (size_t i = axis + 1; i < dims.size(); i++) inner *= dims[i];
    const int64_t in = p.in, out = p.out;
    const int taps = p.taps;
    const T fill = T(extrapolation_);
    const int64_t rows = outer * out;  // an output row: `inner` consecutive elements
    auto body = [&](int64_t r0, int64_t r1) {
      for (int64_t row = r0; row < r1; row++) {
        const int64_t o = row / out, j = row % out;
        T* d = dst + row * inner;
        if (!p.outside.empty() && p.outside[size_t(j)]) {
          for (int64_t i = 0; i < inner; i++) d[i] = fill;
          continue;
        }
        const int64_t* idx = p.index.data() + j * taps;
        const float* w = p.weight.data() + j * taps;
        const T* s = src + o * in * inner;
        if (inner == 1) {
          T acc = 0;
          for (int t = 0; t < taps; t++) acc += T(w[t]) * s[idx[t]];
          d[0] = acc;
        } else {
          const T* s0 = s + idx[0] * inner;
          const T w0 = T(w[0]);
          for (int64_t i = 0; i < inner; i++) d[i] = w0 * s0[i];
          for (int t = 1; t < taps; t++) {
            const T wt = T(w[t]);
            if (wt == 0) continue;
            const T* st = s + idx[t] * inner;
            for (int64_t i = 0; i < inner; i++) d[i] += wt * st[i];
          }
        }
      }
    };
    const int64_t row_cost = std::max<int64_t>(inner * taps * int64_t(sizeof(T)), 1);
    parallel_for(pool, rows, std::max<int64_t>(1, kParallelBytes / row_cost), body);
  }

  // Bilinear over the last two axes of float32 data, one plane (N*C index) per task. Each output row blends two
  // horizontally interpolated input rows, kept in a two-row cache (consecutive output rows share input rows).
  void bilinear_2d(ThreadPool* pool, const Tensor& x, const AxisPlan& ph, const AxisPlan& pw, Tensor* y) const {
    const int64_t H = ph.in, W = pw.in, Ho = ph.out, Wo = pw.out;
    const int64_t planes = x.numel() / std::max<int64_t>(H * W, 1);
    const float* src = x.data<float>();
    float* dst = y->data<float>();
    auto body = [&](int64_t p0, int64_t p1) {
      std::vector<float> buf(size_t(2 * Wo));
      float* rows[2] = {buf.data(), buf.data() + Wo};
      int64_t cached[2] = {-1, -1};
      const int64_t* xi = pw.index.data();
      const float* xw = pw.weight.data();
      auto hrow = [&](const float* plane, int64_t iy, float* out) {
        const float* s = plane + iy * W;
        for (int64_t ox = 0; ox < Wo; ox++)
          out[ox] = xw[2 * ox] * s[xi[2 * ox]] + xw[2 * ox + 1] * s[xi[2 * ox + 1]];
      };
      for (int64_t pl = p0; pl < p1; pl++) {
        const float* plane = src + pl * H * W;
        float* out = dst + pl * Ho * Wo;
        cached[0] = cached[1] = -1;
        for (int64_t oy = 0; oy < Ho; oy++) {
          const int64_t y0 = ph.index[size_t(2 * oy)], y1 = ph.index[size_t(2 * oy + 1)];
          const float w0 = ph.weight[size_t(2 * oy)], w1 = ph.weight[size_t(2 * oy + 1)];
          // Slot 0 holds row y0 and slot 1 row y1; reuse what the previous output row computed.
          if (cached[0] != y0) {
            if (cached[1] == y0) {
              std::swap(rows[0], rows[1]);
              std::swap(cached[0], cached[1]);
            } else {
              hrow(plane, y0, rows[0]);
              cached[0] = y0;
            }
          }
          if (cached[1] != y1) {
            hrow(plane, y1, rows[1]);
            cached[1] = y1;
          }
          const float* a = rows[0];
          const float* b = rows[1];
          float* d = out + oy * Wo;
          for (int64_t ox = 0; ox < Wo; ox++) d[ox] = w0 * a[ox] + w1 * b[ox];
        }
      }
    };
    const int64_t plane_bytes = std::max<int64_t>(Ho * Wo * int64_t(sizeof(float)), 1);
    parallel_for(pool, planes, std::max<int64_t>(1, kParallelBytes / plane_bytes), body);
  }

  bool upsample_ = false;
  Interp interp_ = Interp::kNearest;
  Coord coord_ = Coord::kHalfPixel;
  NearestRound nearest_ = NearestRound::kRoundPreferFloor;
  AspectPolicy policy_ = AspectPolicy::kStretch;
  float cubic_a_ = -0.75f, extrapolation_ = 0.f;
  bool exclude_outside_ = false, antialias_ = false;
  bool has_axes_ = false, scales_from_attr_ = false;
  std::vector<int64_t> axes_;
  std::vector<double> attr_scales_;
  int roi_input_ = -1, scales_input_ = -1, sizes_input_ = -1;
};

}  // namespace

Status make_resize_nearest_planner(const KernelInfo& info, std::unique_ptr<ResizeNearestPlanner>* out) {
  std::unique_ptr<ResizeKernel> k(new ResizeKernel());
  INT8RT_RETURN_IF_ERROR(k->init(info));
  if (!k->nearest())
    return unsupported(info.node(), info.node().op_type + " mode '" + info.node().attr_string("mode", "nearest") +
                                        "' computes values; only nearest moves elements");
  *out = std::move(k);
  return Status::OK();
}

void register_resize_ops(KernelRegistry& r) {
  r.add({"Resize", "", 10, 0, Device::kCpu, Precision::kFp32, "resize", &shape_ops::make_kernel<ResizeKernel>});
  r.add({"Upsample", "", 7, 9, Device::kCpu, Precision::kFp32, "upsample", &shape_ops::make_kernel<ResizeKernel>});
}

}  // namespace int8rt
