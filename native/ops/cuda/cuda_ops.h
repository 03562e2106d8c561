// Operators on a CUDA device (Device::kCuda kernels): thin host-side shells over the CUDA kernels of
// native/kernels/cuda, launched through cuda/kernels.h on the run's stream. The int8 ones take their build-time
// numbers from the same planning code as their CPU twins (ops/int8_plan.h, ops/int8_common.h), so that the two
// compute the same integers, and their kernels equal the CPU references bit for bit (test/native/cuda_kernels_test.cc,
// cuda_gather_test.cc). The float32 ones follow the CPU's shape rules; their results are the CPU's within the
// tolerances of test/native/cuda_float_test.cc (single-rounding elementwise ops exactly).
//
// Contract (core/op_kernel.h): the factory gets KernelInfo::cuda() (device, weight arena) and stages every constant
// it needs in the arena; compute gets OpContext::cuda() and device tensors for the activation inputs, allocates its
// outputs on the device and only queues work on the run's stream (it never waits). Constant inputs stay on the host.
//   conv_s8.cc     Conv (int8): implicit-GEMM (IMMA or dp4a) and depthwise, fused bias / Relu / Clip / residual
//   linear_s8.cc   Gemm, MatMul (int8): one GEMV problem per row of X
//   eltwise_s8.cc  Add, Mul, Relu, Clip, unary table ops and int8rt.LookupTable (int8); the planner's boundary
//                  QuantizeLinear / DequantizeLinear
//   pool_s8.cc     MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool (int8)
//   views.cc       Reshape, Flatten, Squeeze, Unsqueeze: new dims for the same device memory
//   movement.cc    Transpose, Slice, Concat, Resize / Upsample nearest (fp32 and int8): per-axis gather tables
//   eltwise_f32.cc, reduce_f32.cc, softmax_f32.cc, matmul_f32.cc
//                  float32 elementwise (binary with broadcasting, unary, Clip), trailing-axis reductions, Softmax,
//                  MatMul / Gemm, for nodes whose inputs are known float32 at build (core/dtype_infer.h)
//   memcpy.cc      the copies the engine inserts between host and device (not registered: core/engine.cc makes them)
#pragma once
#include <memory>

#include "core/op_kernel.h"

namespace int8rt {
namespace cudaops {

void register_cuda_ops(KernelRegistry& r);

std::unique_ptr<OpKernel> make_copy_to_device();
std::unique_ptr<OpKernel> make_copy_to_host();

}  // namespace cudaops
}  // namespace int8rt
