// The forward pass of every supported decoder family (Llama, Qwen2, Qwen3): one code path,
// switches for the differences (qkv / o / mlp bias, per-head q/k norm, head_dim, tied lm_head).
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "input_grams.h"
#include "late_token_bitmask.h"
#include "layout.h"
#include "linear.h"
#include "model_shape.h"
#include "native_tensor.h"
#include "sampling.h"
#include "step_contract.h"
#include "tcp_group.h"
#include "tensor.h"
#include "thread_pool.h"

namespace swiftlet {

constexpr int kBlockSize = swiftlet_common::kKvBlockSize;

/** The decoder's shape (names as in src/runtime/native-shape.ts) and what the CPU runner sizes by it. */
struct ModelConfig : swiftlet_common::ModelShape {
  /** Tokens per forward chunk: scratch is sized by it; a larger step runs as several chunks. */
  int maxTokensPerChunk = 256;
  int numKvBlocks = 0;
  int maxLoras = 0;
  int maxLoraRank = 0;
  int numThreads = 1;
  /** Tensor parallelism across processes: this shard's rank of shardCount (1: the whole model). Only rank 0 holds the lm_head and samples. */
  int shardRank = 0;
  int shardCount = 1;
  /** 8 or 4: the lm_head (the tied embedding's logits side) quantized at load (formats/rtn_int.h); 0: as the checkpoint stores it. */
  int lmHeadBits = 0;
};

/** The projections LoRA can target, in forward order. */
using swiftlet_common::kDown;
using swiftlet_common::kGate;
using swiftlet_common::kK;
using swiftlet_common::kNumProjections;
using swiftlet_common::kO;
using swiftlet_common::kQ;
using swiftlet_common::kUp;
using swiftlet_common::kV;
using swiftlet_common::parseProjection;

struct LoraModule {
  int rank = 0;
  /** a: [rank, in], b: [out, rank] */
  std::vector<float> a;
  std::vector<float> b;
};

struct Adapter {
  float scale = 0.f;
  /** [layer][projection]; rank 0 = not targeted. */
  std::vector<std::array<LoraModule, kNumProjections>> layers;
};

using swiftlet_common::StepInput;
using swiftlet_common::StepResult;

class Model {
 public:
  explicit Model(ModelConfig config);
  const ModelConfig& config() const { return config_; }

  /** Takes one canonical tensor (layer -1 for a model-level slot); throws `tensor <slot> of layer <n>: ...` on a wrong shape or format. */
  void setTensor(int layer, swiftlet_common::Slot slot, const swiftlet_common::TensorView& tensor);
  /** Throws naming the first slot never set. */
  void checkComplete() const;

  void setAdapter(int slot, std::unique_ptr<Adapter> adapter);
  bool hasAdapter(int slot) const;

  /** What a step may ask of this model; the addon checks every step against it before execute(). */
  swiftlet_common::StepLimits stepLimits() const;
  /**
   * Runs a step that passed validateStep(stepLimits()). With `lateMask`, the step's grammar masks
   * are that one's (in.tokenBitmask is ignored): the step waits for them after its lm_head GEMM.
   */
  void execute(const StepInput& in, StepResult& out, swiftlet_common::LateTokenBitmask* lateMask = nullptr);

  size_t kvCacheBytes() const { return kvCache_.size(); }

  /** Calibration: from now on every step adds the Gram sums of `layer`'s linear inputs (layer -1: off), starting from zero. */
  void captureInputGrams(int layer);
  const InputGrams& inputGrams() const { return grams_; }

  /** The collective of a sharded model (shardCount > 1), null otherwise; connected before the first step. */
  TcpGroup* group() { return group_.get(); }

 private:
  struct Layer {
    std::vector<float> inputNorm, postNorm, qNorm, kNorm;
    /** qkv: [(numHeads + 2 * numKvHeads) * headDim, hidden]; gateUp: [2 * intermediate, hidden] (native/common/layout.h) */
    std::unique_ptr<Linear> qkv, o, gateUp, down;
    std::vector<float> qkvBias, oBias, gateUpBias, downBias;
    /** Bit s: slot s was set. */
    uint32_t setMask = 0;
  };

  void forwardChunk(const StepInput& in, int64_t t0, int64_t numTokens, const std::vector<int32_t>& seqOfToken);
  void linear(const Linear& w, const std::vector<float>& bias, const float* x, int64_t numTokens, int64_t ldx,
              float* y, int64_t ldy);
  void addBias(const std::vector<float>& bias, float* y, int64_t numTokens, int64_t ldy);
  /** o_proj / down_proj (+ LoRA) into y [numTokens, hidden]; a shard sums its partial products with the others before the bias. */
  void rowParallelLinear(int layer, const Linear& w, const std::vector<float>& bias, int projection, const float* x,
                         int64_t numTokens, int64_t ldx, float* y, const int32_t* slotOfToken);
  void applyLora(int layer, const std::vector<std::pair<int, int>>& parts, const float* x, int64_t ldx, float* y,
                 int64_t ldy, int64_t numTokens, const int32_t* slotOfToken);
  void rmsNormRows(const float* x, int64_t numRows, int64_t ld, const std::vector<float>& weight, float* out,
                   int64_t ldOut, int64_t width);
  void attention(int layer, const StepInput& in, int64_t t0, int64_t numTokens, const std::vector<int32_t>& seqOfToken);
  void finalHiddenStates(const StepInput& in, int64_t t0, int64_t numTokens, StepResult& out);
  void logitsAndSampling(const StepInput& in, int64_t t0, int64_t numTokens, StepResult& out,
                         swiftlet_common::LateTokenBitmask* lateMask);
  float* kCache(int layer) const;
  float* vCache(int layer) const;

  ModelConfig config_;
  ThreadPool pool_;
  int64_t qkvWidth_;
  std::vector<Layer> layers_;
  PackedMatrix lmHead_;  // [vocab, hidden]; the embedding too when tied (lmHeadBits 0 only)
  std::unique_ptr<Linear> quantizedLmHead_;  // lmHeadBits 8 or 4, rank 0: the lm_head instead of lmHead_
  RowMatrix embedding_;  // untied, or tied with a quantized lm_head (the lookup keeps the stored rows)
  std::vector<float> finalNorm_;
  /** Bit s: model-level slot s was set. */
  uint32_t modelSetMask_ = 0;
  std::vector<std::unique_ptr<Adapter>> adapters_;
  AlignedBuffer kvCache_;
  int64_t layerCacheFloats_;
  // Scratch, sized once by maxTokens.
  AlignedBuffer x_, xn_, qkv_, attn_, proj_, gateUp_, act_, logits_, scores_, loraTmp_;
  int64_t scoresPerThread_;
  int logitRows_;
  std::vector<SamplingScratch> samplingScratch_;
  std::vector<int32_t> slotOfToken_;
  int gramLayer_ = -1;
  InputGrams grams_;
  std::unique_ptr<TcpGroup> group_;
};

}  // namespace swiftlet
