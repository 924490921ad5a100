/**
 * A request as the caller sees it: n child sequences (n > 1 fans out, as vLLM v1's parallel
 * sampling; the children share the prompt's blocks through the prefix cache), their stop
 * checkers, and the deltas gathered under the parent's id until the engine emits them.
 */
import type { CompletionOutput, RequestOutput } from './output.js';
import type { Request, TokenLogprob } from './request.js';
import { RequestStream } from './request-stream.js';
import type { StopChecker } from './stop-checker.js';

export class ParentRequest {
  readonly stream: RequestStream;
  /** NOTE: the engine's bookkeeping: the postprocess pass that last listed it for emitting. */
  touchedStamp = 0;
  private readonly pending: (CompletionOutput | undefined)[];
  private readonly cumulativeLogprobs: number[];
  private isPromptLogprobsSent = false;
  private isEmittedOnce = false;

  constructor(
    readonly requestId: string,
    readonly children: readonly Request[],
    readonly stopCheckers: readonly StopChecker[],
    onCancel: () => void,
  ) {
    this.stream = new RequestStream(onCancel);
    this.pending = children.map(() => undefined);
    this.cumulativeLogprobs = children.map(() => 0);
  }

  get isFinished(): boolean {
    for (const child of this.children) if (!child.isFinished) return false;
    return true;
  }

  get numCompletionTokens(): number {
    let total = 0;
    for (const c of this.children) total += c.numOutputTokens;
    return total;
  }

  /** Adds news for one sample: a generated token (or -1 for none), text, and its end if it ended. */
  addDelta(child: Request, tokenId: number, logprob: TokenLogprob | null, text: string): void {
    const delta = this.pendingFor(child);
    if (tokenId >= 0) {
      delta.tokenIds.push(tokenId);
      if (logprob !== null) {
        (delta.logprobs ??= []).push(logprob);
        this.cumulativeLogprobs[child.index] = (this.cumulativeLogprobs[child.index] as number) + logprob.logprob;
      }
    }
    delta.text += text;
    delta.finishReason = child.finishReason;
    delta.stopReason = child.stopReason;
    if (child.params.logprobs !== null) delta.cumulativeLogprob = this.cumulativeLogprobs[child.index] as number;
  }

  /** The gathered deltas as one output, or null when there is nothing to say yet. */
  takeOutput(): RequestOutput | null {
    const first = this.children[0] as Request;
    const isFinished = this.isFinished;
    // NOTE: prompt logprobs come with the first output, so hold everything until they are complete.
    if (!first.isPromptLogprobsComplete && !isFinished) return null;
    const outputs: CompletionOutput[] = [];
    for (let i = 0; i < this.pending.length; i++) {
      const delta = this.pending[i];
      if (delta !== undefined) outputs.push(delta);
      this.pending[i] = undefined;
    }
    if (outputs.length === 0 && !(isFinished && !this.isEmittedOnce)) return null;
    let promptLogprobs: (TokenLogprob | null)[] | null = null;
    if (!this.isPromptLogprobsSent && first.promptLogprobs !== null && first.isPromptLogprobsComplete) {
      promptLogprobs = first.promptLogprobs;
      this.isPromptLogprobsSent = true;
    }
    this.isEmittedOnce = true;
    const embedding = isFinished ? first.pooled?.value() : null;
    return {
      requestId: this.requestId,
      outputs,
      promptLogprobs,
      finished: isFinished,
      numPromptTokens: first.numPromptTokens,
      numCachedPromptTokens: first.numCachedPromptTokens,
      numCompletionTokens: this.numCompletionTokens,
      ...(embedding ? { embedding } : {}),
    };
  }

  private pendingFor(child: Request): CompletionOutput {
    let delta = this.pending[child.index];
    if (delta === undefined) {
      delta = {
        index: child.index,
        text: '',
        tokenIds: [],
        logprobs: child.params.logprobs === null ? null : [],
        cumulativeLogprob: child.params.logprobs === null ? null : (this.cumulativeLogprobs[child.index] as number),
        finishReason: null,
        stopReason: null,
      };
      this.pending[child.index] = delta;
    }
    return delta;
  }
}
