#include "slot_shapes.h"

namespace swiftlet_cuda {

using swiftlet_common::Slot;

bool hasSlot(const ModelConfig& c, Slot slot) {
  switch (slot) {
    case Slot::kLmHead: return !c.tieWordEmbeddings && c.computesLogits;
    case Slot::kQkvBias: return c.qkvBias;
    case Slot::kOBias: return c.oBias;
    case Slot::kGateUpBias:
    case Slot::kDownBias: return c.mlpBias;
    case Slot::kQNorm:
    case Slot::kKNorm: return c.qkNorm;
    default: return true;
  }
}

std::vector<int64_t> slotShape(const ModelConfig& c, Slot slot) {
  const int64_t H = c.hiddenSize, I = c.intermediateSize, V = c.vocabSize, D = c.headDim;
  const int64_t q = (int64_t)c.numHeads * D, qkv = c.qkvRows();
  switch (slot) {
    case Slot::kEmbedding:
    case Slot::kLmHead: return {V, H};
    case Slot::kQkv: return {qkv, H};
    case Slot::kO: return {H, q};
    case Slot::kGateUp: return {2 * I, H};
    case Slot::kDown: return {H, I};
    case Slot::kQkvBias: return {qkv};
    case Slot::kGateUpBias: return {2 * I};
    case Slot::kQNorm:
    case Slot::kKNorm: return {D};
    default: return {H};  // finalNorm, inputNorm, postNorm, oBias, downBias
  }
}

}  // namespace swiftlet_cuda
