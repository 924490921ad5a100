/**
 * The engine's structured outputs: one grammar compiler (made on the first constrained request,
 * from the tokenizer's vocabulary), a GrammarMatcher per constrained sequence (each of n
 * samples has its own), each step's token bitmask from them, and every sampled token fed back.
 */
import type { FillTokenBitmask } from '../runtime/types.js';
import { InvalidRequestError } from './errors.js';
import type { Request } from './request.js';
import type { ScheduledSequence } from './scheduler.js';
import { StructuredOutputCompiler, type CompiledGrammar } from './structured/compiler.js';
import type { GrammarMatcher } from './structured/grammar-matcher.js';
import type { StructuredOutputSpec } from './structured/spec.js';
import { StepBitmask } from './structured/step-bitmask.js';
import type { GrammarVocabulary } from './structured/vocabulary.js';
import { GrammarError } from './structured/xgrammar-module.js';

/** What a sampled token did to its sequence's grammar. */
export type GrammarVerdict = 'unconstrained' | 'accepted' | 'complete' | 'rejected';

export class StructuredOutputManager {
  private compiler: Promise<StructuredOutputCompiler> | null = null;
  private stepBitmask: StepBitmask | null = null;
  private readonly matchers = new Map<Request, GrammarMatcher>();
  /** The step's matcher per scheduled row; reused from step to step. */
  private readonly rowMatchers: (GrammarMatcher | null)[] = [];

  constructor(private readonly loadVocabulary: () => GrammarVocabulary | null) {}

  /**
   * The spec compiled (cached by spec). Rejects with InvalidRequestError when it does not
   * compile or the tokenizer offers no vocabulary to compile against.
   * NOTE: compiling blocks the JS thread (up to ~1 s for a JSON schema on a 152k vocabulary).
   */
  async compile(spec: StructuredOutputSpec): Promise<CompiledGrammar> {
    const compiler = await this.compilerOnce();
    try {
      return await compiler.compile(spec);
    } catch (error) {
      if (error instanceof GrammarError) throw new InvalidRequestError(`invalid structured output: ${error.message}`, 'structured_outputs');
      throw error;
    }
  }

  /** Gives each sequence its own matcher; the caller schedules them only after this resolves. */
  async attach(requests: readonly Request[], spec: StructuredOutputSpec): Promise<void> {
    const grammar = await this.compile(spec);
    const matchers = await Promise.all(requests.map((request) => grammar.createMatcher(request.maxTokens)));
    requests.forEach((request, i) => this.matchers.set(request, matchers[i] as GrammarMatcher));
  }

  /**
   * What fills the step's masks, or null when none of its sampled sequences has a grammar (the
   * step then carries no mask). Which rows are constrained is settled now; the filling runs
   * when called, e.g. while the step's forward pass runs (FillTokenBitmask).
   */
  stepMask(scheduled: readonly ScheduledSequence[]): FillTokenBitmask | null {
    const compiler = this.compiler;
    if (this.matchers.size === 0 || compiler === null) return null;
    const rows = this.rowMatchers;
    rows.length = 0;
    let isAnyConstrained = false;
    for (const { request, doSample } of scheduled) {
      const matcher = doSample ? (this.matchers.get(request) ?? null) : null;
      isAnyConstrained ||= matcher !== null;
      rows.push(matcher);
    }
    if (!isAnyConstrained) return null;
    return async () => {
      this.stepBitmask ??= new StepBitmask((await compiler).numWords);
      return this.stepBitmask.fill(rows);
    };
  }

  /** Whether any sequence in the engine has a grammar. */
  get hasConstrained(): boolean {
    return this.matchers.size > 0;
  }

  /** Feeds a sampled token to the sequence's grammar; 'complete' means it must end now. */
  accept(request: Request, tokenId: number): GrammarVerdict {
    const matcher = this.matchers.get(request);
    if (matcher === undefined) return 'unconstrained';
    if (!matcher.acceptToken(tokenId)) return 'rejected';
    return matcher.isTerminated() ? 'complete' : 'accepted';
  }

  /** Frees the sequences' matchers (finished, aborted or failed). */
  release(requests: readonly Request[]): void {
    for (const request of requests) {
      this.matchers.get(request)?.dispose();
      this.matchers.delete(request);
    }
  }

  private compilerOnce(): Promise<StructuredOutputCompiler> {
    if (this.compiler === null) {
      const vocabulary = this.loadVocabulary();
      if (vocabulary === null) {
        return Promise.reject(new InvalidRequestError("structured outputs need the model's tokenizer.json vocabulary, which this model lacks", 'structured_outputs'));
      }
      this.compiler = StructuredOutputCompiler.create(vocabulary);
    }
    return this.compiler;
  }
}
