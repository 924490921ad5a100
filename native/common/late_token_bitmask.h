// A step's grammar masks that arrive after the step started: the engine launches the forward
// pass first and fills the masks on the JS thread while it runs, so the masks cost the step only
// what they take beyond the forward pass. The step's thread blocks in wait() just before it
// masks its logits; the JS thread hands the masks over with supply() (or fails the step with
// cancel()). Pure C++ (no N-API), shared by both addons.
#pragma once
#include <condition_variable>
#include <mutex>
#include <string>

#include "step_contract.h"

namespace swiftlet_common {

class LateTokenBitmask {
 public:
  // Keeps what checking the masks against `step` needs (its sequences, sampled rows and
  // position entries), so the step's own arrays may move on.
  LateTokenBitmask(const StepInput& step, int vocabSize);

  // JS thread. A mask that breaks checkTokenBitmask's rules fails the step with that error
  // (and throws it). An absent mask (present false) constrains nothing.
  void supply(TokenBitmaskInput mask);
  // JS thread: the masks will not come; wait() throws `why`.
  void cancel(const std::string& why);
  // Step thread: blocks until supply() or cancel(); returns at once after the first time.
  const TokenBitmaskInput& wait();

 private:
  enum class State { kPending, kSupplied, kCancelled };

  StepInput rules_;
  int vocabSize_;
  std::mutex mutex_;
  std::condition_variable settled_;
  State state_ = State::kPending;
  std::string error_;
};

}  // namespace swiftlet_common
