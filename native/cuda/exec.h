// What an engine needs to execute nodes on a CUDA device (core/engine.cc places them, ops/cuda/ implements them):
//   WeightArena   one device block per engine for every weight, bias and requantization table its CUDA kernels
//                 use: the kernels stage their bytes at build, the engine uploads them in one copy when the build
//                 is done and frees the block with the engine (release()).
//   RunResources  what one run in flight uses: its own stream, and a pool of device blocks for the activations
//                 (best fit, kept across runs: the engine pools RunResources as it pools host arenas). A value's
//                 block goes back to the pool after its last reader, while kernels may still be queued behind it:
//                 that is safe because every later user of the block is queued on the same stream. Host memory an
//                 asynchronous upload reads is held until the next synchronize().
//   BuildContext  what a CUDA kernel factory gets (KernelInfo::cuda()).
//   ExecContext   what a CUDA kernel's compute gets (OpContext::cuda()).
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "cuda/driver.h"
#include "cuda/kernels.h"

namespace int8rt {
namespace cuda {

class WeightArena {
 public:
  explicit WeightArena(std::shared_ptr<Device> device) : device_(std::move(device)) {}
  ~WeightArena();
  WeightArena(const WeightArena&) = delete;
  WeightArena& operator=(const WeightArena&) = delete;

  // Copies `bytes` into the staging area and returns their offset in the arena (256-byte aligned, as cuMemAlloc's
  // own blocks are, which the GEMM's 16-byte loads need).
  size_t stage(const void* data, size_t bytes);
  // Allocates the device block and uploads what was staged (once; later calls do nothing). The staging copy goes.
  Status commit();
  // The device address of a staged offset; valid after commit().
  CUdeviceptr address(size_t offset) const { return base_ + offset; }
  size_t bytes() const { return size_; }
  const Device& device() const { return *device_; }

 private:
  std::shared_ptr<Device> device_;
  std::vector<uint8_t> staged_;
  CUdeviceptr base_ = 0;
  size_t size_ = 0;
  bool committed_ = false;
};

class RunResources : public Buffer::Lender {
 public:
  static Status create(std::shared_ptr<Device> device, std::unique_ptr<RunResources>* out);
  ~RunResources() override;

  const Device& device() const { return *device_; }
  CUstream stream() const { return stream_; }
  // A device buffer of at least `bytes` (Buffer::lend_device); kOutOfMemory when the device has no more.
  Status take(size_t bytes, std::shared_ptr<Buffer>* out);
  void give_back(void* data, size_t capacity) override;
  // Keeps `t` alive until the next synchronize() (the source of an asynchronous upload).
  void hold(const Tensor& t) { held_.push_back(t); }
  // Waits for everything queued on the stream, then drops the held host tensors.
  Status synchronize();
  size_t cached_bytes() const { return cached_bytes_; }

 private:
  explicit RunResources(std::shared_ptr<Device> device) : device_(std::move(device)) {}
  std::shared_ptr<Device> device_;
  CUstream stream_ = nullptr;
  std::multimap<size_t, CUdeviceptr> free_;  // capacity -> block
  std::vector<CUdeviceptr> blocks_;          // every block this pool allocated
  std::vector<Tensor> held_;
  size_t cached_bytes_ = 0;
};

struct BuildContext {
  std::shared_ptr<Device> device;
  WeightArena* weights = nullptr;
  QGemmPath gemm_path = QGemmPath::kImma;
  // The element types of the node's inputs as far as they are known at build (core/dtype_infer.h; kUndefined where
  // not), one per input: the float32 kernels take a node only when its activation inputs are known float32.
  std::vector<DType> input_dtypes;
};

struct ExecContext {
  const Device* device = nullptr;
  RunResources* run = nullptr;
  CUstream stream() const { return run->stream(); }
};

}  // namespace cuda
}  // namespace int8rt
