// Data-movement operators that look at values or positions: TopK, CumSum, Trilu, ReverseSequence.
#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "core/thread_pool.h"
#include "ops/shape_common.h"

namespace int8rt {
namespace shape_ops {
namespace {

// Splits a tensor around `axis` into outer x n x inner.
struct AxisSplit {
  int64_t outer = 1, n = 1, inner = 1;
};

AxisSplit split_at(const Dims& dims, int64_t axis) {
  AxisSplit s;
  for (int64_t i = 0; i < int64_t(dims.size()); i++) {
    if (i < axis) s.outer *= dims[size_t(i)];
    else if (i == axis) s.n = dims[size_t(i)];
    else s.inner *= dims[size_t(i)];
  }
  return s;
}

// ---------------------------------------------------------------------------------------------------------------
// TopK

// A strict weak order on keys in which NaN is larger than every number (NaN would otherwise break std::sort).
template <typename A>
inline bool key_less(A a, A b) {
  if constexpr (std::is_floating_point<A>::value) {
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
  }
  return a < b;
}

class TopKKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) {
    const NodeDef& node = info.node();
    axis_ = node.attr_int("axis", -1);
    k_from_input_ = info.opset() >= 10;
    if (!k_from_input_) {
      if (!node.has_attr("k")) return shape_error(node, "attribute 'k' is required");
      k_ = node.attr_int("k", 0);
    }
    if (info.opset() >= 11) largest_ = node.attr_int("largest", 1) != 0;
    return Status::OK();
  }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    int64_t k = k_;
    if (k_from_input_) {
      const Tensor* kt;
      INT8RT_RETURN_IF_ERROR(required_input(ctx, 1, &kt));
      INT8RT_RETURN_IF_ERROR(read_int_scalar(node, *kt, "K", &k));
    }
    int64_t axis;
    INT8RT_RETURN_IF_ERROR(normalize_axis(node, axis_, int64_t(x->rank()), &axis));
    const AxisSplit s = split_at(x->dims(), axis);
    if (k < 0 || k > s.n)
      return shape_error(node, "K " + std::to_string(k) + " is out of range for an axis of size " + std::to_string(s.n));
    Dims out = x->dims();
    out[size_t(axis)] = k;
    Tensor *values, *indices;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), out, &values));
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(1, DType::kInt64, out, &indices));
    if (k == 0 || s.outer * s.inner == 0) return Status::OK();
    bool ok = visit_numeric(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      run<T>(ctx.pool(), s, k, x->data<T>(), values->data<T>(), indices->data<int64_t>());
    });
    if (!ok) return dtype_error(node, std::string("element type ") + dtype_name(x->dtype()) + " is not supported");
    return Status::OK();
  }

 private:
  template <typename T>
  void run(ThreadPool* pool, const AxisSplit& s, int64_t k, const T* x, T* values, int64_t* indices) const {
    using A = acc_t<T>;
    using Entry = std::pair<A, int64_t>;
    const bool largest = largest_;
    // Ties go to the lower index in both directions, as the ONNX reference does.
    auto before = [largest](const Entry& a, const Entry& b) {
      if (largest ? key_less(b.first, a.first) : key_less(a.first, b.first)) return true;
      if (largest ? key_less(a.first, b.first) : key_less(b.first, a.first)) return false;
      return a.second < b.second;
    };
    auto body = [&](int64_t t0, int64_t t1) {
      std::vector<Entry> buf(size_t(s.n));
      for (int64_t t = t0; t < t1; t++) {
        const int64_t o = t / s.inner, i = t % s.inner;
        const T* src = x + o * s.n * s.inner + i;
        for (int64_t j = 0; j < s.n; j++) buf[size_t(j)] = Entry(A(src[j * s.inner]), j);
        if (k == 1) {
          auto best = std::min_element(buf.begin(), buf.end(), before);
          std::iter_swap(buf.begin(), best);
        } else if (k < s.n) {
          std::partial_sort(buf.begin(), buf.begin() + k, buf.end(), before);
        } else {
          std::sort(buf.begin(), buf.end(), before);
        }
        const int64_t base = o * k * s.inner + i;
        for (int64_t j = 0; j < k; j++) {
          values[base + j * s.inner] = src[buf[size_t(j)].second * s.inner];
          indices[base + j * s.inner] = buf[size_t(j)].second;
        }
      }
    };
    const int64_t slices = s.outer * s.inner;
    parallel_for(pool, slices, std::max<int64_t>(1, 16384 / std::max<int64_t>(s.n, 1)), body);
  }

  int64_t axis_ = -1, k_ = 0;
  bool k_from_input_ = true, largest_ = true;
};

// ---------------------------------------------------------------------------------------------------------------
// CumSum

class CumSumKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) {
    exclusive_ = info.node().attr_int("exclusive", 0) != 0;
    reverse_ = info.node().attr_int("reverse", 0) != 0;
    return Status::OK();
  }
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor *x, *axis_t;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 1, &axis_t));
    int64_t axis_v, axis;
    INT8RT_RETURN_IF_ERROR(read_int_scalar(node, *axis_t, "axis", &axis_v));
    INT8RT_RETURN_IF_ERROR(normalize_axis(node, axis_v, int64_t(x->rank()), &axis));
    const AxisSplit s = split_at(x->dims(), axis);
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), x->dims(), &y));
    if (y->numel() == 0) return Status::OK();
    const bool ok = visit_numeric(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      run<T>(ctx.pool(), s, x->data<T>(), y->data<T>());
    });
    if (!ok) return dtype_error(node, std::string("element type ") + dtype_name(x->dtype()) + " is not supported");
    return Status::OK();
  }

 private:
  // Running sums along the axis, one row of `inner` lanes at a time so that the adds vectorise.
  template <typename T>
  void run(ThreadPool* pool, const AxisSplit& s, const T* x, T* y) const {
    using A = acc_t<T>;
    constexpr int64_t kLanes = 1024;
    const int64_t chunks = (s.inner + kLanes - 1) / kLanes;
    auto body = [&](int64_t t0, int64_t t1) {
      std::vector<A> acc(size_t(std::min(s.inner, kLanes)));
      for (int64_t t = t0; t < t1; t++) {
        const int64_t o = t / chunks, c0 = (t % chunks) * kLanes, w = std::min(kLanes, s.inner - c0);
        std::fill(acc.begin(), acc.begin() + w, A(0));
        for (int64_t j = 0; j < s.n; j++) {
          const int64_t row = reverse_ ? s.n - 1 - j : j;
          const T* src = x + (o * s.n + row) * s.inner + c0;
          T* dst = y + (o * s.n + row) * s.inner + c0;
          if (exclusive_) {
            for (int64_t i = 0; i < w; i++) {
              dst[i] = static_cast<T>(acc[size_t(i)]);
              acc[size_t(i)] = A(acc[size_t(i)] + A(src[i]));
            }
          } else {
            for (int64_t i = 0; i < w; i++) {
              acc[size_t(i)] = A(acc[size_t(i)] + A(src[i]));
              dst[i] = static_cast<T>(acc[size_t(i)]);
            }
          }
        }
      }
    };
    parallel_for(pool, s.outer * chunks, std::max<int64_t>(1, 16384 / std::max<int64_t>(s.n * kLanes, 1)), body);
  }

  bool exclusive_ = false, reverse_ = false;
};

// ---------------------------------------------------------------------------------------------------------------
// Trilu

class TriluKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) {
    upper_ = info.node().attr_int("upper", 1) != 0;
    return Status::OK();
  }
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    INT8RT_RETURN_IF_ERROR(check_movable(node, x->dtype()));
    if (x->rank() < 2) return shape_error(node, "input must have rank >= 2, got " + dims_str(x->dims()));
    int64_t k = 0;
    if (const Tensor* kt = ctx.input(1)) INT8RT_RETURN_IF_ERROR(read_int_scalar(node, *kt, "k", &k));
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), x->dims(), &y));
    if (y->numel() == 0) return Status::OK();
    const int64_t rows = x->dim(x->rank() - 2), cols = x->dim(x->rank() - 1);
    const int64_t mats = x->numel() / (rows * cols);
    k = std::min(std::max(k, -rows - 1), cols + 1);  // beyond these every row is all kept or all zeroed
    const size_t es = dtype_size(x->dtype());
    const char* src = static_cast<const char*>(x->raw());
    char* dst = static_cast<char*>(y->raw());
    for (int64_t m = 0; m < mats; m++) {
      for (int64_t i = 0; i < rows; i++) {
        const size_t off = size_t((m * rows + i) * cols) * es;
        // Columns [0, split) and [split, cols): upper keeps the right part (j >= i + k), lower the left (j <= i + k).
        const int64_t split = std::min(std::max<int64_t>(upper_ ? i + k : i + k + 1, 0), cols);
        const size_t left = size_t(split) * es, right = size_t(cols - split) * es;
        if (upper_) {
          std::memset(dst + off, 0, left);
          std::memcpy(dst + off + left, src + off + left, right);
        } else {
          std::memcpy(dst + off, src + off, left);
          std::memset(dst + off + left, 0, right);
        }
      }
    }
    return Status::OK();
  }

 private:
  bool upper_ = true;
};

// ---------------------------------------------------------------------------------------------------------------
// ReverseSequence

class ReverseSequenceKernel : public OpKernel {
 public:
  Status init(const KernelInfo& info) {
    batch_axis_ = info.node().attr_int("batch_axis", 1);
    time_axis_ = info.node().attr_int("time_axis", 0);
    if ((batch_axis_ != 0 && batch_axis_ != 1) || (time_axis_ != 0 && time_axis_ != 1) || batch_axis_ == time_axis_)
      return shape_error(info.node(), "batch_axis and time_axis must be 0 and 1 in some order");
    return Status::OK();
  }
  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor *x, *lens_t;
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 0, &x));
    INT8RT_RETURN_IF_ERROR(required_input(ctx, 1, &lens_t));
    INT8RT_RETURN_IF_ERROR(check_movable(node, x->dtype()));
    if (x->rank() < 2) return shape_error(node, "input must have rank >= 2, got " + dims_str(x->dims()));
    std::vector<int64_t> lens;
    INT8RT_RETURN_IF_ERROR(read_ints(node, *lens_t, "sequence_lens", &lens));
    const int64_t T = x->dim(size_t(time_axis_)), B = x->dim(size_t(batch_axis_));
    if (int64_t(lens.size()) != B)
      return shape_error(node, "sequence_lens has " + std::to_string(lens.size()) + " values for a batch of " +
                                   std::to_string(B));
    for (int64_t l : lens)
      if (l < 0 || l > T)
        return shape_error(node, "sequence length " + std::to_string(l) + " is out of range [0, " +
                                     std::to_string(T) + "]");
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), x->dims(), &y));
    if (y->numel() == 0) return Status::OK();
    const int64_t inner = int64_t(dtype_size(x->dtype())) * (x->numel() / (T * B));
    const int64_t st = time_axis_ == 0 ? B * inner : inner, sb = time_axis_ == 0 ? inner : T * inner;
    const char* src = static_cast<const char*>(x->raw());
    char* dst = static_cast<char*>(y->raw());
    for (int64_t b = 0; b < B; b++) {
      const int64_t len = lens[size_t(b)];
      for (int64_t t = 0; t < T; t++) {
        const int64_t from = t < len ? len - 1 - t : t;
        std::memcpy(dst + t * st + b * sb, src + from * st + b * sb, size_t(inner));
      }
    }
    return Status::OK();
  }

 private:
  int64_t batch_axis_ = 1, time_axis_ = 0;
};

}  // namespace

void register_numeric_ops(KernelRegistry& r) {
  const Device cpu = Device::kCpu;
  const Precision fp32 = Precision::kFp32;
  r.add({"TopK", "", 1, 0, cpu, fp32, "topk", &make_kernel<TopKKernel>});
  r.add({"CumSum", "", 11, 0, cpu, fp32, "cumsum", &make_kernel<CumSumKernel>});
  r.add({"Trilu", "", 14, 0, cpu, fp32, "trilu", &make_kernel<TriluKernel>});
  r.add({"ReverseSequence", "", 10, 0, cpu, fp32, "reverse_sequence", &make_kernel<ReverseSequenceKernel>});
}

}  // namespace shape_ops
}  // namespace int8rt
