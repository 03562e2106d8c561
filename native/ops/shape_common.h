// Shared helpers of the data-movement operators (ops/shape*.cc, ops/resize.cc): axis and integer-list parsing,
// element-type dispatch, and the strided copy engine that Transpose, Slice, Expand, Tile, DepthToSpace and
// SpaceToDepth all reduce to.
//
// Data movement never looks at values, so most kernels work on raw elements of 1, 2, 4 or 8 bytes and support every
// element type the runtime holds. Operators that compute on values (CumSum, TopK, scatter reductions, Range) use
// visit_numeric() to instantiate one template per arithmetic type; float16 computes through float.
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "core/dtype.h"
#include "core/op_kernel.h"
#include "core/tensor.h"

namespace int8rt {

class ThreadPool;

namespace shape_ops {

// Sub-family registration, called from register_shape_ops (ops/shape.cc).
void register_slice_ops(KernelRegistry& r);    // ops/shape_slice.cc: Concat, Split, Slice, Pad
void register_gather_ops(KernelRegistry& r);   // ops/shape_gather.cc: Gather*, Scatter*, NonZero, OneHot
void register_numeric_ops(KernelRegistry& r);  // ops/shape_numeric.cc: TopK, CumSum, Trilu, ReverseSequence

// Creates kernel K (default-constructible, with `Status init(const KernelInfo&)`) for a KernelDef factory slot.
template <class K>
Status make_kernel(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  std::unique_ptr<K> k(new K());
  INT8RT_RETURN_IF_ERROR(k->init(info));
  *out = std::move(k);
  return Status::OK();
}

// Required input i, or a kModel error naming the node when the graph left it out.
Status required_input(const OpContext& ctx, size_t i, const Tensor** out);

// Elements of 1, 2, 4 or 8 bytes can be moved; anything else (string) is refused with kDtype.
Status check_movable(const NodeDef& node, DType t, const char* what = "input");

// `axis` in [-rank, rank) mapped to [0, rank); kShape error otherwise.
Status normalize_axis(const NodeDef& node, int64_t axis, int64_t rank, int64_t* out, const char* what = "axis");

// The values of an int32/int64 tensor of rank 0 or 1 (shape, axes, pads, starts...). kDtype / kShape otherwise.
Status read_ints(const NodeDef& node, const Tensor& t, const char* what, std::vector<int64_t>* out);
// A single integer from an int32/int64 tensor holding exactly one element.
Status read_int_scalar(const NodeDef& node, const Tensor& t, const char* what, int64_t* out);

// Axes (attribute or input) normalised against `rank`; duplicates are an error.
Status normalize_axes(const NodeDef& node, const std::vector<int64_t>& axes, int64_t rank, std::vector<int64_t>* out);

// Row-major strides (in elements) of a contiguous tensor of `dims`.
std::vector<int64_t> contiguous_strides(const Dims& dims);

// True when a view with these dims and strides (elements) addresses one contiguous, row-major run of memory.
bool is_contiguous_view(const Dims& dims, const std::vector<int64_t>& strides);

// Copies the N-D view `src` (dims, element strides: any sign, 0 for broadcast) into the contiguous `dst`. `src`
// points at the element with all-zero coordinates. Unit dims are dropped and mergeable dims fused first; views whose
// unit-stride axis is not the innermost (transposes) go through a cache-blocked tile transpose, everything else
// through row copies (memcpy, broadcast fill or strided gather). Parallel over rows/tiles when the copy is large.
void strided_copy(ThreadPool* pool, size_t elem_size, const Dims& dims, const std::vector<int64_t>& src_strides,
                  const void* src, void* dst);

// The views Transpose and Slice take of their input, shared by the CPU kernels (ops/shape.cc, ops/shape_slice.cc)
// and the CUDA ones (ops/cuda/movement.cc) so that both accept the same nodes and produce the same shapes.
//
// Transpose: `perm` (attribute, or the axes reversed) applied to the input's dims and contiguous strides.
class TransposeSpec {
 public:
  Status init(const NodeDef& node);
  Status view(const NodeDef& node, const Dims& x, Dims* dims, std::vector<int64_t>* strides) const;

 private:
  bool has_perm_ = false;
  std::vector<int64_t> perm_;
};

// Slice (attributes before opset 10, inputs 1-4 since): the output dims, the element strides of the view (any
// sign) and the element offset of its first element in the contiguous input. Opset 10+ reads starts / ends / axes /
// steps from ctx's inputs.
class SliceSpec {
 public:
  Status init(const KernelInfo& info);
  Status view(const OpContext& ctx, const Dims& x, Dims* dims, std::vector<int64_t>* strides, int64_t* offset) const;

 private:
  bool from_inputs_ = false, has_axes_ = false;
  std::vector<int64_t> starts_, ends_, axes_;
};

// Concat: every input of in[0]'s element type and rank, equal dims outside `axis_attr` (normalised into *axis);
// *out is the concatenated shape.
Status concat_dims(const NodeDef& node, int64_t axis_attr, const std::vector<const Tensor*>& in, int64_t* axis,
                   Dims* out);

// Fills n elements of `elem_size` bytes at dst with the element at `value`.
void fill_elements(void* dst, int64_t n, size_t elem_size, const void* value);

// Writes `v` converted to `t` at element i of `base` (numeric types and bool). False for types it cannot write.
bool store_scalar(DType t, void* base, int64_t i, double v);

// float16 as an arithmetic type: loads and stores convert through float.
struct Half {
  uint16_t bits;
  Half() = default;
  explicit Half(float f) : bits(float_to_half(f)) {}
  operator float() const { return half_to_float(bits); }
};

// The type arithmetic on T is carried out in (float for Half, T otherwise).
template <typename T> struct AccType { using type = T; };
template <> struct AccType<Half> { using type = float; };
template <typename T> using acc_t = typename AccType<T>::type;

template <typename T> struct TypeTag { using type = T; };

// Calls f(TypeTag<T>{}) with the C++ type of `t` for every numeric element type (not bool). Returns false, without
// calling f, for types that have none.
template <class F>
bool visit_numeric(DType t, F&& f) {
  switch (t) {
    case DType::kFloat32: f(TypeTag<float>{}); return true;
    case DType::kFloat64: f(TypeTag<double>{}); return true;
    case DType::kFloat16: f(TypeTag<Half>{}); return true;
    case DType::kInt8: f(TypeTag<int8_t>{}); return true;
    case DType::kUint8: f(TypeTag<uint8_t>{}); return true;
    case DType::kInt16: f(TypeTag<int16_t>{}); return true;
    case DType::kUint16: f(TypeTag<uint16_t>{}); return true;
    case DType::kInt32: f(TypeTag<int32_t>{}); return true;
    case DType::kUint32: f(TypeTag<uint32_t>{}); return true;
    case DType::kInt64: f(TypeTag<int64_t>{}); return true;
    case DType::kUint64: f(TypeTag<uint64_t>{}); return true;
    default: return false;
  }
}

// Calls f(TypeTag<U>{}) with the unsigned integer type of the element size of `t` (1, 2, 4 or 8 bytes).
template <class F>
bool visit_by_size(size_t elem_size, F&& f) {
  switch (elem_size) {
    case 1: f(TypeTag<uint8_t>{}); return true;
    case 2: f(TypeTag<uint16_t>{}); return true;
    case 4: f(TypeTag<uint32_t>{}); return true;
    case 8: f(TypeTag<uint64_t>{}); return true;
    default: return false;
  }
}

// Bytes of work below which a parallel_for is not worth its dispatch cost.
constexpr int64_t kParallelBytes = 64 * 1024;

}  // namespace shape_ops
}  // namespace int8rt
