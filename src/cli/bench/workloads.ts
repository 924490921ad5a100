/**
 * What `swiftlet bench` sends: deterministic random-id prompts (seeded, so a rerun and a peer
 * get the same requests), ShareGPT-like length pairs, and an optional shared prefix (a long
 * common system prompt) for the prefix-cache scenario.
 */

/** xorshift32 from an initial state: a cheap repeatable stream of uint32 (a zero state would stay zero). */
function xorshift32(initial: number): () => number {
  let state = initial >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
}

/** Uniform numbers in (0, 1), never 0, so their logarithm is finite. */
export function seededUniform(initial: number): () => number {
  const next = xorshift32(initial);
  return () => (next() + 1) / 4294967297;
}

/** A seeded stream of ids below `vocab`. */
function idStream(seed: number, vocab: number): () => number {
  const next = xorshift32(seed * 2654435761 + 1);
  return () => next() % vocab;
}

/**
 * One prompt per length, random ids, distinct per request so the prefix cache cannot help,
 * except the first `sharedPrefixLen` ids, which all prompts share.
 */
export function randomPrompts(lengths: readonly number[], seed: number, vocab: number, sharedPrefixLen = 0): number[][] {
  const next = idStream(seed, vocab);
  const prefix = Array.from({ length: sharedPrefixLen }, idStream(seed + 0x5eed, vocab));
  return lengths.map((length) => [...prefix, ...Array.from({ length }, next)]);
}

export interface LengthPair {
  inputLen: number;
  outputLen: number;
}

/**
 * ShareGPT's mean prompt and answer lengths as the vLLM paper reports them (Kwon et al.,
 * SOSP 2023, section 6.1: 161.31 and 337.99 tokens). The dataset is not on this machine, so
 * lengths are drawn from log-normal distributions with these means; the spreads (sigma) are
 * our choice, giving ShareGPT's long right tail (a few prompts and answers near the cap).
 */
export const SHAREGPT_MEAN_INPUT_LEN = 161.31;
export const SHAREGPT_MEAN_OUTPUT_LEN = 337.99;
const INPUT_SIGMA = 1.0;
const OUTPUT_SIGMA = 0.8;

/** `count` (input, output) length pairs, each in [4, maxLen] (clipping lowers the means a little). */
export function sharegptLikeLengths(count: number, seed: number, maxLen = 2048): LengthPair[] {
  const uniform = seededUniform(seed * 2246822519 + 3);
  // Box-Muller: one standard normal per call.
  const normal = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  const logNormal = (mean: number, sigma: number) => Math.exp(Math.log(mean) - (sigma * sigma) / 2 + sigma * normal());
  const clip = (value: number) => Math.min(maxLen, Math.max(4, Math.round(value)));
  return Array.from({ length: count }, () => ({
    inputLen: clip(logNormal(SHAREGPT_MEAN_INPUT_LEN, INPUT_SIGMA)),
    outputLen: clip(logNormal(SHAREGPT_MEAN_OUTPUT_LEN, OUTPUT_SIGMA)),
  }));
}
