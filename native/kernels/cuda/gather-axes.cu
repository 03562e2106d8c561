// Data movement through per-axis source tables (params.h GatherAxesParams), the one mechanism behind the CUDA
// Transpose, Slice, Concat and Resize (nearest) of ops/cuda/movement.cc:
//   gather_axes_b1 / _b2 / _b4 / _b8   y[dst(i)] = x[src(i)], elements of 1, 2, 4 or 8 bytes moved unchanged
//   gather_axes_rescale_s8             y[dst(i)] = sat(rne((float)x[src(i)] * multiplier))  (int8 Concat)
// One thread per output element (grid-stride): its coordinates by division over dims from the innermost axis,
// src(i) = the sum of the axes' table entries, dst(i) = the coordinates dotted with y_strides. Consecutive threads
// differ in the innermost coordinate, so the writes coalesce and the reads do whenever the innermost table is a
// unit stride (every Slice, Concat and Resize along rows; a Transpose that moves the innermost axis reads strided).
#include "common.cuh"  // relative: the unity build (scripts/build-cuda.js) needs no -I

namespace int8rt {
namespace cuda_kernels {
namespace gather_axes {

// Source and destination element offsets of output i. I is the index type of the coordinate arithmetic: 32-bit
// division is several times cheaper than 64-bit on the device, so launches of fewer than 2^31 outputs use it.
template <typename I>
static __device__ __forceinline__ void offsets(const GatherAxesParams& p, I i, long long* src, long long* dst) {
  const long long* t = reinterpret_cast<const long long*>(p.tables);
  long long s = 0, d = 0;
  I rest = i;
  for (int a = p.rank - 1; a >= 0; a--) {
    const I n = I(p.dims[a]);
    const I q = rest / n, idx = rest - q * n;
    rest = q;
    s += t[p.table_offsets[a] + (long long)idx];
    d += (long long)idx * p.y_strides[a];
  }
  *src = s;
  *dst = d;
}

// Calls f(src, dst) for every output of this thread (grid-stride).
template <class F>
static __device__ __forceinline__ void for_each_output(const GatherAxesParams& p, F&& f) {
  long long s, d;
  if (p.n < (1LL << 31)) {  // the grid's stride is below 2^28 (cuda/kernels.cc), so i stays below 2^32
    const unsigned n = unsigned(p.n);
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
      offsets<unsigned>(p, i, &s, &d);
      f(s, d);
    }
    return;
  }
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < p.n;
       i += (long long)gridDim.x * blockDim.x) {
    offsets<long long>(p, i, &s, &d);
    f(s, d);
  }
}

template <typename T>
static __device__ __forceinline__ void copy(const GatherAxesParams& p) {
  const T* x = reinterpret_cast<const T*>(p.x);
  T* y = reinterpret_cast<T*>(p.y);
  for_each_output(p, [&](long long s, long long d) { y[d] = x[s]; });
}

}  // namespace gather_axes
}  // namespace cuda_kernels
}  // namespace int8rt

extern "C" __global__ void __launch_bounds__(256) gather_axes_b1(const int8rt::cuda_kernels::GatherAxesParams p) {
  int8rt::cuda_kernels::gather_axes::copy<unsigned char>(p);
}
extern "C" __global__ void __launch_bounds__(256) gather_axes_b2(const int8rt::cuda_kernels::GatherAxesParams p) {
  int8rt::cuda_kernels::gather_axes::copy<unsigned short>(p);
}
extern "C" __global__ void __launch_bounds__(256) gather_axes_b4(const int8rt::cuda_kernels::GatherAxesParams p) {
  int8rt::cuda_kernels::gather_axes::copy<unsigned int>(p);
}
extern "C" __global__ void __launch_bounds__(256) gather_axes_b8(const int8rt::cuda_kernels::GatherAxesParams p) {
  int8rt::cuda_kernels::gather_axes::copy<unsigned long long>(p);
}

extern "C" __global__ void __launch_bounds__(256)
    gather_axes_rescale_s8(const int8rt::cuda_kernels::GatherAxesParams p) {
  using namespace int8rt::cuda_kernels;
  const signed char* x = reinterpret_cast<const signed char*>(p.x);
  signed char* y = reinterpret_cast<signed char*>(p.y);
  const float m = p.multiplier;
  gather_axes::for_each_output(p, [&](long long s, long long d) {
    y[d] = round_sat_s8(__fmul_rn(i2f(int(x[s])), m));
  });
}
