// The sampler's vector loops: exp of scaled logits with block sums, a masked sum, a maximum.
// Kept apart from vecmath.h, whose exp feeds the logprobs and must not move a bit: these only
// shape the sampling weights, so they may use whatever the CPU has (AVX-512, AVX2 + FMA).
#pragma once
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "vecmath.h"

namespace swiftlet {

#if !defined(__AVX512F__) && defined(__AVX2__) && defined(__FMA__)
/** The 8-lane ops exp_poly.h's shared polynomial runs on. */
struct Avx2Ops {
  using V = __m256;
  static V set1(float a) { return _mm256_set1_ps(a); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V fnmadd(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
  static V roundNearest(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
};

/** exp(x) for 8 lanes: exp512's polynomial (exp_poly.h) on AVX2. */
inline __m256 exp256(__m256 x) {
  // NOTE: below the clamp the result is 0, so a -inf logit (a banned token) weighs nothing.
  const __m256 isAboveClamp = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_GE_OQ);
  x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.3f)), _mm256_set1_ps(-87.3f));
  const ExpReduced<__m256> e = expReduced<Avx2Ops>(x);
  // 2^n by the exponent bits; n stays within [-126, 127] by the clamp above.
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(e.n), _mm256_set1_epi32(127)), 23);
  return _mm256_and_ps(_mm256_mul_ps(e.p, _mm256_castsi256_ps(bits)), isAboveClamp);
}

inline float sum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
#endif

/** out[i] = exp(x[i] * scale - shift) (x may be out); returns their sum. */
inline float expScaledShiftSum(const float* x, float scale, float shift, float* out, int64_t n) {
  int64_t i = 0;
  float sum = 0.f;
#if defined(__AVX512F__)
  const __m512 s = _mm512_set1_ps(scale), m = _mm512_set1_ps(shift);
  __m512 acc = _mm512_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    const __m512 e = exp512(_mm512_sub_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), s), m));
    _mm512_storeu_ps(out + i, e);
    acc = _mm512_add_ps(acc, e);
  }
  sum = _mm512_reduce_add_ps(acc);
#elif defined(__AVX2__) && defined(__FMA__)
  const __m256 s = _mm256_set1_ps(scale), m = _mm256_set1_ps(shift);
  __m256 acc = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp256(_mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), s), m));
    _mm256_storeu_ps(out + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  sum = sum256(acc);
#endif
  for (; i < n; i++) {
    out[i] = std::exp(x[i] * scale - shift);
    sum += out[i];
  }
  return sum;
}

/** The sum of the x[i] >= floor. */
inline float sumAtLeast(const float* x, float floor, int64_t n) {
  int64_t i = 0;
  float sum = 0.f;
#if defined(__AVX512F__)
  const __m512 f = _mm512_set1_ps(floor);
  __m512 acc = _mm512_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    acc = _mm512_mask_add_ps(acc, _mm512_cmp_ps_mask(v, f, _CMP_GE_OQ), acc, v);
  }
  sum = _mm512_reduce_add_ps(acc);
#elif defined(__AVX2__)
  const __m256 f = _mm256_set1_ps(floor);
  __m256 acc = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    acc = _mm256_add_ps(acc, _mm256_and_ps(v, _mm256_cmp_ps(v, f, _CMP_GE_OQ)));
  }
  sum = sum256(acc);
#endif
  for (; i < n; i++)
    if (x[i] >= floor) sum += x[i];
  return sum;
}

/** The largest x[i] (-inf for none; NaNs ignored). */
inline float maxOfRow(const float* x, int64_t n) {
#if defined(__AVX512F__)
  return maxOf(x, n);
#else
  int64_t i = 0;
  float m = -INFINITY;
#if defined(__AVX2__)
  __m256 acc = _mm256_set1_ps(-INFINITY);
  for (; i + 8 <= n; i += 8) acc = _mm256_max_ps(_mm256_loadu_ps(x + i), acc);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  for (float v : lanes) m = v > m ? v : m;
#endif
  for (; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
#endif
}

}  // namespace swiftlet
