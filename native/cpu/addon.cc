// N-API surface: one JS handle class (CpuModel) over one Model; steps run as async workers.
// The TypeScript declaration of this surface is src/runtime/cpu/native.ts.
#include <napi.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <thread>

#include "js_step.h"
#include "js_tensor.h"
#include "model.h"

namespace swiftlet {
namespace {

std::vector<float> copyFloats(const Napi::Value& value, const std::string& what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw std::runtime_error(what + " must be a Float32Array");
  }
  auto array = value.As<Napi::Float32Array>();
  return std::vector<float>(array.Data(), array.Data() + array.ElementLength());
}

double number(const Napi::Object& obj, const char* key) {
  const Napi::Value v = obj.Get(key);
  if (!v.IsNumber()) throw std::runtime_error(std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

ModelConfig readConfig(const Napi::Object& o) {
  ModelConfig c;
  static_cast<swiftlet_common::ModelShape&>(c) = swiftlet_common::readModelShape(o);
  c.maxTokensPerChunk = swiftlet_common::readConfigInt(o, "maxTokensPerChunk");
  c.numKvBlocks = swiftlet_common::readConfigInt(o, "numKvBlocks");
  c.maxLoras = swiftlet_common::readConfigInt(o, "maxLoras");
  c.maxLoraRank = swiftlet_common::readConfigInt(o, "maxLoraRank");
  c.numThreads = swiftlet_common::readConfigInt(o, "numThreads");
  if (c.numThreads <= 0) c.numThreads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (o.Has("shardCount")) {
    c.shardRank = swiftlet_common::readConfigInt(o, "shardRank");
    c.shardCount = swiftlet_common::readConfigInt(o, "shardCount");
  }
  if (o.Has("lmHeadBits")) c.lmHeadBits = swiftlet_common::readConfigInt(o, "lmHeadBits");
  return c;
}

class CpuModel;

class StepWorker : public Napi::AsyncWorker {
 public:
  StepWorker(Napi::Env env, CpuModel* owner, Napi::Object ownerObject, StepInput input,
             std::shared_ptr<swiftlet_common::LateTokenBitmask> lateMask)
      : Napi::AsyncWorker(env, "swiftlet:step"),
        deferred_(Napi::Promise::Deferred::New(env)),
        owner_(owner),
        input_(std::move(input)),
        lateMask_(std::move(lateMask)) {
    ownerRef_ = Napi::Persistent(ownerObject);
  }
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& error) override;

 private:
  Napi::Promise::Deferred deferred_;
  CpuModel* owner_;
  Napi::ObjectReference ownerRef_;
  StepInput input_;
  std::shared_ptr<swiftlet_common::LateTokenBitmask> lateMask_;
  StepResult result_;
};

class CpuModel : public Napi::ObjectWrap<CpuModel> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "CpuModel",
                       {InstanceMethod("setTensor", &CpuModel::SetTensor), InstanceMethod("finishLoading", &CpuModel::FinishLoading),
                        InstanceMethod("execute", &CpuModel::Execute),
                        InstanceMethod("supplyTokenBitmask", &CpuModel::SupplyTokenBitmask),
                        InstanceMethod("cancelTokenBitmask", &CpuModel::CancelTokenBitmask),
                        InstanceMethod("loadAdapter", &CpuModel::LoadAdapter),
                        InstanceMethod("unloadAdapter", &CpuModel::UnloadAdapter), InstanceMethod("dispose", &CpuModel::Dispose),
                        InstanceMethod("kvCacheBytes", &CpuModel::KvCacheBytes),
                        InstanceMethod("captureInputGrams", &CpuModel::CaptureInputGrams),
                        InstanceMethod("inputGrams", &CpuModel::InputGramSums),
                        InstanceMethod("listenGroup", &CpuModel::ListenGroup), InstanceMethod("acceptGroup", &CpuModel::AcceptGroup),
                        InstanceMethod("connectGroup", &CpuModel::ConnectGroup)});
  }

  explicit CpuModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CpuModel>(info) {
    try {
      if (!info[0].IsObject()) throw std::runtime_error("CpuModel needs a config object");
      model_ = std::make_unique<Model>(readConfig(info[0].As<Napi::Object>()));
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
  }

  Model& model() { return *model_; }

  /** Called on the JS thread when a step ends: applies what waited for it. */
  void finishStep() {
    busy_ = false;
    lateMask_.reset();
    if (disposePending_) {
      model_.reset();
      pending_.clear();
      return;
    }
    for (auto& [slot, adapter] : pending_) model_->setAdapter(slot, std::move(adapter));
    pending_.clear();
  }

 private:
  void ensureLive(const Napi::Env& env) {
    if (!model_ || disposePending_) throw Napi::Error::New(env, "the CPU model was disposed");
  }

  Napi::Value SetTensor(const Napi::CallbackInfo& info) {
    ensureLive(info.Env());
    try {
      if (!info[0].IsNumber() || !info[1].IsString()) throw std::runtime_error("setTensor needs (layer, slot, tensor)");
      const int layer = info[0].As<Napi::Number>().Int32Value();
      const swiftlet_common::Slot slot = swiftlet_common::parseSlot(info[1].As<Napi::String>().Utf8Value());
      model_->setTensor(layer, slot, swiftlet_common::readTensor(info[2]));
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
    return info.Env().Undefined();
  }

  Napi::Value FinishLoading(const Napi::CallbackInfo& info) {
    ensureLive(info.Env());
    try {
      model_->checkComplete();
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
    return info.Env().Undefined();
  }

  Napi::Value Execute(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto reject = [&](const std::string& message) {
      auto deferred = Napi::Promise::Deferred::New(env);
      deferred.Reject(Napi::Error::New(env, message).Value());
      return deferred.Promise();
    };
    if (!model_ || disposePending_) return reject("the CPU model was disposed");
    if (busy_) return reject("a step is already running on this model");
    StepInput input;
    const bool isMaskLate = info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
    try {
      input = swiftlet_common::readStep(info[0]);
      if (isMaskLate && input.tokenBitmask.present) throw std::invalid_argument("invalid step: a tokenBitmask with a late one");
      swiftlet_common::validateStep(input, model_->stepLimits());
    } catch (const std::exception& e) {
      return reject(e.what());
    }
    busy_ = true;
    if (isMaskLate) lateMask_ = std::make_shared<swiftlet_common::LateTokenBitmask>(input, model_->config().vocabSize);
    auto* worker = new StepWorker(env, this, info.This().As<Napi::Object>(), std::move(input), lateMask_);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  }

  // The running step's late masks (execute(batch, true)); a no-op once that step has ended.
  // A mask that breaks the step's rules fails the step, which rejects with the reason.
  Napi::Value SupplyTokenBitmask(const Napi::CallbackInfo& info) {
    if (lateMask_) swiftlet_common::supplyLateTokenBitmask(*lateMask_, info[0]);
    return info.Env().Undefined();
  }

  Napi::Value CancelTokenBitmask(const Napi::CallbackInfo& info) {
    if (lateMask_) swiftlet_common::cancelLateTokenBitmask(*lateMask_, info[0]);
    return info.Env().Undefined();
  }

  Napi::Value LoadAdapter(const Napi::CallbackInfo& info) {
    ensureLive(info.Env());
    try {
      const ModelConfig& c = model_->config();
      const int slot = info[0].As<Napi::Number>().Int32Value();
      if (slot < 0 || slot >= c.maxLoras) throw std::runtime_error("adapter slot " + std::to_string(slot) + " is outside 0.." + std::to_string(c.maxLoras - 1));
      auto adapter = std::make_unique<Adapter>();
      adapter->scale = static_cast<float>(info[1].As<Napi::Number>().DoubleValue());
      adapter->layers.resize(c.numLayers);
      const Napi::Array modules = info[2].As<Napi::Array>();
      const int64_t H = c.hiddenSize, I = c.intermediateSize;
      const int64_t q = static_cast<int64_t>(c.numHeads) * c.headDim, kv = static_cast<int64_t>(c.numKvHeads) * c.headDim;
      for (uint32_t i = 0; i < modules.Length(); i++) {
        const Napi::Object m = modules.Get(i).As<Napi::Object>();
        const int layer = static_cast<int>(number(m, "layer"));
        const std::string projName = m.Get("projection").As<Napi::String>().Utf8Value();
        const int proj = parseProjection(projName);
        const int rank = static_cast<int>(number(m, "rank"));
        const std::string where = "adapter module layer " + std::to_string(layer) + " " + projName;
        if (layer < 0 || layer >= c.numLayers) throw std::runtime_error(where + ": layer out of range");
        if (proj < 0) throw std::runtime_error(where + ": unknown projection");
        if (rank <= 0 || rank > c.maxLoraRank) throw std::runtime_error(where + ": rank " + std::to_string(rank) + " exceeds maxLoraRank " + std::to_string(c.maxLoraRank));
        const int64_t in = proj == kO ? q : proj == kDown ? I : H;
        const int64_t out = proj == kQ ? q : (proj == kK || proj == kV) ? kv : (proj == kGate || proj == kUp) ? I : H;
        LoraModule& module = adapter->layers[layer][proj];
        module.rank = rank;
        module.a = copyFloats(m.Get("a"), where + " a");
        module.b = copyFloats(m.Get("b"), where + " b");
        if (static_cast<int64_t>(module.a.size()) != rank * in || static_cast<int64_t>(module.b.size()) != out * rank) {
          throw std::runtime_error(where + ": A must be [" + std::to_string(rank) + ", " + std::to_string(in) + "] and B [" +
                                   std::to_string(out) + ", " + std::to_string(rank) + "]");
        }
      }
      if (busy_) pending_.emplace_back(slot, std::move(adapter));
      else model_->setAdapter(slot, std::move(adapter));
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
    return info.Env().Undefined();
  }

  Napi::Value CaptureInputGrams(const Napi::CallbackInfo& info) {
    ensureLive(info.Env());
    if (busy_) throw Napi::Error::New(info.Env(), "captureInputGrams while a step is running");
    try {
      model_->captureInputGrams(info[0].As<Napi::Number>().Int32Value());
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
    return info.Env().Undefined();
  }

  Napi::Value InputGramSums(const Napi::CallbackInfo& info) {
    ensureLive(info.Env());
    if (busy_) throw Napi::Error::New(info.Env(), "inputGrams while a step is running");
    const InputGrams& grams = model_->inputGrams();
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("rows", Napi::Number::New(info.Env(), static_cast<double>(grams.rows())));
    const char* names[InputGrams::kNumInputs] = {"qkv", "o", "gateUp", "down"};
    for (int i = 0; i < InputGrams::kNumInputs; ++i) {
      const std::vector<double> sum = grams.symmetric(i);
      Napi::Float64Array array = Napi::Float64Array::New(info.Env(), sum.size());
      std::copy(sum.begin(), sum.end(), array.Data());
      out.Set(names[i], array);
    }
    return out;
  }

  /** The shard's collective; throws on a model that is not a shard, or during a step (the step's thread owns it). */
  TcpGroup& group(const Napi::Env& env) {
    ensureLive(env);
    if (busy_) throw Napi::Error::New(env, "the tensor-parallel group is in use by a step");
    TcpGroup* group = model_->group();
    if (group == nullptr) throw Napi::Error::New(env, "this CPU model is not a tensor-parallel shard");
    return *group;
  }

  template <typename Call>
  Napi::Value onGroup(const Napi::CallbackInfo& info, Call call) {
    TcpGroup& g = group(info.Env());
    try {
      return call(g);
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
  }

  Napi::Value ListenGroup(const Napi::CallbackInfo& info) {
    return onGroup(info, [&](TcpGroup& g) { return Napi::Number::New(info.Env(), g.listen(info[0].As<Napi::Number>().Int32Value())); });
  }

  Napi::Value AcceptGroup(const Napi::CallbackInfo& info) {
    return onGroup(info, [&](TcpGroup& g) {
      g.accept(info[0].As<Napi::Number>().Int32Value());
      return info.Env().Undefined();
    });
  }

  Napi::Value ConnectGroup(const Napi::CallbackInfo& info) {
    return onGroup(info, [&](TcpGroup& g) {
      g.connect(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::Number>().Int32Value(), info[2].As<Napi::Number>().Int32Value());
      return info.Env().Undefined();
    });
  }

  Napi::Value UnloadAdapter(const Napi::CallbackInfo& info) {
    ensureLive(info.Env());
    const int slot = info[0].As<Napi::Number>().Int32Value();
    if (slot < 0 || slot >= model_->config().maxLoras) throw Napi::Error::New(info.Env(), "adapter slot out of range");
    if (busy_) pending_.emplace_back(slot, nullptr);
    else model_->setAdapter(slot, nullptr);
    return info.Env().Undefined();
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (busy_) disposePending_ = true;
    else model_.reset();
    return info.Env().Undefined();
  }

  Napi::Value KvCacheBytes(const Napi::CallbackInfo& info) {
    ensureLive(info.Env());
    return Napi::Number::New(info.Env(), static_cast<double>(model_->kvCacheBytes()));
  }

  std::unique_ptr<Model> model_;
  bool busy_ = false;
  std::shared_ptr<swiftlet_common::LateTokenBitmask> lateMask_;
  bool disposePending_ = false;
  std::vector<std::pair<int, std::unique_ptr<Adapter>>> pending_;
};

void StepWorker::Execute() {
  try {
    owner_->model().execute(input_, result_, lateMask_.get());
  } catch (const std::exception& e) {
    SetError(e.what());
  }
}

void StepWorker::OnOK() {
  owner_->finishStep();
  deferred_.Resolve(swiftlet_common::stepResultToJs(Env(), result_));
}

void StepWorker::OnError(const Napi::Error& error) {
  owner_->finishStep();
  deferred_.Reject(error.Value());
}

}  // namespace
}  // namespace swiftlet

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  exports.Set("CpuModel", swiftlet::CpuModel::Define(env));
  return exports;
}

NODE_API_MODULE(swiftlet_cpu, InitAddon)
