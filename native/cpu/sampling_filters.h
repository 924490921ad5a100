// The candidate cuts and draws of the CPU sampler over weights exp(l / T - max) in [0, 1]:
// each cut is a floor (keep the weights >= it), found without sorting the vocabulary, so a
// 152k-token row costs a few linear passes whatever the settings.
#pragma once
#include <cstdint>

namespace swiftlet {

/** The k-th largest weight among those >= floor (and > 0), or floor when there are at most k of them. */
float topKFloor(const float* weights, int n, int k, float floor);

/**
 * The nucleus floor: the largest t such that the weights >= max(t, floor) hold at least
 * `fraction` of the mass of the weights >= floor. Ties with t are all kept. Radix selection on
 * the weights' bits (positive floats order as their bit patterns), three passes of 10 bits.
 */
float nucleusFloor(const float* weights, int n, float floor, double fraction);

/**
 * Inverse CDF in id order: the first id whose cumulative weight (over weights >= floor and
 * > 0) exceeds u * total, u in [0, 1). -1 when no weight survives.
 */
int32_t drawInIdOrder(const float* weights, int n, float floor, double u);

/**
 * Orders ids by weight descending, then id ascending (the order of a stable sort by weight
 * of ids given ascending); linear time for large n.
 */
void sortByWeight(const float* weights, int32_t* ids, int n);

}  // namespace swiftlet
