#include "gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

namespace swiftlet {

namespace {
constexpr int kPanel = PackedMatrix::kPanel;

#if defined(__AVX512F__)
struct LoadBF16 {
  using T = uint16_t;
  static inline __m512 load(const T* p) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
  }
};
struct LoadF16 {
  using T = uint16_t;
  static inline __m512 load(const T* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
};
struct LoadF32 {
  using T = float;
  static inline __m512 load(const T* p) { return _mm512_loadu_ps(p); }
};

/** MR rows of x times NP consecutive panels. */
template <class L, int MR, int NP>
inline void microKernel(const float* x, int64_t ldx, const typename L::T* w, int64_t panelStride, int64_t K, float* y,
                        int64_t ldy, int64_t n0, int64_t N) {
  __m512 acc[MR][NP][2];
  for (int m = 0; m < MR; m++)
    for (int j = 0; j < NP; j++) acc[m][j][0] = acc[m][j][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k++) {
    __m512 w0[NP], w1[NP];
    for (int j = 0; j < NP; j++) {
      const typename L::T* p = w + j * panelStride + k * kPanel;
      _mm_prefetch(reinterpret_cast<const char*>(p + 16 * kPanel), _MM_HINT_T0);
      w0[j] = L::load(p);
      w1[j] = L::load(p + 16);
    }
    for (int m = 0; m < MR; m++) {
      const __m512 xb = _mm512_set1_ps(x[m * ldx + k]);
      for (int j = 0; j < NP; j++) {
        acc[m][j][0] = _mm512_fmadd_ps(xb, w0[j], acc[m][j][0]);
        acc[m][j][1] = _mm512_fmadd_ps(xb, w1[j], acc[m][j][1]);
      }
    }
  }
  for (int m = 0; m < MR; m++) {
    for (int j = 0; j < NP; j++) {
      const int64_t col = n0 + j * kPanel;
      float* out = y + m * ldy + col;
      const int64_t valid = N - col;
      if (valid >= kPanel) {
        _mm512_storeu_ps(out, acc[m][j][0]);
        _mm512_storeu_ps(out + 16, acc[m][j][1]);
      } else {
        const int64_t lo = std::min<int64_t>(valid, 16);
        const int64_t hi = std::max<int64_t>(valid - 16, 0);
        _mm512_mask_storeu_ps(out, static_cast<__mmask16>((1u << lo) - 1), acc[m][j][0]);
        if (hi > 0) _mm512_mask_storeu_ps(out + 16, static_cast<__mmask16>((1u << hi) - 1), acc[m][j][1]);
      }
    }
  }
}

#ifndef SWIFTLET_GEMM_MR
#define SWIFTLET_GEMM_MR 4
#endif
#ifndef SWIFTLET_GEMM_NP
#define SWIFTLET_GEMM_NP 3
#endif
/** Row-tile height and panels per tile when several rows share the weights (tuned on Sapphire Rapids). */
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
      // Memory-bound: four panels at once give eight independent FMA chains per k.
      int64_t p = p0;
      for (; p + 4 <= p1; p += 4) microKernel<L, 1, 4>(x, ldx, base + p * panelStride, panelStride, K, y, ldy, p * kPanel, N);
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
#if defined(__AVX512F__)
  switch (w.dtype()) {
    case DType::BF16: return gemmTyped<LoadBF16>(pool, x, M, ldx, w, y, ldy);
    case DType::F16: return gemmTyped<LoadF16>(pool, x, M, ldx, w, y, ldy);
    case DType::F32: return gemmTyped<LoadF32>(pool, x, M, ldx, w, y, ldy);
  }
#endif
  gemmScalar(pool, x, M, ldx, w, y, ldy);
}

}  // namespace swiftlet
