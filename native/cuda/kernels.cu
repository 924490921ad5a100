// Every swiftlet CUDA kernel, compiled as one unit into kernels.fatbin (sm_80, sm_90) and loaded
// at run time with cuModuleLoadData: the host addon needs no CUDA toolkit.
#include "kernels/common.cuh"
#include "kernels/elementwise.cuh"
#include "kernels/attention.cuh"
#include "kernels/sampling.cuh"
#include "kernels/token_bitmask.cuh"
#include "kernels/gemv.cuh"
#include "kernels/lora.cuh"
#include "kernels/int_gemv.cuh"
#include "kernels/int_dequantize.cuh"
