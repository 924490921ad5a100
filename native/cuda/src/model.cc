#include "model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "attention_tiles.h"
#include "layout.h"

namespace swiftlet_cuda {
namespace {

using swiftlet_common::kKvBlockSize;
using swiftlet_common::Slot;

size_t align256(size_t n) { return (n + 255) & ~size_t(255); }

// The shapes the kernels take; thrown before anything touches the GPU.
const ModelConfig& checkedConfig(const ModelConfig& c) {
  if (c.headDim != 16 && c.headDim != 32 && c.headDim != 64 && c.headDim != 128)
    throw CudaError("CUDA runner: head_dim " + std::to_string(c.headDim) + " is not supported (16, 32, 64, 128)");
  if (c.numHeads % c.numKvHeads != 0 || c.numHeads / c.numKvHeads > 16)
    throw CudaError("CUDA runner: query heads per KV head must divide evenly and be at most 16");
  if (c.hiddenSize % 8 != 0 || c.intermediateSize % 8 != 0) throw CudaError("CUDA runner: hidden and intermediate sizes must be multiples of 8");
  if (c.rotaryDim > c.headDim || (int)c.invFreq.size() < c.rotaryDim / 2)
    throw CudaError("CUDA runner: rotary tables do not match head_dim");
  if (c.maxLoras < 0 || (c.maxLoras > 0 && (c.maxLoraRank < 1 || c.maxLoraRank > 256)))
    throw CudaError("CUDA runner: maxLoraRank must be 1..256 when maxLoras > 0 (got " + std::to_string(c.maxLoraRank) + ")");
  return c;
}

}  // namespace

Model::Model(const ModelConfig& config, const EnvFlags& flags)
    : cfg_(checkedConfig(config)),
      device_(cfg_.device, cfg_.fatbinPath),
      profiler_(device_, flags.profile, cfg_.numLayers),
      planner_(device_, flags.useGemv),
      weights_(device_, cfg_),
      lora_(device_, cfg_),
      graphs_(device_, cfg_.maxNumSeqs, cfg_.useCudaGraphs && flags.profile != ProfileMode::kStages),
      decodeSimt_(flags.decodeSimt) {
  const ModelConfig& c = cfg_;
  const DriverApi& cu = device_.driver();
  const CUstream stream = device_.stream();
  const size_t H = c.hiddenSize, D = c.headDim, V = c.vocabSize, I = c.intermediateSize;
  const size_t qkvRows = c.qkvRows(), qDim = (size_t)c.numHeads * D;
  invFreq_ = device_.alloc(c.invFreq.size() * 4 + 4);
  checkCu(cu.memcpyHtoDAsync(invFreq_, c.invFreq.data(), c.invFreq.size() * 4, stream), "upload invFreq");

  // Scratch.
  const size_t T = c.maxNumTokens, S = c.maxNumSeqs;
  maxBlocksPerSeq_ = (c.maxModelLen + kKvBlockSize - 1) / kKvBlockSize;
  maxSplits_ = 32;
  logitsCap_ = c.computesLogits ? std::max(c.maxNumSeqs, 256) : 0;
  maxWorkItems_ = c.maxNumTokens / attn::BQ + c.maxNumSeqs;
  residual_ = device_.alloc(T * H * 4);
  normed_ = device_.alloc(T * H * 2);
  qkvOut_ = device_.alloc(T * qkvRows * 2);
  q_ = device_.alloc(T * qDim * 2);
  attnOut_ = device_.alloc(T * qDim * 2);
  delta_ = device_.alloc(T * H * 2);
  gateUpOut_ = device_.alloc(T * 2 * I * 2);
  act_ = device_.alloc(T * I * 2);
  finalNormed_ = device_.alloc((size_t)logitsCap_ * H * 2);
  logits_ = device_.alloc((size_t)logitsCap_ * V * 4);
  processed_ = device_.alloc((size_t)logitsCap_ * V * 4);
  counts_ = device_.alloc((size_t)logitsCap_ * V * 4);
  checkCu(cu.memsetD8Async(counts_, 0, (size_t)logitsCap_ * V * 4, stream), "clear counts");
  partOut_ = device_.alloc(S * c.numHeads * maxSplits_ * D * 4);
  partMax_ = device_.alloc(S * c.numHeads * maxSplits_ * 4);
  partSum_ = device_.alloc(S * c.numHeads * maxSplits_ * 4);

  size_t offset = 0;
  auto region = [&](size_t count) {
    Region r{offset, count};
    offset += (count + 63) & ~size_t(63);
    return r;
  };
  rTokens_ = region(T);
  rPositions_ = region(T);
  rSlots_ = region(T);
  rQueryStart_ = region(S + 1);
  rContextLens_ = region(S);
  rBlockTables_ = region(S * maxBlocksPerSeq_);
  rWork_ = region(2 * (size_t)maxWorkItems_);
  rLogitRows_ = region(S + 2 * T);  // sample rows, then position rows and hidden-state rows (each at most T)
  rTokenSlots_ = region(T);
  rTokenSeq_ = region(c.perSequenceRope ? T : 0);
  rRopeInvFreq_ = region(S * c.ropeInvFreqWidth());
  arenaInts_ = offset;
  arena_ = device_.alloc(arenaInts_ * 4);
  arenaHost_ = reinterpret_cast<int*>(device_.allocHost(arenaInts_ * 4));
  device_.synchronize("cuStreamSynchronize");

  const int group = c.numHeads / c.numKvHeads;
  decodeKernel_ = decodeSimt_ ? "attention_decode_d" + std::to_string(c.headDim) + (group <= 8 ? "_g8" : "_g16") + "_u1"
                              : "attention_decode_tc_d" + std::to_string(c.headDim);
  if (!decodeSimt_) {
    checkCu(cu.funcSetAttribute(device_.fn(decodeKernel_.c_str()), CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                (int)attn::decodeSmemBytes(c.headDim)),
            "cuFuncSetAttribute (decode shared memory)");
  }
  const std::string prefill = "attention_prefill_d" + std::to_string(c.headDim);
  checkCu(cu.funcSetAttribute(device_.fn(prefill.c_str()), CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                              (int)attn::prefillSmemBytes(c.headDim)),
          "cuFuncSetAttribute (prefill shared memory)");
}

Model::~Model() {
  // NOTE: the units release their graphs, plans and events after this, with no step in flight.
  try {
    device_.makeCurrent();
    device_.synchronize("cuStreamSynchronize");
  } catch (...) {
  }
}

int Model::kvBlocksFor(size_t bytes, double utilization) {
  device_.makeCurrent();
  const ModelConfig& c = cfg_;
  const size_t blockBytes = (size_t)2 * c.numLayers * c.numKvHeads * kKvBlockSize * c.headDim * 2;
  size_t free = 0, total = 0;
  checkCu(device_.driver().memGetInfo(&free, &total), "cuMemGetInfo");
  const size_t reserve = 512ull << 20;  // CUDA graphs, cuBLASLt, NCCL and the driver's own growth
  size_t budget;
  if (bytes > 0) {
    budget = bytes;
  } else {
    const double used = (double)(total - free);
    const double allowed = utilization * (double)total - used - (double)reserve;
    if (allowed <= 0) throw CudaError("gpu memory utilization " + std::to_string(utilization) + " leaves no room for the KV cache after the weights");
    budget = (size_t)allowed;
  }
  if (budget + reserve > free) budget = free > reserve ? free - reserve : 0;
  const int blocks = (int)std::min<size_t>(budget / blockBytes, 1u << 30);
  if (blocks < 1) throw CudaError("no GPU memory left for even one KV block");
  return blocks;
}

void Model::allocateKvBlocks(int blocks) {
  device_.makeCurrent();
  if (kvCache_) throw CudaError("KV cache already allocated");
  const ModelConfig& c = cfg_;
  kvLayerBytes_ = (size_t)blocks * c.numKvHeads * kKvBlockSize * c.headDim * 2;
  kvCache_ = device_.alloc(kvLayerBytes_ * 2 * c.numLayers);
  // NOTE: the tensor-core decode reads whole blocks; slots never written must not be NaN.
  checkCu(device_.driver().memsetD8Async(kvCache_, 0, kvLayerBytes_ * 2 * c.numLayers, device_.stream()), "clear KV cache");
  device_.synchronize("clear KV cache");
  numKvBlocks_ = blocks;
}

void Model::copyInputs(const StepPlan& in, int numTokens, int numSeqs, int numAttentionRows, int numLogitRows) {
  // The arena holds 4-byte words: int32 inputs and the float rotary rows alike.
  auto put = [&](const Region& r, const auto& v, size_t count) {
    static_assert(sizeof(v[0]) == 4, "arena words are 4 bytes");
    if (count == 0) return;
    if (count > r.count || count > v.size()) throw CudaError("step input larger than its buffer");
    std::memcpy(arenaHost_ + r.offset, v.data(), count * 4);
    checkCu(device_.driver().memcpyHtoDAsync(dev(r), arenaHost_ + r.offset, count * 4, device_.stream()), "upload step");
  };
  put(rTokens_, in.tokenIds, numTokens);
  put(rPositions_, in.positions, numTokens);
  put(rSlots_, in.slotMapping, numTokens);
  put(rQueryStart_, in.queryStart, numAttentionRows + 1);
  put(rContextLens_, in.contextLens, numAttentionRows);
  put(rBlockTables_, in.blockTables, (size_t)numAttentionRows * maxBlocksPerSeq_);
  put(rWork_, in.workItems, in.workItems.size());
  put(rLogitRows_, in.logitRows, numLogitRows);
  if (in.anyLora) put(rTokenSlots_, in.tokenSlots, numTokens);
  put(rTokenSeq_, in.tokenSeq, in.tokenSeq.empty() ? 0 : numTokens);
  put(rRopeInvFreq_, in.ropeInvFreq, in.ropeInvFreq.empty() ? 0 : (size_t)numSeqs * cfg_.ropeInvFreqWidth());
}

// After the GEMM of `target`: its LoRA deltas for the tokens with an adapter.
void Model::applyLora(int layer, Slot target, CUdeviceptr x, int k, CUdeviceptr y, int n, int numTokens) {
  lora_.apply(layer, target, dev(rTokenSlots_), x, k, y, n, numTokens);
  profiler_.mark("lora");
}

void Model::runLayers(int T, int S, int rows, int numWork, bool anyDecode, bool lora) {
  const ModelConfig& c = cfg_;
  int H = c.hiddenSize, I = c.intermediateSize, nH = c.numHeads, nKV = c.numKvHeads, D = c.headDim;
  float eps = c.rmsNormEps;
  CUdeviceptr tokens = dev(rTokens_), positions = dev(rPositions_), slots = dev(rSlots_),
              queryStart = dev(rQueryStart_), contextLens = dev(rContextLens_), blockTables = dev(rBlockTables_),
              work = dev(rWork_);
  // add_rmsnorm: one thread per 8 elements, whole warps (448 threads for hidden 3584).
  const unsigned addNormThreads = std::min(1024u, (unsigned)((H / 8 + 31) / 32 * 32));
  CUdeviceptr embedding = weights_.embedding();
  device_.launch(device_.fn("embedding_gather"), {(unsigned)T}, {256}, 0, {&tokens, &embedding, &residual_, &H});
  profiler_.mark("embed");

  const std::string prefillName = "attention_prefill_d" + std::to_string(D);
  CUfunction prefillFn = device_.fn(prefillName.c_str()), decodeFn = device_.fn(decodeKernel_.c_str());
  const unsigned prefillSmem = (unsigned)attn::prefillSmemBytes(D);
  float scaleLog2 = (float)(1.0 / std::sqrt((double)D) * 1.4426950408889634);
  float attnScale = c.attentionScale;
  int ropeInterleaved = c.ropeInterleaved ? 1 : 0, lognContext = c.lognAttnContext;
  // Null without per-sequence rotary: the kernel then reads the model's invFreq for every token.
  CUdeviceptr tokenSeq = c.perSequenceRope ? dev(rTokenSeq_) : 0, seqInvFreq = c.perSequenceRope ? dev(rRopeInvFreq_) : 0;
  int rotaryDim = c.rotaryDim, maxBlocks = maxBlocksPerSeq_, maxSplits = maxSplits_, qkvRows = c.qkvRows();
  const bool vecSilu = !c.mlpBias;

  for (int li = 0; li < c.numLayers; li++) {
    LayerWeights& l = weights_.layer(li);
    CUdeviceptr prevDelta = li == 0 ? 0 : delta_;
    CUdeviceptr prevBias = li == 0 ? 0 : weights_.layer(li - 1).downBias;
    device_.launch(device_.fn("add_rmsnorm"), {(unsigned)T}, {addNormThreads}, 0,
           {&residual_, &prevDelta, &prevBias, &l.inputNorm, &normed_, &H, &eps});
    profiler_.mark("norms");
    l.qkv->forward(planner_, normed_, qkvOut_, T, false);
    profiler_.mark("gemm qkv");
    if (lora) applyLora(li, Slot::kQkv, normed_, H, qkvOut_, qkvRows, T);
    CUdeviceptr kCache = kvCache_ + (size_t)li * 2 * kvLayerBytes_, vCache = kCache + kvLayerBytes_;
    device_.launch(device_.fn("qkv_rope_cache"), {(unsigned)T, (unsigned)((qkvRows / D + 3) / 4)}, {128}, 4 * D * 4,
           {&qkvOut_, &l.qkvBias, &l.qNorm, &l.kNorm, &positions, &slots, &invFreq_, &tokenSeq, &seqInvFreq, &attnScale, &rotaryDim, &q_,
            &kCache, &vCache, &nH, &nKV, &D, &eps, &ropeInterleaved, &lognContext});
    profiler_.mark("rope+cache");
    if (numWork > 0) {
      device_.launch(prefillFn, {(unsigned)numWork, (unsigned)nH}, {128}, prefillSmem,
             {&q_, &kCache, &vCache, &blockTables, &maxBlocks, &queryStart, &contextLens, &work, &attnOut_, &nH, &nKV,
              &scaleLog2});
      profiler_.mark("attn prefill");
    }
    if (anyDecode) {
      // NOTE: the split count depends only on the batch size, so a graph replays it unchanged.
      int chunkTokens = decodeSimt_ ? attn::PART : kKvBlockSize, singleWritten = decodeSimt_ ? 0 : 1;
      int splitLimit = decodeSimt_ ? maxSplits
                                   : std::max(1, std::min(maxSplits, (2 * device_.numSms() + S * nKV - 1) / (S * nKV)));
      if (decodeSimt_) {
        device_.launch(decodeFn, {(unsigned)rows, (unsigned)nKV, (unsigned)maxSplits}, {128}, 0,
               {&q_, &kCache, &vCache, &blockTables, &maxBlocks, &queryStart, &contextLens, &partOut_, &partMax_,
                &partSum_, &nH, &nKV, &maxSplits, &scaleLog2});
      } else {
        device_.launch(decodeFn, {(unsigned)rows, (unsigned)nKV, (unsigned)splitLimit}, {128}, (unsigned)attn::decodeSmemBytes(D),
               {&q_, &kCache, &vCache, &blockTables, &maxBlocks, &queryStart, &contextLens, &partOut_, &partMax_,
                &partSum_, &attnOut_, &nH, &nKV, &maxSplits, &splitLimit, &scaleLog2});
      }
      device_.launch(device_.fn("attention_decode_combine"), {(unsigned)rows, (unsigned)nH}, {(unsigned)std::max(D, 32)}, 0,
             {&partOut_, &partMax_, &partSum_, &queryStart, &contextLens, &attnOut_, &nH, &D, &maxSplits, &chunkTokens,
              &splitLimit, &singleWritten});
      profiler_.mark("attn decode");
    }
    l.o->forward(planner_, attnOut_, delta_, T, false);
    profiler_.mark("gemm o");
    if (lora) applyLora(li, Slot::kO, attnOut_, nH * D, delta_, H, T);
    allReduceDelta(T);
    device_.launch(device_.fn("add_rmsnorm"), {(unsigned)T}, {addNormThreads}, 0,
           {&residual_, &delta_, &l.oBias, &l.postNorm, &normed_, &H, &eps});
    profiler_.mark("norms");
    l.gateUp->forward(planner_, normed_, gateUpOut_, T, false);
    profiler_.mark("gemm gate_up");
    if (lora) applyLora(li, Slot::kGateUp, normed_, H, gateUpOut_, 2 * I, T);
    const unsigned siluBlocks = (unsigned)std::min<size_t>(((size_t)T * I / 8 + 255) / 256, 65535);
    if (vecSilu) {
      device_.launch(device_.fn("silu_mul8"), {siluBlocks}, {256}, 0, {&gateUpOut_, &act_, &T, &I});
    } else {
      device_.launch(device_.fn("silu_mul"), {siluBlocks * 8}, {256}, 0, {&gateUpOut_, &l.gateUpBias, &act_, &T, &I});
    }
    profiler_.mark("silu");
    l.down->forward(planner_, act_, delta_, T, false);
    profiler_.mark("gemm down");
    if (lora) applyLora(li, Slot::kDown, act_, I, delta_, H, T);
    allReduceDelta(T);
  }
}

// Tensor parallelism: the o and down projections (and their LoRA deltas) left a partial sum in delta_;
// summed in bf16 over the group, as vLLM does (half the bytes of fp32 on the link).
void Model::allReduceDelta(int T) {
  if (!comm_) return;
  checkNccl(nccl().allReduce((const void*)delta_, (void*)delta_, (size_t)T * cfg_.hiddenSize, ncclBfloat16, ncclSum, comm_,
                             device_.stream()),
            "ncclAllReduce");
  profiler_.mark("all-reduce");
}

void Model::computeLogits(int rowBegin, int numRows) {
  const ModelConfig& c = cfg_;
  int H = c.hiddenSize;
  float eps = c.rmsNormEps;
  CUdeviceptr rows = dev(rLogitRows_) + (size_t)rowBegin * 4;
  CUdeviceptr lastBias = weights_.layer(c.numLayers - 1).downBias, finalNorm = weights_.finalNorm();
  const unsigned normThreads = H >= 2048 ? 1024 : (H >= 512 ? 256 : 64);
  device_.launch(device_.fn("final_norm_rows"), {(unsigned)numRows}, {normThreads}, 0,
         {&residual_, &delta_, &lastBias, &rows, &finalNorm, &finalNormed_, &H, &eps});
  profiler_.mark("norms");
  weights_.lmHead().forward(planner_, finalNormed_, logits_, numRows, true);
  profiler_.mark("gemm lmHead");
}

// A decode step of a graph bucket: replays the bucket's graph (layers and logits rows), capturing
// it on the bucket's first step.
void Model::runDecodeGraph(const StepPlan& in) {
  const int B = in.graphBucket;
  const bool lora = in.anyLora;
  copyInputs(in, B, B, B, B);
  auto forward = [&] {
    runLayers(B, B, B, 0, true, lora);
    if (cfg_.computesLogits) computeLogits(0, B);
  };
  if (graphs_.replay(B, lora)) return;
  profiler_.skipStep();  // capturing: not a step as it usually runs
  // First step of this bucket: run it eagerly (timing the GEMM algorithms for its shapes), then
  // capture the same launches for replay. Under tensor parallelism every rank does this in the
  // same step, so their all-reduces meet in the eager run and are recorded alike in the graphs.
  planner_.withTuning(forward);
  graphs_.capture(B, lora, forward);
}

void Model::runEager(const StepPlan& in) {
  const int rows = in.numAttentionRows;
  bool anyDecode = false;
  for (int r = 0; r < rows; r++) anyDecode |= in.queryStart[r + 1] - in.queryStart[r] == 1;
  copyInputs(in, in.numTokens, in.numSeqs, rows, (int)in.logitRows.size());
  runLayers(in.numTokens, in.numSeqs, rows, (int)in.workItems.size() / 2, anyDecode, in.anyLora);
}

// Waits for the step's GPU work and, when profiling, adds its stage times up.
void Model::finishStep(std::chrono::steady_clock::time_point wallStart) {
  const auto queuedAt = profiler_.workQueued();
  device_.synchronize("step");
  profiler_.endStep(wallStart, queuedAt);
}

RowResults Model::execute(const StepPlan& in) {
  forward(in);
  return sample(in);
}

void Model::forward(const StepPlan& in) {
  device_.makeCurrent();
  stepWallStart_ = std::chrono::steady_clock::now();
  profiler_.beginStep(in.numSeqs, in.numTokens);
  if (!kvCache_) throw CudaError("execute() before the KV cache was allocated");
  if (in.graphBucket > 0) runDecodeGraph(in);
  else runEager(in);
  profiler_.layersQueued(in.received, stepWallStart_);
  if (!cfg_.computesLogits) finishStep(stepWallStart_);
}

RowResults Model::sample(const StepPlan& in) {
  if (!cfg_.computesLogits) return RowResults{};
  device_.makeCurrent();
  const auto wallStart = stepWallStart_;
  const ModelConfig& c = cfg_;
  int V = c.vocabSize;
  const int numSample = (int)in.sampleRows.size(), numPos = (int)in.positionRows.size(), numHidden = in.numHiddenRows;
  const int H = c.hiddenSize;
  const size_t hiddenBytes = (size_t)numHidden * H * 2;
  if (numHidden > 0) device_.growStagingPair(hiddenOut_, hiddenOutHost_, hiddenOutBytes_, hiddenBytes);
  const int K = in.sampleTopK, PK = in.positionTopK;

  // Sampling inputs: rows, then the flattened token lists.
  size_t off = 0;
  auto place = [&](size_t bytes) {
    size_t o = off;
    off = align256(off + bytes);
    return o;
  };
  const size_t oSample = place(numSample * sizeof(SampleRow)), oPos = place(numPos * sizeof(PositionRow)),
               oPrompt = place(in.promptTokenIds.size() * 4), oOutput = place(in.outputTokenIds.size() * 4),
               oBiasIds = place(in.biasTokenIds.size() * 4), oBiasValues = place(in.biasValues.size() * 4);
  const size_t oBitmask = place(in.tokenBitmask.size() * 4);
  const size_t inBytes = off;
  off = 0;
  const size_t oIds = place(numSample * 4), oLps = place(numSample * 4), oLse = place(numSample * 4),
               oTopIds = place((size_t)numSample * K * 4), oTopLps = place((size_t)numSample * K * 4),
               oPosTarget = place(numPos * 4), oPosTopIds = place((size_t)numPos * PK * 4),
               oPosTopLps = place((size_t)numPos * PK * 4);
  const size_t outBytes = off;
  device_.growStagingPair(samplingIn_, samplingInHost_, samplingInBytes_, std::max<size_t>(inBytes, 256));
  device_.growStagingPair(samplingOut_, samplingOutHost_, samplingOutBytes_, std::max<size_t>(outBytes, 256));
  auto copyIn = [&](size_t o, const void* src, size_t bytes) {
    if (bytes) std::memcpy(samplingInHost_ + o, src, bytes);
  };
  copyIn(oSample, in.sampleRows.data(), numSample * sizeof(SampleRow));
  copyIn(oPos, in.positionRows.data(), numPos * sizeof(PositionRow));
  copyIn(oPrompt, in.promptTokenIds.data(), in.promptTokenIds.size() * 4);
  copyIn(oOutput, in.outputTokenIds.data(), in.outputTokenIds.size() * 4);
  copyIn(oBiasIds, in.biasTokenIds.data(), in.biasTokenIds.size() * 4);
  copyIn(oBiasValues, in.biasValues.data(), in.biasValues.size() * 4);
  copyIn(oBitmask, in.tokenBitmask.data(), in.tokenBitmask.size() * 4);
  checkCu(device_.driver().memcpyHtoDAsync(samplingIn_, samplingInHost_, inBytes, device_.stream()), "upload sampling inputs");

  CUdeviceptr dSample = samplingIn_ + oSample, dPos = samplingIn_ + oPos, dPrompt = samplingIn_ + oPrompt,
              dOutput = samplingIn_ + oOutput, dBiasIds = samplingIn_ + oBiasIds,
              dBiasValues = samplingIn_ + oBiasValues;
  CUdeviceptr dBitmask = samplingIn_ + oBitmask;
  int bitmaskNumWords = in.bitmaskNumWords;
  CUdeviceptr dIds = samplingOut_ + oIds, dLps = samplingOut_ + oLps, dLse = samplingOut_ + oLse,
              dTopIds = samplingOut_ + oTopIds, dTopLps = samplingOut_ + oTopLps,
              dPosTarget = samplingOut_ + oPosTarget, dPosTopIds = samplingOut_ + oPosTopIds,
              dPosTopLps = samplingOut_ + oPosTopLps;

  auto sampleChunk = [&](int chunkBase, int sampleBegin, int sampleEnd, int posBegin, int posEnd) {
    int chunk = chunkBase, sb = sampleBegin, pb = posBegin, k = K, pk = PK;
    if (sampleEnd > sampleBegin) {
      if (!in.tokenBitmask.empty()) {
        device_.launch(device_.fn("apply_token_bitmask"), {(unsigned)(sampleEnd - sampleBegin)}, {1024}, 0,
               {&logits_, &V, &chunk, &dSample, &sb, &dBitmask, &bitmaskNumWords});
      }
      device_.launch(device_.fn("sample_row_logprobs"), {(unsigned)(sampleEnd - sampleBegin)}, {1024}, 0,
             {&logits_, &V, &chunk, &dSample, &sb, &k, &dLse, &dTopIds, &dTopLps});
      if (in.anyProcessing) {
        device_.launch(device_.fn("apply_penalties"), {(unsigned)(sampleEnd - sampleBegin)}, {1024}, 0,
               {&logits_, &processed_, &V, &chunk, &dSample, &sb, &dPrompt, &dOutput, &dBiasIds, &dBiasValues,
                &counts_});
      }
      device_.launch(device_.fn("sample_rows"), {(unsigned)(sampleEnd - sampleBegin)}, {1024}, 0,
             {&logits_, &processed_, &V, &chunk, &dSample, &sb, &dLse, &dIds, &dLps});
    }
    profiler_.mark("sampling");
    if (posEnd > posBegin) {
      device_.launch(device_.fn("position_row_logprobs"), {(unsigned)(posEnd - posBegin)}, {1024}, 0,
             {&logits_, &V, &chunk, &dPos, &pb, &pk, &dPosTarget, &dPosTopIds, &dPosTopLps});
    }
  };

  if (in.graphBucket > 0) {
    sampleChunk(0, 0, numSample, 0, 0);  // the graph computed the bucket's logits rows
  } else {
    // Logits rows: sample rows [0, numSample), then position rows, then hidden-state rows; in chunks of logitsCap_.
    const int numRows = (int)in.logitRows.size(), hiddenStart = numSample + numPos;
    auto clampTo = [](int v, int lo, int hi) { return std::min(std::max(v, lo), hi); };
    for (int base = 0; base < numRows; base += logitsCap_) {
      const int end = std::min(numRows, base + logitsCap_);
      computeLogits(base, end - base);
      const int sb = std::min(base, numSample), se = std::min(end, numSample);
      const int pb = clampTo(base - numSample, 0, numPos), pe = clampTo(end - numSample, 0, numPos);
      sampleChunk(base, sb, se, pb, pe);
      const int hb = std::max(base, hiddenStart);
      if (end > hb) {
        checkCu(device_.driver().memcpyDtoDAsync(hiddenOut_ + (size_t)(hb - hiddenStart) * H * 2, finalNormed_ + (size_t)(hb - base) * H * 2,
                                                 (size_t)(end - hb) * H * 2, device_.stream()),
                "gather hidden states");
      }
    }
  }
  if (numHidden > 0) {
    checkCu(device_.driver().memcpyDtoHAsync(hiddenOutHost_, hiddenOut_, hiddenBytes, device_.stream()), "download hidden states");
  }
  checkCu(device_.driver().memcpyDtoHAsync(samplingOutHost_, samplingOut_, outBytes, device_.stream()), "download results");
  finishStep(wallStart);

  RowResults r;
  auto ints = [&](size_t o, size_t n) {
    const int* p = reinterpret_cast<const int*>(samplingOutHost_ + o);
    return std::vector<int>(p, p + n);
  };
  auto floats = [&](size_t o, size_t n) {
    const float* p = reinterpret_cast<const float*>(samplingOutHost_ + o);
    return std::vector<float>(p, p + n);
  };
  r.sampledTokenIds = ints(oIds, numSample);
  r.sampledLogprobs = floats(oLps, numSample);
  r.topTokenIds = ints(oTopIds, (size_t)numSample * K);
  r.topLogprobs = floats(oTopLps, (size_t)numSample * K);
  r.positionTargetLogprobs = floats(oPosTarget, numPos);
  r.positionTopTokenIds = ints(oPosTopIds, (size_t)numPos * PK);
  r.positionTopLogprobs = floats(oPosTopLps, (size_t)numPos * PK);
  const uint16_t* hiddenBf16 = reinterpret_cast<const uint16_t*>(hiddenOutHost_);
  r.hiddenStates.resize((size_t)numHidden * H);
  for (size_t i = 0; i < r.hiddenStates.size(); i++) {
    const uint32_t bits = (uint32_t)hiddenBf16[i] << 16;
    std::memcpy(&r.hiddenStates[i], &bits, 4);
  }
  (void)oLse;
  return r;
}

}  // namespace swiftlet_cuda
