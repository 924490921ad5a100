#include "step_plan.h"

#include <algorithm>
#include <limits>

#include "attention_tiles.h"

namespace swiftlet_cuda {
namespace {

using swiftlet_common::SamplingInput;
using swiftlet_common::StepInput;

std::vector<int32_t> padded(std::vector<int32_t> values, size_t length, int32_t fill) {
  values.resize(std::max(values.size(), length), fill);
  return values;
}

// Sequence s's [beg, end) in a token list with these offsets (empty offsets: no sequence has any).
void listRange(const std::vector<int32_t>& offsets, int s, int& beg, int& end) {
  beg = offsets.empty() ? 0 : offsets[s];
  end = offsets.empty() ? 0 : offsets[s + 1];
}

SampleRow sampleRow(const SamplingInput& sampling, int s) {
  SampleRow r{};
  static_cast<swiftlet_common::SamplingSettings&>(r) = sampling.settingsOf(s);
  // NOTE: 0 (unset) means no repetition penalty; the kernels divide by it.
  if (!(r.repetitionPenalty > 0)) r.repetitionPenalty = 1.f;
  r.seedLo = sampling.seeds[2 * s];
  r.seedHi = sampling.seeds[2 * s + 1];
  listRange(sampling.promptStart, s, r.promptBeg, r.promptEnd);
  listRange(sampling.outputStart, s, r.outputBeg, r.outputEnd);
  listRange(sampling.biasStart, s, r.biasBeg, r.biasEnd);
  r.needsProcessing = r.repetitionPenalty != 1.f || r.presencePenalty != 0.f || r.frequencyPenalty != 0.f || r.biasEnd > r.biasBeg;
  r.bitmaskRow = -1;
  return r;
}

// Token, sequence and adapter arrays, padded to the graph bucket when there is one.
void planInputs(StepInput& step, int maxBlocksPerSeq, StepPlan& plan) {
  const int S = step.numSeqs, T = step.numTokens;
  const int numRows = plan.graphBucket > 0 ? plan.graphBucket : S;
  const int numTokenRows = plan.graphBucket > 0 ? plan.graphBucket : T;
  plan.tokenIds = padded(std::move(step.tokenIds), numTokenRows, 0);
  plan.positions = padded(std::move(step.positions), numTokenRows, 0);
  plan.slotMapping = padded(std::move(step.slotMapping), numTokenRows, -1);
  // NOTE: padding sequences hold one padding token each, so every row of a graph is a decode row.
  plan.queryStart = std::move(step.queryStart);
  for (int s = S + 1; s <= numRows; s++) plan.queryStart.push_back(T + (s - S));
  plan.contextLens = padded(std::move(step.contextLens), numRows, 0);
  plan.blockTables.assign(static_cast<size_t>(numRows) * maxBlocksPerSeq, -1);
  const int numCopied = std::min(step.maxBlocksPerSeq, maxBlocksPerSeq);
  for (int s = 0; s < S; s++) {
    const auto row = step.blockTables.begin() + static_cast<size_t>(s) * step.maxBlocksPerSeq;
    std::copy(row, row + numCopied, plan.blockTables.begin() + static_cast<size_t>(s) * maxBlocksPerSeq);
  }
  if (!step.ropeInvFreq.empty()) {
    plan.tokenSeq.assign(numTokenRows, 0);
    for (int s = 0; s < numRows; s++)
      std::fill(plan.tokenSeq.begin() + plan.queryStart[s], plan.tokenSeq.begin() + plan.queryStart[s + 1], s);
    const size_t width = step.ropeInvFreq.size() / S;
    plan.ropeInvFreq = std::move(step.ropeInvFreq);
    plan.ropeInvFreq.resize(numRows * width, 0.f);
  }
  for (int s = 0; s < S; s++) plan.anyLora |= step.adapterSlots[s] >= 0;
  if (plan.anyLora) {
    plan.tokenSlots.assign(numTokenRows, -1);
    for (int s = 0; s < S; s++)
      std::fill(plan.tokenSlots.begin() + plan.queryStart[s], plan.tokenSlots.begin() + plan.queryStart[s + 1], step.adapterSlots[s]);
  }
}

// Why: a speculative verify step scores its draft rows here, and plain decoding scores the same
// positions with the decode attention kernel; the prefill kernel rounds differently in bf16, which
// flips near-ties, so greedy speculation would not reproduce plain decoding. As one-query rows
// (the sequence's block table, the context up to each query) they take the decode kernel's path.
// Skipped when the rows would not fit the model's attention inputs.
void splitShortQueries(int maxAttentionRows, int maxBlocksPerSeq, StepPlan& plan) {
  const int S = plan.numSeqs;
  auto numQueries = [&plan](int s) { return plan.queryStart[s + 1] - plan.queryStart[s]; };
  auto splits = [&](int s) { return numQueries(s) > 1 && numQueries(s) <= kMaxSplitQueries; };
  int numRows = 0;
  for (int s = 0; s < S; s++) numRows += splits(s) ? numQueries(s) : 1;
  if (numRows == S || numRows > maxAttentionRows) return;
  std::vector<int32_t> queryStart{0}, contextLens, blockTables;
  blockTables.reserve(static_cast<size_t>(numRows) * maxBlocksPerSeq);
  for (int s = 0; s < S; s++) {
    const int q = numQueries(s), rows = splits(s) ? q : 1;
    const auto table = plan.blockTables.begin() + static_cast<size_t>(s) * maxBlocksPerSeq;
    for (int r = 0; r < rows; r++) {
      const bool last = r == rows - 1;
      queryStart.push_back(last ? plan.queryStart[s + 1] : plan.queryStart[s] + r + 1);
      contextLens.push_back(plan.contextLens[s] - (rows - 1 - r));
      blockTables.insert(blockTables.end(), table, table + maxBlocksPerSeq);
    }
  }
  plan.numAttentionRows = numRows;
  plan.queryStart = std::move(queryStart);
  plan.contextLens = std::move(contextLens);
  plan.blockTables = std::move(blockTables);
}

void planWorkItems(StepPlan& plan) {
  if (plan.graphBucket > 0) return;
  for (int s = 0; s < plan.numAttentionRows; s++) {
    const int numQueries = plan.queryStart[s + 1] - plan.queryStart[s];
    if (numQueries == 1) continue;  // one-query rows go to the decode attention kernel
    for (int first = 0; first < numQueries; first += attn::BQ) {
      plan.workItems.push_back(s);
      plan.workItems.push_back(first);
    }
  }
}

// Only the constrained rows' masks are uploaded: most rows of a mixed batch have none.
void planTokenBitmask(const swiftlet_common::TokenBitmaskInput& mask, int s, SampleRow& r, StepPlan& plan) {
  const uint32_t* row = mask.rowOf(s);
  if (row == nullptr) return;
  plan.bitmaskNumWords = mask.numWords;
  r.bitmaskRow = static_cast<int>(plan.tokenBitmask.size() / mask.numWords);
  plan.tokenBitmask.insert(plan.tokenBitmask.end(), row, row + mask.numWords);
}

void planSampleRows(StepInput& step, StepPlan& plan) {
  SamplingInput& sampling = step.sampling;
  bool anyRepetition = false;
  for (int s = 0; s < step.numSeqs; s++) {
    if (!sampling.doSample[s]) continue;
    SampleRow r = sampleRow(sampling, s);
    r.logitRow = plan.graphBucket > 0 ? s : static_cast<int>(plan.sampleRows.size());
    anyRepetition |= r.repetitionPenalty != 1.f;
    plan.anyProcessing |= r.needsProcessing != 0;
    plan.sampleTopK = std::max(plan.sampleTopK, r.numLogprobs);
    planTokenBitmask(step.tokenBitmask, s, r, plan);
    plan.sampleRows.push_back(r);
    plan.sampledSeq.push_back(s);
    plan.logitRows.push_back(plan.queryStart[s + 1] - 1);
  }
  // The prompt ids serve only the repetition penalty: without one they are not uploaded.
  if (anyRepetition) {
    plan.promptTokenIds = std::move(sampling.promptTokenIds);
  } else {
    for (SampleRow& r : plan.sampleRows) r.promptBeg = r.promptEnd = 0;
  }
  plan.outputTokenIds = std::move(sampling.outputTokenIds);
  plan.biasTokenIds = std::move(sampling.biasTokenIds);
  plan.biasValues = std::move(sampling.biasValues);
}

void planPositionRows(const swiftlet_common::PositionLogprobsInput& positions, StepPlan& plan) {
  if (!positions.wanted) return;
  plan.positionTopK = std::max(0, positions.topK);
  const int numSampleRows = static_cast<int>(plan.sampleRows.size());
  for (size_t e = 0; e < positions.tokenIndex.size(); e++) {
    plan.positionRows.push_back(PositionRow{numSampleRows + static_cast<int>(e), positions.targetTokenId[e]});
    plan.logitRows.push_back(positions.tokenIndex[e]);
  }
}

// NOTE: they ride as logits rows so the final norm runs once for them; their logits go unused.
void planHiddenStateRows(const std::vector<int32_t>& rows, StepPlan& plan) {
  plan.numHiddenRows = static_cast<int>(rows.size());
  plan.logitRows.insert(plan.logitRows.end(), rows.begin(), rows.end());
}

}  // namespace

StepPlan planStep(StepInput step, const PlanOptions& options) {
  StepPlan plan;
  plan.numSeqs = step.numSeqs;
  plan.numTokens = step.numTokens;
  // NOTE: every sequence has at least one token (validateStep), so numSeqs == numTokens means all decode.
  const bool isDecode = step.numSeqs == step.numTokens && !step.positionLogprobs.wanted && step.hiddenStateRows.empty();
  plan.graphBucket = isDecode && options.graphBucketFor ? options.graphBucketFor(step.numSeqs) : 0;
  planInputs(step, options.maxBlocksPerSeq, plan);
  plan.numAttentionRows = plan.graphBucket > 0 ? plan.graphBucket : plan.numSeqs;
  planSampleRows(step, plan);
  planPositionRows(step.positionLogprobs, plan);
  planHiddenStateRows(step.hiddenStateRows, plan);
  // NOTE: after the rows above, which find each sequence's tokens by its own queryStart.
  if (plan.graphBucket == 0) splitShortQueries(options.maxAttentionRows, options.maxBlocksPerSeq, plan);
  planWorkItems(plan);
  if (plan.graphBucket > 0) {
    // The graph computes logits for every row of its bucket.
    plan.logitRows.resize(plan.graphBucket);
    for (int s = 0; s < plan.graphBucket; s++) plan.logitRows[s] = s;
  }
  return plan;
}

void planLateTokenBitmask(const swiftlet_common::TokenBitmaskInput& mask, StepPlan& plan) {
  for (size_t i = 0; i < plan.sampleRows.size(); i++) planTokenBitmask(mask, plan.sampledSeq[i], plan.sampleRows[i], plan);
}

swiftlet_common::StepResult resultsBySequence(const StepPlan& plan, RowResults rows) {
  const int S = plan.numSeqs, K = plan.sampleTopK;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  swiftlet_common::StepResult result;
  result.sampledTokenIds.assign(S, -1);
  result.sampledLogprobs.assign(S, nan);
  result.topK = K;
  result.topTokenIds.assign(static_cast<size_t>(S) * K, -1);
  result.topLogprobs.assign(static_cast<size_t>(S) * K, nan);
  for (size_t i = 0; i < plan.sampledSeq.size(); i++) {
    const int s = plan.sampledSeq[i];
    result.sampledTokenIds[s] = rows.sampledTokenIds[i];
    result.sampledLogprobs[s] = rows.sampledLogprobs[i];
    // A row asked for its own numLogprobs; the rest of the step's K stays -1 / NaN.
    const int k = std::min(std::max(0, plan.sampleRows[i].numLogprobs), K);
    for (int j = 0; j < k; j++) {
      result.topTokenIds[static_cast<size_t>(s) * K + j] = rows.topTokenIds[i * K + j];
      result.topLogprobs[static_cast<size_t>(s) * K + j] = rows.topLogprobs[i * K + j];
    }
  }
  result.positionTargetLogprobs = std::move(rows.positionTargetLogprobs);
  result.positionTopTokenIds = std::move(rows.positionTopTokenIds);
  result.positionTopLogprobs = std::move(rows.positionTopLogprobs);
  result.hiddenStates = std::move(rows.hiddenStates);
  return result;
}

}  // namespace swiftlet_cuda
