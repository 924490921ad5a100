// Per-row step inputs laid out identically on the host (src/) and in the kernels (kernels/):
// the host fills arrays of these and copies them to the device as they are.
#pragma once
#include <cstdint>

struct SampleRow {
  float temperature, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty;
  int topK;
  uint32_t seedLo, seedHi;
  int sampleIndex, numLogprobs, logitRow;
  int promptBeg, promptEnd, outputBeg, outputEnd, biasBeg, biasEnd;
  int needsProcessing;
};

struct PositionRow {
  int logitRow, target;
};
