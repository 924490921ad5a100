#include "js_step.h"

#include <cstring>
#include <stdexcept>

namespace swiftlet_common {
namespace {

// The typed array each element type of the step arrives in, and its name for errors.
template <class T>
struct TypedArrayName;
#define SWIFTLET_TYPED_ARRAY(element, napiType, jsName)           \
  template <>                                                    \
  struct TypedArrayName<element> {                               \
    static constexpr napi_typedarray_type type = napiType;       \
    static constexpr const char* name = jsName;                  \
  };
SWIFTLET_TYPED_ARRAY(int32_t, napi_int32_array, "Int32Array")
SWIFTLET_TYPED_ARRAY(uint32_t, napi_uint32_array, "Uint32Array")
SWIFTLET_TYPED_ARRAY(float, napi_float32_array, "Float32Array")
SWIFTLET_TYPED_ARRAY(uint8_t, napi_uint8_array, "Uint8Array")
#undef SWIFTLET_TYPED_ARRAY

// `what` prefixes every error: "invalid step: " for the step, "model config: " for the config.
struct Reader {
  std::string what;

  [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
    throw std::invalid_argument(what + field + " " + problem);
  }

  Napi::Object object(const Napi::Object& parent, const char* key) const {
    const Napi::Value value = parent.Get(key);
    if (!value.IsObject()) fail(key, "must be an object");
    return value.As<Napi::Object>();
  }

  template <class T>
  std::vector<T> array(const Napi::Object& parent, const char* key) const {
    const Napi::Value value = parent.Get(key);
    if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != TypedArrayName<T>::type) {
      fail(key, std::string("must be a ") + TypedArrayName<T>::name);
    }
    const auto typed = value.As<Napi::TypedArrayOf<T>>();
    return std::vector<T>(typed.Data(), typed.Data() + typed.ElementLength());
  }

  double number(const Napi::Object& parent, const char* key) const {
    const Napi::Value value = parent.Get(key);
    if (!value.IsNumber()) fail(key, "must be a number");
    return value.As<Napi::Number>().DoubleValue();
  }

  int integer(const Napi::Object& parent, const char* key) const {
    const double value = number(parent, key);
    if (value != static_cast<double>(static_cast<int>(value))) fail(key, "must be an integer");
    return static_cast<int>(value);
  }

  bool boolean(const Napi::Object& parent, const char* key) const {
    const Napi::Value value = parent.Get(key);
    if (!value.IsBoolean()) fail(key, "must be a boolean");
    return value.As<Napi::Boolean>().Value();
  }
};

SamplingInput readSampling(const Reader& read, const Napi::Object& sampling) {
  SamplingInput in;
#define SWIFTLET_READ_FIELD(type, name) in.name = read.array<type>(sampling, #name);
  SWIFTLET_SAMPLING_PER_SEQUENCE(SWIFTLET_READ_FIELD)
#undef SWIFTLET_READ_FIELD
#define SWIFTLET_READ_LIST(type, values, offsets)   \
  in.values = read.array<type>(sampling, #values); \
  in.offsets = read.array<int32_t>(sampling, #offsets);
  SWIFTLET_SAMPLING_TOKEN_LISTS(SWIFTLET_READ_LIST)
#undef SWIFTLET_READ_LIST
  in.biasValues = read.array<float>(sampling, "biasValues");
  in.seeds = read.array<uint32_t>(sampling, "seeds");
  return in;
}

PositionLogprobsInput readPositionLogprobs(const Reader& read, const Napi::Value& value) {
  PositionLogprobsInput in;
  // null: the step wants no position's distribution.
  if (value.IsNull() || value.IsUndefined()) return in;
  if (!value.IsObject()) read.fail("positionLogprobs", "must be an object or null");
  const Napi::Object positions = value.As<Napi::Object>();
  in.wanted = true;
  in.tokenIndex = read.array<int32_t>(positions, "tokenIndex");
  in.targetTokenId = read.array<int32_t>(positions, "targetTokenId");
  in.topK = read.integer(positions, "topK");
  return in;
}

TokenBitmaskInput readTokenBitmaskWith(const Reader& read, const Napi::Value& value) {
  TokenBitmaskInput in;
  // Absent or null: no sequence of the step has a grammar.
  if (value.IsNull() || value.IsUndefined()) return in;
  if (!value.IsObject()) read.fail("tokenBitmask", "must be an object or null");
  const Napi::Object mask = value.As<Napi::Object>();
  in.present = true;
  in.numWords = read.integer(mask, "numWords");
  in.bitmask = read.array<uint32_t>(mask, "bitmask");
  in.hasBitmask = read.array<uint8_t>(mask, "hasBitmask");
  return in;
}

// Optional: null or absent when the step wants no hidden state.
std::vector<int32_t> readHiddenStateRows(const Reader& read, const Napi::Object& batch) {
  const Napi::Value value = batch.Get("hiddenStateRows");
  if (value.IsNull() || value.IsUndefined()) return {};
  return read.array<int32_t>(batch, "hiddenStateRows");
}

// Optional: null or absent for a model with one rotary table for every sequence.
std::vector<float> readRopeInvFreq(const Reader& read, const Napi::Object& batch) {
  const Napi::Value value = batch.Get("ropeInvFreq");
  if (value.IsNull() || value.IsUndefined()) return {};
  return read.array<float>(batch, "ropeInvFreq");
}

template <class T>
Napi::Value toJs(Napi::Env env, const std::vector<T>& values) {
  auto array = Napi::TypedArrayOf<T>::New(env, values.size());
  if (!values.empty()) std::memcpy(array.Data(), values.data(), values.size() * sizeof(T));
  return array;
}

}  // namespace

StepInput readStep(const Napi::Value& value) {
  const Reader read{"invalid step: "};
  if (!value.IsObject()) read.fail("the step", "must be an object");
  const Napi::Object batch = value.As<Napi::Object>();
  StepInput step;
  step.numSeqs = read.integer(batch, "numSeqs");
  step.numTokens = read.integer(batch, "numTokens");
  step.maxBlocksPerSeq = read.integer(batch, "maxBlocksPerSeq");
  step.tokenIds = read.array<int32_t>(batch, "tokenIds");
  step.positions = read.array<int32_t>(batch, "positions");
  step.slotMapping = read.array<int32_t>(batch, "slotMapping");
  step.queryStart = read.array<int32_t>(batch, "queryStart");
  step.contextLens = read.array<int32_t>(batch, "contextLens");
  step.adapterSlots = read.array<int32_t>(batch, "adapterSlots");
  step.blockTables = read.array<int32_t>(batch, "blockTables");
  step.sampling = readSampling(read, read.object(batch, "sampling"));
  step.positionLogprobs = readPositionLogprobs(read, batch.Get("positionLogprobs"));
  step.tokenBitmask = readTokenBitmaskWith(read, batch.Get("tokenBitmask"));
  step.hiddenStateRows = readHiddenStateRows(read, batch);
  step.ropeInvFreq = readRopeInvFreq(read, batch);
  return step;
}

TokenBitmaskInput readTokenBitmask(const Napi::Value& value) { return readTokenBitmaskWith(Reader{"invalid step: "}, value); }

void supplyLateTokenBitmask(LateTokenBitmask& late, const Napi::Value& mask) {
  try {
    late.supply(readTokenBitmask(mask));
  } catch (const std::exception& e) {
    late.cancel(e.what());
  }
}

void cancelLateTokenBitmask(LateTokenBitmask& late, const Napi::Value& reason) {
  late.cancel(reason.IsString() ? reason.As<Napi::String>().Utf8Value() : "the step's token bitmask failed");
}

Napi::Object stepResultToJs(Napi::Env env, const StepResult& result) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("sampledTokenIds", toJs(env, result.sampledTokenIds));
  out.Set("sampledLogprobs", toJs(env, result.sampledLogprobs));
  out.Set("topK", Napi::Number::New(env, result.topK));
  out.Set("topTokenIds", toJs(env, result.topTokenIds));
  out.Set("topLogprobs", toJs(env, result.topLogprobs));
  out.Set("positionTargetLogprobs", toJs(env, result.positionTargetLogprobs));
  out.Set("positionTopTokenIds", toJs(env, result.positionTopTokenIds));
  out.Set("positionTopLogprobs", toJs(env, result.positionTopLogprobs));
  out.Set("hiddenStates", toJs(env, result.hiddenStates));
  return out;
}

namespace {
const Reader kConfigReader{"model config: "};
}  // namespace

ModelShape readModelShape(const Napi::Object& config) {
  const Reader& read = kConfigReader;
  ModelShape shape;
  shape.vocabSize = read.integer(config, "vocabSize");
  shape.hiddenSize = read.integer(config, "hiddenSize");
  shape.intermediateSize = read.integer(config, "intermediateSize");
  shape.numLayers = read.integer(config, "numLayers");
  shape.numHeads = read.integer(config, "numHeads");
  shape.numKvHeads = read.integer(config, "numKvHeads");
  shape.headDim = read.integer(config, "headDim");
  shape.rmsNormEps = static_cast<float>(read.number(config, "rmsNormEps"));
  shape.tieWordEmbeddings = read.boolean(config, "tieWordEmbeddings");
  shape.qkvBias = read.boolean(config, "qkvBias");
  shape.oBias = read.boolean(config, "oBias");
  shape.mlpBias = read.boolean(config, "mlpBias");
  shape.qkNorm = read.boolean(config, "qkNorm");
  shape.invFreq = read.array<float>(config, "invFreq");
  shape.attentionScale = static_cast<float>(read.number(config, "attentionScale"));
  shape.rotaryDim = read.integer(config, "rotaryDim");
  shape.ropeInterleaved = read.boolean(config, "ropeInterleaved");
  shape.lognAttnContext = read.integer(config, "lognAttnContext");
  shape.perSequenceRope = read.boolean(config, "perSequenceRope");
  return shape;
}

int readConfigInt(const Napi::Object& config, const char* key) { return kConfigReader.integer(config, key); }

bool readConfigBool(const Napi::Object& config, const char* key) { return kConfigReader.boolean(config, key); }

}  // namespace swiftlet_common
