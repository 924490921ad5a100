/**
 * What the engine needs from a tokenizer: the way back from ids to text, and for structured
 * outputs its vocabulary. The real one is model/tokenizer.ts with engine/detokenizer.ts's
 * IncrementalDetokenizer, e.g.
 * `createDetokenizer: (p, s) => new IncrementalDetokenizer(tokenizer, p, s)`.
 */

import type { GrammarVocabulary } from './structured/vocabulary.js';

/** Turns a stream of generated ids into text deltas; text already returned is never revised. */
export interface StreamDetokenizer {
  push(newIds: number[]): string;
  /** Whatever is still held back (e.g. an incomplete UTF-8 sequence) at the end. */
  flush(): string;
}

export interface EngineTokenizer {
  decode(ids: readonly number[], options: { skipSpecialTokens: boolean }): string;
  createDetokenizer(promptIds: readonly number[], skipSpecialTokens: boolean): StreamDetokenizer;
  /**
   * The vocabulary a grammar engine compiles structured outputs against (`numLogits` rows of the
   * model, `stopTokenIds` ending generation); absent or null: this tokenizer cannot constrain output.
   */
  grammarVocabulary?(numLogits: number, stopTokenIds: readonly number[]): GrammarVocabulary | null;
  /** Tokens that end generation besides the model's eos ids (a family's chat stop tokens, src/chat/stop-tokens.ts). */
  stopTokenIds?: readonly number[];
}

/** For runs that count tokens and never read text (benchmarks on random weights, GPTQ calibration). */
export const NO_TEXT_TOKENIZER: EngineTokenizer = {
  decode: () => '',
  createDetokenizer: () => ({ push: () => '', flush: () => '' }),
};
