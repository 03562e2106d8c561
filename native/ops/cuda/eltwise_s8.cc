// Elementwise int8 operators on a CUDA device, with the numbers of their CPU twins (ops/int8_eltwise.cc through
// ops/int8_common.h): Add and Mul (numpy broadcasting, up to 6 dims), Relu and Clip (a clamp on the int8 grid), the
// unary table ops and int8rt.LookupTable (256-entry table in the weight arena), and the planner's boundary
// QuantizeLinear / DequantizeLinear (per-tensor scale, zero point 0). An int8 constant operand of Add/Mul is staged
// in the weight arena.
#include <cstring>
#include <string>

#include "cuda/kernels.h"
#include "ops/cuda/cuda_common.h"
#include "ops/elementwise_internal.h"
#include "ops/int8_common.h"

namespace int8rt {
namespace cudaops {
namespace {

using cuda::EltwiseOp;
using cuda::EltwiseParams;

// A flat unary pass: y[i] = f(x[i]).
EltwiseParams flat(const Tensor& x, const Tensor& y) {
  EltwiseParams p{};
  p.a = x.device_address();
  p.y = y.device_address();
  p.n = x.numel();
  p.rank = 0;
  p.a_step = 1;
  p.b_step = 0;
  return p;
}

class BinaryS8Cuda final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, bool add, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    const cuda::BuildContext* bc;
    INT8RT_RETURN_IF_ERROR(build_context(info, &bc));
    if (info.num_inputs() != 2 || !info.has_input(0) || !info.has_input(1))
      return shape_error(node, "takes exactly two inputs");
    if (!node.attr_string("__activation", "").empty())
      return unsupported(node, "int8 " + node.op_type + " has no fused activation");
    std::unique_ptr<BinaryS8Cuda> k(new BinaryS8Cuda());
    k->add_ = add;
    k->weights_ = bc->weights;
    INT8RT_RETURN_IF_ERROR(int8ops::binary_s8_multipliers(node, add, &k->ma_, &k->mb_));
    for (size_t i = 0; i < 2; i++) {
      const Tensor* c = info.constant_input(i);
      if (!c) continue;
      if (c->dtype() != DType::kInt8)
        return unsupported(node, "the CUDA int8 " + node.op_type + " needs int8 constant operands");
      k->constant_[i] = true;
      k->const_dims_[i] = c->dims();
      k->const_offset_[i] = bc->weights->stage(c->raw(), c->nbytes());
    }
    *out = std::move(k);
    return Status::OK();
  }

  std::string kernel_name() const override { return add_ ? "add_s8_cuda" : "mul_s8_cuda"; }
  bool reads_input_data(size_t i) const override { return i < 2 && !constant_[i]; }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const cuda::ExecContext* ex;
    INT8RT_RETURN_IF_ERROR(exec_context(ctx, &ex));
    Dims dims[2];
    cuda::CUdeviceptr addr[2];
    for (size_t i = 0; i < 2; i++) {
      if (constant_[i]) {
        dims[i] = const_dims_[i];
        addr[i] = weights_->address(const_offset_[i]);
        continue;
      }
      const Tensor* t;
      INT8RT_RETURN_IF_ERROR(device_input(ctx, i, DType::kInt8, &t));
      dims[i] = t->dims();
      addr[i] = t->device_address();
    }
    Dims od;
    INT8RT_RETURN_IF_ERROR(eltwise::broadcast_dims(node, {&dims[0], &dims[1]}, &od));
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kInt8, od, &Y));
    if (Y->numel() == 0) return Status::OK();
    EltwiseParams p{};
    Status st = cuda::eltwise_broadcast(od, dims[0], dims[1], &p);
    if (!st.ok()) return unsupported(node, st.message());
    p.a = addr[0];
    p.b = addr[1];
    p.y = Y->device_address();
    p.ma = ma_;
    p.mb = mb_;
    return cuda::launch_eltwise(*ex->device, ex->stream(), add_ ? EltwiseOp::kAdd : EltwiseOp::kMul, p);
  }

 private:
  bool add_ = true;
  float ma_ = 0.f, mb_ = 0.f;
  const cuda::WeightArena* weights_ = nullptr;
  bool constant_[2] = {false, false};
  Dims const_dims_[2];
  size_t const_offset_[2] = {0, 0};
};

Status make_add(const KernelInfo& info, std::unique_ptr<OpKernel>* out) { return BinaryS8Cuda::create(info, true, out); }
Status make_mul(const KernelInfo& info, std::unique_ptr<OpKernel>* out) { return BinaryS8Cuda::create(info, false, out); }

// Relu, Clip, tables: y = f(x) elementwise on int8.
class UnaryS8Cuda final : public OpKernel {
 public:
  UnaryS8Cuda(EltwiseOp op, std::string name) : op_(op), name_(std::move(name)) {}
  std::string kernel_name() const override { return name_; }
  bool reads_input_data(size_t i) const override { return i == 0; }

  Status compute(OpContext& ctx) const override {
    const cuda::ExecContext* ex;
    INT8RT_RETURN_IF_ERROR(exec_context(ctx, &ex));
    const Tensor* X;
    INT8RT_RETURN_IF_ERROR(device_input(ctx, 0, DType::kInt8, &X));
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kInt8, X->dims(), &Y));
    if (Y->numel() == 0) return Status::OK();
    EltwiseParams p = flat(*X, *Y);
    p.qlo = lo_;
    p.qhi = hi_;
    if (op_ == EltwiseOp::kLookup) p.table = weights_->address(table_);
    return cuda::launch_eltwise(*ex->device, ex->stream(), op_, p);
  }

  EltwiseOp op_;
  std::string name_;
  int lo_ = -128, hi_ = 127;
  const cuda::WeightArena* weights_ = nullptr;
  size_t table_ = 0;
};

Status make_clamp(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  const cuda::BuildContext* bc;
  INT8RT_RETURN_IF_ERROR(build_context(info, &bc));
  int8_t lo, hi;
  INT8RT_RETURN_IF_ERROR(int8ops::clamp_s8_bounds(info, &lo, &hi));
  std::unique_ptr<UnaryS8Cuda> k(new UnaryS8Cuda(EltwiseOp::kClamp, "clamp_s8_cuda"));
  k->lo_ = lo;
  k->hi_ = hi;
  *out = std::move(k);
  return Status::OK();
}

Status make_table(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  const cuda::BuildContext* bc;
  INT8RT_RETURN_IF_ERROR(build_context(info, &bc));
  int8_t table[256];
  INT8RT_RETURN_IF_ERROR(int8ops::table_s8(info, table));
  std::unique_ptr<UnaryS8Cuda> k(new UnaryS8Cuda(EltwiseOp::kLookup, "table_s8_cuda"));
  k->weights_ = bc->weights;
  k->table_ = bc->weights->stage(table, sizeof(table));
  *out = std::move(k);
  return Status::OK();
}

// The planner's boundary QuantizeLinear (float -> int8) and DequantizeLinear (int8 -> float): per-tensor constant
// scale, zero point 0. Anything else (a model's own Q/DQ that could not be folded) stays on the CPU.
class BoundaryCuda final : public OpKernel {
 public:
  static Status create(const KernelInfo& info, bool quantize, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    const cuda::BuildContext* bc;
    INT8RT_RETURN_IF_ERROR(build_context(info, &bc));
    if (!node.attr_int("__boundary", 0))
      return unsupported(node, "no CUDA kernel for a model's own " + node.op_type + " (only int8rt's boundaries)");
    const Tensor* scale = info.constant_input(1);
    const Tensor* zp = info.num_inputs() > 2 ? info.constant_input(2) : nullptr;
    if (!scale || scale->dtype() != DType::kFloat32 || scale->numel() != 1 || !zp || zp->dtype() != DType::kInt8 ||
        zp->numel() != 1 || zp->data<int8_t>()[0] != 0)
      return unsupported(node, "the CUDA " + node.op_type + " needs a float32 scalar scale and an int8 zero point 0");
    std::unique_ptr<BoundaryCuda> k(new BoundaryCuda());
    k->quantize_ = quantize;
    k->scale_ = scale->data<float>()[0];
    *out = std::move(k);
    return Status::OK();
  }

  std::string kernel_name() const override { return quantize_ ? "quantize_f32_s8_cuda" : "dequantize_s8_f32_cuda"; }
  bool reads_input_data(size_t i) const override { return i == 0; }

  Status compute(OpContext& ctx) const override {
    const cuda::ExecContext* ex;
    INT8RT_RETURN_IF_ERROR(exec_context(ctx, &ex));
    const Tensor* X;
    INT8RT_RETURN_IF_ERROR(device_input(ctx, 0, quantize_ ? DType::kFloat32 : DType::kInt8, &X));
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(
        ctx.allocate_output(0, quantize_ ? DType::kInt8 : DType::kFloat32, X->dims(), &Y));
    if (Y->numel() == 0) return Status::OK();
    EltwiseParams p = flat(*X, *Y);
    p.scale = scale_;
    p.zp = 0;
    return cuda::launch_eltwise(*ex->device, ex->stream(), quantize_ ? EltwiseOp::kQuantize : EltwiseOp::kDequantize,
                                p);
  }

 private:
  bool quantize_ = true;
  float scale_ = 1.f;
};

Status make_quantize(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return BoundaryCuda::create(info, true, out);
}
Status make_dequantize(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return BoundaryCuda::create(info, false, out);
}

}  // namespace

void register_cuda_eltwise_ops(KernelRegistry& r) {
  const Device gpu = Device::kCuda;
  const Precision s8 = Precision::kInt8;
  r.add({"Add", "", 7, 0, gpu, s8, "add_s8_cuda", &make_add});
  r.add({"Mul", "", 7, 0, gpu, s8, "mul_s8_cuda", &make_mul});
  r.add({"Relu", "", 1, 0, gpu, s8, "clamp_s8_cuda", &make_clamp});
  r.add({"Clip", "", 1, 0, gpu, s8, "clamp_s8_cuda", &make_clamp});
  r.add({"LookupTable", "int8rt", 1, 0, gpu, s8, "table_s8_cuda", &make_table});
  for (const char* op : {"Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "LeakyRelu", "Elu", "Selu", "Celu", "Exp",
                         "Log", "Sqrt", "Softplus", "Softsign", "Gelu", "Erf", "Mish", "Swish", "ThresholdedRelu",
                         "Shrink", "Abs", "Neg", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "Tan",
                         "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh"})
    r.add({op, "", 1, 0, gpu, s8, "table_s8_cuda", &make_table});
  // The boundaries are float32 steps (they run at the precision of their float side).
  r.add({"QuantizeLinear", "", 10, 0, gpu, Precision::kFp32, "quantize_f32_s8_cuda", &make_quantize});
  r.add({"DequantizeLinear", "", 10, 0, gpu, Precision::kFp32, "dequantize_s8_f32_cuda", &make_dequantize});
}

}  // namespace cudaops
}  // namespace int8rt
