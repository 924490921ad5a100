#include "step_profiler.h"

#include <cstdio>

namespace swiftlet_cuda {

StepProfiler::StepProfiler(GpuDevice& device, ProfileMode mode, int numLayers)
    : device_(device), profiling_(mode != ProfileMode::kOff), profileStages_(mode == ProfileMode::kStages) {
  if (!profiling_) return;
  events_.resize(64 * numLayers + 64);
  for (CUevent& e : events_) checkCu(device_.driver().eventCreate(&e, CU_EVENT_DEFAULT), "cuEventCreate");
}

StepProfiler::~StepProfiler() {
  for (auto& [kind, p] : profiles_) {
    double gpu = 0;
    for (auto& [name, ms] : p.stageMs) gpu += ms;
    std::fprintf(stderr, "# profile, %s: %ld steps, GPU %.3f ms/step, host wall (worker) %.3f ms/step\n",
                 kind.c_str(), p.steps, gpu / p.steps, p.wallMs / p.steps);
    std::fprintf(stderr, "#   host: parsing %.3f ms, then layers queued after %.3f ms, all work after %.3f ms\n",
                 p.parseMs / p.steps, p.launchedMs / p.steps, p.queuedMs / p.steps);
    for (auto& [name, ms] : p.stageMs)
      std::fprintf(stderr, "#   %-14s %9.1f us/step (%5.1f%%)\n", name.c_str(), 1e3 * ms / p.steps, 100.0 * ms / gpu);
  }
  for (CUevent e : events_) device_.driver().eventDestroy(e);
}

void StepProfiler::beginStep(int numSeqs, int numTokens) {
  profileStep_ = profiling_;
  if (profiling_) kind_ = numSeqs == numTokens ? "decode, " + std::to_string(numSeqs) + " sequences" : "prefill";
  used_ = 0;
  names_.clear();
  markStep("begin");
}

void StepProfiler::mark(const char* stage) {
  if (profileStages_) markStep(stage);
}

void StepProfiler::markStep(const char* name) {
  if (!profileStep_) return;
  if (used_ >= events_.size()) return;
  checkCu(device_.driver().eventRecord(events_[used_], device_.stream()), "cuEventRecord");
  names_.push_back(name);
  used_++;
}

void StepProfiler::skipStep() { profileStep_ = false; }

void StepProfiler::layersQueued(Clock::time_point received, Clock::time_point wallStart) {
  if (!profiling_) return;
  launchedAt_ = Clock::now();
  stepParseMs_ = std::chrono::duration<double, std::milli>(wallStart - received).count();
}

StepProfiler::Clock::time_point StepProfiler::workQueued() {
  if (!profileStages_) markStep("step");
  return Clock::now();
}

void StepProfiler::endStep(Clock::time_point wallStart, Clock::time_point queuedAt) {
  if (!profileStep_) return;
  StageProfile& p = profiles_[kind_];
  for (size_t i = 1; i < used_; i++) {
    float ms = 0;
    device_.driver().eventElapsedTime(&ms, events_[i - 1], events_[i]);
    p.stageMs[names_[i]] += ms;
  }
  p.steps++;
  p.wallMs += std::chrono::duration<double, std::milli>(Clock::now() - wallStart).count();
  p.parseMs += stepParseMs_;
  p.launchedMs += std::chrono::duration<double, std::milli>(launchedAt_ - wallStart).count();
  p.queuedMs += std::chrono::duration<double, std::milli>(queuedAt - wallStart).count();
}

}  // namespace swiftlet_cuda
