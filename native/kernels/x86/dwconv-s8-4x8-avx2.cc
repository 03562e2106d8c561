// Int8 depthwise 2-D convolution, AVX2.
//
// vpmaddwd multiplies 16 pairs of int16 and adds each pair into an int32 lane: exact for int8 values (no vpmaddubsw
// saturation), two taps per lane and instruction. The two taps of a pair are vertically adjacent kernel rows (ky,
// ky+1) at the same column, so the plane is first rewritten into a workspace of int16 pairs: entry (r, c) holds the
// padded input pixels (r, c) and (r + dh, c) side by side. With horizontal stride sw the columns are also split into
// sw phases (column c goes to phase c % sw, index c / sw), so that the taps of 8 consecutive outputs are 8
// consecutive entries of one phase for every stride and dilation. Each (kernel row pair, kx) step is then one
// unaligned 256-bit load, one vpmaddwd against the broadcast weight pair and one add per 8 outputs; an odd last
// kernel row pairs with weight 0. To build the pairs with whole vectors only, the plane is first copied into a
// zero-bordered int8 staging plane (one copy per row). Output rows are computed 32 columns at a time (4 accumulators
// in flight, started at the bias), the remainder 8 at a time; the workspace rows are wide enough that every load
// stays inside them. Whole 32-column blocks are requantized and stored as one vector; partial ones through a small
// buffer. 3x3 and 5x5 kernels with horizontal stride 1 or 2 get unrolled tap loops with constant offsets.
//
// The epilogue is the one of kernels/qgemm.h in vector form: cvtdq2ps of the biased accumulator, one multiply, one
// fused multiply-add of the residual, cvtps2dq, which rounds half to even like nearbyint under the default MXCSR,
// and the clamp (see Epilogue), so the result equals dwconv2d_s8_ref bit for bit.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/dwconv-s8.h"

namespace int8rt {

namespace {

constexpr int64_t kMaxTaps = 16;  // kernels wider or taller than this (none in practice) use the portable kernel

inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

// Workspace layout for a plane geometry: the pair rows (R x sw phases x J int32), the staging plane (Rs x PW bytes,
// PW a multiple of 32) and R flags (pair rows to build).
struct Layout {
  int64_t OWr = 0;  // OW rounded up to whole vectors
  int64_t J = 0;    // pair entries per phase row (multiple of 8)
  int64_t R = 0;    // padded rows the outputs reach (pair rows)
  int64_t Rs = 0;   // staged rows: R plus the partners of the last pair rows
  int64_t PW = 0;   // staged row width in bytes
  int64_t KP = 0;   // kernel row pairs
  bool ok = false;  // false: use the portable kernel
};

Layout layout_of(const DwConvS8Plane& p) {
  Layout l;
  l.ok = p.kh <= kMaxTaps && p.kw <= kMaxTaps && p.OH > 0 && p.OW > 0;
  l.OWr = round_up(std::max<int64_t>(p.OW, 1), 8);
  l.J = round_up(l.OWr + ((p.kw - 1) * p.dw) / p.sw, 8);
  l.R = (p.OH - 1) * p.sh + (p.kh - 1) * p.dh + 1;
  l.Rs = l.R + p.dh;
  l.PW = round_up(l.J * p.sw + 16, 32);
  l.KP = (p.kh + 1) / 2;
  return l;
}

size_t pair_bytes(const DwConvS8Plane& p, const Layout& l) { return size_t(l.R * p.sw * l.J) * sizeof(int32_t); }
size_t staged_bytes(const Layout& l) { return size_t(l.Rs * l.PW); }

// Two int8 values as the int16 pair (a low, b high) of one 32-bit lane.
inline int32_t pair(int8_t a, int8_t b) {
  return int32_t(uint32_t(uint16_t(int16_t(a))) | (uint32_t(uint16_t(int16_t(b))) << 16));
}

inline void copy32(int8_t* d, const int8_t* s) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(d), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s)));
}
inline void copy16(int8_t* d, const int8_t* s) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(d), _mm_loadu_si128(reinterpret_cast<const __m128i*>(s)));
}
inline void copy8(int8_t* d, const int8_t* s) {
  _mm_storel_epi64(reinterpret_cast<__m128i*>(d), _mm_loadl_epi64(reinterpret_cast<const __m128i*>(s)));
}
// n bytes from s to d with unaligned vector moves (overlapping at the end), for the short rows of a plane.
inline void copy_bytes(int8_t* d, const int8_t* s, int64_t n) {
  if (n >= 32) {
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) copy32(d + i, s + i);
    if (i < n) copy32(d + n - 32, s + n - 32);
  } else if (n >= 16) {
    copy16(d, s);
    copy16(d + n - 16, s + n - 16);
  } else if (n >= 8) {
    copy8(d, s);
    copy8(d + n - 8, s + n - 8);
  } else if (n >= 4) {
    int32_t a, b;
    std::memcpy(&a, s, 4);
    std::memcpy(&b, s + n - 4, 4);
    std::memcpy(d, &a, 4);
    std::memcpy(d + n - 4, &b, 4);
  } else {
    for (int64_t i = 0; i < n; i++) d[i] = s[i];
  }
}

// Staged row r holds input row r - pad_t shifted right by pad_l, zeros elsewhere.
void stage_plane(const DwConvS8Plane& p, const Layout& l, const int8_t* in, int8_t* staged) {
  const int64_t PW = l.PW, pl = std::min(p.pad_l, PW);
  const int64_t n = std::max<int64_t>(0, std::min(p.W, PW - pl));
  const __m256i zero = _mm256_setzero_si256();
  for (int64_t r = 0; r < l.Rs; r++) {
    int8_t* d = staged + r * PW;
    for (int64_t i = 0; i < PW; i += 32) _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i), zero);
    const int64_t iy = r - p.pad_t;
    if (iy >= 0 && iy < p.H) copy_bytes(d + pl, in + iy * p.W, n);
  }
}

// Pair row r (all sw phases) from staged rows a = r and b = r + dh: entry j of phase ph is column j * sw + ph.
void build_row(const Layout& l, int64_t sw, const int8_t* a, const int8_t* b, int32_t* dst) {
  const int64_t J = l.J;
  if (sw == 1) {
    for (int64_t j = 0; j < J; j += 8) {
      const __m128i va = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(a + j));
      const __m128i vb = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + j));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + j), _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(va, vb)));
    }
  } else if (sw == 2) {
    // 16 columns split into even (phase 0) and odd (phase 1) bytes: 8 entries of each phase.
    const __m128i split = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    for (int64_t j = 0; j < J; j += 8) {
      const __m128i va = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + 2 * j)), split);
      const __m128i vb = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2 * j)), split);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + j), _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(va, vb)));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + J + j), _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(va, vb)));
    }
  } else {
    for (int64_t ph = 0; ph < sw; ph++) {
      int32_t* d = dst + ph * J;
      for (int64_t j = 0; j < J; j++) d[j] = pair(a[j * sw + ph], b[j * sw + ph]);
    }
  }
}

// The clamp to [qmin, qmax] runs on the packed bytes: in float only the upper end is bounded (so that cvtps2dq never
// sees a positive value beyond int32; a negative one becomes INT32_MIN), the saturating packs bound the result to
// [-128, 127], and a byte min/max applies the activation's bounds. Clamping and rounding to nearest commute for
// integer bounds, so this equals nearbyint(min(max(v, qmin), qmax)).
struct Epilogue {
  __m256i bias;
  __m256 m, rm, top;
  __m256i qlo, qhi;  // qmin, qmax in every byte
};

inline __m256i requant(const Epilogue& e, __m256i acc, const int8_t* res) {
  __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), e.m);
  if (res) {
    const __m256i r = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(res)));
    v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(r), e.rm, v);
  }
  return _mm256_cvtps_epi32(_mm256_min_ps(v, e.top));
}

// Requantizes 32 accumulators (bias included) and stores them at `out`; `res` is the residual (or null).
inline void finish32(const Epilogue& e, const __m256i* acc, const int8_t* res, int8_t* out) {
  const __m256i q0 = requant(e, acc[0], res);
  const __m256i q1 = requant(e, acc[1], res ? res + 8 : nullptr);
  const __m256i q2 = requant(e, acc[2], res ? res + 16 : nullptr);
  const __m256i q3 = requant(e, acc[3], res ? res + 24 : nullptr);
  // packs work per 128-bit lane: bytes come out as q0[0:4] q1[0:4] q2[0:4] q3[0:4] | q0[4:8] ...
  __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
  b = _mm256_min_epi8(_mm256_max_epi8(b, e.qlo), e.qhi);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                      _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

// Requantizes 8 accumulators and stores outputs [0, n) (n <= 8). With `whole`, all 8 lanes may be read from the
// residual and written to `out` even when n < 8: the lanes past the row end land in the next row of the plane, which
// is computed (and stored) later.
inline void finish8(const Epilogue& e, __m256i acc, const int8_t* res, int8_t* out, int64_t n, bool whole) {
  alignas(16) int8_t rtmp[16] = {0};
  if (res && !whole) {
    std::memcpy(rtmp, res, size_t(n));
    res = rtmp;
  }
  const __m256i q = requant(e, acc, res);
  const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  __m128i b8 = _mm_packs_epi16(w16, w16);
  b8 = _mm_min_epi8(_mm_max_epi8(b8, _mm256_castsi256_si128(e.qlo)), _mm256_castsi256_si128(e.qhi));
  if (whole) {
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out), b8);
  } else {
    alignas(16) int8_t tmp[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(tmp), b8);
    std::memcpy(out, tmp, size_t(n));
  }
}

// NV vectors (8 * NV outputs) of one output row starting at column ox, each accumulator started at the bias.
// K > 0: a K x K kernel known at compile time (KP = (K + 1) / 2 row pairs), its weight pairs already broadcast in
// `wv`, the tap loops unrolled. SW = 1 or 2 (with dilation 1): tap kx reads phase kx % SW at entry offset kx / SW,
// compile-time displacements. K = 0 / SW = 0: any kernel, stride and dilation (weights from wpair, offsets from
// tap_off).
template <int K, int SW, int NV>
inline void block(const int32_t* const* rows, int64_t KP_rt, int64_t kw_rt, int64_t J, const __m256i* wv,
                  const int32_t* wpair, const int64_t* tap_off, int64_t ox, __m256i bias, __m256i* acc) {
  constexpr int64_t KPc = (K + 1) / 2;
  const int64_t kw = K ? K : kw_rt, KP = K ? KPc : KP_rt;
  for (int i = 0; i < NV; i++) acc[i] = bias;
  for (int64_t kp = 0; kp < KP; kp++) {
    const int32_t* base = rows[kp] + ox;
    for (int64_t kx = 0; kx < kw; kx++) {
      const __m256i w = K ? wv[kp * kw + kx] : _mm256_set1_epi32(wpair[kp * kw + kx]);
      const int32_t* s = SW == 1 ? base + kx : SW == 2 ? base + (kx & 1) * J + (kx >> 1) : base + tap_off[kx];
      for (int i = 0; i < NV; i++) {
        const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 8 * i));
        acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(x, w));
        // Keeps each accumulator in its register from tap to tap: without this g++ re-associates the sums of the
        // unrolled taps into trees whose partial products spill to the stack.
        __asm__("" : "+x"(acc[i]));
      }
    }
  }
}

// All output rows.
template <int K, int SW>
void compute_rows(const DwConvS8Plane& p, const Layout& l, const int32_t* buf, const int32_t* wpair,
                  const int64_t* tap_off, const Epilogue& e, const int8_t* residual, int8_t* out) {
  const int64_t KP = l.KP, OW = p.OW, J = l.J, row_stride = p.sw * l.J, nvec = l.OWr / 8, plane = p.OH * p.OW;
  constexpr int kWeights = K ? (K + 1) / 2 * K : 1;
  __m256i wv[kWeights];
  if (K)
    for (int i = 0; i < kWeights; i++) wv[i] = _mm256_set1_epi32(wpair[i]);
  __m256i acc[4];
  for (int64_t oy = 0; oy < p.OH; oy++) {
    const int32_t* rows[(kMaxTaps + 1) / 2];
    for (int64_t kp = 0; kp < KP; kp++) rows[kp] = buf + (oy * p.sh + 2 * kp * p.dh) * row_stride;
    int8_t* orow = out + oy * OW;
    const int8_t* rrow = residual ? residual + oy * OW : nullptr;
    int64_t v = 0;
    for (; v + 4 <= nvec; v += 4) {
      const int64_t ox = v * 8;
      block<K, SW, 4>(rows, KP, p.kw, J, wv, wpair, tap_off, ox, e.bias, acc);
      if (ox + 32 <= OW) {
        finish32(e, acc, rrow ? rrow + ox : nullptr, orow + ox);
      } else {
        for (int64_t i = 0, o = ox; i < 4 && o < OW; i++, o += 8)
          finish8(e, acc[i], rrow ? rrow + o : nullptr, orow + o, std::min<int64_t>(8, OW - o),
                  oy * OW + o + 8 <= plane);
      }
    }
    const int64_t rem = nvec - v, ox = v * 8;
    if (rem == 0) continue;
    if (rem == 3)
      block<K, SW, 3>(rows, KP, p.kw, J, wv, wpair, tap_off, ox, e.bias, acc);
    else if (rem == 2)
      block<K, SW, 2>(rows, KP, p.kw, J, wv, wpair, tap_off, ox, e.bias, acc);
    else
      block<K, SW, 1>(rows, KP, p.kw, J, wv, wpair, tap_off, ox, e.bias, acc);
    for (int64_t i = 0, o = ox; i < rem; i++, o += 8)
      finish8(e, acc[i], rrow ? rrow + o : nullptr, orow + o, std::min<int64_t>(8, OW - o), oy * OW + o + 8 <= plane);
  }
}

// The common kernels (3x3 and 5x5, strides 1 and 2, no dilation) with everything known at compile time.
template <int K>
void compute_rows_k(const DwConvS8Plane& p, const Layout& l, const int32_t* buf, const int32_t* wpair,
                    const int64_t* tap_off, const Epilogue& e, const int8_t* residual, int8_t* out) {
  if (p.dw == 1 && p.sw == 1)
    compute_rows<K, 1>(p, l, buf, wpair, tap_off, e, residual, out);
  else if (p.dw == 1 && p.sw == 2)
    compute_rows<K, 2>(p, l, buf, wpair, tap_off, e, residual, out);
  else
    compute_rows<K, 0>(p, l, buf, wpair, tap_off, e, residual, out);
}

}  // namespace

size_t dwconv2d_s8_avx2_workspace(const DwConvS8Plane& p) {
  const Layout l = layout_of(p);
  if (!l.ok) return dwconv2d_s8_ref_workspace(p);
  return pair_bytes(p, l) + staged_bytes(l) + size_t(l.R);
}

void dwconv2d_s8_avx2(const DwConvS8Plane& p, const int8_t* in, const DwConvS8Channel& ch, int8_t* out,
                      void* workspace) {
  const Layout l = layout_of(p);
  if (!l.ok) {
    dwconv2d_s8_ref(p, in, ch, out, workspace);
    return;
  }
  const int64_t sw = p.sw, J = l.J, KP = l.KP, kw = p.kw;
  int32_t* buf = static_cast<int32_t*>(workspace);
  int8_t* staged = static_cast<int8_t*>(workspace) + pair_bytes(p, l);
  uint8_t* needed = reinterpret_cast<uint8_t*>(staged + staged_bytes(l));  // R flags

  // Weight pairs (w[ky][kx], w[ky+1][kx]) for ky = 2 * kp, and each kx's phase and entry offset.
  int32_t wpair[(kMaxTaps + 1) / 2 * kMaxTaps];
  int64_t tap_off[kMaxTaps];
  for (int64_t kp = 0; kp < KP; kp++)
    for (int64_t kx = 0; kx < kw; kx++) {
      const int64_t ky = 2 * kp;
      const int8_t w0 = ch.w[ky * kw + kx];
      const int8_t w1 = ky + 1 < p.kh ? ch.w[(ky + 1) * kw + kx] : int8_t(0);
      wpair[kp * kw + kx] = pair(w0, w1);
    }
  for (int64_t kx = 0; kx < kw; kx++) {
    const int64_t c = kx * p.dw;
    tap_off[kx] = (c % sw) * J + c / sw;
  }

  stage_plane(p, l, in, staged);
  // Pair rows: only those that start a kernel row pair of some output row (with vertical stride 1, all of them).
  if (p.sh > 1) {
    for (int64_t r = 0; r < l.R; r++) needed[r] = 0;
    for (int64_t oy = 0; oy < p.OH; oy++)
      for (int64_t kp = 0; kp < KP; kp++) needed[oy * p.sh + 2 * kp * p.dh] = 1;
  }
  for (int64_t r = 0; r < l.R; r++)
    if (p.sh == 1 || needed[r]) build_row(l, sw, staged + r * l.PW, staged + (r + p.dh) * l.PW, buf + r * sw * J);

  Epilogue e;
  e.bias = _mm256_set1_epi32(ch.bias);
  e.m = _mm256_set1_ps(ch.multiplier);
  e.rm = _mm256_set1_ps(ch.residual_multiplier);
  e.top = _mm256_set1_ps(127.f);
  e.qlo = _mm256_set1_epi8(int8_t(std::min(std::max(p.qmin, -128), 127)));
  e.qhi = _mm256_set1_epi8(int8_t(std::min(std::max(p.qmax, -128), 127)));
  if (kw == 3 && p.kh == 3)
    compute_rows_k<3>(p, l, buf, wpair, tap_off, e, ch.residual, out);
  else if (kw == 5 && p.kh == 5)
    compute_rows_k<5>(p, l, buf, wpair, tap_off, e, ch.residual, out);
  else
    compute_rows<0, 0>(p, l, buf, wpair, tap_off, e, ch.residual, out);
}

}  // namespace int8rt
