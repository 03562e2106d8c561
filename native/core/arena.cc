#include "core/arena.h"

#include <cstdlib>

namespace int8rt {

RunArena::~RunArena() {
  for (auto& kv : free_) std::free(kv.second);
}

std::shared_ptr<Buffer> RunArena::take(size_t bytes) {
  size_t need = (bytes + 63) & ~size_t(63);
  if (need == 0) need = 64;
  // Best fit, but do not waste a block more than twice the request on a small tensor.
  auto it = free_.lower_bound(need);
  if (it != free_.end() && it->first <= need * 2 + 4096) {
    size_t cap = it->first;
    void* p = it->second;
    free_.erase(it);
    cached_bytes_ -= cap;
    return Buffer::lend(p, bytes, cap, this);
  }
  void* p = std::aligned_alloc(64, need);
  if (!p) {
    // Drop what is cached and try once more before giving up.
    for (auto& kv : free_) std::free(kv.second);
    free_.clear();
    cached_bytes_ = 0;
    p = std::aligned_alloc(64, need);
    if (!p) return nullptr;
  }
  return Buffer::lend(p, bytes, need, this);
}

void RunArena::give_back(void* data, size_t capacity) {
  free_.emplace(capacity, data);
  cached_bytes_ += capacity;
}

}  // namespace int8rt
