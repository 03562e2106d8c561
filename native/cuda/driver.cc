#include "cuda/driver.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <type_traits>

#include "cuda/fatbin.h"

namespace int8rt {
namespace cuda {

namespace {

// A kernel image as the probe judges it: its bytes and what they hold, or why there are none.
struct Image {
  const void* data = nullptr;
  size_t size = 0;
  FatbinContents contents;
  std::string none;  // not empty: the image has no kernels (or is broken), and this says why
};

Image embedded_image() {
  const EmbeddedKernels& k = embedded_kernels();
  Image im;
  im.data = k.data;
  im.size = k.size;
  im.contents = k.contents;
  if (!k.error.empty())
    im.none = k.error;
  else if (k.size == 0 || k.contents.targets.empty())
    im.none = k.no_kernels.empty() ? std::string("this build has no CUDA kernels") : k.no_kernels;
  return im;
}

Image image_from(const void* data, size_t size) {
  Image im;
  im.data = data;
  im.size = size;
  Status st = parse_fatbin(data, size, &im.contents);
  if (!st.ok())
    im.none = st.message();
  else if (im.contents.targets.empty())
    im.none = "this build has no CUDA kernels";
  return im;
}

// A loaded libcuda and what the probe found.
struct Probe {
  void* handle = nullptr;
  DriverApi api{};
  bool api_ok = false;  // every entry point resolved
  Availability av;
};

// Names of the driver API results int8rt is likely to meet, for messages when no driver is loaded to ask
// (cuGetErrorName is preferred whenever it is there). Values from cuda.h's cudaError_enum.
const char* builtin_result_name(CUresult r) {
  switch (r) {
    case 0: return "CUDA_SUCCESS";
    case 1: return "CUDA_ERROR_INVALID_VALUE";
    case 2: return "CUDA_ERROR_OUT_OF_MEMORY";
    case 3: return "CUDA_ERROR_NOT_INITIALIZED";
    case 4: return "CUDA_ERROR_DEINITIALIZED";
    case 34: return "CUDA_ERROR_STUB_LIBRARY";
    case 46: return "CUDA_ERROR_DEVICE_UNAVAILABLE";
    case 100: return "CUDA_ERROR_NO_DEVICE";
    case 101: return "CUDA_ERROR_INVALID_DEVICE";
    case 200: return "CUDA_ERROR_INVALID_IMAGE";
    case 201: return "CUDA_ERROR_INVALID_CONTEXT";
    case 209: return "CUDA_ERROR_NO_BINARY_FOR_GPU";
    case 218: return "CUDA_ERROR_INVALID_PTX";
    case 222: return "CUDA_ERROR_UNSUPPORTED_PTX_VERSION";
    case 223: return "CUDA_ERROR_JIT_COMPILER_NOT_FOUND";
    case 400: return "CUDA_ERROR_INVALID_HANDLE";
    case 500: return "CUDA_ERROR_NOT_FOUND";
    case 700: return "CUDA_ERROR_ILLEGAL_ADDRESS";
    case 701: return "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES";
    case 719: return "CUDA_ERROR_LAUNCH_FAILED";
    case 803: return "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH";
    case 804: return "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE";
    case 999: return "CUDA_ERROR_UNKNOWN";
    default: return nullptr;
  }
}

std::string result_string_with(const DriverApi* api, CUresult r) {
  const char* name = nullptr;
  const char* text = nullptr;
  if (api && api->cuGetErrorName && api->cuGetErrorName(r, &name) != kCudaSuccess) name = nullptr;
  if (api && api->cuGetErrorString && api->cuGetErrorString(r, &text) != kCudaSuccess) text = nullptr;
  if (!name) name = builtin_result_name(r);
  std::string s = name ? std::string(name) : "CUresult " + std::to_string(r);
  if (text && *text) s += std::string(" (") + text + ")";
  return s;
}

// Resolves every entry point; the names of those missing go to *missing.
void resolve(void* handle, DriverApi* api, std::string* missing) {
  auto get = [&](auto& fn, const char* name) {
    void* p = dlsym(handle, name);
    if (!p) *missing += (missing->empty() ? "" : ", ") + std::string(name);
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(p);
  };
  get(api->cuInit, "cuInit");
  get(api->cuDriverGetVersion, "cuDriverGetVersion");
  get(api->cuGetErrorName, "cuGetErrorName");
  get(api->cuGetErrorString, "cuGetErrorString");
  get(api->cuDeviceGetCount, "cuDeviceGetCount");
  get(api->cuDeviceGet, "cuDeviceGet");
  get(api->cuDeviceGetName, "cuDeviceGetName");
  get(api->cuDeviceGetAttribute, "cuDeviceGetAttribute");
  get(api->cuDeviceTotalMem, "cuDeviceTotalMem_v2");
  get(api->cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
  get(api->cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2");
  get(api->cuCtxPushCurrent, "cuCtxPushCurrent_v2");
  get(api->cuCtxPopCurrent, "cuCtxPopCurrent_v2");
  get(api->cuModuleLoadData, "cuModuleLoadData");
  get(api->cuModuleUnload, "cuModuleUnload");
  get(api->cuModuleGetFunction, "cuModuleGetFunction");
  get(api->cuFuncSetAttribute, "cuFuncSetAttribute");
  get(api->cuMemAlloc, "cuMemAlloc_v2");
  get(api->cuMemFree, "cuMemFree_v2");
  get(api->cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
  get(api->cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
  get(api->cuMemsetD8Async, "cuMemsetD8Async");
  get(api->cuStreamCreate, "cuStreamCreate");
  get(api->cuStreamDestroy, "cuStreamDestroy_v2");
  get(api->cuStreamSynchronize, "cuStreamSynchronize");
  get(api->cuEventCreate, "cuEventCreate");
  get(api->cuEventDestroy, "cuEventDestroy_v2");
  get(api->cuEventRecord, "cuEventRecord");
  get(api->cuEventSynchronize, "cuEventSynchronize");
  get(api->cuEventElapsedTime, "cuEventElapsedTime");
  get(api->cuLaunchKernel, "cuLaunchKernel");
}

// The probe, in the order a user would fix things: the library, its entry points, cuInit, the devices, the driver
// version against the kernels, each device against the kernels. A build without kernels still probes the driver
// (so that `int8rt doctor` lists the GPUs) but says first that it has no kernels: no driver change would help.
void probe(const std::string& library, const Image& image, Probe* p) {
  Availability& av = p->av;
  av.library = library;
  auto finish = [&](std::string reason) {
    av.available = false;
    av.reason = image.none.empty() ? std::move(reason) : image.none;
  };

  dlerror();
  p->handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!p->handle) {
    const char* e = dlerror();
    return finish("the CUDA driver library " + library + " could not be loaded (" +
                  (e ? std::string(e) : std::string("no error text")) +
                  "): no NVIDIA driver is installed, or set INT8RT_LIBCUDA to the path of libcuda.so.1");
  }
  std::string missing;
  resolve(p->handle, &p->api, &missing);
  if (!missing.empty())
    return finish("the CUDA driver library " + library + " lacks " + missing +
                  " (a driver older than CUDA 11, or not libcuda)");
  p->api_ok = true;
  const DriverApi& api = p->api;

  int version = 0;
  if (api.cuDriverGetVersion(&version) == kCudaSuccess) av.driver_version = version;
  CUresult r = api.cuInit(0);
  if (r != kCudaSuccess) return finish("cuInit failed: " + result_string_with(&api, r));
  int count = 0;
  r = api.cuDeviceGetCount(&count);
  if (r != kCudaSuccess) return finish("cuDeviceGetCount failed: " + result_string_with(&api, r));
  if (count <= 0) return finish("the CUDA driver reports no devices");

  for (int i = 0; i < count; i++) {
    DeviceInfo d;
    d.ordinal = i;
    CUdevice dev = 0;
    r = api.cuDeviceGet(&dev, i);
    if (r != kCudaSuccess) {
      d.reason = "cuDeviceGet failed: " + result_string_with(&api, r);
      av.devices.push_back(std::move(d));
      continue;
    }
    char name[256] = {0};
    if (api.cuDeviceGetName(name, int(sizeof(name)) - 1, dev) == kCudaSuccess) d.name = name;
    api.cuDeviceGetAttribute(&d.cc_major, kAttrComputeCapabilityMajor, dev);
    api.cuDeviceGetAttribute(&d.cc_minor, kAttrComputeCapabilityMinor, dev);
    api.cuDeviceGetAttribute(&d.multiprocessors, kAttrMultiprocessorCount, dev);
    size_t mem = 0;
    if (api.cuDeviceTotalMem(&mem, dev) == kCudaSuccess) d.total_memory = mem;
    if (!image.none.empty()) {
      d.reason = image.none;
    } else {
      d.runnable = can_run_on(image.contents, d.cc_major, d.cc_minor, &d.uses_ptx, &d.reason);
    }
    av.devices.push_back(std::move(d));
  }

  const int need = image.contents.min_driver_version;
  if (image.none.empty() && need > 0 && av.driver_version > 0 && av.driver_version < need) {
    const std::string why = "the CUDA driver " + driver_version_string(av.driver_version) + " (" +
                            std::to_string(av.driver_version) + ") is older than the embedded kernels need: " +
                            driver_version_string(need) + " (" + std::to_string(need) + ")" +
                            (need >= 13000 ? "; CUDA 13 kernels need an R580 or newer driver" : "");
    for (auto& d : av.devices) {
      d.runnable = false;
      d.uses_ptx = false;
      d.reason = why;
    }
    return finish(why);
  }
  for (const auto& d : av.devices)
    if (d.runnable) {
      av.available = true;
      av.reason.clear();
      return;
    }
  std::string why = "no CUDA device can run the embedded kernels:";
  for (const auto& d : av.devices)
    why += " device " + std::to_string(d.ordinal) + (d.name.empty() ? "" : " (" + d.name + ")") + ": " + d.reason + ";";
  why.pop_back();
  finish(why);
}

Probe& global_probe() {
  // Never freed (nor is libcuda closed): a Device released late in process teardown still finds the entry points.
  static Probe* p = new Probe();
  static std::once_flag once;
  std::call_once(once, [] { probe(library_path(), embedded_image(), p); });
  return *p;
}

std::string device_label(const DeviceInfo& d) {
  return "CUDA device " + std::to_string(d.ordinal) + (d.name.empty() ? "" : " (" + d.name + ")");
}

// Checks the ordinal against a probe, retains the device's primary context and loads the image into it.
Status open_on(const DriverApi& api, const Availability& av, int ordinal, const Image& image, CUdevice* dev,
               CUcontext* ctx, CUmodule* module) {
  if (!av.available) return Status(ErrorCode::kCudaUnavailable, "CUDA is not available: " + av.reason);
  const int count = int(av.devices.size());
  if (ordinal < 0 || ordinal >= count)
    return Status(ErrorCode::kInvalidArgument, "CUDA device " + std::to_string(ordinal) + " does not exist: " +
                                                    std::to_string(count) + " device(s) (0 to " +
                                                    std::to_string(count - 1) + ")");
  const DeviceInfo& d = av.devices[size_t(ordinal)];
  if (!d.runnable)
    return Status(ErrorCode::kInvalidArgument, device_label(d) + " cannot run the embedded kernels: " + d.reason);
  INT8RT_CUDA_RETURN_IF_ERROR("cuDeviceGet", api.cuDeviceGet(dev, ordinal));
  CUresult r = api.cuDevicePrimaryCtxRetain(ctx, *dev);
  if (r != kCudaSuccess)
    return Status(ErrorCode::kCudaUnavailable,
                  device_label(d) + ": cuDevicePrimaryCtxRetain failed: " + result_string_with(&api, r));
  r = api.cuCtxPushCurrent(*ctx);
  if (r == kCudaSuccess) {
    r = api.cuModuleLoadData(module, image.data);
    CUcontext popped = nullptr;
    api.cuCtxPopCurrent(&popped);
    if (r == kCudaSuccess) return Status::OK();
    *module = nullptr;
    api.cuDevicePrimaryCtxRelease(*dev);
    *ctx = nullptr;
    return Status(ErrorCode::kCudaUnavailable,
                  "loading the embedded CUDA kernels on " + device_label(d) + " (compute capability " +
                      std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor) + ", driver " +
                      driver_version_string(av.driver_version) + ") failed: cuModuleLoadData: " +
                      result_string_with(&api, r));
  }
  api.cuDevicePrimaryCtxRelease(*dev);
  *ctx = nullptr;
  return Status(ErrorCode::kCudaUnavailable, device_label(d) + ": cuCtxPushCurrent failed: " + result_string_with(&api, r));
}

}  // namespace

std::string library_path() {
  const char* env = std::getenv("INT8RT_LIBCUDA");
  return env && *env ? std::string(env) : std::string("libcuda.so.1");
}

const Availability& availability() { return global_probe().av; }

const DriverApi* driver() {
  const Probe& p = global_probe();
  return p.api_ok ? &p.api : nullptr;
}

std::string result_string(CUresult r) { return result_string_with(driver(), r); }

Status cuda_error(const char* call, CUresult r) {
  return Status(ErrorCode::kCuda, std::string(call) + " failed: " + result_string(r));
}

Availability probe_for_testing(const std::string& library, const void* image, size_t image_size) {
  Probe p;
  probe(library, image ? image_from(image, image_size) : embedded_image(), &p);
  return p.av;
}

Status open_for_testing(const std::string& library, int ordinal, const void* image, size_t image_size) {
  Probe p;
  const Image im = image ? image_from(image, image_size) : embedded_image();
  probe(library, im, &p);
  CUdevice dev = 0;
  CUcontext ctx = nullptr;
  CUmodule module = nullptr;
  if (!p.api_ok) return Status(ErrorCode::kCudaUnavailable, "CUDA is not available: " + p.av.reason);
  Status st = open_on(p.api, p.av, ordinal, im, &dev, &ctx, &module);
  if (st.ok()) {
    p.api.cuCtxPushCurrent(ctx);
    p.api.cuModuleUnload(module);
    CUcontext popped = nullptr;
    p.api.cuCtxPopCurrent(&popped);
    p.api.cuDevicePrimaryCtxRelease(dev);
  }
  return st;
}

// ---------------------------------------------------------------------------------------------------------------
// Device

Status Device::open(int ordinal, std::shared_ptr<Device>* out) {
  const Availability& av = availability();
  const DriverApi* api = driver();
  if (!av.available || !api) return Status(ErrorCode::kCudaUnavailable, "CUDA is not available: " + av.reason);
  // One Device per ordinal while any engine holds it: one primary-context reference and one module load.
  static std::mutex mu;
  static std::map<int, std::weak_ptr<Device>> open_devices;
  std::lock_guard<std::mutex> lock(mu);
  auto it = open_devices.find(ordinal);
  if (it != open_devices.end())
    if (auto d = it->second.lock()) {
      *out = std::move(d);
      return Status::OK();
    }
  std::shared_ptr<Device> d(new Device());
  INT8RT_RETURN_IF_ERROR(open_on(*api, av, ordinal, embedded_image(), &d->device_, &d->ctx_, &d->module_));
  d->info_ = av.devices[size_t(ordinal)];
  open_devices[ordinal] = d;
  *out = std::move(d);
  return Status::OK();
}

Device::~Device() {
  const DriverApi* api = driver();
  if (!api || !ctx_) return;
  if (module_ && api->cuCtxPushCurrent(ctx_) == kCudaSuccess) {
    api->cuModuleUnload(module_);
    CUcontext popped = nullptr;
    api->cuCtxPopCurrent(&popped);
  }
  api->cuDevicePrimaryCtxRelease(device_);
}

Status Device::function(const char* name, CUfunction* fn) const {
  CUresult r = driver()->cuModuleGetFunction(fn, module_, name);
  if (r != kCudaSuccess)
    return Status(ErrorCode::kCuda, std::string("CUDA kernel '") + name + "' is not in the embedded module: " +
                                        result_string(r));
  return Status::OK();
}

#define INT8RT_CUDA_IN_CONTEXT()                                                                      \
  ContextScope _scope(ctx_);                                                                          \
  if (!_scope.ok()) return Status(ErrorCode::kCuda, "cuCtxPushCurrent failed for CUDA device " +     \
                                                        std::to_string(info_.ordinal))

Status Device::alloc(size_t bytes, CUdeviceptr* ptr) const {
  INT8RT_CUDA_IN_CONTEXT();
  CUresult r = driver()->cuMemAlloc(ptr, bytes);
  if (r == kCudaSuccess) return Status::OK();
  *ptr = 0;
  return Status(r == 2 ? ErrorCode::kOutOfMemory : ErrorCode::kCuda,
                "cuMemAlloc of " + std::to_string(bytes) + " bytes on CUDA device " + std::to_string(info_.ordinal) +
                    " failed: " + result_string(r));
}

void Device::free(CUdeviceptr ptr) const {
  if (!ptr) return;
  ContextScope scope(ctx_);
  if (scope.ok()) driver()->cuMemFree(ptr);
}

Status Device::create_stream(CUstream* s) const {
  INT8RT_CUDA_IN_CONTEXT();
  INT8RT_CUDA_RETURN_IF_ERROR("cuStreamCreate", driver()->cuStreamCreate(s, kStreamNonBlocking));
  return Status::OK();
}

void Device::destroy_stream(CUstream s) const {
  if (!s) return;
  ContextScope scope(ctx_);
  if (scope.ok()) driver()->cuStreamDestroy(s);
}

Status Device::upload(CUdeviceptr dst, const void* src, size_t bytes, CUstream s) const {
  INT8RT_CUDA_IN_CONTEXT();
  INT8RT_CUDA_RETURN_IF_ERROR("cuMemcpyHtoDAsync", driver()->cuMemcpyHtoDAsync(dst, src, bytes, s));
  return Status::OK();
}

Status Device::download(void* dst, CUdeviceptr src, size_t bytes, CUstream s) const {
  INT8RT_CUDA_IN_CONTEXT();
  INT8RT_CUDA_RETURN_IF_ERROR("cuMemcpyDtoHAsync", driver()->cuMemcpyDtoHAsync(dst, src, bytes, s));
  return Status::OK();
}

Status Device::synchronize(CUstream s) const {
  INT8RT_CUDA_IN_CONTEXT();
  INT8RT_CUDA_RETURN_IF_ERROR("cuStreamSynchronize", driver()->cuStreamSynchronize(s));
  return Status::OK();
}

Status Device::create_event(CUevent* e) const {
  INT8RT_CUDA_IN_CONTEXT();
  INT8RT_CUDA_RETURN_IF_ERROR("cuEventCreate", driver()->cuEventCreate(e, kEventDefault));
  return Status::OK();
}

void Device::destroy_event(CUevent e) const {
  if (!e) return;
  ContextScope scope(ctx_);
  if (scope.ok()) driver()->cuEventDestroy(e);
}

Status Device::record_event(CUevent e, CUstream s) const {
  INT8RT_CUDA_IN_CONTEXT();
  INT8RT_CUDA_RETURN_IF_ERROR("cuEventRecord", driver()->cuEventRecord(e, s));
  return Status::OK();
}

Status Device::elapsed_ms(CUevent start, CUevent end, float* ms) const {
  INT8RT_CUDA_IN_CONTEXT();
  INT8RT_CUDA_RETURN_IF_ERROR("cuEventSynchronize", driver()->cuEventSynchronize(end));
  INT8RT_CUDA_RETURN_IF_ERROR("cuEventElapsedTime", driver()->cuEventElapsedTime(ms, start, end));
  return Status::OK();
}

Status Device::launch(CUfunction fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                      unsigned shared_bytes, CUstream s, void** params) const {
  INT8RT_CUDA_IN_CONTEXT();
  INT8RT_CUDA_RETURN_IF_ERROR("cuLaunchKernel",
                              driver()->cuLaunchKernel(fn, gx, gy, gz, bx, by, bz, shared_bytes, s, params, nullptr));
  return Status::OK();
}

#undef INT8RT_CUDA_IN_CONTEXT

// ---------------------------------------------------------------------------------------------------------------
// ContextScope

ContextScope::ContextScope(CUcontext ctx) {
  const DriverApi* api = driver();
  ok_ = api && ctx && api->cuCtxPushCurrent(ctx) == kCudaSuccess;
}

ContextScope::~ContextScope() {
  if (!ok_) return;
  CUcontext popped = nullptr;
  driver()->cuCtxPopCurrent(&popped);
}

}  // namespace cuda
}  // namespace int8rt
