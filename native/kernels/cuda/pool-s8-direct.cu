// Int8 pooling kernels, bit for bit ops/int8_pool.cc (and the float MaxPool the int8 MaxPool forwards to):
//   maxpool_s8          2-D windows, one thread per output (grid-stride), the largest tap inside the plane
//   avgpool_s8          2-D windows, int32 sum of the taps inside the plane, count per ONNX (valid taps, or with
//                       count_include_pad those inside the padded extent),
//                       y = sat(rne((float)sum * (s_x / ((float)count * s_y)))), 0 for a window with count 0
//   global_avgpool_s8   one block per plane: int64 sum, y = sat(rne((float)sum * multiplier))
//   global_maxpool_s8   one block per plane: the max (-128 for an empty plane, which the operator refuses anyway)
#include "common.cuh"  // relative: the unity build (scripts/build-cuda.js) needs no -I

namespace int8rt {
namespace cuda_kernels {
namespace pool {

static __device__ __forceinline__ int ceil_div_i(int a, int b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// ops/int8_pool.cc Axis::taps: taps t in [lo, hi) of output o land inside [0, in).
static __device__ __forceinline__ void taps(int o, int in, int k, int s, int d, int pad_b, int* lo, int* hi) {
  const int st = o * s - pad_b;
  *lo = st >= 0 ? 0 : ceil_div_i(-st, d);
  const int h = ceil_div_i(in - st, d);
  *hi = min(k, max(0, h));
  if (*hi < *lo) *hi = *lo;
}

// Axis::padded_taps: taps inside [-pad_b, in + pad_e).
static __device__ __forceinline__ int padded_taps(int o, int in, int k, int s, int d, int pad_b, int pad_e) {
  const int st = o * s - pad_b;
  return max(0, min(k, ceil_div_i(in + pad_e - st, d)));
}

constexpr int kBlock = 256;

// The window of output element i (planes x OH x OW, grid-stride index): its tap ranges and f(v) for every tap inside
// the plane, row by row. Shared by the max and average pools, which differ only in f and in what they write.
struct Window {
  int oy, ox, hlo, hhi, wlo, whi;
};
template <class F>
static __device__ __forceinline__ Window for_each_tap(const PoolParams& p, long long i, F&& f) {
  const long long plane_out = (long long)p.OH * p.OW, plane_in = (long long)p.H * p.W;
  const long long pl = i / plane_out;
  const int o = int(i - pl * plane_out);
  Window w;
  w.oy = o / p.OW;
  w.ox = o - w.oy * p.OW;
  taps(w.oy, p.H, p.kh, p.sh, p.dh, p.pt, &w.hlo, &w.hhi);
  taps(w.ox, p.W, p.kw, p.sw, p.dw, p.pl, &w.wlo, &w.whi);
  const signed char* xp = reinterpret_cast<const signed char*>(p.x) + pl * plane_in;
  for (int th = w.hlo; th < w.hhi; th++) {
    const signed char* row = xp + (long long)(w.oy * p.sh - p.pt + th * p.dh) * p.W + (w.ox * p.sw - p.pl);
    for (int tw = w.wlo; tw < w.whi; tw++) f(int(row[tw * p.dw]));
  }
  return w;
}

}  // namespace pool
}  // namespace cuda_kernels
}  // namespace int8rt

extern "C" __global__ void __launch_bounds__(256) maxpool_s8(const int8rt::cuda_kernels::PoolParams p) {
  using namespace int8rt::cuda_kernels;
  signed char* y = reinterpret_cast<signed char*>(p.y);
  const long long total = p.planes * (long long)p.OH * p.OW;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
       i += (long long)gridDim.x * blockDim.x) {
    int best = -128;
    pool::for_each_tap(p, i, [&](int v) { best = max(best, v); });
    y[i] = (signed char)best;
  }
}

extern "C" __global__ void __launch_bounds__(256) avgpool_s8(const int8rt::cuda_kernels::PoolParams p) {
  using namespace int8rt::cuda_kernels;
  signed char* y = reinterpret_cast<signed char*>(p.y);
  const long long total = p.planes * (long long)p.OH * p.OW;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
       i += (long long)gridDim.x * blockDim.x) {
    int sum = 0;
    const pool::Window w = pool::for_each_tap(p, i, [&](int v) { sum += v; });
    long long count;
    if (p.count_include_pad)
      count = (long long)pool::padded_taps(w.oy, p.H, p.kh, p.sh, p.dh, p.pt, p.pb) *
              pool::padded_taps(w.ox, p.W, p.kw, p.sw, p.dw, p.pl, p.pr);
    else
      count = (long long)(w.hhi - w.hlo) * (w.whi - w.wlo);
    // The CPU's float(count) of an int64 and s_x / (count * s_y), each one rounding.
    y[i] = count > 0 ? round_sat_s8(__fmul_rn(i2f(sum), __fdiv_rn(p.s_x, __fmul_rn(__ll2float_rn(count), p.s_y))))
                     : (signed char)0;
  }
}

extern "C" __global__ void __launch_bounds__(256) global_avgpool_s8(const int8rt::cuda_kernels::GlobalPoolParams p) {
  using namespace int8rt::cuda_kernels;
  __shared__ long long partial[pool::kBlock];
  const signed char* x = reinterpret_cast<const signed char*>(p.x) + (long long)blockIdx.x * p.size;
  long long sum = 0;
  for (long long i = threadIdx.x; i < p.size; i += blockDim.x) sum += x[i];
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) {
    if (int(threadIdx.x) < w) partial[threadIdx.x] += partial[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0)
    reinterpret_cast<signed char*>(p.y)[blockIdx.x] = round_sat_s8(__fmul_rn(__ll2float_rn(partial[0]), p.multiplier));
}

extern "C" __global__ void __launch_bounds__(256) global_maxpool_s8(const int8rt::cuda_kernels::GlobalPoolParams p) {
  using namespace int8rt::cuda_kernels;
  __shared__ int partial[pool::kBlock];
  const signed char* x = reinterpret_cast<const signed char*>(p.x) + (long long)blockIdx.x * p.size;
  int best = -128;
  for (long long i = threadIdx.x; i < p.size; i += blockDim.x) best = max(best, int(x[i]));
  partial[threadIdx.x] = best;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) {
    if (int(threadIdx.x) < w) partial[threadIdx.x] = max(partial[threadIdx.x], partial[threadIdx.x + w]);
    __syncthreads();
  }
  if (threadIdx.x == 0) reinterpret_cast<signed char*>(p.y)[blockIdx.x] = (signed char)partial[0];
}
