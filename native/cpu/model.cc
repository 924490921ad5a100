#include "model.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "slot_shape.h"
#include "formats/rtn_int.h"
#include "gemm.h"
#include "token_bitmask.h"
#include "vecmath.h"

namespace swiftlet {

namespace {
constexpr int kMaxRotaryHalf = 512;

using swiftlet_common::ByteSpan;
using swiftlet_common::Slot;
using swiftlet_common::TensorView;

std::vector<float> toFloats(DType dtype, const uint8_t* bytes, int64_t count) {
  std::vector<float> out(count);
  for (int64_t i = 0; i < count; i++) out[i] = loadElement(dtype, bytes, i);
  return out;
}

/** A dense tensor's bytes (norms, biases and the embedding are always dense), checked against its shape. */
const uint8_t* denseBytes(const TensorView& tensor, DType dtype) {
  const ByteSpan weight = tensor.buffer("weight");
  if (weight.size != static_cast<size_t>(tensor.numElements() * dtypeBytes(dtype))) {
    throw std::invalid_argument("weight buffer is " + std::to_string(weight.size) + " bytes, not " + tensor.format + " " +
                                swiftlet_common::shapeString(tensor.shape));
  }
  return weight.data;
}

std::vector<float> denseFloats(const TensorView& tensor) {
  const DType dtype = parseDType(tensor.format);
  return toFloats(dtype, denseBytes(tensor, dtype), tensor.numElements());
}

constexpr uint32_t bit(Slot slot) { return 1u << static_cast<int>(slot); }

inline float silu(float v) { return v / (1.f + std::exp(-v)); }

/** out = weight * (x / rms(x)), in the order transformers' RMSNorm uses. */
inline void rmsNorm(const float* x, const float* weight, float* out, int64_t width, float eps) {
  const float variance = dot(x, x, width) / static_cast<float>(width);
  const float scale = 1.f / std::sqrt(variance + eps);
  for (int64_t i = 0; i < width; i++) out[i] = weight[i] * (x[i] * scale);
}
}  // namespace

Model::Model(ModelConfig config) : config_(std::move(config)), pool_(config_.numThreads) {
  const ModelConfig& c = config_;
  swiftlet_common::checkModelShape(c);
  if (c.rotaryDim / 2 > kMaxRotaryHalf) throw std::runtime_error("rotaryDim exceeds the CPU runner's " + std::to_string(2 * kMaxRotaryHalf));
  if (c.maxTokensPerChunk <= 0 || c.numKvBlocks <= 0) throw std::runtime_error("maxTokensPerChunk and numKvBlocks must be positive");
  if (c.shardCount < 1 || c.shardRank < 0 || c.shardRank >= c.shardCount) {
    throw std::runtime_error("shardRank " + std::to_string(c.shardRank) + " is not a rank of shardCount " + std::to_string(c.shardCount));
  }
  if (c.lmHeadBits != 0 && c.lmHeadBits != 8 && c.lmHeadBits != 4) throw std::runtime_error("lmHeadBits must be 8, 4 or 0 (as stored)");
  if (c.shardCount > 1) group_ = std::make_unique<TcpGroup>(c.shardRank, c.shardCount);
  qkvWidth_ = static_cast<int64_t>(c.numHeads + 2 * c.numKvHeads) * c.headDim;
  layers_.resize(c.numLayers);
  adapters_.resize(std::max(c.maxLoras, 0));

  layerCacheFloats_ = static_cast<int64_t>(c.numKvBlocks) * kBlockSize * c.numKvHeads * c.headDim;
  kvCache_.allocate(static_cast<size_t>(layerCacheFloats_) * 2 * c.numLayers * sizeof(float));

  const int64_t T = c.maxTokensPerChunk;
  const int64_t H = c.hiddenSize;
  const int64_t I = c.intermediateSize;
  x_.allocate(T * H * 4);
  xn_.allocate(T * H * 4);
  qkv_.allocate(T * qkvWidth_ * 4);
  attn_.allocate(T * c.numHeads * c.headDim * 4);
  proj_.allocate(T * H * 4);
  gateUp_.allocate(T * 2 * I * 4);
  act_.allocate(T * I * 4);
  logitRows_ = static_cast<int>(std::min<int64_t>(T, 32));
  // NOTE: only rank 0 computes logits (it alone holds the lm_head).
  if (c.shardRank == 0) logits_.allocate(static_cast<size_t>(logitRows_) * c.vocabSize * 4);
  const int64_t maxContext = static_cast<int64_t>(c.numKvBlocks) * kBlockSize;
  scoresPerThread_ = static_cast<int64_t>(c.numHeads / c.numKvHeads) * maxContext;
  scores_.allocate(static_cast<size_t>(scoresPerThread_) * pool_.size() * 4);
  loraTmp_.allocate(static_cast<size_t>(std::max(c.maxLoraRank, 1)) * pool_.size() * 4);
  samplingScratch_.resize(pool_.size());
  for (auto& s : samplingScratch_) s.resize(c.vocabSize);
}

float* Model::kCache(int layer) const { return kvCache_.as<float>() + static_cast<int64_t>(2 * layer) * layerCacheFloats_; }
float* Model::vCache(int layer) const { return kvCache_.as<float>() + static_cast<int64_t>(2 * layer + 1) * layerCacheFloats_; }

void Model::setTensor(int layer, Slot slot, const TensorView& tensor) {
  const ModelConfig& c = config_;
  const bool isModel = swiftlet_common::isModelSlot(slot);
  try {
    if (isModel ? layer != -1 : (layer < 0 || layer >= c.numLayers)) {
      throw std::invalid_argument(isModel ? "a model-level slot takes layer -1" : "the model has " + std::to_string(c.numLayers) + " layers");
    }
    if (!swiftlet_common::hasSlot(slot, config_)) throw std::invalid_argument("this model has no such tensor");
    const std::vector<int64_t> want = swiftlet_common::slotShape(slot, config_);
    if (tensor.shape != want) {
      throw std::invalid_argument("shape " + swiftlet_common::shapeString(tensor.shape) + ", expected " + swiftlet_common::shapeString(want));
    }
    if (isModel) {
      if (slot == Slot::kFinalNorm) {
        finalNorm_ = denseFloats(tensor);
      } else {
        // NOTE: a tied embedding is stored once, packed as the lm_head; rows are read back for the lookup.
        // A quantized lm_head is made from it instead, and the lookup keeps the stored rows.
        const DType dtype = parseDType(tensor.format);
        const uint8_t* bytes = denseBytes(tensor, dtype);
        const bool isLogits = slot == Slot::kLmHead || c.tieWordEmbeddings;
        if (isLogits && c.lmHeadBits != 0) {
          if (c.shardRank == 0) quantizedLmHead_ = quantizeDenseLinear(dtype, bytes, c.vocabSize, c.hiddenSize, c.lmHeadBits);
          if (slot == Slot::kEmbedding) embedding_.set(dtype, c.vocabSize, c.hiddenSize, bytes);
        } else if (isLogits) {
          lmHead_.allocate(dtype, c.vocabSize, c.hiddenSize);
          lmHead_.setRows(0, c.vocabSize, dtype, bytes);
        } else {
          embedding_.set(dtype, c.vocabSize, c.hiddenSize, bytes);
        }
      }
      modelSetMask_ |= bit(slot);
      return;
    }
    Layer& L = layers_[layer];
    switch (slot) {
      case Slot::kQkv: L.qkv = makeLinear(tensor); break;
      case Slot::kO: L.o = makeLinear(tensor); break;
      case Slot::kGateUp: L.gateUp = makeLinear(tensor); break;
      case Slot::kDown: L.down = makeLinear(tensor); break;
      case Slot::kInputNorm: L.inputNorm = denseFloats(tensor); break;
      case Slot::kPostNorm: L.postNorm = denseFloats(tensor); break;
      case Slot::kQNorm: L.qNorm = denseFloats(tensor); break;
      case Slot::kKNorm: L.kNorm = denseFloats(tensor); break;
      case Slot::kQkvBias: L.qkvBias = denseFloats(tensor); break;
      case Slot::kOBias: L.oBias = denseFloats(tensor); break;
      case Slot::kGateUpBias: L.gateUpBias = denseFloats(tensor); break;
      default: L.downBias = denseFloats(tensor); break;
    }
    L.setMask |= bit(slot);
  } catch (const std::exception& e) {
    const std::string where = std::string("tensor ") + swiftlet_common::slotName(slot) + (isModel ? "" : " of layer " + std::to_string(layer));
    throw std::runtime_error(where + ": " + e.what());
  }
}

void Model::checkComplete() const {
  for (int s = 0; s < static_cast<int>(Slot::kCount); s++) {
    const Slot slot = static_cast<Slot>(s);
    if (!swiftlet_common::hasSlot(slot, config_)) continue;
    if (slot == Slot::kLmHead && config_.shardRank > 0) continue;
    if (swiftlet_common::isModelSlot(slot)) {
      if (!(modelSetMask_ & bit(slot))) throw std::runtime_error(std::string("missing tensor ") + swiftlet_common::slotName(slot));
      continue;
    }
    for (int l = 0; l < config_.numLayers; l++) {
      if (!(layers_[l].setMask & bit(slot))) {
        throw std::runtime_error(std::string("missing tensor ") + swiftlet_common::slotName(slot) + " of layer " + std::to_string(l));
      }
    }
  }
}

void Model::setAdapter(int slot, std::unique_ptr<Adapter> adapter) {
  if (slot < 0 || slot >= static_cast<int>(adapters_.size())) throw std::runtime_error("adapter slot out of range");
  adapters_[slot] = std::move(adapter);
}

bool Model::hasAdapter(int slot) const {
  return slot >= 0 && slot < static_cast<int>(adapters_.size()) && adapters_[slot] != nullptr;
}

swiftlet_common::StepLimits Model::stepLimits() const {
  swiftlet_common::StepLimits limits;
  limits.vocabSize = config_.vocabSize;
  limits.numKvBlocks = config_.numKvBlocks;
  limits.maxContext = config_.numKvBlocks * kBlockSize;
  limits.maxLoras = config_.maxLoras;
  limits.hasAdapter = [this](int slot) { return hasAdapter(slot); };
  limits.ropeInvFreqWidth = config_.ropeInvFreqWidth();
  return limits;
}

void Model::execute(const StepInput& in, StepResult& out, swiftlet_common::LateTokenBitmask* lateMask) {
  const int S = in.numSeqs;
  out.sampledTokenIds.assign(S, -1);
  out.sampledLogprobs.assign(S, NAN);
  int topK = 0;
  for (int s = 0; s < S; s++)
    if (in.sampling.doSample[s]) topK = std::max(topK, in.sampling.numLogprobs[s]);
  out.topK = topK;
  out.topTokenIds.assign(static_cast<size_t>(S) * topK, -1);
  out.topLogprobs.assign(static_cast<size_t>(S) * topK, NAN);
  const swiftlet_common::PositionLogprobsInput& positions = in.positionLogprobs;
  const size_t numEntries = positions.wanted ? positions.tokenIndex.size() : 0;
  out.positionTargetLogprobs.assign(numEntries, NAN);
  out.positionTopTokenIds.assign(numEntries * positions.topK, -1);
  out.positionTopLogprobs.assign(numEntries * positions.topK, NAN);
  out.hiddenStates.assign(in.hiddenStateRows.size() * config_.hiddenSize, NAN);

  std::vector<int32_t> seqOfToken(in.numTokens);
  slotOfToken_.resize(in.numTokens);
  for (int s = 0; s < S; s++) {
    for (int t = in.queryStart[s]; t < in.queryStart[s + 1]; t++) {
      seqOfToken[t] = s;
      slotOfToken_[t] = in.adapterSlots[s];
    }
  }
  // NOTE: a step longer than the scratch runs as consecutive chunks; results are the same
  // because each token attends only to positions already written to the cache.
  for (int64_t t0 = 0; t0 < in.numTokens; t0 += config_.maxTokensPerChunk) {
    const int64_t n = std::min<int64_t>(config_.maxTokensPerChunk, in.numTokens - t0);
    forwardChunk(in, t0, n, seqOfToken);
    if (config_.shardRank > 0) continue;
    finalHiddenStates(in, t0, n, out);
    logitsAndSampling(in, t0, n, out, lateMask);
  }
}

void Model::linear(const Linear& w, const std::vector<float>& bias, const float* x, int64_t numTokens, int64_t ldx,
                   float* y, int64_t ldy) {
  w.forward(pool_, x, numTokens, ldx, y, ldy);
  addBias(bias, y, numTokens, ldy);
}

void Model::addBias(const std::vector<float>& bias, float* y, int64_t numTokens, int64_t ldy) {
  if (bias.empty()) return;
  const int64_t N = static_cast<int64_t>(bias.size());
  pool_.parallelFor(numTokens, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++)
      for (int64_t n = 0; n < N; n++) y[t * ldy + n] += bias[n];
  });
}

void Model::rowParallelLinear(int layer, const Linear& w, const std::vector<float>& bias, int projection, const float* x,
                              int64_t numTokens, int64_t ldx, float* y, const int32_t* slotOfToken) {
  const int64_t H = config_.hiddenSize;
  const std::vector<std::pair<int, int>> parts = {{projection, 0}};
  if (!group_) {
    linear(w, bias, x, numTokens, ldx, y, H);
    applyLora(layer, parts, x, ldx, y, H, numTokens, slotOfToken);
    return;
  }
  // NOTE: each shard's product (and its LoRA delta) is a partial sum over its input columns; the
  // whole bias is added once, after the sum.
  static const std::vector<float> kNoBias;
  linear(w, kNoBias, x, numTokens, ldx, y, H);
  applyLora(layer, parts, x, ldx, y, H, numTokens, slotOfToken);
  group_->allReduceSum(y, numTokens * H);
  addBias(bias, y, numTokens, H);
}

void Model::applyLora(int layer, const std::vector<std::pair<int, int>>& parts, const float* x, int64_t ldx, float* y,
                      int64_t ldy, int64_t numTokens, const int32_t* slotOfToken) {
  bool any = false;
  for (int64_t t = 0; t < numTokens && !any; t++) any = slotOfToken[t] >= 0;
  if (!any) return;
  const ModelConfig& c = config_;
  pool_.parallelForThreads(numTokens, [&](int64_t t0, int64_t t1, int threadIndex) {
    float* u = loraTmp_.as<float>() + threadIndex * std::max(c.maxLoraRank, 1);
    for (int64_t t = t0; t < t1; t++) {
      const int slot = slotOfToken[t];
      if (slot < 0) continue;
      const Adapter& adapter = *adapters_[slot];
      const float* xr = x + t * ldx;
      for (const auto& [proj, offset] : parts) {
        const LoraModule& m = adapter.layers[layer][proj];
        if (m.rank == 0) continue;
        const int64_t in = static_cast<int64_t>(m.a.size()) / m.rank;
        const int64_t outFeatures = static_cast<int64_t>(m.b.size()) / m.rank;
        for (int r = 0; r < m.rank; r++) u[r] = dot(m.a.data() + r * in, xr, in);
        float* yr = y + t * ldy + offset;
        for (int64_t o = 0; o < outFeatures; o++) {
          const float* br = m.b.data() + o * m.rank;
          float delta = 0.f;
          for (int r = 0; r < m.rank; r++) delta = std::fma(br[r], u[r], delta);
          yr[o] += delta * adapter.scale;
        }
      }
    }
  });
}

void Model::rmsNormRows(const float* x, int64_t numRows, int64_t ld, const std::vector<float>& weight, float* out,
                        int64_t ldOut, int64_t width) {
  pool_.parallelFor(numRows, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) rmsNorm(x + r * ld, weight.data(), out + r * ldOut, width, config_.rmsNormEps);
  });
}

void Model::captureInputGrams(int layer) {
  const ModelConfig& c = config_;
  if (layer < -1 || layer >= c.numLayers) throw std::invalid_argument("the model has " + std::to_string(c.numLayers) + " layers");
  gramLayer_ = layer;
  const int64_t H = c.hiddenSize;
  grams_.reset(layer < 0 ? std::array<int64_t, InputGrams::kNumInputs>{} : std::array<int64_t, InputGrams::kNumInputs>{H, static_cast<int64_t>(c.numHeads) * c.headDim, H, c.intermediateSize});
}

void Model::forwardChunk(const StepInput& in, int64_t t0, int64_t T, const std::vector<int32_t>& seqOfToken) {
  const ModelConfig& c = config_;
  const int64_t H = c.hiddenSize, I = c.intermediateSize, hd = c.headDim;
  const int64_t qWidth = static_cast<int64_t>(c.numHeads) * hd, kvWidth = static_cast<int64_t>(c.numKvHeads) * hd;
  float* x = x_.as<float>();
  float* xn = xn_.as<float>();
  float* qkv = qkv_.as<float>();
  float* attn = attn_.as<float>();
  float* proj = proj_.as<float>();
  float* gateUp = gateUp_.as<float>();
  float* act = act_.as<float>();
  const int32_t* slots = slotOfToken_.data() + t0;
  const int64_t half = c.rotaryDim / 2;

  pool_.parallelFor(T, [&](int64_t a, int64_t b) {
    for (int64_t t = a; t < b; t++) {
      const int32_t id = in.tokenIds[t0 + t];
      if (c.tieWordEmbeddings && c.lmHeadBits == 0) lmHead_.getRow(id, x + t * H);
      else embedding_.getRow(id, x + t * H);
    }
  });

  const std::vector<std::pair<int, int>> qkvParts = {{kQ, 0}, {kK, static_cast<int>(qWidth)}, {kV, static_cast<int>(qWidth + kvWidth)}};
  const std::vector<std::pair<int, int>> gateUpParts = {{kGate, 0}, {kUp, static_cast<int>(I)}};

  for (int l = 0; l < c.numLayers; l++) {
    Layer& L = layers_[l];
    rmsNormRows(x, T, H, L.inputNorm, xn, H, H);
    if (l == gramLayer_) grams_.add(pool_, 0, xn, T, H);
    linear(*L.qkv, L.qkvBias, xn, T, H, qkv, qkvWidth_);
    applyLora(l, qkvParts, xn, H, qkv, qkvWidth_, T, slots);

    // Per-head q/k norm (Qwen3), rotary, then K and V into the cache.
    float* kc = kCache(l);
    float* vc = vCache(l);
    pool_.parallelFor(T, [&](int64_t a, int64_t b) {
      float cosv[kMaxRotaryHalf], sinv[kMaxRotaryHalf];
      for (int64_t t = a; t < b; t++) {
        float* row = qkv + t * qkvWidth_;
        const int numRotated = c.numHeads + c.numKvHeads;
        if (c.qkNorm) {
          for (int h = 0; h < numRotated; h++) {
            const float* w = h < c.numHeads ? L.qNorm.data() : L.kNorm.data();
            rmsNorm(row + h * hd, w, row + h * hd, hd, c.rmsNormEps);
          }
        }
        const int32_t position = in.positions[t0 + t];
        const float* invFreq = c.perSequenceRope ? in.ropeInvFreq.data() + seqOfToken[t0 + t] * half : c.invFreq.data();
        for (int64_t i = 0; i < half; i++) {
          const float angle = static_cast<float>(position) * invFreq[i];
          cosv[i] = std::cos(angle) * c.attentionScale;
          sinv[i] = std::sin(angle) * c.attentionScale;
        }
        // Pair i is (i, i + half) in the rotate_half layout, (2i, 2i + 1) interleaved (ChatGLM).
        const int64_t pairStride = c.ropeInterleaved ? 2 : 1, partnerOffset = c.ropeInterleaved ? 1 : half;
        for (int h = 0; h < numRotated; h++) {
          float* v = row + h * hd;
          for (int64_t i = 0; i < half; i++) {
            float* x1 = v + i * pairStride;
            float* x2 = x1 + partnerOffset;
            const float a = *x1, b = *x2;
            *x1 = a * cosv[i] - b * sinv[i];
            *x2 = b * cosv[i] + a * sinv[i];
          }
        }
        const float lognScale = swiftlet_common::lognQueryScale(c.lognAttnContext, position);
        if (lognScale != 1.f) {
          for (int64_t i = 0; i < qWidth; i++) row[i] *= lognScale;
        }
        const int64_t slot = in.slotMapping[t0 + t];
        std::memcpy(kc + slot * kvWidth, row + qWidth, kvWidth * sizeof(float));
        std::memcpy(vc + slot * kvWidth, row + qWidth + kvWidth, kvWidth * sizeof(float));
      }
    });

    attention(l, in, t0, T, seqOfToken);

    if (l == gramLayer_) grams_.add(pool_, 1, attn, T, qWidth);
    rowParallelLinear(l, *L.o, L.oBias, kO, attn, T, qWidth, proj, slots);
    pool_.parallelFor(T * H, [&](int64_t a, int64_t b) {
      for (int64_t i = a; i < b; i++) x[i] += proj[i];
    });

    rmsNormRows(x, T, H, L.postNorm, xn, H, H);
    if (l == gramLayer_) grams_.add(pool_, 2, xn, T, H);
    linear(*L.gateUp, L.gateUpBias, xn, T, H, gateUp, 2 * I);
    applyLora(l, gateUpParts, xn, H, gateUp, 2 * I, T, slots);
    pool_.parallelFor(T, [&](int64_t a, int64_t b) {
      for (int64_t t = a; t < b; t++) {
        const float* g = gateUp + t * 2 * I;
        const float* u = g + I;
        float* out = act + t * I;
#if defined(__AVX512F__)
        int64_t i = 0;
        const __m512 one = _mm512_set1_ps(1.f);
        for (; i + 16 <= I; i += 16) {
          const __m512 gv = _mm512_loadu_ps(g + i);
          const __m512 s = _mm512_div_ps(gv, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), gv))));
          _mm512_storeu_ps(out + i, _mm512_mul_ps(s, _mm512_loadu_ps(u + i)));
        }
        for (; i < I; i++) out[i] = silu(g[i]) * u[i];
#else
        for (int64_t i = 0; i < I; i++) out[i] = silu(g[i]) * u[i];
#endif
      }
    });
    if (l == gramLayer_) grams_.add(pool_, 3, act, T, I);
    rowParallelLinear(l, *L.down, L.downBias, kDown, act, T, I, proj, slots);
    pool_.parallelFor(T * H, [&](int64_t a, int64_t b) {
      for (int64_t i = a; i < b; i++) x[i] += proj[i];
    });
  }
}

void Model::attention(int layer, const StepInput& in, int64_t t0, int64_t T, const std::vector<int32_t>& seqOfToken) {
  const ModelConfig& c = config_;
  const int64_t hd = c.headDim;
  const int group = c.numHeads / c.numKvHeads;
  const int64_t qWidth = static_cast<int64_t>(c.numHeads) * hd, kvWidth = static_cast<int64_t>(c.numKvHeads) * hd;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const float* kc = kCache(layer);
  const float* vc = vCache(layer);
  const float* qkv = qkv_.as<float>();
  float* attn = attn_.as<float>();
  const int64_t maxContext = static_cast<int64_t>(c.numKvBlocks) * kBlockSize;
  // One item = one token and one KV head with its group of query heads (K and V read once).
  pool_.parallelForDynamic(T * c.numKvHeads, [&](int64_t item, int threadIndex) {
    const int64_t t = item / c.numKvHeads;
    const int g = static_cast<int>(item % c.numKvHeads);
    const int64_t numContext = static_cast<int64_t>(in.positions[t0 + t]) + 1;
    const int32_t* table = in.blockTables.data() + static_cast<int64_t>(seqOfToken[t0 + t]) * in.maxBlocksPerSeq;
    float* scores = scores_.as<float>() + threadIndex * scoresPerThread_;
    const float* q = qkv + t * qkvWidth_ + static_cast<int64_t>(g) * group * hd;
    for (int64_t j = 0; j < numContext; j++) {
      const int64_t slot = static_cast<int64_t>(table[j / kBlockSize]) * kBlockSize + j % kBlockSize;
      const float* k = kc + slot * kvWidth + g * hd;
      for (int h = 0; h < group; h++) scores[h * maxContext + j] = dot(q + h * hd, k, hd) * scale;
    }
    for (int h = 0; h < group; h++) {
      float* s = scores + h * maxContext;
      const float m = maxOf(s, numContext);
      const float inv = 1.f / expShiftSum(s, m, s, numContext);
      for (int64_t j = 0; j < numContext; j++) s[j] *= inv;
    }
    float* out = attn + t * qWidth + static_cast<int64_t>(g) * group * hd;
    std::memset(out, 0, group * hd * sizeof(float));
    for (int64_t j = 0; j < numContext; j++) {
      const int64_t slot = static_cast<int64_t>(table[j / kBlockSize]) * kBlockSize + j % kBlockSize;
      const float* v = vc + slot * kvWidth + g * hd;
      for (int h = 0; h < group; h++) axpy(scores[h * maxContext + j], v, out + h * hd, hd);
    }
  });
}

// The rows of this chunk whose final hidden state was asked for, after the final norm (as the
// logits see them).
void Model::finalHiddenStates(const StepInput& in, int64_t t0, int64_t T, StepResult& out) {
  const int64_t H = config_.hiddenSize;
  const std::vector<int32_t>& rows = in.hiddenStateRows;
  const float* x = x_.as<float>();
  pool_.parallelFor(static_cast<int64_t>(rows.size()), [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; i++) {
      const int64_t row = rows[i];
      if (row >= t0 && row < t0 + T) rmsNorm(x + (row - t0) * H, finalNorm_.data(), out.hiddenStates.data() + i * H, H, config_.rmsNormEps);
    }
  });
}

void Model::logitsAndSampling(const StepInput& in, int64_t t0, int64_t T, StepResult& out,
                              swiftlet_common::LateTokenBitmask* lateMask) {
  const ModelConfig& c = config_;
  const int64_t H = c.hiddenSize, V = c.vocabSize;
  // A use of a row's distribution: >= 0 a sampled sequence, < 0 position entry -(e + 1).
  struct Use {
    int64_t row;
    int64_t what;
  };
  std::vector<Use> uses;
  for (int s = 0; s < in.numSeqs; s++) {
    const int64_t row = in.queryStart[s + 1] - 1;
    if (in.sampling.doSample[s] && row >= t0 && row < t0 + T) uses.push_back({row, s});
  }
  const bool anySampled = !uses.empty();
  if (in.positionLogprobs.wanted) {
    for (size_t e = 0; e < in.positionLogprobs.tokenIndex.size(); e++) {
      const int64_t row = in.positionLogprobs.tokenIndex[e];
      if (row >= t0 && row < t0 + T) uses.push_back({row, -static_cast<int64_t>(e) - 1});
    }
  }
  if (uses.empty()) return;
  std::stable_sort(uses.begin(), uses.end(), [](const Use& a, const Use& b) { return a.row < b.row; });
  std::vector<int64_t> rows;
  for (const Use& u : uses)
    if (rows.empty() || rows.back() != u.row) rows.push_back(u.row);

  const float* x = x_.as<float>();
  float* xn = xn_.as<float>();
  float* logits = logits_.as<float>();
  size_t nextUse = 0;
  for (size_t r0 = 0; r0 < rows.size(); r0 += logitRows_) {
    const size_t numRows = std::min<size_t>(logitRows_, rows.size() - r0);
    pool_.parallelFor(static_cast<int64_t>(numRows), [&](int64_t a, int64_t b) {
      for (int64_t i = a; i < b; i++) rmsNorm(x + (rows[r0 + i] - t0) * H, finalNorm_.data(), xn + i * H, H, c.rmsNormEps);
    });
    if (quantizedLmHead_) {
      quantizedLmHead_->forward(pool_, xn, static_cast<int64_t>(numRows), H, logits, V);
    } else {
      gemm(pool_, xn, static_cast<int64_t>(numRows), H, lmHead_, logits, V);
    }
    // A late mask is waited for as late as possible: only the masking below needs it.
    const swiftlet_common::TokenBitmaskInput& mask = lateMask != nullptr && anySampled ? lateMask->wait() : in.tokenBitmask;
    const size_t useBegin = nextUse;
    while (nextUse < uses.size() && uses[nextUse].row <= rows[r0 + numRows - 1]) nextUse++;
    const int64_t rowBase = static_cast<int64_t>(r0);
    pool_.parallelForDynamic(static_cast<int64_t>(nextUse - useBegin), [&](int64_t k, int threadIndex) {
      const Use& use = uses[useBegin + k];
      const int64_t rowIndex = std::lower_bound(rows.begin() + rowBase, rows.begin() + rowBase + numRows, use.row) - rows.begin() - rowBase;
      float* rowLogits = logits + rowIndex * V;
      // Only a sampled row is masked; validateStep keeps a constrained one out of positionLogprobs.
      if (use.what >= 0) applyTokenBitmask(rowLogits, static_cast<int>(V), mask.rowOf(static_cast<int>(use.what)));
      const float lse = logSumExp(rowLogits, static_cast<int>(V));
      if (use.what >= 0) {
        const int s = static_cast<int>(use.what);
        const swiftlet_common::SamplingInput& sampling = in.sampling;
        RowSampling rs;
        static_cast<swiftlet_common::SamplingSettings&>(rs) = sampling.settingsOf(s);
        rs.seedLo = sampling.seeds[2 * s];
        rs.seedHi = sampling.seeds[2 * s + 1];
        if (!sampling.promptStart.empty()) {
          rs.promptIds = sampling.promptTokenIds.data() + sampling.promptStart[s];
          rs.numPromptIds = sampling.promptStart[s + 1] - sampling.promptStart[s];
        }
        if (!sampling.outputStart.empty()) {
          rs.outputIds = sampling.outputTokenIds.data() + sampling.outputStart[s];
          rs.numOutputIds = sampling.outputStart[s + 1] - sampling.outputStart[s];
        }
        if (!sampling.biasStart.empty()) {
          rs.biasIds = sampling.biasTokenIds.data() + sampling.biasStart[s];
          rs.biasValues = sampling.biasValues.data() + sampling.biasStart[s];
          rs.numBias = sampling.biasStart[s + 1] - sampling.biasStart[s];
        }
        const int32_t token = sampleToken(rowLogits, static_cast<int>(V), rs, samplingScratch_[threadIndex]);
        out.sampledTokenIds[s] = token;
        out.sampledLogprobs[s] = rowLogits[token] - lse;
        if (sampling.numLogprobs[s] > 0) {
          topLogprobs(rowLogits, static_cast<int>(V), lse, out.topK, out.topTokenIds.data() + static_cast<size_t>(s) * out.topK,
                      out.topLogprobs.data() + static_cast<size_t>(s) * out.topK);
        }
      } else {
        const size_t e = static_cast<size_t>(-use.what - 1);
        const int32_t target = in.positionLogprobs.targetTokenId[e];
        if (target >= 0) out.positionTargetLogprobs[e] = rowLogits[target] - lse;
        const int k = in.positionLogprobs.topK;
        topLogprobs(rowLogits, static_cast<int>(V), lse, k, out.positionTopTokenIds.data() + e * k,
                    out.positionTopLogprobs.data() + e * k);
      }
    });
  }
}

}  // namespace swiftlet
