// A validated step turned into what the CUDA model uploads and launches: inputs padded to a
// decode graph's bucket, the prefill attention's work items, the logits rows and the sampling
// rows; and the model's per-row results turned back into the per-sequence StepResult.
// Pure C++ (no N-API, no CUDA driver calls): native/cuda/test/step_plan_test.cc runs it without a GPU.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "step_contract.h"
#include "step_rows.h"

namespace swiftlet_cuda {

struct PlanOptions {
  int maxBlocksPerSeq = 0;  // the model's block-table stride (maxModelLen in KV blocks)
  // The decode graph bucket for a step of this many one-token sequences; 0 (or unset): run eagerly.
  std::function<int(int numSeqs)> graphBucketFor;
  // Rows the model's attention inputs hold (its maxNumSeqs); 0: short queries are not split.
  int maxAttentionRows = 0;
};

// A sequence with at most this many queries in an eager step (speculative verify rows, a short
// prompt chunk) is split into one-query rows for the decode attention kernel.
constexpr int kMaxSplitQueries = 8;

struct StepPlan {
  std::chrono::steady_clock::time_point received;  // when the addon got the step (profiles its parsing)
  int numSeqs = 0, numTokens = 0;
  // > 0: replay (or capture) the decode graph of this many sequences; the token and sequence
  // arrays are padded to it (padding tokens write no KV slot and belong to empty sequences).
  int graphBucket = 0;
  std::vector<int32_t> tokenIds, positions, slotMapping;  // [numTokens or graphBucket]
  // The attention's rows: a sequence each, a graph's padding rows, or one per query of a split
  // sequence (kMaxSplitQueries). Row r's queries are tokens [queryStart[r], queryStart[r + 1]).
  int numAttentionRows = 0;
  std::vector<int32_t> queryStart;                        // [numAttentionRows + 1]
  std::vector<int32_t> contextLens;                       // [numAttentionRows]
  std::vector<int32_t> blockTables;                       // [numAttentionRows * PlanOptions::maxBlocksPerSeq], -1 padded
  // Prefill attention tiles (eager steps): (attention row, first query) pairs, attn::BQ queries each.
  std::vector<int32_t> workItems;
  bool anyLora = false;
  std::vector<int32_t> tokenSlots;  // adapter slot of each token (-1: base); filled only when anyLora
  // Per-sequence rotary (StepInput::ropeInvFreq), filled only when the step has it: each token's
  // sequence row, and the rows (padding sequences' rows are zero: their tokens write no cache).
  std::vector<int32_t> tokenSeq;  // [numTokens or graphBucket]
  std::vector<float> ropeInvFreq;  // [rows * rotaryDim / 2]
  // Token index of each logits row: sample rows first, then position rows, then hidden-state rows
  // (a graph: row s = token s).
  std::vector<int32_t> logitRows;
  // Rows whose final-normed hidden state goes back (embeddings): the last numHiddenRows logits rows.
  int numHiddenRows = 0;
  std::vector<int32_t> sampledSeq;  // sequence of each sample row
  std::vector<SampleRow> sampleRows;
  std::vector<PositionRow> positionRows;
  int sampleTopK = 0, positionTopK = 0;
  bool anyProcessing = false;  // some sample row has penalties or a logit bias
  // The token lists the sample rows' [beg, end) ranges index (prompt ids only when a row needs them).
  std::vector<int32_t> promptTokenIds, outputTokenIds, biasTokenIds;
  std::vector<float> biasValues;
  // Grammar masks of the constrained sample rows, bitmaskNumWords u32 words each (SampleRow::bitmaskRow).
  std::vector<uint32_t> tokenBitmask;
  int bitmaskNumWords = 0;
};

// `step` must have passed swiftlet_common::validateStep with the model's limits.
StepPlan planStep(swiftlet_common::StepInput step, const PlanOptions& options);

// A late mask (swiftlet_common::LateTokenBitmask) into a plan made from a step without one,
// as planStep would have placed it; the mask passed checkTokenBitmask.
void planLateTokenBitmask(const swiftlet_common::TokenBitmaskInput& mask, StepPlan& plan);

// What the model computed, per sample row and per position entry (rank 0 only).
struct RowResults {
  std::vector<int32_t> sampledTokenIds;   // [sample rows]
  std::vector<float> sampledLogprobs;     // [sample rows]
  std::vector<int32_t> topTokenIds;       // [sample rows * sampleTopK]
  std::vector<float> topLogprobs;         // [sample rows * sampleTopK]
  std::vector<float> positionTargetLogprobs;  // [position rows]
  std::vector<int32_t> positionTopTokenIds;   // [position rows * positionTopK]
  std::vector<float> positionTopLogprobs;     // [position rows * positionTopK]
  std::vector<float> hiddenStates;            // [hidden rows * hiddenSize]
};

// The rows' results in the step's per-sequence form (-1 / NaN where a sequence sampled nothing).
swiftlet_common::StepResult resultsBySequence(const StepPlan& plan, RowResults rows);

}  // namespace swiftlet_cuda
