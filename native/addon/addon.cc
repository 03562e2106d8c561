// The N-API surface of int8rt. Only this folder includes N-API headers. Work that can take time (building an
// engine, running it) happens on libuv's worker threads: the JavaScript values it needs are converted or referenced
// first, the core runs on plain C++ data, and the promise settles back on the JavaScript thread.
#include <napi.h>

#include <memory>

#include "addon/bundle.h"
#include "addon/calibrate.h"
#include "addon/cuda.h"
#include "addon/profile.h"
#include "addon/convert.h"
#include "core/cpu_features.h"
#include "core/engine.h"

namespace int8rt {
namespace addon {

namespace {

// ---------------------------------------------------------------------------------------------------------------
// Typed arrays over core tensors, without copying: the ArrayBuffer's finalizer drops the buffer reference.

napi_typedarray_type typed_array_type(DType t) {
  switch (t) {
    case DType::kFloat32: return napi_float32_array;
    case DType::kFloat64: return napi_float64_array;
    case DType::kInt8: return napi_int8_array;
    case DType::kUint8: return napi_uint8_array;
    case DType::kBool: return napi_uint8_array;
    case DType::kInt16: return napi_int16_array;
    case DType::kUint16: return napi_uint16_array;
    case DType::kFloat16: return napi_uint16_array;
    case DType::kInt32: return napi_int32_array;
    case DType::kUint32: return napi_uint32_array;
    case DType::kInt64: return napi_bigint64_array;
    case DType::kUint64: return napi_biguint64_array;
    default: return napi_uint8_array;
  }
}

Napi::Object tensor_to_js(Napi::Env env, const Tensor& t) {
  auto* holder = new std::shared_ptr<Buffer>(t.buffer());
  size_t bytes = t.nbytes();
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
      env, bytes ? t.raw() : nullptr, bytes, [](Napi::Env, void*, std::shared_ptr<Buffer>* h) { delete h; }, holder);
  size_t count = bytes / std::max<size_t>(1, dtype_size(t.dtype()));
  napi_value ta;
  napi_create_typedarray(env, typed_array_type(t.dtype()), count, ab, 0, &ta);
  Napi::Object o = Napi::Object::New(env);
  o.Set("dtype", dtype_name(t.dtype()));
  o.Set("data", Napi::Value(env, ta));
  Napi::Array dims = Napi::Array::New(env, t.rank());
  for (size_t i = 0; i < t.rank(); i++) dims.Set(uint32_t(i), Napi::Number::New(env, double(t.dim(i))));
  o.Set("dims", dims);
  return o;
}

// ---------------------------------------------------------------------------------------------------------------
// Async work

class BuildWorker : public Napi::AsyncWorker {
 public:
  BuildWorker(Napi::Env env, ModelDef model, EngineOptions options, DeviceRequest device)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), model_(std::move(model)),
        options_(options), device_(std::move(device)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    status_ = place_engine(device_, &placement_);  // addon/cuda.h: opens the CUDA device when asked
    options_.cuda_device = placement_.cuda_device;
    if (status_.ok()) status_ = Engine::build(std::move(model_), options_, &engine_);
  }
  void OnOK() override;
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  ModelDef model_;
  EngineOptions options_;
  DeviceRequest device_;
  DevicePlacement placement_;
  Status status_;
  std::shared_ptr<Engine> engine_;
};

class RunWorker : public Napi::AsyncWorker {
 public:
  RunWorker(Napi::Env env, std::shared_ptr<Engine> engine, std::vector<std::pair<std::string, Tensor>> feeds,
            Napi::Object keep_alive)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), engine_(std::move(engine)),
        feeds_(std::move(feeds)), keep_alive_(Napi::Persistent(keep_alive)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override { status_ = engine_->run(feeds_, &outputs_); }
  void OnOK() override {
    Napi::Env env = Env();
    feeds_.clear();
    keep_alive_.Reset();
    if (!status_.ok()) {
      deferred_.Reject(to_js_error(env, status_).Value());
      return;
    }
    Napi::Object result = Napi::Object::New(env);
    const auto& infos = engine_->outputs();
    for (size_t i = 0; i < outputs_.size(); i++) result.Set(infos[i].name, tensor_to_js(env, outputs_[i]));
    deferred_.Resolve(result);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<Engine> engine_;
  std::vector<std::pair<std::string, Tensor>> feeds_;
  Napi::ObjectReference keep_alive_;  // the JS tensors whose memory the feeds view
  Status status_;
  std::vector<Tensor> outputs_;
};

// ---------------------------------------------------------------------------------------------------------------
// EngineHandle: the native half of lib/engine.ts's Engine.

class EngineHandle : public Napi::ObjectWrap<EngineHandle> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "EngineHandle",
                       {InstanceMethod("run", &EngineHandle::Run), InstanceMethod("inputs", &EngineHandle::Inputs),
                        InstanceMethod("outputs", &EngineHandle::Outputs),
                        InstanceMethod("report", &EngineHandle::Report),
                        InstanceMethod("release", &EngineHandle::Release),
                        InstanceMethod("info", &EngineHandle::Info), InstanceMethod("macs", &EngineHandle::Macs),
                        InstanceMethod("memory", &EngineHandle::Memory),
                        InstanceMethod("profile", &EngineHandle::Profile)});
  }
  EngineHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineHandle>(info) {}
  void attach(std::shared_ptr<Engine> e, DevicePlacement placement) {
    engine_ = std::move(e);
    placement_ = std::move(placement);
  }

 private:
  Engine* live(Napi::Env env) {
    if (!engine_)
      throw to_js_error(env, Status(ErrorCode::kReleased, "this engine has been released; create a new one"));
    return engine_.get();
  }

  // run(names: string[], tensors: Tensor[]) -> Promise<Record<string, Tensor>>
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsArray())
      throw to_js_error(env, Status(ErrorCode::kInvalidArgument, "run() takes (names, tensors)"));
    Napi::Array names = info[0].As<Napi::Array>(), tensors = info[1].As<Napi::Array>();
    std::vector<std::pair<std::string, Tensor>> feeds;
    for (uint32_t i = 0; i < names.Length(); i++) {
      std::string name = names.Get(i).ToString().Utf8Value();
      Tensor t;
      Status st = tensor_view_from_js(tensors.Get(i), "input '" + name + "'", &t);
      if (!st.ok()) throw to_js_error(env, st);
      feeds.emplace_back(std::move(name), std::move(t));
    }
    auto* w = new RunWorker(env, engine_, std::move(feeds), tensors);
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  }

  Napi::Value Inputs(const Napi::CallbackInfo& info) {
    Engine* e = live(info.Env());
    Napi::Array a = Napi::Array::New(info.Env(), e->inputs().size());
    for (size_t i = 0; i < e->inputs().size(); i++) a.Set(uint32_t(i), value_info_to_js(info.Env(), e->inputs()[i]));
    return a;
  }

  Napi::Value Outputs(const Napi::CallbackInfo& info) {
    Engine* e = live(info.Env());
    Napi::Array a = Napi::Array::New(info.Env(), e->outputs().size());
    for (size_t i = 0; i < e->outputs().size(); i++) a.Set(uint32_t(i), value_info_to_js(info.Env(), e->outputs()[i]));
    return a;
  }

  Napi::Value Report(const Napi::CallbackInfo& info) {
    Engine* e = live(info.Env());
    Napi::Env env = info.Env();
    const auto& rows = e->report();
    Napi::Array a = Napi::Array::New(env, rows.size());
    for (size_t i = 0; i < rows.size(); i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("node", rows[i].name);
      o.Set("op", rows[i].op_type);
      o.Set("precision", rows[i].precision);
      o.Set("device", rows[i].device);
      o.Set("kernel", rows[i].kernel);
      if (!rows[i].fused_into.empty()) o.Set("fusedInto", rows[i].fused_into);
      if (!rows[i].note.empty()) o.Set("note", rows[i].note);
      if (!rows[i].reason.empty()) o.Set("reason", rows[i].reason);
      if (!rows[i].device_reason.empty()) o.Set("deviceReason", rows[i].device_reason);
      if (rows[i].boundary) o.Set("boundary", true);
      if (!rows[i].int8_scales.empty()) {
        Napi::Object sc = Napi::Object::New(env);
        for (const auto& kv : rows[i].int8_scales) sc.Set(kv.first, double(kv.second));
        o.Set("int8Scales", sc);
      }
      a.Set(uint32_t(i), o);
    }
    return a;
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Engine* e = live(info.Env());
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("intraOpThreads", e->intra_op_threads());
    o.Set("device", placement_.device);
    o.Set("deviceReason", placement_.reason);
    return o;
  }

  Napi::Value Macs(const Napi::CallbackInfo& info) {
    Engine* e = live(info.Env());
    double total, int8;
    e->macs(&total, &int8);
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("total", total);
    o.Set("int8", int8);
    return o;
  }

  // profile(names, tensors, { iterations, warmup }): see addon/profile.h.
  Napi::Value Profile(const Napi::CallbackInfo& info) {
    live(info.Env());
    return profile_engine(info, engine_);
  }

  // memory() -> { weights, constants, packed, released }: bytes, fixed at build (EngineMemory).
  Napi::Value Memory(const Napi::CallbackInfo& info) {
    Engine* e = live(info.Env());
    const EngineMemory& m = e->memory();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("weights", double(m.weights()));
    o.Set("deviceWeights", double(e->cuda_weight_bytes()));
    o.Set("constants", double(m.constants));
    o.Set("packed", double(m.packed));
    o.Set("released", double(m.released));
    return o;
  }

  Napi::Value Release(const Napi::CallbackInfo& info) {
    engine_.reset();  // runs in flight hold their own reference and finish normally
    placement_.cuda_device.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<Engine> engine_;
  DevicePlacement placement_;  // where the engine runs; holds the CUDA device open
};

struct AddonData {
  Napi::FunctionReference engine_ctor;
};

void BuildWorker::OnOK() {
  Napi::Env env = Env();
  if (!status_.ok()) {
    deferred_.Reject(to_js_error(env, status_).Value());
    return;
  }
  Napi::Object handle = env.GetInstanceData<AddonData>()->engine_ctor.New({});
  EngineHandle::Unwrap(handle)->attach(std::move(engine_), std::move(placement_));
  deferred_.Resolve(handle);
}

// createEngine(description, { intraOpThreads, precision, ..., device, deviceId }) -> Promise<EngineHandle>
// (device: addon/cuda.h place_engine)
Napi::Value CreateEngine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject())
    throw to_js_error(env, Status(ErrorCode::kInvalidArgument, "createEngine() needs a model description"));
  // A Uint8Array is a model bundle (addon/bundle.h): it brings its own precision, ranges and nodePrecision, which
  // replace any given here (lib/engine.ts refuses such options for a bundle).
  ModelDef model;
  BundleOptions bundle;
  const bool from_bundle = info[0].IsTypedArray();
  Status st = from_bundle ? model_from_bundle_js(info[0], &model, &bundle)
                          : model_from_js(info[0].As<Napi::Object>(), &model);
  if (!st.ok()) throw to_js_error(env, st);
  EngineOptions opts;
  DeviceRequest device;
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    st = device_request_from_js(o, &device);
    if (!st.ok()) throw to_js_error(env, st);
    Napi::Value t = o.Get("intraOpThreads");
    if (t.IsNumber()) opts.intra_op_threads = t.As<Napi::Number>().Int32Value();
    if (o.Get("fuseEpilogues").IsBoolean()) opts.fuse_epilogues = o.Get("fuseEpilogues").As<Napi::Boolean>().Value();
    if (o.Get("releaseConstants").IsBoolean())  // tests only: false keeps every constant (EngineOptions)
      opts.release_constants = o.Get("releaseConstants").As<Napi::Boolean>().Value();
    Napi::Value p = o.Get("precision");
    if (p.IsString()) {
      std::string ps = p.As<Napi::String>().Utf8Value();
      if (ps == "int8")
        opts.precision = Precision::kInt8;
      else if (ps == "int8-dynamic") {  // no calibration: activations quantized per run (EngineOptions::dynamic_int8)
        opts.precision = Precision::kInt8;
        opts.dynamic_int8 = true;
      }
      else if (ps == "fp16")  // float32 compute, binary16 weights (EngineOptions::fp16_weights)
        opts.fp16_weights = true;
      else if (ps != "fp32")
        throw to_js_error(env, Status(ErrorCode::kInvalidArgument, "precision '" + ps + "' is not supported here"));
    }
    // ranges: { tensorName: amax }
    Napi::Value r = o.Get("ranges");
    if (r.IsObject()) {
      Napi::Object ro = r.As<Napi::Object>();
      Napi::Array keys = ro.GetPropertyNames();
      for (uint32_t i = 0; i < keys.Length(); i++) {
        std::string k = keys.Get(i).ToString().Utf8Value();
        Napi::Value v = ro.Get(k);
        if (v.IsNumber()) opts.quant.amax[k] = v.As<Napi::Number>().FloatValue();
      }
    }
    // nodePrecision: { onnxNodeName: 'fp32' | 'int8' }
    Napi::Value np = o.Get("nodePrecision");
    if (np.IsObject()) {
      Napi::Object no = np.As<Napi::Object>();
      Napi::Array keys = no.GetPropertyNames();
      for (uint32_t i = 0; i < keys.Length(); i++) {
        std::string k = keys.Get(i).ToString().Utf8Value();
        std::string v = no.Get(k).ToString().Utf8Value();
        if (v == "fp32")
          opts.quant.node_precision[k] = Precision::kFp32;
        else if (v == "int8")
          opts.quant.node_precision[k] = Precision::kInt8;
        else
          throw to_js_error(env, Status(ErrorCode::kInvalidArgument,
                                        "nodePrecision['" + k + "'] must be 'fp32' or 'int8', got '" + v + "'"));
      }
    }
  }
  if (from_bundle) apply_bundle_options(bundle, &opts);
  auto* w = new BuildWorker(env, std::move(model), opts, std::move(device));
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// What this build can do: ISA, CPU features, error codes (lib/errors.ts is checked against this).
Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CpuFeatures& f = cpu_features();
  Napi::Object o = Napi::Object::New(env);
  o.Set("isa", isa_name(active_isa()));
  o.Set("cpu", f.brand);
  Napi::Object feats = Napi::Object::New(env);
  feats.Set("avx2", f.avx2);
  feats.Set("fma", f.fma);
  feats.Set("f16c", f.f16c);
  feats.Set("avxVnni", f.avx_vnni);
  feats.Set("avx512f", f.avx512f);
  feats.Set("avx512bw", f.avx512bw);
  feats.Set("avx512vl", f.avx512vl);
  feats.Set("avx512Vnni", f.avx512_vnni);
  feats.Set("neon", f.neon);
  feats.Set("neonDot", f.neon_dot);
  feats.Set("neonI8mm", f.neon_i8mm);
  o.Set("features", feats);
  Napi::Array codes = Napi::Array::New(env);
  uint32_t k = 0;
#define INT8RT_X(e, s) codes.Set(k++, Napi::String::New(env, s));
  INT8RT_ERROR_CODES(INT8RT_X)
#undef INT8RT_X
  o.Set("errorCodes", codes);
  Napi::Array ops = Napi::Array::New(env);
  k = 0;
  for (const auto& d : kernel_registry().defs()) {
    Napi::Object r = Napi::Object::New(env);
    r.Set("op", d.op_type);
    r.Set("domain", d.domain);
    r.Set("device", device_name(d.device));
    r.Set("precision", precision_name(d.precision));
    r.Set("kernel", d.name);
    ops.Set(k++, r);
  }
  o.Set("kernels", ops);
  o.Set("napiVersion", NAPI_VERSION);
  return o;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->engine_ctor = Napi::Persistent(EngineHandle::Init(env));
  env.SetInstanceData<AddonData>(data);
  exports.Set("createEngine", Napi::Function::New(env, CreateEngine));
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo));
  register_calibration(env, exports);
  register_cuda(env, exports);
  register_bundle(env, exports);
  return exports;
}

}  // namespace addon
}  // namespace int8rt

static Napi::Object InitInt8rt(Napi::Env env, Napi::Object exports) { return int8rt::addon::Init(env, exports); }

NODE_API_MODULE(int8rt, InitInt8rt)
