// y = x @ W^T for a packed weight.
// NOTE (batch invariance): every output element is one sequential chain of fused
// multiply-adds over k = 0..K-1, whatever M, the tile shape or the thread split; a row's
// result therefore never depends on the other rows of the batch.
#pragma once
#include <cstdint>

#include "tensor.h"
#include "thread_pool.h"

namespace swiftlet {

/** x: [M, ldx] fp32 rows (K used); y: [M, ldy] fp32, columns [0, N) written. */
void gemm(ThreadPool& pool, const float* x, int64_t M, int64_t ldx, const PackedMatrix& w, float* y, int64_t ldy);

}  // namespace swiftlet
