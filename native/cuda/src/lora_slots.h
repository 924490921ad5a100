// LoRA adapters resident on the GPU (maxLoras slots of rank up to maxLoraRank), applied to a mixed
// batch: every token uses its sequence's slot. Per slot and layer, four groups follow the linear
// slots (qkv, o, gateUp, down), each an A [numSeg * R, K] and a B [N, R] in fp32 (as PEFT keeps
// them; kernels/lora.cuh), with the fused outputs' parts as segments; R = maxLoraRank, rows past
// an adapter's rank zero. Weights are never merged into the base ones.
#pragma once
#include <vector>

#include "gpu_device.h"
#include "layout.h"
#include "model_config.h"

namespace swiftlet_cuda {

// One PEFT module, host side: a [rank, inFeatures], b [outFeatures, rank], row-major fp32;
// proj a swiftlet_common::Projection.
struct LoraModule {
  int layer = 0, proj = 0, rank = 0;
  std::vector<float> a, b;
};
struct LoraAdapter {
  float scale = 1.f;
  std::vector<LoraModule> modules;
};

class LoraSlots {
 public:
  // NOTE: every slot is allocated up front (as vLLM does), so the KV cache is sized after it and
  // the decode graphs can bake in its addresses. Nothing is allocated when maxLoras is 0.
  LoraSlots(GpuDevice& device, const ModelConfig& config);

  // Throws CudaError on shapes or ranks that do not fit.
  void check(const LoraAdapter& adapter) const;
  // Uploads `adapter` into `slot` (nullptr unloads). NOTE: must not run while a step does (the
  // addon defers it to the step's end).
  void set(int slot, const LoraAdapter* adapter);
  bool has(int slot) const { return slot >= 0 && slot < (int)loaded_.size() && loaded_[slot]; }

  // y[:, :n] += scale[slot] * (x @ A^T) @ B^T for the numTokens tokens with an adapter, after the
  // GEMM of `target` (Slot::kQkv, kO, kGateUp or kDown); tokenSlots: each token's slot on the device.
  void apply(int layer, swiftlet_common::Slot target, CUdeviceptr tokenSlots, CUdeviceptr x, int k, CUdeviceptr y, int n,
             int numTokens);

 private:
  struct Group {
    size_t a = 0, b = 0;  // element offsets within a slot
    int numSeg = 1, segEnd0 = 0, segEnd1 = 0;
  };

  GpuDevice& device_;
  const ModelConfig& cfg_;
  std::vector<Group> groups_;  // [layer * 4 + group]: qkv, o, gateUp, down
  size_t slotElems_ = 0;
  CUdeviceptr weights_ = 0, ranks_ = 0, scales_ = 0, u_ = 0;
  std::vector<int> rankHost_;
  std::vector<float> scaleHost_;
  std::vector<bool> loaded_;
};

}  // namespace swiftlet_cuda
