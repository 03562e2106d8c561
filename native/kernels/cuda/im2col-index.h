// Index math of the GEMM kernels' B operand (kernels/cuda/common.cuh), shared with the host: under nvcc the
// functions are __host__ __device__, under a plain C++ compiler ordinary inline functions, so that the CPU test suite
// (test/native/cuda_kernels_test.cc, CudaKernelsHost) checks the exact code the kernels run against ops/conv_params.h's
// im2col on machines without a GPU. Guarded and `static inline`: this header is part of the kernels' unity build.
#ifndef INT8RT_KERNELS_CUDA_IM2COL_INDEX_H_
#define INT8RT_KERNELS_CUDA_IM2COL_INDEX_H_

#include "params.h"

#if defined(__CUDACC__)
#define INT8RT_HD __host__ __device__ __forceinline__
#else
#define INT8RT_HD inline
#endif

namespace int8rt {
namespace cuda_kernels {

// B operand of the GEMM kernels: the element B[k, n] of one problem, for a matrix or an implicit im2col, read
// through a per-k-tile table in shared memory so that the (c, ky, kx) decomposition of k is done once per k and tile
// rather than once per element:
//   off[k]: element offset of row k's base in the image (conv: c*IH*IW + ky*dh*IW + kx*dw; matrix: k*ldb)
//   dy[k], dx[k]: the tap's displacement (conv: ky*dh, kx*dw; matrix: 0, 0); rows k >= K get dy = kInvalidTap, so
//   every bounds test fails and they read 0.
// A column n carries (iy0, ix0) = (oy*sh - pt, ox*sw - pl) and base = iy0*IW + ix0 (matrix: iy0 = ix0 = 0,
// base = n); columns n >= N get iy0 = kInvalidTap. Then B[k, n] = inside ? x[off[k] + base] : 0 with
// inside = (unsigned)(iy0 + dy[k]) < IH && (unsigned)(ix0 + dx[k]) < IW (matrix: IH = IW = 1).
// Index math is int32: the host wrappers refuse images (or B matrices) of 2^31 elements or more.
constexpr int kInvalidTap = -(1 << 30);

struct BColumn {
  int iy0, ix0, base;
};

static INT8RT_HD BColumn b_column(const QGemmParams& p, long long n) {
  BColumn col;
  if (n >= p.N) {
    col.iy0 = kInvalidTap;
    col.ix0 = 0;
    col.base = 0;
  } else if (p.conv) {
    const int ni = int(n);
    const int oy = ni / p.OW, ox = ni - oy * p.OW;
    col.iy0 = oy * p.sh - p.pt;
    col.ix0 = ox * p.sw - p.pl;
    col.base = col.iy0 * p.IW + col.ix0;
  } else {
    col.iy0 = 0;
    col.ix0 = 0;
    col.base = int(n);
  }
  return col;
}

// Fills the table entry of row k (k may be >= K).
static INT8RT_HD void b_row_entry(const QGemmParams& p, long long k, int* off, int* dy, int* dx) {
  if (k >= p.K) {
    *off = 0;
    *dy = kInvalidTap;
    *dx = 0;
  } else if (p.conv) {
    const int ki = int(k), taps = p.kh * p.kw;
    const int c = ki / taps, r = ki - c * taps;
    const int ky = r / p.kw, kx = r - ky * p.kw;
    *dy = ky * p.dh;
    *dx = kx * p.dw;
    *off = c * (p.IH * p.IW) + *dy * p.IW + *dx;
  } else {
    *off = int(k * p.ldb);
    *dy = 0;
    *dx = 0;
  }
}

static INT8RT_HD int b_value(const signed char* img, const BColumn& col, int off, int dy, int dx, int IH, int IW) {
  const bool inside = unsigned(col.iy0 + dy) < unsigned(IH) && unsigned(col.ix0 + dx) < unsigned(IW);
  return inside ? int(img[off + col.base]) : 0;
}

// B[k, n] of one problem (img: its image or matrix), as the kernels read it through the table: the row entry of k,
// the column entry of n. (The kernels fill the entries once per tile; this composes them for the host test.)
static INT8RT_HD int b_element(const QGemmParams& p, const signed char* img, long long k, long long n) {
  int off, dy, dx;
  b_row_entry(p, k, &off, &dy, &dx);
  return b_value(img, b_column(p, n), off, dy, dx, p.conv ? p.IH : 1, p.conv ? p.IW : 1);
}

}  // namespace cuda_kernels
}  // namespace int8rt

#endif  // INT8RT_KERNELS_CUDA_IM2COL_INDEX_H_
