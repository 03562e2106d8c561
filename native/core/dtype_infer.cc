#include "core/dtype_infer.h"

#include <cstring>
#include <string>

namespace int8rt {
namespace {

bool in_list(const std::string& op, std::initializer_list<const char*> ops) {
  for (const char* o : ops)
    if (op == o) return true;
  return false;
}

DType input(const std::vector<DType>& in, size_t i) { return i < in.size() ? in[i] : DType::kUndefined; }

}  // namespace

DType infer_output_dtype(const NodeDef& node, const std::vector<DType>& in, size_t i) {
  if (!node.domain.empty()) return DType::kUndefined;
  const std::string& op = node.op_type;
  // Output 0 has input 0's type.
  static const std::initializer_list<const char*> kSameAsFirst = {
      "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Mod", "Neg", "Abs", "Relu", "LeakyRelu",
      "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Sqrt", "Exp", "Log", "Erf", "Reciprocal", "Clip",
      "Floor", "Ceil", "Round", "Sign", "Elu", "Selu", "Celu", "Softplus", "Softsign", "Gelu", "Mish", "Sin", "Cos",
      "Identity", "Dropout", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
      "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp", "Softmax", "LogSoftmax", "Hardmax", "MatMul", "Gemm", "Conv",
      "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization",
      "LayerNormalization", "InstanceNormalization", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose",
      "Slice", "Concat", "Split", "Gather", "GatherElements", "Expand", "Tile", "Pad", "Resize", "Upsample",
      "DepthToSpace", "SpaceToDepth", "CumSum", "TopK"};
  if (in_list(op, kSameAsFirst)) {
    if (op == "TopK" && i == 1) return DType::kInt64;
    return input(in, 0);
  }
  if (op == "Where") return input(in, 1);
  if (op == "Cast") {
    const Attribute* a = node.attr("to");
    if (a && a->type == Attribute::Type::kInt && dtype_valid(int32_t(a->i))) return static_cast<DType>(a->i);
    return DType::kUndefined;
  }
  if (op == "CastLike") return input(in, 1);
  if (in_list(op, {"Shape", "Size", "NonZero", "ArgMax", "ArgMin"})) return DType::kInt64;
  if (in_list(op, {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN",
                   "IsInf"}))
    return DType::kBool;
  if (op == "DequantizeLinear") {
    const DType s = input(in, 1);  // the scale's type (float32 unless the model says otherwise)
    return s == DType::kUndefined ? DType::kFloat32 : s;
  }
  if (op == "QuantizeLinear") {
    const Attribute* a = node.attr("output_dtype");
    if (a && a->type == Attribute::Type::kInt && a->i != 0)
      return dtype_valid(int32_t(a->i)) ? static_cast<DType>(a->i) : DType::kUndefined;
    return in.size() > 2 && !node.inputs[2].empty() ? input(in, 2) : DType::kUint8;
  }
  return DType::kUndefined;
}

}  // namespace int8rt
