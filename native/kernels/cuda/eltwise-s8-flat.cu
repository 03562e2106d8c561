// Int8 elementwise kernels (kernels/eltwise-s8.h's arithmetic, bit for bit): eltwise_add_s8, eltwise_mul_s8,
// eltwise_rescale_s8, eltwise_clamp_s8, eltwise_lookup_s8, quantize_f32_s8, dequantize_s8_f32. One thread per output
// element in a grid-stride loop; inputs addressed flat (rank 0: index * step) or through broadcast strides
// (kernels/cuda/params.h, EltwiseParams).
#include "common.cuh"  // relative: the unity build (scripts/build-cuda.js) needs no -I

namespace int8rt {
namespace cuda_kernels {
namespace eltwise {

// Element offsets of output i in the two inputs.
static __device__ __forceinline__ void offsets(const EltwiseParams& p, long long i, long long* ia, long long* ib) {
  if (p.rank == 0) {
    *ia = i * p.a_step;
    *ib = i * p.b_step;
    return;
  }
  long long oa = 0, ob = 0, rest = i;
  for (int d = p.rank - 1; d >= 0; d--) {
    const long long idx = rest % p.dims[d];
    rest /= p.dims[d];
    oa += idx * p.a_strides[d];
    ob += idx * p.b_strides[d];
  }
  *ia = oa;
  *ib = ob;
}

#define INT8RT_ELTWISE_LOOP(i) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += (long long)gridDim.x * blockDim.x)

}  // namespace eltwise
}  // namespace cuda_kernels
}  // namespace int8rt

// y = sat(rne(fmaf((float)b, mb, (float)a * ma)))
extern "C" __global__ void __launch_bounds__(256) eltwise_add_s8(const int8rt::cuda_kernels::EltwiseParams p) {
  using namespace int8rt::cuda_kernels;
  const signed char* a = reinterpret_cast<const signed char*>(p.a);
  const signed char* b = reinterpret_cast<const signed char*>(p.b);
  signed char* y = reinterpret_cast<signed char*>(p.y);
  INT8RT_ELTWISE_LOOP(i) {
    long long ia, ib;
    eltwise::offsets(p, i, &ia, &ib);
    y[i] = round_sat_s8(__fmaf_rn(i2f(b[ib]), p.mb, __fmul_rn(i2f(a[ia]), p.ma)));
  }
}

// y = sat(rne((float)(a * b) * ma))
extern "C" __global__ void __launch_bounds__(256) eltwise_mul_s8(const int8rt::cuda_kernels::EltwiseParams p) {
  using namespace int8rt::cuda_kernels;
  const signed char* a = reinterpret_cast<const signed char*>(p.a);
  const signed char* b = reinterpret_cast<const signed char*>(p.b);
  signed char* y = reinterpret_cast<signed char*>(p.y);
  INT8RT_ELTWISE_LOOP(i) {
    long long ia, ib;
    eltwise::offsets(p, i, &ia, &ib);
    y[i] = round_sat_s8(__fmul_rn(i2f(int(a[ia]) * int(b[ib])), p.ma));
  }
}

// y = sat(rne((float)a * ma))
extern "C" __global__ void __launch_bounds__(256) eltwise_rescale_s8(const int8rt::cuda_kernels::EltwiseParams p) {
  using namespace int8rt::cuda_kernels;
  const signed char* a = reinterpret_cast<const signed char*>(p.a);
  signed char* y = reinterpret_cast<signed char*>(p.y);
  INT8RT_ELTWISE_LOOP(i) {
    long long ia, ib;
    eltwise::offsets(p, i, &ia, &ib);
    y[i] = round_sat_s8(__fmul_rn(i2f(a[ia]), p.ma));
  }
}

// y = min(max(a, qlo), qhi) (kernels/eltwise-s8.cc clamp_s8)
extern "C" __global__ void __launch_bounds__(256) eltwise_clamp_s8(const int8rt::cuda_kernels::EltwiseParams p) {
  using namespace int8rt::cuda_kernels;
  const signed char* a = reinterpret_cast<const signed char*>(p.a);
  signed char* y = reinterpret_cast<signed char*>(p.y);
  INT8RT_ELTWISE_LOOP(i) {
    long long ia, ib;
    eltwise::offsets(p, i, &ia, &ib);
    const int x = a[ia];
    const int v = x < p.qlo ? p.qlo : x;
    y[i] = (signed char)(v > p.qhi ? p.qhi : v);
  }
}

// y = table[a + 128], the 256-entry table staged in shared memory.
extern "C" __global__ void __launch_bounds__(256) eltwise_lookup_s8(const int8rt::cuda_kernels::EltwiseParams p) {
  using namespace int8rt::cuda_kernels;
  __shared__ signed char table[256];
  for (int j = threadIdx.x; j < 256; j += blockDim.x) table[j] = reinterpret_cast<const signed char*>(p.table)[j];
  __syncthreads();
  const signed char* a = reinterpret_cast<const signed char*>(p.a);
  signed char* y = reinterpret_cast<signed char*>(p.y);
  INT8RT_ELTWISE_LOOP(i) {
    long long ia, ib;
    eltwise::offsets(p, i, &ia, &ib);
    y[i] = table[int(a[ia]) + 128];
  }
}

// QuantizeLinear (kernels/eltwise-s8.cc quantize_portable): v = x / scale (a true division); clamped to
// [-128 - zp, 127 - zp] with a NaN landing on the lower bound; y = rne(v) + zp.
extern "C" __global__ void __launch_bounds__(256) quantize_f32_s8(const int8rt::cuda_kernels::EltwiseParams p) {
  using namespace int8rt::cuda_kernels;
  const float* a = reinterpret_cast<const float*>(p.a);
  signed char* y = reinterpret_cast<signed char*>(p.y);
  const float lo = i2f(-128 - p.zp), hi = i2f(127 - p.zp);
  INT8RT_ELTWISE_LOOP(i) {
    long long ia, ib;
    eltwise::offsets(p, i, &ia, &ib);
    float v = __fdiv_rn(a[ia], p.scale);
    v = v > lo ? v : lo;
    v = v < hi ? v : hi;
    y[i] = (signed char)(rne(v) + p.zp);
  }
}

// DequantizeLinear: y = (float)(a - zp) * scale.
extern "C" __global__ void __launch_bounds__(256) dequantize_s8_f32(const int8rt::cuda_kernels::EltwiseParams p) {
  using namespace int8rt::cuda_kernels;
  const signed char* a = reinterpret_cast<const signed char*>(p.a);
  float* y = reinterpret_cast<float*>(p.y);
  INT8RT_ELTWISE_LOOP(i) {
    long long ia, ib;
    eltwise::offsets(p, i, &ia, &ib);
    y[i] = __fmul_rn(i2f(int(a[ia]) - p.zp), p.scale);
  }
}

#undef INT8RT_ELTWISE_LOOP
