#include "ops/shape_common.h"

#include <algorithm>
#include <cmath>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "kernels/transpose.h"

namespace int8rt {
namespace shape_ops {

Status required_input(const OpContext& ctx, size_t i, const Tensor** out) {
  *out = ctx.input(i);
  if (*out) return Status::OK();
  return Status(ErrorCode::kModel, ctx.node().describe() + ": required input " + std::to_string(i) + " is missing");
}

Status check_movable(const NodeDef& node, DType t, const char* what) {
  size_t es = dtype_size(t);
  if (es == 1 || es == 2 || es == 4 || es == 8) return Status::OK();
  return dtype_error(node, std::string(what) + " has element type " + dtype_name(t) + ", which is not supported");
}

Status normalize_axis(const NodeDef& node, int64_t axis, int64_t rank, int64_t* out, const char* what) {
  if (axis < -rank || axis >= rank)
    return shape_error(node, std::string(what) + " " + std::to_string(axis) + " is out of range for rank " +
                                 std::to_string(rank));
  *out = axis < 0 ? axis + rank : axis;
  return Status::OK();
}

Status read_ints(const NodeDef& node, const Tensor& t, const char* what, std::vector<int64_t>* out) {
  if (t.dtype() != DType::kInt64 && t.dtype() != DType::kInt32)
    return dtype_error(node, std::string(what) + " must be int64 or int32, got " + dtype_name(t.dtype()));
  if (t.rank() > 1) return shape_error(node, std::string(what) + " must be 1-D, got shape " + dims_str(t.dims()));
  int64_t n = t.numel();
  out->resize(size_t(n));
  if (t.dtype() == DType::kInt64) {
    if (n) std::memcpy(out->data(), t.raw(), size_t(n) * sizeof(int64_t));
  } else {
    const int32_t* p = t.data<int32_t>();
    for (int64_t i = 0; i < n; i++) (*out)[size_t(i)] = p[i];
  }
  return Status::OK();
}

Status read_int_scalar(const NodeDef& node, const Tensor& t, const char* what, int64_t* out) {
  std::vector<int64_t> v;
  INT8RT_RETURN_IF_ERROR(read_ints(node, t, what, &v));
  if (v.size() != 1)
    return shape_error(node, std::string(what) + " must hold one value, got shape " + dims_str(t.dims()));
  *out = v[0];
  return Status::OK();
}

Status normalize_axes(const NodeDef& node, const std::vector<int64_t>& axes, int64_t rank,
                      std::vector<int64_t>* out) {
  out->clear();
  std::vector<bool> seen(size_t(std::max<int64_t>(rank, 0)), false);
  for (int64_t a : axes) {
    int64_t n;
    INT8RT_RETURN_IF_ERROR(normalize_axis(node, a, rank, &n, "axis"));
    if (seen[size_t(n)]) return shape_error(node, "axis " + std::to_string(a) + " is repeated");
    seen[size_t(n)] = true;
    out->push_back(n);
  }
  return Status::OK();
}

std::vector<int64_t> contiguous_strides(const Dims& dims) {
  std::vector<int64_t> s(dims.size());
  int64_t acc = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    s[i] = acc;
    acc *= std::max<int64_t>(dims[i], 1);
  }
  return s;
}

bool is_contiguous_view(const Dims& dims, const std::vector<int64_t>& strides) {
  int64_t expect = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    if (dims[i] == 0) return true;
    if (dims[i] == 1) continue;
    if (strides[i] != expect) return false;
    expect *= dims[i];
  }
  return true;
}

void fill_elements(void* dst, int64_t n, size_t elem_size, const void* value) {
  if (n <= 0) return;
  visit_by_size(elem_size, [&](auto tag) {
    using U = typename decltype(tag)::type;
    U v;
    std::memcpy(&v, value, sizeof(U));
    U* d = static_cast<U*>(dst);
    for (int64_t i = 0; i < n; i++) d[i] = v;
  });
}

bool store_scalar(DType t, void* base, int64_t i, double v) {
  switch (t) {
    case DType::kFloat32: static_cast<float*>(base)[i] = float(v); return true;
    case DType::kFloat64: static_cast<double*>(base)[i] = v; return true;
    case DType::kFloat16: static_cast<uint16_t*>(base)[i] = float_to_half(float(v)); return true;
    case DType::kBool: static_cast<uint8_t*>(base)[i] = v != 0; return true;
    case DType::kInt8: static_cast<int8_t*>(base)[i] = int8_t(v); return true;
    case DType::kUint8: static_cast<uint8_t*>(base)[i] = uint8_t(v); return true;
    case DType::kInt16: static_cast<int16_t*>(base)[i] = int16_t(v); return true;
    case DType::kUint16: static_cast<uint16_t*>(base)[i] = uint16_t(v); return true;
    case DType::kInt32: static_cast<int32_t*>(base)[i] = int32_t(v); return true;
    case DType::kUint32: static_cast<uint32_t*>(base)[i] = uint32_t(v); return true;
    case DType::kInt64: static_cast<int64_t*>(base)[i] = int64_t(v); return true;
    case DType::kUint64: static_cast<uint64_t*>(base)[i] = uint64_t(v); return true;
    default: return false;
  }
}

namespace {

// One row of the general path: n elements, source stride in elements (1: memcpy, 0: broadcast).
template <typename U>
inline void copy_row(U* dst, const U* src, int64_t n, int64_t stride) {
  if (stride == 1) {
    std::memcpy(dst, src, size_t(n) * sizeof(U));
  } else if (stride == 0) {
    const U v = *src;
    for (int64_t i = 0; i < n; i++) dst[i] = v;
  } else {
    for (int64_t i = 0; i < n; i++) dst[i] = src[i * stride];
  }
}

// dst[a * dst_a + b] = src[a + b * src_b] for a in [a0, a1), b in [0, cols): the source is contiguous along a and the
// destination along b. Square tiles of one cache line of elements keep both sides in L1.
template <typename U>
void transpose_tile_rows(const U* src, int64_t src_b, U* dst, int64_t dst_a, int64_t a0, int64_t a1, int64_t cols) {
  constexpr int64_t kTile = sizeof(U) >= 8 ? 8 : int64_t(64 / sizeof(U));
  for (int64_t b0 = 0; b0 < cols; b0 += kTile) {
    const int64_t b1 = std::min(cols, b0 + kTile);
    for (int64_t a = a0; a < a1; a++) {
      U* d = dst + a * dst_a;
      const U* s = src + a;
      for (int64_t b = b0; b < b1; b++) d[b] = s[b * src_b];
    }
  }
}

// Plan of a copy after unit dims are dropped and fusable neighbours merged. dst is contiguous in `dims` order.
struct CopyPlan {
  std::vector<int64_t> dims, src, dst;
};

CopyPlan simplify(const Dims& dims, const std::vector<int64_t>& strides) {
  CopyPlan p;
  for (size_t i = 0; i < dims.size(); i++) {
    if (dims[i] == 1) continue;
    if (!p.dims.empty() && p.src.back() == strides[i] * dims[i]) {
      // The outer neighbour steps exactly over this dim: one dim of the product.
      p.dims.back() *= dims[i];
      p.src.back() = strides[i];
      continue;
    }
    p.dims.push_back(dims[i]);
    p.src.push_back(strides[i]);
  }
  p.dst = contiguous_strides(p.dims);
  return p;
}

// Position of linear index `idx` over dims[0..n) (row-major), returned through coords.
inline void unravel(int64_t idx, const int64_t* dims, size_t n, int64_t* coords) {
  for (size_t i = n; i-- > 0;) {
    coords[i] = idx % dims[i];
    idx /= dims[i];
  }
}

template <typename U>
void copy_general(ThreadPool* pool, const CopyPlan& p, const U* src, U* dst) {
  const size_t rank = p.dims.size();
  const int64_t inner = p.dims[rank - 1], inner_stride = p.src[rank - 1];
  const size_t outer_rank = rank - 1;
  int64_t rows = 1;
  for (size_t i = 0; i < outer_rank; i++) rows *= p.dims[i];
  const int64_t row_bytes = inner * int64_t(sizeof(U));
  const int64_t grain = std::max<int64_t>(1, kParallelBytes / std::max<int64_t>(row_bytes, 1));
  auto body = [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> c(outer_rank + 1, 0);
    unravel(r0, p.dims.data(), outer_rank, c.data());
    int64_t off = 0;
    for (size_t i = 0; i < outer_rank; i++) off += c[i] * p.src[i];
    for (int64_t r = r0; r < r1; r++) {
      copy_row(dst + r * inner, src + off, inner, inner_stride);
      // Advance the odometer over the outer dims.
      for (size_t i = outer_rank; i-- > 0;) {
        off += p.src[i];
        if (++c[i] < p.dims[i]) break;
        off -= p.src[i] * p.dims[i];
        c[i] = 0;
      }
    }
  };
  if (rows * row_bytes < 2 * kParallelBytes)
    body(0, rows);
  else
    parallel_for(pool, rows, grain, body);
}

// The view's unit-stride axis `ja` is not the innermost one: transpose tiles of (ja x innermost) for every position
// of the remaining dims.
template <typename U>
void copy_transposed(ThreadPool* pool, const CopyPlan& p, size_t ja, const U* src, U* dst) {
  const size_t rank = p.dims.size(), last = rank - 1;
  std::vector<int64_t> odims, osrc, odst;
  for (size_t i = 0; i < last; i++) {
    if (i == ja) continue;
    odims.push_back(p.dims[i]);
    osrc.push_back(p.src[i]);
    odst.push_back(p.dst[i]);
  }
  int64_t outer = 1;
  for (int64_t d : odims) outer *= d;
  const int64_t rows = p.dims[ja], cols = p.dims[last];
  const int64_t src_b = p.src[last], dst_a = p.dst[ja];
  // Split each outer slice into bands of rows so that small batches still spread over the pool.
  constexpr int64_t kBand = 64;
  const int64_t bands = (rows + kBand - 1) / kBand;
  const int64_t tasks = outer * bands;
  const int64_t band_bytes = std::min(rows, kBand) * cols * int64_t(sizeof(U));
  const bool avx2 = use_avx2();
  (void)avx2;
  auto body = [&](int64_t t0, int64_t t1) {
    std::vector<int64_t> c(odims.size() + 1, 0);
    for (int64_t t = t0; t < t1; t++) {
      const int64_t o = t / bands, band = t % bands;
      unravel(o, odims.data(), odims.size(), c.data());
      int64_t so = 0, doff = 0;
      for (size_t i = 0; i < odims.size(); i++) {
        so += c[i] * osrc[i];
        doff += c[i] * odst[i];
      }
      const int64_t a0 = band * kBand, a1 = std::min(rows, a0 + kBand);
#if defined(__x86_64__) || defined(_M_X64)
      if (sizeof(U) == 4 && avx2) {
        transpose_x32_avx2(reinterpret_cast<const uint32_t*>(src + so + a0), src_b,
                           reinterpret_cast<uint32_t*>(dst + doff + a0 * dst_a), dst_a, a1 - a0, cols);
        continue;
      }
#endif
      transpose_tile_rows(src + so, src_b, dst + doff, dst_a, a0, a1, cols);
    }
  };
  if (tasks * band_bytes < 2 * kParallelBytes)
    body(0, tasks);
  else
    parallel_for(pool, tasks, std::max<int64_t>(1, kParallelBytes / std::max<int64_t>(band_bytes, 1)), body);
}

}  // namespace

void strided_copy(ThreadPool* pool, size_t elem_size, const Dims& dims, const std::vector<int64_t>& src_strides,
                  const void* src, void* dst) {
  for (int64_t d : dims)
    if (d == 0) return;
  CopyPlan p = simplify(dims, src_strides);
  visit_by_size(elem_size, [&](auto tag) {
    using U = typename decltype(tag)::type;
    const U* s = static_cast<const U*>(src);
    U* d = static_cast<U*>(dst);
    if (p.dims.empty()) {
      *d = *s;
      return;
    }
    const size_t last = p.dims.size() - 1;
    if (p.src[last] != 1 && p.src[last] != 0 && p.dims[last] >= 4) {
      for (size_t j = 0; j < last; j++) {
        if (p.src[j] == 1 && p.dims[j] >= 4) {
          copy_transposed(pool, p, j, s, d);
          return;
        }
      }
    }
    copy_general(pool, p, s, d);
  });
}

}  // namespace shape_ops
}  // namespace int8rt
