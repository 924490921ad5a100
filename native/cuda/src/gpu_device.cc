#include "gpu_device.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace swiftlet_cuda {
namespace {
// Device `ordinal` with its primary context retained (the caller releases it) and made current.
CUdevice retainCurrentContext(const DriverApi& cu, int ordinal, CUcontext* ctx) {
  CUdevice dev;
  checkCu(cu.deviceGet(&dev, ordinal), "cuDeviceGet");
  checkCu(cu.primaryCtxRetain(ctx, dev), "cuDevicePrimaryCtxRetain");
  checkCu(cu.ctxSetCurrent(*ctx), "cuCtxSetCurrent");
  return dev;
}
}  // namespace

GpuDevice::GpuDevice(int ordinal, const std::string& fatbinPath)
    : cu_(swiftlet_cuda::driver()), dev_(retainCurrentContext(cu_, ordinal, &ctx_)) {
  int major = 0;
  cu_.deviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev_);
  if (major < 8) throw CudaError("CUDA runner needs compute capability 8.0 or newer (bf16 tensor cores)");

  std::ifstream file(fatbinPath, std::ios::binary);
  if (!file) throw CudaError("CUDA kernels not found at " + fatbinPath + " (build them: make -C native/cuda)");
  std::stringstream buf;
  buf << file.rdbuf();
  const std::string image = buf.str();
  checkCu(cu_.moduleLoadData(&module_, image.data()), "cuModuleLoadData (kernels.fatbin)");
  checkCu(cu_.streamCreate(&stream_, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  cu_.deviceGetAttribute(&numSms_, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev_);
}

GpuDevice::~GpuDevice() {
  cu_.ctxSetCurrent(ctx_);
  if (stream_) cu_.streamSynchronize(stream_);
  for (CUdeviceptr p : allocations_) cu_.memFree(p);
  for (uint8_t* p : hostAllocations_) cu_.memFreeHost(p);
  if (stream_) cu_.streamDestroy(stream_);
  if (module_) cu_.moduleUnload(module_);
  cu_.primaryCtxRelease(dev_);
}

void GpuDevice::makeCurrent() const { checkCu(cu_.ctxSetCurrent(ctx_), "cuCtxSetCurrent"); }

void GpuDevice::synchronize(const char* what) const { checkCu(cu_.streamSynchronize(stream_), what); }

CUdeviceptr GpuDevice::alloc(size_t bytes) {
  CUdeviceptr p = 0;
  CUresult r = cu_.memAlloc(&p, std::max<size_t>(bytes, 256));
  if (r != CUDA_SUCCESS) {
    size_t free = 0, total = 0;
    cu_.memGetInfo(&free, &total);
    throw CudaError("CUDA out of memory allocating " + std::to_string(bytes >> 20) + " MiB (" +
                    std::to_string(free >> 20) + " MiB free of " + std::to_string(total >> 20) + ")");
  }
  allocations_.push_back(p);
  return p;
}

uint8_t* GpuDevice::allocHost(size_t bytes) {
  uint8_t* p = nullptr;
  checkCu(cu_.memAllocHost((void**)&p, bytes), "cuMemAllocHost");
  hostAllocations_.push_back(p);
  return p;
}

CUfunction GpuDevice::fn(const char* name) {
  auto it = functions_.find(name);
  if (it != functions_.end()) return it->second;
  CUfunction f;
  checkCu(cu_.moduleGetFunction(&f, module_, name), (std::string("cuModuleGetFunction ") + name).c_str());
  functions_[name] = f;
  return f;
}

void GpuDevice::launch(CUfunction f, Dim3 grid, Dim3 block, unsigned smem, std::vector<void*> args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
  checkCu(cu_.launchKernel(f, grid.x, grid.y, grid.z, block.x, block.y, block.z, smem, stream_, args.data(), nullptr),
          "cuLaunchKernel");
}

void GpuDevice::growStagingPair(CUdeviceptr& device, uint8_t*& host, size_t& capacity, size_t bytes) {
  if (bytes <= capacity) return;
  size_t n = std::max(bytes, capacity * 2);
  if (device) cu_.memFree(device), allocations_.erase(std::find(allocations_.begin(), allocations_.end(), device));
  if (host) cu_.memFreeHost(host), hostAllocations_.erase(std::find(hostAllocations_.begin(), hostAllocations_.end(), host));
  device = alloc(n);
  host = allocHost(n);
  capacity = n;
}

CUdeviceptr GpuDevice::sharedScratch(size_t bytes) {
  if (bytes <= sharedScratchBytes_) return sharedScratch_;
  if (sharedScratch_) cu_.memFree(sharedScratch_), allocations_.erase(std::find(allocations_.begin(), allocations_.end(), sharedScratch_));
  sharedScratch_ = alloc(bytes);
  sharedScratchBytes_ = bytes;
  return sharedScratch_;
}

DeviceInfo deviceInfo(int ordinal) {
  const DriverApi& cu = driver();
  CUcontext ctx;
  const CUdevice dev = retainCurrentContext(cu, ordinal, &ctx);
  DeviceInfo info{};
  char name[256] = {0};
  cu.deviceGetName(name, sizeof(name) - 1, dev);
  info.name = name;
  cu.memGetInfo(&info.freeMemory, &info.totalMemory);
  cu.deviceGetAttribute(&info.smCount, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev);
  cu.deviceGetAttribute(&info.ccMajor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
  cu.deviceGetAttribute(&info.ccMinor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
  cu.primaryCtxRelease(dev);
  return info;
}

double measureCopyBandwidth(int ordinal, size_t bytes, int iterations) {
  const DriverApi& cu = driver();
  CUcontext ctx;
  const CUdevice dev = retainCurrentContext(cu, ordinal, &ctx);
  CUdeviceptr a = 0, b = 0;
  CUstream stream;
  CUevent start, stop;
  checkCu(cu.memAlloc(&a, bytes), "cuMemAlloc (bandwidth probe)");
  checkCu(cu.memAlloc(&b, bytes), "cuMemAlloc (bandwidth probe)");
  checkCu(cu.streamCreate(&stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  checkCu(cu.eventCreate(&start, CU_EVENT_DEFAULT), "cuEventCreate");
  checkCu(cu.eventCreate(&stop, CU_EVENT_DEFAULT), "cuEventCreate");
  checkCu(cu.memsetD8Async(a, 1, bytes, stream), "cuMemsetD8Async");
  for (int i = 0; i < 3; i++) checkCu(cu.memcpyDtoDAsync(b, a, bytes, stream), "cuMemcpyDtoDAsync");
  checkCu(cu.eventRecord(start, stream), "cuEventRecord");
  for (int i = 0; i < iterations; i++) {
    checkCu(cu.memcpyDtoDAsync(i % 2 ? a : b, i % 2 ? b : a, bytes, stream), "cuMemcpyDtoDAsync");
  }
  checkCu(cu.eventRecord(stop, stream), "cuEventRecord");
  checkCu(cu.eventSynchronize(stop), "cuEventSynchronize");
  float ms = 0;
  checkCu(cu.eventElapsedTime(&ms, start, stop), "cuEventElapsedTime");
  cu.eventDestroy(start);
  cu.eventDestroy(stop);
  cu.streamDestroy(stream);
  cu.memFree(a);
  cu.memFree(b);
  cu.primaryCtxRelease(dev);
  return 2.0 * (double)bytes * iterations / (ms * 1e-3);
}

}  // namespace swiftlet_cuda
