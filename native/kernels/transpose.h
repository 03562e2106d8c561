// Tile transposes for the data-movement operators (ops/shape_common.cc: Transpose, DepthToSpace, SpaceToDepth and
// any other permuted copy whose unit-stride axis is not the innermost one).
#pragma once
#include <cstdint>

namespace int8rt {

// d[a * d_stride + b] = s[b * s_stride + a] for a in [0, rows), b in [0, cols), on 32-bit elements (any type: only
// bits move). Strides are in elements. AVX2 8x8 register transposes; edges scalar. x86-64 only, call when
// use_avx2() is true.
void transpose_x32_avx2(const uint32_t* s, int64_t s_stride, uint32_t* d, int64_t d_stride, int64_t rows,
                        int64_t cols);

}  // namespace int8rt
