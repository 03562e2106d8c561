// A stand-in for libcuda.so.1 that cuda_driver_test.cc loads through INT8RT_LIBCUDA-style paths, so that every
// reason native/cuda/driver.cc can give is checked on machines without a GPU. It exports the driver API entry points
// int8rt resolves (the _v2 names where the real library has them) with plain C types. Its behaviour is read from the
// environment at each call:
//   FAKE_CUDA_INIT_RESULT=n      cuInit returns n (100 = CUDA_ERROR_NO_DEVICE)
//   FAKE_CUDA_DEVICE_COUNT=n     devices reported (default 1)
//   FAKE_CUDA_DRIVER_VERSION=n   cuDriverGetVersion (default 13000)
//   FAKE_CUDA_CC=XY              compute capability of every device (default 86)
//   FAKE_CUDA_MODULE_RESULT=n    cuModuleLoadData returns n (209 = CUDA_ERROR_NO_BINARY_FOR_GPU)
// Built with FAKE_LIBCUDA_WITHOUT_V2 it lacks cuMemAlloc_v2, like a library that is not a current libcuda.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

int fake_context_storage, fake_module_storage, fake_function_storage, fake_stream_storage, fake_event_storage;

}  // namespace

#define FAKE_API extern "C" __attribute__((visibility("default")))

FAKE_API int cuInit(unsigned) { return env_int("FAKE_CUDA_INIT_RESULT", 0); }
FAKE_API int cuDriverGetVersion(int* v) {
  *v = env_int("FAKE_CUDA_DRIVER_VERSION", 13000);
  return 0;
}
FAKE_API int cuGetErrorName(int r, const char** name) {
  switch (r) {
    case 100: *name = "CUDA_ERROR_NO_DEVICE"; return 0;
    case 209: *name = "CUDA_ERROR_NO_BINARY_FOR_GPU"; return 0;
    default: *name = nullptr; return 1;
  }
}
FAKE_API int cuGetErrorString(int r, const char** text) {
  switch (r) {
    case 100: *text = "no CUDA-capable device is detected"; return 0;
    case 209: *text = "no kernel image is available for execution on the device"; return 0;
    default: *text = nullptr; return 1;
  }
}
FAKE_API int cuDeviceGetCount(int* n) {
  *n = env_int("FAKE_CUDA_DEVICE_COUNT", 1);
  return 0;
}
FAKE_API int cuDeviceGet(int* d, int ordinal) {
  if (ordinal < 0 || ordinal >= env_int("FAKE_CUDA_DEVICE_COUNT", 1)) return 101;
  *d = ordinal;
  return 0;
}
FAKE_API int cuDeviceGetName(char* name, int len, int d) {
  std::snprintf(name, size_t(len), "Fake GPU %d", d);
  return 0;
}
FAKE_API int cuDeviceGetAttribute(int* v, int attr, int) {
  const int cc = env_int("FAKE_CUDA_CC", 86);
  switch (attr) {
    case 75: *v = cc / 10; return 0;
    case 76: *v = cc % 10; return 0;
    case 16: *v = 46; return 0;
    case 97: *v = 101376; return 0;
    default: *v = 0; return 1;
  }
}
FAKE_API int cuDeviceTotalMem_v2(size_t* bytes, int) {
  *bytes = size_t(8) << 30;
  return 0;
}
FAKE_API int cuDevicePrimaryCtxRetain(void** ctx, int) {
  *ctx = &fake_context_storage;
  return 0;
}
FAKE_API int cuDevicePrimaryCtxRelease_v2(int) { return 0; }
FAKE_API int cuCtxPushCurrent_v2(void*) { return 0; }
FAKE_API int cuCtxPopCurrent_v2(void** ctx) {
  *ctx = &fake_context_storage;
  return 0;
}
FAKE_API int cuModuleLoadData(void** module, const void*) {
  const int r = env_int("FAKE_CUDA_MODULE_RESULT", 0);
  *module = r ? nullptr : &fake_module_storage;
  return r;
}
FAKE_API int cuModuleUnload(void*) { return 0; }
FAKE_API int cuModuleGetFunction(void** fn, void*, const char*) {
  *fn = &fake_function_storage;
  return 0;
}
FAKE_API int cuFuncSetAttribute(void*, int, int) { return 0; }
#ifndef FAKE_LIBCUDA_WITHOUT_V2
FAKE_API int cuMemAlloc_v2(unsigned long long* p, size_t) {
  *p = 0x1000;
  return 0;
}
#endif
FAKE_API int cuMemFree_v2(unsigned long long) { return 0; }
FAKE_API int cuMemcpyHtoDAsync_v2(unsigned long long, const void*, size_t, void*) { return 0; }
FAKE_API int cuMemcpyDtoHAsync_v2(void*, unsigned long long, size_t, void*) { return 0; }
FAKE_API int cuMemsetD8Async(unsigned long long, unsigned char, size_t, void*) { return 0; }
FAKE_API int cuStreamCreate(void** s, unsigned) {
  *s = &fake_stream_storage;
  return 0;
}
FAKE_API int cuStreamDestroy_v2(void*) { return 0; }
FAKE_API int cuStreamSynchronize(void*) { return 0; }
FAKE_API int cuEventCreate(void** e, unsigned) {
  *e = &fake_event_storage;
  return 0;
}
FAKE_API int cuEventDestroy_v2(void*) { return 0; }
FAKE_API int cuEventRecord(void*, void*) { return 0; }
FAKE_API int cuEventSynchronize(void*) { return 0; }
FAKE_API int cuEventElapsedTime(float* ms, void*, void*) {
  *ms = 0.f;
  return 0;
}
FAKE_API int cuLaunchKernel(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void*, void**,
                            void**) {
  return 0;
}
