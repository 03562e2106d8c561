#include "cuda/fatbin.h"

#include <cstdint>
#include <cstring>
#include <mutex>

#if defined(__ELF__)
// fatbin_data.S
extern "C" const unsigned char int8rt_cuda_fatbin_begin[];
extern "C" const unsigned char int8rt_cuda_fatbin_end[];
#endif

namespace int8rt {
namespace cuda {

namespace {

// The fatbin container as nvcc writes it (observed with nvcc 12 and 13; NVIDIA does not document it). All fields
// little-endian.
//   file header, 16 bytes:  u32 magic 0xBA55ED50, u16 version (1), u16 header size, u64 size of the entries
//   entry header (>= 32):   u16 kind (1 PTX, 2 ELF cubin), u16 version, u32 header size, u64 payload size,
//                           u32 -, u32 -, u32 version (PTX: ISA major << 16 | minor), u32 arch (75 for sm_75), ...
//   then the payload; the next entry follows it.
constexpr uint32_t kFatbinMagic = 0xBA55ED50u;
constexpr size_t kFileHeaderBytes = 16;
constexpr size_t kEntryHeaderMin = 32;
constexpr uint16_t kKindPtx = 1, kKindElf = 2;

template <typename T>
T load(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

std::string target_name(const FatbinTarget& t) {
  return (t.ptx ? "compute_" : "sm_") + std::to_string(t.arch);
}

int driver_version_for_ptx_isa(int major, int minor) {
  if (major == 7 && minor >= 0 && minor <= 8) return 11000 + 10 * minor;  // CUDA 11.0 .. 11.8
  if (major == 8) {
    // 8.0-8.5: CUDA 12.0-12.5 (12.6 kept 8.5); 8.6: 12.7; 8.7: 12.8; 8.8: 12.9.
    if (minor >= 0 && minor <= 5) return 12000 + 10 * minor;
    if (minor >= 6 && minor <= 8) return 12070 + 10 * (minor - 6);
    return 12090;
  }
  if (major >= 9) return (major + 4) * 1000 + 10 * minor;  // 9.0: CUDA 13.0
  return 0;
}

std::string driver_version_string(int version) {
  return std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
}

Status parse_fatbin(const void* data, size_t size, FatbinContents* out) {
  *out = FatbinContents();
  if (size == 0) return Status::OK();
  const auto* p = static_cast<const unsigned char*>(data);
  auto bad = [](const std::string& what) {
    return Status(ErrorCode::kCuda, "the embedded CUDA kernel image is not a valid fatbin: " + what);
  };
  if (size < kFileHeaderBytes || load<uint32_t>(p) != kFatbinMagic) return bad("no fatbin header");
  const size_t header = load<uint16_t>(p + 6);
  const uint64_t body = load<uint64_t>(p + 8);
  if (header < kFileHeaderBytes || header > size || body > size - header) return bad("its size fields exceed the image");
  size_t off = header;
  const size_t end = header + size_t(body);
  int min_driver = 0;
  while (off < end) {
    if (end - off < kEntryHeaderMin) return bad("an entry header is cut off at byte " + std::to_string(off));
    const uint16_t kind = load<uint16_t>(p + off);
    const uint32_t entry_header = load<uint32_t>(p + off + 4);
    const uint64_t payload = load<uint64_t>(p + off + 8);
    if (entry_header < kEntryHeaderMin || entry_header > end - off || payload > end - off - entry_header)
      return bad("the entry at byte " + std::to_string(off) + " exceeds the image");
    const uint32_t version = load<uint32_t>(p + off + 24);
    const uint32_t arch = load<uint32_t>(p + off + 28);
    if (kind == kKindPtx || kind == kKindElf) {
      FatbinTarget t;
      t.ptx = kind == kKindPtx;
      t.arch = int(arch);
      if (t.ptx) {
        t.ptx_isa_major = int(version >> 16);
        t.ptx_isa_minor = int(version & 0xffff);
        int v = driver_version_for_ptx_isa(t.ptx_isa_major, t.ptx_isa_minor);
        if (v > min_driver) min_driver = v;
      }
      out->targets.push_back(t);
    }  // other kinds (none seen so far) are skipped
    off += entry_header + size_t(payload);
  }
  out->min_driver_version = min_driver;
  return Status::OK();
}

const EmbeddedKernels& embedded_kernels() {
  static EmbeddedKernels k;
  static std::once_flag once;
  std::call_once(once, [] {
#if defined(__ELF__)
    k.data = int8rt_cuda_fatbin_begin;
    k.size = size_t(int8rt_cuda_fatbin_end - int8rt_cuda_fatbin_begin);
#endif
    static const char kNote[] = "int8rt: ";
    if (k.size == 0 || (k.size >= sizeof(kNote) - 1 && std::memcmp(k.data, kNote, sizeof(kNote) - 1) == 0)) {
      std::string note(reinterpret_cast<const char*>(k.data) + (k.size ? sizeof(kNote) - 1 : 0),
                       k.size ? k.size - (sizeof(kNote) - 1) : 0);
      while (!note.empty() && (note.back() == '\n' || note.back() == '\r' || note.back() == ' ')) note.pop_back();
      k.no_kernels = note.empty() ? "this build has no CUDA kernels" : note;
      k.size = 0;
      return;
    }
    Status st = parse_fatbin(k.data, k.size, &k.contents);
    if (!st.ok()) k.error = st.message();
  });
  return k;
}

bool can_run_on(const FatbinContents& c, int cc_major, int cc_minor, bool* uses_ptx, std::string* why) {
  const int cc = cc_major * 10 + cc_minor;
  *uses_ptx = false;
  // SASS runs on devices of the same major architecture and an equal or newer minor one.
  for (const auto& t : c.targets)
    if (!t.ptx && t.arch / 10 == cc_major && t.arch % 10 <= cc_minor) return true;
  // PTX of an architecture up to the device's is compiled for it by the driver at cuModuleLoadData.
  for (const auto& t : c.targets)
    if (t.ptx && t.arch <= cc) {
      *uses_ptx = true;
      return true;
    }
  std::string list;
  for (const auto& t : c.targets) list += (list.empty() ? "" : ", ") + target_name(t);
  *why = "compute capability " + std::to_string(cc_major) + "." + std::to_string(cc_minor) +
         " has no code in the embedded kernels (" + (list.empty() ? std::string("none") : list) + ")";
  return false;
}

}  // namespace cuda
}  // namespace int8rt
