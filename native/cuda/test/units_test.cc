// The CUDA runner's pure units, without a GPU or Node: the environment flags (src/env_flags.h)
// and the canonical slots a rank holds with their shapes (src/slot_shapes.h). Built and run by
// test/cuda-units.test.ts (g++ -std=c++17 with -Inative/common -Inative/cuda/src, this file,
// src/env_flags.cc, src/slot_shapes.cc and native/common/layout.cc). Prints each failed check and
// exits non-zero if any failed.
#include <cstdlib>
#include <string>
#include <vector>

#include "check.h"
#include "env_flags.h"
#include "layout.h"
#include "slot_shapes.h"

using swiftlet_common::Slot;
using swiftlet_cuda::EnvFlags;
using swiftlet_cuda::ModelConfig;
using swiftlet_cuda::ProfileMode;
using swiftlet_test::check;

namespace {

EnvFlags flagsWith(const char* profile, const char* noGemv, const char* decodeSimt) {
  auto set = [](const char* name, const char* value) {
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  };
  set("SWIFTLET_CUDA_PROFILE", profile);
  set("SWIFTLET_CUDA_NO_GEMV", noGemv);
  set("SWIFTLET_DECODE_SIMT", decodeSimt);
  return swiftlet_cuda::readEnvFlags();
}

void testEnvFlags() {
  EnvFlags none = flagsWith(nullptr, nullptr, nullptr);
  check(none.profile == ProfileMode::kOff && none.useGemv && !none.decodeSimt, "no variables: the defaults");
  check(flagsWith("1", nullptr, nullptr).profile == ProfileMode::kStages, "SWIFTLET_CUDA_PROFILE=1: stages");
  check(flagsWith("steps", nullptr, nullptr).profile == ProfileMode::kSteps, "SWIFTLET_CUDA_PROFILE=steps: steps");
  check(flagsWith("yes", nullptr, nullptr).profile == ProfileMode::kOff, "SWIFTLET_CUDA_PROFILE=yes: off");
  check(!flagsWith(nullptr, "1", nullptr).useGemv, "SWIFTLET_CUDA_NO_GEMV=1: no GEMV");
  check(flagsWith(nullptr, "0", nullptr).useGemv, "SWIFTLET_CUDA_NO_GEMV=0: GEMV");
  check(flagsWith(nullptr, nullptr, "1").decodeSimt, "SWIFTLET_DECODE_SIMT=1: SIMT decode");
  check(!flagsWith(nullptr, nullptr, "true").decodeSimt, "SWIFTLET_DECODE_SIMT=true: tensor-core decode");
  flagsWith(nullptr, nullptr, nullptr);

  unsetenv("NCCL_NVLS_ENABLE");
  swiftlet_cuda::setNcclDefaults();
  check(std::string(std::getenv("NCCL_NVLS_ENABLE")) == "0", "NCCL_NVLS_ENABLE defaults to 0");
  setenv("NCCL_NVLS_ENABLE", "1", 1);
  swiftlet_cuda::setNcclDefaults();
  check(std::string(std::getenv("NCCL_NVLS_ENABLE")) == "1", "a NCCL_NVLS_ENABLE the user set is kept");
}

// Qwen2-like: q/k/v bias, no o or MLP bias, no q/k norm; untied unless asked.
ModelConfig smallModel() {
  ModelConfig c;
  c.vocabSize = 100;
  c.hiddenSize = 64;
  c.intermediateSize = 96;
  c.numLayers = 2;
  c.numHeads = 4;
  c.numKvHeads = 2;
  c.headDim = 16;
  c.qkvBias = true;
  return c;
}

void expectShape(const ModelConfig& c, Slot slot, std::vector<int64_t> want) {
  check(swiftlet_cuda::slotShape(c, slot) == want, std::string("shape of ") + swiftlet_common::slotName(slot));
}

void testSlotShapes() {
  const ModelConfig c = smallModel();
  expectShape(c, Slot::kEmbedding, {100, 64});
  expectShape(c, Slot::kLmHead, {100, 64});
  expectShape(c, Slot::kFinalNorm, {64});
  expectShape(c, Slot::kInputNorm, {64});
  expectShape(c, Slot::kPostNorm, {64});
  expectShape(c, Slot::kQkv, {(4 + 2 * 2) * 16, 64});
  expectShape(c, Slot::kQkvBias, {(4 + 2 * 2) * 16});
  expectShape(c, Slot::kO, {64, 4 * 16});
  expectShape(c, Slot::kOBias, {64});
  expectShape(c, Slot::kGateUp, {2 * 96, 64});
  expectShape(c, Slot::kGateUpBias, {2 * 96});
  expectShape(c, Slot::kDown, {64, 96});
  expectShape(c, Slot::kDownBias, {64});
  expectShape(c, Slot::kQNorm, {16});
  expectShape(c, Slot::kKNorm, {16});
}

void testSlotsHeld() {
  using swiftlet_cuda::hasSlot;
  ModelConfig c = smallModel();
  check(hasSlot(c, Slot::kQkv) && hasSlot(c, Slot::kEmbedding) && hasSlot(c, Slot::kFinalNorm), "every model has qkv, embedding, finalNorm");
  check(hasSlot(c, Slot::kQkvBias) && !hasSlot(c, Slot::kOBias), "qkvBias without oBias");
  check(!hasSlot(c, Slot::kGateUpBias) && !hasSlot(c, Slot::kDownBias), "no MLP bias");
  check(!hasSlot(c, Slot::kQNorm) && !hasSlot(c, Slot::kKNorm), "no q/k norm");
  check(hasSlot(c, Slot::kLmHead), "untied rank 0 holds lmHead");
  c.computesLogits = false;
  check(!hasSlot(c, Slot::kLmHead), "a rank that samples nothing holds no lmHead");
  c = smallModel();
  c.tieWordEmbeddings = true;
  check(!hasSlot(c, Slot::kLmHead), "tied: no lmHead");
  c.qkNorm = c.mlpBias = c.oBias = true;
  check(hasSlot(c, Slot::kQNorm) && hasSlot(c, Slot::kKNorm) && hasSlot(c, Slot::kGateUpBias) &&
            hasSlot(c, Slot::kDownBias) && hasSlot(c, Slot::kOBias),
        "the switches add their slots");
}

}  // namespace

int main() {
  testEnvFlags();
  testSlotShapes();
  testSlotsHeld();
  return swiftlet_test::checksPassed("cuda units");
}
