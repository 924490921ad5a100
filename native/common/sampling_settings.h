// One sequence's sampling settings: one value of each per-sequence array of StepBatch.sampling
// (src/runtime/types.ts SamplingBatch). A new sampling parameter is one line here; the JS reader,
// the length checks, the CPU sampler's row and the CUDA kernels' sample row follow from it.
// NOTE: only <cstdint>, because the CUDA kernels include it too (native/cuda/src/step_rows.h).
#pragma once
#include <cstdint>

// (element type, field name)
#define SWIFTLET_SAMPLING_PER_SEQUENCE(X) \
  X(uint8_t, doSample)                    \
  X(float, temperature)                   \
  X(float, topP)                          \
  X(int32_t, topK)                        \
  X(float, minP)                          \
  X(float, repetitionPenalty)             \
  X(float, presencePenalty)               \
  X(float, frequencyPenalty)              \
  X(int32_t, sampleIndex)                 \
  X(int32_t, numLogprobs)

namespace swiftlet_common {

struct SamplingSettings {
#define SWIFTLET_SETTING(type, name) type name;
  SWIFTLET_SAMPLING_PER_SEQUENCE(SWIFTLET_SETTING)
#undef SWIFTLET_SETTING
};

}  // namespace swiftlet_common
