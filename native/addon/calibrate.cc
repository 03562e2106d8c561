// N-API bindings of the calibrator (see addon/calibrate.h). As in addon.cc, everything that takes time (building the
// engine, running it under the observer, computing ranges) runs on libuv's worker threads; the JavaScript thread
// only converts arguments and settles promises.
#include "addon/calibrate.h"

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "addon/convert.h"
#include "core/engine.h"
#include "ops/int8_common.h"
#include "quant/calibrator.h"
#include "quant/qnode.h"

namespace int8rt {
namespace addon {

namespace {

// What a CalibratorHandle owns: the calibration engine and the statistics. Workers hold it by shared_ptr, so a
// release() while runs are in flight lets them finish.
struct CalibrationState {
  std::shared_ptr<Engine> engine;
  std::unique_ptr<Calibrator> calibrator;  // as many threads as the engine's pool
};

class CalibratorHandle : public Napi::ObjectWrap<CalibratorHandle> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "CalibratorHandle",
                       {InstanceMethod("observe", &CalibratorHandle::Observe),
                        InstanceMethod("finish", &CalibratorHandle::Finish),
                        InstanceMethod("tensorCount", &CalibratorHandle::TensorCount),
                        InstanceMethod("release", &CalibratorHandle::Release)});
  }
  CalibratorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CalibratorHandle>(info) {}
  void attach(std::shared_ptr<CalibrationState> s) { state_ = std::move(s); }

 private:
  const std::shared_ptr<CalibrationState>& live(Napi::Env env) {
    if (!state_)
      throw to_js_error(env, Status(ErrorCode::kReleased, "this calibrator has been released; create a new one"));
    return state_;
  }

  Napi::Value Observe(const Napi::CallbackInfo& info);
  Napi::Value Finish(const Napi::CallbackInfo& info);

  Napi::Value TensorCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(live(info.Env())->calibrator->tensor_count()));
  }

  Napi::Value Release(const Napi::CallbackInfo& info) {
    state_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<CalibrationState> state_;
};

class BuildCalibratorWorker : public Napi::AsyncWorker {
 public:
  BuildCalibratorWorker(Napi::Env env, ModelDef model, EngineOptions options, bool histograms, bool int8_tensors,
                        std::map<std::string, Precision> node_precision, Napi::Function ctor)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), model_(std::move(model)),
        options_(options), histograms_(histograms), int8_tensors_(int8_tensors),
        node_precision_(std::move(node_precision)), ctor_(Napi::Persistent(ctor)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    // The int8 plan that picks the tensors is made on a thread of its own while the calibration engine builds.
    std::vector<std::string> selected;
    Status selection;
    std::thread planner;
    if (int8_tensors_) {
      planner = std::thread([this, &selected, &selection, model = model_] {
        selection = int8_range_tensors(model, node_precision_, &selected);
      });
    }
    state_ = std::make_shared<CalibrationState>();
    status_ = Engine::build(std::move(model_), options_, &state_->engine);
    if (planner.joinable()) planner.join();
    if (!status_.ok()) return;
    if (int8_tensors_ && !selection.ok()) {
      // Overrides that name no node, or that cannot be obeyed, are the caller's mistake: say so. Anything else that
      // stops the int8 plan (an operator an int8 build refuses) only costs speed: every tensor is observed then.
      if (!node_precision_.empty()) {
        status_ = selection;
        return;
      }
      int8_tensors_ = false;
    }
    state_->calibrator = std::make_unique<Calibrator>(state_->engine->intra_op_threads(), histograms_);
    if (int8_tensors_)
      state_->calibrator->restrict_to(std::unordered_set<std::string>(selected.begin(), selected.end()));
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) {
      deferred_.Reject(to_js_error(env, status_).Value());
      return;
    }
    Napi::Object handle = ctor_.New({});
    CalibratorHandle::Unwrap(handle)->attach(std::move(state_));
    deferred_.Resolve(handle);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  ModelDef model_;
  EngineOptions options_;
  bool histograms_;
  bool int8_tensors_;
  std::map<std::string, Precision> node_precision_;
  Napi::FunctionReference ctor_;
  Status status_;
  std::shared_ptr<CalibrationState> state_;
};

// One sample: its number is taken on the JavaScript thread, in the order observe() is called, so that the statistics
// are those of the samples in that order however the runs interleave (Calibrator::SampleRun).
class ObserveWorker : public Napi::AsyncWorker {
 public:
  ObserveWorker(Napi::Env env, std::shared_ptr<CalibrationState> state,
                std::vector<std::pair<std::string, Tensor>> feeds, Napi::Object keep_alive)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), state_(std::move(state)),
        feeds_(std::move(feeds)), keep_alive_(Napi::Persistent(keep_alive)),
        sample_(state_->calibrator->begin_sample()) {}
  ~ObserveWorker() override {
    if (!ended_) state_->calibrator->end_sample(sample_);  // never ran: later samples must not wait for it
  }
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    std::vector<Tensor> outputs;  // not needed: the observer has seen them
    Calibrator::SampleRun observer(state_->calibrator.get(), sample_);
    status_ = state_->engine->run(feeds_, &outputs, &observer);
    state_->calibrator->end_sample(sample_);
    ended_ = true;
  }
  void OnOK() override {
    Napi::Env env = Env();
    feeds_.clear();
    keep_alive_.Reset();
    if (!status_.ok())
      deferred_.Reject(to_js_error(env, status_).Value());
    else
      deferred_.Resolve(env.Undefined());
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<CalibrationState> state_;
  std::vector<std::pair<std::string, Tensor>> feeds_;
  Napi::ObjectReference keep_alive_;  // the JS tensors whose memory the feeds view
  uint64_t sample_;
  bool ended_ = false;
  Status status_;
};

class FinishWorker : public Napi::AsyncWorker {
 public:
  FinishWorker(Napi::Env env, std::shared_ptr<CalibrationState> state, CalibrationMethod method, double percentile)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), state_(std::move(state)),
        method_(method), percentile_(percentile) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override { status_ = state_->calibrator->finish(method_, percentile_, &ranges_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) {
      deferred_.Reject(to_js_error(env, status_).Value());
      return;
    }
    Napi::Array rows = Napi::Array::New(env, ranges_.size());
    for (size_t i = 0; i < ranges_.size(); i++) {
      const TensorRange& r = ranges_[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", r.name);
      o.Set("amax", double(r.amax));
      o.Set("min", double(r.min));
      o.Set("max", double(r.max));
      o.Set("count", double(r.count));
      o.Set("nonfinite", double(r.nonfinite));
      rows.Set(uint32_t(i), o);
    }
    deferred_.Resolve(rows);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<CalibrationState> state_;
  CalibrationMethod method_;
  double percentile_;
  Status status_;
  std::vector<TensorRange> ranges_;
};

// observe(names: string[], tensors: Tensor[]) -> Promise<void>
Napi::Value CalibratorHandle::Observe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<CalibrationState> state = live(env);
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsArray())
    throw to_js_error(env, Status(ErrorCode::kInvalidArgument, "observe() takes (names, tensors)"));
  Napi::Array names = info[0].As<Napi::Array>(), tensors = info[1].As<Napi::Array>();
  if (names.Length() != tensors.Length())
    throw to_js_error(env, Status(ErrorCode::kInvalidArgument, "observe(): names and tensors differ in length"));
  std::vector<std::pair<std::string, Tensor>> feeds;
  for (uint32_t i = 0; i < names.Length(); i++) {
    std::string name = names.Get(i).ToString().Utf8Value();
    Tensor t;
    Status st = tensor_view_from_js(tensors.Get(i), "input '" + name + "'", &t);
    if (!st.ok()) throw to_js_error(env, st);
    feeds.emplace_back(std::move(name), std::move(t));
  }
  auto* w = new ObserveWorker(env, std::move(state), std::move(feeds), tensors);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// finish(method: string, percentile: number) -> Promise<row[]>
Napi::Value CalibratorHandle::Finish(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<CalibrationState> state = live(env);
  CalibrationMethod method = CalibrationMethod::kEntropy;
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    if (!info[0].IsString())
      throw to_js_error(env, Status(ErrorCode::kInvalidArgument, "finish(): method must be a string"));
    Status st = parse_calibration_method(info[0].As<Napi::String>().Utf8Value(), &method);
    if (!st.ok()) throw to_js_error(env, st);
  }
  double percentile = 99.99;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsNumber())
      throw to_js_error(env, Status(ErrorCode::kInvalidArgument, "finish(): percentile must be a number"));
    percentile = info[1].As<Napi::Number>().DoubleValue();
  }
  auto* w = new FinishWorker(env, std::move(state), method, percentile);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// createCalibrator(description, { intraOpThreads, histograms, tensors, nodePrecision }) -> Promise<CalibratorHandle>
Napi::Value CreateCalibrator(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject())
    throw to_js_error(env, Status(ErrorCode::kInvalidArgument, "createCalibrator() needs a model description"));
  ModelDef model;
  Status st = model_from_js(info[0].As<Napi::Object>(), &model);
  if (!st.ok()) throw to_js_error(env, st);
  EngineOptions opts;
  opts.fuse_epilogues = false;  // every ONNX tensor an int8 plan may need must be observable
  bool histograms = true, int8_tensors = true;
  std::map<std::string, Precision> node_precision;
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    Napi::Value t = o.Get("intraOpThreads");
    if (t.IsNumber()) opts.intra_op_threads = t.As<Napi::Number>().Int32Value();
    if (o.Get("histograms").IsBoolean()) histograms = o.Get("histograms").As<Napi::Boolean>().Value();
    Napi::Value which = o.Get("tensors");
    if (!which.IsUndefined()) {
      const std::string w = which.ToString().Utf8Value();
      if (w != "int8" && w != "all")
        throw to_js_error(env, Status(ErrorCode::kInvalidArgument, "tensors must be 'int8' or 'all', got '" + w + "'"));
      int8_tensors = w == "int8";
    }
    Napi::Value np = o.Get("nodePrecision");
    if (np.IsObject()) {
      Napi::Object no = np.As<Napi::Object>();
      Napi::Array keys = no.GetPropertyNames();
      for (uint32_t i = 0; i < keys.Length(); i++) {
        const std::string k = keys.Get(i).ToString().Utf8Value();
        const std::string v = no.Get(k).ToString().Utf8Value();
        if (v != "fp32" && v != "int8")
          throw to_js_error(env, Status(ErrorCode::kInvalidArgument,
                                        "nodePrecision['" + k + "'] must be 'fp32' or 'int8', got '" + v + "'"));
        node_precision[k] = v == "fp32" ? Precision::kFp32 : Precision::kInt8;
      }
    }
  }
  auto* ctor = static_cast<Napi::FunctionReference*>(info.Data());
  auto* w = new BuildCalibratorWorker(env, std::move(model), opts, histograms, int8_tensors, std::move(node_precision),
                                      ctor->Value());
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// quantizeWeights(w: Float32Array, channels) -> { q: Int8Array, scales: Float32Array }: the engine's own per-channel
// weight quantization (quant/qnode.h), for the QDQ export (lib/qdq), which must write the weights the kernels use.
Napi::Value QuantizeWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
      !info[1].IsNumber())
    throw Napi::TypeError::New(env, "quantizeWeights(w: Float32Array, channels: number)");
  Napi::Float32Array w = info[0].As<Napi::Float32Array>();
  const double channels = info[1].As<Napi::Number>().DoubleValue();
  if (!(channels >= 1) || channels != double(int64_t(channels)) || int64_t(w.ElementLength()) % int64_t(channels) != 0)
    throw Napi::RangeError::New(env, "quantizeWeights: channels must divide the number of weights");
  const int64_t C = int64_t(channels), per = int64_t(w.ElementLength()) / C;
  std::vector<int8_t> q;
  std::vector<float> scales;
  quantize_weights_per_channel(w.Data(), C, per, &q, &scales);
  Napi::Int8Array qa = Napi::Int8Array::New(env, q.size());
  std::copy(q.begin(), q.end(), qa.Data());
  Napi::Float32Array sa = Napi::Float32Array::New(env, scales.size());
  std::copy(scales.begin(), scales.end(), sa.Data());
  Napi::Object o = Napi::Object::New(env);
  o.Set("q", qa);
  o.Set("scales", sa);
  return o;
}

// quantizeBias(b: Float32Array, sx, sw: Float32Array, depth) -> Int32Array: ops/int8_common.h quantize_bias per channel.
Napi::Value QuantizeBias(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto is_f32 = [](const Napi::Value& v) {
    return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array;
  };
  if (info.Length() < 4 || !is_f32(info[0]) || !info[1].IsNumber() || !is_f32(info[2]) || !info[3].IsNumber())
    throw Napi::TypeError::New(env, "quantizeBias(b: Float32Array, sx: number, sw: Float32Array, depth: number)");
  Napi::Float32Array b = info[0].As<Napi::Float32Array>(), sw = info[2].As<Napi::Float32Array>();
  if (b.ElementLength() != sw.ElementLength()) throw Napi::RangeError::New(env, "quantizeBias: b and sw differ in length");
  const float sx = info[1].As<Napi::Number>().FloatValue();
  const int64_t depth = int64_t(info[3].As<Napi::Number>().DoubleValue());
  Napi::Int32Array out = Napi::Int32Array::New(env, b.ElementLength());
  for (size_t i = 0; i < b.ElementLength(); i++) out[i] = int8ops::quantize_bias(b[i], sx, sw[i], depth);
  return out;
}

}  // namespace

void register_calibration(Napi::Env env, Napi::Object exports) {
  exports.Set("quantizeWeights", Napi::Function::New(env, QuantizeWeights, "quantizeWeights"));
  exports.Set("quantizeBias", Napi::Function::New(env, QuantizeBias, "quantizeBias"));
  // The handle class's constructor lives as long as the createCalibrator function that needs it.
  auto* ctor = new Napi::FunctionReference(Napi::Persistent(CalibratorHandle::Init(env)));
  Napi::Function create = Napi::Function::New(env, CreateCalibrator, "createCalibrator", ctor);
  create.AddFinalizer([](Napi::Env, Napi::FunctionReference* r) { delete r; }, ctor);
  exports.Set("createCalibrator", create);
}

}  // namespace addon
}  // namespace int8rt
