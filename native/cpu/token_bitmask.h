// Structured outputs' grammar mask on one row of logits (StepBatch.tokenBitmask).
#pragma once
#include <cstdint>

namespace swiftlet {

/**
 * Sets every logit the row's bitmask disallows to -infinity; a null row (an unconstrained
 * sequence) changes nothing. Runs before logprobs, penalties and temperature, as vLLM applies
 * the grammar bitmask to the logits before its sampler: logprobs are of the masked distribution.
 */
void applyTokenBitmask(float* logits, int vocabSize, const uint32_t* bitmaskRow);

}  // namespace swiftlet
