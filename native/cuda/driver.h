// CUDA through the driver API, loaded at run time: the addon never links the CUDA runtime or libcuda. On first use
// cuda::availability() dlopen()s libcuda.so.1 (or $INT8RT_LIBCUDA), resolves the entry points below, calls cuInit,
// lists the devices and checks that the kernels embedded in the addon (cuda/fatbin.h) can run on them. Anything
// missing gives available = false and a reason a user can act on ("the CUDA driver library libcuda.so.1 could not
// be loaded (<dlerror>): ...", "... lacks cuMemAlloc_v2 ...", "cuInit failed: CUDA_ERROR_NO_DEVICE (...)", "the CUDA
// driver reports no devices", "the CUDA driver 12.4 (12040) is older than the embedded kernels need: 13.0 (13000)
// ...", "no CUDA device can run the embedded kernels: device 0 (...): compute capability 7.0 has no code ...",
// "this build has no CUDA kernels (nvcc was not found when it was built)"); Device::open adds the module load
// ("loading the embedded CUDA kernels on CUDA device 0 (...) failed: cuModuleLoadData: ..."). The engine then runs
// on the CPU ('auto') or fails with kCudaUnavailable ('cuda'), with that reason. test/native/cuda_driver_test.cc
// checks each against a stand-in libcuda.
//
// The types are declared here rather than taken from cuda.h, so that the addon builds where no CUDA headers are
// installed (node-gyp at install time, the aarch64 cross build). They are the driver API's ABI: opaque handles,
// `CUresult` an int, `CUdeviceptr` a 64-bit integer. The `_v2` entry points are resolved under their exported names
// (cuMemAlloc_v2, ...) and used here without the suffix.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace int8rt {
namespace cuda {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
struct CUctx_st;
struct CUmod_st;
struct CUfunc_st;
struct CUstream_st;
struct CUevent_st;
using CUcontext = CUctx_st*;
using CUmodule = CUmod_st*;
using CUfunction = CUfunc_st*;
using CUstream = CUstream_st*;
using CUevent = CUevent_st*;

constexpr CUresult kCudaSuccess = 0;
// cuDeviceGetAttribute attributes used here (values of cuda.h's CUdevice_attribute).
constexpr int kAttrMaxSharedMemoryPerBlockOptin = 97;
constexpr int kAttrMultiprocessorCount = 16;
constexpr int kAttrComputeCapabilityMajor = 75;
constexpr int kAttrComputeCapabilityMinor = 76;
// cuFuncSetAttribute: CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES.
constexpr int kFuncAttrMaxDynamicSharedSize = 8;
// cuStreamCreate flag CU_STREAM_NON_BLOCKING, cuEventCreate flag CU_EVENT_DEFAULT.
constexpr unsigned kStreamNonBlocking = 1;
constexpr unsigned kEventDefault = 0;

// The entry points int8rt uses, resolved from libcuda. All non-null once driver() returns non-null.
struct DriverApi {
  CUresult (*cuInit)(unsigned flags);
  CUresult (*cuDriverGetVersion)(int* version);
  CUresult (*cuGetErrorName)(CUresult error, const char** name);
  CUresult (*cuGetErrorString)(CUresult error, const char** text);
  CUresult (*cuDeviceGetCount)(int* count);
  CUresult (*cuDeviceGet)(CUdevice* device, int ordinal);
  CUresult (*cuDeviceGetName)(char* name, int len, CUdevice device);
  CUresult (*cuDeviceGetAttribute)(int* value, int attribute, CUdevice device);
  CUresult (*cuDeviceTotalMem)(size_t* bytes, CUdevice device);                 // cuDeviceTotalMem_v2
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext* ctx, CUdevice device);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice device);                       // cuDevicePrimaryCtxRelease_v2
  CUresult (*cuCtxPushCurrent)(CUcontext ctx);                                  // cuCtxPushCurrent_v2
  CUresult (*cuCtxPopCurrent)(CUcontext* ctx);                                  // cuCtxPopCurrent_v2
  CUresult (*cuModuleLoadData)(CUmodule* module, const void* image);
  CUresult (*cuModuleUnload)(CUmodule module);
  CUresult (*cuModuleGetFunction)(CUfunction* fn, CUmodule module, const char* name);
  CUresult (*cuFuncSetAttribute)(CUfunction fn, int attribute, int value);
  CUresult (*cuMemAlloc)(CUdeviceptr* ptr, size_t bytes);                       // cuMemAlloc_v2
  CUresult (*cuMemFree)(CUdeviceptr ptr);                                       // cuMemFree_v2
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr dst, const void* src, size_t bytes, CUstream s);  // _v2
  CUresult (*cuMemcpyDtoHAsync)(void* dst, CUdeviceptr src, size_t bytes, CUstream s);        // _v2
  CUresult (*cuMemsetD8Async)(CUdeviceptr dst, unsigned char value, size_t n, CUstream s);
  CUresult (*cuStreamCreate)(CUstream* s, unsigned flags);
  CUresult (*cuStreamDestroy)(CUstream s);                                      // cuStreamDestroy_v2
  CUresult (*cuStreamSynchronize)(CUstream s);
  CUresult (*cuEventCreate)(CUevent* e, unsigned flags);
  CUresult (*cuEventDestroy)(CUevent e);                                        // cuEventDestroy_v2
  CUresult (*cuEventRecord)(CUevent e, CUstream s);
  CUresult (*cuEventSynchronize)(CUevent e);
  CUresult (*cuEventElapsedTime)(float* ms, CUevent start, CUevent end);
  CUresult (*cuLaunchKernel)(CUfunction fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                             unsigned bz, unsigned shared_bytes, CUstream s, void** params, void** extra);
};

struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;  // compute capability
  int multiprocessors = 0;
  size_t total_memory = 0;
  bool runnable = false;           // the embedded kernels have SASS or PTX this device can use
  bool uses_ptx = false;           // runnable through the PTX, which the driver compiles at module load
  std::string reason;              // why not runnable
};

struct Availability {
  bool available = false;          // libcuda loaded, cuInit ok, at least one runnable device
  std::string reason;              // when not available: what is missing, in words a user can act on
  std::string library;             // the path dlopen() was given
  int driver_version = 0;          // cuDriverGetVersion (e.g. 12040), 0 when unknown
  std::vector<DeviceInfo> devices;
};

// Loads libcuda and probes the devices once per process (thread-safe); later calls return the same object.
const Availability& availability();

// The resolved entry points, or null when libcuda did not load (availability().reason says why).
const DriverApi* driver();

// The library availability() loads: $INT8RT_LIBCUDA when set and not empty (a driver installed outside the loader's
// search path, or a stand-in for tests), else "libcuda.so.1".
std::string library_path();

// Test hooks: a fresh probe of `library`, cached nowhere and sharing nothing with availability(), judged against
// the kernel image [image, image + image_size) instead of the embedded one (image null: the embedded one). The
// library stays loaded. open_for_testing then does what Device::open does on that probe (context, module load) and
// releases it again; it returns the Status Device::open would.
Availability probe_for_testing(const std::string& library, const void* image, size_t image_size);
Status open_for_testing(const std::string& library, int ordinal, const void* image, size_t image_size);

// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)" for a driver result code; works without a driver too.
std::string result_string(CUresult r);

// A Status (ErrorCode::kCuda) naming the failed call: "cuMemAlloc failed: CUDA_ERROR_OUT_OF_MEMORY (...)".
Status cuda_error(const char* call, CUresult r);
#define INT8RT_CUDA_RETURN_IF_ERROR(call_name, expr)                   \
  do {                                                                 \
    ::int8rt::cuda::CUresult _r = (expr);                              \
    if (_r != ::int8rt::cuda::kCudaSuccess)                            \
      return ::int8rt::cuda::cuda_error(call_name, _r);                \
  } while (0)

// One device as the engine uses it: its primary context, the embedded module loaded into it, and the kernels looked
// up by name. Shared by the engines on that device; every call pushes the context for its duration.
class Device {
 public:
  // kCudaUnavailable (with availability().reason) when CUDA is not usable, kInvalidArgument for an ordinal that
  // does not exist or cannot run the kernels.
  static Status open(int ordinal, std::shared_ptr<Device>* out);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const DeviceInfo& info() const { return info_; }
  // A kernel of the embedded module ("qgemm_s8_dp4a_64x64", ...); kCuda error naming it when absent.
  Status function(const char* name, CUfunction* fn) const;

  // Context-scoped helpers (push the primary context, call, pop).
  Status alloc(size_t bytes, CUdeviceptr* ptr) const;
  void free(CUdeviceptr ptr) const;  // ignores 0
  Status create_stream(CUstream* s) const;
  void destroy_stream(CUstream s) const;
  Status upload(CUdeviceptr dst, const void* src, size_t bytes, CUstream s) const;
  Status download(void* dst, CUdeviceptr src, size_t bytes, CUstream s) const;
  Status synchronize(CUstream s) const;
  // Events for timing (engine.profile()): elapsed_ms waits for `end`.
  Status create_event(CUevent* e) const;
  void destroy_event(CUevent e) const;
  Status record_event(CUevent e, CUstream s) const;
  Status elapsed_ms(CUevent start, CUevent end, float* ms) const;
  Status launch(CUfunction fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                unsigned shared_bytes, CUstream s, void** params) const;

 private:
  Device() = default;
  DeviceInfo info_;
  CUdevice device_ = 0;
  CUcontext ctx_ = nullptr;
  CUmodule module_ = nullptr;
};

// RAII for the primary context of a Device on the calling thread.
class ContextScope {
 public:
  explicit ContextScope(CUcontext ctx);
  ~ContextScope();
  bool ok() const { return ok_; }

 private:
  bool ok_ = false;
};

}  // namespace cuda
}  // namespace int8rt
