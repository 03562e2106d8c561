// 32-bit tile transpose, AVX2: 8 rows of 8 elements are loaded, transposed in registers (unpack, shuffle, lane
// permute: 24 shuffles per 8x8 block) and stored as 8 rows. Reads and writes are full 32-byte rows, against one
// element per load or store in the portable loop. Blocks are visited 8 destination rows at a time so that the
// 8 destination rows being written stay in L1 while the source is streamed along them.
#include <immintrin.h>

#include "kernels/transpose.h"

namespace int8rt {

namespace {

inline void transpose_8x8(const uint32_t* s, int64_t s_stride, uint32_t* d, int64_t d_stride) {
  __m256 r0 = _mm256_castsi256_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 0 * s_stride)));
  __m256 r1 = _mm256_castsi256_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 1 * s_stride)));
  __m256 r2 = _mm256_castsi256_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 2 * s_stride)));
  __m256 r3 = _mm256_castsi256_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 3 * s_stride)));
  __m256 r4 = _mm256_castsi256_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 4 * s_stride)));
  __m256 r5 = _mm256_castsi256_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 5 * s_stride)));
  __m256 r6 = _mm256_castsi256_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 6 * s_stride)));
  __m256 r7 = _mm256_castsi256_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 7 * s_stride)));
  // Interleave pairs of rows, then pairs of pairs: each 128-bit lane then holds a 4x4 transpose.
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  // Join the low lanes (columns 0-3) and the high lanes (columns 4-7) of rows 0-3 and 4-7.
  r0 = _mm256_permute2f128_ps(u0, u4, 0x20);
  r1 = _mm256_permute2f128_ps(u1, u5, 0x20);
  r2 = _mm256_permute2f128_ps(u2, u6, 0x20);
  r3 = _mm256_permute2f128_ps(u3, u7, 0x20);
  r4 = _mm256_permute2f128_ps(u0, u4, 0x31);
  r5 = _mm256_permute2f128_ps(u1, u5, 0x31);
  r6 = _mm256_permute2f128_ps(u2, u6, 0x31);
  r7 = _mm256_permute2f128_ps(u3, u7, 0x31);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + 0 * d_stride), _mm256_castps_si256(r0));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + 1 * d_stride), _mm256_castps_si256(r1));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + 2 * d_stride), _mm256_castps_si256(r2));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + 3 * d_stride), _mm256_castps_si256(r3));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + 4 * d_stride), _mm256_castps_si256(r4));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + 5 * d_stride), _mm256_castps_si256(r5));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + 6 * d_stride), _mm256_castps_si256(r6));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + 7 * d_stride), _mm256_castps_si256(r7));
}

}  // namespace

void transpose_x32_avx2(const uint32_t* s, int64_t s_stride, uint32_t* d, int64_t d_stride, int64_t rows,
                        int64_t cols) {
  const int64_t rows8 = rows & ~int64_t(7), cols8 = cols & ~int64_t(7);
  for (int64_t a = 0; a < rows8; a += 8) {
    for (int64_t b = 0; b < cols8; b += 8) transpose_8x8(s + b * s_stride + a, s_stride, d + a * d_stride + b, d_stride);
    for (int64_t i = a; i < a + 8; i++)
      for (int64_t b = cols8; b < cols; b++) d[i * d_stride + b] = s[b * s_stride + i];
  }
  for (int64_t i = rows8; i < rows; i++)
    for (int64_t b = 0; b < cols; b++) d[i * d_stride + b] = s[b * s_stride + i];
}

}  // namespace int8rt
