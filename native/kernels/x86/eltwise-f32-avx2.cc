// The AVX2+FMA build of the float32 elementwise loops: ops/elementwise_vec.h with 32-byte vectors. Chosen at run
// time by eltwise::f32_kernels() when use_avx2().
#define INT8RT_ELTWISE_VEC_BYTES 32
#include "ops/elementwise_vec.h"

namespace int8rt {
namespace eltwise {

const F32Kernels& f32_kernels_avx2() {
  static const F32Kernels k = {"avx2", &unary_f32, &binary_f32};
  return k;
}

}  // namespace eltwise
}  // namespace int8rt
