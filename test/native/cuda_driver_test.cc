// The host side of CUDA without a GPU: every reason native/cuda/driver.cc gives for not using CUDA, checked against
// a stand-in libcuda (fake_libcuda.cc, built by CMakeLists.txt next to this test) whose behaviour the environment
// switches, and the fatbin container parser on synthetic images. Each check probes afresh (probe_for_testing); the
// process-wide probe is checked in a child process only, with INT8RT_LIBCUDA pointing nowhere.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "cuda/driver.h"
#include "cuda/fatbin.h"

namespace int8rt {
namespace cuda {
namespace {

#ifndef INT8RT_FAKE_LIBCUDA
#define INT8RT_FAKE_LIBCUDA ""
#define INT8RT_FAKE_LIBCUDA_OLD ""
#endif

struct Entry {
  bool ptx;
  int arch;
  uint32_t version;  // PTX: ISA major << 16 | minor
};

// A fatbin container with the given entries and 16-byte dummy payloads, laid out as nvcc lays it out.
std::vector<unsigned char> make_fatbin(const std::vector<Entry>& entries) {
  std::vector<unsigned char> out(16, 0);
  auto put = [&](size_t at, const void* v, size_t n) { std::memcpy(out.data() + at, v, n); };
  const uint32_t magic = 0xBA55ED50u;
  const uint16_t version = 1, header = 16;
  put(0, &magic, 4);
  put(4, &version, 2);
  put(6, &header, 2);
  for (const Entry& e : entries) {
    const size_t at = out.size();
    out.resize(at + 64 + 16, 0);
    const uint16_t kind = e.ptx ? 1 : 2, ever = 0x0101;
    const uint32_t ehdr = 64, arch = uint32_t(e.arch);
    const uint64_t payload = 16;
    put(at, &kind, 2);
    put(at + 2, &ever, 2);
    put(at + 4, &ehdr, 4);
    put(at + 8, &payload, 8);
    put(at + 24, &e.version, 4);
    put(at + 28, &arch, 4);
  }
  const uint64_t body = out.size() - 16;
  put(8, &body, 8);
  return out;
}

// sm_80 SASS and compute_90 PTX from CUDA 13.0 (PTX ISA 9.0).
const std::vector<unsigned char>& image() {
  static const std::vector<unsigned char> im = make_fatbin({{false, 80, 0x10008}, {true, 90, 0x90000}});
  return im;
}

// Sets the fake library's switches for one test and clears them after.
class FakeEnv {
 public:
  FakeEnv& set(const char* name, const char* value) {
    setenv(name, value, 1);
    names_.push_back(name);
    return *this;
  }
  ~FakeEnv() {
    for (const char* n : names_) unsetenv(n);
  }

 private:
  std::vector<const char*> names_;
};

Availability probe_fake() {
  return probe_for_testing(INT8RT_FAKE_LIBCUDA, image().data(), image().size());
}

TEST(CudaFatbin, ParsesTargetsAndDriverVersion) {
  FatbinContents c;
  ASSERT_TRUE(parse_fatbin(image().data(), image().size(), &c).ok());
  ASSERT_EQ(c.targets.size(), 2u);
  EXPECT_EQ(target_name(c.targets[0]), "sm_80");
  EXPECT_EQ(target_name(c.targets[1]), "compute_90");
  EXPECT_EQ(c.targets[1].ptx_isa_major, 9);
  EXPECT_EQ(c.min_driver_version, 13000);
  EXPECT_EQ(driver_version_for_ptx_isa(8, 0), 12000);
  EXPECT_EQ(driver_version_for_ptx_isa(8, 5), 12050);
  EXPECT_EQ(driver_version_for_ptx_isa(8, 8), 12090);
  EXPECT_EQ(driver_version_string(12040), "12.4");

  FatbinContents empty;
  ASSERT_TRUE(parse_fatbin(nullptr, 0, &empty).ok());
  EXPECT_TRUE(empty.targets.empty());
}

TEST(CudaFatbin, RejectsBrokenImagesWithoutReadingPastThem) {
  FatbinContents c;
  std::vector<unsigned char> im = image();
  // Truncated inside an entry: every prefix is refused or parsed, never read beyond.
  for (size_t n = 1; n < im.size(); n++) {
    std::vector<unsigned char> cut(im.begin(), im.begin() + long(n));
    Status st = parse_fatbin(cut.data(), cut.size(), &c);
    ASSERT_FALSE(st.ok()) << n;
    EXPECT_EQ(st.code(), ErrorCode::kCuda);
  }
  im[0] ^= 1;
  Status st = parse_fatbin(im.data(), im.size(), &c);
  EXPECT_EQ(st.message(), "the embedded CUDA kernel image is not a valid fatbin: no fatbin header");
}

TEST(CudaFatbin, RunnabilityFollowsBinaryCompatibility) {
  FatbinContents c;
  ASSERT_TRUE(parse_fatbin(image().data(), image().size(), &c).ok());
  bool ptx = true;
  std::string why;
  EXPECT_TRUE(can_run_on(c, 8, 7, &ptx, &why));  // sm_80 SASS on an Orin
  EXPECT_FALSE(ptx);
  EXPECT_TRUE(can_run_on(c, 12, 0, &ptx, &why));  // PTX JIT on a newer GPU
  EXPECT_TRUE(ptx);
  EXPECT_FALSE(can_run_on(c, 7, 5, &ptx, &why));
  EXPECT_EQ(why, "compute capability 7.5 has no code in the embedded kernels (sm_80, compute_90)");
}

TEST(CudaFatbin, EmbeddedImageIsWholeOrExplained) {
  const EmbeddedKernels& k = embedded_kernels();
  EXPECT_TRUE(k.error.empty()) << k.error;
  if (k.size == 0) {
    EXPECT_NE(k.no_kernels.find("this build has no CUDA kernels"), std::string::npos) << k.no_kernels;
    return;
  }
  std::set<std::string> names;
  for (const auto& t : k.contents.targets) names.insert(target_name(t));
  EXPECT_EQ(names, (std::set<std::string>{"sm_75", "sm_80", "sm_86", "sm_87", "sm_89", "sm_90", "compute_90"}));
  EXPECT_GE(k.contents.min_driver_version, 12000);
}

TEST(CudaDriver, MissingLibraryIsNamed) {
  Availability av = probe_for_testing("/nonexistent/libcuda.so.1", image().data(), image().size());
  EXPECT_FALSE(av.available);
  EXPECT_EQ(av.library, "/nonexistent/libcuda.so.1");
  EXPECT_EQ(av.reason.rfind("the CUDA driver library /nonexistent/libcuda.so.1 could not be loaded (", 0), 0u)
      << av.reason;
  EXPECT_NE(av.reason.find("INT8RT_LIBCUDA"), std::string::npos);
}

// The process-wide probe, in a process of its own (a threadsafe death test re-executes the binary): the probe is
// made once per process, and this one must neither see nor leave behind another test's result (the GPU kernel tests
// in this binary use the real driver).
void process_probe_with_missing_library() {
  auto fail = [](const std::string& what) {
    std::fprintf(stderr, "MISMATCH: %s\n", what.c_str());
    std::_Exit(1);
  };
  setenv("INT8RT_LIBCUDA", "/nonexistent/int8rt-test/libcuda.so.1", 1);
  if (library_path() != "/nonexistent/int8rt-test/libcuda.so.1") fail("library_path() " + library_path());
  const Availability& av = availability();
  unsetenv("INT8RT_LIBCUDA");
  if (&av != &availability()) fail("probed twice");
  if (av.available) fail("available");
  if (av.library != "/nonexistent/int8rt-test/libcuda.so.1") fail("library " + av.library);
  if (driver() != nullptr) fail("driver() not null");
  // The embedded image decides which reason comes first: no kernels, else the library.
  const EmbeddedKernels& k = embedded_kernels();
  if (k.size ? av.reason.find("/nonexistent/int8rt-test/libcuda.so.1") == std::string::npos : av.reason != k.no_kernels)
    fail("reason " + av.reason);
  std::shared_ptr<Device> dev;
  Status st = Device::open(0, &dev);
  if (st.code() != ErrorCode::kCudaUnavailable || st.message() != "CUDA is not available: " + av.reason || dev)
    fail("Device::open " + st.message());
  if (result_string(2) != "CUDA_ERROR_OUT_OF_MEMORY") fail(result_string(2));  // no driver: the built-in names
  if (result_string(12345) != "CUresult 12345") fail(result_string(12345));
  std::fprintf(stderr, "PROCESS PROBE OK\n");
  std::_Exit(0);
}

TEST(CudaDriver, ProcessProbeHonoursInt8rtLibcuda) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(process_probe_with_missing_library(), ::testing::ExitedWithCode(0), "PROCESS PROBE OK");
}

TEST(CudaDriver, FakeDriverWithOneDevice) {
  Availability av = probe_fake();
  ASSERT_TRUE(av.available) << av.reason;
  EXPECT_EQ(av.reason, "");
  EXPECT_EQ(av.driver_version, 13000);
  ASSERT_EQ(av.devices.size(), 1u);
  const DeviceInfo& d = av.devices[0];
  EXPECT_EQ(d.name, "Fake GPU 0");
  EXPECT_EQ(d.cc_major, 8);
  EXPECT_EQ(d.cc_minor, 6);
  EXPECT_EQ(d.multiprocessors, 46);
  EXPECT_EQ(d.total_memory, size_t(8) << 30);
  EXPECT_TRUE(d.runnable);
  EXPECT_FALSE(d.uses_ptx);
  EXPECT_TRUE(open_for_testing(INT8RT_FAKE_LIBCUDA, 0, image().data(), image().size()).ok());
}

TEST(CudaDriver, CuInitFailureIsNamed) {
  FakeEnv env;
  env.set("FAKE_CUDA_INIT_RESULT", "100");
  Availability av = probe_fake();
  EXPECT_FALSE(av.available);
  EXPECT_EQ(av.reason, "cuInit failed: CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)");
  EXPECT_EQ(av.driver_version, 13000);  // asked before cuInit
}

TEST(CudaDriver, ZeroDevices) {
  FakeEnv env;
  env.set("FAKE_CUDA_DEVICE_COUNT", "0");
  Availability av = probe_fake();
  EXPECT_FALSE(av.available);
  EXPECT_EQ(av.reason, "the CUDA driver reports no devices");
}

TEST(CudaDriver, DriverOlderThanTheKernels) {
  FakeEnv env;
  env.set("FAKE_CUDA_DRIVER_VERSION", "12040");
  Availability av = probe_fake();
  EXPECT_FALSE(av.available);
  EXPECT_EQ(av.driver_version, 12040);
  EXPECT_EQ(av.reason,
            "the CUDA driver 12.4 (12040) is older than the embedded kernels need: 13.0 (13000); CUDA 13 kernels "
            "need an R580 or newer driver");
  ASSERT_EQ(av.devices.size(), 1u);
  EXPECT_FALSE(av.devices[0].runnable);
  EXPECT_EQ(av.devices[0].reason, av.reason);
}

TEST(CudaDriver, DeviceWithoutCode) {
  FakeEnv env;
  env.set("FAKE_CUDA_CC", "70").set("FAKE_CUDA_DEVICE_COUNT", "2");
  Availability av = probe_fake();
  EXPECT_FALSE(av.available);
  EXPECT_EQ(av.reason,
            "no CUDA device can run the embedded kernels: device 0 (Fake GPU 0): compute capability 7.0 has no code "
            "in the embedded kernels (sm_80, compute_90); device 1 (Fake GPU 1): compute capability 7.0 has no code "
            "in the embedded kernels (sm_80, compute_90)");
}

TEST(CudaDriver, NewerDeviceRunsThePtx) {
  FakeEnv env;
  env.set("FAKE_CUDA_CC", "120");
  Availability av = probe_fake();
  ASSERT_TRUE(av.available) << av.reason;
  EXPECT_TRUE(av.devices[0].uses_ptx);
}

TEST(CudaDriver, ModuleLoadFailureIsNamed) {
  FakeEnv env;
  env.set("FAKE_CUDA_MODULE_RESULT", "209");
  Status st = open_for_testing(INT8RT_FAKE_LIBCUDA, 0, image().data(), image().size());
  EXPECT_EQ(st.code(), ErrorCode::kCudaUnavailable);
  EXPECT_EQ(st.message(),
            "loading the embedded CUDA kernels on CUDA device 0 (Fake GPU 0) (compute capability 8.6, driver 13.0) "
            "failed: cuModuleLoadData: CUDA_ERROR_NO_BINARY_FOR_GPU (no kernel image is available for execution on "
            "the device)");
}

TEST(CudaDriver, OrdinalOutOfRange) {
  Status st = open_for_testing(INT8RT_FAKE_LIBCUDA, 3, image().data(), image().size());
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "CUDA device 3 does not exist: 1 device(s) (0 to 0)");
}

TEST(CudaDriver, MissingEntryPointIsNamed) {
  Availability av = probe_for_testing(INT8RT_FAKE_LIBCUDA_OLD, image().data(), image().size());
  EXPECT_FALSE(av.available);
  EXPECT_EQ(av.reason, std::string("the CUDA driver library ") + INT8RT_FAKE_LIBCUDA_OLD +
                           " lacks cuMemAlloc_v2 (a driver older than CUDA 11, or not libcuda)");
}

TEST(CudaDriver, ImageWithoutKernelsComesFirst) {
  const unsigned char none[1] = {0};
  Availability av = probe_for_testing(INT8RT_FAKE_LIBCUDA, none, 0);
  EXPECT_FALSE(av.available);
  EXPECT_EQ(av.reason, "this build has no CUDA kernels");
  ASSERT_EQ(av.devices.size(), 1u);  // the driver is still probed, for `int8rt doctor`
  EXPECT_EQ(av.devices[0].name, "Fake GPU 0");
}

}  // namespace
}  // namespace cuda
}  // namespace int8rt
