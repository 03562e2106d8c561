// Conv, int8 (Precision::kInt8): int8 activations in and out, weights quantized per output channel in the factory.
//
// Numerics (quant/qnode.h, kernels/qgemm.h): with s_x, s_y the input and output scales and s_w[c] channel c's weight
// scale, q_w = rne(W / s_w[c]) in [-127, 127], the bias becomes int32 rne(B[c] / (s_x * s_w[c])), and each output is
// acc = bias[c] + sum q_w * q_x (exact int32), v = (float)acc * (s_x * s_w[c] / s_y), plus the fused residual
// input 3 as fmaf(q_r, s_r / s_y, v), clamped to the int8 bounds of the fused Relu/Clip and rounded half to even.
//
// Execution:
//   * depthwise (group == C_in == C_out, 1-D/2-D): the direct int8 kernel per channel plane (kernels/dwconv-s8.h);
//   * everything else: per image and group, Y_g[M/g, P] = W_g[M/g, K] * B[K, P] through qgemm with the weights
//     packed once here (qpack_a). B is the int8 input itself for 1x1 stride-1 unpadded convs. Other 1-D/2-D convs,
//     when the GEMM's kernel family packs im2col blocks itself (qgemm_im2col_is_fused: AVX512-VNNI) and a group has
//     at least kImplicitMinChannels input channels, hand qgemm the image and the geometry (qgemm_s8_im2col): the
//     GEMM packs its B blocks straight from the image (padding reads 0, exact because the zero point is 0), so the
//     im2col matrix is never stored and read back; images and groups run in parallel when there are enough of them,
//     otherwise one at a time with the GEMM threaded. The rest (3-D convs, other families, the 3-channel stem)
//     build an int8 im2col block per column tile, as the float Conv does (ops/conv.cc): tiles run in parallel, each
//     with its own block and a single-threaded GEMM, when there are enough of them, otherwise one at a time with
//     the GEMM and im2col threaded. Both give the same bytes.
// What it refuses (the node then stays fp32, the reason in the precision report): weights or bias that are not
// constant float32, fused activations other than Relu/Clip.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "kernels/dwconv-s8.h"
#include "kernels/qgemm.h"
#include "ops/conv_params.h"
#include "ops/int8_common.h"
#include "ops/int8_plan.h"
#include "ops/int8_dynamic.h"

namespace int8rt {
namespace int8ops {

Status plan_conv_s8(const KernelInfo& info, ConvS8Plan* out) {
  const NodeDef& node = info.node();
  ConvS8Plan& p = *out;
  INT8RT_RETURN_IF_ERROR(conv_params::parse_conv_attrs(node, &p.attrs));
  if (info.num_inputs() < 2 || !info.has_input(0) || !info.has_input(1))
    return shape_error(node, "inputs X and W are required");
  float s_x, s_y;
  INT8RT_RETURN_IF_ERROR(node_in_scale(node, 0, &s_x));
  INT8RT_RETURN_IF_ERROR(node_out_scale(node, 0, &s_y));
  INT8RT_RETURN_IF_ERROR(fused_activation_bounds(node, s_y, &p.qmin, &p.qmax));
  p.has_residual = info.has_input(3);
  if (p.has_residual) {
    float s_r;
    INT8RT_RETURN_IF_ERROR(node_in_scale(node, 3, &s_r));
    p.residual_multiplier = s_r / s_y;
  }

  const Tensor* W = info.constant_input(1);
  if (!W || W->dtype() != DType::kFloat32) return unsupported(node, "int8 Conv needs constant float32 weights");
  if (W->rank() < 3) return shape_error(node, "W must have rank >= 3, got " + dims_str(W->dims()));
  const int64_t M = W->dim(0), group = p.attrs.group;
  if (M % group != 0)
    return shape_error(node, "W's output channels (" + std::to_string(M) + ") are not divisible by group " +
                                 std::to_string(group));
  const int64_t per = M > 0 ? W->numel() / M : 0;  // C/group * taps
  const Tensor* B = info.has_input(2) ? info.constant_input(2) : nullptr;
  if (info.has_input(2) && (!B || B->dtype() != DType::kFloat32))
    return unsupported(node, "int8 Conv needs a constant float32 bias");
  if (B && (B->rank() != 1 || B->dim(0) != M))
    return shape_error(node, "bias " + dims_str(B->dims()) + " must have shape [" + std::to_string(M) + "]");

  p.w_dims = W->dims();
  p.M = M;
  p.per = per;
  std::vector<float> s_w;
  quantize_weights_per_channel(W->data<float>(), M, per, &p.wq, &s_w);
  p.multiplier.resize(size_t(M));
  p.bias.assign(size_t(M), 0);
  for (int64_t c = 0; c < M; c++) {
    p.multiplier[size_t(c)] = s_x * s_w[size_t(c)] / s_y;
    if (B) p.bias[size_t(c)] = quantize_bias(B->data<float>()[c], s_x, s_w[size_t(c)], per);
  }
  const int nsp = int(W->rank()) - 2;
  p.depthwise = W->dim(1) == 1 && group == M && nsp <= 2;
  return Status::OK();
}

namespace {

using conv_params::ceil_div;

class ConvS8Kernel final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
    std::unique_ptr<ConvS8Kernel> k(new ConvS8Kernel());
    ConvS8Plan& p = k->plan_;
    INT8RT_RETURN_IF_ERROR(plan_conv_s8(info, &p));
    if (!p.depthwise && p.M > 0 && p.per > 0) {
      const int64_t group = p.attrs.group, Mg = p.M / group;
      k->packed_.resize(size_t(group));
      for (int64_t g = 0; g < group; g++)
        INT8RT_RETURN_IF_ERROR(qpack_a(p.wq.data() + g * Mg * p.per, p.per, Mg, p.per, &k->packed_[size_t(g)]));
      p.wq.clear();  // the packed copy is all the GEMM needs
      p.wq.shrink_to_fit();
      k->label_ = "conv_s8_gemm_" + qgemm_kernel_name();
    } else {
      k->label_ = std::string("conv_s8_depthwise_") + dwconv2d_s8_kernel_name();
    }
    *out = std::move(k);
    return Status::OK();
  }

  std::string kernel_name() const override { return label_; }
  // W and B live on as the quantized/packed weights and the int32 bias: only X and the residual are read.
  bool reads_input_data(size_t i) const override { return i == 0 || i == 3; }
  size_t weight_bytes() const override {
    size_t n = vector_bytes(plan_.wq) + vector_bytes(packed_) + vector_bytes(plan_.bias) +
               vector_bytes(plan_.multiplier);
    for (const QPackedA& p : packed_) n += vector_bytes(p.data) + vector_bytes(p.row_sums);
    return n;
  }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* X;
    INT8RT_RETURN_IF_ERROR(int8_input(ctx, 0, &X));
    conv_params::Geometry g;
    INT8RT_RETURN_IF_ERROR(conv_params::conv_geometry(node, plan_.attrs, X->dims(), plan_.w_dims, &g));
    Dims ydims{g.N, g.M};
    ydims.insert(ydims.end(), g.out.begin(), g.out.end());
    const Tensor* R = nullptr;
    if (plan_.has_residual) {
      INT8RT_RETURN_IF_ERROR(int8_input(ctx, 3, &R));
      if (R->dims() != ydims)
        return shape_error(node, "the fused residual " + dims_str(R->dims()) + " must have the output shape " +
                                     dims_str(ydims));
    }
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kInt8, ydims, &Y));
    if (Y->numel() == 0) return Status::OK();
    const int8_t* res = R ? R->data<int8_t>() : nullptr;
    if (plan_.depthwise) return depthwise(ctx, g, *X, res, Y);
    return gemm_conv(ctx, g, *X, res, Y);
  }

 private:
  Status depthwise(OpContext& ctx, const conv_params::Geometry& g, const Tensor& X, const int8_t* res,
                   Tensor* Y) const {
    DwConvS8Plane p;
    conv_params::set_plane_geometry(conv_params::make_patch2d(g), &p);
    p.qmin = plan_.qmin;
    p.qmax = plan_.qmax;
    const int64_t C = g.C, P = g.out_size, in_size = g.in_size, taps = g.k_size, planes = g.N * C;
    const size_t ws = (dwconv2d_s8_workspace(p) + 63) / 64 * 64;
    ThreadPool* pool = ctx.pool();
    const int64_t work = P * taps;
    const int tasks = int(std::min<int64_t>(pool->num_threads(), std::max<int64_t>(1, planes * work / 32768)));
    const int ntasks = std::max(1, std::min<int>(tasks, int(planes)));
    char* scratch = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.scratch(ws * size_t(ntasks), reinterpret_cast<void**>(&scratch)));
    const int8_t* x = X.data<int8_t>();
    int8_t* y = Y->data<int8_t>();
    conv_params::run_items(pool, ntasks, planes, ntasks > 1, [&](int64_t i, int64_t task) {
      const int64_t c = i % C;
      DwConvS8Channel ch;
      ch.w = plan_.wq.data() + c * taps;
      ch.bias = plan_.bias[size_t(c)];
      ch.multiplier = plan_.multiplier[size_t(c)];
      ch.residual = res ? res + i * P : nullptr;
      ch.residual_multiplier = plan_.residual_multiplier;
      dwconv2d_s8(p, x + i * in_size, ch, y + i * P, scratch + size_t(task) * ws);
    });
    return Status::OK();
  }

  Status gemm_conv(OpContext& ctx, const conv_params::Geometry& g, const Tensor& X, const int8_t* res,
                   Tensor* Y) const {
    const int64_t G = g.group, Cg = g.C / G, Mg = g.M / G, Kg = Cg * g.k_size, P = g.out_size;
    const int8_t* x = X.data<int8_t>();
    int8_t* y = Y->data<int8_t>();
    ThreadPool* pool = ctx.pool();

    if (Kg == 0 || packed_.empty()) {  // no input channels: the output is the requantized bias (+ residual)
      parallel_for(pool, g.N * g.M, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; i++) {
          const int64_t c = i % g.M;
          for (int64_t j = 0; j < P; j++) {
            const int64_t o = i * P + j;
            y[o] = res ? requantize_acc(plan_.bias[size_t(c)], plan_.multiplier[size_t(c)], res[o],
                                        plan_.residual_multiplier, plan_.qmin, plan_.qmax)
                       : requantize_acc(plan_.bias[size_t(c)], plan_.multiplier[size_t(c)], plan_.qmin, plan_.qmax);
          }
        }
      });
      return Status::OK();
    }

    const bool pointwise = conv_params::is_pointwise(g);
    if (g.nsp <= 2 && !pointwise && Cg >= kImplicitMinChannels && qgemm_im2col_is_fused(packed_[0]))
      return implicit_gemm_conv(ctx, g, X, res, Y);
    const conv_params::Patches patches = conv_params::make_patches(g);

    // int8 columns are a quarter of the float ones: the same cache budget holds tiles 4x wider, which we halve to
    // keep enough tiles for the threads.
    const int64_t nt = conv_params::tile_cols(Kg, P, 1, 256 << 10), ntiles = ceil_div(P, nt);
    const int64_t items = g.N * G * ntiles;
    const conv_params::ItemSchedule sched = conv_params::schedule_items(pool, items);

    int8_t* scratch = nullptr;
    if (!pointwise)
      INT8RT_RETURN_IF_ERROR(
          ctx.scratch(size_t(sched.tasks) * size_t(Kg * nt), reinterpret_cast<void**>(&scratch)));

    conv_params::run_items(pool, sched.tasks, items, sched.parallel, [&](int64_t item, int64_t task) {
      const int64_t t = item % ntiles, ng = item / ntiles, n = ng / G, gi = ng % G;
      const int64_t p0 = t * nt, p1 = std::min(P, p0 + nt), ncols = p1 - p0;
      const int8_t* xg = x + (n * g.C + gi * Cg) * g.in_size;
      const int8_t* b = xg + p0;
      int64_t ldb = P;
      if (!pointwise) {
        int8_t* col = scratch + task * Kg * nt;
        conv_params::im2col_block(sched.inner, patches, xg, Kg, p0, p1, std::max<int64_t>(1, 16384 / ncols), col);
        b = col;
        ldb = ncols;
      }
      const int64_t yoff = (n * g.M + gi * Mg) * P + p0;
      const QEpilogue ep = group_epilogue(gi * Mg, res, yoff, P);
      qgemm_s8(packed_[size_t(gi)], ncols, b, ldb, y + yoff, P, ep, sched.inner);
    });
    return Status::OK();
  }

  // The requantizing epilogue of the output channels from m0 on, whose output block (and residual block) starts at
  // element yoff with rows `ld` apart.
  QEpilogue group_epilogue(int64_t m0, const int8_t* res, int64_t yoff, int64_t ld) const {
    QEpilogue ep;
    ep.bias = plan_.bias.data() + m0;
    ep.multiplier = plan_.multiplier.data() + m0;
    if (res) {
      ep.residual = res + yoff;
      ep.ldr = ld;
      ep.residual_multiplier = plan_.residual_multiplier;
    }
    ep.qmin = plan_.qmin;
    ep.qmax = plan_.qmax;
    return ep;
  }

  // The fused packer computes each tap's loads once per 16/32-column span and reuses them for every channel: with
  // fewer channels than this (the RGB stem: 3) that set-up outweighs the explicit im2col. Measured on Zen 4 (AVX512-
  // VNNI, 1 thread, bench/native/qgemm_bench conv): ResNet-50's 7x7/2 stem 131 -> 111 GMAC/s implicit, its 3x3 layers
  // (64-512 channels) 127-144 -> 160-197.
  static constexpr int64_t kImplicitMinChannels = 8;

  // 1-D/2-D convs other than the pointwise ones: one qgemm_s8_im2col per image and group.
  Status implicit_gemm_conv(OpContext& ctx, const conv_params::Geometry& g, const Tensor& X, const int8_t* res,
                            Tensor* Y) const {
    const int64_t G = g.group, Cg = g.C / G, Mg = g.M / G, P = g.out_size;
    const conv_params::Patch2d p2 = conv_params::make_patch2d(g);
    QIm2col src;
    src.C = Cg;
    src.IH = p2.IH;
    src.IW = p2.IW;
    src.OH = p2.CH;
    src.OW = p2.CW;
    src.kh = p2.kh;
    src.kw = p2.kw;
    src.sh = p2.sh;
    src.sw = p2.sw;
    src.dh = p2.dh;
    src.dw = p2.dw;
    src.pt = p2.pt;
    src.pl = p2.pl;
    const int8_t* x = X.data<int8_t>();
    int8_t* y = Y->data<int8_t>();
    ThreadPool* pool = ctx.pool();
    const int64_t items = g.N * G;
    const conv_params::ItemSchedule sched = conv_params::schedule_items(pool, items);
    conv_params::run_items(pool, sched.tasks, items, sched.parallel, [&](int64_t item, int64_t) {
      const int64_t n = item / G, gi = item % G;
      QIm2col s = src;
      s.img = x + (n * g.C + gi * Cg) * g.in_size;
      const int64_t yoff = (n * g.M + gi * Mg) * P;
      const QEpilogue ep = group_epilogue(gi * Mg, res, yoff, P);
      qgemm_s8_im2col(packed_[size_t(gi)], s, y + yoff, P, ep, sched.inner);
    });
    return Status::OK();
  }

  ConvS8Plan plan_;                 // plan_.wq: the depthwise weights [C, taps] (emptied for the GEMM path)
  std::vector<QPackedA> packed_;    // GEMM: quantized weights packed per group
  std::string label_ = "conv_s8";
};

// Nodes the dynamic int8 planner marked (`__dynamic` = 1) take float activations: ops/int8_dynamic.h.
Status make_conv_s8(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  if (info.node().attr_int("__dynamic", 0)) return make_conv_dynamic(info, out);
  return ConvS8Kernel::create(info, out);
}

}  // namespace

void register_int8_conv_ops(KernelRegistry& r) {
  r.add({"Conv", "", 1, 0, Device::kCpu, Precision::kInt8, "conv_s8", &make_conv_s8});
}

}  // namespace int8ops
}  // namespace int8rt
