// A model split over the GPUs of one host (tensor parallelism): one Model per GPU, each its own
// shard (src/runtime/tensor-parallel.ts says what each holds), NCCL communicators from
// ncclCommInitAll, and one host thread per GPU, so every rank issues its own launches and
// collectives and captures its own CUDA graphs. The engine and scheduler stay single: a step goes
// to every rank and rank 0, the only one that samples, answers it.
// With one GPU the group is a thin wrapper: no NCCL, no extra thread.
// Across processes (one GPU each, possibly on other hosts) a group holds this process's shard
// only, and its communicator comes from ncclCommInitRank with the unique id rank 0 made.
#pragma once
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "env_flags.h"
#include "model.h"

namespace swiftlet_cuda {

// This process's place in a group of processes (src/runtime/distributed/).
struct ProcessRank {
  int rank = 0;
  int size = 1;
  ncclUniqueId id{};
};

// Rank 0 of a process group makes it and sends it to the others with the shard plan.
ncclUniqueId newNcclUniqueId();

class ShardGroup {
 public:
  // configs[r] is rank r's shard: its device, its share of heads and MLP, computesLogits on rank 0.
  ShardGroup(std::vector<ModelConfig> configs, const EnvFlags& flags);
  // `config` is this process's shard (computesLogits on rank 0 only). Blocks until every rank of
  // the process group has called it with the same id.
  ShardGroup(const ModelConfig& config, const EnvFlags& flags, const ProcessRank& process);
  ~ShardGroup();
  ShardGroup(const ShardGroup&) = delete;
  ShardGroup& operator=(const ShardGroup&) = delete;

  int size() const { return (int)shards_.size(); }
  Model& shard(int rank);
  // Rank 0 samples; its limits (maxNumSeqs, KV blocks, adapters resident) hold for every rank.
  Model& first() { return *shards_[0]; }

  // Each rank fills its own shard on its GPU; replicated tensors come out equal on every rank.
  void initRandomWeights(uint64_t seed, const RandomLinearFormat& format);
  // The same block count on every rank: the most that fits on the fullest GPU. `bytes` (> 0) is
  // the budget of the whole group, split evenly. Throws "missing tensor ..." first when a rank
  // lacks a weight (the weights are all in by now: load or initRandomWeights came first).
  int allocateKvCache(size_t bytes, double utilization);
  // One step on every rank at once; rank 0's sampled ids and logprobs.
  RowResults execute(const StepPlan& plan);
  // execute() in two halves (Model::forward, Model::sample), on the same thread: every rank's
  // forward pass, then rank 0's sampling (the only rank with logits).
  void forward(const StepPlan& plan);
  RowResults sample(const StepPlan& plan);
  // perRank[r] is rank r's part of the adapter (nullptr entries unload the slot).
  void checkAdapter(const std::vector<const LoraAdapter*>& perRank) const;
  void setAdapter(int slot, const std::vector<const LoraAdapter*>& perRank);

 private:
  // Runs work(rank) for every rank concurrently (rank 0 on the calling thread) and rethrows the
  // first failure once all have returned.
  void onEveryRank(const std::function<void(int)>& work);
  void workerLoop(int rank);

  std::vector<std::unique_ptr<Model>> shards_;
  // The group-wide rank of shards_[0]: 0, or this process's rank in a process group.
  int firstRank_ = 0;
  std::vector<ncclComm_t> comms_;

  std::vector<std::thread> workers_;  // ranks 1..size-1
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int)>* job_ = nullptr;
  long generation_ = 0;
  int pending_ = 0;
  bool stopping_ = false;
  std::vector<std::exception_ptr> errors_;
};

}  // namespace swiftlet_cuda
