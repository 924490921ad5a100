// N-API surface of the CUDA runner (declared for TypeScript in src/runtime/cuda/native.ts).
// One CudaModel per JS handle: a ShardGroup of one model per GPU (one GPU unless the model is
// split by tensor parallelism). execute() copies the step out of the JS objects, runs the GPU
// work on a libuv worker thread and resolves with the sampled ids and logprobs.
#include <napi.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>

#include "shard_group.h"

using namespace swiftlet_cuda;

namespace {

template <typename T>
constexpr napi_typedarray_type arrayTypeOf();
template <>
constexpr napi_typedarray_type arrayTypeOf<int32_t>() { return napi_int32_array; }
template <>
constexpr napi_typedarray_type arrayTypeOf<uint32_t>() { return napi_uint32_array; }
template <>
constexpr napi_typedarray_type arrayTypeOf<float>() { return napi_float32_array; }
template <>
constexpr napi_typedarray_type arrayTypeOf<uint8_t>() { return napi_uint8_array; }

template <typename T>
Napi::TypedArrayOf<T> typedField(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != arrayTypeOf<T>())
    throw Napi::TypeError::New(o.Env(), std::string("step field ") + name + " has the wrong type");
  return v.As<Napi::TypedArrayOf<T>>();
}

template <typename T>
std::vector<T> copyArray(const Napi::Object& o, const char* name) {
  Napi::TypedArrayOf<T> a = typedField<T>(o, name);
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

int intField(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("field ") + name + " must be a number");
  return v.As<Napi::Number>().Int32Value();
}

double numField(const Napi::Object& o, const char* name, double fallback) {
  Napi::Value v = o.Get(name);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}

bool boolField(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  return v.IsBoolean() && v.As<Napi::Boolean>().Value();
}

Napi::Int32Array toJs(Napi::Env env, const std::vector<int>& v) {
  Napi::Int32Array a = Napi::Int32Array::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * 4);
  return a;
}

Napi::Float32Array toJs(Napi::Env env, const std::vector<float>& v) {
  Napi::Float32Array a = Napi::Float32Array::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * 4);
  return a;
}

class CudaModelWrap;

Napi::Object stepOutputToJs(Napi::Env env, const StepInput& input, const StepResult& result);

class StepWorker : public Napi::AsyncWorker {
 public:
  StepWorker(Napi::Env env, CudaModelWrap* owner, Napi::Object self, StepInput input)
      : Napi::AsyncWorker(env), owner_(owner), self_(Napi::Persistent(self)), input_(std::move(input)),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  CudaModelWrap* owner_;
  Napi::ObjectReference self_;
  StepInput input_;
  StepResult result_;
  Napi::Promise::Deferred deferred_;
};

class CudaModelWrap : public Napi::ObjectWrap<CudaModelWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "CudaModel",
                       {InstanceMethod("uploadTensor", &CudaModelWrap::uploadTensor),
                        InstanceMethod("initRandomWeights", &CudaModelWrap::initRandomWeights),
                        InstanceMethod("allocateKvCache", &CudaModelWrap::allocateKvCache),
                        InstanceMethod("execute", &CudaModelWrap::execute),
                        InstanceMethod("loadAdapter", &CudaModelWrap::loadAdapter),
                        InstanceMethod("unloadAdapter", &CudaModelWrap::unloadAdapter),
                        InstanceMethod("info", &CudaModelWrap::info),
                        InstanceMethod("dispose", &CudaModelWrap::dispose)});
  }

  explicit CudaModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CudaModelWrap>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) throw Napi::TypeError::New(env, "CudaModel(config) needs a config object");
    Napi::Object o = info[0].As<Napi::Object>();
    ModelConfig c;
    c.vocabSize = intField(o, "vocabSize");
    c.hidden = intField(o, "hiddenSize");
    c.inter = intField(o, "intermediateSize");
    c.numLayers = intField(o, "numLayers");
    c.numHeads = intField(o, "numHeads");
    c.numKvHeads = intField(o, "numKvHeads");
    c.headDim = intField(o, "headDim");
    c.rmsNormEps = (float)numField(o, "rmsNormEps", 1e-6);
    c.tieWordEmbeddings = boolField(o, "tieWordEmbeddings");
    c.qkvBias = boolField(o, "qkvBias");
    c.oBias = boolField(o, "oBias");
    c.mlpBias = boolField(o, "mlpBias");
    c.qkNorm = boolField(o, "qkNorm");
    c.invFreq = copyArray<float>(o, "invFreq");
    c.attentionScale = (float)numField(o, "attentionScale", 1.0);
    c.rotaryDim = intField(o, "rotaryDim");
    c.maxNumTokens = intField(o, "maxNumTokens");
    c.maxNumSeqs = intField(o, "maxNumSeqs");
    c.maxModelLen = intField(o, "maxModelLen");
    c.maxLoras = (int)numField(o, "maxLoras", 0);
    c.maxLoraRank = (int)numField(o, "maxLoraRank", 0);
    c.useCudaGraphs = boolField(o, "useCudaGraphs");
    c.fatbinPath = o.Get("fatbinPath").As<Napi::String>().Utf8Value();
    std::vector<int> devices = copyArray<int32_t>(o, "devices");
    if (devices.empty()) throw Napi::TypeError::New(env, "CudaModel(config): devices must name at least one GPU");
    std::vector<ModelConfig> shards;
    for (size_t r = 0; r < devices.size(); r++) {
      ModelConfig shard = c;
      shard.device = devices[r];
      shard.computesLogits = r == 0;
      shards.push_back(shard);
    }
    try {
      group_ = std::make_unique<ShardGroup>(std::move(shards));
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
  }

  ShardGroup& group(Napi::Env env) {
    if (!group_) throw Napi::Error::New(env, "CUDA model was disposed");
    return *group_;
  }

  // uploadTensor(rank, name, dtype, shape, bytes): rank's shard of one checkpoint tensor.
  Napi::Value uploadTensor(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const int rank = info[0].As<Napi::Number>().Int32Value();
    const std::string name = info[1].As<Napi::String>().Utf8Value();
    const std::string dtype = info[2].As<Napi::String>().Utf8Value();
    Napi::Array shapeJs = info[3].As<Napi::Array>();
    std::vector<int64_t> shape;
    for (uint32_t i = 0; i < shapeJs.Length(); i++) shape.push_back(shapeJs.Get(i).As<Napi::Number>().Int64Value());
    Napi::Uint8Array bytes = info[4].As<Napi::Uint8Array>();
    try {
      Model& shard = group(env).shard(rank);
      return Napi::Boolean::New(env, shard.uploadTensor(name, dtype, shape, bytes.Data(), bytes.ByteLength()));
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
  }

  Napi::Value initRandomWeights(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    try {
      group(env).initRandomWeights((uint64_t)info[0].As<Napi::Number>().Int64Value());
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
    return env.Undefined();
  }

  Napi::Value allocateKvCache(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    try {
      const double bytes = info[0].As<Napi::Number>().DoubleValue();
      const double util = info[1].As<Napi::Number>().DoubleValue();
      return Napi::Number::New(env, group(env).allocateKvCache((size_t)bytes, util));
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
  }

  Napi::Value info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ShardGroup& g = group(env);
    double weightBytes = 0;
    for (int r = 0; r < g.size(); r++) weightBytes += (double)g.shard(r).weightBytes();
    Napi::Object o = Napi::Object::New(env);
    o.Set("numKvBlocks", g.first().numKvBlocks());
    o.Set("maxBlocksPerSeq", g.first().maxBlocksPerSeq());
    o.Set("weightBytes", weightBytes);
    return o;
  }

  Napi::Value dispose(const Napi::CallbackInfo& info) {
    if (busy_) throw Napi::Error::New(info.Env(), "dispose() while a step is running");
    group_.reset();
    return info.Env().Undefined();
  }

  Napi::Value execute(const Napi::CallbackInfo& info);

  // loadAdapter(slot, scale, [[{layer, projection, rank, a, b}] per GPU]): checked at once; uploaded
  // at once, or after the step in flight (a step never sees an adapter change under it).
  Napi::Value loadAdapter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ShardGroup& g = group(env);
    try {
      const int slot = info[0].As<Napi::Number>().Int32Value();
      checkSlot(env, g, slot);
      const float scale = (float)info[1].As<Napi::Number>().DoubleValue();
      Napi::Array parts = info[2].As<Napi::Array>();
      AdapterParts adapter;
      for (uint32_t r = 0; r < parts.Length(); r++) {
        adapter.push_back(readAdapter(env, parts.Get(r).As<Napi::Array>()));
        adapter.back()->scale = scale;
      }
      g.checkAdapter(pointers(adapter));
      if (busy_) pending_.emplace_back(slot, std::move(adapter));
      else g.setAdapter(slot, pointers(adapter));
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
    return env.Undefined();
  }

  Napi::Value unloadAdapter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ShardGroup& g = group(env);
    const int slot = info[0].As<Napi::Number>().Int32Value();
    checkSlot(env, g, slot);
    try {
      if (busy_) pending_.emplace_back(slot, AdapterParts{});
      else g.setAdapter(slot, {});
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
    return env.Undefined();
  }

  // On the JS thread when a step ends: what waited for it.
  void finishStep() {
    busy_ = false;
    std::vector<std::pair<int, AdapterParts>> pending = std::move(pending_);
    pending_.clear();
    for (auto& [slot, adapter] : pending) {
      try {
        group_->setAdapter(slot, pointers(adapter));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "swiftlet: CUDA runner: deferred adapter change of slot %d failed: %s\n", slot, e.what());
      }
    }
  }

  // One LoraAdapter per GPU (its shard of the adapter); empty: unload.
  using AdapterParts = std::vector<std::unique_ptr<LoraAdapter>>;

  static std::vector<const LoraAdapter*> pointers(const AdapterParts& parts) {
    std::vector<const LoraAdapter*> out;
    for (const auto& p : parts) out.push_back(p.get());
    return out;
  }

  static std::unique_ptr<LoraAdapter> readAdapter(Napi::Env env, Napi::Array modules) {
    static const char* names[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    auto adapter = std::make_unique<LoraAdapter>();
    for (uint32_t i = 0; i < modules.Length(); i++) {
      Napi::Object o = modules.Get(i).As<Napi::Object>();
      LoraModule mod;
      mod.layer = intField(o, "layer");
      mod.rank = intField(o, "rank");
      const std::string proj = o.Get("projection").As<Napi::String>().Utf8Value();
      mod.proj = -1;
      for (int p = 0; p < kNumLoraProjections; p++)
        if (proj == names[p]) mod.proj = p;
      if (mod.proj < 0) throw Napi::Error::New(env, "LoRA module: unknown projection " + proj);
      mod.a = copyArray<float>(o, "a");
      mod.b = copyArray<float>(o, "b");
      adapter->modules.push_back(std::move(mod));
    }
    return adapter;
  }

  static void checkSlot(Napi::Env env, ShardGroup& g, int slot) {
    const int n = g.first().config().maxLoras;
    if (n == 0) throw Napi::Error::New(env, "CUDA runner: LoRA is off (maxLoras 0)");
    if (slot < 0 || slot >= n)
      throw Napi::RangeError::New(env, "adapter slot " + std::to_string(slot) + " is outside 0.." + std::to_string(n - 1));
  }

  std::unique_ptr<ShardGroup> group_;
  bool busy_ = false;
  std::vector<std::pair<int, AdapterParts>> pending_;
};

Napi::Value CudaModelWrap::execute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Model& m = group(env).first();
  if (busy_) throw Napi::Error::New(env, "CUDA runner: execute() called while the previous step is still running");
  const ModelConfig& c = m.config();
  Napi::Object b = info[0].As<Napi::Object>();
  StepInput in;
  in.received = std::chrono::steady_clock::now();
  const int S = intField(b, "numSeqs"), T = intField(b, "numTokens");
  auto fail = [&](const std::string& msg) { throw Napi::RangeError::New(env, "CUDA runner: " + msg); };
  if (S <= 0 || T <= 0) fail("a step needs at least one sequence and one token");
  if (T > c.maxNumTokens) fail("step has " + std::to_string(T) + " tokens, more than maxNumTokens " + std::to_string(c.maxNumTokens));
  if (S > c.maxNumSeqs) fail("step has " + std::to_string(S) + " sequences, more than maxNumSeqs " + std::to_string(c.maxNumSeqs));
  std::vector<int> tokenIds = copyArray<int32_t>(b, "tokenIds"), positions = copyArray<int32_t>(b, "positions"),
                   queryStart = copyArray<int32_t>(b, "queryStart"), contextLens = copyArray<int32_t>(b, "contextLens"),
                   slotMapping = copyArray<int32_t>(b, "slotMapping"), adapterSlots = copyArray<int32_t>(b, "adapterSlots");
  Napi::Int32Array blockTablesJs = typedField<int32_t>(b, "blockTables");
  const int srcStride = intField(b, "maxBlocksPerSeq");
  if ((int)tokenIds.size() < T || (int)positions.size() < T || (int)slotMapping.size() < T) fail("token arrays shorter than numTokens");
  if ((int)queryStart.size() < S + 1 || (int)contextLens.size() < S) fail("sequence arrays shorter than numSeqs");
  if ((int64_t)blockTablesJs.ElementLength() < (int64_t)S * srcStride) fail("blockTables shorter than numSeqs * maxBlocksPerSeq");
  if ((int)adapterSlots.size() < S) fail("adapterSlots shorter than numSeqs");
  for (int s = 0; s < S; s++) {
    const int slot = adapterSlots[s];
    if (slot == -1) continue;
    if (c.maxLoras == 0) fail("sequence " + std::to_string(s) + " asks for adapter slot " + std::to_string(slot) + ", but LoRA is off (maxLoras 0)");
    if (!m.hasAdapter(slot)) fail("sequence " + std::to_string(s) + " uses adapter slot " + std::to_string(slot) + ", which holds no adapter");
  }
  const int64_t numSlots = (int64_t)m.numKvBlocks() * 16;
  for (int t = 0; t < T; t++) {
    if (tokenIds[t] < 0 || tokenIds[t] >= c.vocabSize) fail("token id " + std::to_string(tokenIds[t]) + " out of range");
    if (positions[t] < 0 || positions[t] >= c.maxModelLen) fail("position " + std::to_string(positions[t]) + " beyond maxModelLen");
    if (slotMapping[t] >= numSlots) fail("slot mapping beyond the KV cache");
  }
  if (queryStart[0] != 0 || queryStart[S] != T) fail("queryStart must run from 0 to numTokens");
  const int MB = m.maxBlocksPerSeq();
  bool allDecode = true;
  for (int s = 0; s < S; s++) {
    const int q = queryStart[s + 1] - queryStart[s];
    if (q < 1) fail("every sequence needs at least one token in the step");
    if (contextLens[s] < q || contextLens[s] > c.maxModelLen) fail("context length out of range");
    const int used = (contextLens[s] + 15) / 16;
    if (used > srcStride) fail("block table shorter than the context");
    for (int j = 0; j < used; j++) {
      const int blk = blockTablesJs.Data()[(size_t)s * srcStride + j];
      if (blk < 0 || blk >= m.numKvBlocks()) fail("block table entry out of range");
    }
    allDecode &= q == 1;
  }

  Napi::Object sp = b.Get("sampling").As<Napi::Object>();
  std::vector<uint8_t> doSample = copyArray<uint8_t>(sp, "doSample");
  std::vector<float> temperature = copyArray<float>(sp, "temperature"), topP = copyArray<float>(sp, "topP"),
                     minP = copyArray<float>(sp, "minP"), rep = copyArray<float>(sp, "repetitionPenalty"),
                     pres = copyArray<float>(sp, "presencePenalty"), freq = copyArray<float>(sp, "frequencyPenalty");
  std::vector<int> topK = copyArray<int32_t>(sp, "topK"), sampleIndex = copyArray<int32_t>(sp, "sampleIndex"),
                   numLogprobs = copyArray<int32_t>(sp, "numLogprobs"), promptStart = copyArray<int32_t>(sp, "promptStart"),
                   outputStart = copyArray<int32_t>(sp, "outputStart"), biasStart = copyArray<int32_t>(sp, "biasStart");
  std::vector<uint32_t> seeds = copyArray<uint32_t>(sp, "seeds");
  if ((int)doSample.size() < S || (int)temperature.size() < S || (int)topP.size() < S || (int)minP.size() < S ||
      (int)rep.size() < S || (int)pres.size() < S || (int)freq.size() < S || (int)topK.size() < S ||
      (int)sampleIndex.size() < S || (int)numLogprobs.size() < S || (int)seeds.size() < 2 * S)
    fail("sampling arrays shorter than numSeqs");
  in.promptIds = copyArray<int32_t>(sp, "promptTokenIds");
  in.outputIds = copyArray<int32_t>(sp, "outputTokenIds");
  in.biasIds = copyArray<int32_t>(sp, "biasTokenIds");
  in.biasValues = copyArray<float>(sp, "biasValues");
  auto range = [&](const std::vector<int>& starts, size_t total, int s, int& beg, int& end) {
    beg = end = 0;
    if ((int)starts.size() < S + 1) return;
    beg = starts[s];
    end = starts[s + 1];
    if (beg < 0 || end < beg || (size_t)end > total) fail("sampling token-list offsets out of range");
  };

  Napi::Value plv = b.Get("positionLogprobs");
  const bool hasPositions = plv.IsObject();

  in.numSeqs = S;
  in.numTokens = T;
  in.graphBucket = allDecode && S == T && !hasPositions ? m.graphBucketFor(S) : 0;
  const int P = in.graphBucket > 0 ? in.graphBucket : S;
  const int PT = in.graphBucket > 0 ? in.graphBucket : T;
  in.tokenIds.assign(PT, 0);
  in.positions.assign(PT, 0);
  in.slotMapping.assign(PT, -1);
  std::copy(tokenIds.begin(), tokenIds.begin() + T, in.tokenIds.begin());
  std::copy(positions.begin(), positions.begin() + T, in.positions.begin());
  std::copy(slotMapping.begin(), slotMapping.begin() + T, in.slotMapping.begin());
  for (int s = 0; s < S; s++) in.anyLora |= adapterSlots[s] >= 0;
  if (in.anyLora) {
    in.tokenSlots.assign(PT, -1);
    for (int s = 0; s < S; s++)
      for (int t = queryStart[s]; t < queryStart[s + 1]; t++) in.tokenSlots[t] = adapterSlots[s];
  }
  in.queryStart.assign(P + 1, 0);
  in.contextLens.assign(P, 0);
  for (int s = 0; s <= P; s++) in.queryStart[s] = s <= S ? queryStart[s] : T + (s - S);
  std::copy(contextLens.begin(), contextLens.begin() + S, in.contextLens.begin());
  in.blockTables.assign((size_t)P * MB, -1);
  for (int s = 0; s < S; s++) {
    const int n = std::min(srcStride, MB);
    std::memcpy(in.blockTables.data() + (size_t)s * MB, blockTablesJs.Data() + (size_t)s * srcStride, n * 4);
  }
  if (in.graphBucket == 0) {
    for (int s = 0; s < S; s++) {
      const int q = queryStart[s + 1] - queryStart[s];
      if (q == 1) continue;
      for (int t0 = 0; t0 < q; t0 += 64) {
        in.workItems.push_back(s);
        in.workItems.push_back(t0);
      }
    }
  }

  bool anyRepetition = false;
  for (int s = 0; s < S; s++) {
    if (!doSample[s]) continue;
    SampleRow r{};
    r.temperature = temperature[s];
    r.topP = topP[s];
    r.minP = minP[s];
    r.repetitionPenalty = rep[s] > 0 ? rep[s] : 1.f;
    r.presencePenalty = pres[s];
    r.frequencyPenalty = freq[s];
    r.topK = topK[s];
    r.seedLo = seeds[2 * s];
    r.seedHi = seeds[2 * s + 1];
    r.sampleIndex = sampleIndex[s];
    r.numLogprobs = numLogprobs[s];
    const int i = (int)in.sampleRows.size();
    r.logitRow = in.graphBucket > 0 ? s : i;
    range(promptStart, in.promptIds.size(), s, r.promptBeg, r.promptEnd);
    range(outputStart, in.outputIds.size(), s, r.outputBeg, r.outputEnd);
    range(biasStart, in.biasIds.size(), s, r.biasBeg, r.biasEnd);
    if (in.biasValues.size() < in.biasIds.size()) fail("biasValues shorter than biasTokenIds");
    r.needsProcessing = r.repetitionPenalty != 1.f || r.presencePenalty != 0.f || r.frequencyPenalty != 0.f ||
                        r.biasEnd > r.biasBeg;
    anyRepetition |= r.repetitionPenalty != 1.f;
    in.anyProcessing |= r.needsProcessing != 0;
    in.sampleTopK = std::max(in.sampleTopK, r.numLogprobs);
    in.sampleRows.push_back(r);
    in.sampledSeq.push_back(s);
    in.logitRows.push_back(queryStart[s + 1] - 1);
  }
  if (!anyRepetition) {
    in.promptIds.clear();
    for (SampleRow& r : in.sampleRows) r.promptBeg = r.promptEnd = 0;
  }
  if (in.sampleTopK > 0 && in.sampleTopK > c.vocabSize) fail("numLogprobs larger than the vocabulary");
  if (hasPositions) {
    Napi::Object pl = plv.As<Napi::Object>();
    std::vector<int> tokenIndex = copyArray<int32_t>(pl, "tokenIndex"), target = copyArray<int32_t>(pl, "targetTokenId");
    in.positionTopK = std::max(0, intField(pl, "topK"));
    if (in.positionTopK > c.vocabSize) fail("position logprobs topK larger than the vocabulary");
    if (target.size() < tokenIndex.size()) fail("targetTokenId shorter than tokenIndex");
    for (size_t e = 0; e < tokenIndex.size(); e++) {
      if (tokenIndex[e] < 0 || tokenIndex[e] >= T) fail("position logprob tokenIndex out of range");
      in.positionRows.push_back(PositionRow{(int)(in.sampleRows.size() + e), target[e]});
      in.logitRows.push_back(tokenIndex[e]);
    }
  }
  if (in.graphBucket > 0) {
    in.logitRows.resize(P);
    for (int s = 0; s < P; s++) in.logitRows[s] = s;
  }

  // A decode step replayed from a captured CUDA graph runs here, on the JS thread: it is short (a
  // few ms on the GPU), and handing it to a worker thread and back cost more than it freed (H100,
  // 7B shape: batch-1 decode 5.98-6.02 -> 5.83 ms/token, 128 requests +0.6-1.2%). Other steps
  // (prefill, a bucket's first step that times GEMMs and captures) go to a worker so the event
  // loop stays free during them. NOTE: the shards' graph maps are only touched by steps, and no
  // step is in flight here (busy_ is checked above).
  if (in.graphBucket > 0 && m.hasDecodeGraph(in.graphBucket, in.anyLora)) {
    Napi::Promise::Deferred done = Napi::Promise::Deferred::New(env);
    try {
      done.Resolve(stepOutputToJs(env, in, group_->execute(in)));
    } catch (const std::exception& e) {
      done.Reject(Napi::Error::New(env, e.what()).Value());
    }
    return done.Promise();
  }
  busy_ = true;
  StepWorker* worker = new StepWorker(env, this, info.This().As<Napi::Object>(), std::move(in));
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

void StepWorker::Execute() {
  try {
    result_ = owner_->group_->execute(input_);
  } catch (const std::exception& e) {
    SetError(e.what());
  }
}

// The step's results as the JS StepOutput: per sequence (-1 / NaN where a sequence sampled nothing).
Napi::Object stepOutputToJs(Napi::Env env, const StepInput& input, const StepResult& result) {
  const int S = input.numSeqs, K = input.sampleTopK;
  std::vector<int> ids(S, -1), topIds((size_t)S * K, -1);
  std::vector<float> lps(S, std::numeric_limits<float>::quiet_NaN()),
      topLps((size_t)S * K, std::numeric_limits<float>::quiet_NaN());
  for (size_t i = 0; i < input.sampledSeq.size(); i++) {
    const int s = input.sampledSeq[i];
    ids[s] = result.sampledIds[i];
    lps[s] = result.sampledLps[i];
    const int k = std::max(0, input.sampleRows[i].numLogprobs);
    for (int j = 0; j < k && j < K; j++) {
      topIds[(size_t)s * K + j] = result.topIds[i * K + j];
      topLps[(size_t)s * K + j] = result.topLps[i * K + j];
    }
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("sampledTokenIds", toJs(env, ids));
  o.Set("sampledLogprobs", toJs(env, lps));
  o.Set("topK", K);
  o.Set("topTokenIds", toJs(env, topIds));
  o.Set("topLogprobs", toJs(env, topLps));
  o.Set("positionTargetLogprobs", toJs(env, result.positionTargetLps));
  o.Set("positionTopTokenIds", toJs(env, result.positionTopIds));
  o.Set("positionTopLogprobs", toJs(env, result.positionTopLps));
  return o;
}

void StepWorker::OnOK() {
  owner_->finishStep();
  deferred_.Resolve(stepOutputToJs(Env(), input_, result_));
}

void StepWorker::OnError(const Napi::Error& e) {
  owner_->finishStep();
  deferred_.Reject(e.Value());
}

Napi::Value probeJs(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), probe()); }

Napi::Value deviceInfoJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    DeviceInfo d = deviceInfo(info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0);
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", d.name);
    o.Set("totalMemory", (double)d.totalMemory);
    o.Set("freeMemory", (double)d.freeMemory);
    o.Set("multiprocessors", d.smCount);
    o.Set("computeCapability", std::to_string(d.ccMajor) + "." + std::to_string(d.ccMinor));
    return o;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

Napi::Value deviceCountJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    int count = 0;
    checkCu(driver().deviceGetCount(&count), "cuDeviceGetCount");
    return Napi::Number::New(env, count);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

Napi::Value copyBandwidthJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    const int ordinal = info[0].As<Napi::Number>().Int32Value();
    const size_t bytes = (size_t)info[1].As<Napi::Number>().DoubleValue();
    const int iterations = info[2].As<Napi::Number>().Int32Value();
    return Napi::Number::New(env, measureCopyBandwidth(ordinal, bytes, iterations));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, probeJs));
  exports.Set("deviceInfo", Napi::Function::New(env, deviceInfoJs));
  exports.Set("deviceCount", Napi::Function::New(env, deviceCountJs));
  exports.Set("measureCopyBandwidth", Napi::Function::New(env, copyBandwidthJs));
  exports.Set("CudaModel", CudaModelWrap::define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(swiftlet_cuda, init)
