// The model as the core sees it: ONNX's nodes, attributes, initializers and graph inputs/outputs, decoded by
// lib/onnx (protobufjs) and handed over once through native/addon. Passes (native/core/passes.*) rewrite it.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace int8rt {

struct Attribute {
  // ONNX AttributeProto.AttributeType codes.
  enum class Type : int32_t { kUndefined = 0, kFloat = 1, kInt = 2, kString = 3, kTensor = 4, kGraph = 5,
                              kFloats = 6, kInts = 7, kStrings = 8 };
  std::string name;
  Type type = Type::kUndefined;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
};

struct NodeDef {
  std::string name;
  std::string op_type;
  std::string domain;  // "" for ai.onnx
  std::vector<std::string> inputs;   // "" marks an absent optional input
  std::vector<std::string> outputs;  // "" marks an unused optional output
  std::vector<Attribute> attrs;
  // Names of the ONNX nodes this node stands for after fusion (itself first). Empty means just `name`.
  std::vector<std::string> fused_from;

  const Attribute* attr(const std::string& n) const;
  bool has_attr(const std::string& n) const { return attr(n) != nullptr; }
  int64_t attr_int(const std::string& n, int64_t dflt) const;
  float attr_float(const std::string& n, float dflt) const;
  std::string attr_string(const std::string& n, const std::string& dflt) const;
  std::vector<int64_t> attr_ints(const std::string& n, const std::vector<int64_t>& dflt = {}) const;
  std::vector<float> attr_floats(const std::string& n, const std::vector<float>& dflt = {}) const;
  void set_attr_int(const std::string& n, int64_t v);
  void set_attr_float(const std::string& n, float v);
  void set_attr_string(const std::string& n, const std::string& v);
  // "Conv 'conv1'" — how error messages name a node.
  std::string describe() const;
};

struct ValueInfo {
  std::string name;
  DType dtype = DType::kUndefined;
  bool has_shape = false;
  Dims dims;                            // -1 where the dim is symbolic or unknown
  std::vector<std::string> dim_params;  // the symbolic name of each dim ("" when fixed or unnamed)
};

struct ModelDef {
  std::map<std::string, int64_t> opsets;  // domain ("" = ai.onnx) -> version
  std::vector<ValueInfo> inputs;          // graph inputs that are not initializers
  std::vector<ValueInfo> outputs;
  std::vector<std::pair<std::string, Tensor>> initializers;
  std::vector<NodeDef> nodes;
  std::string producer;
};

}  // namespace int8rt
