#include "addon/cuda.h"

#include "addon/convert.h"
#include "cuda/driver.h"
#include "cuda/fatbin.h"

namespace int8rt {
namespace addon {

namespace {

Napi::Object embedded_to_js(Napi::Env env) {
  const cuda::EmbeddedKernels& k = cuda::embedded_kernels();
  Napi::Object o = Napi::Object::New(env);
  o.Set("bytes", double(k.size));
  Napi::Array targets = Napi::Array::New(env, k.contents.targets.size());
  for (size_t i = 0; i < k.contents.targets.size(); i++)
    targets.Set(uint32_t(i), cuda::target_name(k.contents.targets[i]));
  o.Set("targets", targets);
  o.Set("minDriverVersion", k.contents.min_driver_version);
  if (!k.error.empty())
    o.Set("note", k.error);
  else if (!k.no_kernels.empty())
    o.Set("note", k.no_kernels);
  return o;
}

Napi::Value CudaEmbedded(const Napi::CallbackInfo& info) { return embedded_to_js(info.Env()); }

Napi::Value CudaInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const cuda::Availability& av = cuda::availability();
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", av.available);
  o.Set("reason", av.reason);
  o.Set("library", av.library);
  o.Set("driverVersion", av.driver_version);
  Napi::Array devices = Napi::Array::New(env, av.devices.size());
  for (size_t i = 0; i < av.devices.size(); i++) {
    const cuda::DeviceInfo& d = av.devices[i];
    Napi::Object v = Napi::Object::New(env);
    v.Set("ordinal", d.ordinal);
    v.Set("name", d.name);
    v.Set("computeCapability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor));
    v.Set("multiprocessors", d.multiprocessors);
    v.Set("totalMemory", double(d.total_memory));
    v.Set("runnable", d.runnable);
    v.Set("usesPtx", d.uses_ptx);
    v.Set("reason", d.reason);
    devices.Set(uint32_t(i), v);
  }
  o.Set("devices", devices);
  o.Set("embedded", embedded_to_js(env));
  return o;
}

}  // namespace

void register_cuda(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaInfo", Napi::Function::New(env, CudaInfo));
  exports.Set("cudaEmbedded", Napi::Function::New(env, CudaEmbedded));
}

Status device_request_from_js(const Napi::Object& options, DeviceRequest* out) {
  Napi::Value d = options.Get("device");
  if (!d.IsUndefined()) {
    std::string s = d.IsString() ? d.As<Napi::String>().Utf8Value() : std::string();
    if (s != "cpu" && s != "cuda" && s != "auto")
      return Status(ErrorCode::kInvalidArgument, "device must be 'cpu', 'cuda' or 'auto'");
    out->device = s;
  }
  Napi::Value id = options.Get("deviceId");
  if (!id.IsUndefined()) {
    double v = id.IsNumber() ? id.As<Napi::Number>().DoubleValue() : -1;
    if (!(v >= 0 && v <= 1e6 && v == double(int(v))))
      return Status(ErrorCode::kInvalidArgument, "deviceId must be an integer >= 0");
    out->device_id = int(v);
  }
  return Status::OK();
}

Status place_engine(const DeviceRequest& request, DevicePlacement* out) {
  *out = DevicePlacement();
  if (request.device == "cpu") {
    out->reason = "device 'cpu' was asked for";
    return Status::OK();
  }
  const bool required = request.device == "cuda";
  const cuda::Availability& av = cuda::availability();
  if (!av.available) {
    if (required) return Status(ErrorCode::kCudaUnavailable, "CUDA is not available: " + av.reason);
    out->reason = "CUDA is not available: " + av.reason;
    return Status::OK();
  }
  const int count = int(av.devices.size());
  if (request.device_id >= count)  // a wrong deviceId is the caller's mistake, 'auto' or not
    return Status(ErrorCode::kInvalidArgument, "deviceId " + std::to_string(request.device_id) +
                                                   " is out of range: this machine has " + std::to_string(count) +
                                                   " CUDA device(s)");
  std::shared_ptr<cuda::Device> dev;
  Status st = cuda::Device::open(request.device_id, &dev);
  if (!st.ok()) {
    if (required) return st;
    out->reason = st.message();
    return Status::OK();
  }
  out->device = "cuda";
  out->cuda_device = std::move(dev);
  return Status::OK();
}

}  // namespace addon
}  // namespace int8rt
