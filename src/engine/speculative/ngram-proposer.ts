/**
 * Prompt lookup (vLLM's `ngram` method): the last n tokens of a sequence are searched for
 * earlier in its prompt + output, and the tokens that followed that earlier occurrence are the
 * draft. Works where the answer quotes its input (editing, summarising, code changes).
 */
import type { SpeculativeConfig } from './config.js';

/**
 * Up to `maxDrafts` tokens that followed the most recent earlier occurrence of the longest
 * suffix n-gram (n from promptLookupMax down to promptLookupMin); empty when none occurs.
 * NOTE: the most recent occurrence, because in edited text the nearest copy is the likeliest
 * to continue the same way.
 */
export function proposeNgramDrafts(tokens: readonly number[], config: SpeculativeConfig, maxDrafts: number): number[] {
  const length = tokens.length;
  const numDrafts = Math.min(maxDrafts, config.numSpeculativeTokens);
  if (numDrafts <= 0) return [];
  for (let n = Math.min(config.promptLookupMax, length - 1); n >= config.promptLookupMin; n--) {
    const suffixStart = length - n;
    // An occurrence starting at i must leave at least one token after it that is not the suffix's own.
    for (let i = suffixStart - 1; i >= 0; i--) {
      if (!isMatch(tokens, i, suffixStart, n)) continue;
      const draftStart = i + n;
      return tokens.slice(draftStart, Math.min(draftStart + numDrafts, length));
    }
  }
  return [];
}

function isMatch(tokens: readonly number[], at: number, suffixStart: number, n: number): boolean {
  // Last token first: most candidate positions fail there.
  for (let j = n - 1; j >= 0; j--) if (tokens[at + j] !== tokens[suffixStart + j]) return false;
  return true;
}
