#include "core/op_kernel.h"

namespace int8rt {

const char* device_name(Device d) { return d == Device::kCuda ? "cuda" : "cpu"; }

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kFp16: return "fp16";
    case Precision::kInt8: return "int8";
    default: return "fp32";
  }
}

const KernelDef* KernelRegistry::find(const std::string& op_type, const std::string& domain, int opset, Device device,
                                      Precision precision, std::string* why) const {
  bool any_op = false;
  for (const auto& d : defs_) {
    if (op_type != d.op_type || domain != d.domain) continue;
    any_op = true;
    if (d.device != device || d.precision != precision) continue;
    if (opset < d.since_version || (d.until_version != 0 && opset > d.until_version)) continue;
    return &d;
  }
  if (why) {
    std::string op = domain.empty() ? op_type : domain + "." + op_type;
    if (!any_op)
      *why = "no kernel for " + op;
    else
      *why = std::string("no ") + device_name(device) + " " + precision_name(precision) + " kernel for " + op +
             " at opset " + std::to_string(opset);
  }
  return nullptr;
}

bool KernelRegistry::knows_op(const std::string& op_type, const std::string& domain) const {
  for (const auto& d : defs_)
    if (op_type == d.op_type && domain == d.domain) return true;
  return false;
}

Status shape_error(const NodeDef& node, const std::string& what) {
  return Status(ErrorCode::kShape, node.describe() + ": " + what);
}
Status dtype_error(const NodeDef& node, const std::string& what) {
  return Status(ErrorCode::kDtype, node.describe() + ": " + what);
}
Status unsupported(const NodeDef& node, const std::string& what) {
  return Status(ErrorCode::kUnsupported, node.describe() + ": " + what);
}

}  // namespace int8rt
