// Depthwise 2-D convolution, AVX2+FMA.
//
// The output plane is cut into units of one row x 8 columns (the last unit of a row may be partial). Units are
// computed 8 at a time, each with its own accumulator, so that the FMA chains hide the FMA latency even on 7- and
// 14-wide planes where a row has only one or two units. 3x3 kernels with vertical stride 1 take a row-blocked
// path instead (4 output rows x 8 columns: each input vector is loaded once for up to 3 output rows, the 9 weights
// stay in registers). Every load is a whole unit-stride vector: when the plane has padding or a partial last unit,
// it is first copied into a per-thread buffer with zero borders and enough slack that every load stays inside.
// The copy costs one load and store per input element against kh*kw FMAs per output, and removes the scalar border
// pixels that would otherwise cost as much as a whole vector row on MobileNet's small planes. Stride 2 always
// copies, splitting each row into its even and odd columns on the way, so its taps are unit-stride loads too.
// Other horizontal strides use the portable kernel.
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <type_traits>

#include "kernels/dwconv.h"

namespace int8rt {

namespace {

alignas(32) const int32_t kTailMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

inline __m256i tail_mask(int64_t n) {  // lanes [0, n) set, 0 <= n <= 8
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTailMask + 8 - n));
}

// The padded-plane buffer: one per thread, grown on demand, never shrunk.
class PlaneBuffer {
 public:
  ~PlaneBuffer() { std::free(p_); }
  float* get(size_t n) {
    if (n > cap_) {
      std::free(p_);
      p_ = static_cast<float*>(std::aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64));
      cap_ = p_ ? n : 0;
    }
    return p_;
  }

 private:
  float* p_ = nullptr;
  size_t cap_ = 0;
};
thread_local PlaneBuffer tl_plane;

constexpr int64_t kMaxKw = 16;  // wider depthwise kernels (none in practice) use the portable kernel

// Output rows [oy0, OH). Output row oy, column ox, tap (ky, kx) reads base[(oy*sh + ky*dh) * ld + ox + xoff[kx]]:
// `base` is the (padded, for stride 2 also deinterleaved) image and every such read is in bounds, for whole
// vectors too.
void run_units(const DwConvPlane& p, const float* base, int64_t ld, const int64_t* xoff, const float* w, float bias,
               const float* residual, float* out, int64_t oy0 = 0) {
  const int64_t OW = p.OW, nb = (OW + 7) / 8, units = (p.OH - oy0) * nb;
  const int64_t kh = p.kh, kw = p.kw, row_step = p.sh * ld, dh_ld = p.dh * ld;
  const __m256 vbias = _mm256_set1_ps(bias);
  const __m256 vmin = _mm256_set1_ps(p.clip_min), vmax = _mm256_set1_ps(p.clip_max);
  const __m256i last_mask = tail_mask(OW - (nb - 1) * 8);

  // Units are visited in order with a (row, column) cursor: no divisions in the loop.
  struct Unit {
    int64_t oy, ox;
  };
  Unit cur{oy0, 0};
  auto next = [&]() {
    Unit u = cur;
    cur.ox += 8;
    if (cur.ox >= OW) {
      cur.ox = 0;
      cur.oy++;
    }
    return u;
  };
  // A partial last unit of a row is stored whole when the vector still ends inside the plane: the lanes past the
  // row end land in later rows, which later units overwrite (AMD's masked stores are slow).
  const int64_t plane_end = p.OH * OW;
  auto finish = [&](__m256 acc, Unit u) {
    float* o = out + u.oy * OW + u.ox;
    if (u.ox + 8 <= OW || u.oy * OW + u.ox + 8 <= plane_end) {
      if (residual) acc = _mm256_add_ps(acc, _mm256_loadu_ps(residual + u.oy * OW + u.ox));
      _mm256_storeu_ps(o, _mm256_min_ps(_mm256_max_ps(acc, vmin), vmax));
    } else {
      if (residual) acc = _mm256_add_ps(acc, _mm256_maskload_ps(residual + u.oy * OW + u.ox, last_mask));
      _mm256_maskstore_ps(o, last_mask, _mm256_min_ps(_mm256_max_ps(acc, vmin), vmax));
    }
  };
  auto src = [&](Unit u) { return base + u.oy * row_step + u.ox; };

  // G units at once, one accumulator each: 8 independent FMA chains cover the FMA latency x throughput of
  // current cores; groups of 4 and single units take the remainder.
  auto group = [&](auto gsize) {
    constexpr int G = decltype(gsize)::value;
    Unit u[G];
    const float* sp[G];
    __m256 acc[G];
#pragma GCC unroll 8
    for (int g = 0; g < G; g++) {
      u[g] = next();
      sp[g] = src(u[g]);
      acc[g] = vbias;
    }
    for (int64_t ky = 0; ky < kh; ky++) {
      const float* wr = w + ky * kw;
      const int64_t roff = ky * dh_ld;
      for (int64_t kx = 0; kx < kw; kx++) {
        const __m256 wv = _mm256_broadcast_ss(wr + kx);
        const int64_t off = roff + xoff[kx];
#pragma GCC unroll 8
        for (int g = 0; g < G; g++) acc[g] = _mm256_fmadd_ps(_mm256_loadu_ps(sp[g] + off), wv, acc[g]);
      }
    }
#pragma GCC unroll 8
    for (int g = 0; g < G; g++) finish(acc[g], u[g]);
  };
  int64_t left = units;
  for (; left >= 8; left -= 8) group(std::integral_constant<int, 8>());
  for (; left >= 4; left -= 4) group(std::integral_constant<int, 4>());
  for (; left > 0; left--) group(std::integral_constant<int, 1>());
}

// 3x3, vertical stride and dilation 1: R output rows of one 8-column block at a time. Each input row vector is
// loaded once and feeds every output row it belongs to (R + 2 rows x 3 loads for 9R FMAs instead of 9R loads),
// and the nine weights stay in registers. Rows [0, OH - OH % R); the caller finishes the rest.
template <int R>
int64_t run_rows_3x3(const DwConvPlane& p, const float* base, int64_t ld, const int64_t* xoff, const float* w,
                     float bias, const float* residual, float* out) {
  const int64_t OW = p.OW, nb = (OW + 7) / 8, rows = p.OH / R * R;
  const int64_t x0 = xoff[0], x1 = xoff[1], x2 = xoff[2];
  const __m256 vbias = _mm256_set1_ps(bias);
  const __m256 vmin = _mm256_set1_ps(p.clip_min), vmax = _mm256_set1_ps(p.clip_max);
  const __m256i last_mask = tail_mask(OW - (nb - 1) * 8);
  __m256 wv[9];
  for (int i = 0; i < 9; i++) wv[i] = _mm256_broadcast_ss(w + i);
  for (int64_t oy = 0; oy < rows; oy += R) {
    // Blocks right to left, so that a partial last block may be stored whole (see run_units): its spill into the
    // following rows is overwritten by their blocks, all stored later.
    for (int64_t b = nb - 1; b >= 0; b--) {
      const int64_t ox = b * 8;
      const float* src = base + oy * ld + ox;
      __m256 acc[R];
#pragma GCC unroll 8
      for (int i = 0; i < R; i++) acc[i] = vbias;
#pragma GCC unroll 8
      for (int j = 0; j < R + 2; j++) {
        const float* row = src + j * ld;
        const __m256 v0 = _mm256_loadu_ps(row + x0), v1 = _mm256_loadu_ps(row + x1), v2 = _mm256_loadu_ps(row + x2);
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
          const int ky = j - i;  // kernel row of input row j for output row i (compile-time after unrolling)
          if (ky < 0 || ky > 2) continue;
          acc[i] = _mm256_fmadd_ps(v0, wv[ky * 3], acc[i]);
          acc[i] = _mm256_fmadd_ps(v1, wv[ky * 3 + 1], acc[i]);
          acc[i] = _mm256_fmadd_ps(v2, wv[ky * 3 + 2], acc[i]);
        }
      }
#pragma GCC unroll 8
      for (int i = 0; i < R; i++) {
        float* o = out + (oy + i) * OW + ox;
        const float* r = residual ? residual + (oy + i) * OW + ox : nullptr;
        __m256 a = acc[i];
        if (ox + 8 <= OW || (oy + i) * OW + ox + 8 <= p.OH * OW) {
          if (r) a = _mm256_add_ps(a, _mm256_loadu_ps(r));
          _mm256_storeu_ps(o, _mm256_min_ps(_mm256_max_ps(a, vmin), vmax));
        } else {
          if (r) a = _mm256_add_ps(a, _mm256_maskload_ps(r, last_mask));
          _mm256_maskstore_ps(o, last_mask, _mm256_min_ps(_mm256_max_ps(a, vmin), vmax));
        }
      }
    }
  }
  return rows;
}

// Input columns [c, c + 8) of `srow` with zeros where a column lies outside [0, W): a plain load when the span is
// inside the row, else a masked one (masked-off lanes never fault, and read as zero).
inline __m256 load_cols(const float* srow, int64_t c, int64_t W) {
  if (c >= 0 && c + 8 <= W) return _mm256_loadu_ps(srow + c);
  if (c + 8 <= 0 || c >= W) return _mm256_setzero_ps();
  // |c| < W + 8 here, so the int32 lane arithmetic cannot overflow (planes wider than 2^31 never get here).
  const __m256i col = _mm256_add_epi32(_mm256_set1_epi32(int32_t(c)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const __m256i mask = _mm256_and_si256(_mm256_cmpgt_epi32(col, _mm256_set1_epi32(-1)),
                                        _mm256_cmpgt_epi32(_mm256_set1_epi32(int32_t(W)), col));
  return _mm256_maskload_ps(srow + c, mask);
}

// Writes padded input row `iy` (zeros where iy or a column is outside the input) as `n` floats starting at padded
// column 0, i.e. input column -pad_l. `n` is a multiple of 8. One full-vector store per 8 columns.
void padded_row(const DwConvPlane& p, const float* in, int64_t iy, int64_t n, float* row) {
  if (iy < 0 || iy >= p.H) {
    for (int64_t x = 0; x < n; x += 8) _mm256_storeu_ps(row + x, _mm256_setzero_ps());
    return;
  }
  const float* srow = in + iy * p.W;
  for (int64_t x = 0; x < n; x += 8) _mm256_storeu_ps(row + x, load_cols(srow, x - p.pad_l, p.W));
}

// Stride 1. Rows are short (7..112 floats typically): inline vector copies, no library calls.
void plane_s1(const DwConvPlane& p, const float* in, const float* w, float bias, const float* residual, float* out) {
  int64_t xoff[kMaxKw];
  for (int64_t kx = 0; kx < p.kw; kx++) xoff[kx] = kx * p.dw;
  // Extent of the padded image that whole-vector loads touch: rows [-pad_t, hp - pad_t), columns [-pad_l, wp - pad_l).
  const int64_t nb = (p.OW + 7) / 8;
  const int64_t hp = (p.OH - 1) * p.sh + (p.kh - 1) * p.dh + 1;
  const int64_t wp = nb * 8 + (p.kw - 1) * p.dw;
  const bool rows3 = p.kh == 3 && p.kw == 3 && p.sh == 1 && p.dh == 1;
  auto run = [&](const float* base, int64_t ld) {
    const int64_t done = rows3 ? run_rows_3x3<4>(p, base, ld, xoff, w, bias, residual, out) : 0;
    if (done < p.OH) run_units(p, base, ld, xoff, w, bias, residual, out, done);
  };
  if (p.pad_t == 0 && p.pad_l == 0 && hp <= p.H && wp <= p.W) {
    run(in, p.W);
    return;
  }
  const int64_t ld = (wp + 7) / 8 * 8;
  float* buf = tl_plane.get(size_t(hp * ld));
  if (!buf) {  // no memory for the copy: the portable kernel needs none
    dwconv2d_f32_ref(p, in, w, bias, residual, out);
    return;
  }
  for (int64_t y = 0; y < hp; y++) padded_row(p, in, y - p.pad_t, ld, buf + y * ld);
  run(buf, ld);
}

// Stride 2: the padded rows are split into their even and odd columns ([even | odd], each `half` wide), so that
// every tap becomes a unit-stride load: padded column 2*ox + c is even[ox + c/2] for even c, odd[ox + c/2] for odd.
// One shuffle pair per 16 inputs here replaces two per 8 outputs and tap in the loop.
void plane_s2(const DwConvPlane& p, const float* in, const float* w, float bias, const float* residual, float* out) {
  const int64_t nb = (p.OW + 7) / 8;
  const int64_t hp = (p.OH - 1) * p.sh + (p.kh - 1) * p.dh + 1;
  const int64_t half = (nb * 8 + ((p.kw - 1) * p.dw) / 2 + 7) / 8 * 8;
  int64_t xoff[kMaxKw];
  for (int64_t kx = 0; kx < p.kw; kx++) {
    const int64_t c = kx * p.dw;
    xoff[kx] = (c & 1 ? half : 0) + c / 2;
  }
  const int64_t ld = 2 * half;
  float* buf = tl_plane.get(size_t(hp * ld));
  if (!buf) {
    dwconv2d_f32_ref(p, in, w, bias, residual, out);
    return;
  }
  // Padded column c of a row is input column c - pad_l. Each 16-column span is read straight from the input and
  // split into 8 even and 8 odd columns.
  for (int64_t y = 0; y < hp; y++) {
    float* even = buf + y * ld;
    float* odd = even + half;
    const int64_t iy = y - p.pad_t;
    if (iy < 0 || iy >= p.H) {
      for (int64_t j = 0; j < ld; j += 8) _mm256_storeu_ps(even + j, _mm256_setzero_ps());
      continue;
    }
    const float* srow = in + iy * p.W;
    for (int64_t j = 0; j < half; j += 8) {
      const int64_t c = 2 * j - p.pad_l;  // input column of padded column 2j
      const __m256 a = load_cols(srow, c, p.W), b = load_cols(srow, c + 8, p.W);
      const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));  // a0 a2 b0 b2 | a4 a6 b4 b6
      const __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));  // a1 a3 b1 b3 | a5 a7 b5 b7
      _mm256_storeu_ps(even + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0))));
      _mm256_storeu_ps(odd + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0))));
    }
  }
  run_units(p, buf, ld, xoff, w, bias, residual, out);
}

}  // namespace

void dwconv2d_f32_avx2(const DwConvPlane& p, const float* in, const float* w, float bias, const float* residual,
                       float* out) {
  if (p.OH <= 0 || p.OW <= 0) return;
  if (p.sw == 1 && p.kw <= kMaxKw)
    plane_s1(p, in, w, bias, residual, out);
  else if (p.sw == 2 && p.kw <= kMaxKw)
    plane_s2(p, in, w, bias, residual, out);
  else
    dwconv2d_f32_ref(p, in, w, bias, residual, out);
}

}  // namespace int8rt
