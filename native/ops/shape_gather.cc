// Index-driven data movement: Gather, GatherElements, GatherND, ScatterND, ScatterElements (and its deprecated
// alias Scatter), NonZero, OneHot. Indices are int32 or int64 (OneHot: any numeric type); negative indices count
// from the end of their axis and indices out of range are an error, checked before anything is written.
#include <algorithm>
#include <limits>

#include "core/thread_pool.h"
#include "ops/shape_common.h"

namespace int8rt {
namespace shape_ops {
namespace {

Status check_index_type(const NodeDef& node, const Tensor& t) {
  if (t.dtype() == DType::kInt64 || t.dtype() == DType::kInt32) return Status::OK();
  return dtype_error(node, std::string("indices must be int64 or int32, got ") + dtype_name(t.dtype()));
}

inline int64_t index_at(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kInt64 ? t.data<int64_t>()[i] : int64_t(t.data<int32_t>()[i]);
}

Status index_error(const NodeDef& node, int64_t index, int64_t size) {
  return shape_error(node, "index " + std::to_string(index) + " is out of range for an axis of size " +
                               std::to_string(size));
}

// Index `v` into an axis of `size`, negative values counting from the end; false when out of range.
inline bool wrap_index(int64_t v, int64_t size, int64_t* out) {
  if (v < -size || v >= size) return false;
  *out = v < 0 ? v + size : v;
  return true;
}

// Copies `count` blocks of `block` bytes: dst[i] = src + offsets[i] (byte offsets).
void gather_blocks(ThreadPool* pool, int64_t count, int64_t block, const char* src, const int64_t* offsets, char* dst) {
  if (count <= 0 || block <= 0) return;
  auto body = [&](int64_t b0, int64_t b1) {
    const bool small = block == 1 || block == 2 || block == 4 || block == 8;
    if (small) {
      visit_by_size(size_t(block), [&](auto tag) {
        using U = typename decltype(tag)::type;
        U* d = reinterpret_cast<U*>(dst);
        for (int64_t b = b0; b < b1; b++) std::memcpy(d + b, src + offsets[b], sizeof(U));
      });
    } else {
      for (int64_t b = b0; b < b1; b++) std::memcpy(dst + b * block, src + offsets[b], size_t(block));
    }
  };
  if (count * block < 2 * kParallelBytes)
    body(0, count);
  else
    parallel_for(pool, count, std::max<int64_t>(1, kParallelBytes / block), body);
}

// ---------------------------------------------------------------------------------------------------------------
// Gather

class GatherKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) {
    axis_ = info.node().attr_int("axis", 0);
    return Status::OK();
  }
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor *x, *idx;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 1, &idx));
    INT8RT_RETURN_IF_ERROR(check_movable(node, x->dtype()));
    INT8RT_RETURN_IF_ERROR(check_index_type(node, *idx));
    const int64_t r = int64_t(x->rank());
    int64_t axis;
    INT8RT_RETURN_IF_ERROR(normalize_axis(node, axis_, r, &axis));
    Dims out;
    for (int64_t i = 0; i < axis; i++) out.push_back(x->dim(size_t(i)));
    for (int64_t d : idx->dims()) out.push_back(d);
    for (int64_t i = axis + 1; i < r; i++) out.push_back(x->dim(size_t(i)));
    const int64_t es = int64_t(dtype_size(x->dtype()));
    const int64_t d = x->dim(size_t(axis)), n = idx->numel();
    int64_t outer = 1, block = es;
    for (int64_t i = 0; i < axis; i++) outer *= x->dim(size_t(i));
    for (int64_t i = axis + 1; i < r; i++) block *= x->dim(size_t(i));
    if (dims_numel(out) < 0) return Status(ErrorCode::kTooLarge, node.describe() + ": output is too large");

    std::vector<int64_t> k(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; j++) {
      const int64_t v = index_at(*idx, j);
      if (!wrap_index(v, d, &k[size_t(j)])) return index_error(node, v, d);
    }
    if (outer == 1 && n == 1) {
      // One slice of a leading axis: a view (Gather(shape, i) in shape subgraphs, row lookups).
      ctx.set_output(0, Tensor(x->dtype(), out, x->buffer(), x->byte_offset() + size_t(k[0] * block)));
      return Status::OK();
    }
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), out, &y));
    if (y->numel() == 0) return Status::OK();
    int64_t* offsets;
    INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(outer * n) * sizeof(int64_t), reinterpret_cast<void**>(&offsets)));
    for (int64_t o = 0; o < outer; o++)
      for (int64_t j = 0; j < n; j++) offsets[o * n + j] = (o * d + k[size_t(j)]) * block;
    gather_blocks(ctx.pool(), outer * n, block, static_cast<const char*>(x->raw()), offsets,
                  static_cast<char*>(y->raw()));
    return Status::OK();
  }

 private:
  int64_t axis_ = 0;
};

// ---------------------------------------------------------------------------------------------------------------
// GatherElements, ScatterElements: element-wise addressing where the index replaces one coordinate.

// Checks shapes for the element-wise ops and calls f(e, data_offset) for every element e of `indices` (row-major),
// with the offset of the data element it addresses. Stops with the error of the first index out of range.
template <class F>
Status for_each_element(const NodeDef& node, const Tensor& data, const Tensor& indices, int64_t axis, F&& f) {
  const size_t r = data.rank();
  if (indices.rank() != r)
    return shape_error(node, "indices " + dims_str(indices.dims()) + " and data " + dims_str(data.dims()) +
                                 " differ in rank");
  for (size_t i = 0; i < r; i++)
    if (int64_t(i) != axis && indices.dim(i) > data.dim(i))
      return shape_error(node, "indices " + dims_str(indices.dims()) + " exceed data " + dims_str(data.dims()));
  const int64_t n = indices.numel();
  if (n == 0) return Status::OK();
  const std::vector<int64_t> ds = contiguous_strides(data.dims());
  const int64_t d = data.dim(size_t(axis));
  std::vector<int64_t> c(r, 0);
  int64_t base = 0;  // offset of the coordinates other than `axis`
  for (int64_t e = 0; e < n; e++) {
    const int64_t v = index_at(indices, e);
    int64_t k;
    if (!wrap_index(v, d, &k)) return index_error(node, v, d);
    f(e, base + k * ds[size_t(axis)]);
    for (size_t i = r; i-- > 0;) {
      if (int64_t(i) != axis) base += ds[i];
      if (++c[i] < indices.dim(i)) break;
      if (int64_t(i) != axis) base -= ds[i] * indices.dim(i);
      c[i] = 0;
    }
  }
  return Status::OK();
}

class GatherElementsKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) {
    axis_ = info.node().attr_int("axis", 0);
    return Status::OK();
  }
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor *x, *idx;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 1, &idx));
    INT8RT_RETURN_IF_ERROR(check_movable(node, x->dtype()));
    INT8RT_RETURN_IF_ERROR(check_index_type(node, *idx));
    int64_t axis;
    INT8RT_RETURN_IF_ERROR(normalize_axis(node, axis_, int64_t(x->rank()), &axis));
    // Offsets first (validates every index), then the copy.
    int64_t* offsets;
    INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(idx->numel()) * sizeof(int64_t) + 8, reinterpret_cast<void**>(&offsets)));
    const int64_t es = int64_t(dtype_size(x->dtype()));
    INT8RT_RETURN_IF_ERROR(
        for_each_element(node, *x, *idx, axis, [&](int64_t e, int64_t off) { offsets[e] = off * es; }));
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), idx->dims(), &y));
    gather_blocks(ctx.pool(), idx->numel(), es, static_cast<const char*>(x->raw()), offsets,
                  static_cast<char*>(y->raw()));
    return Status::OK();
  }

 private:
  int64_t axis_ = 0;
};

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

Status parse_reduction(const KernelInfo& info, Reduction* out) {
  *out = Reduction::kNone;
  if (info.opset() < 16) return Status::OK();
  const std::string s = info.node().attr_string("reduction", "none");
  if (s == "none") *out = Reduction::kNone;
  else if (s == "add") *out = Reduction::kAdd;
  else if (s == "mul") *out = Reduction::kMul;
  else if (s == "max" && info.opset() >= 18) *out = Reduction::kMax;
  else if (s == "min" && info.opset() >= 18) *out = Reduction::kMin;
  else return shape_error(info.node(), "reduction '" + s + "' is not supported");
  return Status::OK();
}

// dst[i] = reduce(dst[i], src[i]) for n elements of type T.
template <typename T>
void reduce_into(Reduction red, T* dst, const T* src, int64_t n) {
  using A = acc_t<T>;
  for (int64_t i = 0; i < n; i++) {
    const A a = A(dst[i]), b = A(src[i]);
    A v;
    switch (red) {
      case Reduction::kAdd: v = A(a + b); break;
      case Reduction::kMul: v = A(a * b); break;
      case Reduction::kMax: v = std::max(a, b); break;
      case Reduction::kMin: v = std::min(a, b); break;
      default: v = b; break;
    }
    dst[i] = static_cast<T>(v);
  }
}

// Applies `n` update elements at `src` to `dst` (same type) with the reduction.
Status apply_update(const NodeDef& node, Reduction red, DType t, void* dst, const void* src, int64_t n) {
  if (red == Reduction::kNone) {
    std::memcpy(dst, src, size_t(n) * dtype_size(t));
    return Status::OK();
  }
  if (!visit_numeric(t, [&](auto tag) {
        using T = typename decltype(tag)::type;
        reduce_into(red, static_cast<T*>(dst), static_cast<const T*>(src), n);
      }))
    return dtype_error(node, std::string("reductions are not supported on ") + dtype_name(t));
  return Status::OK();
}

// Output 0 as a copy of `x`, for the scatter ops.
Status copy_to_output(OpContext& ctx, const Tensor& x, Tensor** y) {
  INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x.dtype(), x.dims(), y));
  if (x.nbytes()) std::memcpy((*y)->raw(), x.raw(), x.nbytes());
  return Status::OK();
}

class ScatterElementsKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) {
    axis_ = info.node().attr_int("axis", 0);
    return parse_reduction(info, &red_);
  }
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor *x, *idx, *upd;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 1, &idx));
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 2, &upd));
    INT8RT_RETURN_IF_ERROR(check_movable(node, x->dtype()));
    INT8RT_RETURN_IF_ERROR(check_index_type(node, *idx));
    if (upd->dtype() != x->dtype()) return dtype_error(node, "updates differ from data in element type");
    if (upd->dims() != idx->dims())
      return shape_error(node, "updates " + dims_str(upd->dims()) + " and indices " + dims_str(idx->dims()) +
                                   " differ in shape");
    if (red_ != Reduction::kNone && !visit_numeric(x->dtype(), [](auto) {}))
      return dtype_error(node, std::string("reductions are not supported on ") + dtype_name(x->dtype()));
    int64_t axis;
    INT8RT_RETURN_IF_ERROR(normalize_axis(node, axis_, int64_t(x->rank()), &axis));
    // Validate all indices before writing anything.
    INT8RT_RETURN_IF_ERROR(for_each_element(node, *x, *idx, axis, [](int64_t, int64_t) {}));
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(copy_to_output(ctx, *x, &y));
    const size_t es = dtype_size(x->dtype());
    char* dst = static_cast<char*>(y->raw());
    const char* src = static_cast<const char*>(upd->raw());
    Status st;
    INT8RT_RETURN_IF_ERROR(for_each_element(node, *x, *idx, axis, [&](int64_t e, int64_t off) {
      if (red_ == Reduction::kNone)
        std::memcpy(dst + size_t(off) * es, src + size_t(e) * es, es);
      else
        st = apply_update(node, red_, x->dtype(), dst + size_t(off) * es, src + size_t(e) * es, 1);
    }));
    return st;
  }

 private:
  int64_t axis_ = 0;
  Reduction red_ = Reduction::kNone;
};

// ---------------------------------------------------------------------------------------------------------------
// GatherND, ScatterND

class GatherNDKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) {
    batch_dims_ = info.opset() >= 12 ? info.node().attr_int("batch_dims", 0) : 0;
    if (batch_dims_ < 0) return shape_error(info.node(), "batch_dims must not be negative");
    return Status::OK();
  }
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor *x, *idx;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 1, &idx));
    INT8RT_RETURN_IF_ERROR(check_movable(node, x->dtype()));
    INT8RT_RETURN_IF_ERROR(check_index_type(node, *idx));
    const int64_t r = int64_t(x->rank()), q = int64_t(idx->rank()), b = batch_dims_;
    if (q < 1 || r < 1) return shape_error(node, "data and indices must have rank >= 1");
    if (b >= std::min(r, q)) return shape_error(node, "batch_dims must be smaller than both ranks");
    const int64_t k = idx->dim(size_t(q - 1));
    if (k < 1 || k > r - b)
      return shape_error(node, "indices " + dims_str(idx->dims()) + " address more dims than data " +
                                   dims_str(x->dims()) + " has");
    for (int64_t i = 0; i < b; i++)
      if (x->dim(size_t(i)) != idx->dim(size_t(i)))
        return shape_error(node, "batch dims of data " + dims_str(x->dims()) + " and indices " +
                                     dims_str(idx->dims()) + " differ");
    Dims out(idx->dims().begin(), idx->dims().end() - 1);
    for (int64_t i = b + k; i < r; i++) out.push_back(x->dim(size_t(i)));
    const int64_t es = int64_t(dtype_size(x->dtype()));
    const std::vector<int64_t> ds = contiguous_strides(x->dims());
    int64_t batches = 1, tuples = 1, slice = es;
    for (int64_t i = 0; i < b; i++) batches *= x->dim(size_t(i));
    for (int64_t i = b; i < q - 1; i++) tuples *= idx->dim(size_t(i));
    for (int64_t i = b + k; i < r; i++) slice *= x->dim(size_t(i));
    const int64_t batch_block = b > 0 ? ds[size_t(b - 1)] : 0;
    int64_t* offsets;
    INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(batches * tuples) * sizeof(int64_t) + 8, reinterpret_cast<void**>(&offsets)));
    for (int64_t bt = 0; bt < batches; bt++) {
      for (int64_t t = 0; t < tuples; t++) {
        const int64_t e = bt * tuples + t;
        int64_t off = bt * batch_block;
        for (int64_t j = 0; j < k; j++) {
          const int64_t v = index_at(*idx, e * k + j), d = x->dim(size_t(b + j));
          int64_t w;
          if (!wrap_index(v, d, &w)) return index_error(node, v, d);
          off += w * ds[size_t(b + j)];
        }
        offsets[e] = off * es;
      }
    }
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), out, &y));
    if (y->numel() == 0) return Status::OK();
    gather_blocks(ctx.pool(), batches * tuples, slice, static_cast<const char*>(x->raw()), offsets,
                  static_cast<char*>(y->raw()));
    return Status::OK();
  }

 private:
  int64_t batch_dims_ = 0;
};

class ScatterNDKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) { return parse_reduction(info, &red_); }
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor *x, *idx, *upd;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 1, &idx));
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 2, &upd));
    INT8RT_RETURN_IF_ERROR(check_movable(node, x->dtype()));
    INT8RT_RETURN_IF_ERROR(check_index_type(node, *idx));
    if (upd->dtype() != x->dtype()) return dtype_error(node, "updates differ from data in element type");
    if (red_ != Reduction::kNone && !visit_numeric(x->dtype(), [](auto) {}))
      return dtype_error(node, std::string("reductions are not supported on ") + dtype_name(x->dtype()));
    const int64_t r = int64_t(x->rank()), q = int64_t(idx->rank());
    if (q < 1) return shape_error(node, "indices must have rank >= 1");
    const int64_t k = idx->dim(size_t(q - 1));
    if (k > r)
      return shape_error(node, "indices " + dims_str(idx->dims()) + " address more dims than data " +
                                   dims_str(x->dims()) + " has");
    Dims expect(idx->dims().begin(), idx->dims().end() - 1);
    for (int64_t i = k; i < r; i++) expect.push_back(x->dim(size_t(i)));
    if (upd->dims() != expect)
      return shape_error(node, "updates " + dims_str(upd->dims()) + " must have shape " + dims_str(expect));
    const std::vector<int64_t> ds = contiguous_strides(x->dims());
    int64_t tuples = 1, slice = 1;
    for (int64_t i = 0; i + 1 < q; i++) tuples *= idx->dim(size_t(i));
    for (int64_t i = k; i < r; i++) slice *= x->dim(size_t(i));
    std::vector<int64_t> offsets(static_cast<size_t>(tuples));
    for (int64_t t = 0; t < tuples; t++) {
      int64_t off = 0;
      for (int64_t j = 0; j < k; j++) {
        const int64_t v = index_at(*idx, t * k + j), d = x->dim(size_t(j));
        int64_t w;
        if (!wrap_index(v, d, &w)) return index_error(node, v, d);
        off += w * ds[size_t(j)];
      }
      offsets[size_t(t)] = off;
    }
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(copy_to_output(ctx, *x, &y));
    const size_t es = dtype_size(x->dtype());
    char* dst = static_cast<char*>(y->raw());
    const char* src = static_cast<const char*>(upd->raw());
    // Serial, in index order: with duplicate indices later updates win (none) or accumulate in order.
    for (int64_t t = 0; t < tuples; t++)
      INT8RT_RETURN_IF_ERROR(apply_update(node, red_, x->dtype(), dst + size_t(offsets[size_t(t)]) * es,
                                          src + size_t(t * slice) * es, slice));
    return Status::OK();
  }

 private:
  Reduction red_ = Reduction::kNone;
};

// ---------------------------------------------------------------------------------------------------------------
// NonZero, OneHot

class NonZeroKernel : public OpKernel {
 public:
  Status init(const KernelInfo&) { return Status::OK(); }
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    INT8RT_RETURN_IF_ERROR(check_movable(node, x->dtype()));
    const DType t = x->dtype();
    const bool is_float = t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16;
    const int64_t n = x->numel();
    // Zero test on the bits: floats ignore the sign bit so that -0.0 counts as zero.
    std::vector<int64_t> hits;
    visit_by_size(dtype_size(t), [&](auto tag) {
      using U = typename decltype(tag)::type;
      const U all = U(~U(0));
      const U mask = is_float ? U(all >> 1) : all;
      const U* p = static_cast<const U*>(x->raw());
      for (int64_t i = 0; i < n; i++)
        if (p[i] & mask) hits.push_back(i);
    });
    // A scalar counts as a 1-D tensor of one element (as numpy's nonzero does).
    const size_t r = std::max<size_t>(x->rank(), 1);
    const int64_t nnz = int64_t(hits.size());
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kInt64, {int64_t(r), nnz}, &y));
    int64_t* out = y->data<int64_t>();
    for (int64_t j = 0; j < nnz; j++) {
      int64_t idx = hits[size_t(j)];
      for (size_t a = r; a-- > 0;) {
        const int64_t d = x->rank() ? x->dim(a) : 1;
        out[int64_t(a) * nnz + j] = idx % d;
        idx /= d;
      }
    }
    return Status::OK();
  }
};

class OneHotKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) {
    axis_ = info.node().attr_int("axis", -1);
    return Status::OK();
  }
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor *idx, *depth_t, *values;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &idx));
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 1, &depth_t));
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 2, &values));
    INT8RT_RETURN_IF_ERROR(check_movable(node, values->dtype(), "values"));
    if (!visit_numeric(idx->dtype(), [](auto) {})) return dtype_error(node, "indices must be numeric");
    if (!visit_numeric(depth_t->dtype(), [](auto) {})) return dtype_error(node, "depth must be numeric");
    if (depth_t->numel() != 1) return shape_error(node, "depth must hold one value");
    if (values->numel() != 2) return shape_error(node, "values must hold [off_value, on_value]");
    const double depth_f = depth_t->float_at(0);
    if (!(depth_f >= 1) || depth_f > double(kMaxElements))
      return shape_error(node, "depth " + std::to_string(depth_f) + " is out of range");
    const int64_t depth = int64_t(depth_f);
    const int64_t r = int64_t(idx->rank());
    if (axis_ < -(r + 1) || axis_ > r)
      return shape_error(node, "axis " + std::to_string(axis_) + " is out of range for output rank " +
                                   std::to_string(r + 1));
    const int64_t axis = axis_ < 0 ? axis_ + r + 1 : axis_;
    Dims out = idx->dims();
    out.insert(out.begin() + axis, depth);
    if (dims_numel(out) < 0) return Status(ErrorCode::kTooLarge, node.describe() + ": output is too large");
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, values->dtype(), out, &y));
    const size_t es = dtype_size(values->dtype());
    const char* off_v = static_cast<const char*>(values->raw());
    const char* on_v = off_v + es;
    fill_elements(y->raw(), y->numel(), es, off_v);
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; i++) outer *= idx->dim(size_t(i));
    for (int64_t i = axis; i < r; i++) inner *= idx->dim(size_t(i));
    char* dst = static_cast<char*>(y->raw());
    for (int64_t o = 0; o < outer; o++) {
      for (int64_t i = 0; i < inner; i++) {
        int64_t v = idx->int_at(o * inner + i);
        if (v < 0) v += depth;
        if (v < 0 || v >= depth) continue;  // out of range: the row stays off_value
        std::memcpy(dst + size_t((o * depth + v) * inner + i) * es, on_v, es);
      }
    }
    return Status::OK();
  }

 private:
  int64_t axis_ = -1;
};

}  // namespace

void register_gather_ops(KernelRegistry& r) {
  const Device cpu = Device::kCpu;
  const Precision fp32 = Precision::kFp32;
  r.add({"Gather", "", 1, 0, cpu, fp32, "gather", &make_kernel<GatherKernel>});
  r.add({"GatherElements", "", 11, 0, cpu, fp32, "gather_elements", &make_kernel<GatherElementsKernel>});
  r.add({"GatherND", "", 11, 0, cpu, fp32, "gather_nd", &make_kernel<GatherNDKernel>});
  r.add({"ScatterND", "", 11, 0, cpu, fp32, "scatter_nd", &make_kernel<ScatterNDKernel>});
  r.add({"ScatterElements", "", 11, 0, cpu, fp32, "scatter_elements", &make_kernel<ScatterElementsKernel>});
  r.add({"Scatter", "", 9, 10, cpu, fp32, "scatter_elements", &make_kernel<ScatterElementsKernel>});
  r.add({"NonZero", "", 9, 0, cpu, fp32, "nonzero", &make_kernel<NonZeroKernel>});
  r.add({"OneHot", "", 9, 0, cpu, fp32, "one_hot", &make_kernel<OneHotKernel>});
}

}  // namespace shape_ops
}  // namespace int8rt
