// Shared pieces of the QLinear operator family (ops/qlinear_*.cc): the ONNX QOperator kernels (QLinearConv,
// QLinearMatMul, ConvInteger, MatMulInteger), onnxruntime's com.microsoft ones (QGemm, QLinearAdd, QLinearMul,
// QLinearConcat) and the int8rt-domain nodes the QDQ import pass writes (quant/qdq_import.h). Unlike the int8 family
// of the calibrated planner (ops/int8_common.h: symmetric int8, scales as attributes), these kernels take 8-bit data
// of either signedness with explicit scale and zero-point inputs, as ONNX defines them.
//
// The signed domain. Every uint8 value u is handled as the int8 value s = u - 128 (its top bit flipped), and its zero
// point z as z - 128, so that u - z = s - (z - 128) exactly. All products then run on the project's exact int8 GEMM
// (kernels/qgemm.h), with the zero points folded into int32 corrections:
//   sum_k (w[m,k] - zw[m]) (x[k,n] - zx)
//     = sum_k w'[m,k] x[k,n] - zx * sum_k w'[m,k]                  with w' = w - zw[m] when it stays in int8
//     = sum_k w x - zx * sum_k w - zw[m] * sum_k x[k,n] + K zx zw   otherwise (a per-column term remains).
// Integer sums wrap modulo 2^32, as the ONNX operators allow ("accumulation may overflow only in 32 bits"); the
// decomposition is exact modulo 2^32, so it equals a direct int32 sum whenever that does not overflow.
//
// Requantization, the rule of onnxruntime's kernels (MLAS RequantizeOutput): with the float32 multiplier
// m = (s_x * s_w[c]) / s_y and v = (float)acc * m (one rounding),
//   y = saturate(rne(v) + z_y)
// clamped further to the bounds of a fused Relu/Clip. A fused residual r (scale s_r, zero point z_r) adds
// fmaf((float)(r - z_r), s_r / s_y, v) before rounding, as the int8 Conv does.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/op_kernel.h"

namespace int8rt {
namespace qlinear {

// Registration of the family's parts (ops/registry.cc calls register_qlinear_ops).
void register_qlinear_conv_ops(KernelRegistry& r);     // ops/qlinear_conv.cc: QLinearConv, ConvInteger
void register_qlinear_matmul_ops(KernelRegistry& r);   // ops/qlinear_matmul.cc: QLinearMatMul, MatMulInteger, QGemm
void register_qlinear_eltwise_ops(KernelRegistry& r);  // ops/qlinear_eltwise.cc: QLinearAdd/Mul/Concat,
                                                       // QLinearGlobalAveragePool, lookup, 8-bit data movement
void register_qlinear_pool_ops(KernelRegistry& r);     // ops/qlinear_pool.cc: QLinearAveragePool

// The ops registered in the int8rt domain that run on 8-bit tensors as the float kernel does (they move bytes or
// compare values, so the quantization passes through): null-terminated. The QDQ import pass writes them.
extern const char* const kQ8DataMovers[];

inline bool is_q8(DType t) { return t == DType::kInt8 || t == DType::kUint8; }

// uint8 <-> signed domain.
inline int8_t u8_to_s8(uint8_t u) { return int8_t(u ^ 0x80u); }
inline uint8_t s8_to_u8(int8_t s) { return uint8_t(uint8_t(s) ^ 0x80u); }
// The signed-domain value of element i of an 8-bit buffer of type t.
inline int32_t q8_at(const void* p, DType t, int64_t i) {
  return t == DType::kUint8 ? int32_t(static_cast<const uint8_t*>(p)[i]) - 128
                            : int32_t(static_cast<const int8_t*>(p)[i]);
}
// Copies n 8-bit values into the signed domain (a copy for int8, a top-bit flip for uint8).
void to_signed(const void* src, DType t, int8_t* dst, int64_t n);
// Flips the top bit of n bytes in place: signed domain -> uint8 storage.
void flip_sign_bits(int8_t* p, int64_t n);

// int32 arithmetic that wraps modulo 2^32 (no signed-overflow UB).
inline int32_t wrap_add(int32_t a, int32_t b) { return int32_t(uint32_t(a) + uint32_t(b)); }
inline int32_t wrap_mul(int32_t a, int32_t b) { return int32_t(uint32_t(a) * uint32_t(b)); }
inline int32_t wrap64(int64_t v) { return int32_t(uint32_t(uint64_t(v))); }

// The quantization of one 8-bit operand: its element type and a scale and zero point per tensor (one value) or per
// channel. Zero points are stored in the signed domain.
struct QParam {
  DType type = DType::kUndefined;
  std::vector<float> scale;
  std::vector<int32_t> zero;
  bool per_tensor() const { return scale.size() == 1; }
  float s(int64_t c) const { return scale.size() == 1 ? scale[0] : scale[size_t(c)]; }
  int32_t z(int64_t c) const { return zero.size() == 1 ? zero[0] : zero[size_t(c)]; }
};

// Reads an operand's scale (float32 or float16; finite and > 0) and zero point (absent: 0 of the data's type; else
// of the data's type, with the scale's length). `channels` = 0: the parameters must be per tensor (shape [] or
// [1]); > 0: they may also be 1-D with that many values. `what` names the operand in messages ("x", "w", "y").
Status read_qparam(const NodeDef& node, const std::string& what, DType data_type, const Tensor* scale,
                   const Tensor* zero_point, int64_t channels, QParam* out);

// The output clamp of a fused Relu/Clip (`__activation`, `__clip_min`/`__clip_max`, the float bounds) on an 8-bit
// output (scale s_y, zero point z_y in the signed domain): bounds for rne(v) + z_y in the signed domain, within
// [-128, 127]. Anything other than Relu/Clip is refused.
Status activation_bounds(const NodeDef& node, float s_y, int32_t z_y, int32_t* lo, int32_t* hi);

// The requantization rule above for one value: lo/hi are signed-domain bounds of the result; returns it in the
// signed domain. A NaN v (only from non-finite scales, which read_qparam refuses) gives lo.
inline int8_t requantize(float v, int32_t z_y, int32_t lo, int32_t hi) {
  const float flo = float(lo - z_y), fhi = float(hi - z_y);
  v = v > flo ? v : flo;
  v = v < fhi ? v : fhi;
  return int8_t(int32_t(std::nearbyint(v)) + z_y);
}

// Stores n signed-domain results to an output of type t (int8: copy; uint8: top bit flipped).
inline void store_q8(const int8_t* src, void* dst, DType t, int64_t n) {
  if (t == DType::kUint8) {
    uint8_t* d = static_cast<uint8_t*>(dst);
    for (int64_t i = 0; i < n; i++) d[i] = s8_to_u8(src[i]);
  } else if (dst != src) {
    std::memcpy(dst, src, size_t(n));
  }
}

}  // namespace qlinear
}  // namespace int8rt
