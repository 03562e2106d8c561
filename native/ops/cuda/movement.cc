// Data movement on a CUDA device: Transpose, Slice, Concat and Resize / Upsample (mode nearest), in fp32 precision
// (elements of any type of 1, 2, 4 or 8 bytes, moved unchanged) and in int8. All four are one kernel family,
// kernels/cuda/gather-axes.cu: per output axis a table of source element offsets, computed here on the host for
// each run from the input's dims, uploaded to scratch device memory on the run's stream.
//
// The shapes, checks and source elements are the CPU kernels' own: TransposeSpec / SliceSpec / concat_dims of
// ops/shape_common.h and the CPU Resize's nearest-index planning (ops/resize.h). Like the CPU kernels, a Transpose or
// Slice whose view is one contiguous run returns the input's memory (at an offset) instead of copying, and a Resize
// that maps every position onto itself returns the input. Int8 follows the CPU's int8 registrations: Transpose, Slice
// and Resize forward to the float kernels after checking that the output scale equals the input scale
// (ops/int8_pool.cc make_forward_s8); Concat requantizes each input whose scale differs from the output's,
// y = sat(rne((float)x * (s_i / s_y))) (ops/int8_eltwise.cc), and copies the others.
//
// Slice's starts / ends / axes / steps and Resize's roi / scales / sizes are read on the host, so they must be
// build-time constants. Every kernel here follows its input 0 (KernelDef::follows_input): data movement runs where
// its data is, so shape arithmetic on the CPU stays there.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/kernels.h"
#include "ops/cuda/cuda_common.h"
#include "ops/int8_common.h"
#include "ops/resize.h"
#include "ops/shape_common.h"

namespace int8rt {
namespace cudaops {
namespace {

using shape_ops::contiguous_strides;
using shape_ops::is_contiguous_view;

// Input i, present and (unless empty) in device memory, of any element type (fp32 precision) or int8.
Status movement_input(const OpContext& ctx, size_t i, bool s8, const Tensor** out) {
  if (s8) return device_input(ctx, i, DType::kInt8, out);
  const Tensor* t = ctx.input(i);
  if (!t)
    return Status(ErrorCode::kModel, ctx.node().describe() + ": required input " + std::to_string(i) + " is missing");
  if (t->numel() > 0 && !t->on_device())
    return Status(ErrorCode::kInternal, ctx.node().describe() + ": input " + std::to_string(i) +
                                            " is not in device memory");
  *out = t;
  return Status::OK();
}

// Int8 Transpose / Slice / Resize move elements, so every output keeps the input's scale (as on the CPU).
Status same_scale_s8(const NodeDef& node) {
  float s_x;
  INT8RT_RETURN_IF_ERROR(node_in_scale(node, 0, &s_x));
  for (size_t o = 0; o < node.outputs.size(); o++) {
    if (node.outputs[o].empty()) continue;
    float s_y;
    INT8RT_RETURN_IF_ERROR(node_out_scale(node, o, &s_y));
    if (s_y != s_x)
      return unsupported(node, "int8 " + node.op_type + " needs its output scales to equal the input scale");
  }
  return Status::OK();
}

// One gather launch: output coordinates over `dims`, per-axis source tables (element offsets from x), destination
// element strides.
struct Gather {
  Dims dims;
  std::vector<std::vector<int64_t>> tables;
  std::vector<int64_t> dst;
};

// The gather of a strided view (dims, source strides) into destination strides. Unit axes are dropped and neighbours
// that form one run on both sides merged, which shortens the index arithmetic and brings views of more than six
// axes with mergeable ones within the kernel's rank.
Gather strided_gather(const Dims& dims, const std::vector<int64_t>& src, const std::vector<int64_t>& dst) {
  Dims d;
  std::vector<int64_t> s, t;
  for (size_t a = 0; a < dims.size(); a++) {
    if (dims[a] == 1) continue;
    if (!d.empty() && s.back() == src[a] * dims[a] && t.back() == dst[a] * dims[a]) {
      d.back() *= dims[a];
      s.back() = src[a];
      t.back() = dst[a];
      continue;
    }
    d.push_back(dims[a]);
    s.push_back(src[a]);
    t.push_back(dst[a]);
  }
  Gather g;
  g.dims = d;
  g.dst = t;
  g.tables.resize(d.size());
  for (size_t a = 0; a < d.size(); a++) {
    g.tables[a].resize(size_t(d[a]));
    for (int64_t i = 0; i < d[a]; i++) g.tables[a][size_t(i)] = i * s[a];
  }
  return g;
}

// Uploads g's tables and launches the gather from x (device address) to y. `es` is the element size; `rescale`
// selects the int8 requantizing kernel with `multiplier`.
Status launch(OpContext& ctx, const cuda::ExecContext* ex, const Gather& g_in, uint64_t x, uint64_t y, size_t es,
              bool rescale, float multiplier) {
  const NodeDef& node = ctx.node();
  Gather g = g_in;
  // Unit axes (a table of one entry) fold into the source address.
  int64_t base = 0;
  {
    Gather k;
    for (size_t a = 0; a < g.dims.size(); a++) {
      if (g.dims[a] == 1) {
        base += g.tables[a][0];
        continue;
      }
      k.dims.push_back(g.dims[a]);
      k.tables.push_back(std::move(g.tables[a]));
      k.dst.push_back(g.dst[a]);
    }
    g = std::move(k);
  }
  if (g.dims.empty()) {  // one element
    g.dims = {1};
    g.tables = {{0}};
    g.dst = {0};
  }
  if (g.dims.size() > size_t(cuda_kernels::kGatherMaxRank))
    return unsupported(node, "the CUDA data movement handles up to " +
                                 std::to_string(int(cuda_kernels::kGatherMaxRank)) + " axes that do not merge, got " +
                                 std::to_string(g.dims.size()));
  cuda::GatherAxesParams p;
  std::memset(&p, 0, sizeof(p));
  p.rank = int(g.dims.size());
  p.n = 1;
  int64_t entries = 0;
  for (size_t a = 0; a < g.dims.size(); a++) {
    p.dims[a] = g.dims[a];
    p.table_offsets[a] = entries;
    p.y_strides[a] = g.dst[a];
    p.n *= g.dims[a];
    entries += g.dims[a];
  }
  Tensor host;
  INT8RT_RETURN_IF_ERROR(Tensor::create(DType::kInt64, {entries}, &host));
  int64_t* t = host.data<int64_t>();
  for (const std::vector<int64_t>& table : g.tables) t = std::copy(table.begin(), table.end(), t);
  void* tables = nullptr;
  INT8RT_RETURN_IF_ERROR(ctx.scratch(size_t(entries) * sizeof(int64_t), &tables));
  p.tables = uint64_t(reinterpret_cast<uintptr_t>(tables));
  INT8RT_RETURN_IF_ERROR(ex->device->upload(p.tables, host.raw(), host.nbytes(), ex->stream()));
  ex->run->hold(host);
  p.x = x + uint64_t(base * int64_t(es));
  p.y = y;
  p.multiplier = multiplier;
  return cuda::launch_gather_axes(*ex->device, ex->stream(), int(es), rescale, p);
}

// ---------------------------------------------------------------------------------------------------------------
// Transpose

class TransposeCuda final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, bool s8, std::unique_ptr<OpKernel>* out) {
    const cuda::BuildContext* bc;
    INT8RT_RETURN_IF_ERROR(build_context(info, &bc));
    if (s8) INT8RT_RETURN_IF_ERROR(same_scale_s8(info.node()));
    std::unique_ptr<TransposeCuda> k(new TransposeCuda());
    k->s8_ = s8;
    INT8RT_RETURN_IF_ERROR(k->spec_.init(info.node()));
    *out = std::move(k);
    return Status::OK();
  }
  std::string kernel_name() const override { return s8_ ? "transpose_s8_cuda" : "transpose_cuda"; }

  Status compute(OpContext& ctx) const override {
    const cuda::ExecContext* ex;
    INT8RT_RETURN_IF_ERROR(exec_context(ctx, &ex));
    const Tensor* x;
    INT8RT_RETURN_IF_ERROR(movement_input(ctx, 0, s8_, &x));
    Dims dims;
    std::vector<int64_t> strides;
    INT8RT_RETURN_IF_ERROR(spec_.view(ctx.node(), x->dims(), &dims, &strides));
    INT8RT_RETURN_IF_ERROR(shape_ops::check_movable(ctx.node(), x->dtype()));
    if (is_contiguous_view(dims, strides)) {
      ctx.set_output(0, x->reshaped(dims));
      return Status::OK();
    }
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), dims, &y));
    if (y->numel() == 0) return Status::OK();
    return launch(ctx, ex, strided_gather(dims, strides, contiguous_strides(dims)), x->device_address(),
                  y->device_address(), dtype_size(x->dtype()), false, 1.f);
  }

 private:
  bool s8_ = false;
  shape_ops::TransposeSpec spec_;
};

// ---------------------------------------------------------------------------------------------------------------
// Slice

class SliceCuda final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, bool s8, std::unique_ptr<OpKernel>* out) {
    const cuda::BuildContext* bc;
    INT8RT_RETURN_IF_ERROR(build_context(info, &bc));
    INT8RT_RETURN_IF_ERROR(constant_inputs_from(info, 1, "Slice"));
    if (s8) INT8RT_RETURN_IF_ERROR(same_scale_s8(info.node()));
    std::unique_ptr<SliceCuda> k(new SliceCuda());
    k->s8_ = s8;
    INT8RT_RETURN_IF_ERROR(k->spec_.init(info));
    *out = std::move(k);
    return Status::OK();
  }
  std::string kernel_name() const override { return s8_ ? "slice_s8_cuda" : "slice_cuda"; }

  Status compute(OpContext& ctx) const override {
    const cuda::ExecContext* ex;
    INT8RT_RETURN_IF_ERROR(exec_context(ctx, &ex));
    const Tensor* x;
    INT8RT_RETURN_IF_ERROR(movement_input(ctx, 0, s8_, &x));
    Dims dims;
    std::vector<int64_t> strides;
    int64_t offset = 0;
    INT8RT_RETURN_IF_ERROR(spec_.view(ctx, x->dims(), &dims, &strides, &offset));
    Tensor* y;
    if (dims_numel(dims) == 0) return ctx.allocate_output(0, x->dtype(), dims, &y);
    const size_t es = dtype_size(x->dtype());
    if (is_contiguous_view(dims, strides)) {
      ctx.set_output(0, Tensor(x->dtype(), dims, x->buffer(), x->byte_offset() + size_t(offset) * es));
      return Status::OK();
    }
    INT8RT_RETURN_IF_ERROR(shape_ops::check_movable(ctx.node(), x->dtype()));
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), dims, &y));
    return launch(ctx, ex, strided_gather(dims, strides, contiguous_strides(dims)),
                  x->device_address() + uint64_t(offset * int64_t(es)), y->device_address(), es, false, 1.f);
  }

 private:
  bool s8_ = false;
  shape_ops::SliceSpec spec_;
};

// ---------------------------------------------------------------------------------------------------------------
// Concat: one launch per non-empty input, writing its slab of the output (the output's strides, its offset along
// the axis).

class ConcatCuda final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, bool s8, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    const cuda::BuildContext* bc;
    INT8RT_RETURN_IF_ERROR(build_context(info, &bc));
    if (!node.has_attr("axis")) return shape_error(node, "attribute 'axis' is required");
    std::unique_ptr<ConcatCuda> k(new ConcatCuda());
    k->s8_ = s8;
    k->axis_ = node.attr_int("axis", 0);
    if (s8)  // the CPU Concat's numbers (ops/int8_eltwise.cc)
      INT8RT_RETURN_IF_ERROR(int8ops::concat_s8_multipliers(node, info.num_inputs(), &k->multiplier_, &k->copy_));
    *out = std::move(k);
    return Status::OK();
  }
  std::string kernel_name() const override { return s8_ ? "concat_s8_cuda" : "concat_cuda"; }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const cuda::ExecContext* ex;
    INT8RT_RETURN_IF_ERROR(exec_context(ctx, &ex));
    const size_t n = ctx.num_inputs();
    if (n == 0) return shape_error(node, "needs at least one input");
    if (s8_ && n != copy_.size()) return shape_error(node, "input count changed since the kernel was built");
    std::vector<const Tensor*> in(n);
    for (size_t i = 0; i < n; i++) INT8RT_RETURN_IF_ERROR(movement_input(ctx, i, s8_, &in[i]));
    INT8RT_RETURN_IF_ERROR(shape_ops::check_movable(node, in[0]->dtype()));
    int64_t axis;
    Dims od;
    INT8RT_RETURN_IF_ERROR(shape_ops::concat_dims(node, axis_, in, &axis, &od));
    Tensor* Y;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, in[0]->dtype(), od, &Y));
    if (Y->numel() == 0) return Status::OK();
    const size_t es = dtype_size(in[0]->dtype());
    const std::vector<int64_t> dst = contiguous_strides(od);
    int64_t at = 0;  // the input's first index along the axis
    for (size_t i = 0; i < n; i++) {
      const Tensor& x = *in[i];
      const int64_t len = x.dim(size_t(axis));
      if (x.numel() > 0) {
        const uint64_t y = Y->device_address() + uint64_t(at * dst[size_t(axis)] * int64_t(es));
        const bool rescale = s8_ && !copy_[i];
        INT8RT_RETURN_IF_ERROR(launch(ctx, ex, strided_gather(x.dims(), contiguous_strides(x.dims()), dst),
                                      x.device_address(), y, es, rescale, rescale ? multiplier_[i] : 1.f));
      }
      at += len;
    }
    return Status::OK();
  }

 private:
  bool s8_ = false;
  int64_t axis_ = 0;
  std::vector<float> multiplier_;
  std::vector<bool> copy_;
};

// ---------------------------------------------------------------------------------------------------------------
// Resize / Upsample, mode nearest: table_d[o] = (the CPU's nearest input index of position o) * input stride.

class ResizeCuda final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, bool s8, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    const cuda::BuildContext* bc;
    INT8RT_RETURN_IF_ERROR(build_context(info, &bc));
    INT8RT_RETURN_IF_ERROR(constant_inputs_from(info, 1, node.op_type.c_str()));
    if (s8) INT8RT_RETURN_IF_ERROR(same_scale_s8(node));
    if (node.attr_string("coordinate_transformation_mode", "") == "tf_crop_and_resize")
      return unsupported(node, "the CUDA " + node.op_type + " does not extrapolate (tf_crop_and_resize)");
    std::unique_ptr<ResizeCuda> k(new ResizeCuda());
    k->s8_ = s8;
    INT8RT_RETURN_IF_ERROR(make_resize_nearest_planner(info, &k->planner_));
    *out = std::move(k);
    return Status::OK();
  }
  std::string kernel_name() const override { return s8_ ? "resize_nearest_s8_cuda" : "resize_nearest_cuda"; }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const cuda::ExecContext* ex;
    INT8RT_RETURN_IF_ERROR(exec_context(ctx, &ex));
    const Tensor* x;
    INT8RT_RETURN_IF_ERROR(movement_input(ctx, 0, s8_, &x));
    INT8RT_RETURN_IF_ERROR(shape_ops::check_movable(node, x->dtype()));
    Dims od;
    std::vector<std::vector<int64_t>> index;
    bool identity = false;
    INT8RT_RETURN_IF_ERROR(planner_->nearest_indices(ctx, *x, &od, &index, &identity));
    if (identity) {
      ctx.set_output(0, *x);
      return Status::OK();
    }
    Tensor* y;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, x->dtype(), od, &y));
    if (y->numel() == 0) return Status::OK();
    const std::vector<int64_t> src = contiguous_strides(x->dims());
    Gather g;
    g.dims = od;
    g.dst = contiguous_strides(od);
    g.tables = std::move(index);
    for (size_t a = 0; a < od.size(); a++)
      for (int64_t& v : g.tables[a]) v *= src[a];
    return launch(ctx, ex, g, x->device_address(), y->device_address(), dtype_size(x->dtype()), false, 1.f);
  }

 private:
  bool s8_ = false;
  std::unique_ptr<ResizeNearestPlanner> planner_;
};

template <class K, bool S8>
Status make(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return K::create(info, S8, out);
}

}  // namespace

void register_cuda_movement_ops(KernelRegistry& r) {
  const Device gpu = Device::kCuda;
  const Precision f32 = Precision::kFp32, s8 = Precision::kInt8;
  // Opset ranges of the CPU kernels (ops/shape.cc, ops/shape_slice.cc, ops/resize.cc); data follows input 0.
  r.add({"Transpose", "", 1, 0, gpu, f32, "transpose_cuda", &make<TransposeCuda, false>, true});
  r.add({"Transpose", "", 1, 0, gpu, s8, "transpose_s8_cuda", &make<TransposeCuda, true>, true});
  r.add({"Slice", "", 1, 0, gpu, f32, "slice_cuda", &make<SliceCuda, false>, true});
  r.add({"Slice", "", 1, 0, gpu, s8, "slice_s8_cuda", &make<SliceCuda, true>, true});
  r.add({"Concat", "", 4, 0, gpu, f32, "concat_cuda", &make<ConcatCuda, false>, true});
  r.add({"Concat", "", 4, 0, gpu, s8, "concat_s8_cuda", &make<ConcatCuda, true>, true});
  r.add({"Resize", "", 10, 0, gpu, f32, "resize_nearest_cuda", &make<ResizeCuda, false>, true});
  r.add({"Resize", "", 10, 0, gpu, s8, "resize_nearest_s8_cuda", &make<ResizeCuda, true>, true});
  r.add({"Upsample", "", 7, 9, gpu, f32, "upsample_nearest_cuda", &make<ResizeCuda, false>, true});
  r.add({"Upsample", "", 7, 9, gpu, s8, "upsample_nearest_s8_cuda", &make<ResizeCuda, true>, true});
}

}  // namespace cudaops
}  // namespace int8rt
