// Core pieces: thread pool, arena, dims arithmetic, float16 conversion.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>

#include "core/arena.h"
#include "core/dtype.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace int8rt {

TEST(ThreadPool, CoversEveryIndexOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 7, 64, 1000, 12345}) {
      std::vector<std::atomic<int>> hits(n);
      pool.parallel_for(n, 3, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; i++) hits[i]++;
      });
      for (int64_t i = 0; i < n; i++) ASSERT_EQ(hits[i].load(), 1) << "threads=" << threads << " n=" << n;
    }
  }
}

TEST(ThreadPool, ConcurrentCallersAndNesting) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; c++)
    callers.emplace_back([&] {
      for (int rep = 0; rep < 50; rep++)
        pool.parallel_for(16, 1, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; i++)
            pool.parallel_for(8, 1, [&](int64_t b2, int64_t e2) { total += e2 - b2; });
        });
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), 4 * 50 * 16 * 8);
}

TEST(Arena, ReusesFreedBuffers) {
  RunArena arena;
  void* first;
  {
    auto a = arena.take(1000);
    first = a->data();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % 64, 0u);
  }
  EXPECT_GT(arena.cached_bytes(), 0u);
  auto b = arena.take(900);
  EXPECT_EQ(b->data(), first);
  auto c = arena.take(100000);  // much larger: a new block
  EXPECT_NE(c->data(), first);
}

TEST(Dims, OverflowIsDetected) {
  EXPECT_EQ(dims_numel({2, 3, 4}), 24);
  EXPECT_EQ(dims_numel({}), 1);
  EXPECT_EQ(dims_numel({5, 0, 7}), 0);
  EXPECT_EQ(dims_numel({-1, 3}), -1);
  EXPECT_EQ(dims_numel({int64_t(1) << 31, int64_t(1) << 31}), -1);
  Tensor t;
  EXPECT_EQ(Tensor::create(DType::kFloat32, {int64_t(1) << 30, int64_t(1) << 30}, &t).code(), ErrorCode::kTooLarge);
}

TEST(Float16, RoundTripsAndRoundsToNearestEven) {
  for (uint32_t h = 0; h < 0x10000; h++) {
    float f = half_to_float(uint16_t(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_half(f), h) << std::hex << h;
  }
  EXPECT_EQ(float_to_half(65520.f), 0x7c00);  // rounds up to inf
  EXPECT_EQ(float_to_half(1.0f + 1.0f / 2048), 0x3c00);  // halfway between 1 and next: even
  EXPECT_EQ(float_to_half(5.9604645e-08f), 0x0001);  // smallest subnormal
  EXPECT_EQ(half_to_float(0x0001), 5.9604645e-08f);
}

}  // namespace int8rt
