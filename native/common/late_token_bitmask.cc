#include "late_token_bitmask.h"

#include <stdexcept>

namespace swiftlet_common {

LateTokenBitmask::LateTokenBitmask(const StepInput& step, int vocabSize) : vocabSize_(vocabSize) {
  rules_.numSeqs = step.numSeqs;
  rules_.numTokens = step.numTokens;
  rules_.queryStart = step.queryStart;
  rules_.sampling.doSample = step.sampling.doSample;
  rules_.positionLogprobs = step.positionLogprobs;
}

void LateTokenBitmask::supply(TokenBitmaskInput mask) {
  try {
    checkTokenBitmask(rules_, mask, vocabSize_);
  } catch (const std::exception& e) {
    cancel(e.what());
    throw;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (state_ != State::kPending) return;
    rules_.tokenBitmask = std::move(mask);
    state_ = State::kSupplied;
  }
  settled_.notify_all();
}

void LateTokenBitmask::cancel(const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (state_ != State::kPending) return;
    error_ = why;
    state_ = State::kCancelled;
  }
  settled_.notify_all();
}

const TokenBitmaskInput& LateTokenBitmask::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  settled_.wait(lock, [&] { return state_ != State::kPending; });
  if (state_ == State::kCancelled) throw std::runtime_error(error_);
  return rules_.tokenBitmask;
}

}  // namespace swiftlet_common
