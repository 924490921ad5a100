// The CPU sampler alone, one 151,936-token row at a time (the Qwen2 vocabulary), by mode:
// microseconds per row, and the ratio to greedy. Logits are near-flat as random weights give
// (the hardest case for top-p: the nucleus holds most of the vocabulary).
//   g++ -O3 -march=native -std=c++17 -Inative/cpu -Inative/common native/cpu/tools/sampling_bench.cc \
//       native/cpu/sampling.cc native/cpu/sampling_filters.cc -o sampling_bench && ./sampling_bench
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "sampling.h"

using namespace swiftlet;

namespace {
constexpr int kVocab = 151936, kRows = 16, kRepeats = 25;

struct Mode {
  const char* name;
  float temperature, topP;
  int topK;
  float minP;
};

double microsPerRow(const std::vector<std::vector<float>>& rows, const Mode& mode, SamplingScratch& scratch, int32_t& sink) {
  RowSampling row{};
  row.doSample = 1;
  row.temperature = mode.temperature;
  row.topP = mode.topP;
  row.topK = mode.topK;
  row.minP = mode.minP;
  row.repetitionPenalty = 1.f;
  row.seedLo = 7;
  const auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < kRepeats; r++) {
    for (int i = 0; i < kRows; i++) {
      row.sampleIndex = r * kRows + i;
      sink += sampleToken(rows[i].data(), kVocab, row, scratch);
    }
  }
  const std::chrono::duration<double, std::micro> elapsed = std::chrono::steady_clock::now() - start;
  return elapsed.count() / (kRepeats * kRows);
}
}  // namespace

int main() {
  std::mt19937 rng(1);
  std::normal_distribution<float> logit(0.f, 0.5f);
  std::vector<std::vector<float>> rows(kRows, std::vector<float>(kVocab));
  for (auto& row : rows)
    for (float& x : row) x = logit(rng);
  SamplingScratch scratch;
  scratch.resize(kVocab);
  const Mode modes[] = {{"greedy", 0.f, 1.f, 0, 0.f},      {"temperature 1", 1.f, 1.f, 0, 0.f}, {"top_p 0.8", 1.f, 0.8f, 0, 0.f},
                        {"top_k 20", 1.f, 1.f, 20, 0.f},    {"min_p 0.05", 1.f, 1.f, 0, 0.05f}};
  int32_t sink = 0;
  double greedy = 0.0;
  std::printf("| sampling | us/row | x greedy |\n| --- | --- | --- |\n");
  for (const Mode& mode : modes) {
    // The fastest of three rounds, so a busy machine skews less.
    double best = 1e30;
    for (int round = 0; round < 3; round++) best = std::min(best, microsPerRow(rows, mode, scratch, sink));
    if (greedy == 0.0) greedy = best;
    std::printf("| %s | %.0f | %.2f |\n", mode.name, best, best / greedy);
  }
  return sink == 42 ? 1 : 0;  // keeps the draws from being optimised away
}
