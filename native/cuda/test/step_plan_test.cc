// The CUDA step planner (src/step_plan.h), the one step rule set (native/common/step_contract.h)
// and late grammar masks (native/common/late_token_bitmask.h), without a GPU or Node. Built and
// run by test/cuda-step-plan.test.ts (g++ -std=c++17 -pthread with -Inative/common
// -Inative/cuda/src, this file, src/step_plan.cc, native/common/step_contract.cc and
// native/common/late_token_bitmask.cc).
// Prints each failed check and exits non-zero if any failed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "attention_tiles.h"
#include "late_token_bitmask.h"
#include "layout.h"
#include "step_contract.h"
#include "step_plan.h"

using swiftlet_common::kKvBlockSize;
using swiftlet_common::StepInput;
using swiftlet_common::StepLimits;
using swiftlet_cuda::kMaxSplitQueries;
using swiftlet_cuda::planStep;
using swiftlet_cuda::PlanOptions;
using swiftlet_cuda::StepPlan;

namespace {

int numFailed = 0;

void check(bool ok, const std::string& what) {
  if (ok) return;
  numFailed++;
  std::printf("FAIL: %s\n", what.c_str());
}

template <class T>
std::string show(const std::vector<T>& values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); i++) s += (i ? ", " : "") + std::to_string(values[i]);
  return s + "]";
}

template <class T>
void checkEqual(const std::vector<T>& actual, const std::vector<T>& expected, const std::string& what) {
  check(actual == expected, what + ": got " + show(actual) + ", expected " + show(expected));
}

constexpr int kVocab = 100, kNumKvBlocks = 64, kMaxBlocksPerSeq = 8;

StepLimits limits() {
  StepLimits l;
  l.vocabSize = kVocab;
  l.numKvBlocks = kNumKvBlocks;
  l.maxContext = kMaxBlocksPerSeq * kKvBlockSize;
  l.maxNumSeqs = 8;
  l.maxNumTokens = 512;
  l.maxLoras = 2;
  l.hasAdapter = [](int slot) { return slot == 1; };
  return l;
}

// A valid step: sequence s computes numNew[s] tokens after numCached[s] cached ones, in its own
// KV blocks (8 per sequence), greedy, no penalties, no token lists.
StepInput makeStep(const std::vector<int>& numNew, const std::vector<int>& numCached) {
  StepInput step;
  step.numSeqs = static_cast<int>(numNew.size());
  step.maxBlocksPerSeq = kMaxBlocksPerSeq;
  step.queryStart.push_back(0);
  for (int s = 0; s < step.numSeqs; s++) {
    const int contextLen = numCached[s] + numNew[s];
    for (int p = numCached[s]; p < contextLen; p++) {
      step.tokenIds.push_back((s * 7 + p) % kVocab);
      step.positions.push_back(p);
      step.slotMapping.push_back((s * kMaxBlocksPerSeq + p / kKvBlockSize) * kKvBlockSize + p % kKvBlockSize);
    }
    step.queryStart.push_back(static_cast<int32_t>(step.tokenIds.size()));
    step.contextLens.push_back(contextLen);
    step.adapterSlots.push_back(-1);
    for (int b = 0; b < kMaxBlocksPerSeq; b++) step.blockTables.push_back(b * kKvBlockSize < contextLen ? s * kMaxBlocksPerSeq + b : -1);
  }
  step.numTokens = static_cast<int>(step.tokenIds.size());
  const size_t S = numNew.size();
  swiftlet_common::SamplingInput& sampling = step.sampling;
  // Zero for every setting (so a new one needs nothing here), then the ones whose off is not 0.
#define SWIFTLET_ZERO(type, name) sampling.name.assign(S, type{});
  SWIFTLET_SAMPLING_PER_SEQUENCE(SWIFTLET_ZERO)
#undef SWIFTLET_ZERO
  sampling.doSample.assign(S, 1);
  sampling.topP.assign(S, 1.f);
  sampling.repetitionPenalty.assign(S, 1.f);
  sampling.numLogprobs.assign(S, -1);
  sampling.seeds.assign(2 * S, 0);
  return step;
}

PlanOptions options(int bucket) {
  PlanOptions o;
  o.maxBlocksPerSeq = kMaxBlocksPerSeq;
  o.graphBucketFor = [bucket](int) { return bucket; };
  return o;
}

void testGraphBucketPadding() {
  StepInput step = makeStep({1, 1, 1}, {5, 20, 40});
  step.adapterSlots[1] = 1;
  const StepPlan plan = planStep(step, options(4));
  check(plan.graphBucket == 4, "a decode step of 3 takes the bucket of 4");
  checkEqual(plan.tokenIds, {step.tokenIds[0], step.tokenIds[1], step.tokenIds[2], 0}, "bucket: tokenIds padded with 0");
  checkEqual(plan.positions, {5, 20, 40, 0}, "bucket: positions padded with 0");
  checkEqual(plan.slotMapping, {step.slotMapping[0], step.slotMapping[1], step.slotMapping[2], -1}, "bucket: padding writes no slot");
  checkEqual(plan.queryStart, {0, 1, 2, 3, 4}, "bucket: padding sequences hold one token each");
  checkEqual(plan.contextLens, {6, 21, 41, 0}, "bucket: contextLens padded with 0");
  check(plan.blockTables.size() == 4u * kMaxBlocksPerSeq, "bucket: one block-table row per bucket row");
  check(plan.blockTables[3 * kMaxBlocksPerSeq] == -1, "bucket: the padding row has no blocks");
  check(plan.blockTables[2 * kMaxBlocksPerSeq + 2] == 2 * kMaxBlocksPerSeq + 2, "bucket: sequence rows are copied");
  check(plan.anyLora, "bucket: an adapter row turns LoRA on");
  checkEqual(plan.tokenSlots, {-1, 1, -1, -1}, "bucket: tokenSlots per token, padding -1");
  check(plan.workItems.empty(), "bucket: a graph step has no prefill work items");
  checkEqual(plan.logitRows, {0, 1, 2, 3}, "bucket: the graph's logits rows are its rows");
  check(plan.sampleRows.size() == 3 && plan.sampleRows[2].logitRow == 2, "bucket: sample row s reads logits row s");

  const StepPlan noGraph = planStep(makeStep({1, 1, 1}, {5, 20, 40}), options(0));
  check(noGraph.graphBucket == 0 && noGraph.tokenIds.size() == 3 && noGraph.queryStart.size() == 4, "no bucket: nothing is padded");
  check(planStep(makeStep({1, 2}, {5, 5}), options(4)).graphBucket == 0, "a step with a prefill row is not a graph step");
  StepInput withPositions = makeStep({1, 1}, {5, 5});
  withPositions.positionLogprobs = {true, {0}, {3}, 1};
  check(planStep(withPositions, options(4)).graphBucket == 0, "a step asking for position logprobs is not a graph step");
  StepInput withHidden = makeStep({1, 1}, {5, 5});
  withHidden.hiddenStateRows = {1};
  check(planStep(withHidden, options(4)).graphBucket == 0, "a step asking for hidden states is not a graph step");
}

void testPrefillWorkItems() {
  const int longPrefill = 2 * attn::BQ + 22;
  const StepPlan plan = planStep(makeStep({longPrefill, 1, attn::BQ}, {0, 9, 16}), options(0));
  checkEqual(plan.workItems, {0, 0, 0, attn::BQ, 0, 2 * attn::BQ, 2, 0},
             "work items: one (sequence, first query) per BQ queries of each prefill row, none for decode rows");
  checkEqual(plan.logitRows, {longPrefill - 1, longPrefill, longPrefill + attn::BQ}, "eager: a sample row reads its last token");
}

void testSplitShortQueries() {
  // A verify step (1 + 3 drafts after 20 cached), a decode row and a prefill of kMaxSplitQueries + 1.
  const int longQueries = kMaxSplitQueries + 1;
  PlanOptions o = options(0);
  o.maxAttentionRows = 8;
  const StepPlan plan = planStep(makeStep({4, 1, longQueries}, {20, 9, 0}), o);
  check(plan.numSeqs == 3 && plan.numAttentionRows == 6, "split: the 4-query sequence becomes 4 rows, the others stay");
  checkEqual(plan.queryStart, {0, 1, 2, 3, 4, 5, 5 + longQueries}, "split: one query per split row");
  checkEqual(plan.contextLens, {21, 22, 23, 24, 10, longQueries}, "split: each row sees the context up to its query");
  for (int r = 0; r < 4; r++)
    check(plan.blockTables[static_cast<size_t>(r) * kMaxBlocksPerSeq + 1] == 1, "split: the rows share the sequence's block table");
  check(plan.blockTables[5 * static_cast<size_t>(kMaxBlocksPerSeq)] == 2 * kMaxBlocksPerSeq, "split: later rows keep their own table");
  checkEqual(plan.workItems, {5, 0}, "split: only the long prefill gets prefill work items, at its new row");
  checkEqual(plan.logitRows, {3, 4, 4 + longQueries}, "split: sample rows still read each sequence's last token");

  o.maxAttentionRows = 5;
  const StepPlan tooMany = planStep(makeStep({4, 1, longQueries}, {20, 9, 0}), o);
  check(tooMany.numAttentionRows == 3 && tooMany.queryStart.size() == 4u, "split: not when the rows exceed the model's inputs");
  checkEqual(tooMany.workItems, {0, 0, 2, 0}, "split: unsplit short sequences stay prefill work");
}

void testSampleRows() {
  StepInput step = makeStep({2, 1, 3}, {0, 4, 0});
  swiftlet_common::SamplingInput& sampling = step.sampling;
  sampling.doSample = {1, 0, 1};
  sampling.repetitionPenalty = {1.3f, 1.f, 0.f};
  sampling.numLogprobs = {2, -1, 5};
  sampling.promptTokenIds = {4, 5, 6, 7, 8};
  sampling.promptStart = {0, 2, 2, 5};
  sampling.biasTokenIds = {11, 12, 13};
  sampling.biasValues = {-1.f, 2.f, 0.5f};
  sampling.biasStart = {0, 0, 0, 3};
  const StepPlan plan = planStep(step, options(0));
  check(plan.sampleRows.size() == 2, "only doSample sequences get a sample row");
  checkEqual(plan.sampledSeq, {0, 2}, "sampledSeq");
  checkEqual(plan.logitRows, {1, 5}, "sample rows read their sequence's last token");
  const SampleRow& first = plan.sampleRows[0];
  const SampleRow& last = plan.sampleRows[1];
  check(first.logitRow == 0 && last.logitRow == 1, "eager sample rows read logits rows in order");
  check(first.promptBeg == 0 && first.promptEnd == 2 && last.promptBeg == 2 && last.promptEnd == 5, "prompt ranges from promptStart");
  check(first.biasBeg == 0 && first.biasEnd == 0 && last.biasBeg == 0 && last.biasEnd == 3, "bias ranges from biasStart");
  check(first.outputBeg == 0 && first.outputEnd == 0, "empty outputStart: empty output ranges");
  check(last.repetitionPenalty == 1.f, "repetition penalty 0 means none");
  check(first.needsProcessing && last.needsProcessing && plan.anyProcessing, "a penalty or a bias needs the processing pass");
  check(plan.sampleTopK == 5, "sampleTopK is the largest numLogprobs");
  checkEqual(plan.promptTokenIds, {4, 5, 6, 7, 8}, "prompt ids kept for the repetition penalty");
  checkEqual(plan.biasTokenIds, {11, 12, 13}, "bias ids");

  sampling.repetitionPenalty = {1.f, 1.f, 1.f};
  sampling.biasStart.clear();
  sampling.biasTokenIds.clear();
  sampling.biasValues.clear();
  const StepPlan plain = planStep(step, options(0));
  check(plain.promptTokenIds.empty() && plain.sampleRows[1].promptEnd == 0, "without a repetition penalty no prompt ids are uploaded");
  check(!plain.anyProcessing, "no penalty and no bias: no processing pass");
}

void testPositionRows() {
  StepInput step = makeStep({4, 1}, {0, 7});
  step.sampling.doSample = {0, 1};
  step.positionLogprobs = {true, {0, 1, 2}, {9, -1, 33}, 3};
  const StepPlan plan = planStep(step, options(0));
  check(plan.positionTopK == 3, "positionTopK");
  check(plan.positionRows.size() == 3, "one position row per entry");
  check(plan.positionRows[0].logitRow == 1 && plan.positionRows[2].logitRow == 3, "position rows follow the sample rows");
  check(plan.positionRows[1].target == -1 && plan.positionRows[2].target == 33, "position targets");
  checkEqual(plan.logitRows, {4, 0, 1, 2}, "logits rows: sample rows, then the position entries' tokens");

  swiftlet_cuda::RowResults rows;
  rows.sampledTokenIds = {42};
  rows.sampledLogprobs = {-0.5f};
  rows.positionTargetLogprobs = {-1.f, NAN, -2.f};
  const swiftlet_common::StepResult result = resultsBySequence(plan, rows);
  checkEqual(result.sampledTokenIds, {-1, 42}, "results: per sequence, -1 where not sampled");
  check(std::isnan(result.sampledLogprobs[0]) && result.sampledLogprobs[1] == -0.5f, "results: NaN where not sampled");
  check(result.positionTargetLogprobs.size() == 3, "results: position entries pass through");
}

void testHiddenStateRows() {
  StepInput step = makeStep({4, 1}, {0, 7});
  step.positionLogprobs = {true, {0}, {9}, 1};
  step.hiddenStateRows = {3, 0};
  const StepPlan plan = planStep(step, options(0));
  check(plan.numHiddenRows == 2, "numHiddenRows");
  checkEqual(plan.logitRows, {3, 4, 0, 3, 0}, "logits rows: sample rows, position rows, then the hidden-state rows");
  swiftlet_cuda::RowResults rows;
  rows.sampledTokenIds = {1, 2};
  rows.sampledLogprobs = {0.f, 0.f};
  rows.hiddenStates = {1.f, 2.f, 3.f, 4.f};
  checkEqual(resultsBySequence(plan, rows).hiddenStates, {1.f, 2.f, 3.f, 4.f}, "results: hidden states pass through");
}

void testResultsTopK() {
  StepInput step = makeStep({1, 1}, {3, 3});
  step.sampling.numLogprobs = {1, 2};
  const StepPlan plan = planStep(step, options(0));
  swiftlet_cuda::RowResults rows;
  rows.sampledTokenIds = {5, 6};
  rows.sampledLogprobs = {-1.f, -2.f};
  rows.topTokenIds = {5, 7, 6, 8};
  rows.topLogprobs = {-1.f, -3.f, -2.f, -4.f};
  const swiftlet_common::StepResult result = resultsBySequence(plan, rows);
  check(result.topK == 2, "results: topK is the step's largest numLogprobs");
  checkEqual(result.topTokenIds, {5, -1, 6, 8}, "results: a row reports its own numLogprobs, the rest -1");
}

// Each rule of validateStep: a valid step broken in one place fails naming the rule.
void expectInvalid(const std::string& rule, const std::string& expected, StepInput step, StepLimits l = limits()) {
  try {
    swiftlet_common::validateStep(step, l);
    check(false, rule + ": accepted");
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    check(message.rfind("invalid step: ", 0) == 0 && message.find(expected) != std::string::npos,
          rule + ": message \"" + message + "\" lacks \"" + expected + "\"");
  }
}

template <class Edit>
void expectInvalid(const std::string& rule, const std::string& expected, Edit edit) {
  StepInput step = makeStep({3, 1}, {0, 17});
  edit(step);
  expectInvalid(rule, expected, step);
}

void testValidateStep() {
  try {
    swiftlet_common::validateStep(makeStep({3, 1}, {0, 17}), limits());
  } catch (const std::exception& e) {
    check(false, std::string("a valid step is rejected: ") + e.what());
  }
  expectInvalid("empty step", "at least one sequence", makeStep({}, {}));
  StepLimits fewSeqs = limits();
  fewSeqs.maxNumSeqs = 1;
  expectInvalid("maxNumSeqs", "more than maxNumSeqs 1", makeStep({3, 1}, {0, 17}), fewSeqs);
  StepLimits fewTokens = limits();
  fewTokens.maxNumTokens = 3;
  expectInvalid("maxNumTokens", "more than maxNumTokens 3", makeStep({3, 1}, {0, 17}), fewTokens);
  expectInvalid("tokenIds length", "tokenIds has 5 entries", [](StepInput& s) { s.tokenIds.push_back(1); });
  expectInvalid("positions length", "positions has 3 entries", [](StepInput& s) { s.positions.pop_back(); });
  expectInvalid("slotMapping length", "slotMapping", [](StepInput& s) { s.slotMapping.pop_back(); });
  expectInvalid("queryStart length", "queryStart has 4 entries", [](StepInput& s) { s.queryStart.push_back(4); });
  expectInvalid("contextLens length", "contextLens", [](StepInput& s) { s.contextLens.pop_back(); });
  expectInvalid("adapterSlots length", "adapterSlots", [](StepInput& s) { s.adapterSlots.push_back(-1); });
  expectInvalid("blockTables length", "blockTables", [](StepInput& s) { s.blockTables.push_back(-1); });
  expectInvalid("sampling array length", "sampling.minP has 1 entries", [](StepInput& s) { s.sampling.minP.pop_back(); });
  expectInvalid("seeds length", "sampling.seeds", [](StepInput& s) { s.sampling.seeds.pop_back(); });
  expectInvalid("offsets length", "sampling.outputStart has 2 entries", [](StepInput& s) { s.sampling.outputStart = {0, 0}; });
  expectInvalid("offsets end", "sampling.promptStart must run from 0", [](StepInput& s) {
    s.sampling.promptTokenIds = {1, 2};
    s.sampling.promptStart = {0, 1, 1};
  });
  expectInvalid("offsets decrease", "sampling.biasStart decreases", [](StepInput& s) {
    s.sampling.biasTokenIds = {1};
    s.sampling.biasValues = {0.f};
    s.sampling.biasStart = {0, 2, 1};
  });
  expectInvalid("list without offsets", "sampling.outputStart is empty", [](StepInput& s) { s.sampling.outputTokenIds = {3}; });
  expectInvalid("biasValues length", "sampling.biasValues", [](StepInput& s) {
    s.sampling.biasTokenIds = {1};
    s.sampling.biasStart = {0, 1, 1};
  });
  expectInvalid("queryStart ends", "queryStart must run from 0 to numTokens", [](StepInput& s) { s.queryStart[2] = 3; });
  expectInvalid("zero-token sequence", "sequence 0 has no tokens", [](StepInput& s) { s.queryStart[1] = 0; });
  expectInvalid("token id", "token id 100 is outside the vocabulary", [](StepInput& s) { s.tokenIds[1] = kVocab; });
  expectInvalid("negative token id", "token id -1", [](StepInput& s) { s.tokenIds[0] = -1; });
  expectInvalid("position beyond the context", "position 18 of sequence 1", [](StepInput& s) { s.positions[3] = 18; });
  expectInvalid("context beyond maxContext", "context length 129", [](StepInput& s) { s.contextLens[1] = 129; });
  expectInvalid("context shorter than the step", "context length 2", [](StepInput& s) { s.contextLens[0] = 2; });
  expectInvalid("slot", "slot -1 is outside the KV cache", [](StepInput& s) { s.slotMapping[0] = -1; });
  expectInvalid("slot beyond the cache", "outside the KV cache", [](StepInput& s) { s.slotMapping[2] = kNumKvBlocks * kKvBlockSize; });
  expectInvalid("blocks per sequence", "needs more blocks than maxBlocksPerSeq", [](StepInput& s) {
    s.maxBlocksPerSeq = 1;
    s.blockTables = {0, 8};
  });
  expectInvalid("block id", "block id -1", [](StepInput& s) { s.blockTables[kMaxBlocksPerSeq + 1] = -1; });
  expectInvalid("block id beyond the cache", "block id 64", [](StepInput& s) { s.blockTables[0] = kNumKvBlocks; });
  expectInvalid("adapter not loaded", "adapter slot 0, which holds no adapter", [](StepInput& s) { s.adapterSlots[0] = 0; });
  StepInput withAdapter = makeStep({3, 1}, {0, 17});
  withAdapter.adapterSlots[1] = 1;
  StepLimits noLora = limits();
  noLora.maxLoras = 0;
  expectInvalid("LoRA off", "LoRA is off (maxLoras 0)", withAdapter, noLora);
  expectInvalid("numLogprobs", "more logprobs than the vocabulary", [](StepInput& s) { s.sampling.numLogprobs[1] = kVocab + 1; });
  auto withPositions = [](StepInput& s) { s.positionLogprobs = {true, {0, 3}, {1, 2}, 2}; };
  expectInvalid("position arrays", "positionLogprobs.targetTokenId", [&](StepInput& s) {
    withPositions(s);
    s.positionLogprobs.targetTokenId.pop_back();
  });
  expectInvalid("position topK", "positionLogprobs.topK", [&](StepInput& s) {
    withPositions(s);
    s.positionLogprobs.topK = kVocab + 1;
  });
  expectInvalid("position tokenIndex", "positionLogprobs.tokenIndex", [&](StepInput& s) {
    withPositions(s);
    s.positionLogprobs.tokenIndex[1] = 4;
  });
  expectInvalid("position target", "positionLogprobs.targetTokenId 100", [&](StepInput& s) {
    withPositions(s);
    s.positionLogprobs.targetTokenId[0] = kVocab;
  });
  expectInvalid("hidden-state rows", "hiddenStateRows holds 4", [](StepInput& s) { s.hiddenStateRows = {0, 4}; });
}

// makeStep({3, 1}, {0, 17}) with sequence 1 constrained to tokens 3 and 40 (4 words of 32 bits for kVocab 100).
void constrainSecond(StepInput& s) {
  constexpr int kWords = (kVocab + 31) / 32;
  s.tokenBitmask.present = true;
  s.tokenBitmask.numWords = kWords;
  s.tokenBitmask.bitmask.assign(2 * kWords, 0xffffffffu);
  std::fill(s.tokenBitmask.bitmask.begin() + kWords, s.tokenBitmask.bitmask.end(), 0u);
  s.tokenBitmask.bitmask[kWords + 0] = 1u << 3;
  s.tokenBitmask.bitmask[kWords + 1] = 1u << (40 - 32);
  s.tokenBitmask.hasBitmask = {0, 1};
}

// Qwen v1's dynamic NTK: each token finds its sequence's rotary row; a graph's padding rows are zero.
void testPerSequenceRope() {
  StepInput decode = makeStep({1, 1, 1}, {5, 20, 40});
  decode.ropeInvFreq = {1, 2, 3, 4, 5, 6};
  const StepPlan graph = planStep(decode, options(4));
  checkEqual(graph.tokenSeq, {0, 1, 2, 3}, "rope bucket: token s is sequence s");
  checkEqual(graph.ropeInvFreq, {1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 0.f, 0.f}, "rope bucket: rows padded with zeros");

  StepInput prefill = makeStep({3, 1}, {0, 17});
  prefill.ropeInvFreq = {1, 2, 3, 4};
  const StepPlan eager = planStep(prefill, options(0));
  checkEqual(eager.tokenSeq, {0, 0, 0, 1}, "rope eager: each token's sequence");
  checkEqual(eager.ropeInvFreq, {1.f, 2.f, 3.f, 4.f}, "rope eager: rows as given");
  check(planStep(makeStep({3, 1}, {0, 17}), options(0)).tokenSeq.empty(), "no per-sequence rope: no tokenSeq");

  StepLimits perSequence = limits();
  perSequence.ropeInvFreqWidth = 2;
  expectInvalid("rope rows missing", "ropeInvFreq has 0 entries", makeStep({3, 1}, {0, 17}), perSequence);
  expectInvalid("rope rows without per-sequence rope", "ropeInvFreq has 4 entries", prefill);
  try {
    swiftlet_common::validateStep(prefill, perSequence);
  } catch (const std::exception& e) {
    check(false, std::string("a step with its rope rows is rejected: ") + e.what());
  }
}

void testTokenBitmask() {
  StepInput step = makeStep({3, 1}, {0, 17});
  constrainSecond(step);
  try {
    swiftlet_common::validateStep(step, limits());
  } catch (const std::exception& e) {
    check(false, std::string("a valid constrained step is rejected: ") + e.what());
  }
  const StepPlan plan = planStep(step, options(0));
  check(plan.sampleRows[0].bitmaskRow == -1 && plan.sampleRows[1].bitmaskRow == 0, "only the constrained row points at a mask");
  check(plan.bitmaskNumWords == 4 && plan.tokenBitmask.size() == 4u, "only constrained rows' masks are uploaded");
  check(plan.tokenBitmask[0] == 1u << 3 && plan.tokenBitmask[1] == 1u << 8, "the uploaded mask is the sequence's row");
  check(planStep(makeStep({3, 1}, {0, 17}), options(0)).tokenBitmask.empty(), "no mask: nothing uploaded");

  expectInvalid("bitmask words", "tokenBitmask.numWords 3", [](StepInput& s) {
    constrainSecond(s);
    s.tokenBitmask.numWords = 3;
  });
  expectInvalid("bitmask length", "tokenBitmask.bitmask has 7 entries", [](StepInput& s) {
    constrainSecond(s);
    s.tokenBitmask.bitmask.pop_back();
  });
  expectInvalid("bitmask flags", "tokenBitmask.hasBitmask has 1 entries", [](StepInput& s) {
    constrainSecond(s);
    s.tokenBitmask.hasBitmask.pop_back();
  });
  expectInvalid("empty mask", "allows no token of the vocabulary", [](StepInput& s) {
    constrainSecond(s);
    std::fill(s.tokenBitmask.bitmask.begin() + 4, s.tokenBitmask.bitmask.end(), 0u);
    s.tokenBitmask.bitmask[4 + 3] = 1u << 4;  // token 100: past the vocabulary
  });
  expectInvalid("masked row read for positions", "sampled token of constrained sequence 1", [](StepInput& s) {
    constrainSecond(s);
    s.positionLogprobs = {true, {3}, {1}, 0};
  });
}

// A mask that arrives late (late_token_bitmask.h) is checked by the same rules and planned as an
// early one; the step's thread waits for it, and a cancelled or broken one fails the wait.
void testLateTokenBitmask() {
  StepInput early = makeStep({3, 1}, {0, 17});
  constrainSecond(early);
  const StepPlan expected = planStep(early, options(0));

  StepInput step = makeStep({3, 1}, {0, 17});
  swiftlet_common::LateTokenBitmask late(step, kVocab);
  StepPlan plan = planStep(step, options(0));
  std::thread sampler([&] { swiftlet_cuda::planLateTokenBitmask(late.wait(), plan); });
  late.supply(std::move(early.tokenBitmask));
  sampler.join();
  check(plan.sampleRows[0].bitmaskRow == -1 && plan.sampleRows[1].bitmaskRow == 0, "late: only the constrained row points at a mask");
  checkEqual(plan.tokenBitmask, expected.tokenBitmask, "late: the same words as an early mask");
  check(plan.bitmaskNumWords == expected.bitmaskNumWords, "late: the same row width");

  auto waitError = [](swiftlet_common::LateTokenBitmask& gate) -> std::string {
    try {
      gate.wait();
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  };
  StepInput broken = makeStep({3, 1}, {0, 17});
  constrainSecond(broken);
  std::fill(broken.tokenBitmask.bitmask.begin() + 4, broken.tokenBitmask.bitmask.end(), 0u);
  swiftlet_common::LateTokenBitmask refused(step, kVocab);
  bool isThrown = false;
  try {
    refused.supply(std::move(broken.tokenBitmask));
  } catch (const std::invalid_argument&) {
    isThrown = true;
  }
  check(isThrown, "late: a mask that allows nothing is refused");
  check(waitError(refused).find("allows no token") != std::string::npos, "late: the step fails with the reason");

  swiftlet_common::LateTokenBitmask cancelled(step, kVocab);
  cancelled.cancel("the grammar failed");
  check(waitError(cancelled) == "the grammar failed", "late: a cancelled mask fails the step with its reason");
}

}  // namespace

int main() {
  testGraphBucketPadding();
  testPrefillWorkItems();
  testSplitShortQueries();
  testSampleRows();
  testPositionRows();
  testHiddenStateRows();
  testResultsTopK();
  testValidateStep();
  testTokenBitmask();
  testPerSequenceRope();
  testLateTokenBitmask();
  if (numFailed > 0) {
    std::printf("%d check(s) failed\n", numFailed);
    return 1;
  }
  std::printf("step plan: all checks passed\n");
  return 0;
}
