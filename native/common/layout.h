// The canonical weight layout both native runners take. TypeScript owns the mapping from a
// checkpoint's tensor names to it (src/model/arch/, src/model/layout.ts is this file's twin);
// native code sees only (layer, slot) and never a checkpoint name.
#pragma once
#include <string>

namespace swiftlet_common {

// Tokens per KV-cache block (src/model/layout.ts KV_BLOCK_SIZE; the CUDA attention tiles assume it).
constexpr int kKvBlockSize = 16;

// Model-level slots take layer -1; the others one layer each. Shapes, with q = numHeads * headDim,
// kv = numKvHeads * headDim, H = hiddenSize, I = intermediateSize, V = vocabSize:
enum class Slot {
  kEmbedding,   // [V, H]; also the lm_head when tieWordEmbeddings
  kLmHead,      // [V, H]; absent when tied
  kFinalNorm,   // [H]
  kInputNorm,   // [H]
  kPostNorm,    // [H]
  kQkv,         // [q + 2 kv, H]: q rows, then k, then v (a linear layer)
  kQkvBias,     // [q + 2 kv]
  kO,           // [H, q] (a linear layer)
  kOBias,       // [H]
  kGateUp,      // [2 I, H]: gate rows, then up (a linear layer)
  kGateUpBias,  // [2 I]
  kDown,        // [H, I] (a linear layer)
  kDownBias,    // [H]
  kQNorm,       // [headDim]
  kKNorm,       // [headDim]
  kCount
};

// "qkv" -> Slot::kQkv; throws std::invalid_argument naming the text for anything else.
Slot parseSlot(const std::string& name);
const char* slotName(Slot slot);
// Whether the slot is model-level (layer -1) rather than per layer.
bool isModelSlot(Slot slot);
// Whether the slot is a linear layer's weight (its weight format decides its GEMM/GEMV).
bool isLinearSlot(Slot slot);

// The projections a LoRA module can target, in forward order (src/model/layout.ts PROJECTIONS).
enum Projection { kQ = 0, kK, kV, kO, kGate, kUp, kDown, kNumProjections };
// "q_proj" -> kQ; -1 for anything else.
int parseProjection(const std::string& name);
const char* projectionName(int projection);

}  // namespace swiftlet_common
