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
  /**
   * NOTE: only the tail of the output from `textStart` on: what is not yet emitted plus the
   * last maxStopLength characters (where a stop string may begin, and the character before
   * a held-back cut). Dropping the rest keeps each append O(new text): slicing an ever
   * longer concatenated string would flatten all of it every token.
   */
  private text = '';
  /** Offset of text[0] in the whole output; numEmittedChars and match indexes count from the output's start. */
  private textStart = 0;
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

  /** Call once per generated token, after it was appended; numOutputTokens includes it. */
  append(tokenId: number, numOutputTokens: number): StopCheck {
    const isStopAllowed = numOutputTokens >= this.params.minTokens;
    if (isStopAllowed && (this.eosTokenIds.has(tokenId) || this.stopTokenIds.has(tokenId))) {
      // NOTE: the stop token's own text is not output unless asked for (as vLLM).
      if (this.params.includeStopStrInOutput) this.text += this.detokenizer.push([tokenId]);
      this.text += this.detokenizer.flush();
      const stopReason = this.eosTokenIds.has(tokenId) ? null : tokenId;
      return this.finish(RequestStatus.FINISHED_STOPPED, stopReason, this.textEnd);
    }
    const isLength = numOutputTokens >= this.maxTokens;
    const searchFrom = Math.max(0, this.textEnd - this.maxStopLength + 1);
    this.text += this.detokenizer.push([tokenId]);
    if (isLength) this.text += this.detokenizer.flush();
    if (isStopAllowed && this.maxStopLength > 0) {
      const match = this.findStop(searchFrom);
      if (match !== null) {
        const end = this.params.includeStopStrInOutput ? match.index + match.stop.length : match.index;
        return this.finish(RequestStatus.FINISHED_STOPPED, match.stop, end);
      }
    }
    const textEnd = this.textEnd;
    if (isLength) return this.finish(RequestStatus.FINISHED_LENGTH, null, textEnd);
    let end = textEnd - this.numHeldBackChars;
    // NOTE: never split a surrogate pair across two deltas.
    if (end > 0 && end < textEnd && isHighSurrogate(this.text.charCodeAt(end - 1 - this.textStart))) end--;
    return { text: this.take(end), status: null, stopReason: null };
  }

  /** On abort: what is still held back. */
  flush(): string {
    this.text += this.detokenizer.flush();
    return this.take(this.textEnd);
  }

  /** Length of the whole output so far. */
  private get textEnd(): number {
    return this.textStart + this.text.length;
  }

  private finish(status: RequestStatus, stopReason: string | number | null, end: number): StopCheck {
    this.text = this.text.slice(0, end - this.textStart);
    return { text: this.take(end), status, stopReason };
  }

  private take(end: number): string {
    if (end <= this.numEmittedChars) return '';
    const text = this.text.slice(this.numEmittedChars - this.textStart, end - this.textStart);
    this.numEmittedChars = end;
    const keepFrom = Math.min(this.numEmittedChars, this.textEnd - this.maxStopLength);
    if (keepFrom > this.textStart) {
      this.text = this.text.slice(keepFrom - this.textStart);
      this.textStart = keepFrom;
    }
    return text;
  }

  /** The earliest match starting at or after `from` (at or after textStart); ties go to the stop listed first. */
  private findStop(from: number): { index: number; stop: string } | null {
    let best: { index: number; stop: string } | null = null;
    for (const stop of this.params.stop) {
      const index = this.text.indexOf(stop, from - this.textStart);
      if (index >= 0 && (best === null || index + this.textStart < best.index)) best = { index: index + this.textStart, stop };
    }
    return best;
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
