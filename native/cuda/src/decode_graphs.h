// CUDA graphs of decode steps: a step whose sequences each add one token is padded to a
// batch-size bucket (1, 2, 4, 8, 16, 24, ..., maxNumSeqs) and replays that bucket's graph, one
// without the LoRA kernels and one with them (a step without adapter rows replays the base one).
// Graphs bake in the addresses of the step inputs, weights and scratch, so none of them may move.
#pragma once
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "gpu_device.h"

namespace swiftlet_cuda {

class DecodeGraphs {
 public:
  // enabled false (enforceEager, or per-stage profiling): no bucket, every step eager.
  DecodeGraphs(GpuDevice& device, int maxNumSeqs, bool enabled);
  ~DecodeGraphs();
  DecodeGraphs(const DecodeGraphs&) = delete;
  DecodeGraphs& operator=(const DecodeGraphs&) = delete;

  // The smallest bucket holding numSeqs sequences; 0: run eagerly.
  int bucketFor(int numSeqs) const;
  bool has(int bucket, bool lora) const { return graphs_.count({bucket, lora}) > 0; }
  // Launches the captured graph; false when there is none yet.
  bool replay(int bucket, bool lora);
  // Records the launches of `forward` on the device's stream as the graph of (bucket, lora).
  void capture(int bucket, bool lora, const std::function<void()>& forward);
  // NOTE: NCCL waits in ncclCommDestroy until every graph holding one of its collectives is gone,
  // so a tensor-parallel group clears its graphs before its communicators.
  void clear();

 private:
  GpuDevice& device_;
  std::vector<int> buckets_;
  std::map<std::pair<int, bool>, CUgraphExec> graphs_;
};

}  // namespace swiftlet_cuda
