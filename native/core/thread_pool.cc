#include "core/thread_pool.h"

#include <algorithm>

namespace int8rt {

// One parallel_tasks call: workers and the caller claim chunk indices until none are left. `active` counts the
// workers inside work() and is guarded by the pool's mutex, so the caller knows when the job may be destroyed.
struct ThreadPool::Job {
  const std::function<void(int64_t)>* chunk_fn;
  int64_t chunks;
  std::atomic<int64_t> next{0};
  int active = 0;

  void work() {
    for (;;) {
      int64_t c = next.fetch_add(1);
      if (c >= chunks) return;
      (*chunk_fn)(c);
    }
  }
};

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
  for (int i = 1; i < num_threads_; i++) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [this] { return stop_ || !queue_.empty(); });
    if (stop_ && queue_.empty()) return;
    Job* job = queue_.front();
    if (job->next.load() >= job->chunks) {  // all chunks claimed: nothing left to join
      queue_.pop_front();
      continue;
    }
    job->active++;
    lk.unlock();
    job->work();
    lk.lock();
    job->active--;
    if (!queue_.empty() && queue_.front() == job) queue_.pop_front();
    done_cv_.notify_all();
  }
}

void ThreadPool::parallel_tasks(int64_t tasks, const std::function<void(int64_t)>& fn) {
  if (tasks <= 0) return;
  if (tasks == 1 || num_threads_ <= 1) {
    for (int64_t i = 0; i < tasks; i++) fn(i);
    return;
  }
  Job job;
  job.chunk_fn = &fn;
  job.chunks = tasks;
  {
    std::lock_guard<std::mutex> lk(mu_);
    queue_.push_back(&job);
  }
  cv_.notify_all();
  job.work();
  // Every chunk is claimed; wait for the workers still running one, and make sure none can pick the job up again.
  std::unique_lock<std::mutex> lk(mu_);
  auto it = std::find(queue_.begin(), queue_.end(), &job);
  if (it != queue_.end()) queue_.erase(it);
  done_cv_.wait(lk, [&] { return job.active == 0; });
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t max_chunks = (n + grain - 1) / grain;
  // A few chunks per thread balances uneven work without much scheduling overhead.
  int64_t chunks = std::min<int64_t>(max_chunks, int64_t(num_threads_) * 4);
  if (chunks <= 1 || num_threads_ <= 1) {
    fn(0, n);
    return;
  }
  int64_t per = n / chunks, rem = n % chunks;
  std::function<void(int64_t)> chunk_fn = [&](int64_t c) {
    int64_t b = c * per + std::min(c, rem);
    int64_t e = b + per + (c < rem ? 1 : 0);
    fn(b, e);
  };
  parallel_tasks(chunks, chunk_fn);
}

}  // namespace int8rt
