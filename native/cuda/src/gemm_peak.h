// The bf16 GEMM throughput a card reaches through swiftlet's own GEMM path (GemmPlanner:
// cuBLASLt, algorithm timed), on one large shape: the compute side of the workload floors that
// bench/gpu-bench.ts prints (the copy bandwidth, measureCopyBandwidth, is the memory side).
#pragma once
#include <string>

namespace swiftlet_cuda {

// FLOP/s (2 * m * n * k per GEMM) of y[m, n] = x[m, k] @ w[n, k]^T, bf16 in and out, averaged
// over `iterations` after tuning and a warm-up.
double measureGemmPeak(int ordinal, const std::string& fatbinPath, int m, int n, int k, int iterations);

}  // namespace swiftlet_cuda
