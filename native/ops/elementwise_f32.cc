// The portable build of the float32 elementwise loops (ops/elementwise_vec.h with 16-byte vectors: SSE2 on
// x86-64, NEON on AArch64), the run-time choice between it and the AVX2 build, and float16 array conversion.
#define INT8RT_ELTWISE_VEC_BYTES 16
#include "ops/elementwise_vec.h"

#include "core/cpu_features.h"

namespace int8rt {
namespace eltwise {

const F32Kernels& f32_kernels_portable() {
  static const F32Kernels k = {"portable", &unary_f32, &binary_f32};
  return k;
}

const F32Kernels& f32_kernels() {
#if defined(__x86_64__) || defined(_M_X64)
  if (use_avx2()) return f32_kernels_avx2();
#endif
  return f32_kernels_portable();
}

void half_to_float_array(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = half_to_float(x[i]);
}

void float_to_half_array(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = float_to_half(x[i]);
}

}  // namespace eltwise
}  // namespace int8rt
