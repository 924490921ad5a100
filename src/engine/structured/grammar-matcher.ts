/**
 * One request's position in its grammar: which tokens may come next, as a bitmask row.
 * Created per request (per sample of n), fed every token the request emits, in order.
 */
import type { CompiledGrammar as XgrammarCompiledGrammar, GrammarMatcher as XgrammarMatcher } from '@mlc-ai/web-xgrammar';
import { intersectUnlessEmpty, isAllowed, subtractUnlessEmpty } from './bitmask.js';
import type { BoundingMasks, StructuredOutputLimits } from './bounds.js';
import { loadXgrammar } from './xgrammar-module.js';

/** What every matcher of one compiled grammar shares. */
export interface MatcherContext {
  numWords: number;
  limits: StructuredOutputLimits;
  bounding: BoundingMasks;
  stopTokenIds: readonly number[];
}

export class GrammarMatcher {
  /** Whitespace-run length after each accepted token, so a rollback restores it. */
  private readonly whitespaceRuns: number[] = [];

  private constructor(
    private readonly inner: XgrammarMatcher,
    private readonly context: MatcherContext,
    /** max_tokens of the request, or null when only max_model_len bounds it. */
    private readonly tokenBudget: number | null,
  ) {}

  static async create(compiled: XgrammarCompiledGrammar, context: MatcherContext, tokenBudget: number | null): Promise<GrammarMatcher> {
    const xgrammar = await loadXgrammar();
    return new GrammarMatcher(await xgrammar.GrammarMatcher.createGrammarMatcher(compiled), context, tokenBudget);
  }

  get numAcceptedTokens(): number {
    return this.whitespaceRuns.length;
  }

  /** Advances past `tokenId`; false (and no change) when the grammar does not allow it. */
  acceptToken(tokenId: number): boolean {
    if (this.inner.isTerminated() || !this.inner.acceptToken(tokenId)) return false;
    const run = this.whitespaceRuns.at(-1) ?? 0;
    this.whitespaceRuns.push(isAllowed(this.context.bounding.whitespace, tokenId) ? run + 1 : 0);
    return true;
  }

  /**
   * Writes this request's mask into row `row` of a step's [numSeqs * numWords] bitmask.
   * NOTE: xgrammar computes synchronously inside the call (the promise only covers its
   * one-time WASM initialisation), so a caller overlaps it with the forward pass by running
   * it on the JS thread while the native step is in flight.
   */
  async fillNextTokenBitmask(bitmask: Uint32Array, row = 0): Promise<void> {
    const { numWords, bounding, limits } = this.context;
    const target = bitmask.subarray(row * numWords, (row + 1) * numWords);
    if (this.inner.isTerminated()) {
      // Only reachable when the caller ignores isTerminated(): let it end again rather than abort xgrammar.
      target.fill(0);
      for (const id of this.context.stopTokenIds) target[id >>> 5] = ((target[id >>> 5] ?? 0) | (1 << (id & 31))) >>> 0;
      return;
    }
    target.set(new Uint32Array((await this.inner.getNextTokenBitmask()).buffer, 0, numWords));
    const isWindingDown = this.isWindingDown();
    if (isWindingDown || (this.whitespaceRuns.at(-1) ?? 0) >= limits.maxWhitespaceRun) {
      subtractUnlessEmpty(target, bounding.whitespace);
    }
    if (isWindingDown) {
      for (const tier of bounding.finishingTiers) if (intersectUnlessEmpty(target, tier)) break;
    }
  }

  /** True once the grammar accepted a stop token: the request must end. */
  isTerminated(): boolean {
    return this.inner.isTerminated();
  }

  /** Undoes the last `numTokens` accepted tokens (speculative decoding's rejected drafts). */
  rollback(numTokens: number): void {
    if (numTokens <= 0) return;
    this.inner.rollBack(numTokens);
    this.whitespaceRuns.length -= numTokens;
  }

  dispose(): void {
    this.inner.dispose();
  }

  private isWindingDown(): boolean {
    return this.tokenBudget !== null && this.tokenBudget - this.numAcceptedTokens <= this.context.limits.windDownReserve;
  }
}
