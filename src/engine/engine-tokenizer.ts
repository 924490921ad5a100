/**
 * What the engine needs from a tokenizer: only the way back from ids to text. The real one
 * is model/tokenizer.ts with engine/detokenizer.ts's IncrementalDetokenizer, e.g.
 * `createDetokenizer: (p, s) => new IncrementalDetokenizer(tokenizer, p, s)`.
 */

/** Turns a stream of generated ids into text deltas; text already returned is never revised. */
export interface StreamDetokenizer {
  push(newIds: number[]): string;
  /** Whatever is still held back (e.g. an incomplete UTF-8 sequence) at the end. */
  flush(): string;
}

export interface EngineTokenizer {
  decode(ids: readonly number[], options: { skipSpecialTokens: boolean }): string;
  createDetokenizer(promptIds: readonly number[], skipSpecialTokens: boolean): StreamDetokenizer;
}

/** For runs that count tokens and never read text (benchmarks on random weights, GPTQ calibration). */
export const NO_TEXT_TOKENIZER: EngineTokenizer = {
  decode: () => '',
  createDetokenizer: () => ({ push: () => '', flush: () => '' }),
};
