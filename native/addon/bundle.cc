#include "addon/bundle.h"

#include "addon/convert.h"

namespace int8rt {
namespace addon {

namespace {

Status bytes_of(const Napi::Value& v, const uint8_t** data, size_t* size) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    return Status(ErrorCode::kInvalidArgument, "a model bundle must be given as a Uint8Array");
  Napi::Uint8Array a = v.As<Napi::Uint8Array>();
  *data = a.Data();
  *size = a.ByteLength();
  return Status::OK();
}

// { precision: 'fp32' | 'fp16' | 'int8' | 'int8-dynamic', ranges: { tensor: amax }, nodePrecision: { node: 'fp32' |
// 'int8' }, modelSha256: string } -> BundleOptions (lib/bundle.ts validates first; this checks again).
Status bundle_options_from_js(const Napi::Value& v, BundleOptions* o) {
  if (!v.IsObject()) return Status::OK();
  Napi::Object obj = v.As<Napi::Object>();
  Napi::Value p = obj.Get("precision");
  if (p.IsString()) {
    std::string ps = p.As<Napi::String>().Utf8Value();
    if (!bundle_precision_from_name(ps, &o->precision))
      return Status(ErrorCode::kInvalidArgument, "precision '" + ps + "' is not supported here");
  }
  Napi::Value sha = obj.Get("modelSha256");
  if (sha.IsString()) o->model_sha256 = sha.As<Napi::String>().Utf8Value();
  Napi::Value r = obj.Get("ranges");
  if (r.IsObject()) {
    Napi::Object ro = r.As<Napi::Object>();
    Napi::Array keys = ro.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); i++) {
      std::string k = keys.Get(i).ToString().Utf8Value();
      Napi::Value a = ro.Get(k);
      if (a.IsNumber()) o->amax[k] = a.As<Napi::Number>().FloatValue();
    }
  }
  Napi::Value np = obj.Get("nodePrecision");
  if (np.IsObject()) {
    Napi::Object no = np.As<Napi::Object>();
    Napi::Array keys = no.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); i++) {
      std::string k = keys.Get(i).ToString().Utf8Value();
      std::string s = no.Get(k).ToString().Utf8Value();
      if (s != "fp32" && s != "int8")
        return Status(ErrorCode::kInvalidArgument,
                      "nodePrecision['" + k + "'] must be 'fp32' or 'int8', got '" + s + "'");
      o->node_int8[k] = s == "int8";
    }
  }
  return Status::OK();
}

// saveBundle(description, options) -> Buffer: the ModelDescription of lib/onnx/load.ts, decoded as createEngine
// decodes it, with the options, in the bundle format.
Napi::Value SaveBundle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject())
    throw to_js_error(env, Status(ErrorCode::kInvalidArgument, "saveBundle() needs a model description"));
  ModelDef model;
  Status st = model_from_js(info[0].As<Napi::Object>(), &model);
  BundleOptions opts;
  if (st.ok() && info.Length() > 1) st = bundle_options_from_js(info[1], &opts);
  std::string bytes;
  if (st.ok()) st = write_bundle(model, opts, &bytes);
  if (!st.ok()) throw to_js_error(env, st);
  return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

// bundleInfo(bytes) -> { precision, modelSha256, ranges, nodePrecision }: the OPTS section only (cheap).
Napi::Value BundleInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint8_t* data = nullptr;
  size_t size = 0;
  Status st = bytes_of(info.Length() ? info[0] : env.Undefined(), &data, &size);
  BundleOptions o;
  if (st.ok()) st = read_bundle_options(data, size, &o);
  if (!st.ok()) throw to_js_error(env, st);
  Napi::Object out = Napi::Object::New(env);
  out.Set("precision", bundle_precision_name(o.precision));
  out.Set("modelSha256", o.model_sha256);
  Napi::Object ranges = Napi::Object::New(env);
  for (const auto& kv : o.amax) ranges.Set(kv.first, double(kv.second));
  out.Set("ranges", ranges);
  Napi::Object np = Napi::Object::New(env);
  for (const auto& kv : o.node_int8) np.Set(kv.first, kv.second ? "int8" : "fp32");
  out.Set("nodePrecision", np);
  return out;
}

}  // namespace

Status model_from_bundle_js(const Napi::Value& v, ModelDef* model, BundleOptions* options) {
  const uint8_t* data = nullptr;
  size_t size = 0;
  INT8RT_RETURN_IF_ERROR(bytes_of(v, &data, &size));
  return read_bundle(data, size, model, options);
}

void register_bundle(Napi::Env env, Napi::Object exports) {
  exports.Set("saveBundle", Napi::Function::New(env, SaveBundle));
  exports.Set("bundleInfo", Napi::Function::New(env, BundleInfo));
}

}  // namespace addon
}  // namespace int8rt
