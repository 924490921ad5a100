// Small vector helpers with a fixed reduction order (16 lanes, then a fixed tree), so a
// value never depends on where its inputs sit in the batch.
#pragma once
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "exp_poly.h"

namespace swiftlet {

#if defined(__AVX512F__)
inline __mmask16 tailMask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1); }

inline float dot(const float* a, const float* b, int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
  if (i < n) {
    const __mmask16 m = tailMask(n - i);
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

/** y[i] += a * x[i] */
inline void axpy(float a, const float* x, float* y, int64_t n) {
  const __m512 va = _mm512_set1_ps(a);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
  for (; i < n; i++) y[i] = std::fma(a, x[i], y[i]);
}

/** The 16-lane ops exp_poly.h's shared polynomial runs on. */
struct Avx512Ops {
  using V = __m512;
  static V set1(float a) { return _mm512_set1_ps(a); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V fnmadd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
  static V roundNearest(V a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
};

/** exp(x) for 16 lanes (exp_poly.h; about 1 ulp). */
inline __m512 exp512(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.7f)), _mm512_set1_ps(-103.9f));
  const ExpReduced<__m512> e = expReduced<Avx512Ops>(x);
  return _mm512_scalef_ps(e.p, e.n);
}

/** out[i] = exp(x[i] - shift); returns the sum (16 lanes, fixed order). */
inline float expShiftSum(const float* x, float shift, float* out, int64_t n) {
  const __m512 s = _mm512_set1_ps(shift);
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), s));
    if (out) _mm512_storeu_ps(out + i, e);
    acc = _mm512_add_ps(acc, e);
  }
  if (i < n) {
    const __mmask16 m = tailMask(n - i);
    const __m512 e = _mm512_maskz_mov_ps(m, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), s)));
    if (out) _mm512_mask_storeu_ps(out + i, m, e);
    acc = _mm512_add_ps(acc, e);
  }
  return _mm512_reduce_add_ps(acc);
}

inline float maxOf(const float* x, int64_t n) {
  __m512 acc = _mm512_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) acc = _mm512_max_ps(acc, _mm512_loadu_ps(x + i));
  if (i < n) acc = _mm512_mask_max_ps(acc, tailMask(n - i), acc, _mm512_maskz_loadu_ps(tailMask(n - i), x + i));
  return _mm512_reduce_max_ps(acc);
}
#else
inline float dot(const float* a, const float* b, int64_t n) {
  float lanes[16] = {0};
  for (int64_t i = 0; i < n; i++) lanes[i % 16] = std::fma(a[i], b[i], lanes[i % 16]);
  float s = 0.f;
  for (float v : lanes) s += v;
  return s;
}
inline void axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = std::fma(a, x[i], y[i]);
}
inline float expShiftSum(const float* x, float shift, float* out, int64_t n) {
  float lanes[16] = {0};
  for (int64_t i = 0; i < n; i++) {
    const float e = std::exp(x[i] - shift);
    if (out) out[i] = e;
    lanes[i % 16] += e;
  }
  float s = 0.f;
  for (float v : lanes) s += v;
  return s;
}
inline float maxOf(const float* x, int64_t n) {
  float m = -INFINITY;
  for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}
#endif

}  // namespace swiftlet
