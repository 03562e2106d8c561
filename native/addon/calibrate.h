// The N-API surface of int8 calibration (native/quant/calibrator.h), registered by addon.cc's Init.
#pragma once
#include <napi.h>

namespace int8rt {
namespace addon {

// Adds to `exports`:
//   createCalibrator(description, { intraOpThreads, histograms = true, tensors = 'int8', nodePrecision })
//       -> Promise<CalibratorHandle>
//     builds a calibration engine for the model (Conv epilogues unfused, so every ONNX tensor is observable);
//     histograms: false keeps ranges only, enough for 'minmax' and much cheaper; tensors: 'int8' observes only the
//     tensors an int8 engine of the model reads ranges for (planned with nodePrecision, quant/calibrator.h
//     int8_range_tensors), 'all' every float tensor
//   CalibratorHandle.observe(names: string[], tensors: Tensor[]) -> Promise<void>
//     runs the engine on one sample on a worker thread and folds its float32 values into the statistics; samples
//     are numbered in call order and the statistics are those of that order, however the runs interleave
//   CalibratorHandle.finish(method: string, percentile: number)
//       -> Promise<{ name, amax, min, max, count, nonfinite }[]>   (tensors in first-seen order)
//     computes the ranges on a worker thread; statistics are kept, so it may be called again with another method
//   CalibratorHandle.tensorCount() -> number;  CalibratorHandle.release()
void register_calibration(Napi::Env env, Napi::Object exports);

}  // namespace addon
}  // namespace int8rt
