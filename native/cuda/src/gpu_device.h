// One GPU as a Model uses it: its primary context, the kernel image, one stream, and every device
// allocation (all freed with it). The other units launch and allocate through it.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "cuda_api.h"

namespace swiftlet_cuda {

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

class GpuDevice {
 public:
  // Retains device `ordinal`'s primary context (compute capability 8.0 or newer: bf16 tensor
  // cores), loads the kernel image at fatbinPath and creates the stream.
  GpuDevice(int ordinal, const std::string& fatbinPath);
  ~GpuDevice();
  GpuDevice(const GpuDevice&) = delete;
  GpuDevice& operator=(const GpuDevice&) = delete;

  // NOTE: every entry point from the addon calls this first: JS and the libuv workers share no
  // current context.
  void makeCurrent() const;
  const DriverApi& driver() const { return cu_; }
  CUstream stream() const { return stream_; }
  int numSms() const { return numSms_; }
  void synchronize(const char* what) const;

  // Throws CudaError with the free memory on failure; the block lives as long as the device.
  CUdeviceptr alloc(size_t bytes);
  CUfunction fn(const char* name);
  void launch(CUfunction f, Dim3 grid, Dim3 block, unsigned smem, std::vector<void*> args);
  // Pinned host memory, freed with the device.
  uint8_t* allocHost(size_t bytes);
  // A device buffer and its pinned host twin, grown together (at least doubling) to `bytes`.
  void growStagingPair(CUdeviceptr& device, uint8_t*& host, size_t& capacity, size_t bytes);
  // One device buffer for transient data that lives within one launch sequence on the stream (the
  // int formats' weights dequantized for a large step), at least `bytes`. Users reserve their size
  // while the weights load, before the KV cache takes the rest of the memory; it is then never
  // reallocated, so forward passes (and graphs) see one address. NOTE: fetch it at each use, never
  // keep it across loading: a larger reservation moves it.
  CUdeviceptr sharedScratch(size_t bytes);

 private:
  const DriverApi& cu_;
  CUcontext ctx_ = nullptr;  // NOTE: before dev_, whose initializer retains it
  CUdevice dev_ = 0;
  CUmodule module_ = nullptr;
  CUstream stream_ = nullptr;
  int numSms_ = 132;
  std::map<std::string, CUfunction> functions_;
  std::vector<CUdeviceptr> allocations_;
  std::vector<uint8_t*> hostAllocations_;
  CUdeviceptr sharedScratch_ = 0;
  size_t sharedScratchBytes_ = 0;
};

struct DeviceInfo {
  std::string name;
  size_t totalMemory, freeMemory;
  int smCount, ccMajor, ccMinor;
};
DeviceInfo deviceInfo(int ordinal);
// Device-to-device copy bandwidth in bytes/s, counting bytes read plus bytes written.
double measureCopyBandwidth(int ordinal, size_t bytes, int iterations);

}  // namespace swiftlet_cuda
