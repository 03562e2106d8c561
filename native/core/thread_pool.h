// The engine's intra-op thread pool. parallel_for may be called from several threads at once (one per run in
// flight); the calling thread always takes part, so a pool of 1 thread runs everything inline.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace int8rt {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);  // total threads including the caller; <= 1 means inline
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls fn(begin, end) over disjoint ranges that cover [0, n). Ranges hold at least `grain` items (except the
  // last). Returns when all ranges are done.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  // Splits [0, n) into exactly `tasks` ranges of nearly equal size and runs them in parallel.
  void parallel_tasks(int64_t tasks, const std::function<void(int64_t)>& fn);

 private:
  struct Job;
  void worker_loop();
  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;       // work queued
  std::condition_variable done_cv_;  // a worker left a job
  std::deque<Job*> queue_;
  bool stop_ = false;
};

// Serial when pool is null.
inline void parallel_for(ThreadPool* pool, int64_t n, int64_t grain,
                         const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (!pool || pool->num_threads() <= 1 || n <= grain) {
    fn(0, n);
    return;
  }
  pool->parallel_for(n, grain, fn);
}

}  // namespace int8rt
