// Window attributes and output geometry of the windowed pools (MaxPool, AveragePool, LpPool), shared by the float
// pools (ops/pool.cc), the int8 AveragePool (ops/int8_pool.cc) and QLinearAveragePool (ops/qlinear_pool.cc), so that
// a node pooled in int8 has exactly the output shape and window placement of its float version:
//   * 1-D to 3-D windows; kernel_shape required, strides and dilations default to 1, pads to 0, each value in
//     [1, 2^31] ([0, 2^31] for pads).
//   * auto_pad SAME_UPPER / SAME_LOWER: out = ceil(in / stride), the total padding split with the odd element at the
//     end (SAME_UPPER) or the beginning (SAME_LOWER); VALID: no padding; NOTSET: the explicit `pads`.
//   * otherwise out = (in + pad_begin + pad_end - dilated_kernel) / stride + 1 (rounded up with ceil_mode, as
//     onnxruntime does, dropping a last window that would start in the end padding); an error when the window does
//     not fit.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/op_kernel.h"

namespace int8rt {
namespace pool_params {

// Ceil of a / b for b > 0 and any sign of a.
inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

enum class AutoPad { kNotSet, kValid, kSameUpper, kSameLower };

// The attributes every windowed pool reads (the float pools add storage_order and LpPool's p).
struct WindowAttrs {
  std::vector<int64_t> kernel, strides, dilations, pads;  // pads: begins then ends, as ONNX lists them
  AutoPad auto_pad = AutoPad::kNotSet;
  bool ceil_mode = false;
  bool count_include_pad = false;
};

// One spatial axis of one call: sizes, window, and where output o's taps land.
struct Axis {
  int64_t in = 1, out = 1, k = 1, s = 1, d = 1, pad_b = 0, pad_e = 0;
  // Output positions whose taps are all inside the input: [full_lo, full_hi).
  int64_t full_lo = 0, full_hi = 0;

  int64_t start(int64_t o) const { return o * s - pad_b; }
  // Valid taps of output o: t in [lo, hi) land inside [0, in).
  void taps(int64_t o, int64_t* lo, int64_t* hi) const {
    const int64_t st = start(o);
    *lo = st >= 0 ? 0 : ceil_div(-st, d);
    *hi = std::min(k, std::max<int64_t>(0, ceil_div(in - st, d)));
    if (*hi < *lo) *hi = *lo;
  }
  // Taps of output o that land inside the padded extent [-pad_b, in + pad_e) (count_include_pad).
  int64_t padded_taps(int64_t o) const {
    const int64_t st = start(o);
    return std::max<int64_t>(0, std::min(k, ceil_div(in + pad_e - st, d)));
  }
};

inline Status parse_window_attrs(const NodeDef& node, WindowAttrs* a) {
  if (!node.has_attr("kernel_shape")) return shape_error(node, "missing required attribute 'kernel_shape'");
  a->kernel = node.attr_ints("kernel_shape");
  const size_t sr = a->kernel.size();
  if (sr < 1 || sr > 3)
    return unsupported(node, std::to_string(sr) + "-D pooling is not supported (1-D, 2-D and 3-D windows are)");
  // Window geometry beyond 2^31 cannot match a real input and would overflow the index arithmetic.
  constexpr int64_t kMaxGeometry = int64_t(1) << 31;
  for (int64_t k : a->kernel)
    if (k < 1 || k > kMaxGeometry) return shape_error(node, "attribute 'kernel_shape' must hold values in [1, 2^31]");
  a->strides = node.attr_ints("strides", std::vector<int64_t>(sr, 1));
  a->dilations = node.attr_ints("dilations", std::vector<int64_t>(sr, 1));
  a->pads = node.attr_ints("pads", std::vector<int64_t>(2 * sr, 0));
  if (a->strides.size() != sr || a->dilations.size() != sr || a->pads.size() != 2 * sr)
    return shape_error(node, "attributes 'strides', 'dilations' and 'pads' must match 'kernel_shape' (" +
                                 std::to_string(sr) + " spatial axes)");
  for (size_t i = 0; i < sr; i++)
    if (a->strides[i] < 1 || a->dilations[i] < 1 || a->strides[i] > kMaxGeometry || a->dilations[i] > kMaxGeometry)
      return shape_error(node, "attributes 'strides' and 'dilations' must hold values in [1, 2^31]");
  for (int64_t p : a->pads)
    if (p < 0 || p > kMaxGeometry) return shape_error(node, "attribute 'pads' must hold values in [0, 2^31]");
  const std::string ap = node.attr_string("auto_pad", "NOTSET");
  if (ap == "NOTSET" || ap.empty())
    a->auto_pad = AutoPad::kNotSet;
  else if (ap == "VALID")
    a->auto_pad = AutoPad::kValid;
  else if (ap == "SAME_UPPER")
    a->auto_pad = AutoPad::kSameUpper;
  else if (ap == "SAME_LOWER")
    a->auto_pad = AutoPad::kSameLower;
  else
    return shape_error(node, "attribute 'auto_pad' has unknown value '" + ap + "'");
  a->ceil_mode = node.attr_int("ceil_mode", 0) != 0;
  a->count_include_pad = node.attr_int("count_include_pad", 0) != 0;
  return Status::OK();
}

// Output sizes, effective pads and interior ranges of the spatial axes of input dims `x` ([N, C, spatial...]).
inline Status plan_axes(const NodeDef& node, const WindowAttrs& a, const Dims& x, std::vector<Axis>* axes) {
  const size_t sr = a.kernel.size();
  axes->assign(sr, Axis());
  for (size_t i = 0; i < sr; i++) {
    Axis& ax = (*axes)[i];
    ax.in = x[2 + i];
    ax.k = a.kernel[i];
    ax.s = a.strides[i];
    ax.d = a.dilations[i];
    const int64_t span = ax.d * (ax.k - 1) + 1;
    if (a.auto_pad == AutoPad::kSameUpper || a.auto_pad == AutoPad::kSameLower) {
      ax.out = ceil_div(ax.in, ax.s);
      const int64_t need = std::max<int64_t>(0, (ax.out - 1) * ax.s + span - ax.in);
      ax.pad_b = a.auto_pad == AutoPad::kSameUpper ? need / 2 : need - need / 2;
      ax.pad_e = need - ax.pad_b;
    } else {
      if (a.auto_pad == AutoPad::kNotSet) {
        ax.pad_b = a.pads[i];
        ax.pad_e = a.pads[i + sr];
      }
      const int64_t room = ax.in + ax.pad_b + ax.pad_e - span;
      if (room < 0)
        return shape_error(node, "the pooling window (" + std::to_string(span) + ") is larger than the padded input (" +
                                     std::to_string(ax.in + ax.pad_b + ax.pad_e) + ") on spatial axis " +
                                     std::to_string(i));
      ax.out = (a.ceil_mode ? ceil_div(room, ax.s) : room / ax.s) + 1;
      if (a.ceil_mode && (ax.out - 1) * ax.s >= ax.in + ax.pad_b) ax.out--;
    }
    // Interior outputs: start >= 0 and start + span <= in.
    ax.full_lo = std::min(ax.out, ceil_div(ax.pad_b, ax.s));
    const int64_t last = ax.in - span + ax.pad_b;  // o * s <= last
    ax.full_hi = last < 0 ? ax.full_lo : std::max(ax.full_lo, std::min(ax.out, last / ax.s + 1));
  }
  return Status::OK();
}

// X must be [N, C, spatial...] with one spatial axis per window axis.
inline Status check_input_rank(const NodeDef& node, const Dims& x, size_t spatial_rank) {
  if (x.size() != spatial_rank + 2)
    return shape_error(node, "input of shape " + dims_str(x) + " does not match a " + std::to_string(spatial_rank) +
                                 "-D kernel (expected rank " + std::to_string(spatial_rank + 2) + ")");
  return Status::OK();
}

// Y's dims: [N, C, out...].
inline Dims pooled_dims(const Dims& x, const std::vector<Axis>& axes) {
  Dims od = {x[0], x[1]};
  for (const Axis& ax : axes) od.push_back(ax.out);
  return od;
}

// Prepends size-1 axes with a size-1 window (one output, interior) so that 1-D and 2-D pools run as 3-D ones.
inline void pad_axes_to_3d(std::vector<Axis>* axes) {
  while (axes->size() < 3) axes->insert(axes->begin(), Axis{1, 1, 1, 1, 1, 0, 0, 0, 1});
}

// The global pools (GlobalAveragePool, GlobalMaxPool, GlobalLpPool) on X [N, C, spatial...] (rank >= 2, checked by
// the caller): Y is [N, C, 1, ...], each of the N * C planes pools `plane_size` elements; an empty spatial extent is
// refused unless there are no planes.
inline Status plan_global_pool(const NodeDef& node, const Dims& x, Dims* out_dims, int64_t* plane_size,
                               int64_t* planes) {
  *out_dims = x;
  int64_t s = 1;
  for (size_t i = 2; i < x.size(); i++) {
    s *= x[i];
    (*out_dims)[i] = 1;
  }
  *plane_size = s;
  *planes = x[0] * x[1];
  if (s == 0 && *planes > 0) return shape_error(node, "cannot pool over an empty spatial extent");
  return Status::OK();
}

}  // namespace pool_params
}  // namespace int8rt
