#include "stream_timer.h"

namespace swiftlet_cuda {

float streamMilliseconds(GpuDevice& device, const std::function<void()>& enqueue) {
  const DriverApi& cu = device.driver();
  CUevent start, stop;
  checkCu(cu.eventCreate(&start, CU_EVENT_DEFAULT), "cuEventCreate");
  checkCu(cu.eventCreate(&stop, CU_EVENT_DEFAULT), "cuEventCreate");
  float ms = 0;
  try {
    checkCu(cu.eventRecord(start, device.stream()), "cuEventRecord");
    enqueue();
    checkCu(cu.eventRecord(stop, device.stream()), "cuEventRecord");
    checkCu(cu.eventSynchronize(stop), "cuEventSynchronize");
    checkCu(cu.eventElapsedTime(&ms, start, stop), "cuEventElapsedTime");
  } catch (...) {
    cu.eventDestroy(start);
    cu.eventDestroy(stop);
    throw;
  }
  cu.eventDestroy(start);
  cu.eventDestroy(stop);
  return ms;
}

}  // namespace swiftlet_cuda
