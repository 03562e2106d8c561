// Int8 depthwise 2-D convolution, AVX2.
//
// vpmaddwd multiplies 16 pairs of int16 and adds each pair into an int32 lane: exact for int8 values (no vpmaddubsw
// saturation), two taps per lane and instruction. The two taps of a pair are vertically adjacent kernel rows (ky,
// ky+1) at the same column, so the plane is first rewritten into a workspace of int16 pairs: entry (r, c) holds the
// padded input pixels (r, c) and (r + dh, c) side by side, with zeros wherever a pixel falls into the padding. With
// horizontal stride sw the columns are also split into sw phases (column c goes to phase c % sw, index c / sw), so
// that the taps of 8 consecutive outputs are 8 consecutive entries of one phase for every stride and dilation. Each
// (kernel row pair, kx) step is then one unaligned 256-bit load, one vpmaddwd against the broadcast weight pair and
// one add per 8 outputs; an odd last kernel row pairs with weight 0. Output rows are computed 32 columns at a time
// (4 accumulators in flight), the remainder 8 at a time; the workspace rows are wide enough that every load stays
// inside them, and partial vectors are stored through a small buffer.
//
// The epilogue is the one of kernels/qgemm.h in vector form: cvtdq2ps of the biased accumulator, one multiply, one
// fused multiply-add of the residual, a clamp to [qmin, qmax] and cvtps2dq, which rounds half to even like
// nearbyint under the default MXCSR, so the result equals dwconv2d_s8_ref bit for bit.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/dwconv-s8.h"

namespace int8rt {

namespace {

constexpr int64_t kMaxTaps = 16;  // kernels wider or taller than this (none in practice) use the portable kernel

inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

// Workspace layout for a plane geometry.
struct Layout {
  int64_t OWr = 0;    // OW rounded up to whole vectors
  int64_t J = 0;      // entries per phase row (multiple of 8)
  int64_t R = 0;      // padded rows the outputs reach
  int64_t KP = 0;     // kernel row pairs
  bool ok = false;    // false: use the portable kernel
};

Layout layout_of(const DwConvS8Plane& p) {
  Layout l;
  l.ok = p.kh <= kMaxTaps && p.kw <= kMaxTaps && p.OH > 0 && p.OW > 0;
  l.OWr = round_up(std::max<int64_t>(p.OW, 1), 8);
  l.J = round_up(l.OWr + ((p.kw - 1) * p.dw) / p.sw + 1, 8);
  l.R = (p.OH - 1) * p.sh + (p.kh - 1) * p.dh + 1;
  l.KP = (p.kh + 1) / 2;
  return l;
}

// Two int8 values as the int16 pair (a low, b high) of one 32-bit lane.
inline int32_t pair(int8_t a, int8_t b) {
  return int32_t(uint32_t(uint16_t(int16_t(a))) | (uint32_t(uint16_t(int16_t(b))) << 16));
}

// Writes workspace row r (all sw phases): pairs of input rows a = r - pad_t and b = a + dh (null when outside).
void build_row(const DwConvS8Plane& p, const Layout& l, const int8_t* ra, const int8_t* rb, int32_t* dst) {
  const int64_t sw = p.sw, J = l.J, W = p.W, pl = p.pad_l;
  if (!ra && !rb) {
    std::memset(dst, 0, size_t(sw * J) * sizeof(int32_t));
    return;
  }
  alignas(16) static const int8_t kZero[16] = {0};
  // Entry j of phase ph is column ix = j * sw + ph - pl; scalar form, used for the borders.
  auto scalar = [&](int64_t ph, int64_t j0, int64_t j1) {
    int32_t* d = dst + ph * J;
    for (int64_t j = j0; j < j1; j++) {
      const int64_t ix = j * sw + ph - pl;
      if (ix < 0 || ix >= W) {
        d[j] = 0;
      } else {
        d[j] = pair(ra ? ra[ix] : int8_t(0), rb ? rb[ix] : int8_t(0));
      }
    }
  };
  if (sw == 1) {
    // Vector body: 8 columns, both rows' bytes interleaved, then sign-extended to int16. Entry j is column j - pl.
    const int64_t j0 = std::min(J, pl);
    scalar(0, 0, j0);
    int64_t j = j0;
    for (; j + 8 <= J && j + 8 <= pl + W; j += 8) {
      const int64_t ix = j - pl;
      const __m128i a = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(ra ? ra + ix : kZero));
      const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(rb ? rb + ix : kZero));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + j), _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(a, b)));
    }
    scalar(0, j, J);
    return;
  }
  if (sw == 2) {
    // Vector body: 16 columns split into even (phase 0) and odd (phase 1) bytes, 8 entries of each phase.
    const __m128i split = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    // Entry j covers columns 2j - pl (phase 0) and 2j + 1 - pl (phase 1): the vector needs 2j - pl >= 0 and
    // 2j - pl + 16 <= W.
    const int64_t j0 = std::min(J, (pl + 1) / 2);
    scalar(0, 0, j0);
    scalar(1, 0, j0);
    int64_t j = j0;
    for (; j + 8 <= J && 2 * j - pl + 16 <= W; j += 8) {
      const int64_t ix = 2 * j - pl;
      const __m128i a = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ra ? ra + ix : kZero)),
                                         split);
      const __m128i b = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(rb ? rb + ix : kZero)),
                                         split);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + j), _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(a, b)));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + J + j), _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(a, b)));
    }
    scalar(0, j, J);
    scalar(1, j, J);
    return;
  }
  for (int64_t ph = 0; ph < sw; ph++) scalar(ph, 0, J);
}

struct Epilogue {
  __m256i bias;
  __m256 m, rm, lo, hi;
  bool residual;
};

// Requantizes 8 accumulators and stores outputs [0, n) (n <= 8) of the row at `out`; `res` is the residual row.
inline void finish(const Epilogue& e, __m256i acc, const int8_t* res, int8_t* out, int64_t n) {
  __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(acc, e.bias)), e.m);
  if (e.residual) {
    __m128i r;
    if (n == 8) {
      r = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(res));
    } else {
      alignas(16) int8_t tmp[16] = {0};
      std::memcpy(tmp, res, size_t(n));
      r = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(tmp));
    }
    v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(r)), e.rm, v);
  }
  v = _mm256_min_ps(_mm256_max_ps(v, e.lo), e.hi);
  const __m256i q = _mm256_cvtps_epi32(v);
  const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  const __m128i b8 = _mm_packs_epi16(w16, w16);
  if (n == 8) {
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out), b8);
  } else {
    alignas(16) int8_t tmp[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(tmp), b8);
    std::memcpy(out, tmp, size_t(n));
  }
}

}  // namespace

size_t dwconv2d_s8_avx2_workspace(const DwConvS8Plane& p) {
  const Layout l = layout_of(p);
  if (!l.ok) return dwconv2d_s8_ref_workspace(p);
  return size_t(l.R * p.sw * l.J) * sizeof(int32_t);
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

  // Workspace rows: only those that start a kernel row pair of some output row.
  for (int64_t r = 0; r < l.R; r++) {
    bool needed = false;
    for (int64_t kp = 0; kp < KP && !needed; kp++) {
      const int64_t t = r - 2 * kp * p.dh;
      needed = t >= 0 && t % p.sh == 0 && t / p.sh < p.OH;
    }
    if (!needed) continue;
    const int64_t a = r - p.pad_t, b = a + p.dh;
    build_row(p, l, a >= 0 && a < p.H ? in + a * p.W : nullptr, b >= 0 && b < p.H ? in + b * p.W : nullptr,
              buf + r * sw * J);
  }

  Epilogue e;
  e.bias = _mm256_set1_epi32(ch.bias);
  e.m = _mm256_set1_ps(ch.multiplier);
  e.rm = _mm256_set1_ps(ch.residual_multiplier);
  e.lo = _mm256_set1_ps(float(p.qmin));
  e.hi = _mm256_set1_ps(float(p.qmax));
  e.residual = ch.residual != nullptr;

  const int64_t OW = p.OW, OWr = l.OWr;
  for (int64_t oy = 0; oy < p.OH; oy++) {
    const int32_t* rows[(kMaxTaps + 1) / 2];
    for (int64_t kp = 0; kp < KP; kp++) rows[kp] = buf + (oy * p.sh + 2 * kp * p.dh) * sw * J;
    int8_t* orow = out + oy * OW;
    const int8_t* rrow = ch.residual ? ch.residual + oy * OW : nullptr;
    int64_t ox = 0;
    for (; ox + 32 <= OWr; ox += 32) {
      __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
      for (int64_t kp = 0; kp < KP; kp++) {
        const int32_t* base = rows[kp] + ox;
        const int32_t* wp = wpair + kp * kw;
        for (int64_t kx = 0; kx < kw; kx++) {
          const __m256i w = _mm256_set1_epi32(wp[kx]);
          const int32_t* s = base + tap_off[kx];
          a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s)), w));
          a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 8)), w));
          a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 16)), w));
          a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 24)), w));
        }
      }
      const __m256i acc[4] = {a0, a1, a2, a3};
      for (int i = 0; i < 4; i++) {
        const int64_t o = ox + 8 * i;
        if (o >= OW) break;
        finish(e, acc[i], rrow ? rrow + o : nullptr, orow + o, std::min<int64_t>(8, OW - o));
      }
    }
    for (; ox < OWr; ox += 8) {
      __m256i a0 = _mm256_setzero_si256();
      for (int64_t kp = 0; kp < KP; kp++) {
        const int32_t* base = rows[kp] + ox;
        const int32_t* wp = wpair + kp * kw;
        for (int64_t kx = 0; kx < kw; kx++) {
          const __m256i w = _mm256_set1_epi32(wp[kx]);
          a0 = _mm256_add_epi32(
              a0, _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(base + tap_off[kx])), w));
        }
      }
      finish(e, a0, rrow ? rrow + ox : nullptr, orow + ox, std::min<int64_t>(8, OW - ox));
    }
  }
}

}  // namespace int8rt
