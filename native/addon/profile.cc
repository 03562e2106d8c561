// Engine profiling: timed runs on a worker thread with a StepProfiler that writes into preallocated arrays, so the
// profiler adds no allocation to the timed steps (shapes are copied on the first timed run only).
#include "addon/profile.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "addon/convert.h"

namespace int8rt {
namespace addon {

namespace {

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Up to a million timed runs and a million warm-up runs: more is a mistake, and the arrays must stay small.
constexpr double kMaxIterations = 1e6;

struct StepShapes {
  std::vector<std::pair<bool, Dims>> inputs, outputs;  // (present, dims)
};

class TimingProfiler : public StepProfiler {
 public:
  TimingProfiler(size_t steps, size_t iterations)
      : steps_(steps), begin_(steps * iterations, -1), end_(steps * iterations, -1), macs_(steps, 0),
        shapes_(steps) {}

  void start_iteration(size_t iteration) { iteration_ = iteration; }

  void on_step(size_t step, int64_t begin_ns, int64_t end_ns, double macs, const std::vector<const Tensor*>& inputs,
               const std::vector<const Tensor*>& outputs) override {
    if (step >= steps_) return;  // cannot happen: the engine's steps are fixed at build
    size_t k = iteration_ * steps_ + step;
    begin_[k] = begin_ns;
    end_[k] = end_ns;
    macs_[step] = macs;
    if (iteration_ == 0) {
      StepShapes& s = shapes_[step];
      for (const Tensor* t : inputs) s.inputs.emplace_back(t != nullptr, t ? t->dims() : Dims());
      for (const Tensor* t : outputs) s.outputs.emplace_back(t != nullptr, t ? t->dims() : Dims());
    }
  }

  size_t steps_;
  size_t iteration_ = 0;
  std::vector<int64_t> begin_, end_;
  std::vector<double> macs_;
  std::vector<StepShapes> shapes_;
};

class ProfileWorker : public Napi::AsyncWorker {
 public:
  ProfileWorker(Napi::Env env, std::shared_ptr<Engine> engine, std::vector<std::pair<std::string, Tensor>> feeds,
                Napi::Object keep_alive, size_t iterations, size_t warmup)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), engine_(std::move(engine)),
        feeds_(std::move(feeds)), keep_alive_(Napi::Persistent(keep_alive)), iterations_(iterations),
        warmup_(warmup), summaries_(engine_->step_summaries()),
        profiler_(summaries_.size(), iterations), run_begin_(iterations), run_end_(iterations) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    std::vector<Tensor> outputs;
    for (size_t i = 0; i < warmup_ && status_.ok(); i++) status_ = engine_->run(feeds_, &outputs);
    for (size_t i = 0; i < iterations_ && status_.ok(); i++) {
      outputs.clear();  // the previous run's outputs are freed outside the timed call
      profiler_.start_iteration(i);
      run_begin_[i] = steady_ns();
      status_ = engine_->run(feeds_, &outputs, nullptr, &profiler_);
      run_end_[i] = steady_ns();
    }
    if (!status_.ok()) return;
    for (size_t k = 0; k < profiler_.begin_.size(); k++)
      if (profiler_.begin_[k] < 0) {
        size_t step = k % summaries_.size();
        status_ = Status(ErrorCode::kInternal, "profile: step '" + summaries_[step].name + "' was not timed in run " +
                                                   std::to_string(k / summaries_.size()));
        return;
      }
  }

  void OnOK() override {
    Napi::Env env = Env();
    feeds_.clear();
    keep_alive_.Reset();
    if (!status_.ok()) {
      deferred_.Reject(to_js_error(env, status_).Value());
      return;
    }
    const size_t n = summaries_.size();
    const int64_t origin = iterations_ ? run_begin_[0] : 0;
    auto us = [origin](int64_t ns) { return double(ns - origin) / 1e3; };

    Napi::Array steps = Napi::Array::New(env, n);
    for (size_t s = 0; s < n; s++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", summaries_[s].name);
      o.Set("op", summaries_[s].op_type);
      o.Set("kernel", summaries_[s].kernel);
      o.Set("precision", precision_name(summaries_[s].precision));
      o.Set("device", device_name(summaries_[s].device));
      o.Set("macs", profiler_.macs_[s]);
      o.Set("inputShapes", shapes_to_js(env, profiler_.shapes_[s].inputs));
      o.Set("outputShapes", shapes_to_js(env, profiler_.shapes_[s].outputs));
      steps.Set(uint32_t(s), o);
    }
    Napi::Object r = Napi::Object::New(env);
    r.Set("steps", steps);
    r.Set("iterations", double(iterations_));
    r.Set("originUs", double(origin) / 1e3);
    Napi::Float64Array sb = Napi::Float64Array::New(env, n * iterations_);
    Napi::Float64Array se = Napi::Float64Array::New(env, n * iterations_);
    for (size_t k = 0; k < n * iterations_; k++) {
      sb[k] = us(profiler_.begin_[k]);
      se[k] = us(profiler_.end_[k]);
    }
    Napi::Float64Array rb = Napi::Float64Array::New(env, iterations_);
    Napi::Float64Array re = Napi::Float64Array::New(env, iterations_);
    for (size_t i = 0; i < iterations_; i++) {
      rb[i] = us(run_begin_[i]);
      re[i] = us(run_end_[i]);
    }
    r.Set("stepBeginUs", sb);
    r.Set("stepEndUs", se);
    r.Set("runBeginUs", rb);
    r.Set("runEndUs", re);
    deferred_.Resolve(r);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  static Napi::Array shapes_to_js(Napi::Env env, const std::vector<std::pair<bool, Dims>>& shapes) {
    Napi::Array a = Napi::Array::New(env, shapes.size());
    for (size_t i = 0; i < shapes.size(); i++) {
      if (!shapes[i].first) {
        a.Set(uint32_t(i), env.Null());
        continue;
      }
      Napi::Array d = Napi::Array::New(env, shapes[i].second.size());
      for (size_t j = 0; j < shapes[i].second.size(); j++) d.Set(uint32_t(j), double(shapes[i].second[j]));
      a.Set(uint32_t(i), d);
    }
    return a;
  }

  Napi::Promise::Deferred deferred_;
  std::shared_ptr<Engine> engine_;
  std::vector<std::pair<std::string, Tensor>> feeds_;
  Napi::ObjectReference keep_alive_;  // the JS tensors whose memory the feeds view
  size_t iterations_, warmup_;
  std::vector<StepSummary> summaries_;
  TimingProfiler profiler_;
  std::vector<int64_t> run_begin_, run_end_;
  Status status_;
};

Status count_option(const Napi::Object& o, const char* key, double min, double def, size_t* out) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) {
    *out = size_t(def);
    return Status::OK();
  }
  double x = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : std::numeric_limits<double>::quiet_NaN();
  if (!(x >= min && x <= kMaxIterations) || std::floor(x) != x)
    return Status(ErrorCode::kInvalidArgument, std::string("profile(): ") + key + " must be an integer from " +
                                                   std::to_string(int(min)) + " to 1000000");
  *out = size_t(x);
  return Status::OK();
}

}  // namespace

Napi::Value profile_engine(const Napi::CallbackInfo& info, std::shared_ptr<Engine> engine) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsArray())
    throw to_js_error(env, Status(ErrorCode::kInvalidArgument, "profile() takes (names, tensors, options)"));
  Napi::Array names = info[0].As<Napi::Array>(), tensors = info[1].As<Napi::Array>();
  if (names.Length() != tensors.Length())
    throw to_js_error(env, Status(ErrorCode::kInvalidArgument, "profile(): names and tensors differ in length"));
  size_t iterations = 50, warmup = 5;
  if (info.Length() > 2 && info[2].IsObject()) {
    Napi::Object o = info[2].As<Napi::Object>();
    Status st = count_option(o, "iterations", 1, 50, &iterations);
    if (st.ok()) st = count_option(o, "warmup", 0, 5, &warmup);
    if (!st.ok()) throw to_js_error(env, st);
  }
  // Two int64 timestamps per step per timed run are kept until the profile settles.
  const size_t steps = engine->step_summaries().size();
  if (steps > 0 && iterations > (size_t(1) << 24) / steps)
    throw to_js_error(env, Status(ErrorCode::kInvalidArgument,
                                  "profile(): " + std::to_string(iterations) + " iterations of " +
                                      std::to_string(steps) + " steps would keep too many timings; use at most " +
                                      std::to_string((size_t(1) << 24) / steps)));
  std::vector<std::pair<std::string, Tensor>> feeds;
  for (uint32_t i = 0; i < names.Length(); i++) {
    std::string name = names.Get(i).ToString().Utf8Value();
    Tensor t;
    Status st = tensor_view_from_js(tensors.Get(i), "input '" + name + "'", &t);
    if (!st.ok()) throw to_js_error(env, st);
    feeds.emplace_back(std::move(name), std::move(t));
  }
  auto* w = new ProfileWorker(env, std::move(engine), std::move(feeds), tensors, iterations, warmup);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

}  // namespace addon
}  // namespace int8rt
