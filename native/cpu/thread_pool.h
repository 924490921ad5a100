// A fixed pool of compute threads. The calling thread takes part as thread 0, so one
// dispatch costs two atomic operations while the workers are spinning.
// NOTE: work is split by output element, never inside a reduction, so results never
// depend on the number of threads or on how the work was split.
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace swiftlet {

class ThreadPool {
 public:
  explicit ThreadPool(int numThreads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return numThreads_; }

  /** Runs fn(threadIndex) on every thread and returns when all have finished. */
  template <class F>
  void run(F&& fn) {
    runImpl(&invoke<F>, static_cast<void*>(&fn));
  }

  /** Static contiguous split of [0, n): fn(begin, end, threadIndex) once per thread with a non-empty range. */
  template <class F>
  void parallelForThreads(int64_t n, F&& fn) {
    if (n <= 0) return;
    const int threads = static_cast<int>(std::min<int64_t>(numThreads_, n));
    if (threads == 1) {
      fn(int64_t{0}, n, 0);
      return;
    }
    run([&](int t) {
      if (t >= threads) return;
      const int64_t begin = n * t / threads;
      const int64_t end = n * (t + 1) / threads;
      if (begin < end) fn(begin, end, t);
    });
  }

  /** Static contiguous split of [0, n): fn(begin, end). */
  template <class F>
  void parallelFor(int64_t n, F&& fn) {
    parallelForThreads(n, [&](int64_t begin, int64_t end, int) { fn(begin, end); });
  }

  /** Dynamic split of [0, n) for uneven items (attention): fn(item, threadIndex). */
  template <class F>
  void parallelForDynamic(int64_t n, F&& fn) {
    if (n <= 0) return;
    std::atomic<int64_t> next{0};
    run([&](int t) {
      for (;;) {
        const int64_t i = next.fetch_add(1, std::memory_order_relaxed);
        if (i >= n) return;
        fn(i, t);
      }
    });
  }

 private:
  using Fn = void (*)(void*, int);
  template <class F>
  static void invoke(void* ctx, int t) {
    (*static_cast<std::remove_reference_t<F>*>(ctx))(t);
  }
  void runImpl(Fn fn, void* ctx);
  void workerLoop(int index);

  int numThreads_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  Fn fn_ = nullptr;
  void* ctx_ = nullptr;
  std::mutex mutex_;
  std::condition_variable cv_;
};

}  // namespace swiftlet
