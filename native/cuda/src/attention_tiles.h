// Tile shapes of the attention kernels, shared by the kernels (kernels/attention.cuh) and the host
// (src/model.cc), which sizes their dynamic shared memory and the prefill work items from them.
#pragma once
#include <cstddef>

namespace attn {
constexpr int BQ = 64;             // queries per prefill block (16 per warp)
constexpr int BK = 64;             // keys per prefill tile
constexpr int PART = 128;          // context tokens per split of the SIMT decode kernel
constexpr int DECODE_WARPS = 4;    // tensor-core decode: cache blocks (16 tokens) per pipeline stage
#ifndef SWIFTLET_DECODE_STAGES
#define SWIFTLET_DECODE_STAGES 3
#endif
constexpr int DECODE_STAGES = SWIFTLET_DECODE_STAGES;  // stages in flight or being read

// Prefill: two stages of a K and a V tile, then the query tile.
constexpr size_t prefillSmemBytes(int d) { return (2 * 2 * (size_t)BK + BQ) * d * 2; }
// Tensor-core decode: DECODE_STAGES stages of K and V for DECODE_WARPS cache blocks, then the
// 16-row query tile.
constexpr size_t decodeSmemBytes(int d) { return ((size_t)DECODE_STAGES * 2 * DECODE_WARPS + 1) * 16 * d * 2; }
}  // namespace attn
