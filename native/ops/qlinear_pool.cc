// QLinearAveragePool (onnxruntime's com.microsoft domain): AveragePool on an 8-bit tensor with explicit scales and
// zero points (ops/qlinear_common.h). Inputs X, x_scale, x_zero_point, y_scale, y_zero_point; NCHW (channels_last 0),
// 1-D to 3-D windows; attributes as AveragePool's (kernel_shape, strides, pads, auto_pad, ceil_mode,
// count_include_pad; dilations too).
//
//   v = (float)(sum over the window's valid taps of (x - zx)) * (s_x / ((float)count * s_y)),  y = sat(rne(v) + zy)
//
// with `count` the window's tap count as ONNX defines it (valid taps, or with count_include_pad the taps inside the
// padded extent, where x reads zx). With zero points 0 this is the int8 planner's AveragePool (ops/int8_pool.cc) bit
// for bit, window geometry included (both plan it with ops/pool_params.h); the QDQ import pass (quant/qdq_import.h)
// writes it for DQ -> AveragePool -> Q.
// Direct loops over each window: the pooling layers of the models this runs are small next to their convolutions.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "ops/pool_params.h"
#include "ops/qlinear_common.h"

namespace int8rt {
namespace qlinear {
namespace {

using pool_params::Axis;

class QAveragePoolKernel final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    std::unique_ptr<QAveragePoolKernel> k(new QAveragePoolKernel());
    if (node.attr_int("channels_last", 0) != 0)
      return unsupported(node, "QLinearAveragePool with channels_last = 1 is not supported");
    if (!info.has_input(0) || !info.has_input(1) || !info.has_input(3))
      return shape_error(node, "QLinearAveragePool needs X, x_scale and y_scale");
    INT8RT_RETURN_IF_ERROR(pool_params::parse_window_attrs(node, &k->a_));
    *out = std::move(k);
    return Status::OK();
  }

  std::string kernel_name() const override { return "qlinearaveragepool"; }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* X = ctx.input(0);
    if (!X) return shape_error(node, "input X is required");
    QParam xq, yq;
    INT8RT_RETURN_IF_ERROR(read_qparam(node, "X", X->dtype(), ctx.input(1), ctx.input(2), 0, &xq));
    const Tensor* yz = ctx.input(4);
    INT8RT_RETURN_IF_ERROR(read_qparam(node, "Y", yz ? yz->dtype() : X->dtype(), ctx.input(3), yz, 0, &yq));
    const Dims& dims = X->dims();
    INT8RT_RETURN_IF_ERROR(pool_params::check_input_rank(node, dims, a_.kernel.size()));
    std::vector<Axis> axes;
    INT8RT_RETURN_IF_ERROR(pool_params::plan_axes(node, a_, dims, &axes));
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, yq.type, pool_params::pooled_dims(dims, axes), &Y));
    if (Y->numel() == 0) return Status::OK();
    pool_params::pad_axes_to_3d(&axes);
    const Axis &ad = axes[0], &ah = axes[1], &aw = axes[2];
    const int64_t planes = dims[0] * dims[1];
    const int64_t plane_in = ad.in * ah.in * aw.in, plane_out = ad.out * ah.out * aw.out;
    const int32_t zx = xq.zero[0], zy = yq.zero[0];
    const float sx = xq.scale[0], sy = yq.scale[0];
    const uint8_t fx = X->dtype() == DType::kUint8 ? 0x80u : 0u, fy = yq.type == DType::kUint8 ? 0x80u : 0u;
    const uint8_t* x = static_cast<const uint8_t*>(X->raw());
    uint8_t* y = static_cast<uint8_t*>(Y->raw());
    const bool include_pad = a_.count_include_pad;
    parallel_for(ctx.pool(), planes, std::max<int64_t>(1, 16384 / std::max<int64_t>(plane_in, 1)),
                 [&](int64_t b, int64_t e) {
                   for (int64_t pl = b; pl < e; pl++) {
                     const uint8_t* xp = x + pl * plane_in;
                     uint8_t* yp = y + pl * plane_out;
                     for (int64_t o2 = 0; o2 < ad.out; o2++) {
                       int64_t dlo, dhi;
                       ad.taps(o2, &dlo, &dhi);
                       const int64_t dcnt = include_pad ? ad.padded_taps(o2) : dhi - dlo;
                       for (int64_t oh = 0; oh < ah.out; oh++) {
                         int64_t hlo, hhi;
                         ah.taps(oh, &hlo, &hhi);
                         const int64_t hcnt = include_pad ? ah.padded_taps(oh) : hhi - hlo;
                         for (int64_t ow = 0; ow < aw.out; ow++) {
                           int64_t wlo, whi;
                           aw.taps(ow, &wlo, &whi);
                           const int64_t wcnt = include_pad ? aw.padded_taps(ow) : whi - wlo;
                           int64_t sum = 0, valid = 0;
                           for (int64_t td = dlo; td < dhi; td++)
                             for (int64_t th = hlo; th < hhi; th++) {
                               const uint8_t* row =
                                   xp + ((ad.start(o2) + td * ad.d) * ah.in + ah.start(oh) + th * ah.d) * aw.in;
                               for (int64_t tw = wlo; tw < whi; tw++) sum += int8_t(row[aw.start(ow) + tw * aw.d] ^ fx);
                               valid += whi - wlo;
                             }
                           const int64_t count = dcnt * hcnt * wcnt;
                           const int64_t o = (o2 * ah.out + oh) * aw.out + ow;
                           if (count <= 0) {
                             yp[o] = uint8_t(requantize(0.f, zy, -128, 127)) ^ fy;
                             continue;
                           }
                           const float v = float(wrap64(sum - valid * int64_t(zx))) * (sx / (float(count) * sy));
                           yp[o] = uint8_t(requantize(v, zy, -128, 127)) ^ fy;
                         }
                       }
                     }
                   }
                 });
    return Status::OK();
  }

 private:
  pool_params::WindowAttrs a_;
};

Status make_qlinear_average_pool(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return QAveragePoolKernel::create(info, out);
}

}  // namespace

void register_qlinear_pool_ops(KernelRegistry& r) {
  r.add({"QLinearAveragePool", "com.microsoft", 1, 0, Device::kCpu, Precision::kInt8, "qlinearaveragepool",
         &make_qlinear_average_pool});
}

}  // namespace qlinear
}  // namespace int8rt
