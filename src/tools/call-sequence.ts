/** The calls of one output, in order: at most one open (streaming) at a time. */
import { JsonCallStreamer } from './json-call-streamer.js';
import type { ToolCallIdSource } from './tool-call-id.js';
import type { ParsedToolDelta } from './types.js';

export class CallSequence {
  private call: JsonCallStreamer | null = null;
  private numClosed = 0;

  constructor(private readonly newId: ToolCallIdSource) {}

  get isOpen(): boolean {
    return this.call !== null;
  }

  /** Whether any call has been made (closed as a valid call). */
  get hasCalls(): boolean {
    return this.numClosed > 0;
  }

  /** The open call's text so far ('' when none is open). */
  get openText(): string {
    return this.call?.text ?? '';
  }

  open(): void {
    this.call = new JsonCallStreamer(this.numClosed, this.newId);
  }

  append(text: string, out: ParsedToolDelta): void {
    if (this.call !== null) out.toolCalls.push(...this.call.append(text));
  }

  /** Ends the open call: its last deltas, or (not a call after all) `contentPrefix` and its text as content. */
  close(out: ParsedToolDelta, contentPrefix = ''): void {
    const call = this.call;
    if (call === null) return;
    this.call = null;
    const deltas = call.close();
    if (deltas === null) {
      out.content += contentPrefix + call.text;
      return;
    }
    out.toolCalls.push(...deltas);
    this.numClosed++;
  }
}
