#include "cuda/exec.h"

#include <cstring>
#include <string>

namespace int8rt {
namespace cuda {

namespace {
constexpr size_t kAlign = 256;
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// WeightArena

WeightArena::~WeightArena() { device_->free(base_); }

size_t WeightArena::stage(const void* data, size_t bytes) {
  const size_t offset = align_up(staged_.size());
  staged_.resize(offset + bytes);
  if (bytes) std::memcpy(staged_.data() + offset, data, bytes);
  return offset;
}

Status WeightArena::commit() {
  if (committed_) return Status::OK();
  committed_ = true;
  size_ = staged_.size();
  if (size_ == 0) return Status::OK();
  INT8RT_RETURN_IF_ERROR(device_->alloc(size_, &base_));
  // A null stream: the legacy default stream, which waits for the upload before any later work on the device.
  Status st = device_->upload(base_, staged_.data(), size_, nullptr);
  if (st.ok()) st = device_->synchronize(nullptr);
  if (!st.ok()) return st;
  std::vector<uint8_t>().swap(staged_);
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------------------------
// RunResources

Status RunResources::create(std::shared_ptr<Device> device, std::unique_ptr<RunResources>* out) {
  std::unique_ptr<RunResources> r(new RunResources(std::move(device)));
  INT8RT_RETURN_IF_ERROR(r->device_->create_stream(&r->stream_));
  *out = std::move(r);
  return Status::OK();
}

RunResources::~RunResources() {
  if (stream_) {
    device_->synchronize(stream_);  // nothing may still be using a block when it is freed
    device_->destroy_stream(stream_);
  }
  for (CUdeviceptr p : blocks_) device_->free(p);
}

Status RunResources::take(size_t bytes, std::shared_ptr<Buffer>* out) {
  const size_t need = align_up(bytes ? bytes : 1);
  // Best fit, but do not waste a block more than twice the request on a small tensor (as the host arena).
  auto it = free_.lower_bound(need);
  if (it != free_.end() && it->first <= need * 2 + 4096) {
    const size_t cap = it->first;
    const CUdeviceptr p = it->second;
    free_.erase(it);
    cached_bytes_ -= cap;
    *out = Buffer::lend_device(p, bytes, cap, this);
    return Status::OK();
  }
  CUdeviceptr p = 0;
  Status st = device_->alloc(need, &p);
  if (!st.ok() && !free_.empty()) {
    // Hand the cached blocks back to the device and try once more. They may still be read by queued kernels.
    INT8RT_RETURN_IF_ERROR(device_->synchronize(stream_));
    for (auto& kv : free_) {
      device_->free(kv.second);
      for (auto& b : blocks_)
        if (b == kv.second) b = 0;
    }
    free_.clear();
    cached_bytes_ = 0;
    st = device_->alloc(need, &p);
  }
  if (!st.ok()) return st;
  blocks_.push_back(p);
  *out = Buffer::lend_device(p, bytes, need, this);
  return Status::OK();
}

void RunResources::give_back(void* data, size_t capacity) {
  free_.emplace(capacity, CUdeviceptr(reinterpret_cast<uintptr_t>(data)));
  cached_bytes_ += capacity;
}

Status RunResources::synchronize() {
  Status st = device_->synchronize(stream_);
  held_.clear();
  return st;
}

}  // namespace cuda
}  // namespace int8rt
