// Conv attribute parsing, output geometry, im2col and work scheduling for any element type, shared by every CPU
// convolution: the float Conv and ConvTranspose (ops/conv.cc), the int8 Conv (ops/int8_conv.cc, ops/int8_dynamic.cc)
// and QLinearConv / ConvInteger (ops/qlinear_conv.cc), so that a node planned in int8 has exactly the output shape
// and padding its float version has:
//   * auto_pad SAME_UPPER / SAME_LOWER: out = ceil(in / stride), the total padding split with the odd element at the
//     end (SAME_UPPER) or the beginning (SAME_LOWER); VALID: no padding; NOTSET: the explicit `pads`.
//   * out = (in + pad_begin + pad_end - dilated_kernel) / stride + 1, an error when the kernel does not fit.
// im2col's index map: column-space pixel c (Conv: an output pixel; ConvTranspose: an input pixel) and kernel tap k
// touch image pixel c * stride - pad + k * dilation, and taps that fall into the padding read zero (exact for int8
// with zero point 0).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/op_kernel.h"
#include "core/thread_pool.h"

namespace int8rt {
namespace conv_params {

// Floor / ceil of a / b for b > 0 and any sign of a.
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// Attribute values beyond this are refused: they cannot describe a real model and would overflow index math.
constexpr int64_t kMaxAttr = int64_t(1) << 31;

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

struct ConvAttrs {
  AutoPad auto_pad = AutoPad::kNotSet;
  int64_t group = 1;
  std::vector<int64_t> kernel_shape, strides, dilations, pads;  // empty when absent
};

inline Status check_attr_ints(const NodeDef& node, const char* name, const std::vector<int64_t>& v,
                              int64_t min_value) {
  for (int64_t x : v)
    if (x < min_value || x >= kMaxAttr)
      return shape_error(node, std::string("attribute ") + name + " has out-of-range value " + std::to_string(x));
  return Status::OK();
}

inline Status parse_auto_pad(const NodeDef& node, AutoPad* out) {
  const std::string ap = node.attr_string("auto_pad", "NOTSET");
  if (ap == "NOTSET" || ap.empty())
    *out = AutoPad::kNotSet;
  else if (ap == "SAME_UPPER")
    *out = AutoPad::kSameUpper;
  else if (ap == "SAME_LOWER")
    *out = AutoPad::kSameLower;
  else if (ap == "VALID")
    *out = AutoPad::kValid;
  else
    return shape_error(node, "unknown auto_pad '" + ap + "'");
  return Status::OK();
}

inline Status parse_conv_attrs(const NodeDef& node, ConvAttrs* a) {
  INT8RT_RETURN_IF_ERROR(parse_auto_pad(node, &a->auto_pad));
  a->group = node.attr_int("group", 1);
  if (a->group < 1 || a->group >= kMaxAttr) return shape_error(node, "group must be >= 1");
  a->kernel_shape = node.attr_ints("kernel_shape");
  a->strides = node.attr_ints("strides");
  a->dilations = node.attr_ints("dilations");
  a->pads = node.attr_ints("pads");
  INT8RT_RETURN_IF_ERROR(check_attr_ints(node, "kernel_shape", a->kernel_shape, 1));
  INT8RT_RETURN_IF_ERROR(check_attr_ints(node, "strides", a->strides, 1));
  INT8RT_RETURN_IF_ERROR(check_attr_ints(node, "dilations", a->dilations, 1));
  INT8RT_RETURN_IF_ERROR(check_attr_ints(node, "pads", a->pads, 0));
  if (a->pads.size() % 2 != 0) return shape_error(node, "pads must hold a begin and an end value per spatial axis");
  return Status::OK();
}

// One run's shapes: X [N, C, in...], Y [N, M, out...]; W [M, C/group, k...] for Conv, [C, M/group, k...] for
// ConvTranspose.
struct Geometry {
  int nsp = 0;                             // spatial rank
  int64_t N = 0, C = 0, M = 0, group = 1;  // batch, input channels, output channels
  std::vector<int64_t> in, out, k, s, d, pb, pe;
  int64_t in_size = 1, out_size = 1, k_size = 1;
};

// Kernel shape, strides, dilations and explicit pads of `g->nsp` spatial axes, checked against the weight dims `w`
// (spatial axes from 2 on, for Conv and ConvTranspose alike); sets g->k, s, d, pb, pe and k_size.
inline Status resolve_spatial(const NodeDef& node, const ConvAttrs& a, const Dims& w, Geometry* g) {
  const int nsp = g->nsp;
  g->k.assign(w.begin() + 2, w.end());
  if (!a.kernel_shape.empty()) {
    if (a.kernel_shape.size() != size_t(nsp)) return shape_error(node, "kernel_shape has the wrong length");
    for (int i = 0; i < nsp; i++)
      if (a.kernel_shape[i] != g->k[i])
        return shape_error(node, "kernel_shape " + dims_str(a.kernel_shape) + " does not match W " + dims_str(w));
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
    if (g->k[i] <= 0) return shape_error(node, "W has an empty kernel " + dims_str(w));
    g->k_size *= g->k[i];
  }
  return Status::OK();
}

// Geometry of a Conv with input dims `x` and weight dims `w` (both rank >= 3, equal ranks; checked here).
inline Status conv_geometry(const NodeDef& node, const ConvAttrs& a, const Dims& x, const Dims& w, Geometry* g) {
  if (x.size() < 3) return shape_error(node, "X must have rank >= 3 (N, C, spatial...), got " + dims_str(x));
  if (w.size() != x.size())
    return shape_error(node, "W " + dims_str(w) + " must have the rank of X " + dims_str(x));
  const int nsp = int(x.size()) - 2;
  g->nsp = nsp;
  g->N = x[0];
  g->C = x[1];
  g->M = w[0];
  g->group = a.group;
  if (g->C % a.group != 0 || w[1] * a.group != g->C)
    return shape_error(node, "X has " + std::to_string(g->C) + " channels but W " + dims_str(w) + " with group " +
                                 std::to_string(a.group) + " expects " + std::to_string(w[1] * a.group));
  if (g->M % a.group != 0)
    return shape_error(node, "W's output channels (" + std::to_string(g->M) + ") are not divisible by group " +
                                 std::to_string(a.group));
  INT8RT_RETURN_IF_ERROR(resolve_spatial(node, a, w, g));
  g->in.assign(x.begin() + 2, x.end());
  g->out.assign(size_t(nsp), 0);
  g->in_size = g->out_size = 1;
  for (int i = 0; i < nsp; i++) {
    const int64_t in = g->in[i], s = g->s[i];
    const int64_t dk = (g->k[i] - 1) * g->d[i] + 1;
    int64_t out;
    if (a.auto_pad == AutoPad::kSameUpper || a.auto_pad == AutoPad::kSameLower) {
      out = ceil_div(in, s);
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + dk - in);
      const int64_t small = total / 2;
      g->pb[i] = a.auto_pad == AutoPad::kSameUpper ? small : total - small;
      g->pe[i] = total - g->pb[i];
    } else {
      const int64_t padded = in + g->pb[i] + g->pe[i];
      if (padded < dk)
        return shape_error(node, "kernel " + dims_str(g->k) + " (dilated extent " + std::to_string(dk) +
                                     ") is larger than the padded input " + dims_str(x) + " on axis " +
                                     std::to_string(i + 2));
      out = (padded - dk) / s + 1;
    }
    g->out[i] = out;
    g->in_size *= in;
    g->out_size *= out;
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------------------------
// im2col. Rows of the column matrix are (channel, tap) pairs of one image and group; columns are a contiguous range
// [p0, p1) of flattened column-space pixels. For Conv the image is the input and the column space the output; for
// ConvTranspose (`transpose`: its col2im, ops/conv.cc) the image is the output and the column space the input.

struct Patch2d {
  int64_t IH = 1, IW = 1;  // image plane
  int64_t CH = 1, CW = 1;  // column-space plane
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0;
};

// 1-D problems become 2-D ones with a unit height.
inline Patch2d make_patch2d(const Geometry& g, bool transpose = false) {
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

// The plane geometry of the direct depthwise kernels (DwConvPlane, DwConvS8Plane: kernels/dwconv.h, dwconv-s8.h),
// which name their fields alike.
template <typename Plane>
void set_plane_geometry(const Patch2d& pp, Plane* p) {
  p->H = pp.IH;
  p->W = pp.IW;
  p->OH = pp.CH;
  p->OW = pp.CW;
  p->kh = pp.kh;
  p->kw = pp.kw;
  p->sh = pp.sh;
  p->sw = pp.sw;
  p->dh = pp.dh;
  p->dw = pp.dw;
  p->pad_t = pp.pt;
  p->pad_l = pp.pl;
}

// Column-space x range [lo, hi) within [x0, x1) whose image x for tap kx lies in [0, IW).
inline void valid_x(const Patch2d& p, int64_t kx, int64_t x0, int64_t x1, int64_t* lo, int64_t* hi) {
  const int64_t off = kx * p.dw - p.pl;
  const int64_t a = std::max(x0, ceil_div(-off, p.sw));
  const int64_t b = std::min(x1, floor_div(p.IW - 1 - off, p.sw) + 1);
  *lo = std::min(a, x1);
  *hi = std::max(b, *lo);
}

// Rows [r0, r1) of the im2col block for output pixels [p0, p1); row r lands at col + (r - r0) * (p1 - p0). `img`
// holds the C/group channel planes of one image and group.
template <typename T>
void im2col_2d(const Patch2d& p, const T* img, int64_t r0, int64_t r1, int64_t p0, int64_t p1, T* col) {
  const int64_t ncols = p1 - p0, ktaps = p.kh * p.kw;
  for (int64_t r = r0; r < r1; r++) {
    const int64_t c = r / ktaps, ky = (r / p.kw) % p.kh, kx = r % p.kw;
    const T* plane = img + c * p.IH * p.IW;
    T* dst = col + (r - r0) * ncols;
    int64_t q = p0;
    while (q < p1) {
      const int64_t cy = q / p.CW, x0 = q % p.CW, x1 = std::min(p.CW, x0 + (p1 - q));
      const int64_t iy = cy * p.sh - p.pt + ky * p.dh;
      T* d = dst - x0;  // d[x] is the entry of column-space x on this row
      if (iy < 0 || iy >= p.IH) {
        std::fill(d + x0, d + x1, T(0));
      } else {
        int64_t lo, hi;
        valid_x(p, kx, x0, x1, &lo, &hi);
        std::fill(d + x0, d + lo, T(0));
        const T* src = plane + iy * p.IW + kx * p.dw - p.pl;  // src[x * sw] is the image pixel of x
        if (p.sw == 1) {
          if (hi > lo) std::memcpy(d + lo, src + lo, size_t(hi - lo) * sizeof(T));
        } else if (p.sw == 2) {  // a constant stride lets g++ vectorise the gather with shuffles
          for (int64_t x = lo; x < hi; x++) d[x] = src[2 * x];
        } else {
          const int64_t s = p.sw;
          for (int64_t x = lo; x < hi; x++) d[x] = src[x * s];
        }
        std::fill(d + hi, d + x1, T(0));
      }
      dst += x1 - x0;
      q += x1 - x0;
    }
  }
}

// The same for any spatial rank, one element at a time (3-D convolutions).
struct PatchNd {
  int nsp = 0;
  std::vector<int64_t> img, cols, k, s, d, p;
  int64_t img_size = 1, k_size = 1;
};

inline PatchNd make_patch_nd(const Geometry& g, bool transpose = false) {
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

// Calls fn(c, image offset or -1 in the padding) for column-space pixels c in [p0, p1) and tap `kr` (flattened
// kernel index). `idx` is scratch for 2 * nsp indices.
template <typename Fn>
void for_each_tap_nd(const PatchNd& p, int64_t kr, int64_t p0, int64_t p1, int64_t* idx, Fn fn) {
  const int n = p.nsp;
  int64_t* kidx = idx;
  int64_t* cidx = idx + n;
  for (int i = n - 1; i >= 0; i--) {
    kidx[i] = kr % p.k[size_t(i)];
    kr /= p.k[size_t(i)];
  }
  int64_t q = p0;
  for (int i = n - 1; i >= 0; i--) {
    cidx[i] = q % p.cols[size_t(i)];
    q /= p.cols[size_t(i)];
  }
  for (int64_t c = p0; c < p1; c++) {
    int64_t off = 0;
    bool inside = true;
    for (int i = 0; i < n; i++) {
      const size_t u = size_t(i);
      const int64_t x = cidx[i] * p.s[u] - p.p[u] + kidx[i] * p.d[u];
      if (x < 0 || x >= p.img[u]) {
        inside = false;
        break;
      }
      off = off * p.img[u] + x;
    }
    fn(c, inside ? off : int64_t(-1));
    for (int i = n - 1; i >= 0; i--) {
      if (++cidx[i] < p.cols[size_t(i)]) break;
      cidx[i] = 0;
    }
  }
}

template <typename T>
void im2col_nd(const PatchNd& p, const T* img, int64_t r0, int64_t r1, int64_t p0, int64_t p1, T* col) {
  const int64_t ncols = p1 - p0;
  std::vector<int64_t> idx(2 * static_cast<size_t>(p.nsp));
  for (int64_t r = r0; r < r1; r++) {
    const T* plane = img + (r / p.k_size) * p.img_size;
    T* dst = col + (r - r0) * ncols - p0;
    for_each_tap_nd(p, r % p.k_size, p0, p1, idx.data(),
                    [&](int64_t c, int64_t off) { dst[c] = off >= 0 ? plane[off] : T(0); });
  }
}

// 1x1, stride 1, no padding: the input planes are the GEMM's B as they are (no im2col).
inline bool is_pointwise(const Geometry& g) {
  bool pointwise = true;
  for (int i = 0; i < g.nsp; i++)
    pointwise = pointwise && g.k[i] == 1 && g.s[i] == 1 && g.pb[i] == 0 && g.pe[i] == 0;
  return pointwise;
}

// The patch description of a run: the strided 2-D code for 1-D/2-D convolutions, the N-D one for the rest.
struct Patches {
  bool fast2d = true;
  Patch2d p2;
  PatchNd pn;
};

inline Patches make_patches(const Geometry& g, bool transpose = false) {
  Patches pt;
  pt.fast2d = g.nsp <= 2;
  if (pt.fast2d)
    pt.p2 = make_patch2d(g, transpose);
  else
    pt.pn = make_patch_nd(g, transpose);
  return pt;
}

// The im2col block of rows [0, rows) for column-space pixels [p0, p1) into col (rows x (p1 - p0)), the rows split
// over `pool` in chunks of at least `grain`.
template <typename T>
void im2col_block(ThreadPool* pool, const Patches& pt, const T* img, int64_t rows, int64_t p0, int64_t p1,
                  int64_t grain, T* col) {
  const int64_t ncols = p1 - p0;
  parallel_for(pool, rows, grain, [&](int64_t r0, int64_t r1) {
    if (pt.fast2d)
      im2col_2d(pt.p2, img, r0, r1, p0, p1, col + r0 * ncols);
    else
      im2col_nd(pt.pn, img, r0, r1, p0, p1, col + r0 * ncols);
  });
}

// Column tile width for a GEMM whose B block has `rows` rows of `elem_size`-byte elements: about `tile_bytes` of B
// (written by im2col, read back by the GEMM while still in L2), never narrower than `min_cols`, a multiple of 16,
// tiles of equal width.
inline int64_t tile_cols(int64_t rows, int64_t P, int64_t elem_size, int64_t tile_bytes = 512 << 10,
                         int64_t min_cols = 128) {
  int64_t nt = tile_bytes / (elem_size * std::max<int64_t>(rows, 1));
  nt = std::max(min_cols, nt / 16 * 16);
  if (nt >= P) return std::max<int64_t>(P, 1);
  const int64_t tiles = ceil_div(P, nt);
  nt = (ceil_div(P, tiles) + 15) / 16 * 16;
  return std::min(nt, P);
}

// How a run's independent work items (image, group[, column tile]) share the pool: in parallel, one task per
// thread, when there are at least two items per thread; otherwise one at a time, with the work inside each item
// threaded (`inner`; null when the items run in parallel: no nested parallelism).
struct ItemSchedule {
  bool parallel = false;
  int tasks = 1;
  ThreadPool* inner = nullptr;
};

inline ItemSchedule schedule_items(ThreadPool* pool, int64_t items) {
  ItemSchedule s;
  const int threads = pool ? pool->num_threads() : 1;
  s.parallel = threads > 1 && items >= 2 * threads;
  s.tasks = s.parallel ? threads : 1;
  s.inner = s.parallel ? nullptr : pool;
  return s;
}

// Runs fn(item, task) for items [0, n): in parallel with `tasks` tasks when `parallel` (each task index owns a
// scratch slot; items are handed out dynamically), else inline as task 0.
template <typename Fn>
void run_items(ThreadPool* pool, int tasks, int64_t n, bool parallel, Fn fn) {
  if (!parallel || tasks <= 1 || !pool) {
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

}  // namespace conv_params
}  // namespace int8rt
