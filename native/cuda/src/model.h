// One model on one GPU: the forward pass over its units. Weights by canonical slot
// (device_weights.h, each linear layer behind its weight format), GEMMs planned once per shape
// (gemm_planner.h), LoRA slots (lora_slots.h), decode steps replayed from CUDA graphs
// (decode_graphs.h), the optional profiler (step_profiler.h); scratch allocated once up front and
// the paged KV cache sized from what is left. Under tensor parallelism each GPU holds one Model
// configured as its shard (fewer heads, a narrower MLP; src/runtime/tensor-parallel.ts) with an
// NCCL communicator that sums the partial outputs of the o and down projections.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include "cuda_api.h"
#include "decode_graphs.h"
#include "device_weights.h"
#include "env_flags.h"
#include "gemm_planner.h"
#include "gpu_device.h"
#include "lora_slots.h"
#include "model_config.h"
#include "step_plan.h"
#include "step_profiler.h"

namespace swiftlet_cuda {

class Model {
 public:
  Model(const ModelConfig& config, const EnvFlags& flags);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // One canonical tensor (DeviceWeights::upload).
  void uploadTensor(int layer, swiftlet_common::Slot slot, const swiftlet_common::TensorView& tensor) {
    weights_.upload(layer, slot, tensor);
  }
  // Benchmark weights made on the GPU (DeviceWeights::initRandom).
  void initRandomWeights(uint64_t seed, int shard, const RandomLinearFormat& format) { weights_.initRandom(seed, shard, format); }
  // Throws CudaError "missing tensor ..." for a weight that never arrived.
  void checkWeights() { weights_.checkComplete(); }
  // KV blocks that fit in `bytes` if > 0, else in what `utilization` of the card leaves.
  int kvBlocksFor(size_t bytes, double utilization);
  // Allocates (and zeroes) the paged KV cache: `blocks` blocks of kKvBlockSize tokens for every layer.
  void allocateKvBlocks(int blocks);
  // Sums delta_ over the group after each row-parallel projection (nullptr: one GPU, no sum).
  void setCommunicator(ncclComm_t comm) { comm_ = comm; }
  // Destroys the captured decode graphs (DecodeGraphs::clear says why a group needs this).
  void dropGraphs() { graphs_.clear(); }
  int numKvBlocks() const { return numKvBlocks_; }
  int maxBlocksPerSeq() const { return maxBlocksPerSeq_; }
  const ModelConfig& config() const { return cfg_; }
  size_t weightBytes() const { return weights_.bytes(); }

  // LoRA slots (LoraSlots::check / set / has).
  void checkAdapter(const LoraAdapter& adapter) const { lora_.check(adapter); }
  void setAdapter(int slot, const LoraAdapter* adapter) { lora_.set(slot, adapter); }
  bool hasAdapter(int slot) const { return lora_.has(slot); }

  // Runs on a worker thread (or the JS thread for a replayed graph): one forward pass and sampling.
  RowResults execute(const StepPlan& plan);
  // execute() in two halves, for grammar masks that arrive after the step started: forward()
  // queues the layers (and, for a replayed graph, the logits) without waiting for the GPU;
  // sample() then masks, samples and waits. Same thread, in that order, nothing in between
  // but filling the plan's masks (planLateTokenBitmask).
  void forward(const StepPlan& plan);
  RowResults sample(const StepPlan& plan);
  int graphBucketFor(int numSeqs) const { return graphs_.bucketFor(numSeqs); }
  bool hasDecodeGraph(int bucket, bool lora) const { return graphs_.has(bucket, lora); }

 private:
  void copyInputs(const StepPlan& in, int numTokens, int numSeqs, int numAttentionRows, int numLogitRows);
  // numSeqs sets the decode attention's split of each context (as a plain decode step of that
  // many sequences splits it); numAttentionRows rows run, one query each for the decode kernel.
  void runLayers(int numTokens, int numSeqs, int numAttentionRows, int numWorkItems, bool anyDecode, bool lora);
  void allReduceDelta(int numTokens);
  void runDecodeGraph(const StepPlan& in);
  void runEager(const StepPlan& in);
  void computeLogits(int rowBegin, int numRows);
  void applyLora(int layer, swiftlet_common::Slot target, CUdeviceptr x, int k, CUdeviceptr y, int n, int numTokens);
  void finishStep(std::chrono::steady_clock::time_point wallStart);

  // NOTE: declaration order is construction order: the config is checked first, and the device
  // outlives every unit that allocates or launches through it.
  const ModelConfig cfg_;
  GpuDevice device_;
  StepProfiler profiler_;
  GemmPlanner planner_;
  DeviceWeights weights_;
  LoraSlots lora_;
  DecodeGraphs graphs_;

  // The decode attention kernel (SIMT when EnvFlags::decodeSimt, else tensor cores).
  const bool decodeSimt_;
  // When the running step's forward() began (sample() ends the step's profile with it).
  std::chrono::steady_clock::time_point stepWallStart_;
  std::string decodeKernel_;

  int maxBlocksPerSeq_ = 0, maxSplits_ = 0, logitsCap_ = 0, maxWorkItems_ = 0;
  CUdeviceptr invFreq_ = 0;

  // Scratch, sized for maxNumTokens tokens / maxNumSeqs sequences / logitsCap_ logits rows.
  CUdeviceptr residual_ = 0, normed_ = 0, qkvOut_ = 0, q_ = 0, attnOut_ = 0, delta_ = 0, gateUpOut_ = 0,
              act_ = 0, finalNormed_ = 0, logits_ = 0, processed_ = 0, counts_ = 0, partOut_ = 0, partMax_ = 0,
              partSum_ = 0;

  // Step inputs at fixed device addresses (CUDA graphs bake them in), with a pinned mirror.
  struct Region {
    size_t offset, count;
  };
  Region rTokens_{}, rPositions_{}, rSlots_{}, rQueryStart_{}, rContextLens_{}, rBlockTables_{}, rWork_{},
      rLogitRows_{}, rTokenSlots_{}, rTokenSeq_{}, rRopeInvFreq_{};
  CUdeviceptr arena_ = 0;
  int* arenaHost_ = nullptr;
  size_t arenaInts_ = 0;
  CUdeviceptr dev(const Region& r) const { return arena_ + r.offset * 4; }

  // Per-step sampling inputs and outputs: grown on demand, outside the graphs.
  CUdeviceptr samplingIn_ = 0, samplingOut_ = 0;
  size_t samplingInBytes_ = 0, samplingOutBytes_ = 0;
  uint8_t* samplingInHost_ = nullptr;
  uint8_t* samplingOutHost_ = nullptr;
  // Final-normed hidden states of the step's hidden-state rows (bf16), gathered from finalNormed_.
  CUdeviceptr hiddenOut_ = 0;
  size_t hiddenOutBytes_ = 0;
  uint8_t* hiddenOutHost_ = nullptr;

  ncclComm_t comm_ = nullptr;

  CUdeviceptr kvCache_ = 0;
  size_t kvLayerBytes_ = 0;
  int numKvBlocks_ = 0;
};

}  // namespace swiftlet_cuda
