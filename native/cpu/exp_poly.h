// exp(x) = 2^n * p(r), n = round(x / ln 2), r = x - n ln 2: the Cody-Waite reduction and the
// degree-6 polynomial (about 1 ulp) that every vector width shares. A width supplies its ops
// as a struct (V, set1, mul, add, fmadd, fnmadd, roundNearest) and does its own clamp and 2^n,
// since those differ: AVX-512 has scalef, AVX2 builds the exponent bits.
#pragma once

namespace swiftlet {

namespace exp_poly {
constexpr float kLog2e = 1.44269504088896341f;
// ln 2 split in two so n * kLn2High is exact in float for the clamped range of n.
constexpr float kLn2High = 0.693359375f;
constexpr float kLn2Low = -2.12194440e-4f;
// Highest degree first (Horner order).
constexpr float kCoefficients[] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                   4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};
}  // namespace exp_poly

template <typename V>
struct ExpReduced {
  V n;  // the power of two, as a float vector
  V p;  // exp(r)
};

/** n and p(r) with exp(x) = 2^n * p for an already clamped x. */
template <typename W>
inline ExpReduced<typename W::V> expReduced(typename W::V x) {
  using V = typename W::V;
  const V n = W::roundNearest(W::mul(x, W::set1(exp_poly::kLog2e)));
  V r = W::fnmadd(n, W::set1(exp_poly::kLn2High), x);
  r = W::fnmadd(n, W::set1(exp_poly::kLn2Low), r);
  V p = W::set1(exp_poly::kCoefficients[0]);
  for (int k = 1; k < 6; k++) p = W::fmadd(p, r, W::set1(exp_poly::kCoefficients[k]));
  return {n, W::fmadd(p, W::mul(r, r), W::add(r, W::set1(1.0f)))};
}

}  // namespace swiftlet
