#include "slot_shape.h"

namespace swiftlet_common {

bool hasSlot(Slot slot, const ModelShape& model) {
  switch (slot) {
    case Slot::kLmHead: return !model.tieWordEmbeddings;
    case Slot::kQkvBias: return model.qkvBias;
    case Slot::kOBias: return model.oBias;
    case Slot::kGateUpBias:
    case Slot::kDownBias: return model.mlpBias;
    case Slot::kQNorm:
    case Slot::kKNorm: return model.qkNorm;
    default: return true;
  }
}

std::vector<int64_t> slotShape(Slot slot, const ModelShape& model) {
  const int64_t H = model.hiddenSize, I = model.intermediateSize, q = static_cast<int64_t>(model.numHeads) * model.headDim;
  const int64_t qkv = model.qkvRows();
  switch (slot) {
    case Slot::kEmbedding:
    case Slot::kLmHead: return {model.vocabSize, H};
    case Slot::kQkv: return {qkv, H};
    case Slot::kQkvBias: return {qkv};
    case Slot::kO: return {H, q};
    case Slot::kGateUp: return {2 * I, H};
    case Slot::kGateUpBias: return {2 * I};
    case Slot::kDown: return {H, I};
    case Slot::kQNorm:
    case Slot::kKNorm: return {model.headDim};
    default: return {H};  // finalNorm, inputNorm, postNorm, oBias, downBias
  }
}

}  // namespace swiftlet_common
