// Host side of the int8 CUDA kernels (native/kernels/cuda/*.cu): weight packing, parameter builders and launch
// wrappers that pick the grid and call Device::launch with the kernel's name. Portable C++ (no CUDA headers), compiled
// into the core everywhere; nothing here runs a kernel unless a Device was opened.
//
// Every kernel equals a CPU reference bit for bit (see kernels/cuda/params.h for the contract of each one):
//   launch_qgemm            qgemm_s8_{dp4a_64x64,imma_128x128}[_im2col]  ==  qgemm_ref_s8/_f32/_s32 (kernels/qgemm.h)
//                           on a matrix B, or (_im2col) on the implicit im2col of ops/int8_conv.cc
//   launch_dwconv_s8        dwconv_s8_direct                            ==  dwconv2d_s8_ref (kernels/dwconv-s8.h)
//   launch_eltwise          eltwise_*_s8, quantize_f32_s8, dequantize_s8_f32  ==  kernels/eltwise-s8.h's loops
//   launch_pool / launch_global_pool                                    ==  ops/int8_pool.cc
//   launch_gather_axes      gather_axes_b1/_b2/_b4/_b8, gather_axes_rescale_s8  ==  the CPU Transpose, Slice, Concat
//                           (int8: ops/int8_eltwise.cc's requantization) and Resize nearest (ops/cuda/movement.cc)
// The wrappers check what the kernels rely on (alignment, int32 index ranges, grid limits) and return
// kInvalidArgument / kUnsupported instead of launching out of bounds. Launches are asynchronous on `stream`.
#pragma once
#include <cstdint>
#include <vector>

#include "core/status.h"
#include "cuda/driver.h"
#include "kernels/cuda/params.h"

namespace int8rt {
namespace cuda {

using cuda_kernels::DwConvParams;
using cuda_kernels::EltwiseParams;
using cuda_kernels::GlobalPoolParams;
using cuda_kernels::PoolParams;
using cuda_kernels::QGemmParams;

// ---------------------------------------------------------------------------------------------------------------
// Int8 GEMM / implicit-GEMM convolution

enum class QGemmPath {
  kDp4a,  // qgemm_s8_dp4a_64x64[_im2col]: dp4a, 64 x 64 tiles, every device
  kImma,  // qgemm_s8_imma_128x128[_im2col]: int8 tensor cores (m16n8k32 on sm_80+, m8n8k16 on sm_75), 128 x 128 tiles
};
// The kernel launch_qgemm runs: per path one for a matrix B and one (`_im2col`) for a convolution's implicit im2col.
const char* qgemm_kernel_name(QGemmPath path, bool im2col = false);
// The path for a device: IMMA on compute capability 7.5 and later (every device the embedded kernels run on).
QGemmPath default_qgemm_path(const DeviceInfo& device);

// Packed weights: A [M, K] int8 with rows of qgemm_packed_lda(K) bytes (a multiple of 64), zero past K. The kernels
// read whole 64-k steps of A with 16-byte loads, so the device copy of a packing must be 16-byte aligned (cuMemAlloc
// memory is) and groups must sit M * lda elements apart (a_group_stride), which pack_qgemm_a produces when the
// groups' weights are consecutive rows of one [groups * M, K] matrix.
int64_t qgemm_packed_lda(int64_t K);
// rows x K int8 (leading dimension lda) -> rows x qgemm_packed_lda(K), zero padded.
std::vector<int8_t> pack_qgemm_a(const int8_t* A, int64_t lda, int64_t rows, int64_t K);

// Parameters of a plain GEMM C[M, N] = A[M, K] x B[K, N] (one problem, int8 output clamped to [-128, 127], no bias or
// residual): fill the device addresses and what else applies, then launch.
QGemmParams qgemm_params(int64_t M, int64_t N, int64_t K);

// A 2-D convolution x [batch, C, H, W] (NCHW int8) with weights [M, C / group, kh, kw] as ops/int8_conv.cc runs it:
// one GEMM problem per image and group, Y_g[M/g, OH*OW] = W_g x im2col(x_g). The output is y [batch, M, OH, OW].
struct Conv2dShape {
  int64_t batch = 1, C = 1, H = 1, W = 1;
  int64_t M = 1, group = 1;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;  // padding (top, left, bottom, right)
  int64_t OH() const;  // (H + pt + pb - ((kh - 1) * dh + 1)) / sh + 1
  int64_t OW() const;
};
// Fills everything but the device addresses (a, b, c, bias, multiplier, residual) and the epilogue (out_kind, lo, hi,
// residual_multiplier): dense NCHW x, y and residual, A packed per pack_qgemm_a with the groups' rows consecutive.
// A 1x1 stride-1 unpadded conv becomes a batched matrix GEMM (B = the input planes as they are), anything else the
// implicit im2col. kInvalidArgument for an inconsistent shape.
Status conv2d_qgemm_params(const Conv2dShape& s, QGemmParams* p);

// Int8 output clamp [qmin, qmax] as the kernels take it (intersected with [-128, 127], as kernels/qgemm-internal.h's
// s8_bounds does).
void set_s8_bounds(int32_t qmin, int32_t qmax, QGemmParams* p);

// Launches the GEMM. M, N or batch * groups of 0 launch nothing.
Status launch_qgemm(const Device& dev, CUstream stream, const QGemmParams& p, QGemmPath path);

// ---------------------------------------------------------------------------------------------------------------
// Depthwise convolution, elementwise, pooling

Status launch_dwconv_s8(const Device& dev, CUstream stream, const DwConvParams& p);

enum class EltwiseOp { kAdd, kMul, kRescale, kClamp, kLookup, kQuantize, kDequantize };
const char* eltwise_kernel_name(EltwiseOp op);
// Broadcast strides for inputs of dims a and b (numpy rules, right-aligned) against output dims y; sets n, rank,
// dims and strides (rank 0 with steps 0/1 when both inputs are flat or single values). At most 6 output dims.
Status eltwise_broadcast(const std::vector<int64_t>& y, const std::vector<int64_t>& a, const std::vector<int64_t>& b,
                         EltwiseParams* p);
Status launch_eltwise(const Device& dev, CUstream stream, EltwiseOp op, const EltwiseParams& p);

enum class PoolOp { kMax, kAverage };
Status launch_pool(const Device& dev, CUstream stream, PoolOp op, const PoolParams& p);
// Global pools; for kAverage, p.multiplier must be global_avgpool_multiplier(...).
Status launch_global_pool(const Device& dev, CUstream stream, PoolOp op, const GlobalPoolParams& p);
// s_x / ((float)size * s_y), as ops/int8_pool.cc computes it.
float global_avgpool_multiplier(float s_x, float s_y, int64_t size);

// ---------------------------------------------------------------------------------------------------------------
// Data movement (kernels/cuda/gather-axes.cu): Transpose, Slice, Concat, Resize nearest (ops/cuda/movement.cc)

using cuda_kernels::GatherAxesParams;
// gather_axes_b1 / _b2 / _b4 / _b8 for elements of `elem_bytes`, or gather_axes_rescale_s8 (`rescale`, 1 byte).
const char* gather_axes_kernel_name(int elem_bytes, bool rescale);
// Checks rank 1..6, dims positive with product n, the element size and the alignment of x, y and tables. n == 0
// launches nothing.
Status launch_gather_axes(const Device& dev, CUstream stream, int elem_bytes, bool rescale, const GatherAxesParams& p);

// ---------------------------------------------------------------------------------------------------------------
// Float32 (kernels/cuda/{eltwise-f32-broadcast,reduce-f32-rows,gemm-f32-tiled}.cu; contracts and tolerances in
// params.h): the float operators of ops/cuda/{eltwise,reduce,softmax,matmul}_f32.cc.

using cuda_kernels::EltwiseF32Params;
using cuda_kernels::GemmF32Params;
using cuda_kernels::RowsF32Params;
// Broadcast addressing of inputs a and b against y, as eltwise_broadcast (b may be {} for a unary pass).
Status eltwise_f32_broadcast(const std::vector<int64_t>& y, const std::vector<int64_t>& a,
                             const std::vector<int64_t>& b, EltwiseF32Params* p);
// eltwise_binary_f32 for op < kF32Relu, else eltwise_unary_f32. n == 0 launches nothing.
Status launch_eltwise_f32(const Device& dev, CUstream stream, const EltwiseF32Params& p);
// reduce_rows_f32 (softmax == false, op kRowsSum / kRowsMean / kRowsMax; empty rows give 0, NaN, -inf) or
// softmax_rows_f32 (cols >= 1). rows == 0 launches nothing.
Status launch_rows_f32(const Device& dev, CUstream stream, bool softmax, const RowsF32Params& p);
// gemm_f32_tiled_16x16. M, N or a batch of 0 launch nothing.
Status launch_gemm_f32(const Device& dev, CUstream stream, const GemmF32Params& p);

}  // namespace cuda
}  // namespace int8rt
