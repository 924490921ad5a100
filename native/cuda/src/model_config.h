// What one Model is built for: one rank's shard of the decoder and the runner's limits.
#pragma once
#include <string>

#include "model_shape.h"

namespace swiftlet_cuda {

// One rank's shard of the decoder (names as in src/runtime/native-shape.ts) and the runner's sizes.
struct ModelConfig : swiftlet_common::ModelShape {
  int maxNumTokens = 8192, maxNumSeqs = 256, maxModelLen = 4096;
  // LoRA: adapters resident at once (0: none, no LoRA memory) and the largest rank accepted.
  int maxLoras = 0, maxLoraRank = 0;
  bool useCudaGraphs = true;
  int device = 0;
  // False on the ranks of a tensor-parallel group but the first: they run the layers only (no
  // lmHead, no logits memory, no sampling). See shard_group.h.
  bool computesLogits = true;
  std::string fatbinPath;
};

}  // namespace swiftlet_cuda
