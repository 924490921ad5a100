#include "slot_shapes.h"

#include "slot_shape.h"

namespace swiftlet_cuda {

using swiftlet_common::Slot;

// NOTE: the model's slots and shapes are the common rules (native/common/slot_shape.cc); a rank
// differs only in that ranks other than 0 compute no logits, so they hold no lmHead.
bool hasSlot(const ModelConfig& c, Slot slot) {
  if (slot == Slot::kLmHead && !c.computesLogits) return false;
  return swiftlet_common::hasSlot(slot, c);
}

std::vector<int64_t> slotShape(const ModelConfig& c, Slot slot) { return swiftlet_common::slotShape(slot, c); }

}  // namespace swiftlet_cuda
