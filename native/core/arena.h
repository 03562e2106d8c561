// Activation memory of one run. Buffers a run frees (when a value's last consumer has run) go back to the arena and
// are lent again to later nodes of the same run and to later runs: after the first run of a given input shape, a run
// allocates nothing. One arena serves one run at a time; the engine keeps a small stack of idle arenas.
#pragma once
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>

#include "core/tensor.h"

namespace int8rt {

class RunArena : public Buffer::Lender {
 public:
  ~RunArena() override;
  // A buffer of at least `bytes`; nullptr when memory is exhausted.
  std::shared_ptr<Buffer> take(size_t bytes);
  void give_back(void* data, size_t capacity) override;
  size_t cached_bytes() const { return cached_bytes_; }

 private:
  std::multimap<size_t, void*> free_;  // capacity -> block
  size_t cached_bytes_ = 0;
};

}  // namespace int8rt
