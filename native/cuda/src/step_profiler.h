// SWIFTLET_CUDA_PROFILE (env_flags.h): GPU events around a step's stages (kStages: eager steps,
// an event after every stage) or around whole steps (kSteps: steps as they run, decode through
// graphs), plus the host's parsing and queueing times. Per-step averages of decode steps (per
// batch size) and of prefill steps go to stderr when the profiler is destroyed. Off: every call
// returns at once.
#pragma once
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "env_flags.h"
#include "gpu_device.h"

namespace swiftlet_cuda {

class StepProfiler {
 public:
  using Clock = std::chrono::steady_clock;
  StepProfiler(GpuDevice& device, ProfileMode mode, int numLayers);
  ~StepProfiler();
  StepProfiler(const StepProfiler&) = delete;
  StepProfiler& operator=(const StepProfiler&) = delete;

  // Every sequence one token: "decode, N sequences"; anything else: "prefill".
  void beginStep(int numSeqs, int numTokens);
  // After a stage (kStages only).
  void mark(const char* stage);
  // The step in progress is not one as steps usually run (it captures a graph): not recorded.
  void skipStep();
  // The step's layers are queued; `received`: when the addon got the step, `wallStart`: when the model did.
  void layersQueued(Clock::time_point received, Clock::time_point wallStart);
  // All of the step's work is queued (call before waiting for it); returns the time.
  Clock::time_point workQueued();
  // The GPU finished the step: adds its stage times up.
  void endStep(Clock::time_point wallStart, Clock::time_point queuedAt);

 private:
  void markStep(const char* name);

  // Per step kind, stage times in ms.
  struct StageProfile {
    std::map<std::string, double> stageMs;
    long steps = 0;
    double wallMs = 0;
    double parseMs = 0, launchedMs = 0, queuedMs = 0;  // host: parsing, then until the layers / all work is queued
  };

  GpuDevice& device_;
  const bool profiling_, profileStages_;
  bool profileStep_ = false;  // this step is recorded (not one that captured a graph)
  std::vector<CUevent> events_;
  std::vector<const char*> names_;
  size_t used_ = 0;
  std::map<std::string, StageProfile> profiles_;
  std::string kind_;
  Clock::time_point launchedAt_;
  double stepParseMs_ = 0;
};

}  // namespace swiftlet_cuda
