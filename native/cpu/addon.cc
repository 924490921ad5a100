// N-API surface: one JS handle class (CpuModel) over one Model; steps run as async workers.
// The TypeScript declaration of this surface is src/runtime/cpu/native.ts.
#include <napi.h>

#include <cstring>
#include <memory>
#include <stdexcept>
#include <thread>

#include "../common/js_tensor.h"
#include "model.h"

namespace swiftlet {
namespace {

template <class Array>
struct Element;
template <>
struct Element<int32_t> {
  static constexpr napi_typedarray_type type = napi_int32_array;
  static constexpr const char* name = "Int32Array";
};
template <>
struct Element<uint32_t> {
  static constexpr napi_typedarray_type type = napi_uint32_array;
  static constexpr const char* name = "Uint32Array";
};
template <>
struct Element<float> {
  static constexpr napi_typedarray_type type = napi_float32_array;
  static constexpr const char* name = "Float32Array";
};
template <>
struct Element<uint8_t> {
  static constexpr napi_typedarray_type type = napi_uint8_array;
  static constexpr const char* name = "Uint8Array";
};

template <class T>
std::vector<T> copyArray(const Napi::Value& value, const std::string& what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != Element<T>::type) {
    throw std::runtime_error(what + " must be a " + Element<T>::name);
  }
  auto array = value.As<Napi::TypedArrayOf<T>>();
  return std::vector<T>(array.Data(), array.Data() + array.ElementLength());
}

template <class T>
std::vector<T> field(const Napi::Object& obj, const char* key) {
  return copyArray<T>(obj.Get(key), key);
}

double number(const Napi::Object& obj, const char* key) {
  const Napi::Value v = obj.Get(key);
  if (!v.IsNumber()) throw std::runtime_error(std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool boolean(const Napi::Object& obj, const char* key) {
  const Napi::Value v = obj.Get(key);
  if (!v.IsBoolean()) throw std::runtime_error(std::string(key) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

template <class T>
Napi::Value toJs(Napi::Env env, const std::vector<T>& values) {
  auto array = Napi::TypedArrayOf<T>::New(env, values.size());
  if (!values.empty()) std::memcpy(array.Data(), values.data(), values.size() * sizeof(T));
  return array;
}

ModelConfig parseConfig(const Napi::Object& o) {
  ModelConfig c;
  c.vocabSize = static_cast<int>(number(o, "vocabSize"));
  c.hiddenSize = static_cast<int>(number(o, "hiddenSize"));
  c.intermediateSize = static_cast<int>(number(o, "intermediateSize"));
  c.numLayers = static_cast<int>(number(o, "numLayers"));
  c.numHeads = static_cast<int>(number(o, "numHeads"));
  c.numKvHeads = static_cast<int>(number(o, "numKvHeads"));
  c.headDim = static_cast<int>(number(o, "headDim"));
  c.rmsNormEps = static_cast<float>(number(o, "rmsNormEps"));
  c.tieWordEmbeddings = boolean(o, "tieWordEmbeddings");
  c.qkvBias = boolean(o, "qkvBias");
  c.oBias = boolean(o, "oBias");
  c.mlpBias = boolean(o, "mlpBias");
  c.qkNorm = boolean(o, "qkNorm");
  c.invFreq = field<float>(o, "invFreq");
  c.attentionScale = static_cast<float>(number(o, "attentionScale"));
  c.rotaryDim = static_cast<int>(number(o, "rotaryDim"));
  c.maxTokens = static_cast<int>(number(o, "maxTokens"));
  c.numKvBlocks = static_cast<int>(number(o, "numKvBlocks"));
  c.maxLoras = static_cast<int>(number(o, "maxLoras"));
  c.maxLoraRank = static_cast<int>(number(o, "maxLoraRank"));
  c.numThreads = static_cast<int>(number(o, "numThreads"));
  if (c.numThreads <= 0) c.numThreads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return c;
}

StepInput parseStep(const Napi::Object& b) {
  StepInput in;
  in.numSeqs = static_cast<int>(number(b, "numSeqs"));
  in.numTokens = static_cast<int>(number(b, "numTokens"));
  in.tokenIds = field<int32_t>(b, "tokenIds");
  in.positions = field<int32_t>(b, "positions");
  in.queryStart = field<int32_t>(b, "queryStart");
  in.contextLens = field<int32_t>(b, "contextLens");
  in.blockTables = field<int32_t>(b, "blockTables");
  in.maxBlocksPerSeq = static_cast<int>(number(b, "maxBlocksPerSeq"));
  in.slotMapping = field<int32_t>(b, "slotMapping");
  in.adapterSlots = field<int32_t>(b, "adapterSlots");
  const Napi::Value samplingValue = b.Get("sampling");
  if (!samplingValue.IsObject()) throw std::runtime_error("sampling must be an object");
  const Napi::Object s = samplingValue.As<Napi::Object>();
  in.doSample = field<uint8_t>(s, "doSample");
  in.temperature = field<float>(s, "temperature");
  in.topP = field<float>(s, "topP");
  in.topK = field<int32_t>(s, "topK");
  in.minP = field<float>(s, "minP");
  in.repetitionPenalty = field<float>(s, "repetitionPenalty");
  in.presencePenalty = field<float>(s, "presencePenalty");
  in.frequencyPenalty = field<float>(s, "frequencyPenalty");
  in.seeds = field<uint32_t>(s, "seeds");
  in.sampleIndex = field<int32_t>(s, "sampleIndex");
  in.promptTokenIds = field<int32_t>(s, "promptTokenIds");
  in.promptStart = field<int32_t>(s, "promptStart");
  in.outputTokenIds = field<int32_t>(s, "outputTokenIds");
  in.outputStart = field<int32_t>(s, "outputStart");
  in.biasTokenIds = field<int32_t>(s, "biasTokenIds");
  in.biasValues = field<float>(s, "biasValues");
  in.biasStart = field<int32_t>(s, "biasStart");
  in.numLogprobs = field<int32_t>(s, "numLogprobs");
  const Napi::Value pl = b.Get("positionLogprobs");
  if (pl.IsObject()) {
    const Napi::Object p = pl.As<Napi::Object>();
    in.hasPositionLogprobs = true;
    in.positionTokenIndex = field<int32_t>(p, "tokenIndex");
    in.positionTargetIds = field<int32_t>(p, "targetTokenId");
    in.positionTopK = static_cast<int>(number(p, "topK"));
  }
  return in;
}

class CpuModel;

class StepWorker : public Napi::AsyncWorker {
 public:
  StepWorker(Napi::Env env, CpuModel* owner, Napi::Object ownerObject, StepInput input)
      : Napi::AsyncWorker(env, "swiftlet:step"),
        deferred_(Napi::Promise::Deferred::New(env)),
        owner_(owner),
        input_(std::move(input)) {
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
  StepResult result_;
};

class CpuModel : public Napi::ObjectWrap<CpuModel> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "CpuModel",
                       {InstanceMethod("setTensor", &CpuModel::SetTensor), InstanceMethod("finishLoading", &CpuModel::FinishLoading),
                        InstanceMethod("execute", &CpuModel::Execute), InstanceMethod("loadAdapter", &CpuModel::LoadAdapter),
                        InstanceMethod("unloadAdapter", &CpuModel::UnloadAdapter), InstanceMethod("dispose", &CpuModel::Dispose),
                        InstanceMethod("kvCacheBytes", &CpuModel::KvCacheBytes)});
  }

  explicit CpuModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CpuModel>(info) {
    try {
      if (!info[0].IsObject()) throw std::runtime_error("CpuModel needs a config object");
      model_ = std::make_unique<Model>(parseConfig(info[0].As<Napi::Object>()));
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
  }

  Model& model() { return *model_; }

  /** Called on the JS thread when a step ends: applies what waited for it. */
  void finishStep() {
    busy_ = false;
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
    try {
      if (!info[0].IsObject()) throw std::runtime_error("execute needs a step batch");
      input = parseStep(info[0].As<Napi::Object>());
    } catch (const std::exception& e) {
      return reject(std::string("invalid step: ") + e.what());
    }
    busy_ = true;
    auto* worker = new StepWorker(env, this, info.This().As<Napi::Object>(), std::move(input));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
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
        module.a = copyArray<float>(m.Get("a"), where + " a");
        module.b = copyArray<float>(m.Get("b"), where + " b");
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
  bool disposePending_ = false;
  std::vector<std::pair<int, std::unique_ptr<Adapter>>> pending_;
};

void StepWorker::Execute() {
  try {
    owner_->model().execute(input_, result_);
  } catch (const std::exception& e) {
    SetError(e.what());
  }
}

void StepWorker::OnOK() {
  Napi::Env env = Env();
  owner_->finishStep();
  Napi::Object out = Napi::Object::New(env);
  out.Set("sampledTokenIds", toJs(env, result_.sampledTokenIds));
  out.Set("sampledLogprobs", toJs(env, result_.sampledLogprobs));
  out.Set("topK", Napi::Number::New(env, result_.topK));
  out.Set("topTokenIds", toJs(env, result_.topTokenIds));
  out.Set("topLogprobs", toJs(env, result_.topLogprobs));
  out.Set("positionTargetLogprobs", toJs(env, result_.positionTargetLogprobs));
  out.Set("positionTopTokenIds", toJs(env, result_.positionTopTokenIds));
  out.Set("positionTopLogprobs", toJs(env, result_.positionTopLogprobs));
  deferred_.Resolve(out);
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
