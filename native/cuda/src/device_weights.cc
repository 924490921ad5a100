#include "device_weights.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "dense_tensors.h"
#include "slot_shapes.h"

namespace swiftlet_cuda {

using swiftlet_common::Slot;

DeviceWeights::DeviceWeights(GpuDevice& device, const ModelConfig& config)
    : device_(device), cfg_(config), layers_(config.numLayers) {}

std::unique_ptr<Linear>* DeviceWeights::linearOf(int layer, Slot slot) {
  if (slot == Slot::kLmHead) return &lmHead_;
  if (!swiftlet_common::isLinearSlot(slot)) return nullptr;
  LayerWeights& l = layers_[layer];
  return slot == Slot::kQkv ? &l.qkv : slot == Slot::kO ? &l.o : slot == Slot::kGateUp ? &l.gateUp : &l.down;
}

CUdeviceptr* DeviceWeights::bufferOf(int layer, Slot slot) {
  if (slot == Slot::kEmbedding) return &embedding_;
  if (slot == Slot::kFinalNorm) return &finalNorm_;
  LayerWeights& l = layers_[layer];
  switch (slot) {
    case Slot::kInputNorm: return &l.inputNorm;
    case Slot::kPostNorm: return &l.postNorm;
    case Slot::kQkvBias: return &l.qkvBias;
    case Slot::kOBias: return &l.oBias;
    case Slot::kGateUpBias: return &l.gateUpBias;
    case Slot::kDownBias: return &l.downBias;
    case Slot::kQNorm: return &l.qNorm;
    case Slot::kKNorm: return &l.kNorm;
    default: return nullptr;  // a linear slot
  }
}

bool DeviceWeights::isFilled(int layer, Slot slot) {
  if (std::unique_ptr<Linear>* linear = linearOf(layer, slot)) return *linear != nullptr;
  return *bufferOf(layer, slot) != 0;
}

void DeviceWeights::setEmbedding(CUdeviceptr table) {
  embedding_ = table;
  // NOTE: a tied lmHead multiplies by the embedding table itself (one copy on the device).
  if (cfg_.tieWordEmbeddings && cfg_.computesLogits) lmHead_ = denseBf16Linear(table, cfg_.vocabSize, cfg_.hiddenSize);
}

void DeviceWeights::upload(int layer, Slot slot, const swiftlet_common::TensorView& tensor) {
  const bool isModel = swiftlet_common::isModelSlot(slot);
  try {
    if (isModel ? layer != -1 : (layer < 0 || layer >= cfg_.numLayers))
      throw std::invalid_argument(isModel ? "a model-level slot takes layer -1"
                                          : "the model has " + std::to_string(cfg_.numLayers) + " layers");
    if (!hasSlot(cfg_, slot)) throw std::invalid_argument("this model (or rank) has no such tensor");
    const std::vector<int64_t> want = slotShape(cfg_, slot);
    if (tensor.shape != want)
      throw std::invalid_argument("shape " + swiftlet_common::shapeString(tensor.shape) + ", expected " +
                                  swiftlet_common::shapeString(want));
    if (isFilled(layer, slot)) throw std::invalid_argument("already uploaded");
    device_.makeCurrent();
    if (std::unique_ptr<Linear>* linear = linearOf(layer, slot)) {
      *linear = makeLinear(device_, tensor);
      bytes_ += (*linear)->deviceBytes();
    } else if (slot == Slot::kEmbedding) {
      setEmbedding(uploadBf16(device_, tensor));
      bytes_ += (size_t)tensor.numElements() * 2;
    } else {
      *bufferOf(layer, slot) = uploadF32(device_, tensor);
      bytes_ += (size_t)tensor.numElements() * 4;
    }
  } catch (const std::exception& e) {
    throw CudaError(std::string("tensor ") + swiftlet_common::slotName(slot) +
                    (isModel ? "" : " of layer " + std::to_string(layer)) + ": " + e.what());
  }
}

void DeviceWeights::initRandom(uint64_t seed, int shard, const RandomLinearFormat& format) {
  device_.makeCurrent();
  const float scale = 0.02f * std::sqrt(3.f);  // uniform with std 0.02, transformers' initializer_range
  // One stream per tensor, in this order, counting the slots a model lacks too; a tensor every
  // rank holds whole (embedding, norms, o/down biases) gets the same stream on every rank, a split
  // one a stream of its own per shard.
  uint64_t counter = 0;
  auto streamFor = [&](bool split) {
    const uint64_t s = seed * 0x9E3779B97F4A7C15ull + ++counter;
    return split ? s ^ ((uint64_t)(shard + 1) * 0xD1B54A32D192ED03ull) : s;
  };
  auto matrix = [&](int layer, Slot slot, bool split) {
    const uint64_t s = streamFor(split);
    if (!hasSlot(cfg_, slot)) return;
    const std::vector<int64_t> shape = slotShape(cfg_, slot);
    if (format.bits != 0 && swiftlet_common::isLinearSlot(slot)) {
      *linearOf(layer, slot) = randomGroupedIntLinear(device_, (int)shape[0], (int)shape[1], format, s);
      bytes_ += (*linearOf(layer, slot))->deviceBytes();
      return;
    }
    const size_t n = (size_t)(shape[0] * shape[1]);
    const CUdeviceptr p = device_.alloc(n * 2);
    fillUniformBf16(device_, p, n, s, scale);
    bytes_ += n * 2;
    if (slot == Slot::kEmbedding) setEmbedding(p);
    else *linearOf(layer, slot) = denseBf16Linear(p, (int)shape[0], (int)shape[1]);
  };
  auto vector = [&](int layer, Slot slot, float center, float spread, bool split) {
    const uint64_t s = streamFor(split);
    if (!hasSlot(cfg_, slot)) return;
    const size_t n = (size_t)slotShape(cfg_, slot)[0];
    const CUdeviceptr p = device_.alloc(n * 4);
    fillUniformF32(device_, p, n, s, center, spread);
    bytes_ += n * 4;
    *bufferOf(layer, slot) = p;
  };
  matrix(-1, Slot::kEmbedding, false);
  if (!cfg_.tieWordEmbeddings) matrix(-1, Slot::kLmHead, false);
  vector(-1, Slot::kFinalNorm, 1.f, 0.f, false);
  for (int li = 0; li < cfg_.numLayers; li++) {
    matrix(li, Slot::kQkv, true);
    matrix(li, Slot::kO, true);
    matrix(li, Slot::kGateUp, true);
    matrix(li, Slot::kDown, true);
    vector(li, Slot::kInputNorm, 1.f, 0.f, false);
    vector(li, Slot::kPostNorm, 1.f, 0.f, false);
    vector(li, Slot::kQkvBias, 0.f, 0.02f, true);
    vector(li, Slot::kOBias, 0.f, 0.02f, false);
    vector(li, Slot::kGateUpBias, 0.f, 0.02f, true);
    vector(li, Slot::kDownBias, 0.f, 0.02f, false);
    vector(li, Slot::kQNorm, 1.f, 0.f, false);
    vector(li, Slot::kKNorm, 1.f, 0.f, false);
  }
  device_.synchronize("random weights");
}

void DeviceWeights::checkComplete() {
  for (int s = 0; s < static_cast<int>(Slot::kCount); s++) {
    const Slot slot = static_cast<Slot>(s);
    if (!hasSlot(cfg_, slot)) continue;
    const bool isModel = swiftlet_common::isModelSlot(slot);
    for (int l = isModel ? -1 : 0; l < (isModel ? 0 : cfg_.numLayers); l++) {
      if (!isFilled(l, slot))
        throw CudaError(std::string("missing tensor ") + swiftlet_common::slotName(slot) +
                        (isModel ? "" : " of layer " + std::to_string(l)));
    }
  }
}

}  // namespace swiftlet_cuda
