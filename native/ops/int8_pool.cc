// Pooling and data movement on int8 tensors (Precision::kInt8).
//
// AveragePool / GlobalAveragePool: window sums in int32 (exact), then one requantization per output,
//   v = (float)sum * (s_x / ((float)count * s_y)),  y = sat(rne(v)),
// with `count` the window's tap count as ONNX defines it (valid taps, or with count_include_pad the taps inside the
// padded extent). Window geometry (pads, auto_pad, strides, dilations, ceil_mode) is the float pools'
// (ops/pool_params.h), so an int8 node has its float node's output shape.
// GlobalMaxPool: max per plane; the output scale must equal the input scale.
//
// Data movement (Reshape, Transpose, Slice, MaxPool, Resize nearest, ...) never looks at values: the float kernels
// move int8 elements as they move any 1-byte type. Their int8 registration forwards to the float32 kernel registered
// for the same operator and opset, after checking what an int8 node adds: the outputs keep the input's scale, and
// values the float kernel would create must be zero (Pad's constant, MaxPool has no Indices output, Resize only
// picks elements: mode nearest).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "ops/int8_common.h"
#include "ops/pool_params.h"

namespace int8rt {
namespace int8ops {
namespace {

using pool_params::Axis;

// ---------------------------------------------------------------------------------------------------------------
// AveragePool

class AveragePoolS8Kernel final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    std::unique_ptr<AveragePoolS8Kernel> k(new AveragePoolS8Kernel());
    INT8RT_RETURN_IF_ERROR(pool_params::parse_window_attrs(node, &k->a_));
    INT8RT_RETURN_IF_ERROR(node_in_scale(node, 0, &k->s_x_));
    INT8RT_RETURN_IF_ERROR(node_out_scale(node, 0, &k->s_y_));
    *out = std::move(k);
    return Status::OK();
  }

  std::string kernel_name() const override { return "averagepool_s8_" + std::to_string(a_.kernel.size()) + "d"; }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* X;
    INT8RT_RETURN_IF_ERROR(int8_input(ctx, 0, &X));
    const Dims& dims = X->dims();
    INT8RT_RETURN_IF_ERROR(pool_params::check_input_rank(node, dims, a_.kernel.size()));
    std::vector<Axis> axes;
    INT8RT_RETURN_IF_ERROR(pool_params::plan_axes(node, a_, dims, &axes));
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kInt8, pool_params::pooled_dims(dims, axes), &Y));
    if (Y->numel() == 0) return Status::OK();
    pool_params::pad_axes_to_3d(&axes);
    const Axis &ad = axes[0], &ah = axes[1], &aw = axes[2];
    const int64_t planes = dims[0] * dims[1];
    const int64_t plane_in = ad.in * ah.in * aw.in, plane_out = ad.out * ah.out * aw.out;
    const bool include_pad = a_.count_include_pad;
    // Width tap counts and ranges, per output column.
    std::vector<int64_t> wlo(size_t(aw.out)), whi(size_t(aw.out)), wcnt(size_t(aw.out));
    for (int64_t ow = 0; ow < aw.out; ow++) {
      aw.taps(ow, &wlo[size_t(ow)], &whi[size_t(ow)]);
      wcnt[size_t(ow)] = include_pad ? aw.padded_taps(ow) : whi[size_t(ow)] - wlo[size_t(ow)];
    }
    int32_t* scratch = nullptr;
    const int threads = ctx.pool()->num_threads();
    INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(threads) * size_t(aw.in) * sizeof(int32_t) + 64,
                                       reinterpret_cast<void**>(&scratch)));
    const int8_t* x = X->data<int8_t>();
    int8_t* y = Y->data<int8_t>();
    const float s_x = s_x_, s_y = s_y_;
    const int64_t work = plane_out * ad.k * ah.k * aw.k + plane_in;
    const int tasks = int(std::min<int64_t>(threads, std::max<int64_t>(1, planes * work / 65536)));
    std::vector<int64_t> bounds(size_t(tasks) + 1);
    for (int t = 0; t <= tasks; t++) bounds[size_t(t)] = planes * t / tasks;
    auto body = [&](int64_t task) {
      int32_t* row = scratch + task * aw.in;
      for (int64_t pl = bounds[size_t(task)]; pl < bounds[size_t(task) + 1]; pl++) {
        const int8_t* xp = x + pl * plane_in;
        int8_t* yp = y + pl * plane_out;
        for (int64_t od2 = 0; od2 < ad.out; od2++) {
          int64_t dlo, dhi;
          ad.taps(od2, &dlo, &dhi);
          const int64_t dcnt = include_pad ? ad.padded_taps(od2) : dhi - dlo;
          for (int64_t oh = 0; oh < ah.out; oh++) {
            int64_t hlo, hhi;
            ah.taps(oh, &hlo, &hhi);
            const int64_t hcnt = include_pad ? ah.padded_taps(oh) : hhi - hlo;
            // Vertical pass: the window's valid input rows summed into `row`.
            std::fill(row, row + aw.in, 0);
            for (int64_t td = dlo; td < dhi; td++) {
              const int64_t id = ad.start(od2) + td * ad.d;
              for (int64_t th = hlo; th < hhi; th++) {
                const int8_t* src = xp + (id * ah.in + ah.start(oh) + th * ah.d) * aw.in;
                for (int64_t w = 0; w < aw.in; w++) row[w] += src[w];
              }
            }
            int8_t* out = yp + (od2 * ah.out + oh) * aw.out;
            for (int64_t ow = 0; ow < aw.out; ow++) {
              const int32_t* rp = row + aw.start(ow);
              int32_t sum = 0;
              for (int64_t t = wlo[size_t(ow)]; t < whi[size_t(ow)]; t++) sum += rp[t * aw.d];
              const int64_t count = dcnt * hcnt * wcnt[size_t(ow)];
              out[ow] = count > 0 ? round_sat_s8(float(sum) * (s_x / (float(count) * s_y))) : int8_t(0);
            }
          }
        }
      }
    };
    if (tasks > 1)
      ctx.pool()->parallel_tasks(tasks, body);
    else
      body(0);
    return Status::OK();
  }

 private:
  pool_params::WindowAttrs a_;
  float s_x_ = 1.f, s_y_ = 1.f;
};

Status make_average_pool_s8(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return AveragePoolS8Kernel::create(info, out);
}

// ---------------------------------------------------------------------------------------------------------------
// GlobalAveragePool, GlobalMaxPool

class GlobalPoolS8Kernel final : public OpKernel {
 public:
  GlobalPoolS8Kernel(bool average, float s_x, float s_y) : average_(average), s_x_(s_x), s_y_(s_y) {}
  std::string kernel_name() const override { return average_ ? "global_avgpool_s8" : "global_maxpool_s8"; }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const Tensor* X;
    INT8RT_RETURN_IF_ERROR(int8_input(ctx, 0, &X));
    const Dims& dims = X->dims();
    if (dims.size() < 2) return shape_error(node, "input must have rank >= 2, got " + dims_str(dims));
    Dims od;
    int64_t plane_size = 0, num_planes = 0;
    INT8RT_RETURN_IF_ERROR(pool_params::plan_global_pool(node, dims, &od, &plane_size, &num_planes));
    const int64_t s = plane_size, planes = num_planes;  // const: the loops below read them through [&]
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kInt8, od, &Y));
    const int8_t* x = X->data<int8_t>();
    int8_t* y = Y->data<int8_t>();
    const float m = s_x_ / (float(s) * s_y_);
    parallel_for(ctx.pool(), planes, std::max<int64_t>(1, 65536 / std::max<int64_t>(s, 1)), [&](int64_t b, int64_t e) {
      for (int64_t pl = b; pl < e; pl++) {
        const int8_t* xp = x + pl * s;
        if (average_) {
          // 16 int32 lanes vectorise; an int32 lane overflows only past 2^24 elements per lane.
          int64_t total = 0;
          int64_t i = 0;
          while (i < s) {
            const int64_t end = std::min(s, i + (int64_t(1) << 24));
            int32_t lane[16] = {0};
            for (; i + 16 <= end; i += 16)
              for (int l = 0; l < 16; l++) lane[l] += xp[i + l];
            for (; i < end; i++) lane[0] += xp[i];
            for (int l = 0; l < 16; l++) total += lane[l];
          }
          y[pl] = round_sat_s8(float(total) * m);
        } else {
          int8_t best = -128;
          for (int64_t i = 0; i < s; i++) best = xp[i] > best ? xp[i] : best;
          y[pl] = best;
        }
      }
    });
    return Status::OK();
  }

 private:
  bool average_;
  float s_x_, s_y_;
};

Status make_global_average_pool_s8(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  float s_x, s_y;
  INT8RT_RETURN_IF_ERROR(node_in_scale(info.node(), 0, &s_x));
  INT8RT_RETURN_IF_ERROR(node_out_scale(info.node(), 0, &s_y));
  out->reset(new GlobalPoolS8Kernel(true, s_x, s_y));
  return Status::OK();
}

Status make_global_max_pool_s8(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  float s_x, s_y;
  INT8RT_RETURN_IF_ERROR(node_in_scale(info.node(), 0, &s_x));
  INT8RT_RETURN_IF_ERROR(node_out_scale(info.node(), 0, &s_y));
  if (s_x != s_y) return unsupported(info.node(), "int8 GlobalMaxPool needs the output scale to equal the input scale");
  out->reset(new GlobalPoolS8Kernel(false, s_x, s_y));
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------------------------
// Data movement through the float kernels

// The context the float kernel sees: the real one, with some inputs hidden (Pad's float constant_value, which the
// int8 kernel replaces by the zero it checked).
class HidingContext final : public OpContext {
 public:
  HidingContext(OpContext& base, uint32_t hidden) : base_(base), hidden_(hidden) {}
  const NodeDef& node() const override { return base_.node(); }
  size_t num_inputs() const override { return base_.num_inputs(); }
  const Tensor* input(size_t i) const override {
    return i < 32 && (hidden_ >> i) & 1u ? nullptr : base_.input(i);
  }
  size_t num_outputs() const override { return base_.num_outputs(); }
  bool output_used(size_t i) const override { return base_.output_used(i); }
  Status allocate_output(size_t i, DType dtype, const Dims& dims, Tensor** out) override {
    return base_.allocate_output(i, dtype, dims, out);
  }
  void set_output(size_t i, const Tensor& t) override { base_.set_output(i, t); }
  Status scratch(size_t bytes, void** out) override { return base_.scratch(bytes, out); }
  ThreadPool* pool() const override { return base_.pool(); }

 private:
  OpContext& base_;
  uint32_t hidden_;
};

class ForwardS8Kernel final : public OpKernel {
 public:
  ForwardS8Kernel(std::unique_ptr<OpKernel> inner, std::string name, uint32_t hidden)
      : inner_(std::move(inner)), name_(std::move(name)), hidden_(hidden) {}

  // The float kernel family's name with its precision marked as int8: "maxpool_fp32" -> "maxpool_s8",
  // "transpose" -> "transpose_s8". (Not the float kernel's own kernel_name(), which may name a float-only path.)
  std::string kernel_name() const override {
    std::string n = name_;
    const size_t at = n.find("fp32");
    return at == std::string::npos ? n + "_s8" : n.replace(at, 4, "s8");
  }

  Status compute(OpContext& ctx) const override {
    const Tensor* X;
    INT8RT_RETURN_IF_ERROR(int8_input(ctx, 0, &X));
    if (!hidden_) return inner_->compute(ctx);
    HidingContext hc(ctx, hidden_);
    return inner_->compute(hc);
  }

 private:
  std::unique_ptr<OpKernel> inner_;
  std::string name_;
  uint32_t hidden_;
};

bool output_present(const NodeDef& node, size_t i) { return i < node.outputs.size() && !node.outputs[i].empty(); }

Status make_forward_s8(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  const NodeDef& node = info.node();
  const std::string& op = node.op_type;
  float s_x;
  INT8RT_RETURN_IF_ERROR(node_in_scale(node, 0, &s_x));
  for (size_t o = 0; o < node.outputs.size(); o++) {
    if (!output_present(node, o)) continue;
    if (op == "Dropout" && o > 0) return unsupported(node, "int8 Dropout does not produce the mask output");
    if (op == "MaxPool" && o > 0) return unsupported(node, "int8 MaxPool does not produce the Indices output");
    float s_y;
    INT8RT_RETURN_IF_ERROR(node_out_scale(node, o, &s_y));
    if (s_y != s_x) return unsupported(node, "int8 " + op + " needs its output scales to equal the input scale");
  }
  uint32_t hidden = 0;
  if (op == "Resize" || op == "Upsample") {
    const std::string mode = node.attr_string("mode", "nearest");
    if (mode != "nearest") return unsupported(node, "int8 " + op + " supports only mode=nearest, not " + mode);
  } else if (op == "Pad") {
    const std::string mode = node.attr_string("mode", "constant");
    bool zero = mode == "constant";
    if (zero && info.opset() < 11) {
      zero = node.attr_float("value", 0.f) == 0.f;
    } else if (zero && info.has_input(2)) {
      const Tensor* v = info.constant_input(2);
      zero = v && v->numel() <= 1;
      if (zero && v->numel() == 1) zero = v->float_at(0) == 0.0;
      hidden |= 1u << 2;
    }
    if (!zero) return unsupported(node, "int8 Pad supports only mode=constant with value 0");
  }
  std::string why;
  const KernelDef* def =
      kernel_registry().find(op, node.domain, info.opset(), Device::kCpu, Precision::kFp32, &why);
  if (!def) return unsupported(node, why);
  std::unique_ptr<OpKernel> inner;
  INT8RT_RETURN_IF_ERROR(def->factory(info, &inner));
  out->reset(new ForwardS8Kernel(std::move(inner), def->name, hidden));
  return Status::OK();
}

}  // namespace

void register_int8_pool_ops(KernelRegistry& r) {
  const Device cpu = Device::kCpu;
  const Precision s8 = Precision::kInt8;
  r.add({"AveragePool", "", 1, 0, cpu, s8, "averagepool_s8", &make_average_pool_s8});
  r.add({"GlobalAveragePool", "", 1, 0, cpu, s8, "global_avgpool_s8", &make_global_average_pool_s8});
  r.add({"GlobalMaxPool", "", 1, 0, cpu, s8, "global_maxpool_s8", &make_global_max_pool_s8});
  for (const char* op : {"MaxPool", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Slice", "Split",
                         "Gather", "Identity", "Dropout", "DepthToSpace", "SpaceToDepth", "Resize", "Upsample", "Pad",
                         "Expand", "Tile"})
    r.add({op, "", 1, 0, cpu, s8, "forward_s8", &make_forward_s8});
}

}  // namespace int8ops
}  // namespace int8rt
