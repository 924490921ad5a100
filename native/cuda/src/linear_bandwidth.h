// The weight-streaming rate of one linear layer's forward pass at a few activation rows (the
// decode GEMVs), kernel by kernel: bench/gpu-linear-bandwidth.ts prints it for the 7B shapes in
// bf16, int8 and int4, so a device run shows each format's GEMV against the copy bandwidth
// instead of only the end-to-end ms/token.
#pragma once
#include <string>

#include "linear.h"

namespace swiftlet_cuda {

struct LinearTiming {
  double seconds;  // one forward pass
  double bytes;    // what it must read and write: the weight as held on the device, x and y
};

// y[rows, n] = x[rows, k] @ W^T for a random [n, k] W in `format` (bits 0: bf16), through the
// layer's own forward (the GEMV for 1-4 rows), timed over `iterations` replays of a CUDA graph
// that runs it once on each of enough copies of W that they do not fit in L2.
LinearTiming measureLinearForward(int ordinal, const std::string& fatbinPath, const RandomLinearFormat& format, int n,
                                  int k, int rows, int iterations);

}  // namespace swiftlet_cuda
