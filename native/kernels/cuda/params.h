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

}  // namespace cuda_kernels
}  // namespace int8rt
