// The N-API surface of engine profiling (core/engine.h's StepProfiler), called by addon.cc's EngineHandle.
#pragma once
#include <napi.h>

#include <memory>

#include "core/engine.h"

namespace int8rt {
namespace addon {

// EngineHandle.profile(names: string[], tensors: Tensor[], { iterations, warmup }) -> Promise<RawProfile>
// Runs `warmup` untimed runs and then `iterations` timed runs one after another on one libuv worker thread (the
// JavaScript thread is never blocked), timing every executed step. RawProfile:
//   steps:      [{ name, op, kernel, precision, macs, inputShapes, outputShapes }]   in run order; shapes are
//               number[] per input/output (null for an absent optional one), macs per call (Conv/Gemm/MatMul)
//   iterations: number
//   originUs:   steady-clock microseconds at which the first timed run began
//   stepBeginUs, stepEndUs: Float64Array(iterations * steps.length), [iteration * steps + step], microseconds
//               after originUs
//   runBeginUs, runEndUs:   Float64Array(iterations), each timed engine.run() call as a whole
Napi::Value profile_engine(const Napi::CallbackInfo& info, std::shared_ptr<Engine> engine);

}  // namespace addon
}  // namespace int8rt
