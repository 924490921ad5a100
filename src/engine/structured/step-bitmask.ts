/**
 * One step's token bitmask: a row per sequence of the StepBatch, filled by the sequences'
 * matchers (null for a sequence without a grammar, or one not sampled this step).
 *
 * NOTE: the rows are a scratch buffer reused from step to step, like step-batch.ts's arrays:
 * the runner must copy it during execute() and not keep it past its step.
 */
import type { TokenBitmask } from '../../runtime/types.js';
import type { GrammarMatcher } from './grammar-matcher.js';

export class StepBitmask {
  private rows = new Uint32Array(0);
  private flags = new Uint8Array(0);

  constructor(readonly numWords: number) {}

  /** null when no sequence has a grammar: the step then carries no mask at all. */
  async fill(matchers: readonly (GrammarMatcher | null)[]): Promise<TokenBitmask | null> {
    if (matchers.every((matcher) => matcher === null)) return null;
    const numSeqs = matchers.length;
    if (this.flags.length < numSeqs) {
      this.rows = new Uint32Array(numSeqs * this.numWords);
      this.flags = new Uint8Array(numSeqs);
    }
    const bitmask = this.rows.subarray(0, numSeqs * this.numWords);
    const hasBitmask = this.flags.subarray(0, numSeqs);
    for (let s = 0; s < numSeqs; s++) {
      const matcher = matchers[s];
      hasBitmask[s] = matcher ? 1 : 0;
      if (matcher) await matcher.fillNextTokenBitmask(bitmask, s);
      else bitmask.fill(0xffffffff, s * this.numWords, (s + 1) * this.numWords);
    }
    return { numWords: this.numWords, bitmask, hasBitmask };
  }
}
