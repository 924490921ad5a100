#include "gemm_peak.h"

#include "gemm_planner.h"
#include "gpu_device.h"
#include "stream_timer.h"

namespace swiftlet_cuda {

double measureGemmPeak(int ordinal, const std::string& fatbinPath, int m, int n, int k, int iterations) {
  GpuDevice device(ordinal, fatbinPath);
  device.makeCurrent();
  GemmPlanner planner(device, /*useGemv=*/false);
  const DriverApi& cu = device.driver();
  const size_t bf16 = 2;
  const CUdeviceptr x = device.alloc(bf16 * m * k), w = device.alloc(bf16 * n * k), y = device.alloc(bf16 * m * n);
  // NOTE: 0x3c3c is bf16 0.0115: non-zero operands, as zeros draw less power and may clock higher.
  checkCu(cu.memsetD8Async(x, 0x3c, bf16 * m * k, device.stream()), "cuMemsetD8Async");
  checkCu(cu.memsetD8Async(w, 0x3c, bf16 * n * k, device.stream()), "cuMemsetD8Async");
  planner.withTuning([&] { planner.gemm(x, w, y, m, n, k, false); });
  for (int i = 0; i < 3; i++) planner.gemm(x, w, y, m, n, k, false);
  const float ms = streamMilliseconds(device, [&] {
    for (int i = 0; i < iterations; i++) planner.gemm(x, w, y, m, n, k, false);
  });
  return 2.0 * m * n * k * static_cast<double>(iterations) / (ms * 1e-3);
}

}  // namespace swiftlet_cuda
