// float32 elementwise loops written once over GCC/Clang vector extensions and compiled once per ISA: the includer
// defines INT8RT_ELTWISE_VEC_BYTES (16 in the portable ops/elementwise_f32.cc, 32 in the AVX2+FMA
// kernels/x86/eltwise-f32-avx2.cc) and gets its own copy of everything below (internal linkage, so the two
// builds never meet in the linker).
//
// Why vector types and not plain loops: with GCC's default -ftrapping-math, a loop whose body selects between two
// computed values (x < 0 ? a*x : x) is not if-converted, so it does not vectorise at all. Here every branch is
// computed and merged with bitwise selects, which is what SIMD code does anyway.
//
// Accuracy. exp, expm1, log, tanh, sigmoid and erf are within a few ulp of the C library's float functions
// (relative error below 1e-6 over the whole float range, NaN and +-inf handled; the elementwise tests check this
// against std::). Tails shorter than a vector run through the same code on a zero-padded vector, so every element
// of a tensor gets bit-identical results whatever its position.
#pragma once
#ifndef INT8RT_ELTWISE_VEC_BYTES
#error "define INT8RT_ELTWISE_VEC_BYTES (16 or 32) before including ops/elementwise_vec.h"
#endif

#include <cmath>
#include <cstdint>
#include <cstring>

#include "ops/elementwise_internal.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace int8rt {
namespace eltwise {
namespace {

constexpr int kLanes = INT8RT_ELTWISE_VEC_BYTES / 4;
typedef float vf __attribute__((vector_size(INT8RT_ELTWISE_VEC_BYTES)));
typedef int32_t vi __attribute__((vector_size(INT8RT_ELTWISE_VEC_BYTES)));

// ---- vector helpers ----------------------------------------------------------------------------------------------

inline vf splat(float s) {
  vf v;
  for (int i = 0; i < kLanes; i++) v[i] = s;
  return v;
}
inline vf load(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
inline vf as_f(vi v) { return (vf)v; }
inline vi as_i(vf v) { return (vi)v; }
// m ? a : b per lane, m being a comparison result (all ones or all zeros).
inline vf sel(vi m, vf a, vf b) { return as_f((m & as_i(a)) | (~m & as_i(b))); }
inline vi is_nan(vf x) { return x != x; }
inline vf vabs(vf x) { return as_f(as_i(x) & 0x7fffffff); }
inline vf copy_sign(vf mag, vf sign) {
  return as_f((as_i(mag) & 0x7fffffff) | (as_i(sign) & static_cast<int32_t>(0x80000000u)));
}
// a * b + c, for polynomial steps; the compiler fuses it into an FMA where the ISA and -ffp-contract allow.
// (Forcing FMA intrinsics in the AVX2 build measured slower on this project's AMD EPYC machine: exp went from 0.46
// to 0.69 ns per element.)
inline vf madd(vf a, vf b, float c) { return a * b + c; }

// 2^n for integral n in [-126, 127].
inline vf pow2i(vi n) { return as_f((n + 127) << 23); }

inline vf vsqrt(vf x) {
#if INT8RT_ELTWISE_VEC_BYTES == 32 && defined(__AVX__)
  return (vf)_mm256_sqrt_ps((__m256)x);
#elif INT8RT_ELTWISE_VEC_BYTES == 16 && (defined(__x86_64__) || defined(_M_X64))
  return (vf)_mm_sqrt_ps((__m128)x);
#elif INT8RT_ELTWISE_VEC_BYTES == 16 && defined(__aarch64__)
  return (vf)vsqrtq_f32((float32x4_t)x);
#else
  for (int i = 0; i < kLanes; i++) x[i] = std::sqrt(x[i]);
  return x;
#endif
}

// ---- exp family ----------------------------------------------------------------------------------------------------

constexpr float kLog2e = 1.44269504088896341f;
// ln 2 split so that k * kLn2Hi is exact for |k| < 2^15 (Cody-Waite reduction).
constexpr float kLn2Hi = 0.693359375f;
constexpr float kLn2Lo = -2.12194440e-4f;
// x + kRoundMagic - kRoundMagic rounds x to the nearest integer (ties to even) for |x| < 2^22.
constexpr float kRoundMagic = 12582912.0f;

// x = k ln2 + r with k integral and |r| <= ln2/2 (plus rounding).
inline void reduce_ln2(vf x, vf* k, vf* r) {
  *k = (x * kLog2e + kRoundMagic) - kRoundMagic;
  *r = (x - *k * kLn2Hi) - *k * kLn2Lo;
}

// e^x. Taylor polynomial of degree 7 on |r| <= 0.347 (truncation 5e-9), scaling by 2^k in two steps so that
// results in the subnormal range come out right.
inline vf vexp(vf x) {
  // e^89 overflows to inf, e^-104 underflows to 0. NaN becomes -104 here (so the integer part stays in range)
  // and is put back at the end.
  vf xc = sel(x > -104.f, x, splat(-104.f));
  xc = sel(xc < 89.f, xc, splat(89.f));
  vf k, r;
  reduce_ln2(xc, &k, &r);
  vf p = splat(1.f / 5040);
  p = madd(p, r, 1.f / 720);
  p = madd(p, r, 1.f / 120);
  p = madd(p, r, 1.f / 24);
  p = madd(p, r, 1.f / 6);
  p = madd(p, r, 0.5f);
  p = madd(p, r, 1.f);
  p = madd(p, r, 1.f);
  vi ki = __builtin_convertvector(k, vi);
  vi k1 = ki >> 1;
  vf y = p * pow2i(k1) * pow2i(ki - k1);
  return sel(is_nan(x), x, y);
}

// e^x - 1, accurate near 0: e^x - 1 = 2 (2^(k-1) - 1/2 + 2^(k-1) (e^r - 1)), e^r - 1 from its Taylor polynomial.
inline vf vexpm1(vf x) {
  vf xc = sel(x > -30.f, x, splat(-30.f));  // below -30 the result is -1 in float; NaN as in vexp
  xc = sel(xc < 89.f, xc, splat(89.f));
  vf k, r;
  reduce_ln2(xc, &k, &r);
  vf p = splat(1.f / 40320);
  p = madd(p, r, 1.f / 5040);
  p = madd(p, r, 1.f / 720);
  p = madd(p, r, 1.f / 120);
  p = madd(p, r, 1.f / 24);
  p = madd(p, r, 1.f / 6);
  p = madd(p, r, 0.5f);
  vf q = r + (r * r) * p;
  vf s = pow2i(__builtin_convertvector(k, vi) - 1);
  vf y = ((s - 0.5f) + s * q) * 2.f;
  return sel(is_nan(x), x, y);
}

// ---- log family ----------------------------------------------------------------------------------------------------

constexpr float kSqrt2 = 1.41421356237309505f;

// ln x = e ln2 + ln m with m in [sqrt(1/2), sqrt(2)); ln m = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.172, from the
// odd series of atanh to s^11 (truncation 2e-9).
inline vf vlog(vf x) {
  vi sub = x < 1.17549435e-38f;  // subnormal (or <= 0): scale up by 2^23 first
  vf xs = sel(sub, x * 8388608.f, x);
  vi bits = as_i(xs);
  vi e = ((bits >> 23) & 0xff) - 127 - (sub & 23);
  vf m = as_f((bits & 0x007fffff) | 0x3f800000);
  vi big = m > kSqrt2;
  m = sel(big, m * 0.5f, m);
  e = e - big;  // big is -1 where set
  vf f = m - 1.f;
  vf s = f / (f + 2.f);
  vf s2 = s * s;
  vf p = splat(1.f / 11);
  p = madd(p, s2, 1.f / 9);
  p = madd(p, s2, 1.f / 7);
  p = madd(p, s2, 1.f / 5);
  p = madd(p, s2, 1.f / 3);
  vf lnm = (s + s * (s2 * p)) * 2.f;
  vf ef = __builtin_convertvector(e, vf);
  vf y = ef * kLn2Hi + (ef * kLn2Lo + lnm);
  y = sel(x == INFINITY, x, y);
  y = sel(x == 0.f, splat(-INFINITY), y);
  return sel((x < 0.f) | is_nan(x), splat(NAN), y);
}

// ln(1 + y) for y in [0, 1]: 2 atanh(s), s = y / (2 + y) <= 1/3, series to s^15 (truncation 2e-9).
inline vf vlog1p_unit(vf y) {
  vf s = y / (y + 2.f);
  vf s2 = s * s;
  vf p = splat(1.f / 15);
  p = madd(p, s2, 1.f / 13);
  p = madd(p, s2, 1.f / 11);
  p = madd(p, s2, 1.f / 9);
  p = madd(p, s2, 1.f / 7);
  p = madd(p, s2, 1.f / 5);
  p = madd(p, s2, 1.f / 3);
  return (s + s * (s2 * p)) * 2.f;
}

// ---- sigmoid, tanh ------------------------------------------------------------------------------------------------

// 1 / (1 + e^-x), and e^x / (1 + e^x) for x < 0 so that tiny results keep their relative accuracy.
inline vf vsigmoid(vf x) {
  vf e = vexp(-vabs(x));
  return sel(x < 0.f, e, splat(1.f)) / (e + 1.f);
}

// tanh |x| = -expm1(-2|x|) / (2 + expm1(-2|x|)), accurate for small |x| too.
inline vf vtanh(vf x) {
  vf e = vexpm1(vabs(x) * -2.f);
  return copy_sign(-e / (e + 2.f), x);
}

// ---- erf -------------------------------------------------------------------------------------------------------------

// erf x = x P(x^2) for |x| < 1: the Maclaurin series 2/sqrt(pi) sum (-1)^n x^(2n+1) / (n! (2n+1)) to n = 11
// (truncation 1e-10 at |x| = 1).
inline vf verf_small(vf x) {
  vf z = x * x;
  vf p = splat(-1.229055530e-09f);
  p = madd(p, z, 1.480719282e-08f);
  p = madd(p, z, -1.636584469e-07f);
  p = madd(p, z, 1.646211437e-06f);
  p = madd(p, z, -1.492565036e-05f);
  p = madd(p, z, 1.205533298e-04f);
  p = madd(p, z, -8.548327023e-04f);
  p = madd(p, z, 5.223977625e-03f);
  p = madd(p, z, -2.686617065e-02f);
  p = madd(p, z, 1.128379167e-01f);
  p = madd(p, z, -3.761263890e-01f);
  p = madd(p, z, 1.128379167e+00f);
  return x * p;
}

// x^2 = hi + lo exactly (Dekker's product: x split into two 12-bit halves), for normal |x| < 2^60.
inline void square_exact(vf x, vf* hi, vf* lo) {
  const vf xh = as_f(as_i(x) & static_cast<int32_t>(0xfffff000u));
  const vf xl = x - xh;
  *hi = x * x;
  *lo = ((xh * xh - *hi) + (xh * xl) * 2.f) + xl * xl;
}

// erfc a for 1 <= a <= 10 given a^2 = a2_hi + a2_lo: e^(-a^2) R(t), t = 1 / (1 + a), where R is a degree-10
// polynomial fitted (weighted least squares, relative error 2.5e-7 evaluated in float) to e^(a^2) erfc(a) on
// [0.95, 10.1]. Taking a^2 in two parts keeps e^(-a^2) accurate to a few ulp; from a rounded a^2 its relative
// error would grow as a^2 * 2^-24.
inline vf verfc_big(vf a, vf a2_hi, vf a2_lo) {
  vf t = 1.f / (a + 1.f);
  vf p = splat(-3.307544708e+00f);
  p = madd(p, t, 1.089203548e+01f);
  p = madd(p, t, -1.489248562e+01f);
  p = madd(p, t, 1.011663342e+01f);
  p = madd(p, t, -2.733093977e+00f);
  p = madd(p, t, -1.791140437e-01f);
  p = madd(p, t, -3.548172116e-01f);
  p = madd(p, t, 2.888643444e-01f);
  p = madd(p, t, 5.637838840e-01f);
  p = madd(p, t, 5.642036796e-01f);
  p = madd(p, t, -2.158488712e-07f);
  return vexp(-a2_hi) * (1.f - a2_lo) * p;  // e^(-lo) = 1 - lo to within lo^2 ~ 1e-12
}

inline vf verf(vf x) {
  vf a = vabs(x);
  a = sel(a > 10.f, splat(10.f), a);  // erf is 1 in float from 3.92 on
  vf hi, lo;
  square_exact(a, &hi, &lo);
  vf y = sel(a < 1.f, verf_small(x), copy_sign(1.f - verfc_big(a, hi, lo), x));
  return sel(is_nan(x), x, y);
}

// x Phi(x), Phi the standard normal CDF, with Phi(x) = erfc(-x/sqrt 2) / 2 for x < 0 so that the negative tail
// keeps its relative accuracy; (x/sqrt 2)^2 is taken as x^2 / 2 (exact halving) so that rounding x/sqrt 2 does
// not enter e^(-x^2/2).
inline vf vgelu(vf x) {
  vf z = x * 0.707106781186547524f;
  vf xc = sel(vabs(x) > 14.2f, copy_sign(splat(14.2f), x), x);  // |z| <= 10
  vf hi, lo;
  square_exact(xc, &hi, &lo);
  vf a = vabs(xc * 0.707106781186547524f);
  vf c = verfc_big(a, hi * 0.5f, lo * 0.5f) * 0.5f;
  vf cdf = sel(vabs(z) < 1.f, verf_small(z) * 0.5f + 0.5f, sel(z > 0.f, 1.f - c, c));
  return sel(is_nan(x), x, x * cdf);
}

// Gelu with approximate = "tanh": x (1 + tanh u) / 2 = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3).
inline vf vgelu_tanh(vf x) {
  vf u = (x + 0.044715f * (x * x * x)) * 0.797884560802865356f;
  return x * vsigmoid(u * 2.f);
}

// ---- round -----------------------------------------------------------------------------------------------------

// Round half to even. Floats of magnitude >= 2^23 are integers already. Results keep x's sign (also for zeros),
// as floor, ceil and round do.
inline vf vround(vf x) {
  vf a = vabs(x);
  vf r = (a + 8388608.f) - 8388608.f;
  return copy_sign(sel(a < 8388608.f, r, a), x);
}
inline vf vfloor(vf x) {
  vf r = vround(x);
  return copy_sign(sel(r > x, r - 1.f, r), x);
}
inline vf vceil(vf x) {
  vf r = vround(x);
  return copy_sign(sel(r < x, r + 1.f, r), x);
}

// ---- loop drivers --------------------------------------------------------------------------------------------------

// y[i] = f(x[i]); the tail runs on a zero-padded vector. x and y may be the same array.
template <typename F>
inline void map1(const float* x, float* y, int64_t n, F f) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) store(y + i, f(load(x + i)));
  if (i < n) {
    vf v = {};
    std::memcpy(&v, x + i, size_t(n - i) * sizeof(float));
    v = f(v);
    std::memcpy(y + i, &v, size_t(n - i) * sizeof(float));
  }
}

// y[i] = f(x[i]) one element at a time, for functions taken from the C library.
template <typename F>
inline void map1_scalar(const float* x, float* y, int64_t n, F f) {
  for (int64_t i = 0; i < n; i++) y[i] = f(x[i]);
}

inline vf load_part(const float* p, int64_t n) {
  vf v = {};
  std::memcpy(&v, p, size_t(n) * sizeof(float));
  return v;
}

// y[i] = f(a[i or 0], b[i or 0]).
template <typename F>
inline void map2(const float* a, bool av, const float* b, bool bv, float* y, int64_t n, F f) {
  int64_t i = 0;
  const int64_t tail = n % kLanes;
  if (av && bv) {
    for (; i + kLanes <= n; i += kLanes) store(y + i, f(load(a + i), load(b + i)));
    if (tail) {
      vf v = f(load_part(a + i, tail), load_part(b + i, tail));
      std::memcpy(y + i, &v, size_t(tail) * sizeof(float));
    }
  } else if (av) {
    const vf s = splat(*b);
    for (; i + kLanes <= n; i += kLanes) store(y + i, f(load(a + i), s));
    if (tail) {
      vf v = f(load_part(a + i, tail), s);
      std::memcpy(y + i, &v, size_t(tail) * sizeof(float));
    }
  } else if (bv) {
    const vf s = splat(*a);
    for (; i + kLanes <= n; i += kLanes) store(y + i, f(s, load(b + i)));
    if (tail) {
      vf v = f(s, load_part(b + i, tail));
      std::memcpy(y + i, &v, size_t(tail) * sizeof(float));
    }
  } else {
    const float v = f(splat(*a), splat(*b))[0];
    for (; i < n; i++) y[i] = v;
  }
}

// ---- the tables ------------------------------------------------------------------------------------------------------

void unary_f32(UnaryOp op, const UnaryParams& p, const float* x, float* y, int64_t n) {
  switch (op) {
    case UnaryOp::kRelu:
      return map1(x, y, n, [](vf v) { return sel(v < 0.f, splat(0.f), v); });
    case UnaryOp::kLeakyRelu: {
      const float alpha = p.alpha;
      return map1(x, y, n, [alpha](vf v) { return sel(v < 0.f, v * alpha, v); });
    }
    case UnaryOp::kElu: {
      const float alpha = p.alpha;
      return map1(x, y, n, [alpha](vf v) { return sel(v < 0.f, vexpm1(v) * alpha, v); });
    }
    case UnaryOp::kSelu: {
      const float ga = p.gamma * p.alpha, gamma = p.gamma;
      return map1(x, y, n, [ga, gamma](vf v) { return sel(v <= 0.f, vexpm1(v) * ga, v * gamma); });
    }
    case UnaryOp::kCelu: {
      const float alpha = p.alpha, inv = 1.f / p.alpha;
      return map1(x, y, n, [alpha, inv](vf v) { return sel(v > 0.f, v, vexpm1(v * inv) * alpha); });
    }
    case UnaryOp::kSigmoid:
      return map1(x, y, n, [](vf v) { return vsigmoid(v); });
    case UnaryOp::kHardSigmoid: {
      const float alpha = p.alpha, beta = p.beta;
      return map1(x, y, n, [alpha, beta](vf v) {
        vf t = v * alpha + beta;
        t = sel(t < 0.f, splat(0.f), t);
        return sel(t > 1.f, splat(1.f), t);
      });
    }
    case UnaryOp::kHardSwish:
      return map1(x, y, n, [](vf v) {
        vf t = v * (1.f / 6) + 0.5f;
        t = sel(t < 0.f, splat(0.f), t);
        return v * sel(t > 1.f, splat(1.f), t);
      });
    case UnaryOp::kSwish: {
      const float alpha = p.alpha;
      return map1(x, y, n, [alpha](vf v) { return v * vsigmoid(v * alpha); });
    }
    case UnaryOp::kTanh:
      return map1(x, y, n, [](vf v) { return vtanh(v); });
    case UnaryOp::kExp:
      return map1(x, y, n, [](vf v) { return vexp(v); });
    case UnaryOp::kLog:
      return map1(x, y, n, [](vf v) { return vlog(v); });
    case UnaryOp::kSqrt:
      return map1(x, y, n, [](vf v) { return vsqrt(v); });
    case UnaryOp::kAbs:
      return map1(x, y, n, [](vf v) { return vabs(v); });
    case UnaryOp::kNeg:
      return map1(x, y, n, [](vf v) { return -v; });
    case UnaryOp::kReciprocal:
      return map1(x, y, n, [](vf v) { return 1.f / v; });
    case UnaryOp::kFloor:
      return map1(x, y, n, [](vf v) { return vfloor(v); });
    case UnaryOp::kCeil:
      return map1(x, y, n, [](vf v) { return vceil(v); });
    case UnaryOp::kRound:
      return map1(x, y, n, [](vf v) { return vround(v); });
    case UnaryOp::kErf:
      return map1(x, y, n, [](vf v) { return verf(v); });
    case UnaryOp::kSign:
      return map1(x, y, n, [](vf v) { return sel(v > 0.f, splat(1.f), sel(v < 0.f, splat(-1.f), v)); });
    case UnaryOp::kSoftplus:
      // max(x, 0) + ln(1 + e^-|x|)
      return map1(x, y, n, [](vf v) {
        vf y = sel(v > 0.f, v, splat(0.f)) + vlog1p_unit(vexp(-vabs(v)));
        return sel(is_nan(v), v, y);
      });
    case UnaryOp::kSoftsign:
      return map1(x, y, n, [](vf v) { return v / (vabs(v) + 1.f); });
    case UnaryOp::kMish:
      // x tanh(ln(1 + e^x)) = x n / (n + 2) with n = e^x (e^x + 2); past x = 20 the ratio is 1 in float.
      return map1(x, y, n, [](vf v) {
        vf e = vexp(sel(v > 20.f, splat(20.f), v));
        vf m = e * (e + 2.f);
        return v * (m / (m + 2.f));
      });
    case UnaryOp::kGelu:
      return map1(x, y, n, [](vf v) { return vgelu(v); });
    case UnaryOp::kGeluTanh:
      return map1(x, y, n, [](vf v) { return vgelu_tanh(v); });
    case UnaryOp::kThresholdedRelu: {
      const float alpha = p.alpha;
      return map1(x, y, n, [alpha](vf v) { return sel(v > alpha, v, splat(0.f)); });
    }
    case UnaryOp::kShrink: {
      const float lambd = p.alpha, bias = p.beta;
      return map1(x, y, n, [lambd, bias](vf v) {
        return sel(v < -lambd, v + bias, sel(v > lambd, v - bias, splat(0.f)));
      });
    }
    case UnaryOp::kClip: {
      // NaN stays NaN; with lo > hi every element becomes hi (as ONNX specifies).
      const float lo = p.lo, hi = p.hi;
      return map1(x, y, n, [lo, hi](vf v) {
        v = sel(v < lo, splat(lo), v);
        return sel(v > hi, splat(hi), v);
      });
    }
    case UnaryOp::kSquare:
      return map1(x, y, n, [](vf v) { return v * v; });
    case UnaryOp::kCube:
      return map1(x, y, n, [](vf v) { return v * v * v; });
    case UnaryOp::kSin:
      return map1_scalar(x, y, n, [](float v) { return std::sin(v); });
    case UnaryOp::kCos:
      return map1_scalar(x, y, n, [](float v) { return std::cos(v); });
    case UnaryOp::kTan:
      return map1_scalar(x, y, n, [](float v) { return std::tan(v); });
    case UnaryOp::kAsin:
      return map1_scalar(x, y, n, [](float v) { return std::asin(v); });
    case UnaryOp::kAcos:
      return map1_scalar(x, y, n, [](float v) { return std::acos(v); });
    case UnaryOp::kAtan:
      return map1_scalar(x, y, n, [](float v) { return std::atan(v); });
    case UnaryOp::kSinh:
      return map1_scalar(x, y, n, [](float v) { return std::sinh(v); });
    case UnaryOp::kCosh:
      return map1_scalar(x, y, n, [](float v) { return std::cosh(v); });
    case UnaryOp::kAsinh:
      return map1_scalar(x, y, n, [](float v) { return std::asinh(v); });
    case UnaryOp::kAcosh:
      return map1_scalar(x, y, n, [](float v) { return std::acosh(v); });
    case UnaryOp::kAtanh:
      return map1_scalar(x, y, n, [](float v) { return std::atanh(v); });
  }
}

void binary_f32(BinaryOp op, const float* a, bool av, const float* b, bool bv, float* y, int64_t n) {
  switch (op) {
    case BinaryOp::kAdd:
      return map2(a, av, b, bv, y, n, [](vf u, vf v) { return u + v; });
    case BinaryOp::kSub:
      return map2(a, av, b, bv, y, n, [](vf u, vf v) { return u - v; });
    case BinaryOp::kMul:
      return map2(a, av, b, bv, y, n, [](vf u, vf v) { return u * v; });
    case BinaryOp::kDiv:
      return map2(a, av, b, bv, y, n, [](vf u, vf v) { return u / v; });
    case BinaryOp::kMax:  // NaN in either operand gives NaN, as numpy.maximum
      return map2(a, av, b, bv, y, n, [](vf u, vf v) { return sel(is_nan(u), u, sel(u > v, u, v)); });
    case BinaryOp::kMin:
      return map2(a, av, b, bv, y, n, [](vf u, vf v) { return sel(is_nan(u), u, sel(u < v, u, v)); });
    case BinaryOp::kPRelu:
      return map2(a, av, b, bv, y, n, [](vf u, vf v) { return sel(u < 0.f, u * v, u); });
  }
}

}  // namespace
}  // namespace eltwise
}  // namespace int8rt
