#include "sampling.h"

#include <algorithm>
#include <cmath>

#include "sampling_filters.h"
#include "sampling_vec.h"

namespace swiftlet {

float logSumExp(const float* logits, int vocabSize) {
  const float m = maxOf(logits, vocabSize);
  if (!std::isfinite(m)) return m;
  return m + std::log(expShiftSum(logits, m, nullptr, vocabSize));
}

void topLogprobs(const float* logits, int vocabSize, float lse, int k, int32_t* ids, float* logprobs) {
  if (k <= 0) return;
  k = std::min(k, vocabSize);
  // Insertion into a sorted list of k: strictly greater wins, so equal logits keep the lower id first.
  int filled = 0;
  for (int v = 0; v < vocabSize; v++) {
    const float value = logits[v];
    if (filled == k && !(value > logits[ids[k - 1]])) continue;
    int pos = filled < k ? filled++ : k - 1;
    while (pos > 0 && value > logits[ids[pos - 1]]) {
      ids[pos] = ids[pos - 1];
      pos--;
    }
    ids[pos] = v;
  }
  for (int i = 0; i < k; i++) logprobs[i] = logits[ids[i]] - lse;
}

namespace {
constexpr float kSamplingEps = 1e-5f;

void philox10(uint32_t ctr[4], uint32_t key0, uint32_t key1) {
  for (int round = 0; round < 10; round++) {
    const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * ctr[0];
    const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * ctr[2];
    const uint32_t next[4] = {static_cast<uint32_t>(p1 >> 32) ^ ctr[1] ^ key0, static_cast<uint32_t>(p1),
                              static_cast<uint32_t>(p0 >> 32) ^ ctr[3] ^ key1, static_cast<uint32_t>(p0)};
    ctr[0] = next[0];
    ctr[1] = next[1];
    ctr[2] = next[2];
    ctr[3] = next[3];
    key0 += 0x9E3779B9u;
    key1 += 0xBB67AE85u;
  }
}
}  // namespace

double philoxUniform(uint32_t seedLo, uint32_t seedHi, uint32_t counter) {
  uint32_t ctr[4] = {counter, 0, 0, 0};
  philox10(ctr, seedLo, seedHi);
  const uint64_t bits = (static_cast<uint64_t>(ctr[0]) << 21) ^ (ctr[1] >> 11);
  return static_cast<double>(bits & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

namespace {

// Top-k (then top-p over the k survivors renormalised, as vLLM): the few candidates are
// sorted, and the draw walks them from the most likely.
int32_t drawFromTopK(const float* weights, int vocabSize, float minPFloor, const RowSampling& row, double u, int32_t* ids) {
  const float floor = topKFloor(weights, vocabSize, row.topK, minPFloor);
  int numCandidates = 0;
  for (int v = 0; v < vocabSize; v++)
    if (weights[v] >= floor && weights[v] > 0.f) ids[numCandidates++] = v;
  if (numCandidates == 0) return 0;
  sortByWeight(weights, ids, numCandidates);
  double total = 0.0;
  for (int i = 0; i < numCandidates; i++) total += weights[ids[i]];
  if (row.topP < 1.f) {
    double before = 0.0;
    int kept = 0;
    while (kept < numCandidates && before < row.topP * total) before += weights[ids[kept++]];
    numCandidates = std::max(kept, 1);
    total = 0.0;
    for (int i = 0; i < numCandidates; i++) total += weights[ids[i]];
  }
  const double target = u * total;
  double cumulative = 0.0;
  for (int i = 0; i < numCandidates; i++) {
    cumulative += weights[ids[i]];
    if (cumulative > target) return ids[i];
  }
  return ids[numCandidates - 1];
}

}  // namespace

int32_t sampleToken(const float* logits, int vocabSize, const RowSampling& row, SamplingScratch& s) {
  float* values = s.values.data();
  std::copy(logits, logits + vocabSize, values);
  for (int64_t i = 0; i < row.numBias; i++) {
    const int32_t id = row.biasIds[i];
    if (id >= 0 && id < vocabSize) values[id] += row.biasValues[i];
  }
  const bool hasRepetition = row.repetitionPenalty != 1.f;
  const bool hasCountPenalty = row.presencePenalty != 0.f || row.frequencyPenalty != 0.f;
  if (hasRepetition || hasCountPenalty) {
    // counts[id]: output occurrences + 1, or 1 when seen only in the prompt; 0 = unseen.
    s.touched.clear();
    auto mark = [&](int32_t id, bool isOutput) {
      if (id < 0 || id >= vocabSize) return;
      if (s.counts[id] == 0) {
        s.touched.push_back(id);
        s.counts[id] = 1;
      }
      if (isOutput) s.counts[id]++;
    };
    if (hasRepetition)
      for (int64_t i = 0; i < row.numPromptIds; i++) mark(row.promptIds[i], false);
    for (int64_t i = 0; i < row.numOutputIds; i++) mark(row.outputIds[i], true);
    for (int32_t id : s.touched) {
      float v = values[id];
      if (hasRepetition) v = v > 0.f ? v / row.repetitionPenalty : v * row.repetitionPenalty;
      const int outputCount = s.counts[id] - 1;
      if (outputCount > 0) v -= row.frequencyPenalty * static_cast<float>(outputCount) + row.presencePenalty;
      values[id] = v;
      s.counts[id] = 0;
    }
  }
  if (row.temperature < kSamplingEps || row.topK == 1) {
    int32_t best = 0;
    for (int v = 1; v < vocabSize; v++)
      if (values[v] > values[best]) best = v;
    return best;
  }
  const float invTemperature = 1.f / row.temperature;
  const float m = maxOfRow(values, vocabSize) * invTemperature;
  if (!std::isfinite(m)) return 0;
  // values become unnormalised probabilities exp(l / T - max); the largest is 1.
  expScaledShiftSum(values, invTemperature, m, values, vocabSize);

  // Each cut is a floor on the weights (min-p's is relative to the largest, 1).
  const float minPFloor = row.minP > 0.f ? row.minP : 0.f;
  const double u = philoxUniform(row.seedLo, row.seedHi, static_cast<uint32_t>(row.sampleIndex));
  const bool hasTopK = row.topK > 0 && row.topK < vocabSize;
  const bool hasTopP = row.topP < 1.f;
  if (hasTopK) return drawFromTopK(values, vocabSize, minPFloor, row, u, s.ids.data());
  const float floor = hasTopP ? nucleusFloor(values, vocabSize, minPFloor, row.topP) : minPFloor;
  return std::max(drawInIdOrder(values, vocabSize, floor, u), 0);
}

}  // namespace swiftlet
