#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace int8rt {

int64_t dims_numel(const Dims& d) {
  int64_t n = 1;
  for (int64_t v : d) {
    if (v < 0) return -1;
    if (v == 0) return 0;
  }
  for (int64_t v : d) {
    if (n > kMaxElements / v) return -1;
    n *= v;
  }
  return n;
}

std::string dims_str(const Dims& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); i++) {
    if (i) s += ",";
    s += std::to_string(d[i]);
  }
  return s + "]";
}

std::shared_ptr<Buffer> Buffer::allocate(size_t bytes) {
  size_t rounded = (bytes + 63) & ~size_t(63);
  if (rounded == 0) rounded = 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) return nullptr;
  auto b = std::shared_ptr<Buffer>(new (std::nothrow) Buffer());
  if (!b) {
    std::free(p);
    return nullptr;
  }
  b->data_ = p;
  b->size_ = bytes;
  b->owned_ = true;
  return b;
}

std::shared_ptr<Buffer> Buffer::wrap(void* data, size_t bytes, std::shared_ptr<void> keep_alive) {
  auto b = std::shared_ptr<Buffer>(new Buffer());
  b->data_ = data;
  b->size_ = bytes;
  b->keep_alive_ = std::move(keep_alive);
  return b;
}

std::shared_ptr<Buffer> Buffer::lend_device(uint64_t address, size_t bytes, size_t capacity, Lender* lender) {
  std::shared_ptr<Buffer> b = lend(reinterpret_cast<void*>(uintptr_t(address)), bytes, capacity, lender);
  b->device_ = true;
  return b;
}

std::shared_ptr<Buffer> Buffer::lend(void* data, size_t bytes, size_t capacity, Lender* lender) {
  auto b = std::shared_ptr<Buffer>(new Buffer());
  b->data_ = data;
  b->size_ = bytes;
  b->capacity_ = capacity;
  b->lender_ = lender;
  return b;
}

Buffer::~Buffer() {
  if (owned_) std::free(data_);
  if (lender_) lender_->give_back(data_, capacity_);
}

Status Tensor::create(DType dtype, const Dims& dims, Tensor* out) {
  int64_t n = dims_numel(dims);
  if (n < 0) return Status(ErrorCode::kTooLarge, "tensor of shape " + dims_str(dims) + " is too large");
  size_t es = dtype_size(dtype);
  if (es == 0) return Status(ErrorCode::kDtype, std::string("cannot hold tensors of type ") + dtype_name(dtype));
  size_t bytes = size_t(n) * es;
  auto buf = Buffer::allocate(bytes);
  if (!buf)
    return Status(ErrorCode::kOutOfMemory,
                  "cannot allocate " + std::to_string(bytes) + " bytes for a tensor of shape " + dims_str(dims));
  std::memset(buf->data(), 0, bytes);
  *out = Tensor(dtype, dims, std::move(buf));
  return Status::OK();
}

int64_t Tensor::int_at(int64_t i) const {
  switch (dtype_) {
    case DType::kInt64: return data<int64_t>()[i];
    case DType::kInt32: return data<int32_t>()[i];
    case DType::kInt16: return data<int16_t>()[i];
    case DType::kInt8: return data<int8_t>()[i];
    case DType::kUint8: return data<uint8_t>()[i];
    case DType::kUint16: return data<uint16_t>()[i];
    case DType::kUint32: return data<uint32_t>()[i];
    case DType::kUint64: return (int64_t)data<uint64_t>()[i];
    case DType::kBool: return data<uint8_t>()[i] ? 1 : 0;
    case DType::kFloat32: return (int64_t)data<float>()[i];
    case DType::kFloat64: return (int64_t)data<double>()[i];
    case DType::kFloat16: return (int64_t)half_to_float(data<uint16_t>()[i]);
    default: return 0;
  }
}

double Tensor::float_at(int64_t i) const {
  switch (dtype_) {
    case DType::kFloat32: return data<float>()[i];
    case DType::kFloat64: return data<double>()[i];
    case DType::kFloat16: return half_to_float(data<uint16_t>()[i]);
    default: return (double)int_at(i);
  }
}

}  // namespace int8rt
