#include "linear_bandwidth.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "decode_graphs.h"
#include "dense_tensors.h"
#include "gemm_planner.h"
#include "gpu_device.h"
#include "stream_timer.h"

namespace swiftlet_cuda {

LinearTiming measureLinearForward(int ordinal, const std::string& fatbinPath, const RandomLinearFormat& format, int n,
                                  int k, int rows, int iterations) {
  GpuDevice device(ordinal, fatbinPath);
  device.makeCurrent();
  GemmPlanner planner(device, /*useGemv=*/true);
  // Copies of W rotated through, ~1 GB in all: a copy read again is then long gone from the
  // 50-60 MB L2 (an H200's, an H100's), as in a forward pass where each weight is read once.
  constexpr double kRotationBytes = 1e9;
  const double bf16Bytes = 2.0 * n * k;
  const int copies = std::clamp((int)(kRotationBytes / (format.bits ? bf16Bytes * format.bits / 16 : bf16Bytes)), 2, 256);
  std::vector<std::unique_ptr<Linear>> layers;
  for (int c = 0; c < copies; c++) {
    const uint64_t seed = 1000 + c;
    if (format.bits) {
      layers.push_back(randomGroupedIntLinear(device, n, k, format, seed));
    } else {
      const CUdeviceptr w = device.alloc((size_t)n * k * 2);
      fillUniformBf16(device, w, (size_t)n * k, seed, 0.02f * 1.7320508f);
      layers.push_back(denseBf16Linear(w, n, k));
    }
  }
  const CUdeviceptr x = device.alloc((size_t)rows * k * 2), y = device.alloc((size_t)rows * n * 2);
  fillUniformBf16(device, x, (size_t)rows * k, 7, 1.f);
  auto forwardAll = [&] {
    for (const auto& layer : layers) layer->forward(planner, x, y, rows, /*f32Out=*/false);
  };
  planner.withTuning(forwardAll);  // cuBLASLt's plans (rows past the GEMV), outside the capture
  device.synchronize("cuStreamSynchronize");
  DecodeGraphs graphs(device, 1, /*enabled=*/true);
  graphs.capture(1, false, forwardAll);
  graphs.replay(1, false);  // warm-up
  const float ms = streamMilliseconds(device, [&] {
    for (int i = 0; i < iterations; i++) graphs.replay(1, false);
  });
  const double activations = 2.0 * rows * (k + n);
  return {ms * 1e-3 / ((double)iterations * copies), (double)layers[0]->deviceBytes() + activations};
}

}  // namespace swiftlet_cuda
