// The CPU sampler draws from the distribution its settings describe: frequencies over many
// draws (one per sampleIndex) against a reference computed by sorting, chi-square at
// p = 0.001, for temperature, min-p, top-k, top-p and their mix; the sort-free nucleus floor
// equals the sorted prefix's on a 152k-token row; draws are a pure function of the seed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "../../cuda/test/check.h"
#include "sampling.h"
#include "sampling_filters.h"

using namespace swiftlet;
using swiftlet_test::check;

namespace {

struct Settings {
  const char* name;
  float temperature;
  float topP;
  int topK;
  float minP;
};

RowSampling rowOf(const Settings& s, uint32_t seed, int sampleIndex) {
  RowSampling row{};
  row.doSample = 1;
  row.temperature = s.temperature;
  row.topP = s.topP;
  row.topK = s.topK;
  row.minP = s.minP;
  row.repetitionPenalty = 1.f;
  row.presencePenalty = 0.f;
  row.frequencyPenalty = 0.f;
  row.sampleIndex = sampleIndex;
  row.numLogprobs = 0;
  row.seedLo = seed;
  row.seedHi = 0;
  return row;
}

// What the settings mean, written the slow obvious way: softmax of l / T, then min-p against
// the largest, top-k (ties with the k-th kept), top-p as the shortest prefix by probability
// reaching the mass (ties with its last kept), renormalised.
std::vector<double> referenceProbabilities(const std::vector<float>& logits, const Settings& s) {
  const int n = static_cast<int>(logits.size());
  std::vector<double> p(n);
  const double mx = *std::max_element(logits.begin(), logits.end()) / s.temperature;
  for (int i = 0; i < n; i++) p[i] = std::exp(logits[i] / s.temperature - mx);
  for (int i = 0; i < n; i++)
    if (p[i] < s.minP) p[i] = 0.0;
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
  if (s.topK > 0 && s.topK < n) {
    const double kth = p[order[s.topK - 1]];
    for (int i = 0; i < n; i++)
      if (p[i] < kth) p[i] = 0.0;
  }
  if (s.topP < 1.f) {
    const double total = std::accumulate(p.begin(), p.end(), 0.0);
    double before = 0.0, last = 0.0;
    for (int i = 0; i < n && before < s.topP * total; i++) last = p[order[i]], before += last;
    for (int i = 0; i < n; i++)
      if (p[i] < last) p[i] = 0.0;
  }
  const double total = std::accumulate(p.begin(), p.end(), 0.0);
  for (double& x : p) x /= total;
  return p;
}

// Chi-square critical value at p = 0.001 (Wilson-Hilferty).
double chiSquareCritical(int df) {
  const double z = 3.090232, a = 2.0 / (9.0 * df);
  return df * std::pow(1.0 - a + z * std::sqrt(a), 3.0);
}

void checkDistribution(const std::vector<float>& logits, const Settings& s, int draws) {
  const int n = static_cast<int>(logits.size());
  SamplingScratch scratch;
  scratch.resize(n);
  std::vector<int> counts(n, 0);
  for (int i = 0; i < draws; i++) {
    const int32_t token = sampleToken(logits.data(), n, rowOf(s, 2024, i), scratch);
    if (token >= 0 && token < n) counts[token]++;
  }
  const std::vector<double> p = referenceProbabilities(logits, s);
  double chi2 = 0.0;
  int df = -1, impossible = 0;
  for (int i = 0; i < n; i++) {
    if (p[i] == 0.0) {
      impossible += counts[i];
      continue;
    }
    const double expected = p[i] * draws;
    chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
    df++;
  }
  check(impossible == 0, std::string(s.name) + ": " + std::to_string(impossible) + " draws of tokens the settings exclude");
  if (df > 0) {
    char what[160];
    std::snprintf(what, sizeof what, "%s: chi-square %.1f over %d degrees of freedom exceeds %.1f", s.name, chi2, df, chiSquareCritical(df));
    check(chi2 < chiSquareCritical(df), what);
  }
  std::printf("%s: chi-square %.1f, df %d\n", s.name, chi2, df);
}

// The floor nucleusFloor finds equals the last weight the sorted prefix keeps.
void checkNucleusFloorAtFullVocabulary() {
  const int n = 151936;
  std::vector<float> weights(n);
  uint32_t state = 12345;
  for (float& w : weights) {
    state = state * 1664525u + 1013904223u;
    w = std::exp(-12.f * static_cast<float>(state >> 8) / 16777216.f);  // weights spread over many binades
  }
  std::vector<float> sorted = weights;
  std::sort(sorted.begin(), sorted.end(), std::greater<float>());
  const double total = std::accumulate(sorted.begin(), sorted.end(), 0.0);
  for (double fraction : {0.05, 0.5, 0.8, 0.95, 0.999}) {
    double before = 0.0;
    float last = 0.f;
    for (size_t i = 0; i < sorted.size() && before < fraction * total; i++) last = sorted[i], before += last;
    const float got = nucleusFloor(weights.data(), n, 0.f, fraction);
    check(got == last, "nucleus floor at top_p " + std::to_string(fraction) + ": " + std::to_string(got) + " != " + std::to_string(last));
  }
}

void checkDeterminism(const std::vector<float>& logits) {
  const int n = static_cast<int>(logits.size());
  SamplingScratch scratch;
  scratch.resize(n);
  const Settings plain{"temperature 1", 1.f, 1.f, 0, 0.f};
  int differing = 0;
  for (int i = 0; i < 200; i++) {
    const int32_t a = sampleToken(logits.data(), n, rowOf(plain, 7, i), scratch);
    const int32_t b = sampleToken(logits.data(), n, rowOf(plain, 7, i), scratch);
    check(a == b, "the same seed and sampleIndex drew two tokens");
    if (a != sampleToken(logits.data(), n, rowOf(plain, 8, i), scratch)) differing++;
  }
  check(differing > 50, "another seed drew the same tokens");
}

}  // namespace

int main() {
  std::vector<float> logits(40);
  for (int i = 0; i < 40; i++) logits[i] = 2.5f * std::sin(1.7f * i) + 0.05f * i;
  logits[7] = logits[3];  // a tie
  const int draws = 200000;
  for (const Settings& s : {Settings{"temperature 1", 1.f, 1.f, 0, 0.f}, Settings{"temperature 0.6", 0.6f, 1.f, 0, 0.f},
                            Settings{"temperature 2", 2.f, 1.f, 0, 0.f}, Settings{"min_p 0.1", 1.f, 1.f, 0, 0.1f},
                            Settings{"top_k 5", 1.f, 1.f, 5, 0.f}, Settings{"top_p 0.8", 1.f, 0.8f, 0, 0.f},
                            Settings{"top_p 0.3 at temperature 1.5", 1.5f, 0.3f, 0, 0.f},
                            Settings{"top_k 12 top_p 0.9 min_p 0.02", 0.9f, 0.9f, 12, 0.02f}})
    checkDistribution(logits, s, draws);
  checkNucleusFloorAtFullVocabulary();
  checkDeterminism(logits);
  return swiftlet_test::checksPassed("sampling");
}
