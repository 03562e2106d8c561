// One registration function per operator family (one file each under native/ops/).
#pragma once
#include "core/op_kernel.h"

namespace int8rt {

void register_conv_ops(KernelRegistry& r);           // ops/conv.cc: Conv, ConvTranspose
void register_gemm_ops(KernelRegistry& r);           // ops/gemm.cc: Gemm, MatMul
void register_elementwise_ops(KernelRegistry& r);    // ops/elementwise.cc: binary/unary/activation/Cast/Where/...
void register_reduce_ops(KernelRegistry& r);         // ops/reduce.cc: Reduce*, ArgMax/ArgMin, Softmax, LogSoftmax, ...
void register_normalization_ops(KernelRegistry& r);  // ops/normalization.cc: BatchNormalization, InstanceNormalization, LRN, LayerNormalization
void register_pool_ops(KernelRegistry& r);           // ops/pool.cc: MaxPool, AveragePool, Global*Pool
void register_shape_ops(KernelRegistry& r);          // ops/shape.cc: Shape, Reshape, Transpose, Concat, Slice, Gather, Pad, ...
void register_resize_ops(KernelRegistry& r);         // ops/resize.cc: Resize, Upsample
void register_quantize_ops(KernelRegistry& r);        // ops/quantize.cc: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear
void register_int8_ops(KernelRegistry& r);            // ops/int8*.cc: the int8 kernels of quantized graphs (Precision::kInt8)
void register_qlinear_ops(KernelRegistry& r);         // ops/qlinear*.cc: QLinearConv/MatMul, ConvInteger, MatMulInteger,
                                                      // com.microsoft QGemm/QLinear*, the QDQ import's nodes

}  // namespace int8rt
