// Shape and layout operators: Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Transpose, DepthToSpace,
// SpaceToDepth, Expand, Tile, Constant, ConstantOfShape, Range, EyeLike. The other data-movement families live in
// shape_slice.cc (Concat, Split, Slice, Pad), shape_gather.cc (Gather*, Scatter*, NonZero, OneHot) and
// shape_numeric.cc (TopK, CumSum, Trilu, ReverseSequence); shape_common.* holds what they share.
//
// Operators that only relabel dims (Reshape, Flatten, Squeeze, Unsqueeze, Transposes that only move unit dims,
// Expand to the same shape) return views of their input. The others are strided copies of a permuted or
// broadcast view of the input, so they all go through one engine (strided_copy), which has the blocked transpose
// path for NCHW<->NHWC style permutations.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "ops/registry.h"
#include "ops/shape_common.h"

namespace int8rt {
namespace shape_ops {
namespace {

// ---------------------------------------------------------------------------------------------------------------
// Shape, Size

class ShapeKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) {
    if (info.opset() >= 15) {
      start_ = info.node().attr_int("start", 0);
      end_ = info.node().attr_int("end", std::numeric_limits<int64_t>::max());
    }
    return Status::OK();
  }
  // Only the input's dims are read: on a CUDA engine it may stay in device memory (core/engine.cc).
  bool reads_input_data(size_t) const override { return false; }
  Status compute(OpContext& ctx) const override {
    const Tensor* x;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    const int64_t r = int64_t(x->rank());
    auto clamp_index = [r](int64_t v) { return std::min(std::max(v < 0 ? v + r : v, int64_t(0)), r); };
    const int64_t s = clamp_index(start_), e = clamp_index(end_);
    const int64_t n = std::max<int64_t>(0, e - s);
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kInt64, {n}, &y));
    for (int64_t i = 0; i < n; i++) y->data<int64_t>()[i] = x->dim(size_t(s + i));
    return Status::OK();
  }

 private:
  int64_t start_ = 0, end_ = std::numeric_limits<int64_t>::max();
};

class SizeKernel : public OpKernel {
 public:
  Status init(const KernelInfo&) { return Status::OK(); }
  bool reads_input_data(size_t) const override { return false; }  // dims only, as Shape
  Status compute(OpContext& ctx) const override {
    const Tensor* x;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kInt64, {}, &y));
    *y->data<int64_t>() = x->numel();
    return Status::OK();
  }
};

// ---------------------------------------------------------------------------------------------------------------
// Reshape, Flatten, Squeeze, Unsqueeze: views of the input.

class ReshapeKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) {
    allowzero_ = info.opset() >= 14 && info.node().attr_int("allowzero", 0) != 0;
    return Status::OK();
  }
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor *x, *shape_t;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 1, &shape_t));
    std::vector<int64_t> shape;
    INT8RT_RETURN_IF_ERROR(read_ints(node, *shape_t, "shape", &shape));
    Dims dims(shape.size());
    int64_t unknown = -1;
    bool has_zero = false;
    for (size_t i = 0; i < shape.size(); i++) {
      int64_t v = shape[i];
      if (v == 0 && !allowzero_) {
        if (i >= x->rank())
          return shape_error(node, "shape " + dims_str(shape) + " copies dim " + std::to_string(i) +
                                       " (0) of an input of rank " + std::to_string(x->rank()));
        v = x->dim(i);
      } else if (v == -1) {
        if (unknown >= 0) return shape_error(node, "shape " + dims_str(shape) + " has more than one -1");
        unknown = int64_t(i);
        v = 1;
      } else if (v < -1) {
        return shape_error(node, "shape " + dims_str(shape) + " has a negative dim");
      }
      if (v == 0) has_zero = true;
      dims[i] = v;
    }
    const int64_t numel = x->numel();
    int64_t known = dims_numel(dims);
    if (known < 0) return Status(ErrorCode::kTooLarge, node.describe() + ": shape " + dims_str(shape) + " is too large");
    if (unknown >= 0) {
      if (known == 0)
        return shape_error(node, std::string("cannot infer the -1 dim of ") + dims_str(shape) +
                                     (has_zero ? " next to a zero dim" : ""));
      if (numel % known != 0)
        return shape_error(node, "cannot reshape " + dims_str(x->dims()) + " to " + dims_str(shape));
      dims[size_t(unknown)] = numel / known;
    } else if (known != numel) {
      return shape_error(node, "cannot reshape " + dims_str(x->dims()) + " (" + std::to_string(numel) +
                                   " elements) to " + dims_str(dims));
    }
    ctx.set_output(0, x->reshaped(std::move(dims)));
    return Status::OK();
  }

 private:
  bool allowzero_ = false;
};

class FlattenKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) {
    axis_ = info.node().attr_int("axis", 1);
    return Status::OK();
  }
  Status compute(OpContext& ctx) const override {
    const Tensor* x;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    const int64_t r = int64_t(x->rank());
    if (axis_ < -r || axis_ > r)
      return shape_error(ctx.node(), "axis " + std::to_string(axis_) + " is out of range for rank " + std::to_string(r));
    const int64_t axis = axis_ < 0 ? axis_ + r : axis_;
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < r; i++) (i < axis ? outer : inner) *= x->dim(size_t(i));
    ctx.set_output(0, x->reshaped({outer, inner}));
    return Status::OK();
  }

 private:
  int64_t axis_ = 1;
};

class SqueezeKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) {
    axes_from_input_ = info.opset() >= 13;
    if (!axes_from_input_) {
      has_axes_ = info.node().has_attr("axes");
      axes_ = info.node().attr_ints("axes");
    }
    return Status::OK();
  }
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    std::vector<int64_t> axes = axes_;
    bool has_axes = has_axes_;
    if (axes_from_input_ && ctx.input(1)) {
      INT8RT_RETURN_IF_ERROR(read_ints(node, *ctx.input(1), "axes", &axes));
      has_axes = !axes.empty();  // an empty axes tensor squeezes every unit dim, as onnxruntime does
    }
    const int64_t r = int64_t(x->rank());
    std::vector<bool> drop(size_t(r), false);
    if (has_axes) {
      std::vector<int64_t> norm;
      INT8RT_RETURN_IF_ERROR(normalize_axes(node, axes, r, &norm));
      for (int64_t a : norm) {
        if (x->dim(size_t(a)) != 1)
          return shape_error(node, "cannot squeeze axis " + std::to_string(a) + " of shape " + dims_str(x->dims()) +
                                       ": its size is not 1");
        drop[size_t(a)] = true;
      }
    } else {
      for (int64_t i = 0; i < r; i++) drop[size_t(i)] = x->dim(size_t(i)) == 1;
    }
    Dims dims;
    for (int64_t i = 0; i < r; i++)
      if (!drop[size_t(i)]) dims.push_back(x->dim(size_t(i)));
    ctx.set_output(0, x->reshaped(std::move(dims)));
    return Status::OK();
  }

 private:
  bool axes_from_input_ = false, has_axes_ = false;
  std::vector<int64_t> axes_;
};

class UnsqueezeKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) {
    axes_from_input_ = info.opset() >= 13;
    if (!axes_from_input_) {
      if (!info.node().has_attr("axes")) return shape_error(info.node(), "attribute 'axes' is required");
      axes_ = info.node().attr_ints("axes");
    }
    return Status::OK();
  }
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    std::vector<int64_t> axes = axes_;
    if (axes_from_input_) {
      const Tensor* a;
      INT8RT_RETURN_IF_ERROR(required_input(ctx, 1, &a));
      INT8RT_RETURN_IF_ERROR(read_ints(node, *a, "axes", &axes));
    }
    const int64_t out_rank = int64_t(x->rank() + axes.size());
    std::vector<int64_t> norm;
    INT8RT_RETURN_IF_ERROR(normalize_axes(node, axes, out_rank, &norm));
    std::vector<bool> inserted(size_t(out_rank), false);
    for (int64_t a : norm) inserted[size_t(a)] = true;
    Dims dims(static_cast<size_t>(out_rank));
    size_t j = 0;
    for (int64_t i = 0; i < out_rank; i++) dims[size_t(i)] = inserted[size_t(i)] ? 1 : x->dim(j++);
    ctx.set_output(0, x->reshaped(std::move(dims)));
    return Status::OK();
  }

 private:
  bool axes_from_input_ = false;
  std::vector<int64_t> axes_;
};

// ---------------------------------------------------------------------------------------------------------------
// Transpose, DepthToSpace, SpaceToDepth: permuted views copied by strided_copy.

// Copies the view (dims, strides) of x into a new output 0 of shape `out_dims` (same element count).
Status copy_view_to_output(OpContext& ctx, const Tensor& x, const Dims& view_dims,
                           const std::vector<int64_t>& view_strides, const Dims& out_dims) {
  INT8RT_RETURN_IF_ERROR(check_movable(ctx.node(), x.dtype()));
  if (is_contiguous_view(view_dims, view_strides)) {
    ctx.set_output(0, x.reshaped(out_dims));
    return Status::OK();
  }
  Tensor* y;
  INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x.dtype(), out_dims, &y));
  strided_copy(ctx.pool(), dtype_size(x.dtype()), view_dims, view_strides, x.raw(), y->raw());
  return Status::OK();
}

class TransposeKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) { return spec_.init(info.node()); }
  Status compute(OpContext& ctx) const override {
    const Tensor* x;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    Dims dims;
    std::vector<int64_t> strides;
    INT8RT_RETURN_IF_ERROR(spec_.view(ctx.node(), x->dims(), &dims, &strides));
    return copy_view_to_output(ctx, *x, dims, strides, dims);
  }
  std::string kernel_name() const override {
    return use_avx2() ? "transpose_blocked_x32_avx2_8x8" : "transpose_blocked";
  }

 private:
  TransposeSpec spec_;
};

Status blocksize_attr(const KernelInfo& info, int64_t* b) {
  *b = info.node().attr_int("blocksize", 0);
  if (*b <= 0) return shape_error(info.node(), "attribute 'blocksize' must be positive");
  return Status::OK();
}

class DepthToSpaceKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) {
    INT8RT_RETURN_IF_ERROR(blocksize_attr(info, &b_));
    std::string mode = info.opset() >= 11 ? info.node().attr_string("mode", "DCR") : "DCR";
    if (mode != "DCR" && mode != "CRD") return shape_error(info.node(), "mode '" + mode + "' is not DCR or CRD");
    crd_ = mode == "CRD";
    return Status::OK();
  }
  Status compute(OpContext& ctx) const override {
    const Tensor* x;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    if (x->rank() != 4) return shape_error(ctx.node(), "input must be 4-D, got " + dims_str(x->dims()));
    const int64_t N = x->dim(0), C = x->dim(1), H = x->dim(2), W = x->dim(3), b = b_;
    if (C % (b * b) != 0)
      return shape_error(ctx.node(), "channels " + std::to_string(C) + " are not divisible by blocksize^2");
    const int64_t Co = C / (b * b), HW = H * W;
    // Output viewed as [N, Co, H, b1, W, b2]; the input channel of (co, b1, b2) is b1*b*Co + b2*Co + co in DCR
    // mode and co*b*b + b1*b + b2 in CRD mode.
    const int64_t s_co = crd_ ? b * b * HW : HW;
    const int64_t s_b1 = crd_ ? b * HW : b * Co * HW;
    const int64_t s_b2 = crd_ ? HW : Co * HW;
    Dims view = {N, Co, H, b, W, b};
    std::vector<int64_t> strides = {C * HW, s_co, W, s_b1, 1, s_b2};
    return copy_view_to_output(ctx, *x, view, strides, {N, Co, H * b, W * b});
  }

 private:
  int64_t b_ = 1;
  bool crd_ = false;
};

class SpaceToDepthKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) { return blocksize_attr(info, &b_); }
  Status compute(OpContext& ctx) const override {
    const Tensor* x;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    if (x->rank() != 4) return shape_error(ctx.node(), "input must be 4-D, got " + dims_str(x->dims()));
    const int64_t N = x->dim(0), C = x->dim(1), H = x->dim(2), W = x->dim(3), b = b_;
    if (H % b != 0 || W % b != 0)
      return shape_error(ctx.node(), "spatial dims of " + dims_str(x->dims()) + " are not divisible by blocksize");
    const int64_t Ho = H / b, Wo = W / b;
    // Output viewed as [N, b1, b2, C, Ho, Wo] over the input viewed as [N, C, Ho, b1, Wo, b2].
    Dims view = {N, b, b, C, Ho, Wo};
    std::vector<int64_t> strides = {C * H * W, W, 1, H * W, b * W, b};
    return copy_view_to_output(ctx, *x, view, strides, {N, C * b * b, Ho, Wo});
  }

 private:
  int64_t b_ = 1;
};

// ---------------------------------------------------------------------------------------------------------------
// Expand, Tile: broadcast views (stride 0) copied by strided_copy.

class ExpandKernel : public OpKernel {
 public:
  Status init(const KernelInfo&) { return Status::OK(); }
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor *x, *shape_t;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 1, &shape_t));
    std::vector<int64_t> shape;
    INT8RT_RETURN_IF_ERROR(read_ints(node, *shape_t, "shape", &shape));
    const size_t r = std::max(shape.size(), x->rank());
    const std::vector<int64_t> in_strides = contiguous_strides(x->dims());
    Dims dims(r);
    std::vector<int64_t> strides(r, 0);
    for (size_t i = 0; i < r; i++) {
      // Right-aligned: dim i of the output meets dim i-(r-rank) of each side.
      const bool has_x = i + x->rank() >= r, has_s = i + shape.size() >= r;
      const int64_t dx = has_x ? x->dim(i + x->rank() - r) : 1;
      const int64_t ds = has_s ? shape[i + shape.size() - r] : 1;
      if (ds < 0) return shape_error(node, "shape " + dims_str(shape) + " has a negative dim");
      if (dx != ds && dx != 1 && ds != 1)
        return shape_error(node, "cannot broadcast " + dims_str(x->dims()) + " to " + dims_str(shape));
      dims[i] = dx == 1 ? ds : dx;
      if (has_x && dx != 1) strides[i] = in_strides[i + x->rank() - r];
    }
    if (dims_numel(dims) < 0)
      return Status(ErrorCode::kTooLarge, node.describe() + ": output shape " + dims_str(dims) + " is too large");
    if (dims_numel(dims) == x->numel()) {
      // Only unit dims were added: the data is already laid out.
      ctx.set_output(0, x->reshaped(dims));
      return Status::OK();
    }
    INT8RT_RETURN_IF_ERROR(check_movable(node, x->dtype()));
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), dims, &y));
    strided_copy(ctx.pool(), dtype_size(x->dtype()), dims, strides, x->raw(), y->raw());
    return Status::OK();
  }
};

class TileKernel : public OpKernel {
 public:
  Status init(const KernelInfo&) { return Status::OK(); }
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor *x, *rep_t;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 1, &rep_t));
    std::vector<int64_t> reps;
    INT8RT_RETURN_IF_ERROR(read_ints(node, *rep_t, "repeats", &reps));
    const size_t r = x->rank();
    if (reps.size() != r)
      return shape_error(node, "repeats " + dims_str(reps) + " do not match input rank " + std::to_string(r));
    // Output [r0*d0, r1*d1, ...] is the view [r0, d0, r1, d1, ...] with stride 0 on the repeat dims.
    const std::vector<int64_t> in_strides = contiguous_strides(x->dims());
    Dims view, out(r);
    std::vector<int64_t> strides;
    for (size_t i = 0; i < r; i++) {
      if (reps[i] < 0) return shape_error(node, "repeats " + dims_str(reps) + " has a negative value");
      view.push_back(reps[i]);
      strides.push_back(0);
      view.push_back(x->dim(i));
      strides.push_back(in_strides[i]);
      out[i] = reps[i] * x->dim(i);
      if (x->dim(i) != 0 && reps[i] > kMaxElements / x->dim(i))
        return Status(ErrorCode::kTooLarge, node.describe() + ": tiled shape is too large");
    }
    INT8RT_RETURN_IF_ERROR(check_movable(node, x->dtype()));
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), out, &y));
    strided_copy(ctx.pool(), dtype_size(x->dtype()), view, strides, x->raw(), y->raw());
    return Status::OK();
  }
};

// ---------------------------------------------------------------------------------------------------------------
// Constant, ConstantOfShape, Range, EyeLike

class ConstantKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) {
    const NodeDef& node = info.node();
    if (node.has_attr("sparse_value")) return unsupported(node, "sparse_value constants are not supported");
    if (node.has_attr("value_string") || node.has_attr("value_strings"))
      return unsupported(node, "string constants are not supported");
    if (const Attribute* a = node.attr("value")) {
      if (a->type != Attribute::Type::kTensor) return shape_error(node, "attribute 'value' is not a tensor");
      INT8RT_RETURN_IF_ERROR(check_movable(node, a->t.dtype(), "value"));
      if (a->t.numel() < 0 || (a->t.numel() > 0 && a->t.empty()))
        return shape_error(node, "attribute 'value' holds no data");
      value_ = a->t;
      return Status::OK();
    }
    if (node.has_attr("value_float")) {
      INT8RT_RETURN_IF_ERROR(Tensor::create(DType::kFloat32, {}, &value_));
      *value_.data<float>() = node.attr_float("value_float", 0.f);
      return Status::OK();
    }
    if (node.has_attr("value_floats")) {
      std::vector<float> v = node.attr_floats("value_floats");
      INT8RT_RETURN_IF_ERROR(Tensor::create(DType::kFloat32, {int64_t(v.size())}, &value_));
      if (!v.empty()) std::memcpy(value_.raw(), v.data(), v.size() * sizeof(float));
      return Status::OK();
    }
    if (node.has_attr("value_int")) {
      INT8RT_RETURN_IF_ERROR(Tensor::create(DType::kInt64, {}, &value_));
      *value_.data<int64_t>() = node.attr_int("value_int", 0);
      return Status::OK();
    }
    if (node.has_attr("value_ints")) {
      std::vector<int64_t> v = node.attr_ints("value_ints");
      INT8RT_RETURN_IF_ERROR(Tensor::create(DType::kInt64, {int64_t(v.size())}, &value_));
      if (!v.empty()) std::memcpy(value_.raw(), v.data(), v.size() * sizeof(int64_t));
      return Status::OK();
    }
    return shape_error(node, "has no value attribute");
  }
  Status compute(OpContext& ctx) const override {
    ctx.set_output(0, value_);
    return Status::OK();
  }

 private:
  Tensor value_;
};

class ConstantOfShapeKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) {
    const NodeDef& node = info.node();
    dtype_ = DType::kFloat32;
    std::memset(value_, 0, sizeof(value_));
    if (const Attribute* a = node.attr("value")) {
      if (a->type != Attribute::Type::kTensor || a->t.numel() != 1 || a->t.empty())
        return shape_error(node, "attribute 'value' must be a tensor of one element");
      INT8RT_RETURN_IF_ERROR(check_movable(node, a->t.dtype(), "value"));
      dtype_ = a->t.dtype();
      std::memcpy(value_, a->t.raw(), dtype_size(dtype_));
    }
    return Status::OK();
  }
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* shape_t;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &shape_t));
    std::vector<int64_t> shape;
    INT8RT_RETURN_IF_ERROR(read_ints(node, *shape_t, "shape", &shape));
    for (int64_t d : shape)
      if (d < 0) return shape_error(node, "shape " + dims_str(shape) + " has a negative dim");
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, dtype_, shape, &y));
    fill_elements(y->raw(), y->numel(), dtype_size(dtype_), value_);
    return Status::OK();
  }

 private:
  DType dtype_ = DType::kFloat32;
  alignas(8) unsigned char value_[8];
};

class RangeKernel : public OpKernel {
 public:
  Status init(const KernelInfo&) { return Status::OK(); }
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* in[3];
    for (size_t i = 0; i < 3; i++) {
      INT8RT_RETURN_IF_ERROR(required_input(ctx, i, &in[i]));
      if (in[i]->numel() != 1)
        return shape_error(node, "start, limit and delta must be scalars, got shape " + dims_str(in[i]->dims()));
      if (in[i]->dtype() != in[0]->dtype()) return dtype_error(node, "start, limit and delta differ in type");
    }
    const DType t = in[0]->dtype();
    Tensor* y = nullptr;
    switch (t) {
      case DType::kFloat32:
      case DType::kFloat64:
      case DType::kFloat16: {
        // Count as the reference does: the difference in the element type, the division in double.
        double start = in[0]->float_at(0), limit = in[1]->float_at(0), delta = in[2]->float_at(0);
        if (delta == 0 || !std::isfinite(delta) || !std::isfinite(start) || !std::isfinite(limit))
          return shape_error(node, "start, limit and delta must be finite and delta non-zero");
        double diff = t == DType::kFloat32 ? double(float(limit) - float(start)) : limit - start;
        double count = std::ceil(diff / delta);
        if (count > double(kMaxElements))
          return Status(ErrorCode::kTooLarge, node.describe() + ": range is too long");
        const int64_t n = count > 0 ? int64_t(count) : 0;
        INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, t, {n}, &y));
        for (int64_t i = 0; i < n; i++) store_scalar(t, y->raw(), i, start + double(i) * delta);
        return Status::OK();
      }
      case DType::kInt16:
      case DType::kInt32:
      case DType::kInt64: {
        const int64_t start = in[0]->int_at(0), limit = in[1]->int_at(0), delta = in[2]->int_at(0);
        if (delta == 0) return shape_error(node, "delta must be non-zero");
        const __int128 diff = __int128(limit) - start;
        __int128 count = diff / delta;
        if (count * delta != diff) count += 1;  // both signs agree when the count is positive: round up
        if (count > kMaxElements) return Status(ErrorCode::kTooLarge, node.describe() + ": range is too long");
        const int64_t n = count > 0 ? int64_t(count) : 0;
        INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, t, {n}, &y));
        for (int64_t i = 0; i < n; i++) {
          const int64_t v = int64_t(start + __int128(i) * delta);
          if (t == DType::kInt64) y->data<int64_t>()[i] = v;
          else if (t == DType::kInt32) y->data<int32_t>()[i] = int32_t(v);
          else y->data<int16_t>()[i] = int16_t(v);
        }
        return Status::OK();
      }
      default:
        return dtype_error(node, std::string("element type ") + dtype_name(t) + " is not supported");
    }
  }
};

class EyeLikeKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) {
    const NodeDef& node = info.node();
    k_ = node.attr_int("k", 0);
    if (node.has_attr("dtype")) {
      const int64_t code = node.attr_int("dtype", 0);
      if (code < 0 || code > 1000 || !dtype_valid(int32_t(code)) || dtype_size(DType(code)) == 0)
        return dtype_error(node, "dtype " + std::to_string(code) + " is not supported");
      dtype_ = DType(code);
      has_dtype_ = true;
    }
    return Status::OK();
  }
  Status compute(OpContext& ctx) const override {
    const Tensor* x;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    if (x->rank() != 2) return shape_error(ctx.node(), "input must be 2-D, got " + dims_str(x->dims()));
    const DType t = has_dtype_ ? dtype_ : x->dtype();
    INT8RT_RETURN_IF_ERROR(check_movable(ctx.node(), t, "output"));
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, t, x->dims(), &y));
    const int64_t rows = x->dim(0), cols = x->dim(1);
    std::memset(y->raw(), 0, y->nbytes());
    for (int64_t i = 0; i < rows; i++) {
      const int64_t j = i + k_;
      if (j >= 0 && j < cols) store_scalar(t, y->raw(), i * cols + j, 1.0);
      if (k_ > cols) break;
    }
    return Status::OK();
  }

 private:
  int64_t k_ = 0;
  DType dtype_ = DType::kFloat32;
  bool has_dtype_ = false;
};

}  // namespace

Status TransposeSpec::init(const NodeDef& node) {
  has_perm_ = node.has_attr("perm");
  perm_ = node.attr_ints("perm");
  std::vector<bool> seen(perm_.size(), false);
  for (int64_t p : perm_) {
    if (p < 0 || p >= int64_t(perm_.size()) || seen[size_t(p)])
      return shape_error(node, "perm " + dims_str(perm_) + " is not a permutation");
    seen[size_t(p)] = true;
  }
  return Status::OK();
}

Status TransposeSpec::view(const NodeDef& node, const Dims& x, Dims* dims, std::vector<int64_t>* strides) const {
  const size_t r = x.size();
  std::vector<int64_t> perm = perm_;
  if (!has_perm_) {
    perm.resize(r);
    for (size_t i = 0; i < r; i++) perm[i] = int64_t(r - 1 - i);
  }
  if (perm.size() != r)
    return shape_error(node, "perm " + dims_str(perm) + " does not match input shape " + dims_str(x));
  const std::vector<int64_t> in_strides = contiguous_strides(x);
  dims->assign(r, 0);
  strides->assign(r, 0);
  for (size_t i = 0; i < r; i++) {
    (*dims)[i] = x[size_t(perm[i])];
    (*strides)[i] = in_strides[size_t(perm[i])];
  }
  return Status::OK();
}

}  // namespace shape_ops

void register_shape_ops(KernelRegistry& r) {
  using namespace shape_ops;
  const Device cpu = Device::kCpu;
  const Precision fp32 = Precision::kFp32;
  r.add({"Shape", "", 1, 0, cpu, fp32, "shape", &make_kernel<ShapeKernel>});
  r.add({"Size", "", 1, 0, cpu, fp32, "size", &make_kernel<SizeKernel>});
  r.add({"Reshape", "", 5, 0, cpu, fp32, "reshape_view", &make_kernel<ReshapeKernel>});
  r.add({"Flatten", "", 1, 0, cpu, fp32, "flatten_view", &make_kernel<FlattenKernel>});
  r.add({"Squeeze", "", 1, 0, cpu, fp32, "squeeze_view", &make_kernel<SqueezeKernel>});
  r.add({"Unsqueeze", "", 1, 0, cpu, fp32, "unsqueeze_view", &make_kernel<UnsqueezeKernel>});
  r.add({"Transpose", "", 1, 0, cpu, fp32, "transpose", &make_kernel<TransposeKernel>});
  r.add({"DepthToSpace", "", 1, 0, cpu, fp32, "depth_to_space", &make_kernel<DepthToSpaceKernel>});
  r.add({"SpaceToDepth", "", 1, 0, cpu, fp32, "space_to_depth", &make_kernel<SpaceToDepthKernel>});
  r.add({"Expand", "", 8, 0, cpu, fp32, "expand", &make_kernel<ExpandKernel>});
  r.add({"Tile", "", 6, 0, cpu, fp32, "tile", &make_kernel<TileKernel>});
  r.add({"Constant", "", 1, 0, cpu, fp32, "constant", &make_kernel<ConstantKernel>});
  r.add({"ConstantOfShape", "", 9, 0, cpu, fp32, "constant_of_shape", &make_kernel<ConstantOfShapeKernel>});
  r.add({"Range", "", 11, 0, cpu, fp32, "range", &make_kernel<RangeKernel>});
  r.add({"EyeLike", "", 9, 0, cpu, fp32, "eye_like", &make_kernel<EyeLikeKernel>});
  register_slice_ops(r);
  register_gather_ops(r);
  register_numeric_ops(r);
}

}  // namespace int8rt
