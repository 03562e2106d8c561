// Depthwise 2-D convolution (one filter per channel, NCHW): the direct kernels behind Conv when
// group == C_in == C_out. An im2col+GEMM would do K = kh*kw multiply-adds per column copied, so the direct
// loop wins by far for the 3x3 / 5x5 depthwise layers of MobileNet and PP-OCR.
//
// The unit of work is one channel plane; the operator parallelises over (image, channel) planes.
#pragma once
#include <cmath>
#include <cstdint>

namespace int8rt {

struct DwConvPlane {
  int64_t H = 0, W = 0;    // input plane
  int64_t OH = 0, OW = 0;  // output plane
  int64_t kh = 1, kw = 1;
  int64_t sh = 1, sw = 1;  // strides, >= 1
  int64_t dh = 1, dw = 1;  // dilations, >= 1
  int64_t pad_t = 0, pad_l = 0;  // leading padding; trailing padding is implied by OH/OW
  float clip_min = -INFINITY, clip_max = INFINITY;
};

// out[oy,ox] = clamp(bias + residual[oy,ox] + sum_{ky,kx} w[ky*kw+kx] * in[oy*sh-pad_t+ky*dh, ox*sw-pad_l+kx*dw])
// with taps outside the input reading zero. `residual` (OH x OW, dense) may be null. `in` is H x W dense, `out`
// is OH x OW dense.
void dwconv2d_f32(const DwConvPlane& p, const float* in, const float* w, float bias, const float* residual,
                  float* out);

// The portable implementation (also the test oracle for the SIMD one).
void dwconv2d_f32_ref(const DwConvPlane& p, const float* in, const float* w, float bias, const float* residual,
                      float* out);

#if defined(__x86_64__) || defined(_M_X64)
// AVX2+FMA: 8 output columns per vector, eight vectors in flight, padding materialised in a per-thread buffer;
// horizontal strides 1 and 2 (others use the portable kernel). kernels/x86/dwconv-f32-4x8-avx2.cc.
void dwconv2d_f32_avx2(const DwConvPlane& p, const float* in, const float* w, float bias, const float* residual,
                       float* out);
#endif

namespace dwconv_detail {

// Floor / ceil of a / b for b > 0 and any sign of a.
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// Output columns [lo, hi) whose every tap ox*sw - pad_l + kx*dw (kx in [0, kw)) lies in [0, W - slack).
// `slack` lets a SIMD loop read a little past the last tap it uses.
inline void interior_cols(const DwConvPlane& p, int64_t slack, int64_t* lo, int64_t* hi) {
  int64_t a = ceil_div(p.pad_l, p.sw);
  int64_t b = floor_div(p.W - 1 - slack + p.pad_l - (p.kw - 1) * p.dw, p.sw) + 1;
  if (a < 0) a = 0;
  if (a > p.OW) a = p.OW;
  if (b > p.OW) b = p.OW;
  if (b < a) b = a;
  *lo = a;
  *hi = b;
}

// Kernel rows [lo, hi) whose input row oy*sh - pad_t + ky*dh lies in [0, H).
inline void valid_rows(const DwConvPlane& p, int64_t oy, int64_t* lo, int64_t* hi) {
  int64_t iy0 = oy * p.sh - p.pad_t;
  int64_t a = iy0 < 0 ? ceil_div(-iy0, p.dh) : 0;
  int64_t b = ceil_div(p.H - iy0, p.dh);
  if (b > p.kh) b = p.kh;
  if (b < a) b = a;
  *lo = a;
  *hi = b;
}

// One output pixel with bounds checks on every tap (the padded border).
inline float border_pixel(const DwConvPlane& p, const float* in, const float* w, int64_t oy, int64_t ox,
                          int64_t ky_lo, int64_t ky_hi) {
  float acc = 0.f;
  int64_t iy0 = oy * p.sh - p.pad_t, ix0 = ox * p.sw - p.pad_l;
  for (int64_t ky = ky_lo; ky < ky_hi; ky++) {
    const float* row = in + (iy0 + ky * p.dh) * p.W;
    const float* wr = w + ky * p.kw;
    for (int64_t kx = 0; kx < p.kw; kx++) {
      int64_t ix = ix0 + kx * p.dw;
      if (ix >= 0 && ix < p.W) acc += wr[kx] * row[ix];
    }
  }
  return acc;
}

}  // namespace dwconv_detail
}  // namespace int8rt
