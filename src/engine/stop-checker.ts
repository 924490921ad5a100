/**
 * When a sequence stops, and what text it may emit so far. Stop strings are matched on the
 * detokenised text, so one split across tokens is still found; while a stop string could
 * still complete, the text that might belong to it is held back.
 */
import type { StreamDetokenizer } from './engine-tokenizer.js';
import { RequestStatus } from './request.js';
import type { SamplingParams } from './sampling-params.js';

export interface StopCheck {
  /** Text to emit now. */
  text: string;
  /** FINISHED_STOPPED / FINISHED_LENGTH, or null while it goes on. */
  status: RequestStatus | null;
  /** vLLM's stop_reason: the matched stop string or stop token id; null for EOS or length. */
  stopReason: string | number | null;
}

export class StopChecker {
  private text = '';
  private numEmittedChars = 0;
  private readonly maxStopLength: number;
  private readonly numHeldBackChars: number;
  private readonly eosTokenIds: ReadonlySet<number>;
  private readonly stopTokenIds: ReadonlySet<number>;

  constructor(
    private readonly params: SamplingParams,
    eosTokenIds: readonly number[],
    private readonly maxTokens: number,
    private readonly detokenizer: StreamDetokenizer,
  ) {
    this.eosTokenIds = new Set(params.ignoreEos ? [] : eosTokenIds);
    this.stopTokenIds = new Set(params.stopTokenIds);
    this.maxStopLength = Math.max(0, ...params.stop.map((s) => s.length));
    // NOTE: with include_stop_str_in_output whatever precedes a match is emitted anyway.
    this.numHeldBackChars = params.includeStopStrInOutput ? 0 : Math.max(0, this.maxStopLength - 1);
  }

  /** The output so far (not yet truncated by a stop string that has not matched). */
  get outputText(): string {
    return this.text;
  }

  /** Call once per generated token, after it was appended; numOutputTokens includes it. */
  append(tokenId: number, numOutputTokens: number): StopCheck {
    const isStopAllowed = numOutputTokens >= this.params.minTokens;
    if (isStopAllowed && (this.eosTokenIds.has(tokenId) || this.stopTokenIds.has(tokenId))) {
      // NOTE: the stop token's own text is not output unless asked for (as vLLM).
      if (this.params.includeStopStrInOutput) this.text += this.detokenizer.push([tokenId]);
      this.text += this.detokenizer.flush();
      const stopReason = this.eosTokenIds.has(tokenId) ? null : tokenId;
      return this.finish(RequestStatus.FINISHED_STOPPED, stopReason, this.text.length);
    }
    const isLength = numOutputTokens >= this.maxTokens;
    const searchFrom = Math.max(0, this.text.length - this.maxStopLength + 1);
    this.text += this.detokenizer.push([tokenId]);
    if (isLength) this.text += this.detokenizer.flush();
    if (isStopAllowed && this.maxStopLength > 0) {
      const match = this.findStop(searchFrom);
      if (match !== null) {
        const end = this.params.includeStopStrInOutput ? match.index + match.stop.length : match.index;
        return this.finish(RequestStatus.FINISHED_STOPPED, match.stop, end);
      }
    }
    if (isLength) return this.finish(RequestStatus.FINISHED_LENGTH, null, this.text.length);
    let end = this.text.length - this.numHeldBackChars;
    // NOTE: never split a surrogate pair across two deltas.
    if (end > 0 && end < this.text.length && isHighSurrogate(this.text.charCodeAt(end - 1))) end--;
    return { text: this.take(end), status: null, stopReason: null };
  }

  /** On abort: what is still held back. */
  flush(): string {
    this.text += this.detokenizer.flush();
    return this.take(this.text.length);
  }

  private finish(status: RequestStatus, stopReason: string | number | null, end: number): StopCheck {
    this.text = this.text.slice(0, end);
    return { text: this.take(end), status, stopReason };
  }

  private take(end: number): string {
    if (end <= this.numEmittedChars) return '';
    const text = this.text.slice(this.numEmittedChars, end);
    this.numEmittedChars = end;
    return text;
  }

  /** The earliest match starting at or after `from`; ties go to the stop listed first. */
  private findStop(from: number): { index: number; stop: string } | null {
    let best: { index: number; stop: string } | null = null;
    for (const stop of this.params.stop) {
      const index = this.text.indexOf(stop, from);
      if (index >= 0 && (best === null || index < best.index)) best = { index, stop };
    }
    return best;
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
