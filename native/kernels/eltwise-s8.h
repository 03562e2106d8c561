// Int8 elementwise loops of the int8 operators (ops/int8_eltwise.cc): requantizing Add, Mul and rescale (Concat),
// clamps, and 256-entry tables. Symmetric int8, zero point 0; every float step below is one IEEE binary32 rounding,
// so the AVX2 loops equal the portable ones bit for bit:
//   add:     y = sat(rne(fmaf((float)b, mb, (float)a * ma)))
//   mul:     y = sat(rne((float)(a * b) * m))
//   rescale: y = sat(rne((float)x * m))
//   quantize (float -> int8, QuantizeLinear):    y = sat(rne(x / scale) + zp), NaN -> -128
//   dequantize (int8 -> float, DequantizeLinear): y = (float)(x - zp) * scale
// `a_vec` / `b_vec` false means the operand is one value repeated n times (broadcast).
#pragma once
#include <cstdint>

namespace int8rt {

struct EltwiseS8Kernels {
  const char* isa;
  void (*add)(const int8_t* a, bool a_vec, const int8_t* b, bool b_vec, int8_t* y, int64_t n, float ma, float mb);
  void (*mul)(const int8_t* a, bool a_vec, const int8_t* b, bool b_vec, int8_t* y, int64_t n, float m);
  void (*rescale)(const int8_t* x, int8_t* y, int64_t n, float m);
  void (*quantize)(const float* x, int8_t* y, int64_t n, float scale, int32_t zp);
  void (*dequantize)(const int8_t* x, float* y, int64_t n, float scale, int32_t zp);
};

const EltwiseS8Kernels& eltwise_s8_portable();
#if defined(__x86_64__) || defined(_M_X64)
const EltwiseS8Kernels& eltwise_s8_avx2();  // kernels/x86/eltwise-s8-32x-avx2.cc
#endif
// The loops of the active ISA.
const EltwiseS8Kernels& eltwise_s8();

// y = min(max(x, lo), hi).
void clamp_s8(const int8_t* x, int8_t* y, int64_t n, int8_t lo, int8_t hi);
// y = table[x + 128].
void lookup_s8(const int8_t* x, int8_t* y, int64_t n, const int8_t* table);

}  // namespace int8rt
