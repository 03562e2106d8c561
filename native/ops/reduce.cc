// Reductions (ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceLogSum,
// ReduceLogSumExp, ReduceSumSquare), ArgMax/ArgMin, and the softmax family (Softmax, LogSoftmax, Hardmax).
//
// Every Reduce* call is planned the same way: the input dims are normalised into alternating runs of kept and
// reduced axes (size-1 axes dropped, neighbours of the same kind merged). That leaves two loop shapes:
//  * rows: the innermost run is reduced, so each output folds contiguous runs of `inner` elements, one run per
//    combination of the outer reduced axes (lane-split accumulators, so the compiler vectorises the fold);
//  * cols: the innermost run is kept, so each group of `inner` consecutive outputs accumulates whole input rows
//    elementwise (vectorises trivially).
// Both parallelise over outputs. ArgMax/ArgMin and the softmax family view the input as [outer, D, inner] around
// their axis and use the same two shapes: a row path when inner == 1, a column path (vectors across inner) else.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/softmax.h"
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

// Copies a float16 tensor's data to float32 scratch, for the kernels that run float16 through their float32 code.
Status half_to_float_scratch(OpContext& ctx, const Tensor& t, float** out) {
  void* p = nullptr;
  INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(t.numel()) * sizeof(float) + 1, &p));
  const uint16_t* h = t.data<uint16_t>();
  float* f = static_cast<float*>(p);
  for (int64_t i = 0; i < t.numel(); i++) f[i] = half_to_float(h[i]);
  *out = f;
  return Status::OK();
}

void float_to_half_copy(const float* f, uint16_t* h, int64_t n) {
  for (int64_t i = 0; i < n; i++) h[i] = float_to_half(f[i]);
}

// Calls fn(T{}) with the C++ type of `dt` when it is one of the listed families; returns false otherwise.
// bool travels as uint8_t (only order-based reductions accept it).
template <typename Fn>
bool visit_dtype(DType dt, bool ints_too, bool small_ints_too, Fn&& fn) {
  switch (dt) {
    case DType::kFloat32: fn(float()); return true;
    case DType::kFloat64: fn(double()); return true;
    default: break;
  }
  if (ints_too) {
    switch (dt) {
      case DType::kInt32: fn(int32_t()); return true;
      case DType::kInt64: fn(int64_t()); return true;
      case DType::kUint32: fn(uint32_t()); return true;
      case DType::kUint64: fn(uint64_t()); return true;
      default: break;
    }
  }
  if (small_ints_too) {
    switch (dt) {
      case DType::kInt8: fn(int8_t()); return true;
      case DType::kUint8: fn(uint8_t()); return true;
      case DType::kInt16: fn(int16_t()); return true;
      case DType::kUint16: fn(uint16_t()); return true;
      case DType::kBool: fn(uint8_t()); return true;
      default: break;
    }
  }
  return false;
}

// ============================================================================================ Reduce*

enum class ReduceKind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

// The opset from which `axes` is an input instead of an attribute (and noop_with_empty_axes exists).
constexpr int axes_input_since(ReduceKind k) { return k == ReduceKind::kSum ? 13 : 18; }

template <typename T>
constexpr T lowest_value() {
  return std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
}
template <typename T>
constexpr T highest_value() {
  return std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max();
}

// Element maps applied before combining.
struct MapId {
  template <typename T> static T apply(T x) { return x; }
};
struct MapAbs {
  template <typename T> static T apply(T x) {
    if constexpr (std::is_signed<T>::value) return x < T(0) ? T(-x) : x;
    return x;
  }
};
struct MapSquare {
  template <typename T> static T apply(T x) { return T(x * x); }
};

// Associative combines with their identities.
template <typename T> struct CombAdd {
  static T init() { return T(0); }
  static T apply(T a, T b) { return T(a + b); }
};
template <typename T> struct CombMul {
  static T init() { return T(1); }
  static T apply(T a, T b) { return T(a * b); }
};
template <typename T> struct CombMax {
  static T init() { return lowest_value<T>(); }
  static T apply(T a, T b) { return a < b ? b : a; }
};
template <typename T> struct CombMin {
  static T init() { return highest_value<T>(); }
  static T apply(T a, T b) { return b < a ? b : a; }
};

template <typename T, typename Map, template <typename> class Comb>
struct Fold {
  static T init() { return Comb<T>::init(); }
  static T step(T acc, T x) { return Comb<T>::apply(acc, Map::apply(x)); }
  static T merge(T a, T b) { return Comb<T>::apply(a, b); }
};

// Folds x[0..n) into acc. Independent lane accumulators break the loop-carried dependency, so g++ vectorises
// the main loop without needing -ffast-math.
template <typename T, typename F>
T fold_run(const T* x, int64_t n, T acc) {
  constexpr int kLanes = sizeof(T) >= 8 ? 8 : 16;
  int64_t i = 0;
  if (n >= 2 * kLanes) {
    T lane[kLanes];
    for (int l = 0; l < kLanes; l++) lane[l] = F::init();
    for (; i + kLanes <= n; i += kLanes)
      for (int l = 0; l < kLanes; l++) lane[l] = F::step(lane[l], x[i + l]);
    for (int l = 0; l < kLanes; l++) acc = F::merge(acc, lane[l]);
  }
  for (; i < n; i++) acc = F::step(acc, x[i]);
  return acc;
}

template <typename T>
T finalize(ReduceKind k, T acc, int64_t count) {
  switch (k) {
    case ReduceKind::kMean:
      if (count == 0) return std::numeric_limits<T>::has_quiet_NaN ? std::numeric_limits<T>::quiet_NaN() : T(0);
      return T(acc / T(count));
    case ReduceKind::kL2:
      if constexpr (std::is_floating_point<T>::value) return std::sqrt(acc);
      return T(std::sqrt(double(acc)));
    case ReduceKind::kLogSum:
      if constexpr (std::is_floating_point<T>::value) return std::log(acc);
      return T(std::log(double(acc)));
    default:
      return acc;
  }
}

// Axis runs addressed by an odometer: sizes and input strides, outer first.
constexpr int kMaxRuns = 32;
struct Runs {
  int n = 0;
  int64_t size[kMaxRuns];
  int64_t stride[kMaxRuns];
  int64_t count() const {
    int64_t c = 1;
    for (int i = 0; i < n; i++) c *= size[i];
    return c;
  }
};

// The shape of one Reduce call (see the file comment).
struct ReducePlan {
  Dims out_dims;
  int64_t out_numel = 0;
  int64_t count = 0;  // input elements folded into each output
  bool rows = false;  // innermost run reduced (else kept, or no reduction at all)
  int64_t inner = 1;  // rows: contiguous run length; cols: consecutive outputs per group
  Runs kept;          // kept runs that address one output (rows) or one output group (cols)
  Runs reduced;       // reduced runs that address the blocks folded into an output (all but the rows' innermost)
  int64_t blocks = 1;
};

// `reduce[d]` marks the reduced axes.
Status plan_reduce(const NodeDef& node, const Dims& dims, const std::vector<bool>& reduce, bool keepdims,
                   ReducePlan* p) {
  p->out_dims.clear();
  p->out_numel = 1;
  p->count = 1;
  for (size_t d = 0; d < dims.size(); d++) {
    if (reduce[d]) {
      p->count *= dims[d];
      if (keepdims) p->out_dims.push_back(1);
    } else {
      p->out_numel *= dims[d];
      p->out_dims.push_back(dims[d]);
    }
  }
  // Runs of same-kind axes, size-1 axes dropped.
  std::vector<int64_t> run_size;
  std::vector<bool> run_reduced;
  for (size_t d = 0; d < dims.size(); d++) {
    if (dims[d] == 1) continue;
    if (!run_size.empty() && run_reduced.back() == reduce[d]) {
      run_size.back() *= dims[d];
    } else {
      run_size.push_back(dims[d]);
      run_reduced.push_back(reduce[d]);
    }
  }
  const size_t nr = run_size.size();
  if (nr > size_t(kMaxRuns))
    return unsupported(node, "more than " + std::to_string(kMaxRuns) + " alternating kept/reduced axis groups");
  std::vector<int64_t> stride(nr);
  for (size_t i = nr, st = 1; i-- > 0;) {
    stride[i] = int64_t(st);
    st *= size_t(run_size[i]);
  }
  bool any_reduced = false;
  for (size_t i = 0; i < nr; i++) any_reduced = any_reduced || run_reduced[i];
  p->kept.n = p->reduced.n = 0;
  p->blocks = 1;
  if (!any_reduced) {  // nothing to fold: an elementwise map over the whole tensor
    p->rows = false;
    p->inner = p->out_numel;
    return Status::OK();
  }
  p->rows = run_reduced[nr - 1];
  p->inner = run_size[nr - 1];
  // Every run but the innermost addresses either the output (kept) or the blocks (reduced). In the cols shape
  // the innermost kept run is the contiguous group of outputs itself.
  for (size_t i = 0; i + 1 < nr; i++) {
    Runs& r = run_reduced[i] ? p->reduced : p->kept;
    r.size[r.n] = run_size[i];
    r.stride[r.n] = stride[i];
    r.n++;
  }
  p->blocks = p->reduced.count();
  return Status::OK();
}

// Input offsets of consecutive positions over some runs (the last run varies fastest), from position `start`.
class Odometer {
 public:
  Odometer(const Runs& runs, int64_t start) : runs_(runs) {
    for (int i = runs.n; i-- > 0;) {
      idx_[i] = start % runs.size[i];
      start /= runs.size[i];
      offset_ += idx_[i] * runs.stride[i];
    }
  }
  int64_t offset() const { return offset_; }
  void next() {
    for (int i = runs_.n; i-- > 0;) {
      offset_ += runs_.stride[i];
      if (++idx_[i] < runs_.size[i]) return;
      offset_ -= idx_[i] * runs_.stride[i];
      idx_[i] = 0;
    }
  }

 private:
  const Runs& runs_;
  int64_t idx_[kMaxRuns];
  int64_t offset_ = 0;
};

// Column groups are split in chunks of this many outputs so that narrow-but-tall reductions still parallelise.
constexpr int64_t kColChunk = 512;

template <typename T, typename F>
void reduce_folded(ReduceKind kind, const ReducePlan& p, const T* x, T* y, ThreadPool* pool) {
  if (p.rows) {
    parallel_for(pool, p.out_numel, grain_for(p.count), [&](int64_t b, int64_t e) {
      Odometer od(p.kept, b);
      for (int64_t o = b; o < e; o++, od.next()) {
        T acc = F::init();
        const T* xo = x + od.offset();
        Odometer blk(p.reduced, 0);
        for (int64_t k = 0; k < p.blocks; k++, blk.next()) acc = fold_run<T, F>(xo + blk.offset(), p.inner, acc);
        y[o] = finalize(kind, acc, p.count);
      }
    });
    return;
  }
  const int64_t groups = p.out_numel / p.inner;
  const int64_t chunks = (p.inner + kColChunk - 1) / kColChunk;
  const int64_t chunk_len = std::min(p.inner, kColChunk);
  parallel_for(pool, groups * chunks, grain_for(p.count * chunk_len), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; t++) {
      const int64_t g = t / chunks, c0 = (t % chunks) * kColChunk, c1 = std::min(p.inner, c0 + kColChunk);
      const T* xg = x + Odometer(p.kept, g).offset();
      T* acc = y + g * p.inner;
      for (int64_t c = c0; c < c1; c++) acc[c] = F::init();
      Odometer blk(p.reduced, 0);
      for (int64_t k = 0; k < p.blocks; k++, blk.next()) {
        const T* xb = xg + blk.offset();
        for (int64_t c = c0; c < c1; c++) acc[c] = F::step(acc[c], xb[c]);
      }
      if (kind == ReduceKind::kMean || kind == ReduceKind::kL2 || kind == ReduceKind::kLogSum)
        for (int64_t c = c0; c < c1; c++) acc[c] = finalize(kind, acc[c], p.count);
    }
  });
}

// exp helpers for ReduceLogSumExp: float32 uses the vectorised kernels, other types std::exp.
template <typename T>
T exp_shift_sum(const T* x, T shift, int64_t n) {
  if constexpr (std::is_same<T, float>::value) {
    return vec_exp_shift_sum_f32(x, shift, nullptr, n);
  } else {
    T s = 0;
    for (int64_t i = 0; i < n; i++) s += std::exp(x[i] - shift);
    return s;
  }
}

template <typename T>
void exp_inplace(T* x, int64_t n) {
  if constexpr (std::is_same<T, float>::value) {
    vec_exp_f32(x, x, n);
  } else {
    for (int64_t i = 0; i < n; i++) x[i] = std::exp(x[i]);
  }
}

// log(sum(exp(x))) as max + log(sum(exp(x - max))); an infinite max is not subtracted (it would make NaNs).
template <typename T>
T lse_shift(T m) {
  return std::isfinite(m) ? m : T(0);
}

template <typename T>
void reduce_log_sum_exp(const ReducePlan& p, const T* x, T* y, ThreadPool* pool) {
  using MaxFold = Fold<T, MapId, CombMax>;
  if (p.rows) {
    parallel_for(pool, p.out_numel, grain_for(2 * p.count), [&](int64_t b, int64_t e) {
      Odometer od(p.kept, b);
      for (int64_t o = b; o < e; o++, od.next()) {
        const T* xo = x + od.offset();
        T m = MaxFold::init();
        Odometer blk(p.reduced, 0);
        for (int64_t k = 0; k < p.blocks; k++, blk.next()) m = fold_run<T, MaxFold>(xo + blk.offset(), p.inner, m);
        const T shift = lse_shift(m);
        T s = 0;
        Odometer blk2(p.reduced, 0);
        for (int64_t k = 0; k < p.blocks; k++, blk2.next()) s += exp_shift_sum(xo + blk2.offset(), shift, p.inner);
        y[o] = std::log(s) + shift;
      }
    });
    return;
  }
  constexpr int64_t kChunk = 256;
  const int64_t groups = p.out_numel / p.inner;
  const int64_t chunks = (p.inner + kChunk - 1) / kChunk;
  parallel_for(pool, groups * chunks, grain_for(2 * p.count * std::min(p.inner, kChunk)), [&](int64_t b, int64_t e) {
    T shift[kChunk], sum[kChunk], tmp[kChunk];
    for (int64_t t = b; t < e; t++) {
      const int64_t g = t / chunks, c0 = (t % chunks) * kChunk, n = std::min(p.inner - c0, kChunk);
      const T* xg = x + Odometer(p.kept, g).offset() + c0;
      for (int64_t c = 0; c < n; c++) shift[c] = MaxFold::init();
      Odometer blk(p.reduced, 0);
      for (int64_t k = 0; k < p.blocks; k++, blk.next())
        for (int64_t c = 0; c < n; c++) shift[c] = MaxFold::step(shift[c], xg[blk.offset() + c]);
      for (int64_t c = 0; c < n; c++) {
        shift[c] = lse_shift(shift[c]);
        sum[c] = 0;
      }
      Odometer blk2(p.reduced, 0);
      for (int64_t k = 0; k < p.blocks; k++, blk2.next()) {
        for (int64_t c = 0; c < n; c++) tmp[c] = xg[blk2.offset() + c] - shift[c];
        exp_inplace(tmp, n);
        for (int64_t c = 0; c < n; c++) sum[c] += tmp[c];
      }
      T* yg = y + g * p.inner + c0;
      for (int64_t c = 0; c < n; c++) yg[c] = std::log(sum[c]) + shift[c];
    }
  });
}

// The value of a reduction over an empty set.
template <typename T>
T empty_reduction(ReduceKind k, bool is_bool) {
  switch (k) {
    case ReduceKind::kProd: return T(1);
    case ReduceKind::kMax: return is_bool ? T(0) : lowest_value<T>();
    case ReduceKind::kMin: return is_bool ? T(1) : highest_value<T>();
    case ReduceKind::kMean: return finalize(k, T(0), 0);
    case ReduceKind::kLogSum:
    case ReduceKind::kLogSumExp: return lowest_value<T>();
    default: return T(0);
  }
}

template <typename T>
void reduce_typed(ReduceKind kind, const ReducePlan& p, const T* x, T* y, bool is_bool, ThreadPool* pool) {
  if (p.out_numel == 0) return;
  if (p.count == 0) {
    std::fill(y, y + p.out_numel, empty_reduction<T>(kind, is_bool));
    return;
  }
  switch (kind) {
    case ReduceKind::kSum:
    case ReduceKind::kMean:
    case ReduceKind::kLogSum: return reduce_folded<T, Fold<T, MapId, CombAdd>>(kind, p, x, y, pool);
    case ReduceKind::kL1: return reduce_folded<T, Fold<T, MapAbs, CombAdd>>(kind, p, x, y, pool);
    case ReduceKind::kL2:
    case ReduceKind::kSumSquare: return reduce_folded<T, Fold<T, MapSquare, CombAdd>>(kind, p, x, y, pool);
    case ReduceKind::kProd: return reduce_folded<T, Fold<T, MapId, CombMul>>(kind, p, x, y, pool);
    case ReduceKind::kMax: return reduce_folded<T, Fold<T, MapId, CombMax>>(kind, p, x, y, pool);
    case ReduceKind::kMin: return reduce_folded<T, Fold<T, MapId, CombMin>>(kind, p, x, y, pool);
    case ReduceKind::kLogSumExp:
      if constexpr (std::is_floating_point<T>::value) reduce_log_sum_exp(p, x, y, pool);
      return;
  }
}

struct ReduceTypes {
  bool ints, small_ints, bools;
};

ReduceTypes reduce_types(ReduceKind k) {
  switch (k) {
    case ReduceKind::kMax:
    case ReduceKind::kMin: return {true, true, true};
    case ReduceKind::kLogSum:
    case ReduceKind::kLogSumExp: return {false, false, false};
    default: return {true, false, false};
  }
}

class ReduceKernel : public OpKernel {
 public:
  ReduceKernel(ReduceKind kind, bool keepdims, bool noop_with_empty_axes, bool axes_from_input, bool have_axes,
               std::vector<int64_t> axes)
      : kind_(kind),
        keepdims_(keepdims),
        noop_(noop_with_empty_axes),
        axes_from_input_(axes_from_input),
        have_axes_(have_axes),
        axes_(std::move(axes)) {}

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x = ctx.input(0);
    if (!x) return shape_error(node, "missing input 'data'");
    const DType dt = x->dtype();
    const ReduceTypes types = reduce_types(kind_);
    if (dt == DType::kBool && !types.bools) return dtype_error(node, "bool input is not supported");
    bool known = dt == DType::kFloat16 || visit_dtype(dt, types.ints, types.small_ints, [](auto) {});
    if (!known) return dtype_error(node, std::string("input of type ") + dtype_name(dt) + " is not supported");

    // Axes: the input (opset 13/18+) when present, else what the factory read from the attribute or a constant.
    std::vector<int64_t> axes = axes_;
    bool have_axes = have_axes_;
    if (axes_from_input_) {
      const Tensor* a = ctx.input(1);
      if (a) {
        if (a->dtype() != DType::kInt64 && a->dtype() != DType::kInt32)
          return dtype_error(node, "'axes' must be int64");
        axes.resize(size_t(a->numel()));
        for (int64_t i = 0; i < a->numel(); i++) axes[size_t(i)] = a->int_at(i);
        have_axes = true;
      }
    }
    const Dims& dims = x->dims();
    const int64_t rank = int64_t(dims.size());
    std::vector<bool> reduce(dims.size(), false);
    if (!have_axes || axes.empty()) {
      // No axes: reduce everything, unless noop_with_empty_axes asks to reduce nothing (an elementwise map).
      if (!noop_) reduce.assign(dims.size(), true);
    } else {
      for (int64_t a : axes) {
        int64_t ax = 0;
        INT8RT_RETURN_IF_ERROR(normalize_axis(node, a, rank, &ax));
        reduce[size_t(ax)] = true;
      }
    }
    ReducePlan plan;
    INT8RT_RETURN_IF_ERROR(plan_reduce(node, dims, reduce, keepdims_, &plan));

    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, dt, plan.out_dims, &y));
    if (dt == DType::kFloat16) {
      float* xf = nullptr;
      INT8RT_RETURN_IF_ERROR(half_to_float_scratch(ctx, *x, &xf));
      void* yf = nullptr;
      INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(plan.out_numel) * sizeof(float) + 1, &yf));
      reduce_typed<float>(kind_, plan, xf, static_cast<float*>(yf), false, ctx.pool());
      float_to_half_copy(static_cast<float*>(yf), y->data<uint16_t>(), plan.out_numel);
      return Status::OK();
    }
    visit_dtype(dt, types.ints, types.small_ints, [&](auto tag) {
      using T = decltype(tag);
      reduce_typed<T>(kind_, plan, x->data<T>(), y->data<T>(), dt == DType::kBool, ctx.pool());
    });
    return Status::OK();
  }

 private:
  ReduceKind kind_;
  bool keepdims_, noop_, axes_from_input_, have_axes_;
  std::vector<int64_t> axes_;
};

template <ReduceKind K>
Status make_reduce(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  const NodeDef& node = info.node();
  const bool axes_from_input = info.opset() >= axes_input_since(K);
  const bool keepdims = node.attr_int("keepdims", 1) != 0;
  const bool noop = axes_from_input && node.attr_int("noop_with_empty_axes", 0) != 0;
  bool have_axes = false;
  std::vector<int64_t> axes;
  if (const Attribute* a = node.attr("axes")) {  // opsets before the input form (tolerated later when no input)
    if (a->type != Attribute::Type::kInts && a->type != Attribute::Type::kInt)
      return shape_error(node, "attribute 'axes' must be a list of ints");
    axes = a->type == Attribute::Type::kInts ? a->ints : std::vector<int64_t>{a->i};
    have_axes = true;
  }
  if (axes_from_input && info.has_input(1)) {
    have_axes = false;  // decided per run from the input; a constant is read once here
    axes.clear();
    if (const Tensor* c = info.constant_input(1)) {
      if (c->dtype() != DType::kInt64 && c->dtype() != DType::kInt32) return dtype_error(node, "'axes' must be int64");
      for (int64_t i = 0; i < c->numel(); i++) axes.push_back(c->int_at(i));
      have_axes = true;
    }
  }
  out->reset(new ReduceKernel(K, keepdims, noop, axes_from_input, have_axes, std::move(axes)));
  return Status::OK();
}

// ============================================================================================ ArgMax / ArgMin

// First (or, with kLast, last) index of the extreme value along D for each of `inner` columns.
template <typename T, bool kMax, bool kLast>
bool arg_better(T v, T best) {
  if constexpr (kMax) return kLast ? !(v < best) : best < v;
  return kLast ? !(best < v) : v < best;
}

template <typename T, bool kMax, bool kLast>
void arg_reduce(const T* x, int64_t outer, int64_t d, int64_t inner, int64_t* y, ThreadPool* pool) {
  if (inner == 1) {
    // Find the extreme with a vectorised fold, then the first/last position holding it.
    using F = typename std::conditional<kMax, Fold<T, MapId, CombMax>, Fold<T, MapId, CombMin>>::type;
    parallel_for(pool, outer, grain_for(2 * d), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; o++) {
        const T* xr = x + o * d;
        T m;
        if constexpr (kMax && std::is_same<T, float>::value)
          m = vec_max_f32(xr, d);
        else
          m = fold_run<T, F>(xr, d, F::init());
        int64_t idx = kLast ? d - 1 : 0;
        bool found = false;
        if (kLast) {
          for (int64_t i = d; i-- > 0;)
            if (xr[i] == m) { idx = i; found = true; break; }
        } else {
          for (int64_t i = 0; i < d; i++)
            if (xr[i] == m) { idx = i; found = true; break; }
        }
        if (!found) {  // NaNs (never equal to the fold result): fall back to an ordered scan
          idx = 0;
          for (int64_t i = 1; i < d; i++)
            if (arg_better<T, kMax, kLast>(xr[i], xr[idx])) idx = i;
        }
        y[o] = idx;
      }
    });
    return;
  }
  constexpr int64_t kChunk = 128;
  const int64_t chunks = (inner + kChunk - 1) / kChunk;
  parallel_for(pool, outer * chunks, grain_for(d * std::min(inner, kChunk)), [&](int64_t b, int64_t e) {
    T best[kChunk];
    for (int64_t t = b; t < e; t++) {
      const int64_t o = t / chunks, c0 = (t % chunks) * kChunk, n = std::min(inner - c0, kChunk);
      const T* xo = x + o * d * inner + c0;
      int64_t* yo = y + o * inner + c0;
      for (int64_t c = 0; c < n; c++) {
        best[c] = xo[c];
        yo[c] = 0;
      }
      for (int64_t r = 1; r < d; r++) {
        const T* xr = xo + r * inner;
        for (int64_t c = 0; c < n; c++) {
          const bool take = arg_better<T, kMax, kLast>(xr[c], best[c]);
          best[c] = take ? xr[c] : best[c];
          yo[c] = take ? r : yo[c];
        }
      }
    }
  });
}

class ArgKernel : public OpKernel {
 public:
  ArgKernel(bool is_max, int64_t axis, bool keepdims, bool last)
      : is_max_(is_max), axis_(axis), keepdims_(keepdims), last_(last) {}

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x = ctx.input(0);
    if (!x) return shape_error(node, "missing input 'data'");
    const Dims& dims = x->dims();
    int64_t axis = 0;
    INT8RT_RETURN_IF_ERROR(normalize_axis(node, axis_, int64_t(dims.size()), &axis));
    const int64_t outer = prod(dims, 0, size_t(axis)), d = dims[size_t(axis)],
                  inner = prod(dims, size_t(axis) + 1, dims.size());
    Dims out_dims;
    for (size_t i = 0; i < dims.size(); i++) {
      if (int64_t(i) != axis)
        out_dims.push_back(dims[i]);
      else if (keepdims_)
        out_dims.push_back(1);
    }
    const DType dt = x->dtype();
    if (dt == DType::kBool || (dt != DType::kFloat16 && !visit_dtype(dt, true, true, [](auto) {})))
      return dtype_error(node, std::string("input of type ") + dtype_name(dt) + " is not supported");
    if (d == 0 && outer * inner != 0)
      return shape_error(node, "cannot take " + node.op_type + " along an empty axis " + std::to_string(axis));
    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kInt64, out_dims, &y));
    if (outer * inner == 0) return Status::OK();
    auto run = [&](auto tag, const auto* xp) {
      using T = decltype(tag);
      int64_t* yp = y->data<int64_t>();
      if (is_max_)
        last_ ? arg_reduce<T, true, true>(xp, outer, d, inner, yp, ctx.pool())
              : arg_reduce<T, true, false>(xp, outer, d, inner, yp, ctx.pool());
      else
        last_ ? arg_reduce<T, false, true>(xp, outer, d, inner, yp, ctx.pool())
              : arg_reduce<T, false, false>(xp, outer, d, inner, yp, ctx.pool());
    };
    if (dt == DType::kFloat16) {
      float* xf = nullptr;
      INT8RT_RETURN_IF_ERROR(half_to_float_scratch(ctx, *x, &xf));
      run(float(), static_cast<const float*>(xf));
      return Status::OK();
    }
    visit_dtype(dt, true, true, [&](auto tag) {
      using T = decltype(tag);
      run(tag, x->data<T>());
    });
    return Status::OK();
  }

 private:
  bool is_max_;
  int64_t axis_;
  bool keepdims_, last_;
};

template <bool kMax>
Status make_arg(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  const NodeDef& node = info.node();
  const bool last = info.opset() >= 12 && node.attr_int("select_last_index", 0) != 0;
  out->reset(new ArgKernel(kMax, node.attr_int("axis", 0), node.attr_int("keepdims", 1) != 0, last));
  return Status::OK();
}

// ============================================================================================ Softmax family

enum class SoftmaxKind { kSoftmax, kLogSoftmax, kHardmax };

// Row form (inner == 1): each of `rows` rows of length d is normalised on its own.
template <typename T>
void softmax_rows(SoftmaxKind kind, const T* x, T* y, int64_t rows, int64_t d, ThreadPool* pool) {
  parallel_for(pool, rows, grain_for(3 * d), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; r++) {
      const T* xr = x + r * d;
      T* yr = y + r * d;
      T m;
      if constexpr (std::is_same<T, float>::value)
        m = vec_max_f32(xr, d);
      else
        m = fold_run<T, Fold<T, MapId, CombMax>>(xr, d, lowest_value<T>());
      if (kind == SoftmaxKind::kHardmax) {
        int64_t idx = 0;
        while (idx < d - 1 && !(xr[idx] == m)) idx++;
        std::fill(yr, yr + d, T(0));
        yr[idx] = T(1);
        continue;
      }
      if (kind == SoftmaxKind::kSoftmax) {
        T s;
        if constexpr (std::is_same<T, float>::value) {
          s = vec_exp_shift_sum_f32(xr, m, yr, d);
        } else {
          s = 0;
          for (int64_t i = 0; i < d; i++) s += (yr[i] = std::exp(xr[i] - m));
        }
        const T inv = T(1) / s;
        for (int64_t i = 0; i < d; i++) yr[i] *= inv;
      } else {
        // (x - max) - log(sum(exp(x - max))): subtracting the max first keeps large inputs exact.
        const T ls = std::log(exp_shift_sum(xr, m, d));
        for (int64_t i = 0; i < d; i++) yr[i] = (xr[i] - m) - ls;
      }
    }
  });
}

// Column form (inner > 1): vectors run across a strip of `inner`, the normalised axis is strided.
template <typename T>
void softmax_cols(SoftmaxKind kind, const T* x, T* y, int64_t outer, int64_t d, int64_t inner, ThreadPool* pool) {
  constexpr int64_t kMaxStrip = 128;
  // Narrower strips when there are few outer rows, so that [1, D, inner] inputs still split across threads.
  int64_t strip = kMaxStrip;
  if (outer < 4 && pool && pool->num_threads() > 1)
    strip = std::min(kMaxStrip, std::max<int64_t>(16, (inner / (4 * pool->num_threads()) + 7) / 8 * 8));
  const int64_t strips = (inner + strip - 1) / strip;
  parallel_for(pool, outer * strips, grain_for(3 * d * std::min(inner, strip)), [&](int64_t b, int64_t e) {
    T m[kMaxStrip], s[kMaxStrip];
    int64_t idx[kMaxStrip];
    for (int64_t t = b; t < e; t++) {
      const int64_t o = t / strips, c0 = (t % strips) * strip, n = std::min(inner - c0, strip);
      const T* xo = x + o * d * inner + c0;
      T* yo = y + o * d * inner + c0;
      if (kind == SoftmaxKind::kHardmax) {  // the first maximum of each column
        for (int64_t c = 0; c < n; c++) {
          m[c] = xo[c];
          idx[c] = 0;
        }
        for (int64_t r = 1; r < d; r++) {
          const T* xr = xo + r * inner;
          for (int64_t c = 0; c < n; c++) {
            const bool take = m[c] < xr[c];
            m[c] = take ? xr[c] : m[c];
            idx[c] = take ? r : idx[c];
          }
        }
        for (int64_t r = 0; r < d; r++) {
          T* yr = yo + r * inner;
          for (int64_t c = 0; c < n; c++) yr[c] = idx[c] == r ? T(1) : T(0);
        }
        continue;
      }
      for (int64_t c = 0; c < n; c++) m[c] = xo[c];
      for (int64_t r = 1; r < d; r++) {
        const T* xr = xo + r * inner;
        for (int64_t c = 0; c < n; c++) m[c] = m[c] < xr[c] ? xr[c] : m[c];
      }
      for (int64_t c = 0; c < n; c++) s[c] = 0;
      for (int64_t r = 0; r < d; r++) {
        const T* xr = xo + r * inner;
        T* yr = yo + r * inner;
        for (int64_t c = 0; c < n; c++) yr[c] = xr[c] - m[c];
        exp_inplace(yr, n);
        for (int64_t c = 0; c < n; c++) s[c] += yr[c];
      }
      if (kind == SoftmaxKind::kSoftmax) {
        for (int64_t c = 0; c < n; c++) s[c] = T(1) / s[c];
        for (int64_t r = 0; r < d; r++) {
          T* yr = yo + r * inner;
          for (int64_t c = 0; c < n; c++) yr[c] *= s[c];
        }
      } else {
        for (int64_t c = 0; c < n; c++) s[c] = std::log(s[c]);
        for (int64_t r = 0; r < d; r++) {
          const T* xr = xo + r * inner;
          T* yr = yo + r * inner;
          for (int64_t c = 0; c < n; c++) yr[c] = (xr[c] - m[c]) - s[c];
        }
      }
    }
  });
}

class SoftmaxKernel : public OpKernel {
 public:
  SoftmaxKernel(SoftmaxKind kind, int64_t axis, bool coerce_2d) : kind_(kind), axis_(axis), coerce_2d_(coerce_2d) {}

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* x = ctx.input(0);
    if (!x) return shape_error(node, "missing input 'input'");
    const DType dt = x->dtype();
    if (dt != DType::kFloat32 && dt != DType::kFloat64 && dt != DType::kFloat16)
      return dtype_error(node, std::string("input of type ") + dtype_name(dt) + " is not supported");
    const Dims& dims = x->dims();
    int64_t axis = 0;
    INT8RT_RETURN_IF_ERROR(normalize_axis(node, axis_, std::max<int64_t>(1, int64_t(dims.size())), &axis));
    int64_t outer, d, inner;
    if (dims.empty()) {  // a scalar is a one-element row
      outer = d = inner = 1;
    } else if (coerce_2d_) {  // opset < 13: the input is viewed as [prod(dims[:axis]), prod(dims[axis:])]
      outer = prod(dims, 0, size_t(axis));
      d = prod(dims, size_t(axis), dims.size());
      inner = 1;
    } else {
      outer = prod(dims, 0, size_t(axis));
      d = dims[size_t(axis)];
      inner = prod(dims, size_t(axis) + 1, dims.size());
    }
    Tensor* y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, dt, dims, &y));
    if (x->numel() == 0) return Status::OK();
    auto run = [&](auto tag, const auto* xp, auto* yp) {
      using T = decltype(tag);
      if (inner == 1)
        softmax_rows<T>(kind_, xp, yp, outer, d, ctx.pool());
      else
        softmax_cols<T>(kind_, xp, yp, outer, d, inner, ctx.pool());
    };
    if (dt == DType::kFloat32) {
      run(float(), x->data<float>(), y->data<float>());
    } else if (dt == DType::kFloat64) {
      run(double(), x->data<double>(), y->data<double>());
    } else {
      float* xf = nullptr;
      INT8RT_RETURN_IF_ERROR(half_to_float_scratch(ctx, *x, &xf));
      void* yf = nullptr;
      INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(x->numel()) * sizeof(float), &yf));
      run(float(), static_cast<const float*>(xf), static_cast<float*>(yf));
      float_to_half_copy(static_cast<float*>(yf), y->data<uint16_t>(), x->numel());
    }
    return Status::OK();
  }

  std::string kernel_name() const override {
    const char* base = kind_ == SoftmaxKind::kSoftmax ? "softmax_fp32" : kind_ == SoftmaxKind::kLogSoftmax
                                                                              ? "logsoftmax_fp32"
                                                                              : "hardmax_fp32";
    return base;
  }

 private:
  SoftmaxKind kind_;
  int64_t axis_;
  bool coerce_2d_;
};

template <SoftmaxKind K>
Status make_softmax(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  const bool legacy = info.opset() < 13;
  out->reset(new SoftmaxKernel(K, info.node().attr_int("axis", legacy ? 1 : -1), legacy));
  return Status::OK();
}

}  // namespace

void register_reduce_ops(KernelRegistry& r) {
  const Device cpu = Device::kCpu;
  const Precision fp32 = Precision::kFp32;
  r.add({"ReduceSum", "", 1, 0, cpu, fp32, "reduce_sum", &make_reduce<ReduceKind::kSum>});
  r.add({"ReduceMean", "", 1, 0, cpu, fp32, "reduce_mean", &make_reduce<ReduceKind::kMean>});
  r.add({"ReduceMax", "", 1, 0, cpu, fp32, "reduce_max", &make_reduce<ReduceKind::kMax>});
  r.add({"ReduceMin", "", 1, 0, cpu, fp32, "reduce_min", &make_reduce<ReduceKind::kMin>});
  r.add({"ReduceProd", "", 1, 0, cpu, fp32, "reduce_prod", &make_reduce<ReduceKind::kProd>});
  r.add({"ReduceL1", "", 1, 0, cpu, fp32, "reduce_l1", &make_reduce<ReduceKind::kL1>});
  r.add({"ReduceL2", "", 1, 0, cpu, fp32, "reduce_l2", &make_reduce<ReduceKind::kL2>});
  r.add({"ReduceLogSum", "", 1, 0, cpu, fp32, "reduce_log_sum", &make_reduce<ReduceKind::kLogSum>});
  r.add({"ReduceLogSumExp", "", 1, 0, cpu, fp32, "reduce_log_sum_exp", &make_reduce<ReduceKind::kLogSumExp>});
  r.add({"ReduceSumSquare", "", 1, 0, cpu, fp32, "reduce_sum_square", &make_reduce<ReduceKind::kSumSquare>});
  r.add({"ArgMax", "", 1, 0, cpu, fp32, "argmax", &make_arg<true>});
  r.add({"ArgMin", "", 1, 0, cpu, fp32, "argmin", &make_arg<false>});
  r.add({"Softmax", "", 1, 0, cpu, fp32, "softmax_fp32", &make_softmax<SoftmaxKind::kSoftmax>});
  r.add({"LogSoftmax", "", 1, 0, cpu, fp32, "logsoftmax_fp32", &make_softmax<SoftmaxKind::kLogSoftmax>});
  r.add({"Hardmax", "", 1, 0, cpu, fp32, "hardmax_fp32", &make_softmax<SoftmaxKind::kHardmax>});
}

}  // namespace int8rt
