// Per-row step inputs laid out identically on the host (src/) and in the kernels (kernels/):
// the host fills arrays of these and copies them to the device as they are.
#pragma once
#include <cstdint>

#include "../../common/sampling_settings.h"

// A sampled sequence: its settings (temperature, topP, ... as the step gave them), its seed, its
// logits row and its [beg, end) ranges in the step's flattened token lists.
struct SampleRow : swiftlet_common::SamplingSettings {
  uint32_t seedLo, seedHi;
  int logitRow;
  int promptBeg, promptEnd, outputBeg, outputEnd, biasBeg, biasEnd;
  int needsProcessing;
  int bitmaskRow;  // row of StepPlan::tokenBitmask constraining it (structured outputs); -1: none
};

struct PositionRow {
  int logitRow, target;
};
