// Runs a CUDA kernel's source on the host, for checks without a GPU: every CUDA thread of a block
// is a std::thread (blocks one after another), __syncthreads a barrier of the block, a warp
// shuffle an exchange through a barrier of the warp, and the few device types and intrinsics the
// integer GEMV uses (kernels/int_gemv.cuh, int_codes.cuh, common.cuh's warpSum and unpack8) plain
// C++. Include it before the kernel: kernels/common.cuh then defines nothing itself.
#pragma once
#define SWIFTLET_CUDA_HOST_EMULATION
#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#define __device__
#define __global__
#define __forceinline__ inline
#define __launch_bounds__(...)
// Blocks run one at a time, so one static array serves every block in turn.
#define __shared__ static

struct EmulatedIndex {
  int x = 0, y = 0, z = 0;
};
inline thread_local EmulatedIndex threadIdx, blockIdx;

namespace cuda_host_emulation {
struct ThreadPlace {
  std::barrier<>* block = nullptr;
  std::barrier<>* warp = nullptr;
  float* warpExchange = nullptr;  // 32 floats
};
inline thread_local ThreadPlace place;
}  // namespace cuda_host_emulation

inline void __syncthreads() { cuda_host_emulation::place.block->arrive_and_wait(); }

inline float __shfl_xor_sync(unsigned, float v, int laneMask) {
  const cuda_host_emulation::ThreadPlace& p = cuda_host_emulation::place;
  const int lane = threadIdx.x & 31;
  p.warpExchange[lane] = v;
  p.warp->arrive_and_wait();
  const float out = p.warpExchange[lane ^ laneMask];
  p.warp->arrive_and_wait();  // every lane has read before any writes again
  return out;
}

struct uint4 {
  uint32_t x, y, z, w;
};
struct float2 {
  float x, y;
};
inline uint4 make_uint4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return {a, b, c, d}; }
template <class T>
T __ldcs(const T* p) {
  return *p;
}
template <class T>
T __ldg(const T* p) {
  return *p;
}
inline float __uint_as_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
using std::min;

struct bf16 {
  uint16_t bits;
};
inline float bf16ToFloat(bf16 h) { return __uint_as_float((uint32_t)h.bits << 16); }
inline bf16 __float2bfloat16(float f) {  // round to nearest even, as the device's
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7FFF + ((u >> 16) & 1);
  return bf16{(uint16_t)(u >> 16)};
}

inline float warpSum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
inline void unpack8(const uint4& raw, float* out) {
  const bf16* h = reinterpret_cast<const bf16*>(&raw);
  for (int i = 0; i < 8; i++) out[i] = bf16ToFloat(h[i]);
}

namespace cuda_host_emulation {

// Runs kernel() as `blocks` blocks of `threads` threads (one dimension).
inline void launch(int blocks, int threads, const std::function<void()>& kernel) {
  for (int b = 0; b < blocks; b++) {
    std::barrier<> block(threads);
    const int warps = (threads + 31) / 32;
    std::vector<std::unique_ptr<std::barrier<>>> warpBarriers;
    for (int w = 0; w < warps; w++) warpBarriers.push_back(std::make_unique<std::barrier<>>(std::min(32, threads - 32 * w)));
    std::vector<float> exchange((size_t)warps * 32);
    std::vector<std::thread> running;
    for (int t = 0; t < threads; t++)
      running.emplace_back([&, t] {
        threadIdx.x = t;
        blockIdx.x = b;
        place = {&block, warpBarriers[t / 32].get(), exchange.data() + (t / 32) * 32};
        kernel();
      });
    for (std::thread& t : running) t.join();
  }
}

}  // namespace cuda_host_emulation
