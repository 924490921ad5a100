#include "int_dot.h"

#include <immintrin.h>

namespace swiftlet {
namespace {

float int8DotScalar(const uint8_t* codes, const int8_t* x, const float* xScales, const float* rowScales, const int32_t* blockGroup,
                    int64_t numBlocks) {
  const int8_t* w = reinterpret_cast<const int8_t*>(codes);
  float acc = 0;
  for (int64_t b = 0; b < numBlocks; ++b, w += 32, x += 32) {
    int32_t dot = 0;
    for (int i = 0; i < 32; ++i) dot += w[i] * x[i];
    acc += rowScales[blockGroup[b]] * xScales[b] * static_cast<float>(dot);
  }
  return acc;
}

float int4DotScalar(const uint8_t* codes, const int8_t* x, const float* xScales, const float* rowScales, const int32_t* blockGroup,
                    int64_t numBlocks) {
  float acc = 0;
  for (int64_t b = 0; b < numBlocks; ++b, codes += 16, x += 32) {
    int32_t dot = 0;
    for (int i = 0; i < 16; ++i) dot += (codes[i] & 15) * x[i] + (codes[i] >> 4) * x[16 + i];
    acc += rowScales[blockGroup[b]] * xScales[b] * static_cast<float>(dot);
  }
  return acc;
}

__attribute__((target("avx2,fma"))) inline float horizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// 16-bit pair sums of unsigned x signed bytes, widened to 8 int32 lanes, as floats.
__attribute__((target("avx2,fma"))) inline __m256 blockDot(__m256i unsignedBytes, __m256i signedBytes) {
  const __m256i pairs = _mm256_maddubs_epi16(unsignedBytes, signedBytes);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

__attribute__((target("avx2,fma"))) float int8DotAvx2(const uint8_t* codes, const int8_t* x, const float* xScales,
                                                      const float* rowScales, const int32_t* blockGroup, int64_t numBlocks) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < numBlocks; ++b) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + 32 * b));
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32 * b));
    // NOTE: maddubs takes one unsigned operand: |w| times v with w's sign (|w| <= 128, |v| <= 127: no saturation).
    const __m256 dot = blockDot(_mm256_sign_epi8(w, w), _mm256_sign_epi8(v, w));
    acc = _mm256_fmadd_ps(dot, _mm256_set1_ps(rowScales[blockGroup[b]] * xScales[b]), acc);
  }
  return horizontalSum(acc);
}

__attribute__((target("avx2,fma"))) float int4DotAvx2(const uint8_t* codes, const int8_t* x, const float* xScales,
                                                      const float* rowScales, const int32_t* blockGroup, int64_t numBlocks) {
  __m256 acc = _mm256_setzero_ps();
  const __m256i low = _mm256_set1_epi8(15);
  for (int64_t b = 0; b < numBlocks; ++b) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + 16 * b));
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
    const __m256i w = _mm256_and_si256(both, low);
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32 * b));
    acc = _mm256_fmadd_ps(blockDot(w, v), _mm256_set1_ps(rowScales[blockGroup[b]] * xScales[b]), acc);
  }
  return horizontalSum(acc);
}

IntDotKernels pickKernels() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {int8DotAvx2, int4DotAvx2, "avx2"};
  return {int8DotScalar, int4DotScalar, "scalar"};
}
}  // namespace

const IntDotKernels& intDotKernels() {
  static const IntDotKernels kernels = pickKernels();
  return kernels;
}

}  // namespace swiftlet
