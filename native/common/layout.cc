#include "layout.h"

#include <stdexcept>

namespace swiftlet_common {
namespace {
const char* const kSlotNames[] = {"embedding", "lmHead", "finalNorm", "inputNorm", "postNorm", "qkv",   "qkvBias", "o",
                                  "oBias",     "gateUp", "gateUpBias", "down",     "downBias", "qNorm", "kNorm"};
static_assert(sizeof(kSlotNames) / sizeof(kSlotNames[0]) == static_cast<int>(Slot::kCount), "one name per slot");
const char* const kProjectionNames[kNumProjections] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
}  // namespace

Slot parseSlot(const std::string& name) {
  for (int s = 0; s < static_cast<int>(Slot::kCount); s++)
    if (name == kSlotNames[s]) return static_cast<Slot>(s);
  throw std::invalid_argument("unknown weight slot \"" + name + "\"");
}

const char* slotName(Slot slot) { return kSlotNames[static_cast<int>(slot)]; }

bool isModelSlot(Slot slot) { return slot == Slot::kEmbedding || slot == Slot::kLmHead || slot == Slot::kFinalNorm; }

bool isLinearSlot(Slot slot) { return slot == Slot::kQkv || slot == Slot::kO || slot == Slot::kGateUp || slot == Slot::kDown; }

int parseProjection(const std::string& name) {
  for (int p = 0; p < kNumProjections; p++)
    if (name == kProjectionNames[p]) return p;
  return -1;
}

const char* projectionName(int projection) { return kProjectionNames[projection]; }

}  // namespace swiftlet_common
