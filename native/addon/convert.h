// Conversions between JavaScript values and the core's plain C++ types. Runs on the JavaScript thread only.
#pragma once
#include <napi.h>

#include "core/graph.h"
#include "core/status.h"

namespace int8rt {
namespace addon {

// Throws a JS Error with the Status's stable `code` (as a Napi::Error, thrown by the caller).
Napi::Error to_js_error(Napi::Env env, const Status& st);
// The ModelDescription built by lib/onnx/load.ts -> ModelDef (initializers are copied into aligned memory).
Status model_from_js(const Napi::Object& desc, ModelDef* out);
// A JS Tensor {dtype, data, dims} -> a core Tensor viewing the TypedArray's memory (no copy). The caller keeps the
// JS object alive (a reference) for as long as the view is used.
Status tensor_view_from_js(const Napi::Value& v, const std::string& what, Tensor* out);
// {name, dtype, dims}
Napi::Object value_info_to_js(Napi::Env env, const ValueInfo& info);

}  // namespace addon
}  // namespace int8rt
