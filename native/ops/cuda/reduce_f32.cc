// ReduceSum, ReduceMean, ReduceMax (float32) on a CUDA device (kernels/cuda/reduce-f32-rows.cu, reduce_rows_f32):
// reductions over the innermost axes, which are rows of the contiguous input -- the LayerNorm patterns' ReduceMean
// over the last axis. The axes must be known at build (the attribute, or a constant `axes` input) and be the
// trailing ones whatever the input's rank: negative axes -1, -2, ... -k (in any order), or none (everything); other
// axes, noop_with_empty_axes, or types other than float32 stay on the CPU (ops/reduce.cc), whose shape rules
// (keepdims, axis range errors) these follow.
#include <algorithm>
#include <string>
#include <vector>

#include "cuda/kernels.h"
#include "ops/cuda/f32_common.h"

namespace int8rt {
namespace cudaops {
namespace {

namespace ck = cuda_kernels;

class ReduceF32Cuda final : public OpKernel {
 public:
  std::string kernel_name() const override { return name_; }
  bool reads_input_data(size_t i) const override { return i == 0; }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const cuda::ExecContext* ex;
    INT8RT_RETURN_IF_ERROR(exec_context(ctx, &ex));
    const Tensor* X;
    INT8RT_RETURN_IF_ERROR(device_input(ctx, 0, DType::kFloat32, &X));
    const Dims& dims = X->dims();
    const int64_t rank = int64_t(dims.size());
    const int64_t k = all_ ? rank : trailing_;
    if (k > rank)
      return shape_error(node, "axis " + std::to_string(-k) + " is out of range for an input of rank " +
                                   std::to_string(rank));
    int64_t rows = 1, cols = 1;
    Dims out;
    for (int64_t d = 0; d < rank; d++) {
      if (d < rank - k) {
        rows *= dims[size_t(d)];
        out.push_back(dims[size_t(d)]);
      } else {
        cols *= dims[size_t(d)];
        if (keepdims_) out.push_back(1);
      }
    }
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kFloat32, out, &Y));
    if (rows == 0) return Status::OK();
    ck::RowsF32Params p{};
    p.x = X->device_address();
    p.y = Y->device_address();
    p.rows = rows;
    p.cols = cols;
    p.op = op_;
    return cuda::launch_rows_f32(*ex->device, ex->stream(), false, p);
  }

  static Status create(const KernelInfo& info, int op, int axes_input_since, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    const cuda::BuildContext* bc;
    INT8RT_RETURN_IF_ERROR(build_context(info, &bc));
    if (!info.has_input(0)) return shape_error(node, "missing input 'data'");
    INT8RT_RETURN_IF_ERROR(float32_operand(info, *bc, 0));
    if (info.constant_input(0)) return unsupported(node, "a constant input is folded on the CPU");
    std::unique_ptr<ReduceF32Cuda> k(new ReduceF32Cuda());
    k->op_ = op;
    k->keepdims_ = node.attr_int("keepdims", 1) != 0;
    k->name_ = op == ck::kRowsSum ? "reduce_sum_f32_cuda" : op == ck::kRowsMean ? "reduce_mean_f32_cuda"
                                                                               : "reduce_max_f32_cuda";
    const bool axes_from_input = info.opset() >= axes_input_since;
    std::vector<int64_t> axes;
    bool have_axes = false;
    if (const Attribute* a = node.attr("axes")) {
      if (a->type != Attribute::Type::kInts && a->type != Attribute::Type::kInt)
        return shape_error(node, "attribute 'axes' must be a list of ints");
      axes = a->type == Attribute::Type::kInts ? a->ints : std::vector<int64_t>{a->i};
      have_axes = true;
    }
    if (axes_from_input && info.has_input(1)) {
      const Tensor* c = info.constant_input(1);
      if (!c) return unsupported(node, "the CUDA float32 " + node.op_type + " needs constant axes");
      if (c->dtype() != DType::kInt64 && c->dtype() != DType::kInt32) return dtype_error(node, "'axes' must be int64");
      axes.clear();
      for (int64_t i = 0; i < c->numel(); i++) axes.push_back(c->int_at(i));
      have_axes = true;
    }
    if (!have_axes || axes.empty()) {
      if (axes_from_input && node.attr_int("noop_with_empty_axes", 0) != 0)
        return unsupported(node, "noop_with_empty_axes runs on the CPU");
      k->all_ = true;
    } else {
      // Trailing whatever the rank: exactly -1 .. -k.
      std::sort(axes.begin(), axes.end());
      axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
      const int64_t n = int64_t(axes.size());
      for (int64_t i = 0; i < n; i++)
        if (axes[size_t(i)] != i - n)
          return unsupported(node, "the CUDA float32 " + node.op_type +
                                       " reduces the innermost axes given as -1, -2, ... only");
      k->trailing_ = n;
    }
    *out = std::move(k);
    return Status::OK();
  }

 private:
  int op_ = ck::kRowsSum;
  bool keepdims_ = true, all_ = false;
  int64_t trailing_ = 0;
  std::string name_;
};

template <int kOp, int kAxesInputSince>
Status make(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return ReduceF32Cuda::create(info, kOp, kAxesInputSince, out);
}

}  // namespace

void register_cuda_reduce_f32_ops(KernelRegistry& r) {
  const Device gpu = Device::kCuda;
  const Precision f32 = Precision::kFp32;
  r.add({"ReduceSum", "", 1, 0, gpu, f32, "reduce_sum_f32_cuda", &make<ck::kRowsSum, 13>, true});
  r.add({"ReduceMean", "", 1, 0, gpu, f32, "reduce_mean_f32_cuda", &make<ck::kRowsMean, 18>, true});
  r.add({"ReduceMax", "", 1, 0, gpu, f32, "reduce_max_f32_cuda", &make<ck::kRowsMax, 18>, true});
}

}  // namespace cudaops
}  // namespace int8rt
