#include "gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

namespace swiftlet {

namespace {
constexpr int kPanel = PackedMatrix::kPanel;

// The fp32 vector of the build's widest ISA: 16 lanes with AVX-512, 8 with AVX2 (a panel is
// then four vectors instead of two). The arithmetic per output element is the same fma chain
// either way, so both agree bit for bit with the portable path.
#if defined(__AVX512F__)
#define SWIFTLET_GEMM_SIMD 1
struct Vec {
  using V = __m512;
  static constexpr int kLanes = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float v) { return _mm512_set1_ps(v); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V loadF32(const float* p) { return _mm512_loadu_ps(p); }
  static V loadBF16(const uint16_t* p) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
  }
  static V loadF16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static void store(float* out, V v, int64_t valid) {
    if (valid >= kLanes) return _mm512_storeu_ps(out, v);
    _mm512_mask_storeu_ps(out, static_cast<__mmask16>((1u << valid) - 1), v);
  }
};
/** Row-tile height and panels per tile when several rows share the weights (tuned on Sapphire Rapids). */
constexpr int kDefaultTileRows = 4, kDefaultTilePanels = 3, kSingleRowPanels = 4;
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define SWIFTLET_GEMM_SIMD 1
struct Vec {
  using V = __m256;
  static constexpr int kLanes = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float v) { return _mm256_set1_ps(v); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V loadF32(const float* p) { return _mm256_loadu_ps(p); }
  static V loadBF16(const uint16_t* p) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
  }
  static V loadF16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static void store(float* out, V v, int64_t valid) {
    if (valid >= kLanes) return _mm256_storeu_ps(out, v);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_maskstore_ps(out, _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(valid)), lane), v);
  }
};
// NOTE: 16 ymm registers: a panel's four accumulators per row leave room for two rows of one panel.
constexpr int kDefaultTileRows = 2, kDefaultTilePanels = 1, kSingleRowPanels = 2;
#endif

#ifdef SWIFTLET_GEMM_SIMD
struct LoadBF16 {
  using T = uint16_t;
  static inline Vec::V load(const T* p) { return Vec::loadBF16(p); }
};
struct LoadF16 {
  using T = uint16_t;
  static inline Vec::V load(const T* p) { return Vec::loadF16(p); }
};
struct LoadF32 {
  using T = float;
  static inline Vec::V load(const T* p) { return Vec::loadF32(p); }
};

constexpr int kPanelVecs = kPanel / Vec::kLanes;

/** MR rows of x times NP consecutive panels. */
template <class L, int MR, int NP>
inline void microKernel(const float* x, int64_t ldx, const typename L::T* w, int64_t panelStride, int64_t K, float* y,
                        int64_t ldy, int64_t n0, int64_t N) {
  Vec::V acc[MR][NP][kPanelVecs];
  for (int m = 0; m < MR; m++)
    for (int j = 0; j < NP; j++)
      for (int v = 0; v < kPanelVecs; v++) acc[m][j][v] = Vec::zero();
  for (int64_t k = 0; k < K; k++) {
    Vec::V wv[NP][kPanelVecs];
    for (int j = 0; j < NP; j++) {
      const typename L::T* p = w + j * panelStride + k * kPanel;
      _mm_prefetch(reinterpret_cast<const char*>(p + 16 * kPanel), _MM_HINT_T0);
      for (int v = 0; v < kPanelVecs; v++) wv[j][v] = L::load(p + v * Vec::kLanes);
    }
    for (int m = 0; m < MR; m++) {
      const Vec::V xb = Vec::set1(x[m * ldx + k]);
      for (int j = 0; j < NP; j++)
        for (int v = 0; v < kPanelVecs; v++) acc[m][j][v] = Vec::fmadd(xb, wv[j][v], acc[m][j][v]);
    }
  }
  for (int m = 0; m < MR; m++) {
    for (int j = 0; j < NP; j++) {
      const int64_t col = n0 + j * kPanel;
      for (int v = 0; v < kPanelVecs; v++) {
        const int64_t valid = N - col - v * Vec::kLanes;
        if (valid > 0) Vec::store(y + m * ldy + col + v * Vec::kLanes, acc[m][j][v], valid);
      }
    }
  }
}

#ifndef SWIFTLET_GEMM_MR
#define SWIFTLET_GEMM_MR kDefaultTileRows
#endif
#ifndef SWIFTLET_GEMM_NP
#define SWIFTLET_GEMM_NP kDefaultTilePanels
#endif
constexpr int kTileRows = SWIFTLET_GEMM_MR;
constexpr int kTilePanels = SWIFTLET_GEMM_NP;

template <class L, int NP, int MR = kTileRows>
inline void rowTile(int rows, const float* x, int64_t ldx, const typename L::T* w, int64_t panelStride, int64_t K,
                    float* y, int64_t ldy, int64_t n0, int64_t N) {
  if (rows == MR) return microKernel<L, MR, NP>(x, ldx, w, panelStride, K, y, ldy, n0, N);
  if constexpr (MR > 1) rowTile<L, NP, MR - 1>(rows, x, ldx, w, panelStride, K, y, ldy, n0, N);
}

template <class L>
void gemmTyped(ThreadPool& pool, const float* x, int64_t M, int64_t ldx, const PackedMatrix& w, float* y, int64_t ldy) {
  const int64_t K = w.numCols();
  const int64_t N = w.numRows();
  const int64_t panelStride = K * kPanel;
  const auto* base = reinterpret_cast<const typename L::T*>(w.panel(0));
  pool.parallelFor(w.numPanels(), [&](int64_t p0, int64_t p1) {
    if (M == 1) {
      // Memory-bound: several panels at once give independent FMA chains per k.
      int64_t p = p0;
      for (; p + kSingleRowPanels <= p1; p += kSingleRowPanels)
        microKernel<L, 1, kSingleRowPanels>(x, ldx, base + p * panelStride, panelStride, K, y, ldy, p * kPanel, N);
      for (; p < p1; p++) microKernel<L, 1, 1>(x, ldx, base + p * panelStride, panelStride, K, y, ldy, p * kPanel, N);
      return;
    }
    int64_t p = p0;
    for (; p < p1; p += kTilePanels) {
      const bool full = p + kTilePanels <= p1;
      for (int64_t m = 0; m < M; m += kTileRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kTileRows, M - m));
        if (full) {
          rowTile<L, kTilePanels>(rows, x + m * ldx, ldx, base + p * panelStride, panelStride, K, y + m * ldy, ldy, p * kPanel, N);
        } else {
          for (int64_t q = p; q < p1; q++)
            rowTile<L, 1>(rows, x + m * ldx, ldx, base + q * panelStride, panelStride, K, y + m * ldy, ldy, q * kPanel, N);
        }
      }
    }
  });
}
#endif

/** Portable path with the same arithmetic: one sequential fma chain per output element. */
void gemmScalar(ThreadPool& pool, const float* x, int64_t M, int64_t ldx, const PackedMatrix& w, float* y, int64_t ldy) {
  const int64_t K = w.numCols();
  const int64_t N = w.numRows();
  pool.parallelFor(w.numPanels(), [&](int64_t p0, int64_t p1) {
    const uint8_t* base = w.panel(0);
    for (int64_t p = p0; p < p1; p++) {
      for (int64_t m = 0; m < M; m++) {
        for (int j = 0; j < kPanel && p * kPanel + j < N; j++) {
          float acc = 0.f;
          for (int64_t k = 0; k < K; k++) {
            acc = std::fma(x[m * ldx + k], loadElement(w.dtype(), base, p * K * kPanel + k * kPanel + j), acc);
          }
          y[m * ldy + p * kPanel + j] = acc;
        }
      }
    }
  });
}
}  // namespace

void gemm(ThreadPool& pool, const float* x, int64_t M, int64_t ldx, const PackedMatrix& w, float* y, int64_t ldy) {
  if (M <= 0) return;
#ifdef SWIFTLET_GEMM_SIMD
  switch (w.dtype()) {
    case DType::BF16: return gemmTyped<LoadBF16>(pool, x, M, ldx, w, y, ldy);
    case DType::F16: return gemmTyped<LoadF16>(pool, x, M, ldx, w, y, ldy);
    case DType::F32: return gemmTyped<LoadF32>(pool, x, M, ldx, w, y, ldy);
  }
#endif
  gemmScalar(pool, x, M, ldx, w, y, ldy);
}

}  // namespace swiftlet
