// Concat, Split, Slice and Pad. Splits along a leading axis and slices that address one contiguous run of the
// input are returned as views at an offset into the input buffer; the rest are row copies.
#include <algorithm>
#include <limits>

#include "core/thread_pool.h"
#include "ops/shape_common.h"

namespace int8rt {
namespace shape_ops {
namespace {

// A view of `x` starting `elem_offset` elements into it.
Tensor offset_view(const Tensor& x, Dims dims, int64_t elem_offset) {
  return Tensor(x.dtype(), std::move(dims), x.buffer(), x.byte_offset() + size_t(elem_offset) * dtype_size(x.dtype()));
}

// Copies `count` blocks of `bytes` each from src (block stride src_stride bytes) to dst (stride dst_stride bytes).
void copy_blocks(ThreadPool* pool, int64_t count, int64_t bytes, const char* src, int64_t src_stride, char* dst,
                 int64_t dst_stride) {
  if (count <= 0 || bytes <= 0) return;
  auto body = [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; b++) std::memcpy(dst + b * dst_stride, src + b * src_stride, size_t(bytes));
  };
  if (count * bytes < 2 * kParallelBytes)
    body(0, count);
  else
    parallel_for(pool, count, std::max<int64_t>(1, kParallelBytes / bytes), body);
}

// ---------------------------------------------------------------------------------------------------------------
// Concat

class ConcatKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) {
    if (!info.node().has_attr("axis")) return shape_error(info.node(), "attribute 'axis' is required");
    axis_ = info.node().attr_int("axis", 0);
    return Status::OK();
  }
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const size_t n = ctx.num_inputs();
    if (n == 0) return shape_error(node, "needs at least one input");
    std::vector<const Tensor*> in(n);
    for (size_t i = 0; i < n; i++) INT8RT_RETURN_IF_ERROR(required_input(ctx, i, &in[i]));
    const Tensor& x0 = *in[0];
    INT8RT_RETURN_IF_ERROR(check_movable(node, x0.dtype()));
    const int64_t r = int64_t(x0.rank());
    int64_t axis;
    Dims out;
    INT8RT_RETURN_IF_ERROR(concat_dims(node, axis_, in, &axis, &out));
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x0.dtype(), out, &y));
    if (y->numel() == 0) return Status::OK();
    const int64_t es = int64_t(dtype_size(x0.dtype()));
    int64_t outer = 1, inner = es;
    for (int64_t d = 0; d < axis; d++) outer *= out[size_t(d)];
    for (int64_t d = axis + 1; d < r; d++) inner *= out[size_t(d)];
    const int64_t out_row = out[size_t(axis)] * inner;
    char* dst = static_cast<char*>(y->raw());
    int64_t col = 0;
    for (size_t i = 0; i < n; i++) {
      const int64_t bytes = in[i]->dim(size_t(axis)) * inner;
      copy_blocks(ctx.pool(), outer, bytes, static_cast<const char*>(in[i]->raw()), bytes, dst + col, out_row);
      col += bytes;
    }
    return Status::OK();
  }

 private:
  int64_t axis_ = 0;
};

// ---------------------------------------------------------------------------------------------------------------
// Split

class SplitKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) {
    const NodeDef& node = info.node();
    axis_ = node.attr_int("axis", 0);
    split_from_input_ = info.opset() >= 13;
    if (!split_from_input_ && node.has_attr("split")) {
      has_split_ = true;
      split_ = node.attr_ints("split");
    }
    if (info.opset() >= 18 && node.has_attr("num_outputs")) {
      num_outputs_ = node.attr_int("num_outputs", 0);
      if (num_outputs_ <= 0) return shape_error(node, "attribute 'num_outputs' must be positive");
      if (num_outputs_ != int64_t(node.outputs.size()))
        return shape_error(node, "num_outputs " + std::to_string(num_outputs_) + " does not match its " +
                                     std::to_string(node.outputs.size()) + " outputs");
    }
    uneven_ok_ = info.opset() >= 18;
    return Status::OK();
  }
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    INT8RT_RETURN_IF_ERROR(check_movable(node, x->dtype()));
    const int64_t r = int64_t(x->rank());
    int64_t axis;
    INT8RT_RETURN_IF_ERROR(normalize_axis(node, axis_, r, &axis));
    const int64_t dim = x->dim(size_t(axis));
    const int64_t n = int64_t(ctx.num_outputs());
    if (n == 0) return shape_error(node, "has no outputs");
    std::vector<int64_t> sizes = split_;
    bool has_split = has_split_;
    if (split_from_input_ && ctx.input(1)) {
      INT8RT_RETURN_IF_ERROR(read_ints(node, *ctx.input(1), "split", &sizes));
      has_split = true;
    }
    if (has_split) {
      if (int64_t(sizes.size()) != n)
        return shape_error(node, "split " + dims_str(sizes) + " does not match its " + std::to_string(n) + " outputs");
      int64_t sum = 0;
      for (int64_t s : sizes) {
        if (s < 0) return shape_error(node, "split " + dims_str(sizes) + " has a negative size");
        sum += s;
      }
      if (sum != dim)
        return shape_error(node, "split " + dims_str(sizes) + " does not add up to dim " + std::to_string(dim));
    } else {
      // Equal parts; from opset 18 the last part may be smaller (ceil-sized chunks).
      if (dim % n != 0 && !uneven_ok_)
        return shape_error(node, "dim " + std::to_string(dim) + " cannot be split into " + std::to_string(n) +
                                     " equal parts");
      const int64_t chunk = (dim + n - 1) / n;
      sizes.resize(size_t(n));
      int64_t left = dim;
      for (int64_t i = 0; i < n; i++) {
        sizes[size_t(i)] = std::min(chunk, left);
        left -= sizes[size_t(i)];
      }
    }
    const int64_t es = int64_t(dtype_size(x->dtype()));
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; d++) outer *= x->dim(size_t(d));
    for (int64_t d = axis + 1; d < r; d++) inner *= x->dim(size_t(d));
    int64_t start = 0;
    for (int64_t i = 0; i < n; i++) {
      Dims dims = x->dims();
      dims[size_t(axis)] = sizes[size_t(i)];
      if (ctx.output_used(size_t(i))) {
        if (outer == 1) {
          ctx.set_output(size_t(i), offset_view(*x, dims, start * inner));
        } else {
          Tensor* y;
          INT8RT_RETURN_IF_ERROR(ctx.allocate_output(size_t(i), x->dtype(), dims, &y));
          const int64_t bytes = sizes[size_t(i)] * inner * es;
          copy_blocks(ctx.pool(), outer, bytes, static_cast<const char*>(x->raw()) + start * inner * es,
                      dim * inner * es, static_cast<char*>(y->raw()), bytes);
        }
      }
      start += sizes[size_t(i)];
    }
    return Status::OK();
  }

 private:
  int64_t axis_ = 0, num_outputs_ = 0;
  bool split_from_input_ = false, has_split_ = false, uneven_ok_ = false;
  std::vector<int64_t> split_;
};

// ---------------------------------------------------------------------------------------------------------------
// Slice

class SliceKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) { return spec_.init(info); }
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    Dims dims;
    std::vector<int64_t> strides;
    int64_t offset = 0;
    INT8RT_RETURN_IF_ERROR(spec_.view(ctx, x->dims(), &dims, &strides, &offset));
    if (dims_numel(dims) == 0) {
      Tensor* y;
      return ctx.allocate_output(0, x->dtype(), dims, &y);
    }
    if (is_contiguous_view(dims, strides)) {
      ctx.set_output(0, offset_view(*x, dims, offset));
      return Status::OK();
    }
    INT8RT_RETURN_IF_ERROR(check_movable(node, x->dtype()));
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), dims, &y));
    const size_t es = dtype_size(x->dtype());
    strided_copy(ctx.pool(), es, dims, strides, static_cast<const char*>(x->raw()) + offset * int64_t(es), y->raw());
    return Status::OK();
  }

 private:
  SliceSpec spec_;
};

// ---------------------------------------------------------------------------------------------------------------
// Pad

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

class PadKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) {
    const NodeDef& node = info.node();
    from_inputs_ = info.opset() >= 11;
    const std::string mode = node.attr_string("mode", "constant");
    if (mode == "constant") mode_ = PadMode::kConstant;
    else if (mode == "reflect") mode_ = PadMode::kReflect;
    else if (mode == "edge") mode_ = PadMode::kEdge;
    else if (mode == "wrap" && info.opset() >= 19) mode_ = PadMode::kWrap;
    else return shape_error(node, "mode '" + mode + "' is not supported");
    if (!from_inputs_) {
      if (!node.has_attr("pads")) return shape_error(node, "attribute 'pads' is required");
      pads_ = node.attr_ints("pads");
      value_ = node.attr_float("value", 0.f);
    }
    return Status::OK();
  }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    INT8RT_RETURN_IF_ERROR(check_movable(node, x->dtype()));
    const DType t = x->dtype();
    const size_t es = dtype_size(t);
    const int64_t r = int64_t(x->rank());

    // Pads per axis and the fill value, as bytes of the element type.
    std::vector<int64_t> pads = pads_, axes;
    alignas(8) unsigned char value[8] = {0};
    if (from_inputs_) {
      const Tensor* p;
      INT8RT_RETURN_IF_ERROR(required_input(ctx, 1, &p));
      INT8RT_RETURN_IF_ERROR(read_ints(node, *p, "pads", &pads));
      if (const Tensor* v = ctx.input(2)) {
        if (v->dtype() != t) return dtype_error(node, "constant_value differs from the input in element type");
        if (v->numel() > 1) return shape_error(node, "constant_value must be a scalar");
        if (v->numel() == 1) std::memcpy(value, v->raw(), es);
      }
      if (const Tensor* a = ctx.input(3)) INT8RT_RETURN_IF_ERROR(read_ints(node, *a, "axes", &axes));
    } else if (value_ != 0) {
      if (!store_scalar(t, value, 0, double(value_)))
        return dtype_error(node, std::string("cannot pad ") + dtype_name(t) + " with a value");
    }
    if (axes.empty() && !(from_inputs_ && ctx.input(3))) {
      axes.resize(size_t(r));
      for (int64_t i = 0; i < r; i++) axes[size_t(i)] = i;
    }
    std::vector<int64_t> norm;
    INT8RT_RETURN_IF_ERROR(normalize_axes(node, axes, r, &norm));
    if (pads.size() != 2 * norm.size())
      return shape_error(node, "pads " + dims_str(pads) + " must hold 2 values per padded axis (" +
                                   std::to_string(norm.size()) + " axes)");
    std::vector<int64_t> begin(size_t(r), 0), end(size_t(r), 0);
    for (size_t i = 0; i < norm.size(); i++) {
      begin[size_t(norm[i])] = pads[i];
      end[size_t(norm[i])] = pads[i + norm.size()];
    }

    Dims out(static_cast<size_t>(r));
    for (int64_t a = 0; a < r; a++) {
      const int64_t d = x->dim(size_t(a)), b = begin[size_t(a)], e = end[size_t(a)];
      if (b < -d || e < -d || b > kMaxElements || e > kMaxElements || d + b + e < 0)
        return shape_error(node, "pads " + dims_str(pads) + " do not fit the input shape " + dims_str(x->dims()));
      out[size_t(a)] = d + b + e;
      const int64_t len = d - std::max<int64_t>(0, -b) - std::max<int64_t>(0, -e);
      if (out[size_t(a)] > 0 && len <= 0 && mode_ != PadMode::kConstant)
        return shape_error(node, "cannot pad an empty axis in this mode");
    }
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, t, out, &y));
    if (y->numel() == 0) return Status::OK();

    // For each axis, the input index that output index o reads, or -1 for the fill value. Negative pads crop the
    // input first; the modes then pad the cropped range. (Sized by the output dims, which exist by now.)
    std::vector<std::vector<int64_t>> map(static_cast<size_t>(r));
    for (int64_t a = 0; a < r; a++) {
      const int64_t d = x->dim(size_t(a)), b = begin[size_t(a)], e = end[size_t(a)];
      const int64_t lo = std::max<int64_t>(0, -b), hi = d - std::max<int64_t>(0, -e);
      const int64_t len = hi - lo, pb = std::max<int64_t>(b, 0);
      const int64_t o = out[size_t(a)];
      std::vector<int64_t>& m = map[size_t(a)];
      m.resize(size_t(o));
      for (int64_t i = 0; i < o; i++) {
        int64_t k = i - pb;
        if (k < 0 || k >= len) {
          switch (mode_) {
            case PadMode::kConstant: k = -1; break;
            case PadMode::kEdge: k = k < 0 ? 0 : len - 1; break;
            case PadMode::kWrap: k = ((k % len) + len) % len; break;
            case PadMode::kReflect: {
              if (len == 1) {
                k = 0;
              } else {
                const int64_t period = 2 * (len - 1);
                k = ((k % period) + period) % period;
                if (k >= len) k = period - k;
              }
              break;
            }
          }
        }
        m[size_t(i)] = k < 0 ? -1 : lo + k;
      }
    }

    if (r == 0) {
      std::memcpy(y->raw(), x->raw(), es);
      return Status::OK();
    }
    const std::vector<int64_t> in_strides = contiguous_strides(x->dims());
    const int64_t inner = out[size_t(r - 1)];
    int64_t rows = 1;
    for (int64_t a = 0; a + 1 < r; a++) rows *= out[size_t(a)];
    // The stretch of the last axis that reads consecutive input elements: one memcpy per row.
    const std::vector<int64_t>& lm = map[size_t(r - 1)];
    int64_t mid0 = 0;
    while (mid0 < inner && lm[size_t(mid0)] < 0) mid0++;
    int64_t mid1 = mid0;
    while (mid1 < inner && lm[size_t(mid1)] == lm[size_t(mid0)] + (mid1 - mid0)) mid1++;

    const char* src = static_cast<const char*>(x->raw());
    char* dst = static_cast<char*>(y->raw());
    const size_t outer_rank = size_t(r - 1);
    auto body = [&](int64_t r0, int64_t r1) {
      std::vector<int64_t> c(outer_rank + 1, 0);
      int64_t idx = r0;
      for (size_t a = outer_rank; a-- > 0;) {
        c[a] = idx % out[a];
        idx /= out[a];
      }
      visit_by_size(es, [&](auto tag) {
        using U = typename decltype(tag)::type;
        U fill;
        std::memcpy(&fill, value, sizeof(U));
        const U* s = reinterpret_cast<const U*>(src);
        for (int64_t row = r0; row < r1; row++) {
          U* d = reinterpret_cast<U*>(dst) + row * inner;
          int64_t off = 0;
          bool in_fill = false;
          for (size_t a = 0; a < outer_rank; a++) {
            const int64_t k = map[a][size_t(c[a])];
            if (k < 0) in_fill = true;
            off += k * in_strides[a];
          }
          if (in_fill) {
            for (int64_t i = 0; i < inner; i++) d[i] = fill;
          } else {
            const U* srow = s + off;
            for (int64_t i = 0; i < mid0; i++) d[i] = lm[size_t(i)] < 0 ? fill : srow[lm[size_t(i)]];
            if (mid1 > mid0) std::memcpy(d + mid0, srow + lm[size_t(mid0)], size_t(mid1 - mid0) * sizeof(U));
            for (int64_t i = mid1; i < inner; i++) d[i] = lm[size_t(i)] < 0 ? fill : srow[lm[size_t(i)]];
          }
          for (size_t a = outer_rank; a-- > 0;) {
            if (++c[a] < out[a]) break;
            c[a] = 0;
          }
        }
      });
    };
    const int64_t row_bytes = inner * int64_t(es);
    if (rows * row_bytes < 2 * kParallelBytes)
      body(0, rows);
    else
      parallel_for(ctx.pool(), rows, std::max<int64_t>(1, kParallelBytes / std::max<int64_t>(row_bytes, 1)), body);
    return Status::OK();
  }

 private:
  bool from_inputs_ = false;
  PadMode mode_ = PadMode::kConstant;
  std::vector<int64_t> pads_;
  float value_ = 0.f;
};

}  // namespace

Status concat_dims(const NodeDef& node, int64_t axis_attr, const std::vector<const Tensor*>& in, int64_t* axis,
                   Dims* out) {
  if (in.empty()) return shape_error(node, "needs at least one input");
  const Tensor& x0 = *in[0];
  const int64_t r = int64_t(x0.rank());
  INT8RT_RETURN_IF_ERROR(normalize_axis(node, axis_attr, r, axis));
  *out = x0.dims();
  (*out)[size_t(*axis)] = 0;
  for (size_t i = 0; i < in.size(); i++) {
    const Tensor& x = *in[i];
    if (x.dtype() != x0.dtype()) return dtype_error(node, "inputs differ in element type");
    if (int64_t(x.rank()) != r)
      return shape_error(node, "input shapes " + dims_str(x0.dims()) + " and " + dims_str(x.dims()) +
                                   " differ in rank");
    for (int64_t d = 0; d < r; d++)
      if (d != *axis && x.dim(size_t(d)) != x0.dim(size_t(d)))
        return shape_error(node, "input shapes " + dims_str(x0.dims()) + " and " + dims_str(x.dims()) +
                                     " differ outside axis " + std::to_string(*axis));
    (*out)[size_t(*axis)] += x.dim(size_t(*axis));
  }
  return Status::OK();
}

Status SliceSpec::init(const KernelInfo& info) {
  const NodeDef& node = info.node();
  from_inputs_ = info.opset() >= 10;
  if (!from_inputs_) {
    if (!node.has_attr("starts") || !node.has_attr("ends"))
      return shape_error(node, "attributes 'starts' and 'ends' are required");
    starts_ = node.attr_ints("starts");
    ends_ = node.attr_ints("ends");
    has_axes_ = node.has_attr("axes");
    axes_ = node.attr_ints("axes");
  }
  return Status::OK();
}

Status SliceSpec::view(const OpContext& ctx, const Dims& x, Dims* dims_out, std::vector<int64_t>* strides_out,
                       int64_t* offset_out) const {
  const NodeDef& node = ctx.node();
  std::vector<int64_t> starts = starts_, ends = ends_, axes = axes_, steps;
  bool has_axes = has_axes_;
  if (from_inputs_) {
    const Tensor *s, *e;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 1, &s));
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 2, &e));
    INT8RT_RETURN_IF_ERROR(read_ints(node, *s, "starts", &starts));
    INT8RT_RETURN_IF_ERROR(read_ints(node, *e, "ends", &ends));
    if (ctx.input(3)) {
      INT8RT_RETURN_IF_ERROR(read_ints(node, *ctx.input(3), "axes", &axes));
      has_axes = true;
    }
    if (ctx.input(4)) INT8RT_RETURN_IF_ERROR(read_ints(node, *ctx.input(4), "steps", &steps));
  }
  const size_t n = starts.size();
  if (ends.size() != n) return shape_error(node, "starts and ends differ in length");
  if (!has_axes) {
    axes.resize(n);
    for (size_t i = 0; i < n; i++) axes[i] = int64_t(i);
  }
  if (axes.size() != n) return shape_error(node, "axes and starts differ in length");
  if (steps.empty()) steps.assign(n, 1);
  if (steps.size() != n) return shape_error(node, "steps and starts differ in length");
  const int64_t r = int64_t(x.size());
  std::vector<int64_t> norm;
  INT8RT_RETURN_IF_ERROR(normalize_axes(node, axes, r, &norm));

  Dims dims = x;
  std::vector<int64_t> strides = contiguous_strides(x);
  int64_t offset = 0;
  for (size_t i = 0; i < n; i++) {
    const size_t a = size_t(norm[i]);
    const int64_t d = x[a];
    int64_t step = steps[i], start = starts[i], end = ends[i];
    if (step == 0) return shape_error(node, "steps must be non-zero");
    if (start < 0) start += d;
    if (end < 0) end += d;
    int64_t len;
    if (step > 0) {
      start = std::min(std::max<int64_t>(start, 0), d);
      end = std::min(std::max<int64_t>(end, 0), d);
      len = end > start ? (end - start - 1) / std::min(step, d + 1) + 1 : 0;
    } else {
      start = std::min(std::max<int64_t>(start, -1), d - 1);
      end = std::min(std::max<int64_t>(end, -1), d - 1);
      len = start > end ? (start - end - 1) / (std::min(-(step + 1), d) + 1) + 1 : 0;
      if (step < -d - 1) step = -d - 1;  // only one element is taken; keep the stride product in range
    }
    if (step > d + 1) step = d + 1;
    dims[a] = len;
    if (len > 0) offset += start * strides[a];
    strides[a] *= step;
  }
  *dims_out = std::move(dims);
  *strides_out = std::move(strides);
  *offset_out = offset;
  return Status::OK();
}

void register_slice_ops(KernelRegistry& r) {
  const Device cpu = Device::kCpu;
  const Precision fp32 = Precision::kFp32;
  r.add({"Concat", "", 4, 0, cpu, fp32, "concat", &make_kernel<ConcatKernel>});
  r.add({"Split", "", 2, 0, cpu, fp32, "split", &make_kernel<SplitKernel>});
  r.add({"Slice", "", 1, 0, cpu, fp32, "slice", &make_kernel<SliceKernel>});
  r.add({"Pad", "", 2, 0, cpu, fp32, "pad", &make_kernel<PadKernel>});
}

}  // namespace shape_ops
}  // namespace int8rt
