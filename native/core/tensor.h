// Tensor: an element type, a shape and a pointer into a reference-counted buffer. Copying a Tensor copies the
// view, never the data. Buffers are 64-byte aligned.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace int8rt {

using Dims = std::vector<int64_t>;

// Largest element count a single tensor may have (2^40 elements); shapes past it are refused as kTooLarge.
constexpr int64_t kMaxElements = int64_t(1) << 40;

// Product of dims; -1 when a dim is negative or the product overflows kMaxElements.
int64_t dims_numel(const Dims& d);
std::string dims_str(const Dims& d);  // "[1,3,224,224]"

class Buffer {
 public:
  // Allocates `bytes` (64-byte aligned). Returns nullptr on allocation failure.
  static std::shared_ptr<Buffer> allocate(size_t bytes);
  // Wraps memory owned elsewhere; `keep_alive` holds whatever owns it.
  static std::shared_ptr<Buffer> wrap(void* data, size_t bytes, std::shared_ptr<void> keep_alive);
  // Memory lent by a pool (the executor's per-run arena): `give_back(data, capacity)` is called on destruction.
  class Lender {
   public:
    virtual ~Lender() = default;
    virtual void give_back(void* data, size_t capacity) = 0;
  };
  static std::shared_ptr<Buffer> lend(void* data, size_t bytes, size_t capacity, Lender* lender);
  // Device memory lent the same way (cuda/run_memory.h): data() is the device address, which host code must never
  // dereference. The executor keeps such tensors away from CPU kernels (it inserts copies, core/engine.cc).
  static std::shared_ptr<Buffer> lend_device(uint64_t address, size_t bytes, size_t capacity, Lender* lender);
  ~Buffer();
  void* data() const { return data_; }
  size_t size() const { return size_; }
  // True when this buffer owns its memory outright (safe to hand to JavaScript).
  bool self_owned() const { return owned_; }
  // True for device memory (lend_device).
  bool on_device() const { return device_; }

 private:
  Buffer() = default;
  void* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
  bool owned_ = false;
  bool device_ = false;
  Lender* lender_ = nullptr;
  std::shared_ptr<void> keep_alive_;
};

class Tensor {
 public:
  Tensor() = default;
  Tensor(DType dtype, Dims dims, std::shared_ptr<Buffer> buffer, size_t byte_offset = 0)
      : dtype_(dtype), dims_(std::move(dims)), buffer_(std::move(buffer)), offset_(byte_offset) {}

  // A new zero-filled tensor that owns its memory. Fails with kTooLarge/kOutOfMemory.
  static Status create(DType dtype, const Dims& dims, Tensor* out);

  DType dtype() const { return dtype_; }
  const Dims& dims() const { return dims_; }
  int64_t dim(size_t i) const { return dims_[i]; }
  size_t rank() const { return dims_.size(); }
  int64_t numel() const { return dims_numel(dims_); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  bool empty() const { return buffer_ == nullptr; }
  // The data lives in device memory: raw() is a device address (see Buffer::lend_device).
  bool on_device() const { return buffer_ && buffer_->on_device(); }
  uint64_t device_address() const { return uint64_t(reinterpret_cast<uintptr_t>(raw())); }

  void* raw() const { return buffer_ ? static_cast<char*>(buffer_->data()) + offset_ : nullptr; }
  template <typename T> T* data() const { return static_cast<T*>(raw()); }
  const std::shared_ptr<Buffer>& buffer() const { return buffer_; }
  size_t byte_offset() const { return offset_; }

  // Same data, other dims (numel must match; checked by the caller).
  Tensor reshaped(Dims dims) const { return Tensor(dtype_, std::move(dims), buffer_, offset_); }

  // Scalar reads used by shape-computing operators (int64/int32/float/...): element i as int64 / double.
  int64_t int_at(int64_t i) const;
  double float_at(int64_t i) const;

 private:
  DType dtype_ = DType::kUndefined;
  Dims dims_;
  std::shared_ptr<Buffer> buffer_;
  size_t offset_ = 0;
};

}  // namespace int8rt
