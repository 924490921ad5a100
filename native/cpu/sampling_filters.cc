#include "sampling_filters.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <vector>

#include "sampling_vec.h"

namespace swiftlet {

namespace {

inline bool survives(float weight, float floor) { return weight >= floor && weight > 0.f; }

inline uint32_t bitsOf(float weight) {
  uint32_t bits;
  std::memcpy(&bits, &weight, sizeof bits);
  return bits;
}

inline float floatOf(uint32_t bits) {
  float weight;
  std::memcpy(&weight, &bits, sizeof weight);
  return weight;
}

constexpr int kRadixBits = 10;
constexpr int kRadixBuckets = 1 << kRadixBits;

// The highest bucket at which the mass from the top reaches target; `above` becomes the mass
// of the buckets over it. -1 when the target is never reached (rounding): keep everything.
int bucketReaching(const double* mass, double& above, double target) {
  for (int b = kRadixBuckets - 1; b >= 0; b--) {
    if (mass[b] == 0.0) continue;
    if (above + mass[b] >= target) return b;
    above += mass[b];
  }
  return -1;
}

}  // namespace

float topKFloor(const float* weights, int n, int k, float floor) {
  thread_local std::vector<float> kept;  // a min-heap of the k largest so far
  kept.clear();
  int numSurviving = 0;
  for (int v = 0; v < n; v++) {
    const float w = weights[v];
    if (!survives(w, floor)) continue;
    numSurviving++;
    if (static_cast<int>(kept.size()) < k) {
      kept.push_back(w);
      std::push_heap(kept.begin(), kept.end(), std::greater<float>());
    } else if (w > kept.front()) {
      std::pop_heap(kept.begin(), kept.end(), std::greater<float>());
      kept.back() = w;
      std::push_heap(kept.begin(), kept.end(), std::greater<float>());
    }
  }
  // NOTE: ties with the k-th weight are kept, as vLLM masks only values below it.
  return numSurviving > k ? std::max(floor, kept.front()) : floor;
}

float nucleusFloor(const float* weights, int n, float floor, double fraction) {
  thread_local std::vector<int32_t> members;
  double mass[kRadixBuckets];
  // The first level reads the whole row: bits 30..20 (weights <= 1 have the sign bit clear and
  // an exponent under 128, so bits >> 20 fit in 10 bits); later levels only that bucket's members.
  std::fill(mass, mass + kRadixBuckets, 0.0);
  double total = 0.0;
  for (int v = 0; v < n; v++) {
    const float w = weights[v];
    if (!survives(w, floor)) continue;
    mass[(bitsOf(w) >> 20) & (kRadixBuckets - 1)] += w;
    total += w;
  }
  const double target = fraction * total;
  double above = 0.0;
  int bucket = bucketReaching(mass, above, target);
  if (bucket < 0) return floor;
  uint32_t prefix = static_cast<uint32_t>(bucket) << 20;
  members.clear();
  for (int v = 0; v < n; v++)
    if (survives(weights[v], floor) && (bitsOf(weights[v]) >> 20) == (prefix >> 20)) members.push_back(v);
  for (int shift = 20 - kRadixBits; shift >= 0; shift -= kRadixBits) {
    std::fill(mass, mass + kRadixBuckets, 0.0);
    for (int32_t v : members) mass[(bitsOf(weights[v]) >> shift) & (kRadixBuckets - 1)] += weights[v];
    bucket = bucketReaching(mass, above, target);
    if (bucket < 0) bucket = 0;  // NOTE: rounding between levels; the lowest member bucket keeps the most
    prefix |= static_cast<uint32_t>(bucket) << shift;
    members.erase(std::remove_if(members.begin(), members.end(), [&](int32_t v) { return (bitsOf(weights[v]) >> shift) != (prefix >> shift); }),
                  members.end());
  }
  return std::max(floor, floatOf(prefix));
}

int32_t drawInIdOrder(const float* weights, int n, float floor, double u) {
  // Block sums first (vectorised), so the running sum only walks the block the draw lands in.
  constexpr int kBlock = 1024;
  thread_local std::vector<double> blockMass;
  const int numBlocks = (n + kBlock - 1) / kBlock;
  blockMass.resize(numBlocks);
  const float positiveFloor = std::max(floor, 0.f);
  double total = 0.0;
  for (int b = 0; b < numBlocks; b++) {
    blockMass[b] = sumAtLeast(weights + b * kBlock, positiveFloor, std::min(kBlock, n - b * kBlock));
    total += blockMass[b];
  }
  if (!(total > 0.0)) return -1;
  const double target = u * total;
  double cumulative = 0.0;
  int block = 0;
  while (block + 1 < numBlocks && cumulative + blockMass[block] <= target) cumulative += blockMass[block++];
  // NOTE: the float block sums and the double running sum may disagree in the last bits, so the
  // walk may run on past its block, and at the very end falls back to the last survivor.
  for (int v = block * kBlock; v < n; v++) {
    if (!survives(weights[v], floor)) continue;
    cumulative += weights[v];
    if (cumulative > target) return v;
  }
  for (int v = n - 1; v >= 0; v--)
    if (survives(weights[v], floor)) return v;
  return -1;
}

void sortByWeight(const float* weights, int32_t* ids, int n) {
  // Below this many ids a comparison sort is as quick as four counting passes.
  constexpr int kRadixSortMin = 2048;
  if (n < kRadixSortMin) {
    std::sort(ids, ids + n, [&](int32_t a, int32_t b) { return weights[a] > weights[b] || (weights[a] == weights[b] && a < b); });
    return;
  }
  // An LSD radix sort on the weights' bits: each pass is stable, so ids given in ascending
  // order keep lower ids first among equal weights.
  thread_local std::vector<uint32_t> keys, spareKeys;
  thread_local std::vector<int32_t> spareIds;
  if (static_cast<int>(keys.size()) < n) {
    keys.resize(n);
    spareKeys.resize(n);
    spareIds.resize(n);
  }
  for (int i = 0; i < n; i++) keys[i] = ~bitsOf(weights[ids[i]]);  // ascending keys = descending weights
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

}  // namespace swiftlet
