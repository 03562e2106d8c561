// Depthwise 2-D convolution: portable implementation and run-time dispatch.
#include "kernels/dwconv.h"

#include <algorithm>

#include "core/cpu_features.h"

namespace int8rt {

using namespace dwconv_detail;

void dwconv2d_f32_ref(const DwConvPlane& p, const float* in, const float* w, float bias, const float* residual,
                      float* out) {
  int64_t ox_lo, ox_hi;
  interior_cols(p, 0, &ox_lo, &ox_hi);
  for (int64_t oy = 0; oy < p.OH; oy++) {
    int64_t ky_lo, ky_hi;
    valid_rows(p, oy, &ky_lo, &ky_hi);
    float* orow = out + oy * p.OW;
    for (int64_t ox = 0; ox < ox_lo; ox++) orow[ox] = border_pixel(p, in, w, oy, ox, ky_lo, ky_hi);
    for (int64_t ox = ox_hi; ox < p.OW; ox++) orow[ox] = border_pixel(p, in, w, oy, ox, ky_lo, ky_hi);
    // Interior: every column tap is in bounds. Accumulate tap by tap over the row segment so that the
    // stride-1 case vectorises.
    int64_t n = ox_hi - ox_lo;
    if (n > 0) {
      float* dst = orow + ox_lo;
      std::fill(dst, dst + n, 0.f);
      int64_t iy0 = oy * p.sh - p.pad_t;
      for (int64_t ky = ky_lo; ky < ky_hi; ky++) {
        const float* row = in + (iy0 + ky * p.dh) * p.W;
        for (int64_t kx = 0; kx < p.kw; kx++) {
          const float wv = w[ky * p.kw + kx];
          const float* src = row + ox_lo * p.sw - p.pad_l + kx * p.dw;
          if (p.sw == 1) {
            for (int64_t i = 0; i < n; i++) dst[i] += wv * src[i];
          } else {
            const int64_t s = p.sw;
            for (int64_t i = 0; i < n; i++) dst[i] += wv * src[i * s];
          }
        }
      }
    }
    const float* rrow = residual ? residual + oy * p.OW : nullptr;
    for (int64_t ox = 0; ox < p.OW; ox++) {
      float v = orow[ox] + bias;
      if (rrow) v += rrow[ox];
      orow[ox] = std::min(std::max(v, p.clip_min), p.clip_max);
    }
  }
}

void dwconv2d_f32(const DwConvPlane& p, const float* in, const float* w, float bias, const float* residual,
                  float* out) {
#if defined(__x86_64__) || defined(_M_X64)
  if (use_avx2()) {
    dwconv2d_f32_avx2(p, in, w, bias, residual, out);
    return;
  }
#endif
  dwconv2d_f32_ref(p, in, w, bias, residual, out);
}

}  // namespace int8rt
