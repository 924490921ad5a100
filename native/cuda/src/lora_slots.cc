#include "lora_slots.h"

#include <algorithm>
#include <string>

namespace swiftlet_cuda {

using swiftlet_common::Slot;
namespace {
// The group (index within a layer) after the GEMM of each linear slot.
int groupOf(Slot target) { return target == Slot::kQkv ? 0 : target == Slot::kO ? 1 : target == Slot::kGateUp ? 2 : 3; }
}  // namespace

LoraSlots::LoraSlots(GpuDevice& device, const ModelConfig& config) : device_(device), cfg_(config) {
  const ModelConfig& c = cfg_;
  if (c.maxLoras == 0) return;
  const DriverApi& cu = device_.driver();
  const CUstream stream = device_.stream();
  const size_t H = c.hiddenSize, D = c.headDim, I = c.intermediateSize, T = c.maxNumTokens;
  const size_t R = c.maxLoraRank, qRows = (size_t)c.numHeads * D, kvRows = (size_t)c.numKvHeads * D;
  size_t off = 0;
  auto group = [&](size_t k, size_t n, int numSeg, size_t e0, size_t e1) {
    Group g;
    g.numSeg = numSeg;
    g.segEnd0 = (int)e0;
    g.segEnd1 = (int)e1;
    g.a = off;
    off += numSeg * R * k;
    g.b = off;
    off += n * R;
    off = (off + 7) & ~size_t(7);  // 32-byte rows for the shrink's vector loads
    groups_.push_back(g);
  };
  for (int li = 0; li < c.numLayers; li++) {
    group(H, c.qkvRows(), 3, qRows, qRows + kvRows);
    group(qRows, H, 1, H, H);
    group(H, 2 * I, 2, I, 2 * I);
    group(I, H, 1, H, H);
  }
  slotElems_ = off;
  weights_ = device_.alloc((size_t)c.maxLoras * slotElems_ * 4);
  checkCu(cu.memsetD8Async(weights_, 0, (size_t)c.maxLoras * slotElems_ * 4, stream), "clear LoRA slots");
  ranks_ = device_.alloc((size_t)c.maxLoras * 4);
  scales_ = device_.alloc((size_t)c.maxLoras * 4);
  checkCu(cu.memsetD8Async(ranks_, 0, (size_t)c.maxLoras * 4, stream), "clear LoRA ranks");
  checkCu(cu.memsetD8Async(scales_, 0, (size_t)c.maxLoras * 4, stream), "clear LoRA scales");
  u_ = device_.alloc(T * 3 * R * 4);
  rankHost_.assign(c.maxLoras, 0);
  scaleHost_.assign(c.maxLoras, 0.f);
  loaded_.assign(c.maxLoras, false);
  device_.synchronize("cuStreamSynchronize");
}

void LoraSlots::check(const LoraAdapter& adapter) const {
  using namespace swiftlet_common;
  const ModelConfig& c = cfg_;
  if (c.maxLoras == 0) throw CudaError("CUDA runner: LoRA is off (maxLoras 0)");
  const size_t H = c.hiddenSize, I = c.intermediateSize, q = (size_t)c.numHeads * c.headDim, kv = (size_t)c.numKvHeads * c.headDim;
  for (const LoraModule& m : adapter.modules) {
    if (m.proj < 0 || m.proj >= kNumProjections) throw CudaError("LoRA module: unknown projection");
    const std::string where = "LoRA module layer " + std::to_string(m.layer) + " " + projectionName(m.proj);
    if (m.layer < 0 || m.layer >= c.numLayers) throw CudaError(where + ": layer out of range");
    if (m.rank <= 0 || m.rank > c.maxLoraRank)
      throw CudaError(where + ": rank " + std::to_string(m.rank) + " exceeds maxLoraRank " + std::to_string(c.maxLoraRank));
    const size_t in = m.proj == kO ? q : m.proj == kDown ? I : H;
    const size_t out = m.proj == kQ ? q : (m.proj == kK || m.proj == kV) ? kv : (m.proj == kGate || m.proj == kUp) ? I : H;
    if (m.a.size() != (size_t)m.rank * in || m.b.size() != out * m.rank)
      throw CudaError(where + ": A must be [" + std::to_string(m.rank) + ", " + std::to_string(in) + "] and B [" +
                      std::to_string(out) + ", " + std::to_string(m.rank) + "]");
  }
}

void LoraSlots::set(int slot, const LoraAdapter* adapter) {
  using namespace swiftlet_common;
  const ModelConfig& c = cfg_;
  if (slot < 0 || slot >= c.maxLoras)
    throw CudaError("adapter slot " + std::to_string(slot) + " is outside 0.." + std::to_string(c.maxLoras - 1));
  device_.makeCurrent();
  const DriverApi& cu = device_.driver();
  const CUstream stream = device_.stream();
  int rank = 0;
  if (adapter) {
    check(*adapter);
    const size_t R = c.maxLoraRank, H = c.hiddenSize, I = c.intermediateSize, q = (size_t)c.numHeads * c.headDim,
                 kv = (size_t)c.numKvHeads * c.headDim;
    const CUdeviceptr base = weights_ + (size_t)slot * slotElems_ * 4;
    checkCu(cu.memsetD8Async(base, 0, slotElems_ * 4, stream), "clear LoRA slot");
    std::vector<float> staged;
    for (const LoraModule& m : adapter->modules) {
      static const Slot targetOf[] = {Slot::kQkv, Slot::kQkv, Slot::kQkv, Slot::kO, Slot::kGateUp, Slot::kGateUp, Slot::kDown};
      static const int segOf[] = {0, 1, 2, 0, 0, 1, 0};
      const Group& g = groups_[(size_t)m.layer * 4 + groupOf(targetOf[m.proj])];
      const size_t in = m.proj == kO ? q : m.proj == kDown ? I : H;
      const size_t out = m.b.size() / m.rank;
      const size_t col = m.proj == kK ? q : m.proj == kV ? q + kv : m.proj == kUp ? I : 0;
      const size_t aCount = (size_t)m.rank * in, bCount = out * R;
      staged.assign(bCount, 0.f);
      for (size_t o = 0; o < out; o++)
        for (int k = 0; k < m.rank; k++) staged[o * R + k] = m.b[o * m.rank + k];
      checkCu(cu.memcpyHtoDAsync(base + (g.a + segOf[m.proj] * R * in) * 4, m.a.data(), aCount * 4, stream),
              "upload LoRA A");
      checkCu(cu.memcpyHtoDAsync(base + (g.b + col * R) * 4, staged.data(), bCount * 4, stream), "upload LoRA B");
      // NOTE: the staging buffer is reused, so each module's copies must land first.
      device_.synchronize("upload LoRA module");
      rank = std::max(rank, m.rank);
    }
  }
  loaded_[slot] = adapter != nullptr;
  rankHost_[slot] = rank;
  scaleHost_[slot] = adapter ? adapter->scale : 0.f;
  checkCu(cu.memcpyHtoDAsync(ranks_, rankHost_.data(), rankHost_.size() * 4, stream), "upload LoRA ranks");
  checkCu(cu.memcpyHtoDAsync(scales_, scaleHost_.data(), scaleHost_.size() * 4, stream), "upload LoRA scales");
  device_.synchronize("upload LoRA adapter");
}

void LoraSlots::apply(int layer, Slot target, CUdeviceptr tokenSlots, CUdeviceptr x, int k, CUdeviceptr y, int n, int T) {
  const Group& g = groups_[(size_t)layer * 4 + groupOf(target)];
  CUdeviceptr a = weights_ + g.a * 4, b = weights_ + g.b * 4;
  long long slotStride = (long long)slotElems_;
  int R = cfg_.maxLoraRank, uld = g.numSeg * R, numSeg = g.numSeg, e0 = g.segEnd0, e1 = g.segEnd1;
  const unsigned tiles = (unsigned)((T + 7) / 8);
  device_.launch(device_.fn("lora_shrink"), {tiles, (unsigned)(numSeg * ((R + 3) / 4))}, {128}, 0,
                 {&x, &k, &k, &tokenSlots, &T, &a, &slotStride, &ranks_, &R, &u_, &uld});
  device_.launch(device_.fn("lora_expand"), {tiles, (unsigned)((n + 255) / 256)}, {256}, (unsigned)(8 * uld * 4),
                 {&u_, &uld, &tokenSlots, &T, &b, &slotStride, &ranks_, &scales_, &R, &y, &n, &n, &e0, &e1});
}

}  // namespace swiftlet_cuda
