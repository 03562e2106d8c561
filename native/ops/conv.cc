// Conv and ConvTranspose, float32, NCHW, any number of spatial dims (1-D is run as 2-D with a unit height; 2-D
// has the fast paths; 3-D and up use the generic N-D index code).
//
// Conv
//   * depthwise (group == C_in == C_out, 1-D/2-D): direct kernel per channel plane (kernels/dwconv.h).
//   * everything else: per image and group, Y_g[M/g, P] = W_g[M/g, K] * B[K, P] with K = C/g * prod(kernel) and
//     P = output pixels. The weights are packed once in the factory when W is a constant (pack_a). B is the input
//     itself for 1x1 stride-1 unpadded convs, else an im2col block. P is cut into column tiles so the im2col block
//     stays cache-sized; tiles run in parallel (each with its own block and a single-threaded GEMM) when there are
//     enough of them, otherwise one at a time with the GEMM and im2col threaded.
//   * fusion: the graph passes may set `__activation` (Relu, Clip, LeakyRelu, HardSigmoid, HardSwish, Sigmoid) with
//     `__clip_min`/`__clip_max`/`__alpha`/`__beta`, and a 4th input: a residual of the output's shape.
//     y = act(conv(x) + b + residual). Bias, residual and clamp-type activations run in the GEMM epilogue; the other
//     activations run on the output tile right after its GEMM, while it is still in cache.
//
// ConvTranspose
//   per image and group, col[M/g * prod(kernel), P_in] = W_g^T * X_g (GEMM, W_g^T packed once), then col2im
//   scatters-adds col into Y (pre-filled with the bias, plus the residual when the graph passes fused one; a fused
//   activation runs at the end). The same index map serves im2col and col2im: column-space
//   pixel c and kernel tap k touch image pixel c*stride - pad + k*dilation (for Conv the column space is the output,
//   for ConvTranspose it is the input).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/op_kernel.h"
#include "core/thread_pool.h"
#include "kernels/dwconv.h"
#include "kernels/sgemm.h"
#include "ops/registry.h"

namespace int8rt {
namespace {

using dwconv_detail::ceil_div;
using dwconv_detail::floor_div;

// Attribute values beyond this are refused: they cannot describe a real model and would overflow index math.
constexpr int64_t kMaxAttr = int64_t(1) << 31;

// ---------------------------------------------------------------------------------------------------------------
// Fused activation

enum class ActKind { kNone, kRelu, kClip, kLeakyRelu, kHardSigmoid, kHardSwish, kSigmoid };

// The activation loops below are shaped for g++'s vectoriser under the default -ftrapping-math: a select
// (`a > b ? a : b`) may be followed by further float arithmetic only through memory, so activations that clamp and
// then compute run in two passes over a small stack chunk (selects first, arithmetic second).
inline float clampf(float v, float lo, float hi) {
  v = v > lo ? v : lo;
  return v < hi ? v : hi;
}

// exp(x) for x already clamped to [-87, 88], relative error ~1e-7 (Cephes-style range reduction and polynomial),
// in plain float/int operations so that it vectorises without -ffast-math.
inline float exp_clamped(float x) {
  const float kMagic = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to the nearest integer
  float n = (x * 1.44269504088896341f + kMagic) - kMagic;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * r * r + r + 1.0f;
  int32_t bits = (int32_t(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return y * scale;
}

struct FusedActivation {
  ActKind kind = ActKind::kNone;
  float lo = -INFINITY, hi = INFINITY;  // Relu / Clip bounds
  float alpha = 0.f, beta = 0.f;        // LeakyRelu / HardSigmoid / HardSwish

  // None, Relu and Clip are a clamp to [lo, hi] and go into the GEMM epilogue.
  bool is_clamp() const { return kind == ActKind::kNone || kind == ActKind::kRelu || kind == ActKind::kClip; }

  // Applies the activation in place.
  void apply(float* p, int64_t n) const {
    constexpr int64_t kChunk = 256;
    alignas(64) float t[kChunk];
    const float a = alpha, b = beta;
    switch (kind) {
      case ActKind::kLeakyRelu:
        for (int64_t i = 0; i < n; i++) {
          const float v = p[i];
          const float pos = v > 0.f ? v : 0.f, neg = v < 0.f ? v : 0.f;
          p[i] = pos + a * neg;
        }
        break;
      case ActKind::kHardSigmoid:
        for (int64_t i = 0; i < n; i++) p[i] = clampf(a * p[i] + b, 0.f, 1.f);
        break;
      case ActKind::kHardSwish:
        for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
          const int64_t m = std::min(kChunk, n - i0);
          float* q = p + i0;
          for (int64_t i = 0; i < m; i++) t[i] = clampf(a * q[i] + b, 0.f, 1.f);
          for (int64_t i = 0; i < m; i++) q[i] *= t[i];
        }
        break;
      case ActKind::kSigmoid:
        for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
          const int64_t m = std::min(kChunk, n - i0);
          float* q = p + i0;
          for (int64_t i = 0; i < m; i++) t[i] = clampf(-q[i], -87.f, 88.f);
          for (int64_t i = 0; i < m; i++) q[i] = 1.f / (1.f + exp_clamped(t[i]));
        }
        break;
      default: {  // clamp kinds (kernels normally fold them into their epilogue)
        const float l = lo, h = hi;
        for (int64_t i = 0; i < n; i++) p[i] = clampf(p[i], l, h);
        break;
      }
    }
  }
};

Status parse_activation(const NodeDef& node, FusedActivation* act) {
  const std::string name = node.attr_string("__activation", "");
  FusedActivation a;
  if (name.empty()) {
    a.kind = ActKind::kNone;
  } else if (name == "Relu") {
    a.kind = ActKind::kRelu;
    a.lo = 0.f;
  } else if (name == "Clip") {
    a.kind = ActKind::kClip;
    a.lo = node.attr_float("__clip_min", -INFINITY);
    a.hi = node.attr_float("__clip_max", INFINITY);
    if (std::isnan(a.lo) || std::isnan(a.hi)) return shape_error(node, "__clip_min/__clip_max must not be NaN");
  } else if (name == "LeakyRelu") {
    a.kind = ActKind::kLeakyRelu;
    a.alpha = node.attr_float("__alpha", 0.01f);
  } else if (name == "HardSigmoid") {
    a.kind = ActKind::kHardSigmoid;
    a.alpha = node.attr_float("__alpha", 0.2f);
    a.beta = node.attr_float("__beta", 0.5f);
  } else if (name == "HardSwish") {
    a.kind = ActKind::kHardSwish;
    a.alpha = 1.f / 6.f;
    a.beta = 0.5f;
  } else if (name == "Sigmoid") {
    a.kind = ActKind::kSigmoid;
  } else {
    return unsupported(node, "fused activation '" + name + "' is not supported");
  }
  *act = a;
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------------------------
// Attributes and geometry

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

struct ConvAttrs {
  AutoPad auto_pad = AutoPad::kNotSet;
  int64_t group = 1;
  std::vector<int64_t> kernel_shape, strides, dilations, pads;  // empty when absent
  std::vector<int64_t> output_padding, output_shape;            // ConvTranspose only
};

Status check_ints(const NodeDef& node, const char* name, const std::vector<int64_t>& v, int64_t min_value) {
  for (int64_t x : v)
    if (x < min_value || x >= kMaxAttr)
      return shape_error(node, std::string("attribute ") + name + " has out-of-range value " + std::to_string(x));
  return Status::OK();
}

Status parse_conv_attrs(const NodeDef& node, bool transpose, ConvAttrs* a) {
  std::string ap = node.attr_string("auto_pad", "NOTSET");
  if (ap == "NOTSET" || ap.empty())
    a->auto_pad = AutoPad::kNotSet;
  else if (ap == "SAME_UPPER")
    a->auto_pad = AutoPad::kSameUpper;
  else if (ap == "SAME_LOWER")
    a->auto_pad = AutoPad::kSameLower;
  else if (ap == "VALID")
    a->auto_pad = AutoPad::kValid;
  else
    return shape_error(node, "unknown auto_pad '" + ap + "'");
  a->group = node.attr_int("group", 1);
  if (a->group < 1 || a->group >= kMaxAttr) return shape_error(node, "group must be >= 1");
  a->kernel_shape = node.attr_ints("kernel_shape");
  a->strides = node.attr_ints("strides");
  a->dilations = node.attr_ints("dilations");
  a->pads = node.attr_ints("pads");
  INT8RT_RETURN_IF_ERROR(check_ints(node, "kernel_shape", a->kernel_shape, 1));
  INT8RT_RETURN_IF_ERROR(check_ints(node, "strides", a->strides, 1));
  INT8RT_RETURN_IF_ERROR(check_ints(node, "dilations", a->dilations, 1));
  INT8RT_RETURN_IF_ERROR(check_ints(node, "pads", a->pads, 0));
  if (a->pads.size() % 2 != 0) return shape_error(node, "pads must hold a begin and an end value per spatial axis");
  if (transpose) {
    a->output_padding = node.attr_ints("output_padding");
    a->output_shape = node.attr_ints("output_shape");
    INT8RT_RETURN_IF_ERROR(check_ints(node, "output_padding", a->output_padding, 0));
    INT8RT_RETURN_IF_ERROR(check_ints(node, "output_shape", a->output_shape, 0));
  }
  return Status::OK();
}

// One run's shapes. For Conv `in` is X's spatial shape and `out` Y's; the same for ConvTranspose.
struct Geometry {
  int nsp = 0;            // spatial rank
  int64_t N = 0, C = 0, M = 0, group = 1;  // batch, input channels, output channels
  std::vector<int64_t> in, out, k, s, d, pb, pe;
  int64_t in_size = 1, out_size = 1, k_size = 1;
};

// Kernel shape, strides, dilations and explicit pads for `nsp` spatial axes, checked against W.
Status resolve_spatial(const NodeDef& node, const ConvAttrs& a, const Tensor& W, int nsp, Geometry* g) {
  g->nsp = nsp;
  g->k.assign(W.dims().begin() + 2, W.dims().end());
  if (!a.kernel_shape.empty()) {
    if (a.kernel_shape.size() != size_t(nsp)) return shape_error(node, "kernel_shape has the wrong length");
    for (int i = 0; i < nsp; i++)
      if (a.kernel_shape[i] != g->k[i])
        return shape_error(node, "kernel_shape " + dims_str(a.kernel_shape) + " does not match W " +
                                     dims_str(W.dims()));
  }
  auto per_axis = [&](const std::vector<int64_t>& v, const char* name, std::vector<int64_t>* out) -> Status {
    if (v.empty()) {
      out->assign(size_t(nsp), 1);
      return Status::OK();
    }
    if (v.size() != size_t(nsp))
      return shape_error(node, std::string(name) + " has " + std::to_string(v.size()) + " values for " +
                                   std::to_string(nsp) + " spatial axes");
    *out = v;
    return Status::OK();
  };
  INT8RT_RETURN_IF_ERROR(per_axis(a.strides, "strides", &g->s));
  INT8RT_RETURN_IF_ERROR(per_axis(a.dilations, "dilations", &g->d));
  g->pb.assign(size_t(nsp), 0);
  g->pe.assign(size_t(nsp), 0);
  if (!a.pads.empty() && a.auto_pad == AutoPad::kNotSet) {
    if (a.pads.size() != size_t(2 * nsp))
      return shape_error(node, "pads has " + std::to_string(a.pads.size()) + " values for " + std::to_string(nsp) +
                                   " spatial axes");
    for (int i = 0; i < nsp; i++) {
      g->pb[i] = a.pads[i];
      g->pe[i] = a.pads[i + nsp];
    }
  }
  g->k_size = 1;
  for (int i = 0; i < nsp; i++) {
    if (g->k[i] <= 0) return shape_error(node, "W has an empty kernel " + dims_str(W.dims()));
    g->k_size *= g->k[i];
  }
  return Status::OK();
}

Status check_float_inputs(const NodeDef& node, const Tensor* X, const Tensor* W, const Tensor* B) {
  if (!X || !W) return shape_error(node, "inputs X and W are required");
  if (X->dtype() != DType::kFloat32 || W->dtype() != DType::kFloat32 || (B && B->dtype() != DType::kFloat32))
    return dtype_error(node, std::string("only float32 is supported, got X ") + dtype_name(X->dtype()) + ", W " +
                                 dtype_name(W->dtype()));
  if (X->rank() < 3) return shape_error(node, "X must have rank >= 3 (N, C, spatial...), got " + dims_str(X->dims()));
  if (W->rank() != X->rank())
    return shape_error(node, "W " + dims_str(W->dims()) + " must have the rank of X " + dims_str(X->dims()));
  return Status::OK();
}

Status conv_geometry(const NodeDef& node, const ConvAttrs& a, const Tensor& X, const Tensor& W, Geometry* g) {
  const int nsp = int(X.rank()) - 2;
  g->N = X.dim(0);
  g->C = X.dim(1);
  g->M = W.dim(0);
  g->group = a.group;
  if (g->C % a.group != 0 || W.dim(1) * a.group != g->C)
    return shape_error(node, "X has " + std::to_string(g->C) + " channels but W " + dims_str(W.dims()) +
                                 " with group " + std::to_string(a.group) + " expects " +
                                 std::to_string(W.dim(1) * a.group));
  if (g->M % a.group != 0)
    return shape_error(node, "W's output channels (" + std::to_string(g->M) + ") are not divisible by group " +
                                 std::to_string(a.group));
  INT8RT_RETURN_IF_ERROR(resolve_spatial(node, a, W, nsp, g));
  g->in.assign(X.dims().begin() + 2, X.dims().end());
  g->out.assign(size_t(nsp), 0);
  g->in_size = g->out_size = 1;
  for (int i = 0; i < nsp; i++) {
    const int64_t in = g->in[i], s = g->s[i];
    const int64_t dk = (g->k[i] - 1) * g->d[i] + 1;
    int64_t out;
    if (a.auto_pad == AutoPad::kSameUpper || a.auto_pad == AutoPad::kSameLower) {
      out = ceil_div(in, s);
      int64_t total = std::max<int64_t>(0, (out - 1) * s + dk - in);
      int64_t small = total / 2;
      g->pb[i] = a.auto_pad == AutoPad::kSameUpper ? small : total - small;
      g->pe[i] = total - g->pb[i];
    } else {
      const int64_t padded = in + g->pb[i] + g->pe[i];
      if (padded < dk)
        return shape_error(node, "kernel " + dims_str(g->k) + " (dilated extent " + std::to_string(dk) +
                                     ") is larger than the padded input " + dims_str(X.dims()) + " on axis " +
                                     std::to_string(i + 2));
      out = (padded - dk) / s + 1;
    }
    g->out[i] = out;
    g->in_size *= in;
    g->out_size *= out;
  }
  return Status::OK();
}

Status conv_transpose_geometry(const NodeDef& node, const ConvAttrs& a, const Tensor& X, const Tensor& W,
                               Geometry* g) {
  const int nsp = int(X.rank()) - 2;
  g->N = X.dim(0);
  g->C = X.dim(1);
  g->group = a.group;
  if (W.dim(0) != g->C || g->C % a.group != 0)
    return shape_error(node, "W " + dims_str(W.dims()) + " does not match X " + dims_str(X.dims()) + " with group " +
                                 std::to_string(a.group));
  g->M = W.dim(1) * a.group;
  INT8RT_RETURN_IF_ERROR(resolve_spatial(node, a, W, nsp, g));
  std::vector<int64_t> op(size_t(nsp), 0);
  if (!a.output_padding.empty()) {
    if (a.output_padding.size() != size_t(nsp)) return shape_error(node, "output_padding has the wrong length");
    op = a.output_padding;
  }
  const int64_t* oshape = nullptr;
  if (!a.output_shape.empty()) {
    // Older models spell the full output shape (N, C, spatial...); only the spatial part matters.
    if (a.output_shape.size() == size_t(nsp))
      oshape = a.output_shape.data();
    else if (a.output_shape.size() == size_t(nsp + 2))
      oshape = a.output_shape.data() + 2;
    else
      return shape_error(node, "output_shape has the wrong length");
  }
  g->in.assign(X.dims().begin() + 2, X.dims().end());
  g->out.assign(size_t(nsp), 0);
  g->in_size = g->out_size = 1;
  for (int i = 0; i < nsp; i++) {
    const int64_t in = g->in[i], s = g->s[i];
    const int64_t dk = (g->k[i] - 1) * g->d[i] + 1;
    const int64_t full = s * (in - 1) + op[i] + dk;  // output size without padding
    int64_t out;
    if (oshape || a.auto_pad == AutoPad::kSameUpper || a.auto_pad == AutoPad::kSameLower) {
      out = oshape ? oshape[i] : in * s;
      // Padding (possibly negative: the output is then longer than `full`, the extra is zeros plus bias) split as
      // the ONNX spec says: SAME_UPPER puts the odd element at the end, everything else at the beginning.
      const int64_t total = full - out;
      const int64_t half = floor_div(total, 2);
      if (a.auto_pad == AutoPad::kSameUpper) {
        g->pb[i] = half;
        g->pe[i] = total - half;
      } else {
        g->pe[i] = half;
        g->pb[i] = total - half;
      }
    } else {
      if (a.auto_pad == AutoPad::kValid) g->pb[i] = g->pe[i] = 0;
      out = full - g->pb[i] - g->pe[i];
      if (out < 0)
        return shape_error(node, "pads exceed the output size on axis " + std::to_string(i + 2));
    }
    g->out[i] = out;
    g->in_size *= in;
    g->out_size *= out;
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------------------------
// im2col / col2im
//
// Column-space pixel c (Conv: output pixel; ConvTranspose: input pixel) and kernel tap k touch image pixel
// c*stride - pad + k*dilation. Rows of the column matrix are (channel, tap) pairs; columns are a contiguous range
// [p0, p1) of flattened column-space pixels.

struct Patch2d {
  int64_t IH = 1, IW = 1;  // image (Conv input / ConvTranspose output)
  int64_t CH = 1, CW = 1;  // column space (Conv output / ConvTranspose input)
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0;
};

// 1-D problems become 2-D ones with a unit height.
Patch2d make_patch2d(const Geometry& g, bool transpose) {
  Patch2d p;
  const std::vector<int64_t>& img = transpose ? g.out : g.in;
  const std::vector<int64_t>& col = transpose ? g.in : g.out;
  const int o = g.nsp == 2 ? 1 : 0;  // index of the width axis
  if (g.nsp == 2) {
    p.IH = img[0];
    p.CH = col[0];
    p.kh = g.k[0];
    p.sh = g.s[0];
    p.dh = g.d[0];
    p.pt = g.pb[0];
  }
  p.IW = img[o];
  p.CW = col[o];
  p.kw = g.k[o];
  p.sw = g.s[o];
  p.dw = g.d[o];
  p.pl = g.pb[o];
  return p;
}

// Column-space x range [lo, hi) within [x0, x1) whose image x for tap kx lies in [0, IW).
inline void valid_x(const Patch2d& p, int64_t kx, int64_t x0, int64_t x1, int64_t* lo, int64_t* hi) {
  const int64_t off = kx * p.dw - p.pl;
  int64_t a = std::max(x0, ceil_div(-off, p.sw));
  int64_t b = std::min(x1, floor_div(p.IW - 1 - off, p.sw) + 1);
  *lo = std::min(a, x1);
  *hi = std::max(b, *lo);
}

// Rows [r0, r1) of the im2col block for column-space pixels [p0, p1); row r lands at col + r * (p1 - p0).
// `img` holds the C/group channel planes of one image and group.
void im2col_2d(const Patch2d& p, const float* img, int64_t r0, int64_t r1, int64_t p0, int64_t p1, float* col) {
  const int64_t ncols = p1 - p0, ktaps = p.kh * p.kw;
  for (int64_t r = r0; r < r1; r++) {
    const int64_t c = r / ktaps, ky = (r / p.kw) % p.kh, kx = r % p.kw;
    const float* plane = img + c * p.IH * p.IW;
    float* dst = col + r * ncols;
    int64_t q = p0;
    while (q < p1) {
      const int64_t cy = q / p.CW, x0 = q % p.CW, x1 = std::min(p.CW, x0 + (p1 - q));
      const int64_t iy = cy * p.sh - p.pt + ky * p.dh;
      float* d = dst - x0;  // d[x] is the entry of column-space x on this row
      if (iy < 0 || iy >= p.IH) {
        std::fill(d + x0, d + x1, 0.f);
      } else {
        int64_t lo, hi;
        valid_x(p, kx, x0, x1, &lo, &hi);
        std::fill(d + x0, d + lo, 0.f);
        const float* src = plane + iy * p.IW + kx * p.dw - p.pl;  // src[x * sw] is the image pixel of x
        if (p.sw == 1) {
          if (hi > lo) std::memcpy(d + lo, src + lo, size_t(hi - lo) * sizeof(float));
        } else if (p.sw == 2) {  // a constant stride lets g++ vectorise the gather with shuffles
          for (int64_t x = lo; x < hi; x++) d[x] = src[2 * x];
        } else {
          const int64_t s = p.sw;
          for (int64_t x = lo; x < hi; x++) d[x] = src[x * s];
        }
        std::fill(d + hi, d + x1, 0.f);
      }
      dst += x1 - x0;
      q += x1 - x0;
    }
  }
}

// ConvTranspose's col2im, gathered per image row so that rows can be filled in parallel: adds into image row `iy`
// of channel plane `plane` every contribution of the column block that holds column-space rows [cy0, cy1) (all CW
// pixels of each), for channel `m`.
void col2im_2d_row(const Patch2d& p, const float* col, int64_t cy0, int64_t cy1, int64_t m, int64_t iy,
                   float* plane) {
  const int64_t ncols = (cy1 - cy0) * p.CW, ktaps = p.kh * p.kw;
  float* irow = plane + iy * p.IW;
  for (int64_t ky = 0; ky < p.kh; ky++) {
    const int64_t t = iy + p.pt - ky * p.dh;  // = cy * sh
    if (t < 0 || t % p.sh != 0) continue;
    const int64_t cy = t / p.sh;
    if (cy < cy0 || cy >= cy1) continue;
    const float* crow = col + (m * ktaps + ky * p.kw) * ncols + (cy - cy0) * p.CW;  // tap (ky, 0)
    int64_t kx = 0;
    if (p.sw == 2 && p.dw == 1) {
      // Taps kx and kx+1 write the even and odd image columns of one span: one interleaved, vectorisable loop.
      for (; kx + 1 < p.kw; kx += 2) {
        const float* s0 = crow + kx * ncols;
        const float* s1 = s0 + ncols;
        int64_t lo0, hi0, lo1, hi1;
        valid_x(p, kx, 0, p.CW, &lo0, &hi0);
        valid_x(p, kx + 1, 0, p.CW, &lo1, &hi1);
        const int64_t lo = std::max(lo0, lo1), hi = std::max(lo, std::min(hi0, hi1));
        float* d = irow + kx - p.pl;  // d[2x] is tap kx's pixel, d[2x+1] tap kx+1's
        for (int64_t x = lo0; x < std::min(lo, hi0); x++) d[2 * x] += s0[x];
        for (int64_t x = lo1; x < std::min(lo, hi1); x++) d[2 * x + 1] += s1[x];
        for (int64_t x = lo; x < hi; x++) {
          d[2 * x] += s0[x];
          d[2 * x + 1] += s1[x];
        }
        for (int64_t x = std::max(hi, lo0); x < hi0; x++) d[2 * x] += s0[x];
        for (int64_t x = std::max(hi, lo1); x < hi1; x++) d[2 * x + 1] += s1[x];
      }
    }
    for (; kx < p.kw; kx++) {
      const float* s = crow + kx * ncols;
      int64_t lo, hi;
      valid_x(p, kx, 0, p.CW, &lo, &hi);
      float* d = irow + kx * p.dw - p.pl;
      if (p.sw == 1) {
        for (int64_t x = lo; x < hi; x++) d[x] += s[x];
      } else {
        const int64_t st = p.sw;
        for (int64_t x = lo; x < hi; x++) d[x * st] += s[x];
      }
    }
  }
}

// The same two for any spatial rank (3-D and up), one element at a time.
struct PatchNd {
  int nsp = 0;
  std::vector<int64_t> img, cols, k, s, d, p;
  int64_t img_size = 1, k_size = 1;
};

PatchNd make_patch_nd(const Geometry& g, bool transpose) {
  PatchNd p;
  p.nsp = g.nsp;
  p.img = transpose ? g.out : g.in;
  p.cols = transpose ? g.in : g.out;
  p.k = g.k;
  p.s = g.s;
  p.d = g.d;
  p.p = g.pb;
  p.img_size = transpose ? g.out_size : g.in_size;
  p.k_size = g.k_size;
  return p;
}

// Calls fn(q, image offset or -1) for column-space pixels q in [p0, p1) and tap `kr` (flattened kernel index).
template <typename Fn>
void for_each_tap_nd(const PatchNd& p, int64_t kr, int64_t p0, int64_t p1, Fn fn) {
  const int n = p.nsp;
  std::vector<int64_t> kidx(static_cast<size_t>(n)), cidx(static_cast<size_t>(n));
  for (int i = n - 1; i >= 0; i--) {
    kidx[i] = kr % p.k[i];
    kr /= p.k[i];
  }
  int64_t q = p0;
  for (int i = n - 1; i >= 0; i--) {
    cidx[i] = q % p.cols[i];
    q /= p.cols[i];
  }
  for (int64_t c = p0; c < p1; c++) {
    int64_t off = 0;
    bool inside = true;
    for (int i = 0; i < n; i++) {
      const int64_t x = cidx[i] * p.s[i] - p.p[i] + kidx[i] * p.d[i];
      if (x < 0 || x >= p.img[i]) {
        inside = false;
        break;
      }
      off = off * p.img[i] + x;
    }
    fn(c, inside ? off : -1);
    for (int i = n - 1; i >= 0; i--) {
      if (++cidx[i] < p.cols[i]) break;
      cidx[i] = 0;
    }
  }
}

void im2col_nd(const PatchNd& p, const float* img, int64_t r0, int64_t r1, int64_t p0, int64_t p1, float* col) {
  const int64_t ncols = p1 - p0;
  for (int64_t r = r0; r < r1; r++) {
    const float* plane = img + (r / p.k_size) * p.img_size;
    float* dst = col + r * ncols - p0;
    for_each_tap_nd(p, r % p.k_size, p0, p1, [&](int64_t c, int64_t off) { dst[c] = off >= 0 ? plane[off] : 0.f; });
  }
}

void col2im_nd(const PatchNd& p, const float* col, int64_t m0, int64_t m1, int64_t p0, int64_t p1, float* img) {
  const int64_t ncols = p1 - p0;
  for (int64_t m = m0; m < m1; m++) {
    float* plane = img + m * p.img_size;
    for (int64_t kr = 0; kr < p.k_size; kr++) {
      const float* src = col + (m * p.k_size + kr) * ncols - p0;
      for_each_tap_nd(p, kr, p0, p1, [&](int64_t c, int64_t off) {
        if (off >= 0) plane[off] += src[c];
      });
    }
  }
}

// Column tile width for a GEMM whose B block has `rows` rows: about kTileBytes of B (it is written by im2col and
// read back by the GEMM's packing while still in L2), never narrower than kMinCols so the GEMM has enough columns
// to amortise streaming the packed weights, a multiple of 16 (the microkernel width), tiles of equal width.
int64_t tile_cols(int64_t rows, int64_t P) {
  constexpr int64_t kTileBytes = 512 << 10, kMinCols = 128;
  int64_t nt = kTileBytes / (int64_t(sizeof(float)) * std::max<int64_t>(rows, 1));
  nt = std::max(kMinCols, nt / 16 * 16);
  if (nt >= P) return std::max<int64_t>(P, 1);
  const int64_t tiles = ceil_div(P, nt);
  nt = (ceil_div(P, tiles) + 15) / 16 * 16;
  return std::min(nt, P);
}

// Runs fn(item, task) for items [0, n): in parallel with one task per thread when `parallel` (each task's `task`
// index owns a scratch slot; items are handed out dynamically), else inline as task 0.
template <typename Fn>
void run_items(ThreadPool* pool, int tasks, int64_t n, bool parallel, Fn fn) {
  if (!parallel || tasks <= 1) {
    for (int64_t i = 0; i < n; i++) fn(i, int64_t(0));
    return;
  }
  std::atomic<int64_t> next{0};
  pool->parallel_tasks(tasks, [&](int64_t task) {
    for (;;) {
      const int64_t i = next.fetch_add(1);
      if (i >= n) return;
      fn(i, task);
    }
  });
}

Status pack_groups(const float* w, int64_t group, int64_t rows, int64_t depth, bool transpose, bool half,
                   std::vector<PackedA>* out) {
  // Conv: W_g is [rows=M/g, depth=K] row-major. ConvTranspose: W_g is [depth=C/g, rows=M/g*taps] and we pack
  // its transpose. `half`: stored as binary16 (precision 'fp16', kernels/sgemm.h).
  out->assign(size_t(group), PackedA());
  for (int64_t g = 0; g < group; g++)
    INT8RT_RETURN_IF_ERROR(
        pack_a(w + g * rows * depth, transpose ? rows : depth, transpose, rows, depth, &(*out)[g], half));
  return Status::OK();
}

// The engine sets `__fp16_weights` = 1 on weight-bearing nodes for precision 'fp16': constant weights are then
// packed as half (computed in float32), and the kernel name says so.
bool fp16_weights_requested(const NodeDef& node) { return node.attr_int("__fp16_weights", 0) != 0; }

size_t packed_groups_bytes(const std::vector<PackedA>& groups) {
  size_t n = vector_bytes(groups);
  for (const PackedA& p : groups) n += vector_bytes(p.data) + vector_bytes(p.half_data);
  return n;
}

// ---------------------------------------------------------------------------------------------------------------
// Conv

class ConvKernel final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    std::unique_ptr<ConvKernel> k(new ConvKernel());
    INT8RT_RETURN_IF_ERROR(parse_conv_attrs(node, false, &k->attrs_));
    INT8RT_RETURN_IF_ERROR(parse_activation(node, &k->act_));
    if (info.num_inputs() < 2) return shape_error(node, "inputs X and W are required");
    if (const Tensor* W = info.constant_input(1)) {
      if (W->dtype() != DType::kFloat32)
        return dtype_error(node, std::string("only float32 is supported, got W ") + dtype_name(W->dtype()));
      if (W->rank() < 3) return shape_error(node, "W must have rank >= 3, got " + dims_str(W->dims()));
      const int64_t group = k->attrs_.group, M = W->dim(0);
      if (M % group != 0)
        return shape_error(node, "W's output channels (" + std::to_string(M) + ") are not divisible by group " +
                                     std::to_string(group));
      const bool depthwise = W->dim(1) == 1 && group == M && W->rank() <= 4;
      k->label_ = depthwise ? (use_avx2() ? "conv_fp32_depthwise_avx2" : "conv_fp32_depthwise") : "conv_fp32_gemm";
      const int64_t taps = W->numel() / std::max<int64_t>(M * W->dim(1), 1);
      if (!depthwise && W->numel() > 0) {
        // Depthwise weights stay float32 under precision 'fp16': they are tiny and read directly, not packed.
        const bool half = fp16_weights_requested(node);
        INT8RT_RETURN_IF_ERROR(
            pack_groups(W->data<float>(), group, M / group, W->dim(1) * taps, false, half, &k->packed_));
        k->packed_dims_ = W->dims();
        if (half) k->label_ = "conv_fp16w_gemm";
      }
    }
    *out = std::move(k);
    return Status::OK();
  }

  std::string kernel_name() const override { return label_; }
  // Packed constant weights are all the GEMM path reads (depthwise convolutions read W itself); B stays.
  bool reads_input_data(size_t i) const override { return i != 1 || packed_.empty(); }
  size_t weight_bytes() const override { return packed_groups_bytes(packed_); }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* X = ctx.input(0);
    const Tensor* W = ctx.input(1);
    const Tensor* B = ctx.input(2);
    const Tensor* R = ctx.input(3);
    INT8RT_RETURN_IF_ERROR(check_float_inputs(node, X, W, B));
    Geometry g;
    INT8RT_RETURN_IF_ERROR(conv_geometry(node, attrs_, *X, *W, &g));
    if (B && (B->rank() != 1 || B->dim(0) != g.M))
      return shape_error(node, "bias " + dims_str(B->dims()) + " must have shape [" + std::to_string(g.M) + "]");
    Dims ydims{g.N, g.M};
    ydims.insert(ydims.end(), g.out.begin(), g.out.end());
    if (R) {
      if (R->dtype() != DType::kFloat32) return dtype_error(node, "the fused residual must be float32");
      if (R->dims() != ydims)
        return shape_error(node, "the fused residual " + dims_str(R->dims()) + " must have the output shape " +
                                     dims_str(ydims));
    }
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kFloat32, ydims, &Y));
    if (Y->numel() == 0) return Status::OK();

    const float* bias = B ? B->data<float>() : nullptr;
    const float* res = R ? R->data<float>() : nullptr;
    // The factory's depthwise test on W (C/group == 1, group == M, rank <= 4) is this one once X matches W, so
    // weights it packed never take the depthwise path, which reads W directly.
    if (packed_.empty() && g.nsp <= 2 && g.group == g.C && g.M == g.C)
      return depthwise(ctx, g, *X, *W, bias, res, Y);
    return gemm_conv(ctx, g, *X, *W, bias, res, Y);
  }

 private:
  Status depthwise(OpContext& ctx, const Geometry& g, const Tensor& X, const Tensor& W, const float* bias,
                   const float* res, Tensor* Y) const {
    const Patch2d pp = make_patch2d(g, false);
    DwConvPlane p;
    p.H = pp.IH;
    p.W = pp.IW;
    p.OH = pp.CH;
    p.OW = pp.CW;
    p.kh = pp.kh;
    p.kw = pp.kw;
    p.sh = pp.sh;
    p.sw = pp.sw;
    p.dh = pp.dh;
    p.dw = pp.dw;
    p.pad_t = pp.pt;
    p.pad_l = pp.pl;
    if (act_.is_clamp()) {
      p.clip_min = act_.lo;
      p.clip_max = act_.hi;
    }
    const float* x = X.data<float>();
    const float* w = W.data<float>();
    float* y = Y->data<float>();
    const int64_t C = g.C, P = g.out_size, in_size = g.in_size, taps = g.k_size;
    const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(P * taps, 1));
    parallel_for(ctx.pool(), g.N * C, grain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; i++) {
        const int64_t c = i % C;
        dwconv2d_f32(p, x + i * in_size, w + c * taps, bias ? bias[c] : 0.f, res ? res + i * P : nullptr, y + i * P);
        if (!act_.is_clamp()) act_.apply(y + i * P, P);
      }
    });
    return Status::OK();
  }

  Status gemm_conv(OpContext& ctx, const Geometry& g, const Tensor& X, const Tensor& W, const float* bias,
                   const float* res, Tensor* Y) const {
    const int64_t G = g.group, Cg = g.C / G, Mg = g.M / G, Kg = Cg * g.k_size, P = g.out_size;
    const float* x = X.data<float>();
    float* y = Y->data<float>();
    ThreadPool* pool = ctx.pool();

    if (Kg == 0) {  // no input channels: the output is bias + residual, activated
      parallel_for(pool, g.N * g.M, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; i++) {
          float* yp = y + i * P;
          const float bv = bias ? bias[i % g.M] : 0.f;
          for (int64_t j = 0; j < P; j++) yp[j] = bv + (res ? res[i * P + j] : 0.f);
          act_.apply(yp, P);
        }
      });
      return Status::OK();
    }

    // Weights: packed at build when W is a constant, else packed here for this run (O(M*K), small next to the
    // O(M*K*P) product).
    std::vector<PackedA> local;
    const std::vector<PackedA>* packed = &packed_;
    if (packed_.empty() || W.dims() != packed_dims_) {
      INT8RT_RETURN_IF_ERROR(pack_groups(W.data<float>(), G, Mg, Kg, false, false, &local));
      packed = &local;
    }

    bool pointwise = true;  // 1x1, stride 1, no padding: the input planes are the GEMM's B as they are
    for (int i = 0; i < g.nsp; i++)
      pointwise = pointwise && g.k[i] == 1 && g.s[i] == 1 && g.pb[i] == 0 && g.pe[i] == 0;
    const bool fast2d = g.nsp <= 2;
    const Patch2d p2 = fast2d ? make_patch2d(g, false) : Patch2d();
    const PatchNd pn = fast2d ? PatchNd() : make_patch_nd(g, false);

    const int64_t nt = tile_cols(Kg, P), ntiles = ceil_div(P, nt), items = g.N * G * ntiles;
    const int threads = pool->num_threads();
    const bool tile_parallel = threads > 1 && items >= 2 * threads;
    const int tasks = tile_parallel ? threads : 1;

    float* scratch = nullptr;
    if (!pointwise)
      INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(tasks) * size_t(Kg * nt) * sizeof(float), (void**)&scratch));

    // When tiles run in parallel the GEMM and im2col inside each run single-threaded (no nested parallelism).
    ThreadPool* inner = tile_parallel ? nullptr : pool;
    const FusedActivation& act = act_;
    run_items(pool, tasks, items, tile_parallel, [&](int64_t item, int64_t task) {
      const int64_t t = item % ntiles, ng = item / ntiles, n = ng / G, gi = ng % G;
      const int64_t p0 = t * nt, p1 = std::min(P, p0 + nt), ncols = p1 - p0;
      const float* xg = x + (n * g.C + gi * Cg) * g.in_size;
      const float* b = xg + p0;
      int64_t ldb = P;
      if (!pointwise) {
        float* col = scratch + task * Kg * nt;
        const int64_t grain = std::max<int64_t>(1, 8192 / ncols);
        parallel_for(inner, Kg, grain, [&](int64_t r0, int64_t r1) {
          if (fast2d)
            im2col_2d(p2, xg, r0, r1, p0, p1, col);
          else
            im2col_nd(pn, xg, r0, r1, p0, p1, col);
        });
        b = col;
        ldb = ncols;
      }
      const int64_t yoff = (n * g.M + gi * Mg) * P + p0;
      GemmEpilogue ep;
      ep.bias_row = bias ? bias + gi * Mg : nullptr;
      if (res) {
        ep.residual = res + yoff;
        ep.ldr = P;
      }
      if (act.is_clamp()) {
        ep.clip_min = act.lo;
        ep.clip_max = act.hi;
      }
      sgemm_packed_a((*packed)[gi], ncols, b, ldb, false, y + yoff, P, ep, inner);
      if (!act.is_clamp())
        for (int64_t m = 0; m < Mg; m++) act.apply(y + yoff + m * P, ncols);
    });
    return Status::OK();
  }

  ConvAttrs attrs_;
  FusedActivation act_;
  std::vector<PackedA> packed_;  // per group, when W is a constant
  Dims packed_dims_;             // W's dims when packed
  std::string label_ = "conv_fp32";
};

// ---------------------------------------------------------------------------------------------------------------
// ConvTranspose

class ConvTransposeKernel final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    std::unique_ptr<ConvTransposeKernel> k(new ConvTransposeKernel());
    INT8RT_RETURN_IF_ERROR(parse_conv_attrs(node, true, &k->attrs_));
    INT8RT_RETURN_IF_ERROR(parse_activation(node, &k->act_));
    if (info.num_inputs() < 2) return shape_error(node, "inputs X and W are required");
    if (const Tensor* W = info.constant_input(1)) {
      if (W->dtype() != DType::kFloat32)
        return dtype_error(node, std::string("only float32 is supported, got W ") + dtype_name(W->dtype()));
      if (W->rank() < 3) return shape_error(node, "W must have rank >= 3, got " + dims_str(W->dims()));
      const int64_t group = k->attrs_.group, C = W->dim(0);
      if (C % group != 0)
        return shape_error(node, "W's input channels (" + std::to_string(C) + ") are not divisible by group " +
                                     std::to_string(group));
      if (W->numel() > 0) {
        k->half_ = fp16_weights_requested(node);
        INT8RT_RETURN_IF_ERROR(
            pack_groups(W->data<float>(), group, W->numel() / C, C / group, true, k->half_, &k->packed_));
        k->packed_dims_ = W->dims();
      }
    }
    *out = std::move(k);
    return Status::OK();
  }

  std::string kernel_name() const override {
    return half_ ? "conv_transpose_fp16w_gemm_col2im" : "conv_transpose_fp32_gemm_col2im";
  }
  bool reads_input_data(size_t i) const override { return i != 1 || packed_.empty(); }
  size_t weight_bytes() const override { return packed_groups_bytes(packed_); }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* X = ctx.input(0);
    const Tensor* W = ctx.input(1);
    const Tensor* B = ctx.input(2);
    const Tensor* R = ctx.input(3);  // fused residual, as for Conv
    INT8RT_RETURN_IF_ERROR(check_float_inputs(node, X, W, B));
    Geometry g;
    INT8RT_RETURN_IF_ERROR(conv_transpose_geometry(node, attrs_, *X, *W, &g));
    if (B && (B->rank() != 1 || B->dim(0) != g.M))
      return shape_error(node, "bias " + dims_str(B->dims()) + " must have shape [" + std::to_string(g.M) + "]");
    Dims ydims{g.N, g.M};
    ydims.insert(ydims.end(), g.out.begin(), g.out.end());
    if (R) {
      if (R->dtype() != DType::kFloat32) return dtype_error(node, "the fused residual must be float32");
      if (R->dims() != ydims)
        return shape_error(node, "the fused residual " + dims_str(R->dims()) + " must have the output shape " +
                                     dims_str(ydims));
    }
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kFloat32, ydims, &Y));
    if (Y->numel() == 0) return Status::OK();

    const int64_t G = g.group, Cg = g.C / G, Mg = g.M / G, Rg = Mg * g.k_size, Pin = g.in_size, Pout = g.out_size;
    const float* x = X->data<float>();
    const float* bias = B ? B->data<float>() : nullptr;
    float* y = Y->data<float>();
    ThreadPool* pool = ctx.pool();

    parallel_for(pool, g.N * g.M, std::max<int64_t>(1, 16384 / std::max<int64_t>(Pout, 1)), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; i++) {
        // col2im accumulates into bias (+ residual).
        const float bv = bias ? bias[i % g.M] : 0.f;
        float* yp = y + i * Pout;
        if (R) {
          const float* rp = R->data<float>() + i * Pout;
          for (int64_t j = 0; j < Pout; j++) yp[j] = rp[j] + bv;
        } else {
          std::fill(yp, yp + Pout, bv);
        }
      }
    });

    if (Cg > 0 && Rg > 0 && Pin > 0) {
      std::vector<PackedA> local;
      const std::vector<PackedA>* packed = &packed_;
      if (packed_.empty() || W->dims() != packed_dims_) {
        INT8RT_RETURN_IF_ERROR(pack_groups(W->data<float>(), G, Rg, Cg, true, false, &local));
        packed = &local;
      }
      const bool fast2d = g.nsp <= 2;
      const Patch2d p2 = fast2d ? make_patch2d(g, true) : Patch2d();
      const PatchNd pn = fast2d ? PatchNd() : make_patch_nd(g, true);
      // Column tiles; in 2-D they hold whole input rows, so col2im can run per output row.
      int64_t nt = tile_cols(Rg, Pin);
      if (fast2d) nt = std::min(p2.CH, std::max<int64_t>(1, nt / p2.CW)) * p2.CW;
      const int64_t ntiles = ceil_div(Pin, nt);
      float* col = nullptr;
      INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(Rg * nt) * sizeof(float), (void**)&col));
      for (int64_t n = 0; n < g.N; n++) {
        for (int64_t gi = 0; gi < G; gi++) {
          const float* xg = x + (n * g.C + gi * Cg) * Pin;
          float* yg = y + (n * g.M + gi * Mg) * Pout;
          for (int64_t t = 0; t < ntiles; t++) {
            const int64_t p0 = t * nt, p1 = std::min(Pin, p0 + nt), ncols = p1 - p0;
            sgemm_packed_a((*packed)[gi], ncols, xg + p0, Pin, false, col, ncols, GemmEpilogue(), pool);
            if (fast2d) {
              // Image rows this tile reaches; each (channel, row) is written by one task.
              const int64_t cy0 = p0 / p2.CW, cy1 = p1 / p2.CW;
              const int64_t r0 = std::max<int64_t>(0, cy0 * p2.sh - p2.pt);
              const int64_t r1 = std::min(p2.IH, (cy1 - 1) * p2.sh - p2.pt + (p2.kh - 1) * p2.dh + 1);
              const int64_t nrows = std::max<int64_t>(0, r1 - r0);
              const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(p2.kw * p2.CW, 1));
              parallel_for(pool, Mg * nrows, grain, [&](int64_t b, int64_t e) {
                for (int64_t i = b; i < e; i++) {
                  const int64_t m = i / nrows, iy = r0 + i % nrows;
                  col2im_2d_row(p2, col, cy0, cy1, m, iy, yg + m * Pout);
                }
              });
            } else {
              const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(g.k_size * ncols, 1));
              parallel_for(pool, Mg, grain, [&](int64_t m0, int64_t m1) { col2im_nd(pn, col, m0, m1, p0, p1, yg); });
            }
          }
        }
      }
    }

    if (act_.kind != ActKind::kNone) {
      parallel_for(pool, g.N * g.M, std::max<int64_t>(1, 16384 / std::max<int64_t>(Pout, 1)),
                   [&](int64_t b, int64_t e) { act_.apply(y + b * Pout, (e - b) * Pout); });
    }
    return Status::OK();
  }

 private:
  ConvAttrs attrs_;
  FusedActivation act_;
  std::vector<PackedA> packed_;
  Dims packed_dims_;
  bool half_ = false;  // packed_ holds binary16 weights (precision 'fp16')
};

Status make_conv(const KernelInfo& info, std::unique_ptr<OpKernel>* out) { return ConvKernel::create(info, out); }
Status make_conv_transpose(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return ConvTransposeKernel::create(info, out);
}

}  // namespace

void register_conv_ops(KernelRegistry& r) {
  r.add({"Conv", "", 1, 0, Device::kCpu, Precision::kFp32, "conv_fp32", &make_conv});
  r.add({"ConvTranspose", "", 1, 0, Device::kCpu, Precision::kFp32, "conv_transpose_fp32", &make_conv_transpose});
}

}  // namespace int8rt
