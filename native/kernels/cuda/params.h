// Parameter blocks of the int8 CUDA kernels (native/kernels/cuda/*.cu), shared by the device code and the host launch
// wrappers (native/cuda/kernels.cc). Plain structs of fixed-width scalars, passed by value as the kernels' only
// parameter: no CUDA headers, no pointers (device addresses are 64-bit integers, as the driver API's CUdeviceptr), so
// g++ and nvcc lay them out identically; the static_asserts below pin the sizes on both sides.
//
// Every kernel reproduces a CPU reference bit for bit (the references are named at each struct). Index arithmetic:
// 64-bit for whole-tensor offsets, 32-bit inside one image/plane; the host wrappers refuse shapes beyond that.
#pragma once

namespace int8rt {
namespace cuda_kernels {

typedef unsigned long long DevPtr;  // a device address (CUdeviceptr)

// ---------------------------------------------------------------------------------------------------------------
// Int8 GEMM and implicit-GEMM 2-D convolution: kernels qgemm_s8_dp4a_64x64 and qgemm_s8_imma_128x128 (conv == 0),
// qgemm_s8_dp4a_64x64_im2col and qgemm_s8_imma_128x128_im2col (conv == 1).
//
// Per problem z = blockIdx.z in [0, batch * groups) (img = z / groups, g = z % groups):
//   C_z[M, N] = epilogue(A_g[M, K] x B_z[K, N])
// A_g   int8 [M, lda] row-major at a + g * a_group_stride: the weights as pack_qgemm_a (native/cuda/kernels.h) lays
//       them out: lda a multiple of 64, columns K..lda-1 zero, base 16-byte aligned.
// B_z   conv == 0: int8 [K, N] row-major at b + img * b_batch_stride + g * b_group_stride, leading dimension ldb.
//       conv == 1: the im2col of the image at that address, channels-first planes [K / (kh*kw), IH, IW]:
//       B[k, n] with k = (c, ky, kx) (c-major, then ky, then kx), n = (oy, ox) (N == OH * OW) reads
//       x[c, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw], 0 outside the plane (int8 zero point 0): ops/int8_conv.cc's
//       Y_g[M/g, P] = W_g[M/g, K] * im2col, with K = C/g * kh * kw.
// C_z   at c + img * c_batch_stride + g * c_group_stride, leading dimension ldc; elements of out_kind's type.
// bias / multiplier: int32 / float at + g * M (bias may be 0). residual: int8 at residual + img * r_batch_stride +
//       g * r_group_stride, leading dimension ldr (may be 0).
// Epilogue (kernels/qgemm.h, exactly): acc wraps modulo 2^32; acc += bias[m]; v = (float)acc * multiplier[m];
//   residual: v = fmaf((float)r, residual_multiplier, v); s8: q = rne(min(max(v, lo), hi)) with a NaN going to lo
//   (lo/hi = qmin/qmax already intersected with [-128, 127]); f32: min(max(v, lo), hi) with NaN passing through
//   (lo/hi = fmin/fmax); s32: the raw acc (no bias, multiplier or residual).
enum QGemmOutKind { kQGemmOutS8 = 0, kQGemmOutF32 = 1, kQGemmOutS32 = 2 };

struct QGemmParams {
  DevPtr a, b, c, bias, multiplier, residual;
  long long M, N, K;
  long long lda, ldb, ldc, ldr;
  long long a_group_stride;                  // elements between groups' A
  long long b_batch_stride, b_group_stride;  // elements
  long long c_batch_stride, c_group_stride;  // elements of C's type
  long long r_batch_stride, r_group_stride;
  int batch, groups;                         // grid z = batch * groups
  int out_kind;                              // QGemmOutKind
  int conv;                                  // 0: B is a matrix; 1: implicit im2col (fields below)
  int IH, IW;                                // input plane
  int OH, OW;                                // output plane (N == OH * OW)
  int kh, kw, sh, sw, dh, dw, pt, pl;        // kernel, stride, dilation, leading padding
  float residual_multiplier;
  float lo, hi;                              // clamp bounds (see above)
  int reserved;
};

// ---------------------------------------------------------------------------------------------------------------
// Depthwise int8 2-D convolution: kernel dwconv_s8_direct (kernels/dwconv-s8.h's dwconv2d_s8_ref per plane).
// x [batch, C, H, W] -> y [batch, C, OH, OW]; w [C, kh * kw]; bias int32 [C] (may be 0); multiplier float [C];
// residual int8 [batch, C, OH, OW] dense (may be 0). Clamp to [qmin, qmax] (given as floats), NaN to qmin.
struct DwConvParams {
  DevPtr x, w, bias, multiplier, residual, y;
  int batch, C, H, W, OH, OW;
  int kh, kw, sh, sw, dh, dw, pt, pl;
  float residual_multiplier;
  float lo, hi;
  int reserved;
};

// ---------------------------------------------------------------------------------------------------------------
// Int8 elementwise (kernels/eltwise-s8.h): one kernel per operation, each over n outputs with numpy broadcasting:
// rank == 0: a flat loop, input i read at index i * a_step (a_step 0: one value broadcast, 1: a vector; same for b);
// rank 1..6: output dims `dims`, input element offsets sum_d idx_d * a_strides[d] (stride 0 on broadcast axes).
//   eltwise_add_s8       y = sat(rne(fmaf((float)b, mb, (float)a * ma)))
//   eltwise_mul_s8       y = sat(rne((float)(a * b) * ma))
//   eltwise_rescale_s8   y = sat(rne((float)a * ma))                           (Concat's requantization; b unused)
//   eltwise_clamp_s8     y = min(max(a, qlo), qhi)                             (Relu / Clip on the int8 grid)
//   eltwise_lookup_s8    y = table[a + 128]                                    (256-entry LUT at `table`)
//   quantize_f32_s8      y = rne(clamp(x / scale, -128 - zp, 127 - zp)) + zp, NaN -> -128   (a: float input)
//   dequantize_s8_f32    y = (float)(a - zp) * scale                           (a: int8 input, y float)
// sat(rne(v)) is min(max(v, -128), 127) then round half to even (ops/int8_common.h's round_sat_s8).
enum { kEltwiseMaxRank = 6 };
struct EltwiseParams {
  DevPtr a, b, y, table;
  long long n;
  int rank;
  int a_step, b_step;
  int qlo, qhi;                      // clamp
  int zp;                            // quantize / dequantize zero point
  float ma, mb;                      // multipliers
  float scale;                       // quantize / dequantize scale
  long long dims[kEltwiseMaxRank];
  long long a_strides[kEltwiseMaxRank];
  long long b_strides[kEltwiseMaxRank];
};

// ---------------------------------------------------------------------------------------------------------------
// Int8 2-D pooling over NCHW planes (1-D pools: H = OH = kh = 1): kernels maxpool_s8 and avgpool_s8
// (ops/int8_pool.cc's AveragePool: valid-tap int32 sums, count = valid taps, or with count_include_pad the taps
// inside [-pt, H + pb) x [-pl, W + pr); y = count > 0 ? sat(rne((float)sum * (s_x / ((float)count * s_y)))) : 0.
// MaxPool: the largest valid tap (-128 when a window has none), the input scale kept.
struct PoolParams {
  DevPtr x, y;
  long long planes;                  // batch * C
  int H, W, OH, OW;
  int kh, kw, sh, sw, dh, dw;
  int pt, pl, pb, pr;                // leading and trailing padding
  int count_include_pad;
  float s_x, s_y;
  int reserved;
};

// Global pools: one block per plane of `size` elements. global_avgpool_s8: y = sat(rne((float)sum * multiplier)),
// multiplier = s_x / ((float)size * s_y) computed on the host as ops/int8_pool.cc does; global_maxpool_s8: the max.
struct GlobalPoolParams {
  DevPtr x, y;
  long long planes;
  long long size;
  float multiplier;
  int reserved;
};

#if defined(__cplusplus) && __cplusplus >= 201103L
static_assert(sizeof(QGemmParams) == 6 * 8 + 14 * 8 + 16 * 4 + 4 * 4, "QGemmParams layout");
static_assert(sizeof(DwConvParams) == 6 * 8 + 14 * 4 + 4 * 4, "DwConvParams layout");
static_assert(sizeof(EltwiseParams) == 4 * 8 + 8 + 6 * 4 + 4 * 4 + 18 * 8, "EltwiseParams layout");
static_assert(sizeof(PoolParams) == 2 * 8 + 8 + 18 * 4, "PoolParams layout");
static_assert(sizeof(GlobalPoolParams) == 4 * 8 + 2 * 4, "GlobalPoolParams layout");
#endif

// ---------------------------------------------------------------------------------------------------------------
// Data movement by per-axis source tables (ops/cuda/movement.cc: Transpose, Slice, Concat, Resize nearest):
// kernels gather_axes_b1, _b2, _b4, _b8 (elements of that many bytes, moved unchanged) and gather_axes_rescale_s8
// (int8, y = sat(rne((float)x * multiplier)): ops/int8_eltwise.cc's Concat requantization).
// For every i in [0, n) with coordinates idx_d in `dims` (row-major, rank 1..6, n == the product of dims):
//   y[sum_d idx_d * y_strides[d]] = x[sum_d tables[table_offsets[d] + idx_d]]
// tables: int64 element offsets into x, dims[d] entries per axis (a transposed or sliced axis: idx * its input
// stride, a resized one: the nearest input index times the stride); y_strides: element strides of the output (its
// own dense strides, or a larger tensor's when the launch writes one slice of it, as Concat does per input).
// x and y are aligned to the element size; tables to 8 bytes.
enum { kGatherMaxRank = 6 };
struct GatherAxesParams {
  DevPtr x, y, tables;
  long long n;
  int rank;
  float multiplier;                        // gather_axes_rescale_s8 only
  long long dims[kGatherMaxRank];
  long long table_offsets[kGatherMaxRank];  // entries of `tables` before axis d's table
  long long y_strides[kGatherMaxRank];
};

#if defined(__cplusplus) && __cplusplus >= 201103L
static_assert(sizeof(GatherAxesParams) == 3 * 8 + 8 + 2 * 4 + 18 * 8, "GatherAxesParams layout");
#endif

// ---------------------------------------------------------------------------------------------------------------
// Float32 kernels (ops/cuda/{eltwise,reduce,softmax,matmul}_f32.cc). Unlike the int8 kernels these cannot equal the
// CPU operators bit for bit in general (other summation orders, the device's expf/erff/tanhf/powf), so each family
// states what it computes and how far from the CPU it may land (test/native/cuda_float_test.cc holds them to it):
// the operations that are one IEEE binary32 rounding (or a fixed chain of them) on both sides -- add, sub, mul, div,
// max, min, neg, abs, relu, leaky relu, clip, sqrt, reciprocal, square, cube -- are spelled with __fadd_rn /
// __fmul_rn / __fdiv_rn / __fsqrt_rn (which nvcc never contracts into an fma) and equal the CPU bit for bit; the
// ones built on a math library or an fma-able expression (exp, tanh, sigmoid, erf, pow, hard sigmoid, hard swish)
// stay within relative 1e-5 (1e-6 absolute near 0) of the CPU; reductions, softmax and GEMM within relative 1e-4.

// Elementwise float32: kernels eltwise_binary_f32 and eltwise_unary_f32, one thread per output (grid-stride), inputs
// addressed as EltwiseParams does (rank 0: flat with steps 0/1; rank 1..6: broadcast strides).
//   binary (op = EltwiseF32Op):  add a+b, sub a-b, mul a*b, div a/b, max, min (NaN from either side propagates, as
//                                the CPU's Max/Min), pow powf(a, b)
//   unary (b unused):            relu (v < 0 ? 0 : v), leaky_relu (v < 0 ? alpha*v : v), sigmoid 1/(1+exp(-v)),
//                                tanh, hard_sigmoid clamp(alpha*v + beta, 0, 1), hard_swish v*clamp(v/6 + 0.5, 0, 1),
//                                sqrt, exp, neg, abs, reciprocal 1/v, erf, clip (v < alpha ? alpha : v, then
//                                v > beta ? beta : v), square v*v, cube v*v*v (Pow with a constant exponent 2 / 3)
enum EltwiseF32Op {
  kF32Add = 0, kF32Sub, kF32Mul, kF32Div, kF32Max, kF32Min, kF32Pow,                        // binary
  kF32Relu = 16, kF32LeakyRelu, kF32Sigmoid, kF32Tanh, kF32HardSigmoid, kF32HardSwish, kF32Sqrt, kF32Exp, kF32Neg,
  kF32Abs, kF32Reciprocal, kF32Erf, kF32Clip, kF32Square, kF32Cube                          // unary
};
struct EltwiseF32Params {
  DevPtr a, b, y;
  long long n;
  int rank;
  int a_step, b_step;
  int op;                            // EltwiseF32Op
  float alpha, beta;                 // leaky_relu / hard_sigmoid / clip parameters
  long long dims[kEltwiseMaxRank];
  long long a_strides[kEltwiseMaxRank];
  long long b_strides[kEltwiseMaxRank];
};

// Row reductions and softmax over x [rows, cols] (row-major; cols >= 1 for softmax, 0 allowed for a reduction) -> y: kernels reduce_rows_f32 (y [rows]) and
// softmax_rows_f32 (y [rows, cols]); one 256-thread block per row (grid x = rows, <= 2^31 - 1). Order of operations
// (the emulator repeats it): thread t folds x[t], x[t + 256], ... in order into its partial, then partials combine
// as a tree (for s = 128, 64, ..., 1: p[t] = op(p[t], p[t + s]) for t < s).
//   reduce op 0 sum, 1 mean (sum / cols, one division), 2 max (NaN propagates)
//   softmax: m = max of the row (tree as above); e_j = expf(x_j - m); s = tree sum of e_j; y_j = e_j / s
// The CPU sums in another order: results agree within relative 1e-4 (absolute 1e-6 for probabilities near 0).
enum { kRowsSum = 0, kRowsMean = 1, kRowsMax = 2 };
struct RowsF32Params {
  DevPtr x, y;
  long long rows, cols;
  int op;
  int reserved;
};

// Batched float32 GEMM, kernel gemm_f32_tiled_16x16 (16 x 16 output tile per block, K in steps of 16 through shared
// memory). Grid: x = ceil(N / 16), y = ceil(M / 16), z = batch (the product of batch_dims; <= 65535).
// Problem z with batch coordinates idx_d (row-major over batch_dims[0..batch_rank)):
//   A_z = a + sum idx_d * a_bstrides[d], B_z likewise, C_z = c + z * M * N (dense [M, N]);
//   A(m, k) = trans_a ? A_z[k * lda + m] : A_z[m * lda + k];  B(k, n) = trans_b ? B_z[n * ldb + k] : B_z[k * ldb + n]
//   acc = 0; for k = 0 .. K-1 in order: acc = fmaf(A(m, k), B(k, n), acc)
//   v = alpha == 1 ? acc : alpha * acc;  bias: v = v + beta * bias[m * bias_sm + n * bias_sn]  (beta == 1: v + bias)
//   C_z(m, n) = min(max(v, lo), hi) with NaN passing (the fused Relu / Clip of ops/gemm.cc)
// The CPU's SGEMM accumulates in other orders and blocks: agreement within relative 1e-4 of sum |a*b|.
enum { kGemmMaxBatchRank = 4 };
struct GemmF32Params {
  DevPtr a, b, c, bias;
  long long M, N, K;
  long long lda, ldb;
  long long bias_sm, bias_sn;        // bias strides along m and n (0 on broadcast axes)
  long long batch_dims[kGemmMaxBatchRank];
  long long a_bstrides[kGemmMaxBatchRank];
  long long b_bstrides[kGemmMaxBatchRank];
  int batch_rank;                    // 0..4
  int trans_a, trans_b;
  float alpha, beta, lo, hi;
  int reserved;
};

#if defined(__cplusplus) && __cplusplus >= 201103L
static_assert(sizeof(EltwiseF32Params) == 3 * 8 + 8 + 4 * 4 + 2 * 4 + 18 * 8, "EltwiseF32Params layout");
static_assert(sizeof(RowsF32Params) == 2 * 8 + 2 * 8 + 2 * 4, "RowsF32Params layout");
static_assert(sizeof(GemmF32Params) == 4 * 8 + 7 * 8 + 12 * 8 + 3 * 4 + 4 * 4 + 4, "GemmF32Params layout");
#endif

}  // namespace cuda_kernels
}  // namespace int8rt
