// Device time of work enqueued on a GpuDevice's stream, between two events (the benchmarks'
// measurements: gemm_peak.cc, linear_bandwidth.cc).
#pragma once
#include <functional>

#include "gpu_device.h"

namespace swiftlet_cuda {

// Milliseconds between an event recorded before `enqueue` runs and one after, once the second has
// completed.
float streamMilliseconds(GpuDevice& device, const std::function<void()>& enqueue);

}  // namespace swiftlet_cuda
