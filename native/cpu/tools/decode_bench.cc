// The workload of bench/cpu-decode.ts (qwen2.5-0.5b shape, random weights, prompt 512, 128
// greedy tokens, batch 1 and 16) straight on the native Model, for hosts without Node. The
// linear layers are bf16, or int8 / int4 codes in groups of 32 (symmetric, as q8_0 / q4_0 block
// them); the embedding / lm_head stays bf16 either way.
//   g++ -O3 -march=native -std=c++17 -pthread -Inative/cpu -Inative/common native/cpu/tools/decode_bench.cc \
//       native/cpu/{model,gemm,input_grams,linear,sampling,tensor,thread_pool}.cc native/cpu/formats/*.cc \
//       native/common/{layout,model_shape,native_tensor,slot_shape,step_contract}.cc -o decode_bench && ./decode_bench [threads] [bf16|int8|int4] [prompt]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <utility>

#include "model.h"

using namespace swiftlet;

namespace {
constexpr int kGen = 128;
constexpr int64_t kGroup = 32;

using swiftlet_common::Slot;

void setRandom(Model& model, int layer, Slot slot, std::vector<int64_t> shape, bool isNorm, std::mt19937& rng) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  std::vector<uint16_t> bits(count);
  std::uniform_real_distribution<float> dist(-0.0346f, 0.0346f);
  for (auto& b : bits) {
    float v = isNorm ? 1.f : dist(rng);
    uint32_t u;
    std::memcpy(&u, &v, 4);
    b = static_cast<uint16_t>(u >> 16);
  }
  swiftlet_common::TensorView tensor;
  tensor.format = "bfloat16";
  tensor.shape = std::move(shape);
  tensor.buffers["weight"] = {reinterpret_cast<const uint8_t*>(bits.data()), bits.size() * 2};
  model.setTensor(layer, slot, tensor);
}

// Random codes with one scale per group of 32 and the zero point at mid-range (symmetric).
void setRandomInt(Model& model, int layer, Slot slot, std::vector<int64_t> shape, int bits, std::mt19937& rng) {
  const int64_t rows = shape[0], cols = shape[1], groups = cols / kGroup;
  std::vector<uint8_t> codes(static_cast<size_t>(bits == 8 ? rows * cols : rows * cols / 2));
  for (auto& b : codes) b = static_cast<uint8_t>(rng());
  const float zero = bits == 8 ? 128.f : 8.f;
  std::vector<float> scales(static_cast<size_t>(rows * groups), 0.0346f / zero), zeros(scales.size(), zero);
  swiftlet_common::TensorView tensor;
  tensor.format = bits == 8 ? "int8" : "int4";
  tensor.shape = std::move(shape);
  tensor.params["groupSize"] = static_cast<double>(kGroup);
  tensor.buffers["codes"] = {codes.data(), codes.size()};
  tensor.buffers["scales"] = {reinterpret_cast<const uint8_t*>(scales.data()), scales.size() * 4};
  tensor.buffers["zeros"] = {reinterpret_cast<const uint8_t*>(zeros.data()), zeros.size() * 4};
  model.setTensor(layer, slot, tensor);
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Seq {
  std::vector<int32_t> tokens;
  std::vector<int32_t> blocks;
  int computed = 0;
};

StepInput makeStep(std::vector<Seq>& seqs, const std::vector<int>& which, int numBlocksPerSeq) {
  StepInput in;
  in.numSeqs = static_cast<int>(which.size());
  in.maxBlocksPerSeq = numBlocksPerSeq;
  in.queryStart.push_back(0);
  for (int s : which) {
    Seq& q = seqs[s];
    for (int p = q.computed; p < static_cast<int>(q.tokens.size()); p++) {
      in.tokenIds.push_back(q.tokens[p]);
      in.positions.push_back(p);
      in.slotMapping.push_back(q.blocks[p / kBlockSize] * kBlockSize + p % kBlockSize);
    }
    in.queryStart.push_back(static_cast<int32_t>(in.tokenIds.size()));
    in.contextLens.push_back(static_cast<int32_t>(q.tokens.size()));
    in.blockTables.insert(in.blockTables.end(), q.blocks.begin(), q.blocks.end());
    in.adapterSlots.push_back(-1);
  }
  const size_t n = which.size();
  in.numTokens = static_cast<int>(in.tokenIds.size());
  in.sampling.doSample.assign(n, 1);
  in.sampling.temperature.assign(n, 0.f);
  in.sampling.topP.assign(n, 1.f);
  in.sampling.topK.assign(n, 0);
  in.sampling.minP.assign(n, 0.f);
  in.sampling.repetitionPenalty.assign(n, 1.f);
  in.sampling.presencePenalty.assign(n, 0.f);
  in.sampling.frequencyPenalty.assign(n, 0.f);
  in.sampling.seeds.assign(2 * n, 0);
  in.sampling.sampleIndex.assign(n, 0);
  in.sampling.numLogprobs.assign(n, -1);
  return in;
}
}  // namespace

int main(int argc, char** argv) {
  ModelConfig c;
  c.vocabSize = 151936, c.hiddenSize = 896, c.intermediateSize = 4864, c.numLayers = 24;
  c.numHeads = 14, c.numKvHeads = 2, c.headDim = 64, c.rmsNormEps = 1e-6f;
  c.tieWordEmbeddings = true, c.qkvBias = true;
  c.rotaryDim = 64;
  for (int i = 0; i < 32; i++) c.invFreq.push_back(1.f / std::pow(1e6f, (2.f * i) / 64.f));
  const std::string format = argc > 2 ? argv[2] : "bf16";
  const int kPrompt = argc > 3 ? std::atoi(argv[3]) : 512;
  const int bits = format == "int8" ? 8 : format == "int4" ? 4 : 0;
  c.maxTokensPerChunk = kPrompt;
  const int blocksPerSeq = (kPrompt + kGen + kBlockSize - 1) / kBlockSize;
  c.numKvBlocks = 16 * blocksPerSeq;
  c.numThreads = argc > 1 ? std::atoi(argv[1]) : 2;
  Model model(c);
  std::mt19937 rng(1);
  setRandom(model, -1, Slot::kEmbedding, {c.vocabSize, c.hiddenSize}, false, rng);
  setRandom(model, -1, Slot::kFinalNorm, {c.hiddenSize}, true, rng);
  const int64_t H = c.hiddenSize, I = c.intermediateSize, q = 14 * 64, kv = 2 * 64;
  for (int l = 0; l < c.numLayers; l++) {
    setRandom(model, l, Slot::kInputNorm, {H}, true, rng);
    setRandom(model, l, Slot::kPostNorm, {H}, true, rng);
    setRandom(model, l, Slot::kQkvBias, {q + 2 * kv}, false, rng);
    const std::pair<Slot, std::vector<int64_t>> linears[] = {{Slot::kQkv, {q + 2 * kv, H}}, {Slot::kO, {H, q}}, {Slot::kGateUp, {2 * I, H}}, {Slot::kDown, {H, I}}};
    for (const auto& [slot, shape] : linears) {
      if (bits) setRandomInt(model, l, slot, shape, bits, rng);
      else setRandom(model, l, slot, shape, false, rng);
    }
  }
  model.checkComplete();
  for (int batch : {1, 1, 16}) {
    std::vector<Seq> seqs(batch);
    for (int s = 0; s < batch; s++) {
      for (int i = 0; i < kPrompt; i++) seqs[s].tokens.push_back(static_cast<int32_t>(rng() % c.vocabSize));
      for (int b = 0; b < blocksPerSeq; b++) seqs[s].blocks.push_back(s * blocksPerSeq + b);
    }
    StepResult out;
    double t0 = now();
    for (int s = 0; s < batch; s++) {
      StepInput in = makeStep(seqs, {s}, blocksPerSeq);
      model.execute(in, out);
      seqs[s].computed = kPrompt;
      seqs[s].tokens.push_back(out.sampledTokenIds[0]);
    }
    const double prefill = now() - t0;
    std::vector<int> all(batch);
    for (int s = 0; s < batch; s++) all[s] = s;
    t0 = now();
    for (int step = 1; step < kGen; step++) {
      StepInput in = makeStep(seqs, all, blocksPerSeq);
      model.execute(in, out);
      for (int s = 0; s < batch; s++) {
        seqs[s].computed = static_cast<int>(seqs[s].tokens.size());
        seqs[s].tokens.push_back(out.sampledTokenIds[s]);
      }
    }
    const double decode = now() - t0;
    std::printf("%s batch %2d: pp%d %.1f tok/s, tg%d %.1f tok/s\n", format.c_str(), batch, kPrompt, batch * kPrompt / prefill, kGen,
                batch * (kGen - 1) / decode);
  }
}
