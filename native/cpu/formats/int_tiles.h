// The SIMD tile kernels of int_dot.h, written once over a block dot product (Dot): each
// translation unit that includes this sets its own `#pragma GCC target` first (int_dot_avx2.cc:
// maddubs + madd; int_dot_vnni.cc: one dpbusd), and everything here has internal linkage, so
// the two compilations never mix (no library call either: nothing here may leave a weak symbol
// compiled for VNNI that the linker could pick for the AVX2 or scalar code).
// NOTE: Dot::dot(u, s) sums four products u (unsigned bytes) x s (signed bytes) per int32 lane; the
// operands here never saturate maddubs (|u| <= 128, |s| <= 127), so both Dots give the same sums.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "int_dot.h"
#include "q8_activations.h"

namespace swiftlet {
namespace {

// Each format loads a block's codes once per weight row (Block) and multiplies it by many
// activation blocks: dot() gives eight int32 partial sums.
template <class Dot>
struct Int8Blocks {
  static constexpr int64_t kBlockBytes = kQ8Block;
  struct Block {
    __m256i magnitude, sign;
  };
  static Block load(const uint8_t* p) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return {_mm256_sign_epi8(w, w), w};
  }
  // |w| times x with w's sign: the unsigned operand is |w| <= 128.
  static __m256i dot(const Block& w, __m256i x) { return Dot::dot(w.magnitude, _mm256_sign_epi8(x, w.sign)); }
};

template <class Dot>
struct Int4Blocks {
  static constexpr int64_t kBlockBytes = kQ8Block / 2;
  using Block = __m256i;  // 32 unsigned codes, in column order
  static Block load(const uint8_t* p) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), _mm256_set1_epi8(15));
  }
  static __m256i dot(const Block& w, __m256i x) { return Dot::dot(w, x); }
};

inline float horizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float zeroTerm(const float* scaledZeros, const float* groupSums, int64_t groups) {
  __m256 acc = _mm256_setzero_ps();
  int64_t g = 0;
  for (; g + 8 <= groups; g += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(scaledZeros + g), _mm256_loadu_ps(groupSums + g), acc);
  float sum = horizontalSum(acc);
  for (; g < groups; ++g) sum = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(scaledZeros[g]), _mm_set_ss(groupSums[g]), _mm_set_ss(sum)));
  return sum;
}

// RW weight rows from r times RX activation rows from m: each weight block is loaded once for
// the RX rows and each activation block once for the RW rows. rowScales: the RW rows' scales in
// fp32 ([RW, groups]).
template <class Format, int RW, int RX>
void tile(const IntRowsArgs& a, const float* rowScales, int64_t r, int64_t m) {
  const int64_t cols = a.numBlocks * kQ8Block;
  __m256 acc[RW][RX];
  for (int i = 0; i < RW; ++i)
    for (int j = 0; j < RX; ++j) acc[i][j] = _mm256_setzero_ps();
  const uint8_t* codes = a.codes + r * a.rowBytes;
  for (int64_t b = 0; b < a.numBlocks; ++b) {
    const int64_t g = a.blockGroup[b];
    typename Format::Block w[RW];
    for (int i = 0; i < RW; ++i) w[i] = Format::load(codes + i * a.rowBytes + b * Format::kBlockBytes);
    __m256i x[RX];
    __m256 xScale[RX];
    for (int j = 0; j < RX; ++j) {
      x[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.x + (m + j) * cols + b * kQ8Block));
      xScale[j] = _mm256_broadcast_ss(a.xScales + (m + j) * a.numBlocks + b);
    }
    for (int i = 0; i < RW; ++i) {
      const __m256 wScale = _mm256_broadcast_ss(rowScales + i * a.groups + g);
      for (int j = 0; j < RX; ++j)
        acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(Format::dot(w[i], x[j])), _mm256_mul_ps(wScale, xScale[j]), acc[i][j]);
    }
  }
  for (int i = 0; i < RW; ++i) {
    for (int j = 0; j < RX; ++j) {
      const float zero = a.scaledZeros == nullptr ? 0.0f : zeroTerm(a.scaledZeros + (r + i) * a.groups, a.xGroupSums + (m + j) * a.groups, a.groups);
      a.y[(m + j) * a.ldy + r + i] = horizontalSum(acc[i][j]) - zero;
    }
  }
}

// Activation rows per tile: two measured best (one or three to four within noise) on Zen 3.
constexpr int kTileX = 2;

// The RW rows' half scales widened once for all activation rows (8 per vcvtph2ps), not once per
// block and activation tile.
inline void widenScales(const uint16_t* half, int64_t count, float* out) {
  int64_t i = 0;
  for (; i + 8 <= count; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(half + i))));
  for (; i < count; ++i) out[i] = _cvtsh_ss(half[i]);
}

template <class Format, int RW>
void tileRows(const IntRowsArgs& a, int64_t r, float* rowScales) {
  widenScales(a.scales + r * a.groups, RW * a.groups, rowScales);
  int64_t m = 0;
  for (; m + kTileX <= a.M; m += kTileX) tile<Format, RW, kTileX>(a, rowScales, r, m);
  for (; m < a.M; ++m) tile<Format, RW, 1>(a, rowScales, r, m);
}

template <class Format>
void rowsTiled(const IntRowsArgs& a, int64_t rowBegin, int64_t rowEnd) {
  // NOTE: on the stack (a few KiB: groups <= columns / 32), as no library container may be used here.
  float* rowScales = static_cast<float*>(__builtin_alloca(sizeof(float) * kIntTileRows * a.groups));
  int64_t r = rowBegin;
  for (; r + kIntTileRows <= rowEnd; r += kIntTileRows) tileRows<Format, kIntTileRows>(a, r, rowScales);
  for (; r < rowEnd; ++r) tileRows<Format, 1>(a, r, rowScales);
}

}  // namespace
}  // namespace swiftlet
