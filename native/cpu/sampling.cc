#include "sampling.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "vecmath.h"

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

// Below this many candidates a comparison sort is as quick as four counting passes.
constexpr int kRadixSortMin = 2048;

// Orders ids as byProbability does (value descending, then id ascending) in linear time, so a
// 152k-token vocabulary costs no more than a few passes over it. An LSD radix sort on the
// values' bits: positive finite floats order as their bit patterns do, and each pass is
// stable, so ids given in ascending order keep lower ids first among equal values.
// NOTE: the order, and so the draw, is exactly std::sort's with byProbability.
void sortByProbability(const float* values, int32_t* ids, int n) {
  thread_local std::vector<uint32_t> keys, spareKeys;
  thread_local std::vector<int32_t> spareIds;
  if (static_cast<int>(keys.size()) < n) {
    keys.resize(n);
    spareKeys.resize(n);
    spareIds.resize(n);
  }
  for (int i = 0; i < n; i++) {
    uint32_t bits;
    std::memcpy(&bits, &values[ids[i]], sizeof bits);
    keys[i] = ~bits;  // ascending keys = descending values
  }
  uint32_t* fromKeys = keys.data();
  uint32_t* toKeys = spareKeys.data();
  int32_t* fromIds = ids;
  int32_t* toIds = spareIds.data();
  for (int shift = 0; shift < 32; shift += 8) {
    int counts[257] = {0};
    for (int i = 0; i < n; i++) counts[((fromKeys[i] >> shift) & 0xff) + 1]++;
    if (counts[((fromKeys[0] >> shift) & 0xff) + 1] == n) continue;  // one bucket: the pass changes nothing
    for (int b = 0; b < 256; b++) counts[b + 1] += counts[b];
    for (int i = 0; i < n; i++) {
      const int at = counts[(fromKeys[i] >> shift) & 0xff]++;
      toKeys[at] = fromKeys[i];
      toIds[at] = fromIds[i];
    }
    std::swap(fromKeys, toKeys);
    std::swap(fromIds, toIds);
  }
  if (fromIds != ids) std::copy(fromIds, fromIds + n, ids);
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
  for (int v = 0; v < vocabSize; v++) values[v] *= invTemperature;
  const float m = maxOf(values, vocabSize);
  if (!std::isfinite(m)) return 0;
  // values become unnormalised probabilities exp(l - max); the largest is 1.
  expShiftSum(values, m, values, vocabSize);

  // Candidates: min-p and top-k cut by value; top-p needs them sorted, so keep the set small
  // by a threshold under which no token can survive.
  float threshold = row.minP > 0.f ? row.minP : 0.f;
  int32_t* ids = s.ids.data();
  int numCandidates = 0;
  const bool hasTopK = row.topK > 0 && row.topK < vocabSize;
  const bool hasTopP = row.topP < 1.f;
  double fullMass = 0.0;
  auto collect = [&](float floor) {
    numCandidates = 0;
    double mass = 0.0;
    for (int v = 0; v < vocabSize; v++) {
      if (values[v] >= floor && values[v] > 0.f) {
        ids[numCandidates++] = v;
        mass += values[v];
      }
    }
    return mass;
  };
  auto byProbability = [&](int32_t a, int32_t b) { return values[a] > values[b] || (values[a] == values[b] && a < b); };
  if (hasTopK) {
    collect(threshold);
    if (numCandidates > row.topK) {
      std::nth_element(ids, ids + row.topK - 1, ids + numCandidates, byProbability);
      // NOTE: ties with the k-th value are kept, as vLLM masks only values below it.
      const float kth = values[ids[row.topK - 1]];
      collect(std::max(threshold, kth));
    }
  } else if (hasTopP) {
    // Tokens under a floor are dropped by top-p whenever those above it already hold top_p of the mass.
    for (int v = 0; v < vocabSize; v++)
      if (values[v] >= threshold && values[v] > 0.f) fullMass += values[v];
    float floor = 1e-3f;
    for (;;) {
      if (floor <= threshold || floor < 1e-30f) {
        collect(threshold);
        break;
      }
      if (collect(floor) >= row.topP * fullMass) break;
      floor *= 1e-3f;
    }
  } else {
    collect(threshold);
  }
  if (numCandidates == 0) return 0;
  if (numCandidates < kRadixSortMin) std::sort(ids, ids + numCandidates, byProbability);
  else sortByProbability(values, ids, numCandidates);
  double total = 0.0;
  for (int i = 0; i < numCandidates; i++) total += values[ids[i]];
  if (hasTopP) {
    // Top-p over the top-k survivors renormalised (as vLLM), else over every token.
    const double norm = hasTopK ? total : fullMass;
    double before = 0.0;
    int kept = 0;
    while (kept < numCandidates && before < row.topP * norm) before += values[ids[kept++]];
    numCandidates = std::max(kept, 1);
    total = 0.0;
    for (int i = 0; i < numCandidates; i++) total += values[ids[i]];
  }
  const double target = philoxUniform(row.seedLo, row.seedHi, static_cast<uint32_t>(row.sampleIndex)) * total;
  double cumulative = 0.0;
  for (int i = 0; i < numCandidates; i++) {
    cumulative += values[ids[i]];
    if (cumulative > target) return ids[i];
  }
  return ids[numCandidates - 1];
}

}  // namespace swiftlet
