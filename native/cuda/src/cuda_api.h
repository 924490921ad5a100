// The CUDA driver, cuBLASLt and NCCL, reached through dlopen: nothing CUDA-specific is linked at
// build time, so the addon loads on any machine and says clearly what is missing on one without a
// GPU. cuda.h gives the driver's types only; cuBLASLt's and NCCL's few declarations are written out
// here because their headers are not installed where the addon is built.
#pragma once
#include <cuda.h>
#include <stdexcept>
#include <string>

namespace swiftlet_cuda {

struct DriverApi {
  decltype(&::cuInit) init;
  decltype(&::cuDeviceGet) deviceGet;
  decltype(&::cuDeviceGetCount) deviceGetCount;
  decltype(&::cuDeviceGetName) deviceGetName;
  decltype(&::cuDeviceGetAttribute) deviceGetAttribute;
  decltype(&::cuDevicePrimaryCtxRetain) primaryCtxRetain;
  decltype(&::cuDevicePrimaryCtxRelease) primaryCtxRelease;
  decltype(&::cuCtxSetCurrent) ctxSetCurrent;
  decltype(&::cuModuleLoadData) moduleLoadData;
  decltype(&::cuModuleUnload) moduleUnload;
  decltype(&::cuModuleGetFunction) moduleGetFunction;
  decltype(&::cuFuncSetAttribute) funcSetAttribute;
  decltype(&::cuLaunchKernel) launchKernel;
  decltype(&::cuMemAlloc) memAlloc;
  decltype(&::cuMemFree) memFree;
  decltype(&::cuMemAllocHost) memAllocHost;
  decltype(&::cuMemFreeHost) memFreeHost;
  decltype(&::cuMemGetInfo) memGetInfo;
  decltype(&::cuMemcpyHtoDAsync) memcpyHtoDAsync;
  decltype(&::cuMemcpyDtoHAsync) memcpyDtoHAsync;
  decltype(&::cuMemcpyDtoDAsync) memcpyDtoDAsync;
  decltype(&::cuMemsetD8Async) memsetD8Async;
  decltype(&::cuStreamCreate) streamCreate;
  decltype(&::cuStreamDestroy) streamDestroy;
  decltype(&::cuStreamSynchronize) streamSynchronize;
  decltype(&::cuStreamBeginCapture) streamBeginCapture;
  decltype(&::cuStreamEndCapture) streamEndCapture;
  decltype(&::cuGraphInstantiateWithFlags) graphInstantiate;
  decltype(&::cuGraphLaunch) graphLaunch;
  decltype(&::cuGraphDestroy) graphDestroy;
  decltype(&::cuGraphExecDestroy) graphExecDestroy;
  decltype(&::cuEventCreate) eventCreate;
  decltype(&::cuEventDestroy) eventDestroy;
  decltype(&::cuEventRecord) eventRecord;
  decltype(&::cuEventSynchronize) eventSynchronize;
  decltype(&::cuEventElapsedTime) eventElapsedTime;
  decltype(&::cuGetErrorString) getErrorString;
};

// cuBLASLt, as declared by cublasLt.h (CUDA 12/13).
typedef void* cublasLtHandle_t;
typedef void* cublasLtMatmulDesc_t;
typedef void* cublasLtMatrixLayout_t;
typedef void* cublasLtMatmulPreference_t;
typedef int cublasStatus_t;
struct cublasLtMatmulAlgo_t {
  uint64_t data[8];
};
struct cublasLtMatmulHeuristicResult_t {
  cublasLtMatmulAlgo_t algo;
  size_t workspaceSize;
  cublasStatus_t state;
  float wavesCount;
  int reserved[4];
};
enum : int {
  CUBLAS_COMPUTE_32F = 68,
  CUDA_R_32F = 0,
  CUDA_R_16BF = 14,
  CUBLAS_OP_N = 0,
  CUBLAS_OP_T = 1,
  CUBLASLT_MATMUL_DESC_TRANSA = 3,
  CUBLASLT_MATMUL_DESC_TRANSB = 4,
  CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1,
};

struct CublasLtApi {
  cublasStatus_t (*create)(cublasLtHandle_t*);
  cublasStatus_t (*destroy)(cublasLtHandle_t);
  cublasStatus_t (*matmulDescCreate)(cublasLtMatmulDesc_t*, int computeType, int scaleType);
  cublasStatus_t (*matmulDescDestroy)(cublasLtMatmulDesc_t);
  cublasStatus_t (*matmulDescSetAttribute)(cublasLtMatmulDesc_t, int attr, const void* buf, size_t size);
  cublasStatus_t (*matrixLayoutCreate)(cublasLtMatrixLayout_t*, int type, uint64_t rows, uint64_t cols, int64_t ld);
  cublasStatus_t (*matrixLayoutDestroy)(cublasLtMatrixLayout_t);
  cublasStatus_t (*preferenceCreate)(cublasLtMatmulPreference_t*);
  cublasStatus_t (*preferenceDestroy)(cublasLtMatmulPreference_t);
  cublasStatus_t (*preferenceSetAttribute)(cublasLtMatmulPreference_t, int attr, const void* buf, size_t size);
  cublasStatus_t (*algoGetHeuristic)(cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t,
                                     cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                     cublasLtMatmulPreference_t, int requested,
                                     cublasLtMatmulHeuristicResult_t* results, int* returned);
  cublasStatus_t (*matmul)(cublasLtHandle_t, cublasLtMatmulDesc_t, const void* alpha, const void* A,
                           cublasLtMatrixLayout_t, const void* B, cublasLtMatrixLayout_t, const void* beta,
                           const void* C, cublasLtMatrixLayout_t, void* D, cublasLtMatrixLayout_t,
                           const cublasLtMatmulAlgo_t* algo, void* workspace, size_t workspaceSize,
                           CUstream stream);
};

// NCCL, as declared by nccl.h (2.x): only what tensor parallelism uses.
typedef struct ncclComm* ncclComm_t;
typedef int ncclResult_t;
enum : int { ncclSuccess = 0, ncclBfloat16 = 9, ncclSum = 0 };
// The rendezvous of a communicator over processes: made by one rank, handed to the others.
constexpr int kNcclUniqueIdBytes = 128;
struct ncclUniqueId {
  char internal[kNcclUniqueIdBytes];
};

struct NcclApi {
  ncclResult_t (*commInitAll)(ncclComm_t* comms, int ndev, const int* devlist);
  ncclResult_t (*getUniqueId)(ncclUniqueId* uniqueId);
  ncclResult_t (*commInitRank)(ncclComm_t* comm, int nranks, ncclUniqueId commId, int rank);
  ncclResult_t (*commDestroy)(ncclComm_t comm);
  ncclResult_t (*allReduce)(const void* sendbuff, void* recvbuff, size_t count, int datatype, int op, ncclComm_t comm,
                            CUstream stream);
  const char* (*getErrorString)(ncclResult_t result);
  ncclResult_t (*getVersion)(int* version);
};

class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Loads libcuda.so.1, libcublasLt.so.13 and libnccl.so.2 once; throws CudaError saying what is missing.
// NCCL is loaded only when a model is split over several GPUs.
const DriverApi& driver();
const CublasLtApi& cublasLt();
const NcclApi& nccl();
// Empty when CUDA is usable, else why not (no throw).
std::string probe();

void checkCu(CUresult r, const char* what);
void checkLt(cublasStatus_t s, const char* what);
void checkNccl(ncclResult_t r, const char* what);

}  // namespace swiftlet_cuda
