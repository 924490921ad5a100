#include "int_dot.h"

#include <immintrin.h>

#include <cmath>

#include "q8_activations.h"

namespace swiftlet {
namespace {

// --- portable path ----------------------------------------------------------------------------

struct Int8Scalar {
  static int32_t blockDot(const uint8_t* block, const int8_t* x) {
    const int8_t* w = reinterpret_cast<const int8_t*>(block);
    int32_t dot = 0;
    for (int i = 0; i < kQ8Block; ++i) dot += w[i] * x[i];
    return dot;
  }
  static constexpr int64_t kBlockBytes = kQ8Block;
};

struct Int4Scalar {
  static int32_t blockDot(const uint8_t* block, const int8_t* x) {
    int32_t dot = 0;
    for (int i = 0; i < kQ8Block / 2; ++i) dot += (block[i] & 15) * x[i] + (block[i] >> 4) * x[kQ8Block / 2 + i];
    return dot;
  }
  static constexpr int64_t kBlockBytes = kQ8Block / 2;
};

template <class Format>
void rowsScalar(const IntRowsArgs& a, int64_t rowBegin, int64_t rowEnd) {
  const int64_t cols = a.numBlocks * kQ8Block;
  for (int64_t r = rowBegin; r < rowEnd; ++r) {
    const uint8_t* codes = a.codes + r * a.rowBytes;
    for (int64_t m = 0; m < a.M; ++m) {
      const int8_t* x = a.x + m * cols;
      float acc = 0;
      for (int64_t b = 0; b < a.numBlocks; ++b) {
        const float scale = a.scales[r * a.groups + a.blockGroup[b]] * a.xScales[m * a.numBlocks + b];
        acc = std::fma(static_cast<float>(Format::blockDot(codes + b * Format::kBlockBytes, x + b * kQ8Block)), scale, acc);
      }
      float zeroTerm = 0;
      for (int64_t g = 0; g < a.groups; ++g) zeroTerm = std::fma(a.scaledZeros[r * a.groups + g], a.xGroupSums[m * a.groups + g], zeroTerm);
      a.y[m * a.ldy + r] = acc - zeroTerm;
    }
  }
}

// --- AVX2 -------------------------------------------------------------------------------------

#define SWIFTLET_AVX2 __attribute__((target("avx2,fma")))

// Each format loads a block's codes once per weight row (Block) and multiplies it by many
// activation blocks: dot() gives eight int32 partial sums.
struct Int8Avx2 {
  static constexpr int64_t kBlockBytes = kQ8Block;
  struct Block {
    __m256i magnitude, sign;
  };
  SWIFTLET_AVX2 static Block load(const uint8_t* p) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return {_mm256_sign_epi8(w, w), w};
  }
  // NOTE: maddubs takes one unsigned operand: |w| times x with w's sign (|w| <= 128, |x| <= 127: no saturation).
  SWIFTLET_AVX2 static __m256i dot(const Block& w, __m256i x) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w.magnitude, _mm256_sign_epi8(x, w.sign)), _mm256_set1_epi16(1));
  }
};

struct Int4Avx2 {
  static constexpr int64_t kBlockBytes = kQ8Block / 2;
  using Block = __m256i;  // 32 unsigned codes, in column order
  SWIFTLET_AVX2 static Block load(const uint8_t* p) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), _mm256_set1_epi8(15));
  }
  SWIFTLET_AVX2 static __m256i dot(const Block& w, __m256i x) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1));
  }
};

SWIFTLET_AVX2 inline float horizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

SWIFTLET_AVX2 inline float zeroTermAvx2(const float* scaledZeros, const float* groupSums, int64_t groups) {
  __m256 acc = _mm256_setzero_ps();
  int64_t g = 0;
  for (; g + 8 <= groups; g += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(scaledZeros + g), _mm256_loadu_ps(groupSums + g), acc);
  float sum = horizontalSum(acc);
  for (; g < groups; ++g) sum = std::fma(scaledZeros[g], groupSums[g], sum);
  return sum;
}

// RW weight rows from r times RX activation rows from m: each weight block is loaded once for
// the RX rows and each activation block once for the RW rows.
template <class Format, int RW, int RX>
SWIFTLET_AVX2 void tile(const IntRowsArgs& a, int64_t r, int64_t m) {
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
      const __m256 wScale = _mm256_broadcast_ss(a.scales + (r + i) * a.groups + g);
      for (int j = 0; j < RX; ++j)
        acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(Format::dot(w[i], x[j])), _mm256_mul_ps(wScale, xScale[j]), acc[i][j]);
    }
  }
  for (int i = 0; i < RW; ++i)
    for (int j = 0; j < RX; ++j)
      a.y[(m + j) * a.ldy + r + i] =
          horizontalSum(acc[i][j]) - zeroTermAvx2(a.scaledZeros + (r + i) * a.groups, a.xGroupSums + (m + j) * a.groups, a.groups);
}

#ifndef SWIFTLET_INT_TILE_X
#define SWIFTLET_INT_TILE_X 2
#endif
constexpr int kTileX = SWIFTLET_INT_TILE_X;

template <class Format, int RW>
SWIFTLET_AVX2 void tileRows(const IntRowsArgs& a, int64_t r) {
  int64_t m = 0;
  for (; m + kTileX <= a.M; m += kTileX) tile<Format, RW, kTileX>(a, r, m);
  for (; m < a.M; ++m) tile<Format, RW, 1>(a, r, m);
}

template <class Format>
SWIFTLET_AVX2 void rowsAvx2(const IntRowsArgs& a, int64_t rowBegin, int64_t rowEnd) {
  int64_t r = rowBegin;
  for (; r + kIntTileRows <= rowEnd; r += kIntTileRows) tileRows<Format, kIntTileRows>(a, r);
  for (; r < rowEnd; ++r) tileRows<Format, 1>(a, r);
}

IntDotKernels pickKernels() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {rowsAvx2<Int8Avx2>, rowsAvx2<Int4Avx2>, "avx2"};
  return {rowsScalar<Int8Scalar>, rowsScalar<Int4Scalar>, "scalar"};
}
}  // namespace

const IntDotKernels& intDotKernels() {
  static const IntDotKernels kernels = pickKernels();
  return kernels;
}

}  // namespace swiftlet
