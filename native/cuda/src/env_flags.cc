#include "env_flags.h"

#include <cstdlib>
#include <string>

namespace swiftlet_cuda {
namespace {
std::string envValue(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}
}  // namespace

EnvFlags readEnvFlags() {
  EnvFlags flags;
  const std::string profile = envValue("SWIFTLET_CUDA_PROFILE");
  flags.profile = profile == "1" ? ProfileMode::kStages : profile == "steps" ? ProfileMode::kSteps : ProfileMode::kOff;
  flags.useGemv = envValue("SWIFTLET_CUDA_NO_GEMV") != "1";
  flags.decodeSimt = envValue("SWIFTLET_DECODE_SIMT") == "1";
  return flags;
}

void setNcclDefaults() { setenv("NCCL_NVLS_ENABLE", "0", 0); }

}  // namespace swiftlet_cuda
