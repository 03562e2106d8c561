// Int8 depthwise 2-D convolution (one filter per channel, NCHW): the direct kernels behind the int8 Conv when
// group == C_in == C_out (ops/int8_conv.cc). Products are accumulated exactly in int32 and requantized with the
// epilogue of kernels/qgemm.h, bit for bit:
//   acc = bias + sum_{ky,kx} w[ky*kw+kx] * in[oy*sh-pad_t+ky*dh, ox*sw-pad_l+kx*dw]   (taps outside read 0)
//   v   = (float)acc * multiplier
//   if residual: v = fmaf((float)residual[oy,ox], residual_multiplier, v)
//   out = (int8)nearbyint(min(max(v, qmin), qmax))
// The unit of work is one channel plane; the operator parallelises over (image, channel) planes and hands each task
// its own workspace.
#pragma once
#include <cstddef>
#include <cstdint>

namespace int8rt {

struct DwConvS8Plane {
  int64_t H = 0, W = 0;          // input plane
  int64_t OH = 0, OW = 0;        // output plane
  int64_t kh = 1, kw = 1;
  int64_t sh = 1, sw = 1;        // strides, >= 1
  int64_t dh = 1, dw = 1;        // dilations, >= 1
  int64_t pad_t = 0, pad_l = 0;  // leading padding; trailing padding is implied by OH/OW
  int32_t qmin = -128, qmax = 127;
};

struct DwConvS8Channel {
  const int8_t* w = nullptr;          // kh * kw weights
  int32_t bias = 0;
  float multiplier = 0.f;
  const int8_t* residual = nullptr;   // OH x OW, dense; may be null
  float residual_multiplier = 0.f;
};

// Bytes of workspace dwconv2d_s8 needs for planes of this geometry (64-byte aligned memory is best).
size_t dwconv2d_s8_workspace(const DwConvS8Plane& p);

// One plane: `in` is H x W dense, `out` OH x OW dense. Picks the AVX2 kernel when the CPU has it.
void dwconv2d_s8(const DwConvS8Plane& p, const int8_t* in, const DwConvS8Channel& ch, int8_t* out, void* workspace);

// The portable implementation (also the test oracle for the SIMD one). Needs dwconv2d_s8_ref_workspace(p) bytes.
size_t dwconv2d_s8_ref_workspace(const DwConvS8Plane& p);
void dwconv2d_s8_ref(const DwConvS8Plane& p, const int8_t* in, const DwConvS8Channel& ch, int8_t* out,
                     void* workspace);

#if defined(__x86_64__) || defined(_M_X64)
// AVX2: sign-extended int16 pairs of vertically adjacent taps multiplied and summed by vpmaddwd, 8 output columns per
// vector, 4 vectors in flight. kernels/x86/dwconv-s8-4x8-avx2.cc. (vpdpwssd, VNNI's fused form, measured no faster:
// the loop is not bound by the multiply-adds.)
size_t dwconv2d_s8_avx2_workspace(const DwConvS8Plane& p);
void dwconv2d_s8_avx2(const DwConvS8Plane& p, const int8_t* in, const DwConvS8Channel& ch, int8_t* out,
                      void* workspace);
#endif

// The kernel dwconv2d_s8 runs on this CPU: "dwconv_s8_avx2" or "dwconv_s8_scalar".
const char* dwconv2d_s8_kernel_name();

}  // namespace int8rt
