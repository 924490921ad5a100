#include "gemm_planner.h"

#include <string>

namespace swiftlet_cuda {

GemmPlanner::GemmPlanner(GpuDevice& device, bool useGemv) : device_(device), lt_(cublasLt()), useGemv_(useGemv) {
  checkLt(lt_.create(&handle_), "cublasLtCreate");
  const int opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
  for (cublasLtMatmulDesc_t* d : {&descBf16_, &descF32_}) {
    checkLt(lt_.matmulDescCreate(d, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
    checkLt(lt_.matmulDescSetAttribute(*d, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof(opT)), "set TRANSA");
    checkLt(lt_.matmulDescSetAttribute(*d, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof(opN)), "set TRANSB");
  }
  checkLt(lt_.preferenceCreate(&pref_), "cublasLtMatmulPreferenceCreate");
  uint64_t ws = kWorkspaceBytes;
  checkLt(lt_.preferenceSetAttribute(pref_, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)),
          "set MAX_WORKSPACE_BYTES");
  workspace_ = device_.alloc(kWorkspaceBytes);
}

GemmPlanner::~GemmPlanner() {
  for (auto& [k, p] : plans_) {
    lt_.matrixLayoutDestroy(p.a);
    lt_.matrixLayoutDestroy(p.b);
    lt_.matrixLayoutDestroy(p.c);
  }
  if (pref_) lt_.preferenceDestroy(pref_);
  if (descBf16_) lt_.matmulDescDestroy(descBf16_);
  if (descF32_) lt_.matmulDescDestroy(descF32_);
  if (handle_) lt_.destroy(handle_);
}

void GemmPlanner::withTuning(const std::function<void()>& work) {
  tuning_ = true;
  try {
    work();
  } catch (...) {
    tuning_ = false;
    throw;
  }
  tuning_ = false;
}

void GemmPlanner::tunePlan(Plan& p, bool f32Out, CUdeviceptr x, CUdeviceptr w, CUdeviceptr y,
                           cublasLtMatmulHeuristicResult_t* results, int found) {
  const DriverApi& cu = device_.driver();
  const CUstream stream = device_.stream();
  CUevent start, stop;
  checkCu(cu.eventCreate(&start, CU_EVENT_DEFAULT), "cuEventCreate");
  checkCu(cu.eventCreate(&stop, CU_EVENT_DEFAULT), "cuEventCreate");
  const float alpha = 1.f, beta = 0.f;
  float best = 1e30f;
  for (int i = 0; i < found; i++) {
    if (results[i].state != 0 || results[i].workspaceSize > kWorkspaceBytes) continue;
    auto run = [&] {
      return lt_.matmul(handle_, f32Out ? descF32_ : descBf16_, &alpha, (const void*)w, p.a, (const void*)x, p.b,
                        &beta, (const void*)y, p.c, (void*)y, p.c, &results[i].algo, (void*)workspace_,
                        kWorkspaceBytes, stream);
    };
    if (run() != 0) continue;
    checkCu(cu.eventRecord(start, stream), "cuEventRecord");
    for (int r = 0; r < 5; r++) run();
    checkCu(cu.eventRecord(stop, stream), "cuEventRecord");
    checkCu(cu.eventSynchronize(stop), "cuEventSynchronize");
    float ms = 0;
    cu.eventElapsedTime(&ms, start, stop);
    if (ms < best) {
      best = ms;
      p.algo = results[i].algo;
    }
  }
  cu.eventDestroy(start);
  cu.eventDestroy(stop);
}

// Warps per weight row of the GEMV (kernels/gemv.cuh): enough that the matrix keeps ~16k warps'
// loads in flight (about two per warp slot of an H100/H200), while each warp still gets at least
// two of the row's 512-byte runs (the partial sums' exchange is then a small part of its work).
static int gemvWarpsPerRow(int n, int k) {
  constexpr int kWarpsWanted = 16384, kRunChunks = 32;
  const int chunks = k / 8;
  int warps = 1;
  while (warps < 8 && (long)n * warps < kWarpsWanted && chunks >= kRunChunks * 2 * (2 * warps)) warps *= 2;
  return warps;
}

// In column-major terms (cuBLASLt's), D(n x rows) = W^T(n x k) X(k x rows).
void GemmPlanner::gemm(CUdeviceptr x, CUdeviceptr w, CUdeviceptr y, int rows, int n, int k, bool f32Out) {
  if (rows == 0) return;
  if (useGemv_ && rows <= 4) {
    const std::string name = std::string(f32Out ? "gemv_f32_m" : "gemv_bf16_m") + std::to_string(rows);
    int warpsPerRow = gemvWarpsPerRow(n, k);
    const int rowsPerBlock = 8 / warpsPerRow;
    device_.launch(device_.fn(name.c_str()), {(unsigned)((n + rowsPerBlock - 1) / rowsPerBlock)}, {256}, 0,
                   {&x, &w, &y, &n, &k, &warpsPerRow});
    return;
  }
  auto key = std::make_tuple(rows, n, k, f32Out);
  auto it = plans_.find(key);
  if (it == plans_.end()) {
    Plan p;
    checkLt(lt_.matrixLayoutCreate(&p.a, CUDA_R_16BF, k, n, k), "layout A");
    checkLt(lt_.matrixLayoutCreate(&p.b, CUDA_R_16BF, k, rows, k), "layout B");
    checkLt(lt_.matrixLayoutCreate(&p.c, f32Out ? CUDA_R_32F : CUDA_R_16BF, n, rows, n), "layout C");
    cublasLtMatmulHeuristicResult_t results[8];
    int found = 0;
    checkLt(lt_.algoGetHeuristic(handle_, f32Out ? descF32_ : descBf16_, p.a, p.b, p.c, p.c, pref_, tuning_ ? 8 : 1,
                                 results, &found),
            "cublasLtMatmulAlgoGetHeuristic");
    if (found == 0) throw CudaError("cuBLASLt found no algorithm for a " + std::to_string(rows) + "x" + std::to_string(n) + "x" + std::to_string(k) + " GEMM");
    p.algo = results[0].algo;
    if (tuning_ && found > 1) tunePlan(p, f32Out, x, w, y, results, found);
    it = plans_.emplace(key, p).first;
  }
  const float alpha = 1.f, beta = 0.f;
  const Plan& p = it->second;
  checkLt(lt_.matmul(handle_, f32Out ? descF32_ : descBf16_, &alpha, (const void*)w, p.a, (const void*)x, p.b, &beta,
                     (const void*)y, p.c, (void*)y, p.c, &p.algo, (void*)workspace_, kWorkspaceBytes, device_.stream()),
          "cublasLtMatmul");
}

}  // namespace swiftlet_cuda
