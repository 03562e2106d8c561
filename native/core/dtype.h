// Element types, numbered as ONNX TensorProto.DataType so that a model's codes need no translation.
#pragma once
#include <cstddef>
#include <cstdint>

namespace int8rt {

// X(enum name, ONNX code, size in bytes, name as int8rt's JS Tensor spells it)
#define INT8RT_DTYPES(X)            \
  X(kFloat32, 1, 4, "float32")      \
  X(kUint8, 2, 1, "uint8")          \
  X(kInt8, 3, 1, "int8")            \
  X(kUint16, 4, 2, "uint16")        \
  X(kInt16, 5, 2, "int16")          \
  X(kInt32, 6, 4, "int32")          \
  X(kInt64, 7, 8, "int64")          \
  X(kString, 8, 0, "string")        \
  X(kBool, 9, 1, "bool")            \
  X(kFloat16, 10, 2, "float16")     \
  X(kFloat64, 11, 8, "float64")     \
  X(kUint32, 12, 4, "uint32")       \
  X(kUint64, 13, 8, "uint64")

enum class DType : int32_t {
  kUndefined = 0,
#define INT8RT_X(e, code, size, name) e = code,
  INT8RT_DTYPES(INT8RT_X)
#undef INT8RT_X
};

size_t dtype_size(DType t);          // 0 for undefined/string
const char* dtype_name(DType t);     // "float32", ...; "undefined" for unknown codes
bool dtype_from_name(const char* name, DType* out);
bool dtype_valid(int32_t onnx_code);  // a code this runtime can hold in memory

template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::kFloat32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::kFloat64; };
template <> struct DTypeOf<int8_t> { static constexpr DType value = DType::kInt8; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::kUint8; };
template <> struct DTypeOf<int16_t> { static constexpr DType value = DType::kInt16; };
template <> struct DTypeOf<uint16_t> { static constexpr DType value = DType::kUint16; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::kInt32; };
template <> struct DTypeOf<uint32_t> { static constexpr DType value = DType::kUint32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::kInt64; };
template <> struct DTypeOf<uint64_t> { static constexpr DType value = DType::kUint64; };

// float16 <-> float32 (IEEE binary16, round to nearest even).
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);

}  // namespace int8rt
