// The work split of the integer-weight GEMV (kernels/int_gemv.cuh), shared with the host code
// that sizes its grid (formats/grouped_int.cc).
#pragma once

// The most activation rows of a GEMV step, the weight rows of a set (read together, so a piece of
// x serves them all), and the warps of a block (it holds kIntGemvWarps / warpsPerSet sets).
constexpr int kIntGemvMaxRows = 4;
constexpr int kIntGemvWeightRows = 4;
constexpr int kIntGemvWarps = 8;

// Warps per set of the GEMV: doubled while the matrix has at most ~8k warps (about four waves on
// an H200: 132 SMs x 16 resident warps at the kernel's ~110 registers a thread) and at least half
// of the doubled split's lanes still get a 16-byte piece. At the 7B shape: gate_up 1 (9,472 sets),
// qkv and o 4, down 8.
constexpr int intGemvWarpsPerSet(int n, int k, int bits) {
  constexpr long kWarpsWanted = 8192;
  const long sets = (n + kIntGemvWeightRows - 1) / kIntGemvWeightRows;
  const int pieces = k * bits / 128;
  int warps = 1;
  while (warps * 2 <= kIntGemvWarps && sets * warps * 2 <= kWarpsWanted && pieces >= 16 * warps * 2) warps *= 2;
  return warps;
}
static_assert(intGemvWarpsPerSet(37888, 3584, 4) == 1 && intGemvWarpsPerSet(4608, 3584, 4) == 4 &&
                  intGemvWarpsPerSet(3584, 3584, 4) == 4 && intGemvWarpsPerSet(3584, 18944, 4) == 8,
              "the 7B split the comment gives");
