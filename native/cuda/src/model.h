// One model on one GPU: weights uploaded once in bf16, scratch allocated once up front, the paged
// KV cache sized from what is left, and one forward pass + sampling per step. Decode steps replay
// CUDA graphs captured per batch-size bucket. Under tensor parallelism each GPU holds one Model
// configured as its shard (fewer heads, a narrower MLP; src/runtime/tensor-parallel.ts) with an
// NCCL communicator that sums the partial outputs of o_proj and down_proj.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "cuda_api.h"
#include "model_shape.h"
#include "step_plan.h"

namespace swiftlet_cuda {

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

// One rank's shard of the decoder (names as in src/runtime/native-shape.ts) and the runner's sizes.
struct ModelConfig : swiftlet_common::ModelShape {
  int maxNumTokens = 8192, maxNumSeqs = 256, maxModelLen = 4096;
  // LoRA: adapters resident at once (0: none, no LoRA memory) and the largest rank accepted.
  int maxLoras = 0, maxLoraRank = 0;
  bool useCudaGraphs = true;
  int device = 0;
  // False on the ranks of a tensor-parallel group but the first: they run the layers only (no
  // lm_head, no logits memory, no sampling). See shard_group.h.
  bool computesLogits = true;
  std::string fatbinPath;
};


// Projections a LoRA module can target.
enum LoraProjection { kLoraQ, kLoraK, kLoraV, kLoraO, kLoraGate, kLoraUp, kLoraDown, kNumLoraProjections };

// One PEFT module, host side: a [rank, inFeatures], b [outFeatures, rank], row-major fp32.
struct LoraModule {
  int layer = 0, proj = 0, rank = 0;
  std::vector<float> a, b;
};
struct LoraAdapter {
  float scale = 1.f;
  std::vector<LoraModule> modules;
};

struct DeviceInfo {
  std::string name;
  size_t totalMemory, freeMemory;
  int smCount, ccMajor, ccMinor;
};
DeviceInfo deviceInfo(int ordinal);
// Device-to-device copy bandwidth in bytes/s, counting bytes read plus bytes written.
double measureCopyBandwidth(int ordinal, size_t bytes, int iterations);

class Model {
 public:
  explicit Model(const ModelConfig& config);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Converts one checkpoint tensor to its device form; false for a tensor the model does not use.
  bool uploadTensor(const std::string& name, const std::string& dtype, const std::vector<int64_t>& shape,
                    const uint8_t* bytes, size_t numBytes);
  // Benchmark weights: uniform random matrices (std 0.02), unit norms, made on the GPU; `shard`
  // is this model's rank in a tensor-parallel group (its split tensors differ, the rest do not).
  void initRandomWeights(uint64_t seed, int shard);
  // KV blocks that fit in `bytes` if > 0, else in what `utilization` of the card leaves.
  int kvBlocksFor(size_t bytes, double utilization);
  // Allocates (and zeroes) the paged KV cache: `blocks` blocks of 16 tokens for every layer.
  void allocateKvBlocks(int blocks);
  // Sums delta_ over the group after each row-parallel projection (nullptr: one GPU, no sum).
  void setCommunicator(ncclComm_t comm) { comm_ = comm; }
  // Destroys the captured decode graphs. NOTE: NCCL waits in ncclCommDestroy until every graph
  // holding one of its collectives is gone, so a group drops its graphs before its communicators.
  void dropGraphs();
  int numKvBlocks() const { return numKvBlocks_; }
  int maxBlocksPerSeq() const { return maxBlocksPerSeq_; }
  const ModelConfig& config() const { return cfg_; }
  size_t weightBytes() const { return weightBytes_; }

  // LoRA slots. checkAdapter throws on shapes or ranks that do not fit; setAdapter (nullptr unloads)
  // uploads it. NOTE: setAdapter must not run while a step does (the addon defers it to the step's end).
  void checkAdapter(const LoraAdapter& adapter) const;
  void setAdapter(int slot, const LoraAdapter* adapter);
  bool hasAdapter(int slot) const { return slot >= 0 && slot < (int)loraLoaded_.size() && loraLoaded_[slot]; }

  // Runs on a worker thread: one forward pass and sampling.
  RowResults execute(const StepPlan& plan);
  int graphBucketFor(int numSeqs) const;
  bool hasDecodeGraph(int bucket, bool lora) const { return graphs_.count({bucket, lora}) > 0; }

 private:
  struct Layer {
    CUdeviceptr qkv = 0, o = 0, gateUp = 0, down = 0;
    CUdeviceptr inputNorm = 0, postNorm = 0, qkvBias = 0, oBias = 0, gateUpBias = 0, downBias = 0;
    CUdeviceptr qNorm = 0, kNorm = 0;
  };
  struct GemmPlan {
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
    bool hasAlgo = false;
  };

  CUdeviceptr alloc(size_t bytes);
  CUfunction fn(const char* name);
  void launch(CUfunction f, Dim3 grid, Dim3 block, unsigned smem, std::vector<void*> args);
  void gemm(CUdeviceptr x, CUdeviceptr w, CUdeviceptr y, int rows, int n, int k, bool f32Out);
  void uploadF32(CUdeviceptr dst, const std::string& dtype, const uint8_t* bytes, size_t count);
  void uploadBf16(CUdeviceptr dst, const std::string& dtype, const uint8_t* bytes, size_t count);
  void copyInputs(const StepPlan& in, int numTokens, int numSeqs, int numLogitRows);
  void runLayers(int numTokens, int numSeqs, int numWorkItems, bool anyDecode, bool lora);
  void allReduceDelta(int numTokens);
  void runDecodeGraph(const StepPlan& in);
  void runEager(const StepPlan& in);
  void endStep(std::chrono::steady_clock::time_point wallStart);
  std::chrono::steady_clock::time_point launchedAt_;  // profiling: when the step's layers were queued
  double stepParseMs_ = 0;
  void applyLora(int layer, int group, CUdeviceptr x, int k, CUdeviceptr y, int n, int numTokens);
  void computeLogits(int rowBegin, int numRows);

  ModelConfig cfg_;
  const DriverApi& cu_;
  const CublasLtApi& lt_;
  CUdevice dev_ = 0;
  CUcontext ctx_ = nullptr;
  CUmodule module_ = nullptr;
  CUstream stream_ = nullptr;
  cublasLtHandle_t ltHandle_ = nullptr;
  cublasLtMatmulDesc_t descBf16_ = nullptr, descF32_ = nullptr;
  cublasLtMatmulPreference_t pref_ = nullptr;
  std::map<std::tuple<int, int, int, bool>, GemmPlan> plans_;
  std::map<std::string, CUfunction> functions_;
  std::vector<CUdeviceptr> allocations_;
  size_t weightBytes_ = 0;

  int qkvRows_ = 0, maxBlocksPerSeq_ = 0, maxSplits_ = 0, logitsCap_ = 0, maxWorkItems_ = 0;
  CUdeviceptr embed_ = 0, lmHead_ = 0, finalNorm_ = 0, invFreq_ = 0;
  std::vector<Layer> layers_;

  // Scratch, sized for maxNumTokens tokens / maxNumSeqs sequences / logitsCap_ logits rows.
  CUdeviceptr residual_ = 0, normed_ = 0, qkvOut_ = 0, q_ = 0, attnOut_ = 0, delta_ = 0, gateUpOut_ = 0,
              act_ = 0, finalNormed_ = 0, logits_ = 0, processed_ = 0, counts_ = 0, partOut_ = 0, partMax_ = 0,
              partSum_ = 0, workspace_ = 0;
  size_t workspaceBytes_ = 32u << 20;

  // Step inputs at fixed device addresses (CUDA graphs bake them in), with a pinned mirror.
  struct Region {
    size_t offset, count;
  };
  Region rTokens_{}, rPositions_{}, rSlots_{}, rQueryStart_{}, rContextLens_{}, rBlockTables_{}, rWork_{},
      rLogitRows_{}, rTokenSlots_{};
  CUdeviceptr arena_ = 0;
  int* arenaHost_ = nullptr;
  size_t arenaInts_ = 0;
  CUdeviceptr dev(const Region& r) const { return arena_ + r.offset * 4; }

  // Per-step sampling inputs and outputs: grown on demand, outside the graphs.
  CUdeviceptr samplingIn_ = 0, samplingOut_ = 0;
  size_t samplingInBytes_ = 0, samplingOutBytes_ = 0;
  uint8_t* samplingInHost_ = nullptr;
  uint8_t* samplingOutHost_ = nullptr;
  void ensureSamplingBuffers(size_t inBytes, size_t outBytes);
  // A device buffer and its pinned host twin, grown together (at least doubling) to `bytes`.
  void growStagingPair(CUdeviceptr& device, uint8_t*& host, size_t& capacity, size_t bytes);

  ncclComm_t comm_ = nullptr;

  CUdeviceptr kvCache_ = 0;
  size_t kvLayerBytes_ = 0;
  int numKvBlocks_ = 0;

  // LoRA, when maxLoras > 0. Per slot and layer, four groups (qkv, o, gate_up, down), each an A
  // [numSeg * R, K] and a B [N, R] in fp32 (kernels/lora.cuh); R = maxLoraRank, unused rows zero.
  struct LoraGroup {
    size_t a = 0, b = 0;  // element offsets within a slot
    int numSeg = 1, segEnd0 = 0, segEnd1 = 0;
  };
  std::vector<LoraGroup> loraGroups_;  // [layer * 4 + group]
  size_t loraSlotElems_ = 0;
  CUdeviceptr loraWeights_ = 0, loraRanks_ = 0, loraScales_ = 0, loraU_ = 0;
  std::vector<int> loraRankHost_;
  std::vector<float> loraScaleHost_;
  std::vector<bool> loraLoaded_;

  // Decode graphs per (bucket, with LoRA kernels): a step without adapter rows replays the base graph.
  std::map<std::pair<int, bool>, CUgraphExec> graphs_;
  std::vector<int> buckets_;

  // GEMM algorithm choice by timing (only for the shapes of graph buckets, replayed many times).
  bool tuning_ = false;
  bool useGemv_ = true;
  std::string decodeKernel_;
  bool decodeSimt_ = false;
  int numSms_ = 132;
  void tunePlan(GemmPlan& p, bool f32Out, CUdeviceptr x, CUdeviceptr w, CUdeviceptr y,
                cublasLtMatmulHeuristicResult_t* results, int found);

  // SWIFTLET_CUDA_PROFILE=1: eager steps with an event after every stage; =steps: steps as they
  // run (decode through CUDA graphs), one event before and after each. Per-step averages of decode
  // steps and of prefill steps are printed to stderr when the model is destroyed.
  bool profiling_ = false;
  bool profileStages_ = false;
  bool profileStep_ = false;  // this step is recorded (not one that captured a graph)
  std::vector<CUevent> profileEvents_;
  std::vector<const char*> profileNames_;
  size_t profileUsed_ = 0;
  // Per step kind ("decode, N sequences": every sequence one token; "prefill": the rest), stage times in ms.
  struct StageProfile {
    std::map<std::string, double> stageMs;
    long steps = 0;
    double wallMs = 0;
    double parseMs = 0, launchedMs = 0, queuedMs = 0;  // host: parsing, then until the layers / all work is queued
  };
  std::map<std::string, StageProfile> profiles_;
  std::string profileKind_;
  void mark(const char* name);       // after a stage (SWIFTLET_CUDA_PROFILE=1 only)
  void markStep(const char* name);   // at a step's start and end
};

}  // namespace swiftlet_cuda
