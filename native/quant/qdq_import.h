// QDQ import: runs a model that was quantized elsewhere (QuantizeLinear/DequantizeLinear pairs around float operators,
// as onnxruntime's quantize_static, TensorRT's explicit quantization and int8rt's own exportQDQ write them) on the
// QLinear int8 kernels (ops/qlinear_common.h), instead of emulating the Q/DQ nodes in float.
//
// It is the first pass of the engine build, before constant folding (which would turn DequantizeLinear of int8
// weights into float weights). Patterns, each folded into one quantized node that reads the 8-bit tensors directly:
//   DQ(x), DQ(w) [, DQ(b)] -> Conv [-> Add(DQ(r))] [-> Relu | Clip] -> Q    QLinearConv (residual, clamp)
//   DQ(a), DQ(b) [, DQ(c)] -> Gemm [-> Relu | Clip] -> Q                   com.microsoft QGemm (transA = 0)
//   DQ(a), DQ(b) -> MatMul [-> Relu | Clip] -> Q                           QLinearMatMul
//   DQ(a), DQ(b) -> Add | Mul -> Q                                         com.microsoft QLinearAdd | QLinearMul
//   DQ(x_i)... -> Concat -> Q                                               com.microsoft QLinearConcat
//   DQ(x) -> GlobalAveragePool | AveragePool -> Q          com.microsoft QLinearGlobalAveragePool | QLinearAveragePool
//   DQ(x) -> Reshape | Flatten | Squeeze | Unsqueeze | Transpose | MaxPool | Identity | Slice | DepthToSpace |
//            SpaceToDepth -> Q, with the same type, scale and zero point on both sides
//                                                                          the op on the 8-bit tensor (int8rt domain)
//   DQ(x) -> a unary elementwise op (Relu, Clip, Sigmoid, HardSwish, LeakyRelu, Tanh, ...) -> Q
//                                                                          a 256-entry table (int8rt QLookup), built
//                                                                          by running the float op on every input
// Activations must be quantized per tensor (int8 or uint8, any zero point); weights per tensor or per output channel;
// biases int32 (rescaled when their scale is not s_x * s_w) or float constants (quantized here). Every value inside a
// pattern must have exactly one reader and not be a graph output.
//
// What is left: a QuantizeLinear or DequantizeLinear of an activation that no pattern absorbed is a precision
// boundary, and keeps running as the float operator it is (the model's float semantics are preserved exactly); the
// engine's report shows it with `boundary` and the reason. A DequantizeLinear of a constant that nothing absorbed is
// folded to a float constant by the passes that follow.
//
// QOperator models (QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger and onnxruntime's QGemm/QLinearAdd/
// QLinearMul/QLinearConcat/QLinearGlobalAveragePool/QLinearAveragePool) need no rewriting: their nodes get int8
// decisions too.
#pragma once
#include <map>
#include <string>

#include "core/graph.h"
#include "core/passes.h"
#include "quant/quantize_pass.h"

namespace int8rt {

struct QdqImport {
  // Executed node name -> Precision::kInt8, for every node this pass wrote and every QOperator node of the model.
  // These override the planner's decisions (which leaves these nodes alone).
  std::map<std::string, NodeDecision> decisions;
  // ONNX QuantizeLinear / DequantizeLinear nodes of activations left in the graph -> why they were not folded.
  std::map<std::string, std::string> boundaries;
};

Status import_qdq(PassState& g, QdqImport* out);

// Opsets 23 to 25 changed QuantizeLinear and DequantizeLinear only by new element types and attributes that their
// kernels check (ops/quantize.cc). A model whose default-domain nodes are all QuantizeLinear or DequantizeLinear may
// therefore declare an opset up to kQdqOnlyMaxOpset; the engine's limit for any other model stays 22.
constexpr int kQdqOnlyMaxOpset = 25;
bool qdq_only_model(const ModelDef& model);

}  // namespace int8rt
