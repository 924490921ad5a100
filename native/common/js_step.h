// The only native code that reads the JS step object (StepBatch) and writes the JS StepOutput,
// and the model shape both addons take (src/runtime/native-shape.ts NativeModelShape).
#pragma once
#include <napi.h>

#include "late_token_bitmask.h"
#include "model_shape.h"
#include "step_contract.h"

namespace swiftlet_common {

// Copies the step's typed arrays; throws std::invalid_argument naming a missing or mistyped field.
StepInput readStep(const Napi::Value& value);
// A step's tokenBitmask object (null or undefined: absent), with readStep's errors.
TokenBitmaskInput readTokenBitmask(const Napi::Value& value);
// The addons' supplyTokenBitmask(mask) and cancelTokenBitmask(reason) for a step's late masks:
// a mask that does not read or breaks the step's rules fails the step (never throws to JS).
void supplyLateTokenBitmask(LateTokenBitmask& late, const Napi::Value& mask);
void cancelLateTokenBitmask(LateTokenBitmask& late, const Napi::Value& reason);
Napi::Object stepResultToJs(Napi::Env env, const StepResult& result);
// Throws std::invalid_argument naming a missing or mistyped field.
ModelShape readModelShape(const Napi::Object& config);
// A runner's own config fields next to the shape (its sizes and switches), with the same errors.
int readConfigInt(const Napi::Object& config, const char* key);
bool readConfigBool(const Napi::Object& config, const char* key);

}  // namespace swiftlet_common
