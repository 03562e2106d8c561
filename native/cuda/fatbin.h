// The CUDA kernels embedded in the addon: one fatbin that scripts/build-cuda.js makes with nvcc from every
// native/kernels/cuda/*.cu (SASS for sm_75, 80, 86, 87, 89, 90 and compute_90 PTX) and fatbin_data.S pulls in with
// .incbin. A build without nvcc embeds an empty file: the image is then empty and CUDA reports "built without
// kernels". The image is host-architecture neutral, so the x64 and arm64 addons carry the same bytes.
//
// What the image holds is read from the image itself (its fatbin container headers), not from a list kept beside
// it: the targets, and the PTX ISA version, which names the CUDA release that made the image and hence the oldest
// driver that loads it.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "core/status.h"

namespace int8rt {
namespace cuda {

struct FatbinTarget {
  bool ptx = false;  // PTX (JIT-compiled by the driver) rather than SASS (a cubin for one architecture family)
  int arch = 0;      // 75 for sm_75 / compute_75
  int ptx_isa_major = 0, ptx_isa_minor = 0;  // PTX entries only: the `.version` of the PTX (9.0 from CUDA 13.0)
};

// "sm_86" or "compute_90".
std::string target_name(const FatbinTarget& t);

struct FatbinContents {
  std::vector<FatbinTarget> targets;  // in the order the image lists them
  // The oldest driver (cuDriverGetVersion units, 13000 = CUDA 13.0) that can load the image: the CUDA release whose
  // PTX ISA the PTX entries use. SASS made by CUDA 13.x needs a 13.x driver as well (R580 or newer: NVIDIA's minor
  // version compatibility holds within a major release only), which is the same number for an image that carries
  // PTX from the same nvcc. 0 when the image has no PTX entry to tell.
  int min_driver_version = 0;
};

// Reads the container headers of a fatbin image (magic 0xBA55ED50). An empty image gives no targets; a truncated
// or foreign one gives kCuda naming what is wrong. Never reads outside [data, data + size).
Status parse_fatbin(const void* data, size_t size, FatbinContents* out);

// The embedded image and what it holds (parsed once; thread-safe).
// A build without kernels embeds, instead of a fatbin, one line of text that starts with "int8rt: " and says why
// (nvcc missing, no .cu files, INT8RT_CUDA=off); that line becomes `no_kernels` and the image counts as empty.
struct EmbeddedKernels {
  const unsigned char* data = nullptr;
  size_t size = 0;         // 0: this build has no CUDA kernels
  FatbinContents contents;
  std::string no_kernels;  // size 0: why ("this build has no CUDA kernels (nvcc was not found when it was built)")
  std::string error;       // the image could not be parsed (a broken build): why
};
const EmbeddedKernels& embedded_kernels();

// Whether an image with these targets can run on a device of compute capability major.minor: SASS of the same
// major and a minor not above the device's (sm_80 SASS runs on 8.6 and 8.7), else PTX of an architecture not above
// the device's, which the driver compiles at module load. False with the reason in *why otherwise; *uses_ptx says
// which of the two it would be.
bool can_run_on(const FatbinContents& c, int cc_major, int cc_minor, bool* uses_ptx, std::string* why);

// The CUDA release a PTX ISA version comes from, as a driver version (8.0 -> 12000, 9.0 -> 13000); 0 if unknown.
int driver_version_for_ptx_isa(int major, int minor);

// "13.0" for 13000, "12.4" for 12040.
std::string driver_version_string(int version);

}  // namespace cuda
}  // namespace int8rt
