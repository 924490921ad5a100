// The GEMMs of dense bf16 weights: cuBLASLt with one plan (layouts and algorithm) per shape, the
// algorithm timed among cuBLASLt's top 8 while tuning (the decode graphs' shapes, replayed many
// times), and our GEMV kernels for 1-4 rows, which read the weights faster than cuBLASLt's tiles
// at that size (unless EnvFlags::useGemv is off).
#pragma once
#include <functional>
#include <map>
#include <tuple>

#include "gpu_device.h"

namespace swiftlet_cuda {

class GemmPlanner {
 public:
  GemmPlanner(GpuDevice& device, bool useGemv);
  ~GemmPlanner();
  GemmPlanner(const GemmPlanner&) = delete;
  GemmPlanner& operator=(const GemmPlanner&) = delete;

  // y[rows, n] = x[rows, k] @ w[n, k]^T; x and w bf16, y bf16 or (f32Out) fp32.
  void gemm(CUdeviceptr x, CUdeviceptr w, CUdeviceptr y, int rows, int n, int k, bool f32Out);
  // Runs `work` with algorithm timing on for the GEMM shapes it plans first.
  void withTuning(const std::function<void()>& work);

 private:
  struct Plan {
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  void tunePlan(Plan& p, bool f32Out, CUdeviceptr x, CUdeviceptr w, CUdeviceptr y,
                cublasLtMatmulHeuristicResult_t* results, int found);

  GpuDevice& device_;
  const CublasLtApi& lt_;
  const bool useGemv_;
  bool tuning_ = false;
  cublasLtHandle_t handle_ = nullptr;
  cublasLtMatmulDesc_t descBf16_ = nullptr, descF32_ = nullptr;
  cublasLtMatmulPreference_t pref_ = nullptr;
  static constexpr size_t kWorkspaceBytes = 32u << 20;
  CUdeviceptr workspace_ = 0;
  std::map<std::tuple<int, int, int, bool>, Plan> plans_;  // (rows, n, k, f32Out)
};

}  // namespace swiftlet_cuda
