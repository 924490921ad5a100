#include "cuda_api.h"

#include <dlfcn.h>

#include <mutex>

namespace swiftlet_cuda {
namespace {

#define SWIFTLET_STR2(x) #x
#define SWIFTLET_STR(x) SWIFTLET_STR2(x)
// NOTE: cuda.h maps names such as cuMemAlloc to their current versions (cuMemAlloc_v2) with macros;
// stringifying after expansion asks dlsym for the versioned symbol the declaration belongs to.
#define LOAD_CU(field, name)                                                                \
  api.field = reinterpret_cast<decltype(api.field)>(dlsym(handle, SWIFTLET_STR(name)));     \
  if (!api.field) throw CudaError(std::string("libcuda.so.1 lacks ") + SWIFTLET_STR(name));

DriverApi loadDriver() {
  void* handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!handle) throw CudaError(std::string("CUDA driver not found (dlopen libcuda.so.1: ") + dlerror() + ")");
  DriverApi api{};
  LOAD_CU(init, cuInit)
  LOAD_CU(deviceGet, cuDeviceGet)
  LOAD_CU(deviceGetCount, cuDeviceGetCount)
  LOAD_CU(deviceGetName, cuDeviceGetName)
  LOAD_CU(deviceGetAttribute, cuDeviceGetAttribute)
  LOAD_CU(primaryCtxRetain, cuDevicePrimaryCtxRetain)
  LOAD_CU(primaryCtxRelease, cuDevicePrimaryCtxRelease)
  LOAD_CU(ctxSetCurrent, cuCtxSetCurrent)
  LOAD_CU(moduleLoadData, cuModuleLoadData)
  LOAD_CU(moduleUnload, cuModuleUnload)
  LOAD_CU(moduleGetFunction, cuModuleGetFunction)
  LOAD_CU(funcSetAttribute, cuFuncSetAttribute)
  LOAD_CU(launchKernel, cuLaunchKernel)
  LOAD_CU(memAlloc, cuMemAlloc)
  LOAD_CU(memFree, cuMemFree)
  LOAD_CU(memAllocHost, cuMemAllocHost)
  LOAD_CU(memFreeHost, cuMemFreeHost)
  LOAD_CU(memGetInfo, cuMemGetInfo)
  LOAD_CU(memcpyHtoDAsync, cuMemcpyHtoDAsync)
  LOAD_CU(memcpyDtoHAsync, cuMemcpyDtoHAsync)
  LOAD_CU(memcpyDtoDAsync, cuMemcpyDtoDAsync)
  LOAD_CU(memsetD8Async, cuMemsetD8Async)
  LOAD_CU(streamCreate, cuStreamCreate)
  LOAD_CU(streamDestroy, cuStreamDestroy)
  LOAD_CU(streamSynchronize, cuStreamSynchronize)
  LOAD_CU(streamBeginCapture, cuStreamBeginCapture)
  LOAD_CU(streamEndCapture, cuStreamEndCapture)
  LOAD_CU(graphInstantiate, cuGraphInstantiateWithFlags)
  LOAD_CU(graphLaunch, cuGraphLaunch)
  LOAD_CU(graphDestroy, cuGraphDestroy)
  LOAD_CU(graphExecDestroy, cuGraphExecDestroy)
  LOAD_CU(eventCreate, cuEventCreate)
  LOAD_CU(eventDestroy, cuEventDestroy)
  LOAD_CU(eventRecord, cuEventRecord)
  LOAD_CU(eventSynchronize, cuEventSynchronize)
  LOAD_CU(eventElapsedTime, cuEventElapsedTime)
  LOAD_CU(getErrorString, cuGetErrorString)
  return api;
}

#define LOAD_LT(field, name)                                                          \
  api.field = reinterpret_cast<decltype(api.field)>(dlsym(handle, name));             \
  if (!api.field) throw CudaError(std::string("a CUDA library lacks ") + name);

CublasLtApi loadCublasLt() {
  const char* names[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"};
  void* handle = nullptr;
  std::string errors;
  for (const char* name : names) {
    handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (handle) break;
    errors += std::string(" ") + dlerror() + ";";
  }
  if (!handle) throw CudaError("cuBLASLt not found:" + errors);
  CublasLtApi api{};
  LOAD_LT(create, "cublasLtCreate")
  LOAD_LT(destroy, "cublasLtDestroy")
  LOAD_LT(matmulDescCreate, "cublasLtMatmulDescCreate")
  LOAD_LT(matmulDescDestroy, "cublasLtMatmulDescDestroy")
  LOAD_LT(matmulDescSetAttribute, "cublasLtMatmulDescSetAttribute")
  LOAD_LT(matrixLayoutCreate, "cublasLtMatrixLayoutCreate")
  LOAD_LT(matrixLayoutDestroy, "cublasLtMatrixLayoutDestroy")
  LOAD_LT(preferenceCreate, "cublasLtMatmulPreferenceCreate")
  LOAD_LT(preferenceDestroy, "cublasLtMatmulPreferenceDestroy")
  LOAD_LT(preferenceSetAttribute, "cublasLtMatmulPreferenceSetAttribute")
  LOAD_LT(algoGetHeuristic, "cublasLtMatmulAlgoGetHeuristic")
  LOAD_LT(matmul, "cublasLtMatmul")
  return api;
}

NcclApi loadNccl() {
  void* handle = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (!handle) throw CudaError(std::string("NCCL not found (dlopen libnccl.so.2: ") + dlerror() + ")");
  NcclApi api{};
  LOAD_LT(commInitAll, "ncclCommInitAll")
  LOAD_LT(getUniqueId, "ncclGetUniqueId")
  LOAD_LT(commInitRank, "ncclCommInitRank")
  LOAD_LT(commDestroy, "ncclCommDestroy")
  LOAD_LT(allReduce, "ncclAllReduce")
  LOAD_LT(getErrorString, "ncclGetErrorString")
  LOAD_LT(getVersion, "ncclGetVersion")
  return api;
}

// The driver with cuInit done: a driver that loads but cannot initialise is as unusable as none.
DriverApi loadInitialisedDriver() {
  DriverApi api = loadDriver();
  const CUresult r = api.init(0);
  if (r != CUDA_SUCCESS) {
    const char* msg = nullptr;
    api.getErrorString(r, &msg);
    throw CudaError(std::string("cuInit failed: ") + (msg ? msg : "unknown error"));
  }
  return api;
}

// A library's entry points, loaded on first use; a failure is remembered and thrown on every use.
template <class Api>
struct LazyApi {
  std::once_flag once;
  Api api{};
  std::string error;

  const Api& get(Api (*load)()) {
    std::call_once(once, [&] {
      try {
        api = load();
      } catch (const CudaError& e) {
        error = e.what();
      }
    });
    if (!error.empty()) throw CudaError(error);
    return api;
  }
};

LazyApi<DriverApi> driverLib;
LazyApi<CublasLtApi> cublasLtLib;
LazyApi<NcclApi> ncclLib;

}  // namespace

const DriverApi& driver() { return driverLib.get(loadInitialisedDriver); }

const CublasLtApi& cublasLt() { return cublasLtLib.get(loadCublasLt); }

const NcclApi& nccl() { return ncclLib.get(loadNccl); }

std::string probe() {
  try {
    const DriverApi& d = driver();
    int count = 0;
    checkCu(d.deviceGetCount(&count), "cuDeviceGetCount");
    if (count == 0) return "no CUDA device visible";
    cublasLt();
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

void checkCu(CUresult r, const char* what) {
  if (r == CUDA_SUCCESS) return;
  const char* msg = nullptr;
  if (driverLib.api.getErrorString) driverLib.api.getErrorString(r, &msg);
  throw CudaError(std::string(what) + " failed: " + (msg ? msg : "CUDA error " + std::to_string(r)));
}

void checkLt(cublasStatus_t s, const char* what) {
  if (s == 0) return;
  throw CudaError(std::string(what) + " failed: cuBLAS status " + std::to_string(s));
}

void checkNccl(ncclResult_t r, const char* what) {
  if (r == ncclSuccess) return;
  const char* msg = ncclLib.api.getErrorString ? ncclLib.api.getErrorString(r) : nullptr;
  throw CudaError(std::string(what) + " failed: " + (msg ? msg : "NCCL error " + std::to_string(r)));
}

}  // namespace swiftlet_cuda
