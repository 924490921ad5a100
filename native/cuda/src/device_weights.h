// A model's weights on its GPU, by canonical slot (native/common/layout.h): the linear layers as
// their weight format's Linear (linear.h), the embedding in bf16, norms and biases in fp32.
// Memory is allocated as each tensor arrives (or by initRandom), before the KV cache is sized.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "gpu_device.h"
#include "layout.h"
#include "linear.h"
#include "model_config.h"
#include "native_tensor.h"

namespace swiftlet_cuda {

// One decoder layer; with q = numHeads * headDim, H = hiddenSize, I = intermediateSize.
struct LayerWeights {
  std::unique_ptr<Linear> qkv;     // [qkvRows, H]: q rows, then k, then v
  std::unique_ptr<Linear> o;       // [H, q]
  std::unique_ptr<Linear> gateUp;  // [2 I, H]: gate rows, then up
  std::unique_ptr<Linear> down;    // [H, I]
  // fp32; 0 for the ones the model has none of (the kernels take a null bias or norm as "none").
  CUdeviceptr inputNorm = 0, postNorm = 0;  // [H]
  CUdeviceptr qkvBias = 0;                  // [qkvRows]
  CUdeviceptr oBias = 0, downBias = 0;      // [H]
  CUdeviceptr gateUpBias = 0;               // [2 I]
  CUdeviceptr qNorm = 0, kNorm = 0;         // [headDim]
};

class DeviceWeights {
 public:
  DeviceWeights(GpuDevice& device, const ModelConfig& config);

  // One canonical tensor (layer -1 for the model-level slots). Throws CudaError
  // "tensor <slot> of layer <n>: ..." for a slot the model lacks, a wrong shape or format, or a
  // tensor sent twice.
  void upload(int layer, swiftlet_common::Slot slot, const swiftlet_common::TensorView& tensor);
  // Benchmark weights: uniform random matrices (std 0.02), unit norms, made on the GPU; `shard`
  // is this model's rank in a tensor-parallel group (its split tensors differ, the rest do not).
  // The layers' linear weights in `format` (the embedding and lmHead stay bf16, as quantized
  // checkpoints keep them).
  void initRandom(uint64_t seed, int shard, const RandomLinearFormat& format);
  // Throws CudaError "missing tensor <slot> [of layer <n>]" for the first slot never filled.
  void checkComplete();
  size_t bytes() const { return bytes_; }

  CUdeviceptr embedding() const { return embedding_; }  // [V, H] bf16
  const Linear& lmHead() const { return *lmHead_; }      // [V, H]; the embedding when tied (rank 0 only)
  CUdeviceptr finalNorm() const { return finalNorm_; }  // [H] fp32
  LayerWeights& layer(int i) { return layers_[i]; }

 private:
  // Where a slot's tensor lives: a Linear (the linear slots and lmHead) or a dense buffer.
  std::unique_ptr<Linear>* linearOf(int layer, swiftlet_common::Slot slot);
  CUdeviceptr* bufferOf(int layer, swiftlet_common::Slot slot);
  bool isFilled(int layer, swiftlet_common::Slot slot);
  void setEmbedding(CUdeviceptr table);

  GpuDevice& device_;
  const ModelConfig& cfg_;
  size_t bytes_ = 0;
  CUdeviceptr embedding_ = 0, finalNorm_ = 0;
  std::unique_ptr<Linear> lmHead_;
  std::vector<LayerWeights> layers_;
};

}  // namespace swiftlet_cuda
