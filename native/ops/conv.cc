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
//
// Attributes, geometry, im2col and the scheduling of column tiles are ops/conv_params.h's, shared with the int8
// convolutions.
#include <algorithm>
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
#include "ops/conv_params.h"
#include "ops/registry.h"

namespace int8rt {
namespace {

using conv_params::AutoPad;
using conv_params::ceil_div;
using conv_params::floor_div;
using conv_params::Geometry;
using conv_params::Patch2d;
using conv_params::PatchNd;

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

// ConvTranspose's attributes: Conv's and the two that set its output size.
struct ConvTransposeAttrs : conv_params::ConvAttrs {
  std::vector<int64_t> output_padding, output_shape;
};

Status parse_conv_transpose_attrs(const NodeDef& node, ConvTransposeAttrs* a) {
  INT8RT_RETURN_IF_ERROR(conv_params::parse_conv_attrs(node, a));
  a->output_padding = node.attr_ints("output_padding");
  a->output_shape = node.attr_ints("output_shape");
  INT8RT_RETURN_IF_ERROR(conv_params::check_attr_ints(node, "output_padding", a->output_padding, 0));
  INT8RT_RETURN_IF_ERROR(conv_params::check_attr_ints(node, "output_shape", a->output_shape, 0));
  return Status::OK();
}

// A run's inputs: X, W, the optional bias B and the optional fused residual R (input 3, set by the graph passes).
struct ConvInputs {
  const Tensor *X = nullptr, *W = nullptr, *B = nullptr, *R = nullptr;
};

Status read_float_inputs(OpContext& ctx, ConvInputs* in) {
  const NodeDef& node = ctx.node();
  const Tensor* X = in->X = ctx.input(0);
  const Tensor* W = in->W = ctx.input(1);
  const Tensor* B = in->B = ctx.input(2);
  in->R = ctx.input(3);
  if (!X || !W) return shape_error(node, "inputs X and W are required");
  if (X->dtype() != DType::kFloat32 || W->dtype() != DType::kFloat32 || (B && B->dtype() != DType::kFloat32))
    return dtype_error(node, std::string("only float32 is supported, got X ") + dtype_name(X->dtype()) + ", W " +
                                 dtype_name(W->dtype()));
  if (X->rank() < 3) return shape_error(node, "X must have rank >= 3 (N, C, spatial...), got " + dims_str(X->dims()));
  if (W->rank() != X->rank())
    return shape_error(node, "W " + dims_str(W->dims()) + " must have the rank of X " + dims_str(X->dims()));
  return Status::OK();
}

// Geometry of a ConvTranspose: `in` is X's spatial shape and `out` Y's, as for Conv.
Status conv_transpose_geometry(const NodeDef& node, const ConvTransposeAttrs& a, const Tensor& X, const Tensor& W,
                               Geometry* g) {
  const int nsp = int(X.rank()) - 2;
  g->nsp = nsp;
  g->N = X.dim(0);
  g->C = X.dim(1);
  g->group = a.group;
  if (W.dim(0) != g->C || g->C % a.group != 0)
    return shape_error(node, "W " + dims_str(W.dims()) + " does not match X " + dims_str(X.dims()) + " with group " +
                                 std::to_string(a.group));
  g->M = W.dim(1) * a.group;
  INT8RT_RETURN_IF_ERROR(conv_params::resolve_spatial(node, a, W.dims(), g));
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
// col2im (ConvTranspose; im2col is conv_params::im2col_2d / im2col_nd, with the same index map)

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
        conv_params::valid_x(p, kx, 0, p.CW, &lo0, &hi0);
        conv_params::valid_x(p, kx + 1, 0, p.CW, &lo1, &hi1);
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
      conv_params::valid_x(p, kx, 0, p.CW, &lo, &hi);
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

// The same for any spatial rank (3-D and up), one element at a time.
void col2im_nd(const PatchNd& p, const float* col, int64_t m0, int64_t m1, int64_t p0, int64_t p1, float* img) {
  const int64_t ncols = p1 - p0;
  std::vector<int64_t> idx(2 * static_cast<size_t>(p.nsp));
  for (int64_t m = m0; m < m1; m++) {
    float* plane = img + m * p.img_size;
    for (int64_t kr = 0; kr < p.k_size; kr++) {
      const float* src = col + (m * p.k_size + kr) * ncols - p0;
      conv_params::for_each_tap_nd(p, kr, p0, p1, idx.data(), [&](int64_t c, int64_t off) {
        if (off >= 0) plane[off] += src[c];
      });
    }
  }
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

// Checks a constant W before it is packed: float32, rank >= 3, its first axis (Conv: output channels; ConvTranspose:
// input channels) divisible by group.
Status check_constant_weights(const NodeDef& node, const Tensor& W, int64_t group, bool transpose) {
  if (W.dtype() != DType::kFloat32)
    return dtype_error(node, std::string("only float32 is supported, got W ") + dtype_name(W.dtype()));
  if (W.rank() < 3) return shape_error(node, "W must have rank >= 3, got " + dims_str(W.dims()));
  const int64_t channels = W.dim(0);
  if (channels % group != 0)
    return shape_error(node, std::string("W's ") + (transpose ? "input" : "output") + " channels (" +
                                 std::to_string(channels) + ") are not divisible by group " + std::to_string(group));
  return Status::OK();
}

// Checks the bias B and the fused residual R (either may be null) against the run's geometry and allocates
// Y [N, M, out...].
Status allocate_conv_output(OpContext& ctx, const Geometry& g, const Tensor* B, const Tensor* R, Tensor** Y) {
  const NodeDef& node = ctx.node();
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
  return ctx.allocate_output(0, DType::kFloat32, ydims, Y);
}

// What Conv and ConvTranspose share: the fused activation and W packed per group when it is a constant.
class PackedConvKernel : public OpKernel {
 public:
  // Packed constant weights are all the GEMM paths read (depthwise convolutions read W itself); B stays.
  bool reads_input_data(size_t i) const override { return i != 1 || packed_.empty(); }
  size_t weight_bytes() const override { return packed_groups_bytes(packed_); }

  // Reads and checks the inputs, works out the geometry, allocates Y and runs the convolution when Y is not empty.
  Status compute(OpContext& ctx) const final {
    ConvInputs in;
    INT8RT_RETURN_IF_ERROR(read_float_inputs(ctx, &in));
    Geometry g;
    INT8RT_RETURN_IF_ERROR(geometry(ctx.node(), *in.X, *in.W, &g));
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(allocate_conv_output(ctx, g, in.B, in.R, &Y));
    if (Y->numel() == 0) return Status::OK();
    return run(ctx, in, g, Y);
  }

 protected:
  // The run's output geometry (Conv's or ConvTranspose's rules).
  virtual Status geometry(const NodeDef& node, const Tensor& X, const Tensor& W, Geometry* g) const = 0;
  // The convolution into the allocated, non-empty Y.
  virtual Status run(OpContext& ctx, const ConvInputs& in, const Geometry& g, Tensor* Y) const = 0;

  FusedActivation act_;
  std::vector<PackedA> packed_;  // per group, when W is a constant
  Dims packed_dims_;             // W's dims when packed
};

// ---------------------------------------------------------------------------------------------------------------
// Conv

class ConvKernel final : public PackedConvKernel {
 public:
  static Status create(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    std::unique_ptr<ConvKernel> k(new ConvKernel());
    INT8RT_RETURN_IF_ERROR(conv_params::parse_conv_attrs(node, &k->attrs_));
    INT8RT_RETURN_IF_ERROR(parse_activation(node, &k->act_));
    if (info.num_inputs() < 2) return shape_error(node, "inputs X and W are required");
    if (const Tensor* W = info.constant_input(1)) {
      INT8RT_RETURN_IF_ERROR(check_constant_weights(node, *W, k->attrs_.group, false));
      const int64_t group = k->attrs_.group, M = W->dim(0);
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

  Status run(OpContext& ctx, const ConvInputs& in, const Geometry& g, Tensor* Y) const override {
    const Tensor *X = in.X, *W = in.W, *B = in.B, *R = in.R;

    const float* bias = B ? B->data<float>() : nullptr;
    const float* res = R ? R->data<float>() : nullptr;
    // The factory's depthwise test on W (C/group == 1, group == M, rank <= 4) is this one once X matches W, so
    // weights it packed never take the depthwise path, which reads W directly.
    if (packed_.empty() && g.nsp <= 2 && g.group == g.C && g.M == g.C)
      return depthwise(ctx, g, *X, *W, bias, res, Y);
    return gemm_conv(ctx, g, *X, *W, bias, res, Y);
  }

 private:
  Status geometry(const NodeDef& node, const Tensor& X, const Tensor& W, Geometry* g) const override {
    return conv_params::conv_geometry(node, attrs_, X.dims(), W.dims(), g);
  }

  Status depthwise(OpContext& ctx, const Geometry& g, const Tensor& X, const Tensor& W, const float* bias,
                   const float* res, Tensor* Y) const {
    DwConvPlane p;
    conv_params::set_plane_geometry(conv_params::make_patch2d(g), &p);
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

    const bool pointwise = conv_params::is_pointwise(g);
    const conv_params::Patches patches = conv_params::make_patches(g);

    // Column tiles of about 512 KiB of im2col block (conv_params::tile_cols' default budget).
    const int64_t nt = conv_params::tile_cols(Kg, P, sizeof(float)), ntiles = ceil_div(P, nt), items = g.N * G * ntiles;
    const conv_params::ItemSchedule sched = conv_params::schedule_items(pool, items);

    float* scratch = nullptr;
    if (!pointwise)
      INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(sched.tasks) * size_t(Kg * nt) * sizeof(float), (void**)&scratch));

    ThreadPool* inner = sched.inner;
    const FusedActivation& act = act_;
    conv_params::run_items(pool, sched.tasks, items, sched.parallel, [&](int64_t item, int64_t task) {
      const int64_t t = item % ntiles, ng = item / ntiles, n = ng / G, gi = ng % G;
      const int64_t p0 = t * nt, p1 = std::min(P, p0 + nt), ncols = p1 - p0;
      const float* xg = x + (n * g.C + gi * Cg) * g.in_size;
      const float* b = xg + p0;
      int64_t ldb = P;
      if (!pointwise) {
        float* col = scratch + task * Kg * nt;
        conv_params::im2col_block(inner, patches, xg, Kg, p0, p1, std::max<int64_t>(1, 8192 / ncols), col);
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

  conv_params::ConvAttrs attrs_;
  std::string label_ = "conv_fp32";
};

// ---------------------------------------------------------------------------------------------------------------
// ConvTranspose

class ConvTransposeKernel final : public PackedConvKernel {
 public:
  static Status create(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    std::unique_ptr<ConvTransposeKernel> k(new ConvTransposeKernel());
    INT8RT_RETURN_IF_ERROR(parse_conv_transpose_attrs(node, &k->attrs_));
    INT8RT_RETURN_IF_ERROR(parse_activation(node, &k->act_));
    if (info.num_inputs() < 2) return shape_error(node, "inputs X and W are required");
    if (const Tensor* W = info.constant_input(1)) {
      INT8RT_RETURN_IF_ERROR(check_constant_weights(node, *W, k->attrs_.group, true));
      const int64_t group = k->attrs_.group, C = W->dim(0);
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

  Status run(OpContext& ctx, const ConvInputs& in, const Geometry& g, Tensor* Y) const override {
    const Tensor *X = in.X, *W = in.W, *B = in.B, *R = in.R;

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
      const conv_params::Patches patches = conv_params::make_patches(g, true);
      const bool fast2d = patches.fast2d;
      const Patch2d& p2 = patches.p2;
      const PatchNd& pn = patches.pn;
      // Column tiles; in 2-D they hold whole input rows, so col2im can run per output row.
      int64_t nt = conv_params::tile_cols(Rg, Pin, sizeof(float));
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
  Status geometry(const NodeDef& node, const Tensor& X, const Tensor& W, Geometry* g) const override {
    return conv_transpose_geometry(node, attrs_, X, W, g);
  }

  ConvTransposeAttrs attrs_;
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
