// The N-API surface of CUDA (native/cuda/driver.h): what is available, and where an engine runs. Registered by
// addon.cc's Init; the device choice of createEngine goes through DeviceRequest / place_engine.
#pragma once
#include <napi.h>

#include <memory>
#include <string>

#include "core/status.h"

namespace int8rt {
namespace cuda {
class Device;
}  // namespace cuda
namespace addon {

// Adds to `exports`:
//   cudaInfo() -> { available, reason, library, driverVersion, devices: [{ ordinal, name, computeCapability: '8.6',
//                   multiprocessors, totalMemory, runnable, usesPtx, reason }], embedded }
//     probes libcuda on first call (once per process: cuda::availability())
//   cudaEmbedded() -> { bytes, targets: ['sm_75', ..., 'compute_90'], minDriverVersion, note }
//     the kernel image this build carries, without touching the driver (note: why there is none)
void register_cuda(Napi::Env env, Napi::Object exports);

// createEngine's { device: 'cpu' | 'cuda' | 'auto', deviceId } (lib/engine.ts validates them first).
struct DeviceRequest {
  std::string device = "cpu";
  int device_id = 0;
};
Status device_request_from_js(const Napi::Object& options, DeviceRequest* out);

// Where an engine runs, decided on the worker thread before it is built. 'cuda' opens the device (primary context,
// module load) or fails with kCudaUnavailable / kInvalidArgument; 'auto' falls back to the CPU with the reason.
// `cuda_device` is the opened device (the engine keeps it open for its life: EngineOptions::cuda_device).
struct DevicePlacement {
  std::string device = "cpu";
  std::string reason;  // device 'cpu': why not CUDA
  std::shared_ptr<cuda::Device> cuda_device;
};
Status place_engine(const DeviceRequest& request, DevicePlacement* out);

}  // namespace addon
}  // namespace int8rt
