// Int8 depthwise 2-D convolution: portable implementation and run-time dispatch.
#include "kernels/dwconv-s8.h"

#include <algorithm>
#include <cmath>

#include "core/cpu_features.h"

namespace int8rt {

namespace {

inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

}  // namespace

size_t dwconv2d_s8_ref_workspace(const DwConvS8Plane& p) { return size_t(std::max<int64_t>(p.OW, 1)) * 4; }

void dwconv2d_s8_ref(const DwConvS8Plane& p, const int8_t* in, const DwConvS8Channel& ch, int8_t* out,
                     void* workspace) {
  int32_t* acc = static_cast<int32_t*>(workspace);
  const float qmin = float(p.qmin), qmax = float(p.qmax), m = ch.multiplier, rm = ch.residual_multiplier;
  for (int64_t oy = 0; oy < p.OH; oy++) {
    std::fill(acc, acc + p.OW, ch.bias);
    const int64_t iy0 = oy * p.sh - p.pad_t;
    for (int64_t ky = 0; ky < p.kh; ky++) {
      const int64_t iy = iy0 + ky * p.dh;
      if (iy < 0 || iy >= p.H) continue;
      const int8_t* row = in + iy * p.W;
      for (int64_t kx = 0; kx < p.kw; kx++) {
        const int32_t wv = ch.w[ky * p.kw + kx];
        // Output columns whose input column ox*sw - pad_l + kx*dw lies in [0, W).
        const int64_t off = kx * p.dw - p.pad_l;
        const int64_t lo = std::min(p.OW, std::max<int64_t>(0, ceil_div(-off, p.sw)));
        const int64_t hi = std::max(lo, std::min(p.OW, floor_div(p.W - 1 - off, p.sw) + 1));
        const int8_t* src = row + off;  // src[ox * sw] is the tap of output ox
        if (p.sw == 1) {
          for (int64_t ox = lo; ox < hi; ox++) acc[ox] += wv * int32_t(src[ox]);
        } else {
          const int64_t s = p.sw;
          for (int64_t ox = lo; ox < hi; ox++) acc[ox] += wv * int32_t(src[ox * s]);
        }
      }
    }
    int8_t* orow = out + oy * p.OW;
    const int8_t* rrow = ch.residual ? ch.residual + oy * p.OW : nullptr;
    for (int64_t ox = 0; ox < p.OW; ox++) {
      float v = float(acc[ox]) * m;
      if (rrow) v = std::fma(float(rrow[ox]), rm, v);
      v = std::min(std::max(v, qmin), qmax);
      orow[ox] = int8_t(std::nearbyint(v));
    }
  }
}

size_t dwconv2d_s8_workspace(const DwConvS8Plane& p) {
#if defined(__x86_64__) || defined(_M_X64)
  if (use_avx2()) return dwconv2d_s8_avx2_workspace(p);
#endif
  return dwconv2d_s8_ref_workspace(p);
}

void dwconv2d_s8(const DwConvS8Plane& p, const int8_t* in, const DwConvS8Channel& ch, int8_t* out, void* workspace) {
#if defined(__x86_64__) || defined(_M_X64)
  if (use_avx2()) {
    dwconv2d_s8_avx2(p, in, ch, out, workspace);
    return;
  }
#endif
  dwconv2d_s8_ref(p, in, ch, out, workspace);
}

const char* dwconv2d_s8_kernel_name() {
#if defined(__x86_64__) || defined(_M_X64)
  if (use_avx2()) return "dwconv_s8_avx2";
#endif
  return "dwconv_s8_scalar";
}

}  // namespace int8rt
