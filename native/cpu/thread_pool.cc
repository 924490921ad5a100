#include "thread_pool.h"

#include <immintrin.h>
#include <pthread.h>
#include <sched.h>

namespace swiftlet {

namespace {
// About a millisecond of spinning: long enough to bridge two dispatches of one step,
// short enough that idle workers go to sleep between steps.
constexpr int kSpinLimit = 20000;
constexpr int kYieldAfter = 2000;

void pinToCpu(std::thread& thread, int cpu) {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return;
  if (cpu >= CPU_COUNT(&allowed)) return;
  int seen = 0;
  for (int c = 0; c < CPU_SETSIZE; c++) {
    if (!CPU_ISSET(c, &allowed)) continue;
    if (seen++ == cpu) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(c, &one);
      pthread_setaffinity_np(thread.native_handle(), sizeof(one), &one);
      return;
    }
  }
}
}  // namespace

ThreadPool::ThreadPool(int numThreads) : numThreads_(numThreads < 1 ? 1 : numThreads) {
  for (int i = 1; i < numThreads_; i++) {
    workers_.emplace_back([this, i] { workerLoop(i); });
    pinToCpu(workers_.back(), i);
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
    generation_.fetch_add(1, std::memory_order_release);
  }
  cv_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::runImpl(Fn fn, void* ctx) {
  if (numThreads_ == 1) {
    fn(ctx, 0);
    return;
  }
  fn_ = fn;
  ctx_ = ctx;
  pending_.store(numThreads_ - 1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  if (sleepers_.load(std::memory_order_acquire) > 0) cv_.notify_all();
  fn(ctx, 0);
  // NOTE: on a busy host a worker may be descheduled; yielding lets it run instead of us spinning.
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; spins++) {
    if (spins < kYieldAfter) _mm_pause();
    else std::this_thread::yield();
  }
}

void ThreadPool::workerLoop(int index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t current;
    int spins = 0;
    while ((current = generation_.load(std::memory_order_acquire)) == seen) {
      if (++spins < kSpinLimit) {
        if (spins < kYieldAfter) _mm_pause();
        else std::this_thread::yield();
        continue;
      }
      std::unique_lock<std::mutex> lock(mutex_);
      sleepers_.fetch_add(1);
      cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      sleepers_.fetch_sub(1);
    }
    seen = current;
    if (stop_.load()) return;
    fn_(ctx_, index);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace swiftlet
