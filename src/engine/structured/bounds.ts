/**
 * How a grammar-constrained output is kept from running on forever, whatever the grammar.
 *
 * The rule (applied by GrammarMatcher on top of the grammar's own mask, never making it empty):
 * 1. Whitespace: after `maxWhitespaceRun` whitespace-only tokens in a row, whitespace-only
 *    tokens are disallowed until another token comes (inside JSON strings too; a string can
 *    always go on with other characters).
 * 2. Wind-down: once a request has `windDownReserve` tokens of its budget (max_tokens) left,
 *    whitespace-only tokens are disallowed and the mask narrows to the first non-empty tier of
 *    finishing tokens: a stop token; the token `"`; the one-character tokens `}` `]` `)`;
 *    tokens made only of `"` `}` `]` `)`; those plus `,` `:` `0` and `null` `true` `false`;
 *    then whatever the grammar allows. In JSON this closes the open string (or opens and
 *    closes an empty one where a string must come), then each open container, each in one
 *    token, filling required members with the shortest values. A lone `"` comes before `}`
 *    because inside a string only `"` closes; outside one, `"` is allowed only where a value
 *    or key may start.
 *
 * NOTE: why not bound the grammar itself (maxLength/maxItems defaults in the schema, `{0,n}`
 * repetitions): xgrammar 0.1.27 (WASM) expands bounded repetitions into one rule per count and
 * precomputes each rule's token masks; a string bounded to 256 characters took 38 s to compile
 * (64: 14 s) against Qwen2's 151k-token vocabulary. The budget rule costs nothing at compile
 * time and bounds every grammar kind alike.
 */
import { bitmaskOf } from './bitmask.js';
import type { GrammarVocabulary } from './vocabulary.js';

export interface StructuredOutputLimits {
  /** Whitespace-only tokens allowed in a row. */
  maxWhitespaceRun: number;
  /** Tokens left of the budget at which the matcher starts preferring finishing tokens. */
  windDownReserve: number;
}

export const DEFAULT_LIMITS: StructuredOutputLimits = { maxWhitespaceRun: 4, windDownReserve: 64 };

/** Token sets the limits narrow masks with, precomputed once per vocabulary. */
export interface BoundingMasks {
  whitespace: Uint32Array;
  /** Wind-down tiers, most finishing first. */
  finishingTiers: Uint32Array[];
}

const QUOTE = /^"$/;
const SINGLE_CLOSERS = /^[})\]]$/;
const CLOSERS = /^["})\]]+$/;
const SHORT_VALUES = /^(?:["})\],:0]+|null|true|false)$/;

export function boundingMasks(vocabulary: GrammarVocabulary, numWords: number): BoundingMasks {
  const quotes: number[] = [];
  const singleClosers: number[] = [];
  const closers: number[] = [];
  const shortValues: number[] = [];
  vocabulary.encodedTokens.forEach((token, id) => {
    if (QUOTE.test(token)) quotes.push(id);
    if (SINGLE_CLOSERS.test(token)) singleClosers.push(id);
    if (CLOSERS.test(token)) closers.push(id);
    if (SHORT_VALUES.test(token)) shortValues.push(id);
  });
  return {
    whitespace: bitmaskOf(vocabulary.whitespaceTokenIds, numWords),
    finishingTiers: [vocabulary.stopTokenIds, quotes, singleClosers, closers, shortValues].map((ids) => bitmaskOf(ids, numWords)),
  };
}
