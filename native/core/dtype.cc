#include "core/dtype.h"

#include <cstring>

namespace int8rt {

size_t dtype_size(DType t) {
  switch (t) {
#define INT8RT_X(e, code, size, name) \
  case DType::e:                      \
    return size;
    INT8RT_DTYPES(INT8RT_X)
#undef INT8RT_X
    default:
      return 0;
  }
}

const char* dtype_name(DType t) {
  switch (t) {
#define INT8RT_X(e, code, size, name) \
  case DType::e:                      \
    return name;
    INT8RT_DTYPES(INT8RT_X)
#undef INT8RT_X
    default:
      return "undefined";
  }
}

bool dtype_from_name(const char* n, DType* out) {
#define INT8RT_X(e, code, size, name) \
  if (std::strcmp(n, name) == 0) {    \
    *out = DType::e;                  \
    return true;                      \
  }
  INT8RT_DTYPES(INT8RT_X)
#undef INT8RT_X
  return false;
}

bool dtype_valid(int32_t c) {
  DType t = static_cast<DType>(c);
  return t != DType::kString && dtype_size(t) != 0;
}

float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        e++;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      mant &= 0x3ff;
      bits = sign | ((uint32_t)(127 - 15 - e) << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) {  // inf or nan
    return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 | ((absx >> 13) & 0x3ff) : 0));
  }
  if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);  // rounds to inf
  if (absx < 0x38800000u) {                                      // subnormal or zero in half
    if (absx < 0x33000000u) return (uint16_t)sign;               // < 2^-25 rounds to 0
    uint32_t e = absx >> 23;
    uint32_t m = (absx & 0x7fffff) | 0x800000;
    uint32_t rshift = 126 - e;  // bits dropped from the 24-bit mantissa: 14..24
    uint32_t hm = m >> rshift;
    uint32_t rem = m & ((1u << rshift) - 1);
    uint32_t half = 1u << (rshift - 1);
    if (rem > half || (rem == half && (hm & 1))) hm++;
    return (uint16_t)(sign | hm);
  }
  uint32_t hm = ((absx >> 13) & 0x3ff) | (((absx >> 23) - 127 + 15) << 10);
  uint32_t rem = absx & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (hm & 1))) hm++;
  return (uint16_t)(sign | hm);
}

}  // namespace int8rt
