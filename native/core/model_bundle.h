// Model bundles: a model prepared once (decoded from ONNX by lib/onnx, calibrated) in a binary file that the C++ core
// reads by itself, with no Node.js and no protobuf: tools/int8rt_run.cc loads one on the GPU machine, and
// Engine.create / the addon load one instead of an .onnx file. A bundle holds exactly what Engine::build needs: the
// ModelDef and the build options that change the plan (precision, calibrated ranges, per-node precision), plus the
// SHA-256 of the ONNX file it was made from, for reference only (nothing checks it on load).
//
// The format is the contract; this comment is its specification. Every integer and float is little-endian; there is
// no padding and no alignment anywhere.
//
//   u8[8]  magic    "I8RTBNDL"
//   u32    version  kBundleVersion (1). A reader refuses any other version: no guessing at a layout.
//   u32    reserved 0 (a reader refuses other values)
//   section OPTS, then section MODL, then nothing (trailing bytes are an error). A section is
//     u8[4] tag ("OPTS" / "MODL"), u64 payload length, then the payload, which must be consumed exactly.
//
// Primitive encodings:
//   str      u32 byte length, then the bytes (UTF-8 as given; not validated)
//   strs     u32 count, then count × str
//   tensor   i32 dtype (ONNX TensorProto code; 0 = "no tensor"; else one dtype_valid() accepts), and unless 0:
//            u32 rank, rank × i64 dim (each >= 0), u64 data byte length (must equal numel × element size),
//            then the raw element bytes (C order, little-endian; float16 as its binary16 bits; bool as one byte)
//
// OPTS payload (BundleOptions):
//   u32    precision    0 fp32, 1 fp16, 2 int8 (static, from `amax`), 3 int8-dynamic
//   str    model_sha256 hex digest of the source .onnx ("" when unknown)
//   u32    count, then count × (str tensor name, f32 amax)            calibrated ranges (QuantizeOptions::amax)
//   u32    count, then count × (str node name, u32 precision 0 | 2)   nodePrecision overrides: 0 fp32, 2 int8
//
// MODL payload (ModelDef, native/core/graph.h):
//   str    producer
//   u32    count, then count × (str domain, i64 version)             opsets
//   u32    count, then count × value_info                            graph inputs
//   u32    count, then count × value_info                            graph outputs
//   u32    count, then count × (str name, tensor)                    initializers (tensor dtype 0 is refused here)
//   u32    count, then count × node
//   value_info: str name, i32 dtype (0 = unknown, else dtype_valid), u8 has_shape (0/1), and when 1:
//               u32 rank, rank × (i64 dim (>= 0, or -1 for symbolic/unknown), str dim_param)
//   node:       str name, str op_type, str domain, strs inputs, strs outputs, u32 count × attribute, strs fused_from
//   attribute:  str name, i32 type (ONNX AttributeProto code), then by type:
//               1 FLOAT f32 | 2 INT i64 | 3 STRING str | 4 TENSOR tensor | 6 FLOATS u32 count × f32 |
//               7 INTS u32 count × i64 | 8 STRINGS strs | any other code: no payload (GRAPH, SPARSE_TENSOR, ...:
//               ModelDef does not hold them; the operator that needs one reports it, as for a model from ONNX)
//
// Reading is defensive: every length and count is checked against the bytes that remain before anything is
// allocated, so a truncated, corrupt or hostile file gives ErrorCode::kModel with a message naming the field, never
// a crash and never an allocation larger than the file. Tensor data is copied into aligned, engine-owned memory.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "core/graph.h"
#include "core/status.h"

namespace int8rt {

struct EngineOptions;

constexpr char kBundleMagic[8] = {'I', '8', 'R', 'T', 'B', 'N', 'D', 'L'};
constexpr uint32_t kBundleVersion = 1;

enum class BundlePrecision : uint32_t { kFp32 = 0, kFp16 = 1, kInt8 = 2, kInt8Dynamic = 3 };
const char* bundle_precision_name(BundlePrecision p);  // "fp32", "fp16", "int8", "int8-dynamic"
bool bundle_precision_from_name(const std::string& name, BundlePrecision* out);

// The build options a bundle carries. Threads and the device are not among them: they belong to the machine that
// loads the bundle, not to the model.
struct BundleOptions {
  BundlePrecision precision = BundlePrecision::kFp32;
  std::map<std::string, float> amax;                // calibrated |x| per tensor name (precision int8)
  std::map<std::string, bool> node_int8;            // nodePrecision overrides: true int8, false fp32
  std::string model_sha256;                         // of the source .onnx, for reference
};

// Serializes model and options (the format above) into *out (replacing its contents). Fails with kModel for what
// the format cannot hold (a string tensor, a tensor whose bytes do not match its shape, a dim_params list whose
// length differs from dims).
Status write_bundle(const ModelDef& model, const BundleOptions& options, std::string* out);

// Parses a whole bundle. On failure *model and *options are left in an unspecified but valid state.
Status read_bundle(const void* data, size_t size, ModelDef* model, BundleOptions* options);

// Parses the header and the OPTS section only (cheap: no tensor data is touched).
Status read_bundle_options(const void* data, size_t size, BundleOptions* options);

// True when the bytes start with the bundle magic (what Engine.create and int8rt_run check first).
bool is_bundle(const void* data, size_t size);

// Sets precision, fp16_weights, dynamic_int8 and quant from the bundle's options; leaves the rest of *out alone.
void apply_bundle_options(const BundleOptions& options, EngineOptions* out);

}  // namespace int8rt
