#include "addon/convert.h"

#include <cstring>

namespace int8rt {
namespace addon {

Napi::Error to_js_error(Napi::Env env, const Status& st) {
  Napi::Error err = Napi::Error::New(env, st.message());
  err.Set("code", Napi::String::New(env, error_code_string(st.code())));
  return err;
}

static Status model_error(const std::string& what) { return Status(ErrorCode::kModel, what); }

static bool get_int64(const Napi::Value& v, int64_t* out) {
  if (v.IsBigInt()) {
    bool lossless;
    *out = v.As<Napi::BigInt>().Int64Value(&lossless);
    return true;
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= -9.2e18 && d <= 9.2e18)) return false;
    *out = int64_t(d);
    return true;
  }
  return false;
}

static Status tensor_from_desc(const Napi::Object& t, std::string* name, Tensor* out) {
  *name = t.Get("name").IsString() ? t.Get("name").As<Napi::String>().Utf8Value() : std::string();
  int32_t code = t.Get("dtype").IsNumber() ? t.Get("dtype").As<Napi::Number>().Int32Value() : 0;
  if (code == int32_t(DType::kString))
    return Status(ErrorCode::kDtype, "tensor '" + *name + "' holds strings, which int8rt does not support");
  if (!dtype_valid(code))
    return Status(ErrorCode::kDtype, "tensor '" + *name + "' has element type " + std::to_string(code) +
                                         ", which int8rt does not support");
  Napi::Value dv = t.Get("dims");
  if (!dv.IsArray()) return model_error("tensor '" + *name + "' has no dims");
  Napi::Array da = dv.As<Napi::Array>();
  Dims dims;
  for (uint32_t i = 0; i < da.Length(); i++) {
    int64_t d;
    if (!get_int64(da.Get(i), &d) || d < 0) return model_error("tensor '" + *name + "' has an invalid dim");
    dims.push_back(d);
  }
  DType dt = DType(code);
  int64_t n = dims_numel(dims);
  if (n < 0) return Status(ErrorCode::kTooLarge, "tensor '" + *name + "' of shape " + dims_str(dims) + " is too large");
  Napi::Value data = t.Get("data");
  if (!data.IsTypedArray()) return model_error("tensor '" + *name + "' has no data");
  Napi::TypedArray ta = data.As<Napi::TypedArray>();
  size_t bytes = ta.ByteLength();
  if (bytes != size_t(n) * dtype_size(dt))
    return model_error("tensor '" + *name + "' of shape " + dims_str(dims) + " has " + std::to_string(bytes) +
                       " bytes of data, expected " + std::to_string(size_t(n) * dtype_size(dt)));
  INT8RT_RETURN_IF_ERROR(Tensor::create(dt, dims, out));
  if (bytes) {
    const uint8_t* src = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    std::memcpy(out->raw(), src, bytes);
  }
  return Status::OK();
}

static Status value_info_from_js(const Napi::Object& o, ValueInfo* vi) {
  vi->name = o.Get("name").IsString() ? o.Get("name").As<Napi::String>().Utf8Value() : std::string();
  if (o.Get("kind").IsString())
    return Status(ErrorCode::kUnsupported, "graph value '" + vi->name + "' is a " +
                                               o.Get("kind").As<Napi::String>().Utf8Value() +
                                               ", not a tensor; int8rt only handles tensors");
  int32_t code = o.Get("dtype").IsNumber() ? o.Get("dtype").As<Napi::Number>().Int32Value() : 0;
  if (code != 0 && !dtype_valid(code))
    return Status(ErrorCode::kDtype, "graph value '" + vi->name + "' has element type " +
                                         (code == int32_t(DType::kString) ? std::string("string") : std::to_string(code)) +
                                         ", which int8rt does not support");
  vi->dtype = DType(code);
  Napi::Value dv = o.Get("dims");
  if (dv.IsArray()) {
    vi->has_shape = true;
    Napi::Array da = dv.As<Napi::Array>();
    for (uint32_t i = 0; i < da.Length(); i++) {
      Napi::Value d = da.Get(i);
      int64_t v;
      if (!d.IsString() && get_int64(d, &v) && v >= 0) {
        vi->dims.push_back(v);
        vi->dim_params.push_back("");
      } else {
        vi->dims.push_back(-1);
        vi->dim_params.push_back(d.IsString() ? d.As<Napi::String>().Utf8Value() : std::string());
      }
    }
  }
  return Status::OK();
}

static Status attribute_from_js(const Napi::Object& o, Attribute* a) {
  a->name = o.Get("name").As<Napi::String>().Utf8Value();
  a->type = Attribute::Type(o.Get("type").IsNumber() ? o.Get("type").As<Napi::Number>().Int32Value() : 0);
  switch (a->type) {
    case Attribute::Type::kFloat:
      a->f = o.Get("f").IsNumber() ? o.Get("f").As<Napi::Number>().FloatValue() : 0.f;
      break;
    case Attribute::Type::kInt:
      if (!get_int64(o.Get("i"), &a->i)) a->i = 0;
      break;
    case Attribute::Type::kString:
      a->s = o.Get("s").IsString() ? o.Get("s").As<Napi::String>().Utf8Value() : std::string();
      break;
    case Attribute::Type::kTensor: {
      if (!o.Get("t").IsObject()) return model_error("attribute '" + a->name + "' has no tensor");
      std::string ignored;
      INT8RT_RETURN_IF_ERROR(tensor_from_desc(o.Get("t").As<Napi::Object>(), &ignored, &a->t));
      break;
    }
    case Attribute::Type::kFloats: {
      Napi::Value v = o.Get("floats");
      if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array) {
        Napi::Float32Array fa = v.As<Napi::Float32Array>();
        a->floats.assign(fa.Data(), fa.Data() + fa.ElementLength());
      }
      break;
    }
    case Attribute::Type::kInts: {
      Napi::Value v = o.Get("ints");
      if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_bigint64_array) {
        Napi::TypedArrayOf<int64_t> ia = v.As<Napi::TypedArrayOf<int64_t>>();
        a->ints.assign(ia.Data(), ia.Data() + ia.ElementLength());
      }
      break;
    }
    case Attribute::Type::kStrings: {
      Napi::Value v = o.Get("strings");
      if (v.IsArray()) {
        Napi::Array sa = v.As<Napi::Array>();
        for (uint32_t i = 0; i < sa.Length(); i++) a->strings.push_back(sa.Get(i).ToString().Utf8Value());
      }
      break;
    }
    default:
      break;  // graphs and sparse tensors: the operator that reads one reports it as unsupported
  }
  return Status::OK();
}

static std::vector<std::string> strings_from_js(const Napi::Value& v) {
  std::vector<std::string> out;
  if (!v.IsArray()) return out;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).ToString().Utf8Value());
  return out;
}

Status model_from_js(const Napi::Object& d, ModelDef* m) {
  if (d.Get("producer").IsString()) m->producer = d.Get("producer").As<Napi::String>().Utf8Value();
  Napi::Value ops = d.Get("opsets");
  if (ops.IsArray()) {
    Napi::Array a = ops.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Object o = a.Get(i).As<Napi::Object>();
      int64_t v = 0;
      get_int64(o.Get("version"), &v);
      m->opsets[o.Get("domain").ToString().Utf8Value()] = v;
    }
  }
  auto arr = [&](const char* key) -> Napi::Array {
    Napi::Value v = d.Get(key);
    return v.IsArray() ? v.As<Napi::Array>() : Napi::Array::New(d.Env());
  };
  Napi::Array ins = arr("inputs"), outs = arr("outputs"), inits = arr("initializers"), nodes = arr("nodes");
  for (uint32_t i = 0; i < ins.Length(); i++) {
    ValueInfo vi;
    INT8RT_RETURN_IF_ERROR(value_info_from_js(ins.Get(i).As<Napi::Object>(), &vi));
    m->inputs.push_back(std::move(vi));
  }
  for (uint32_t i = 0; i < outs.Length(); i++) {
    ValueInfo vi;
    INT8RT_RETURN_IF_ERROR(value_info_from_js(outs.Get(i).As<Napi::Object>(), &vi));
    m->outputs.push_back(std::move(vi));
  }
  for (uint32_t i = 0; i < inits.Length(); i++) {
    std::string name;
    Tensor t;
    INT8RT_RETURN_IF_ERROR(tensor_from_desc(inits.Get(i).As<Napi::Object>(), &name, &t));
    m->initializers.emplace_back(std::move(name), std::move(t));
  }
  for (uint32_t i = 0; i < nodes.Length(); i++) {
    Napi::Object o = nodes.Get(i).As<Napi::Object>();
    NodeDef n;
    n.name = o.Get("name").IsString() ? o.Get("name").As<Napi::String>().Utf8Value() : std::string();
    n.op_type = o.Get("opType").ToString().Utf8Value();
    n.domain = o.Get("domain").IsString() ? o.Get("domain").As<Napi::String>().Utf8Value() : std::string();
    if (n.domain == "ai.onnx") n.domain.clear();
    n.inputs = strings_from_js(o.Get("inputs"));
    n.outputs = strings_from_js(o.Get("outputs"));
    Napi::Value av = o.Get("attributes");
    if (av.IsArray()) {
      Napi::Array aa = av.As<Napi::Array>();
      for (uint32_t k = 0; k < aa.Length(); k++) {
        Attribute a;
        INT8RT_RETURN_IF_ERROR(attribute_from_js(aa.Get(k).As<Napi::Object>(), &a));
        n.attrs.push_back(std::move(a));
      }
    }
    m->nodes.push_back(std::move(n));
  }
  return Status::OK();
}

Status tensor_view_from_js(const Napi::Value& v, const std::string& what, Tensor* out) {
  if (!v.IsObject()) return Status(ErrorCode::kInvalidArgument, what + " is not a Tensor");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value dt = o.Get("dtype"), data = o.Get("data"), dv = o.Get("dims");
  DType dtype;
  if (!dt.IsString() || !dtype_from_name(dt.As<Napi::String>().Utf8Value().c_str(), &dtype))
    return Status(ErrorCode::kDtype, what + " has an unknown dtype");
  if (!data.IsTypedArray()) return Status(ErrorCode::kInvalidArgument, what + ": data is not a TypedArray");
  if (!dv.IsArray()) return Status(ErrorCode::kShape, what + ": dims is not an array");
  Napi::Array da = dv.As<Napi::Array>();
  Dims dims;
  for (uint32_t i = 0; i < da.Length(); i++) {
    int64_t d;
    if (!get_int64(da.Get(i), &d) || d < 0) return Status(ErrorCode::kShape, what + ": dims must be non-negative integers");
    dims.push_back(d);
  }
  int64_t n = dims_numel(dims);
  if (n < 0) return Status(ErrorCode::kTooLarge, what + ": shape " + dims_str(dims) + " is too large");
  Napi::TypedArray ta = data.As<Napi::TypedArray>();
  size_t bytes = ta.ByteLength();
  if (bytes != size_t(n) * dtype_size(dtype))
    return Status(ErrorCode::kShape, what + ": data has " + std::to_string(ta.ElementLength()) +
                                         " elements, dims " + dims_str(dims) + " need " + std::to_string(n));
  void* p = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  *out = Tensor(dtype, dims, Buffer::wrap(p, bytes, nullptr));
  return Status::OK();
}

Napi::Object value_info_to_js(Napi::Env env, const ValueInfo& info) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", info.name);
  o.Set("dtype", info.dtype == DType::kUndefined ? std::string("unknown") : std::string(dtype_name(info.dtype)));
  if (info.has_shape) {
    Napi::Array dims = Napi::Array::New(env, info.dims.size());
    for (size_t i = 0; i < info.dims.size(); i++) {
      if (info.dims[i] >= 0)
        dims.Set(uint32_t(i), Napi::Number::New(env, double(info.dims[i])));
      else
        dims.Set(uint32_t(i), Napi::String::New(env, info.dim_params[i]));
    }
    o.Set("dims", dims);
  } else {
    o.Set("dims", env.Null());
  }
  return o;
}

}  // namespace addon
}  // namespace int8rt
