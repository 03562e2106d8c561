// Elementwise float32 operators on a CUDA device (kernels/cuda/eltwise-f32-broadcast.cu): Add, Sub, Mul, Div, Pow,
// Max, Min (two inputs, numpy broadcasting up to 6 output dims) and the unary Relu, LeakyRelu, Sigmoid, Tanh,
// HardSigmoid, HardSwish, Sqrt, Exp, Neg, Abs, Reciprocal, Erf, Clip. Shapes, attributes and their defaults follow
// the CPU operators (ops/elementwise_binary.cc, ops/elementwise_unary.cc); as there, Pow with a constant scalar
// exponent 2, 3, 0.5 or -1 is x*x, x*x*x, sqrt(x) or 1/x. Constant operands are staged in the weight arena. Only
// float32: anything else (integer shape arithmetic, bounds of another type, inputs not known float32 at build) is
// kUnsupported here and runs on the CPU.
#include <cmath>
#include <limits>
#include <string>

#include "cuda/kernels.h"
#include "ops/cuda/f32_common.h"
#include "ops/elementwise_internal.h"

namespace int8rt {
namespace cudaops {
namespace {

namespace ck = cuda_kernels;

class EltwiseF32Cuda final : public OpKernel {
 public:
  std::string kernel_name() const override { return name_; }
  bool reads_input_data(size_t i) const override { return i < 2 && !operand_[i].constant; }

  Status compute(OpContext& ctx) const override {
    const NodeDef& node = ctx.node();
    const cuda::ExecContext* ex;
    INT8RT_RETURN_IF_ERROR(exec_context(ctx, &ex));
    Dims dims[2];
    cuda::CUdeviceptr addr[2] = {0, 0};
    for (size_t i = 0; i < (binary_ ? 2u : 1u); i++)
      INT8RT_RETURN_IF_ERROR(resolve_f32_operand(ctx, weights_, i, operand_[i], &dims[i], &addr[i]));
    Dims od = dims[0];
    if (binary_) INT8RT_RETURN_IF_ERROR(eltwise::broadcast_dims(node, {&dims[0], &dims[1]}, &od));
    Tensor* Y = nullptr;
    INT8RT_RETURN_IF_ERROR(ctx.allocate_output(0, DType::kFloat32, od, &Y));
    if (Y->numel() == 0) return Status::OK();
    // Pow with a special constant exponent: the unary form when it does not change the shape (as the CPU's).
    const bool as_unary = pow_unary_ >= 0 && od == dims[0];
    ck::EltwiseF32Params p{};
    Status st = cuda::eltwise_f32_broadcast(od, dims[0], binary_ && !as_unary ? dims[1] : Dims{}, &p);
    if (!st.ok()) return unsupported(node, st.message());
    p.a = addr[0];
    p.b = binary_ && !as_unary ? addr[1] : 0;
    p.y = Y->device_address();
    p.op = as_unary ? pow_unary_ : op_;
    p.alpha = alpha_;
    p.beta = beta_;
    return cuda::launch_eltwise_f32(*ex->device, ex->stream(), p);
  }

  static Status create(const KernelInfo& info, int op, std::unique_ptr<OpKernel>* out) {
    const NodeDef& node = info.node();
    const cuda::BuildContext* bc;
    INT8RT_RETURN_IF_ERROR(build_context(info, &bc));
    if (!node.attr_string("__activation", "").empty())
      return unsupported(node, "the CUDA float32 " + node.op_type + " has no fused activation");
    std::unique_ptr<EltwiseF32Cuda> k(new EltwiseF32Cuda());
    k->op_ = op;
    k->binary_ = op <= ck::kF32Pow;
    k->weights_ = bc->weights;
    k->name_ = node.op_type;
    for (auto& c : k->name_) c = char(std::tolower(static_cast<unsigned char>(c)));
    k->name_ += "_f32_cuda";
    const size_t n_data = k->binary_ ? 2 : 1;
    if (!info.has_input(0) || (k->binary_ && (info.num_inputs() != 2 || !info.has_input(1))))
      return k->binary_ && (node.op_type == "Max" || node.op_type == "Min")
                 ? unsupported(node, "the CUDA float32 " + node.op_type + " takes exactly two inputs")
                 : shape_error(node, k->binary_ ? "expects two inputs" : "missing input");
    if (op == ck::kF32Pow) {
      // A constant scalar exponent of any numeric type that the CPU turns into a cheaper loop.
      const Tensor* e = info.constant_input(1);
      if (e && e->numel() == 1 &&
          (e->dtype() == DType::kFloat32 || e->dtype() == DType::kFloat64 || e->dtype() == DType::kFloat16)) {
        const double v = e->float_at(0);
        k->pow_unary_ = v == 2 ? ck::kF32Square : v == 3 ? ck::kF32Cube : v == 0.5 ? ck::kF32Sqrt
                                                                         : v == -1 ? ck::kF32Reciprocal : -1;
      }
      if (k->pow_unary_ >= 0 && e->dtype() != DType::kFloat32) {
        // Only the unary form can serve it; the operand staged for a broadcasting run is the float32 value.
        const float v = float(e->float_at(0));
        INT8RT_RETURN_IF_ERROR(stage_scalar_input0(info, *bc, k.get()));
        k->operand_[1].constant = true;
        k->operand_[1].dims = e->dims();
        k->operand_[1].offset = bc->weights->stage(&v, sizeof(v));
        *out = std::move(k);
        return Status::OK();
      }
    }
    for (size_t i = 0; i < n_data; i++) INT8RT_RETURN_IF_ERROR(stage_f32_operand(info, *bc, i, &k->operand_[i]));
    if (!k->binary_) {
      // Extra inputs (Clip's bounds) must be float32 constants, read here.
      for (size_t i = 1; i < info.num_inputs(); i++)
        if (info.has_input(i) && !info.constant_input(i))
          return unsupported(node, "the CUDA float32 " + node.op_type + " needs input " + std::to_string(i) +
                                       " to be a constant");
    }
    INT8RT_RETURN_IF_ERROR(k->parse_attributes(info));
    *out = std::move(k);
    return Status::OK();
  }

 private:
  static Status stage_scalar_input0(const KernelInfo& info, const cuda::BuildContext& bc, EltwiseF32Cuda* k) {
    return stage_f32_operand(info, bc, 0, &k->operand_[0]);
  }

  Status parse_attributes(const KernelInfo& info) {
    const NodeDef& node = info.node();
    switch (op_) {
      case ck::kF32LeakyRelu: alpha_ = node.attr_float("alpha", 0.01f); break;
      case ck::kF32HardSigmoid:
        alpha_ = node.attr_float("alpha", 0.2f);
        beta_ = node.attr_float("beta", 0.5f);
        break;
      case ck::kF32Clip:
        // ops/elementwise_unary.cc ClipKernel: attributes before opset 11, optional scalar inputs (same type as x,
        // absent = unbounded) from 11 on. A bound the CPU would reject goes to the CPU, which reports it.
        if (info.opset() < 11) {
          alpha_ = node.attr_float("min", -std::numeric_limits<float>::max());
          beta_ = node.attr_float("max", std::numeric_limits<float>::max());
        } else {
          alpha_ = -INFINITY;
          beta_ = INFINITY;
          for (size_t i = 1; i <= 2; i++) {
            const Tensor* b = info.has_input(i) ? info.constant_input(i) : nullptr;
            if (!b) continue;
            if (b->dtype() != DType::kFloat32 || b->numel() != 1)
              return unsupported(node, "the CUDA float32 Clip needs float32 scalar bounds");
            (i == 1 ? alpha_ : beta_) = b->data<float>()[0];
          }
        }
        break;
      default: break;
    }
    return Status::OK();
  }

  int op_ = ck::kF32Add;
  int pow_unary_ = -1;  // the unary op Pow becomes with its constant exponent, or -1
  bool binary_ = true;
  float alpha_ = 0.f, beta_ = 0.f;
  std::string name_;
  const cuda::WeightArena* weights_ = nullptr;
  F32Operand operand_[2];
};

template <int kOp>
Status make(const KernelInfo& info, std::unique_ptr<OpKernel>* out) {
  return EltwiseF32Cuda::create(info, kOp, out);
}

}  // namespace

void register_cuda_eltwise_f32_ops(KernelRegistry& r) {
  const Device gpu = Device::kCuda;
  const Precision f32 = Precision::kFp32;
  r.add({"Add", "", 7, 0, gpu, f32, "add_f32_cuda", &make<ck::kF32Add>, true});
  r.add({"Sub", "", 7, 0, gpu, f32, "sub_f32_cuda", &make<ck::kF32Sub>, true});
  r.add({"Mul", "", 7, 0, gpu, f32, "mul_f32_cuda", &make<ck::kF32Mul>, true});
  r.add({"Div", "", 7, 0, gpu, f32, "div_f32_cuda", &make<ck::kF32Div>, true});
  r.add({"Pow", "", 7, 0, gpu, f32, "pow_f32_cuda", &make<ck::kF32Pow>, true});
  r.add({"Max", "", 8, 0, gpu, f32, "max_f32_cuda", &make<ck::kF32Max>, true});
  r.add({"Min", "", 8, 0, gpu, f32, "min_f32_cuda", &make<ck::kF32Min>, true});
  r.add({"Relu", "", 6, 0, gpu, f32, "relu_f32_cuda", &make<ck::kF32Relu>, true});
  r.add({"LeakyRelu", "", 6, 0, gpu, f32, "leakyrelu_f32_cuda", &make<ck::kF32LeakyRelu>, true});
  r.add({"Sigmoid", "", 6, 0, gpu, f32, "sigmoid_f32_cuda", &make<ck::kF32Sigmoid>, true});
  r.add({"Tanh", "", 6, 0, gpu, f32, "tanh_f32_cuda", &make<ck::kF32Tanh>, true});
  r.add({"HardSigmoid", "", 6, 0, gpu, f32, "hardsigmoid_f32_cuda", &make<ck::kF32HardSigmoid>, true});
  r.add({"HardSwish", "", 14, 0, gpu, f32, "hardswish_f32_cuda", &make<ck::kF32HardSwish>, true});
  r.add({"Sqrt", "", 6, 0, gpu, f32, "sqrt_f32_cuda", &make<ck::kF32Sqrt>, true});
  r.add({"Exp", "", 6, 0, gpu, f32, "exp_f32_cuda", &make<ck::kF32Exp>, true});
  r.add({"Neg", "", 6, 0, gpu, f32, "neg_f32_cuda", &make<ck::kF32Neg>, true});
  r.add({"Abs", "", 6, 0, gpu, f32, "abs_f32_cuda", &make<ck::kF32Abs>, true});
  r.add({"Reciprocal", "", 6, 0, gpu, f32, "reciprocal_f32_cuda", &make<ck::kF32Reciprocal>, true});
  r.add({"Erf", "", 9, 0, gpu, f32, "erf_f32_cuda", &make<ck::kF32Erf>, true});
  r.add({"Clip", "", 6, 0, gpu, f32, "clip_f32_cuda", &make<ck::kF32Clip>, true});
}

}  // namespace cudaops
}  // namespace int8rt
