// Every environment variable the CUDA runner reads or sets, in one place. The addon reads them
// once per CudaModel (when JS constructs it: tests set a flag for one model and clear it after)
// and passes the struct to the units; no unit reads the environment itself.
//
//   SWIFTLET_CUDA_PROFILE=1      eager steps (no CUDA graphs) with a GPU event after every stage;
//                                per-stage times of decode and prefill steps go to stderr when
//                                the model is destroyed (bench/gpu-bench.ts --profile sets it).
//   SWIFTLET_CUDA_PROFILE=steps  steps as they run (decode through graphs), one event before and
//                                after each, plus the host's parsing and queueing times.
//   SWIFTLET_CUDA_NO_GEMV=1      every GEMM through cuBLASLt, also the 1-4 row ones that
//                                otherwise go to our GEMV kernels (a cross-check).
//   SWIFTLET_DECODE_SIMT=1       the SIMT decode attention kernel instead of the tensor-core one
//                                (a cross-check; test/cuda.test.ts compares the two).
//   NCCL_NVLS_ENABLE             set to 0 before the first NCCL communicator unless already set:
//                                NVLink multicast is not needed at these all-reduce sizes and the
//                                shared GPU hosts require it off.
// (SWIFTLET_CUDA_BUILD, the build folder, is read on the TypeScript side: src/runtime/cuda/native.ts.)
#pragma once

namespace swiftlet_cuda {

enum class ProfileMode {
  kOff,
  kStages,  // SWIFTLET_CUDA_PROFILE=1
  kSteps,   // SWIFTLET_CUDA_PROFILE=steps
};

struct EnvFlags {
  ProfileMode profile = ProfileMode::kOff;
  bool useGemv = true;      // false: SWIFTLET_CUDA_NO_GEMV=1
  bool decodeSimt = false;  // SWIFTLET_DECODE_SIMT=1
};

EnvFlags readEnvFlags();

// Sets NCCL's environment defaults (NCCL_NVLS_ENABLE=0), keeping any value the user set.
void setNcclDefaults();

}  // namespace swiftlet_cuda
