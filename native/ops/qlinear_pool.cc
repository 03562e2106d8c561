// QLinearAveragePool (onnxruntime's com.microsoft domain): AveragePool on an 8-bit tensor with explicit scales and
// zero points (ops/qlinear_common.h). Inputs X, x_scale, x_zero_point, y_scale, y_zero_point; NCHW (channels_last 0),
// 1-D to 3-D windows; attributes as AveragePool's (kernel_shape, strides, pads, auto_pad, ceil_mode,
// count_include_pad; dilations too).
//
//   v = (float)(sum over the window's valid taps of (x - zx)) * (s_x / ((float)count * s_y)),  y = sat(rne(v) + zy)
//
// with `count` the window's tap count as ONNX defines it (valid taps, or with count_include_pad the taps inside the
// padded extent, where x reads zx). With zero points 0 this is the int8 planner's AveragePool (ops/int8_pool.cc) bit for
// bit, window geometry included; the QDQ import pass (quant/qdq_import.h) writes it for DQ -> AveragePool -> Q.
// Direct loops over each window: the pooling layers of the models this runs are small next to their convolutions.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "ops/qlinear_common.h"

namespace int8rt {
namespace qlinear {
namespace {

inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

struct Axis {
  int64_t in = 1, out = 1, k = 1, s = 1, d = 1, pad_b = 0, pad_e = 0;
  int64_t start(int64_t o) const { return o * s - pad_b; }
  void taps(int64_t o, int64_t* lo, int64_t* hi) const {  // taps landing inside [0, in)
    const int64_t st = start(o);
    *lo = st >= 0 ? 0 : ceil_div(-st, d);
    *hi = std::min(k, std::max<int64_t>(0, ceil_div(in - st, d)));
    if (*hi < *lo) *hi = *lo;
  }
  int64_t padded_taps(int64_t o) const {  // taps inside [-pad_b, in + pad_e)
    return std::max<int64_t>(0, std::min(k, ceil_div(in + pad_e - start(o), d)));
  }
};

class QAveragePoolKernel final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    std::unique_ptr<QAveragePoolKernel> k(new QAveragePoolKernel());
    if (node.attr_int("channels_last", 0) != 0)
      return unsupported(node, "QLinearAveragePool with channels_last = 1 is not supported");
    if (!info.has_input(0) || !info.has_input(1) || !info.has_input(3))
      return shape_error(node, "QLinearAveragePool needs X, x_scale and y_scale");
    k->kernel_ = node.attr_ints("kernel_shape");
    const size_t sr = k->kernel_.size();
    if (sr < 1 || sr > 3)
      return unsupported(node, "kernel_shape must have 1 to 3 values, got " + std::to_string(sr));
    k->strides_ = node.attr_ints("strides", std::vector<int64_t>(sr, 1));
    k->dilations_ = node.attr_ints("dilations", std::vector<int64_t>(sr, 1));
    k->pads_ = node.attr_ints("pads", std::vector<int64_t>(2 * sr, 0));
    if (k->strides_.size() != sr || k->dilations_.size() != sr || k->pads_.size() != 2 * sr)
      return shape_error(node, "strides, dilations and pads must match kernel_shape");
    constexpr int64_t kMax = int64_t(1) << 31;
    for (size_t i = 0; i < sr; i++)
      if (k->kernel_[i] < 1 || k->kernel_[i] > kMax || k->strides_[i] < 1 || k->strides_[i] > kMax ||
          k->dilations_[i] < 1 || k->dilations_[i] > kMax)
        return shape_error(node, "kernel_shape, strides and dilations must hold values in [1, 2^31]");
    for (int64_t p : k->pads_)
      if (p < 0 || p > kMax) return shape_error(node, "pads must hold values in [0, 2^31]");
    k->auto_pad_ = node.attr_string("auto_pad", "NOTSET");
    if (k->auto_pad_.empty()) k->auto_pad_ = "NOTSET";
    if (k->auto_pad_ != "NOTSET" && k->auto_pad_ != "VALID" && k->auto_pad_ != "SAME_UPPER" &&
        k->auto_pad_ != "SAME_LOWER")
      return shape_error(node, "unknown auto_pad '" + k->auto_pad_ + "'");
    k->ceil_mode_ = node.attr_int("ceil_mode", 0) != 0;
    k->include_pad_ = node.attr_int("count_include_pad", 0) != 0;
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
    const size_t sr = kernel_.size();
    const Dims& dims = X->dims();
    if (dims.size() != sr + 2)
      return shape_error(node, "X " + dims_str(dims) + " does not match a " + std::to_string(sr) + "-D window");
    std::vector<Axis> axes(sr);
    for (size_t i = 0; i < sr; i++) {  // as ops/int8_pool.cc plan_axes
      Axis& a = axes[i];
      a.in = dims[2 + i];
      a.k = kernel_[i];
      a.s = strides_[i];
      a.d = dilations_[i];
      const int64_t span = a.d * (a.k - 1) + 1;
      if (auto_pad_ == "SAME_UPPER" || auto_pad_ == "SAME_LOWER") {
        a.out = ceil_div(a.in, a.s);
        const int64_t need = std::max<int64_t>(0, (a.out - 1) * a.s + span - a.in);
        a.pad_b = auto_pad_ == "SAME_UPPER" ? need / 2 : need - need / 2;
        a.pad_e = need - a.pad_b;
      } else {
        if (auto_pad_ == "NOTSET") {
          a.pad_b = pads_[i];
          a.pad_e = pads_[i + sr];
        }
        const int64_t room = a.in + a.pad_b + a.pad_e - span;
        if (room < 0) return shape_error(node, "the window is larger than the padded input on axis " + std::to_string(i));
        a.out = (ceil_mode_ ? ceil_div(room, a.s) : room / a.s) + 1;
        if (ceil_mode_ && (a.out - 1) * a.s >= a.in + a.pad_b) a.out--;
      }
    }
    Dims od = {dims[0], dims[1]};
    for (const Axis& a : axes) od.push_back(a.out);
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, yq.type, od, &Y));
    if (Y->numel() == 0) return Status::OK();
    while (axes.size() < 3) axes.insert(axes.begin(), Axis());
    const Axis &ad = axes[0], &ah = axes[1], &aw = axes[2];
    const int64_t planes = dims[0] * dims[1];
    const int64_t plane_in = ad.in * ah.in * aw.in, plane_out = ad.out * ah.out * aw.out;
    const int32_t zx = xq.zero[0], zy = yq.zero[0];
    const float sx = xq.scale[0], sy = yq.scale[0];
    const uint8_t fx = X->dtype() == DType::kUint8 ? 0x80u : 0u, fy = yq.type == DType::kUint8 ? 0x80u : 0u;
    const uint8_t* x = static_cast<const uint8_t*>(X->raw());
    uint8_t* y = static_cast<uint8_t*>(Y->raw());
    const bool include_pad = include_pad_;
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
  std::vector<int64_t> kernel_, strides_, dilations_, pads_;
  std::string auto_pad_ = "NOTSET";
  bool ceil_mode_ = false, include_pad_ = false;
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
