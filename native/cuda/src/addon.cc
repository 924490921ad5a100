// N-API surface of the CUDA runner (declared for TypeScript in src/runtime/cuda/native.ts).
// One CudaModel per JS handle: a ShardGroup of one model per GPU (one GPU unless the model is
// split by tensor parallelism). execute() reads and validates the step (native/common/js_step.h,
// step_contract.h), plans it (step_plan.h), runs the GPU work on a libuv worker thread (or, for a
// replayed decode graph, here) and resolves with the sampled ids and logprobs; a bad step rejects.
#include <napi.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "env_flags.h"
#include "gemm_peak.h"
#include "js_step.h"
#include "js_tensor.h"
#include "layout.h"
#include "linear_bandwidth.h"
#include "shard_group.h"
#include "step_plan.h"

using namespace swiftlet_cuda;

namespace {

template <typename T>
constexpr napi_typedarray_type arrayTypeOf();
template <>
constexpr napi_typedarray_type arrayTypeOf<int32_t>() { return napi_int32_array; }
template <>
constexpr napi_typedarray_type arrayTypeOf<float>() { return napi_float32_array; }

template <typename T>
std::vector<T> copyArray(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != arrayTypeOf<T>())
    throw Napi::TypeError::New(o.Env(), std::string("field ") + name + " has the wrong type");
  Napi::TypedArrayOf<T> a = v.As<Napi::TypedArrayOf<T>>();
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

int intField(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("field ") + name + " must be a number");
  return v.As<Napi::Number>().Int32Value();
}

ModelConfig readConfig(const Napi::Object& o) {
  ModelConfig c;
  static_cast<swiftlet_common::ModelShape&>(c) = swiftlet_common::readModelShape(o);
  swiftlet_common::checkModelShape(c);
  c.maxNumTokens = swiftlet_common::readConfigInt(o, "maxNumTokens");
  c.maxNumSeqs = swiftlet_common::readConfigInt(o, "maxNumSeqs");
  c.maxModelLen = swiftlet_common::readConfigInt(o, "maxModelLen");
  c.maxLoras = swiftlet_common::readConfigInt(o, "maxLoras");
  c.maxLoraRank = swiftlet_common::readConfigInt(o, "maxLoraRank");
  c.useCudaGraphs = swiftlet_common::readConfigBool(o, "useCudaGraphs");
  return c;
}

// What a step may ask of the group: rank 0's limits hold for every rank (shard_group.h).
swiftlet_common::StepLimits stepLimits(const Model& first) {
  const ModelConfig& c = first.config();
  swiftlet_common::StepLimits limits;
  limits.vocabSize = c.vocabSize;
  limits.numKvBlocks = first.numKvBlocks();
  limits.maxContext = c.maxModelLen;
  limits.maxNumSeqs = c.maxNumSeqs;
  limits.maxNumTokens = c.maxNumTokens;
  limits.maxLoras = c.maxLoras;
  limits.hasAdapter = [&first](int slot) { return first.hasAdapter(slot); };
  limits.ropeInvFreqWidth = c.ropeInvFreqWidth();
  return limits;
}

// { rank, size, uniqueId: Uint8Array(128) from ncclUniqueId() on rank 0 }
ProcessRank readProcessRank(const Napi::Value& value) {
  if (!value.IsObject()) throw std::runtime_error("processGroup must be { rank, size, uniqueId }");
  const Napi::Object o = value.As<Napi::Object>();
  ProcessRank process;
  process.rank = swiftlet_common::readConfigInt(o, "rank");
  process.size = swiftlet_common::readConfigInt(o, "size");
  const Napi::Value id = o.Get("uniqueId");
  if (!id.IsTypedArray() || id.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      id.As<Napi::Uint8Array>().ElementLength() != kNcclUniqueIdBytes)
    throw std::runtime_error("processGroup.uniqueId must be a Uint8Array of " + std::to_string(kNcclUniqueIdBytes) + " bytes");
  std::memcpy(process.id.internal, id.As<Napi::Uint8Array>().Data(), kNcclUniqueIdBytes);
  return process;
}

// The second half of a step whose masks come late (after group.forward(plan)): waits for them,
// then masks and samples. NOTE: a cancelled step still samples (unmasked, results dropped) before
// it throws: sample() waits for the step's GPU work, so the next step starts from a settled
// stream and the profiler sees the step end.
RowResults sampleWithLateMask(ShardGroup& group, StepPlan& plan, swiftlet_common::LateTokenBitmask& late) {
  std::string cancelled;
  try {
    planLateTokenBitmask(late.wait(), plan);
  } catch (const std::exception& e) {
    cancelled = e.what();
  }
  RowResults rows = group.sample(plan);
  if (!cancelled.empty()) throw std::runtime_error(cancelled);
  return rows;
}

class CudaModelWrap;

class StepWorker : public Napi::AsyncWorker {
 public:
  StepWorker(Napi::Env env, CudaModelWrap* owner, Napi::Object self, StepPlan plan,
             std::shared_ptr<swiftlet_common::LateTokenBitmask> lateMask)
      : Napi::AsyncWorker(env), owner_(owner), self_(Napi::Persistent(self)), plan_(std::move(plan)),
        lateMask_(std::move(lateMask)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  CudaModelWrap* owner_;
  Napi::ObjectReference self_;
  StepPlan plan_;
  std::shared_ptr<swiftlet_common::LateTokenBitmask> lateMask_;
  RowResults rows_;
  Napi::Promise::Deferred deferred_;
};

// A replayed decode step whose masks come late: its forward pass is queued on the GPU and the
// JS thread samples once supplyTokenBitmask() or cancelTokenBitmask() settles the masks.
struct GraphStepAwaitingMask {
  StepPlan plan;
  Napi::Promise::Deferred done;
};

class CudaModelWrap : public Napi::ObjectWrap<CudaModelWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "CudaModel",
                       {InstanceMethod("uploadTensor", &CudaModelWrap::uploadTensor),
                        InstanceMethod("initRandomWeights", &CudaModelWrap::initRandomWeights),
                        InstanceMethod("allocateKvCache", &CudaModelWrap::allocateKvCache),
                        InstanceMethod("execute", &CudaModelWrap::execute),
                        InstanceMethod("supplyTokenBitmask", &CudaModelWrap::supplyTokenBitmask),
                        InstanceMethod("cancelTokenBitmask", &CudaModelWrap::cancelTokenBitmask),
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
    try {
      c = readConfig(o);
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
    c.fatbinPath = o.Get("fatbinPath").As<Napi::String>().Utf8Value();
    std::vector<int> devices = copyArray<int32_t>(o, "devices");
    if (devices.empty()) throw Napi::TypeError::New(env, "CudaModel(config): devices must name at least one GPU");
    try {
      if (o.Has("processGroup")) {
        if (devices.size() != 1) throw std::runtime_error("CudaModel(config): a rank of a process group runs on one GPU");
        const ProcessRank process = readProcessRank(o.Get("processGroup"));
        c.device = devices[0];
        c.computesLogits = process.rank == 0;
        group_ = std::make_unique<ShardGroup>(c, readEnvFlags(), process);
        return;
      }
      std::vector<ModelConfig> shards;
      for (size_t r = 0; r < devices.size(); r++) {
        ModelConfig shard = c;
        shard.device = devices[r];
        shard.computesLogits = r == 0;
        shards.push_back(shard);
      }
      group_ = std::make_unique<ShardGroup>(std::move(shards), readEnvFlags());
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
  }

  ShardGroup& group(Napi::Env env) {
    if (!group_) throw Napi::Error::New(env, "CUDA model was disposed");
    return *group_;
  }

  // uploadTensor(rank, layer, slot, tensor): rank's shard of one canonical tensor (NativeTensor).
  Napi::Value uploadTensor(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    try {
      if (!info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsString())
        throw std::invalid_argument("uploadTensor needs (rank, layer, slot, tensor)");
      Model& shard = group(env).shard(info[0].As<Napi::Number>().Int32Value());
      const int layer = info[1].As<Napi::Number>().Int32Value();
      const swiftlet_common::Slot slot = swiftlet_common::parseSlot(info[2].As<Napi::String>().Utf8Value());
      shard.uploadTensor(layer, slot, swiftlet_common::readTensor(info[3]));
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
    return env.Undefined();
  }

  Napi::Value initRandomWeights(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    try {
      RandomLinearFormat format;
      if (info.Length() > 1 && info[1].IsObject()) {
        const Napi::Object options = info[1].As<Napi::Object>();
        format.bits = options.Get("bits").As<Napi::Number>().Int32Value();
        format.groupSize = options.Get("groupSize").As<Napi::Number>().Int32Value();
      }
      group(env).initRandomWeights((uint64_t)info[0].As<Napi::Number>().Int64Value(), format);
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

  // The running step's late masks (execute(batch, true)); a no-op once that step has ended.
  Napi::Value supplyTokenBitmask(const Napi::CallbackInfo& info) {
    if (lateMask_) swiftlet_common::supplyLateTokenBitmask(*lateMask_, info[0]);
    sampleGraphStep(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value cancelTokenBitmask(const Napi::CallbackInfo& info) {
    if (lateMask_) swiftlet_common::cancelLateTokenBitmask(*lateMask_, info[0]);
    sampleGraphStep(info.Env());
    return info.Env().Undefined();
  }

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
    lateMask_.reset();
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
    auto adapter = std::make_unique<LoraAdapter>();
    for (uint32_t i = 0; i < modules.Length(); i++) {
      Napi::Object o = modules.Get(i).As<Napi::Object>();
      LoraModule mod;
      mod.layer = intField(o, "layer");
      mod.rank = intField(o, "rank");
      const std::string proj = o.Get("projection").As<Napi::String>().Utf8Value();
      mod.proj = swiftlet_common::parseProjection(proj);
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

  // Ends a GraphStepAwaitingMask once its masks are settled (the caller just settled them).
  void sampleGraphStep(Napi::Env env) {
    if (!graphStep_) return;
    std::unique_ptr<GraphStepAwaitingMask> step = std::move(graphStep_);
    std::shared_ptr<swiftlet_common::LateTokenBitmask> late = lateMask_;
    try {
      RowResults rows = sampleWithLateMask(*group_, step->plan, *late);
      finishStep();
      step->done.Resolve(swiftlet_common::stepResultToJs(env, resultsBySequence(step->plan, std::move(rows))));
    } catch (const std::exception& e) {
      finishStep();
      step->done.Reject(Napi::Error::New(env, e.what()).Value());
    }
  }

  std::unique_ptr<ShardGroup> group_;
  bool busy_ = false;
  std::shared_ptr<swiftlet_common::LateTokenBitmask> lateMask_;
  std::unique_ptr<GraphStepAwaitingMask> graphStep_;
  std::vector<std::pair<int, AdapterParts>> pending_;
};

Napi::Value CudaModelWrap::execute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred done = Napi::Promise::Deferred::New(env);
  auto reject = [&](const std::exception& e) {
    done.Reject(Napi::Error::New(env, e.what()).Value());
    return done.Promise();
  };
  StepPlan plan;
  const bool isMaskLate = info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  const bool onWorker = info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  std::shared_ptr<swiftlet_common::LateTokenBitmask> lateMask;
  try {
    const auto received = std::chrono::steady_clock::now();
    if (!group_) throw std::runtime_error("CUDA model was disposed");
    if (busy_) throw std::runtime_error("CUDA runner: execute() called while the previous step is still running");
    const Model& first = group_->first();
    swiftlet_common::StepInput step = swiftlet_common::readStep(info[0]);
    if (isMaskLate && step.tokenBitmask.present) throw std::invalid_argument("invalid step: a tokenBitmask with a late one");
    swiftlet_common::validateStep(step, stepLimits(first));
    if (isMaskLate) lateMask = std::make_shared<swiftlet_common::LateTokenBitmask>(step, first.config().vocabSize);
    plan = planStep(std::move(step), {first.maxBlocksPerSeq(), [&first](int numSeqs) { return first.graphBucketFor(numSeqs); },
                                      first.config().maxNumSeqs});
    plan.received = received;
  } catch (const std::exception& e) {
    return reject(e);
  }

  // A decode step replayed from a captured CUDA graph runs here, on the JS thread: it is short (a
  // few ms on the GPU), and handing it to a worker thread and back cost more than it freed (H100,
  // 7B shape: batch-1 decode 5.98-6.02 -> 5.83 ms/token, 128 requests +0.6-1.2%). Other steps
  // (prefill, a bucket's first step that times GEMMs and captures) go to a worker so the event
  // loop stays free during them. NOTE: the shards' graph maps are only touched by steps, and no
  // step is in flight here (busy_ is checked above). onWorker (asynchronous scheduling: the
  // engine has the previous step to postprocess meanwhile) sends such a step to the worker too.
  if (!onWorker && plan.graphBucket > 0 && group_->first().hasDecodeGraph(plan.graphBucket, plan.anyLora)) {
    if (lateMask) {
      try {
        group_->forward(plan);
      } catch (const std::exception& e) {
        return reject(e);
      }
      busy_ = true;
      lateMask_ = std::move(lateMask);
      graphStep_ = std::make_unique<GraphStepAwaitingMask>(GraphStepAwaitingMask{std::move(plan), done});
      return done.Promise();
    }
    try {
      done.Resolve(swiftlet_common::stepResultToJs(env, resultsBySequence(plan, group_->execute(plan))));
    } catch (const std::exception& e) {
      return reject(e);
    }
    return done.Promise();
  }
  busy_ = true;
  lateMask_ = lateMask;
  StepWorker* worker = new StepWorker(env, this, info.This().As<Napi::Object>(), std::move(plan), std::move(lateMask));
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

void StepWorker::Execute() {
  try {
    if (lateMask_) {
      owner_->group_->forward(plan_);
      rows_ = sampleWithLateMask(*owner_->group_, plan_, *lateMask_);
    } else {
      rows_ = owner_->group_->execute(plan_);
    }
  } catch (const std::exception& e) {
    SetError(e.what());
  }
}

void StepWorker::OnOK() {
  owner_->finishStep();
  deferred_.Resolve(swiftlet_common::stepResultToJs(Env(), resultsBySequence(plan_, std::move(rows_))));
}

void StepWorker::OnError(const Napi::Error& e) {
  owner_->finishStep();
  deferred_.Reject(e.Value());
}

Napi::Value probeJs(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), probe()); }

Napi::Value ncclUniqueIdJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    const ncclUniqueId id = newNcclUniqueId();
    Napi::Uint8Array out = Napi::Uint8Array::New(env, kNcclUniqueIdBytes);
    std::memcpy(out.Data(), id.internal, kNcclUniqueIdBytes);
    return out;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

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

Napi::Value gemmPeakJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    const int ordinal = info[0].As<Napi::Number>().Int32Value();
    const std::string fatbinPath = info[1].As<Napi::String>().Utf8Value();
    const int m = info[2].As<Napi::Number>().Int32Value(), n = info[3].As<Napi::Number>().Int32Value(),
              k = info[4].As<Napi::Number>().Int32Value();
    const int iterations = info[5].As<Napi::Number>().Int32Value();
    return Napi::Number::New(env, measureGemmPeak(ordinal, fatbinPath, m, n, k, iterations));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

Napi::Value linearForwardJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    auto integer = [&](int i) { return info[i].As<Napi::Number>().Int32Value(); };
    const RandomLinearFormat format{integer(2), integer(3)};
    const LinearTiming t = measureLinearForward(integer(0), info[1].As<Napi::String>().Utf8Value(), format, integer(4),
                                                integer(5), integer(6), integer(7));
    Napi::Object o = Napi::Object::New(env);
    o.Set("seconds", t.seconds);
    o.Set("bytes", t.bytes);
    return o;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, probeJs));
  exports.Set("ncclUniqueId", Napi::Function::New(env, ncclUniqueIdJs));
  exports.Set("deviceInfo", Napi::Function::New(env, deviceInfoJs));
  exports.Set("deviceCount", Napi::Function::New(env, deviceCountJs));
  exports.Set("measureCopyBandwidth", Napi::Function::New(env, copyBandwidthJs));
  exports.Set("measureGemmPeak", Napi::Function::New(env, gemmPeakJs));
  exports.Set("measureLinearForward", Napi::Function::New(env, linearForwardJs));
  exports.Set("CudaModel", CudaModelWrap::define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(swiftlet_cuda, init)
