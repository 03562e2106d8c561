// Depthwise int8 2-D convolution, direct: kernel dwconv_s8_direct. One thread per output element (grid-stride loop
// over batch x C x OH x OW, consecutive threads on consecutive output columns), the channel's kh x kw taps read from
// global memory (they stay in L1). Bit for bit kernels/dwconv-s8.h's dwconv2d_s8_ref, plane by plane:
//   acc = bias + sum over taps inside the plane of w * x   (int32; the CPU adds in int32 too, and these sums never
//   come near 2^31: 128 * 128 * kh * kw),
//   v = (float)acc * multiplier; residual: v = fmaf((float)r, residual_multiplier, v); q = rne(min(max(v, lo), hi)).
#include "common.cuh"  // relative: the unity build (scripts/build-cuda.js) needs no -I

extern "C" __global__ void __launch_bounds__(256) dwconv_s8_direct(const int8rt::cuda_kernels::DwConvParams p) {
  using namespace int8rt::cuda_kernels;
  const signed char* x = reinterpret_cast<const signed char*>(p.x);
  const signed char* w = reinterpret_cast<const signed char*>(p.w);
  const int* bias = reinterpret_cast<const int*>(p.bias);
  const float* mult = reinterpret_cast<const float*>(p.multiplier);
  const signed char* res = reinterpret_cast<const signed char*>(p.residual);
  signed char* y = reinterpret_cast<signed char*>(p.y);
  const long long plane_out = (long long)p.OH * p.OW, plane_in = (long long)p.H * p.W;
  const long long total = (long long)p.batch * p.C * plane_out;
  const int taps = p.kh * p.kw;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
       i += (long long)gridDim.x * blockDim.x) {
    const long long plane = i / plane_out;  // image * C + channel
    const int o = int(i - plane * plane_out);
    const int c = int(plane % p.C);
    const int oy = o / p.OW, ox = o - oy * p.OW;
    const signed char* xp = x + plane * plane_in;
    const signed char* wc = w + (long long)c * taps;
    int acc = bias ? bias[c] : 0;
    const int iy0 = oy * p.sh - p.pt, ix0 = ox * p.sw - p.pl;
    for (int ky = 0; ky < p.kh; ky++) {
      const int iy = iy0 + ky * p.dh;
      if (unsigned(iy) >= unsigned(p.H)) continue;
      const signed char* row = xp + (long long)iy * p.W;
      for (int kx = 0; kx < p.kw; kx++) {
        const int ix = ix0 + kx * p.dw;
        if (unsigned(ix) < unsigned(p.W)) acc += int(__ldg(wc + ky * p.kw + kx)) * int(row[ix]);
      }
    }
    float v = __fmul_rn(i2f(acc), mult[c]);
    if (res) v = __fmaf_rn(i2f(int(res[i])), p.residual_multiplier, v);
    y[i] = epilogue_s8(v, p.lo, p.hi);
  }
}
