/**
 * `--tool-call-parser hermes`: calls as `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`
 * (Hermes 2 Pro, Qwen2.5, Qwen3 chat templates). Text before the first call is content.
 *
 * NOTE: `<tool_call>` is an added but not special token in these vocabularies, so it survives
 * skip_special_tokens and reaches the parser as text.
 */
import { JsonCallStreamer } from './json-call-streamer.js';
import { partialTagLength } from './partial-tag.js';
import { randomToolCallId, type ToolCallIdSource } from './tool-call-id.js';
import type { ParsedToolDelta, ToolCallParser } from './types.js';

const OPEN = '<tool_call>';
const CLOSE = '</tool_call>';

export class HermesToolCallParser implements ToolCallParser {
  private buffer = '';
  private call: JsonCallStreamer | null = null;
  private numCalls = 0;

  constructor(private readonly newId: ToolCallIdSource = randomToolCallId) {}

  push(textDelta: string): ParsedToolDelta {
    this.buffer += textDelta;
    const out: ParsedToolDelta = { content: '', toolCalls: [] };
    for (;;) {
      if (this.call === null) {
        const open = this.buffer.indexOf(OPEN);
        const end = open >= 0 ? open : this.buffer.length - partialTagLength(this.buffer, OPEN);
        this.emitContent(out, this.buffer.slice(0, end));
        this.buffer = this.buffer.slice(open >= 0 ? open + OPEN.length : end);
        if (open < 0) return out;
        this.call = new JsonCallStreamer(this.numCalls, this.newId);
      } else {
        const close = this.buffer.indexOf(CLOSE);
        const end = close >= 0 ? close : this.buffer.length - partialTagLength(this.buffer, CLOSE);
        out.toolCalls.push(...this.call.append(this.buffer.slice(0, end)));
        this.buffer = this.buffer.slice(close >= 0 ? close + CLOSE.length : end);
        if (close < 0) return out;
        this.closeCall(out);
      }
    }
  }

  finish(): ParsedToolDelta {
    const out: ParsedToolDelta = { content: '', toolCalls: [] };
    if (this.call === null) this.emitContent(out, this.buffer);
    else {
      out.toolCalls.push(...this.call.append(this.buffer));
      this.closeCall(out);
    }
    this.buffer = '';
    return out;
  }

  private closeCall(out: ParsedToolDelta): void {
    const call = this.call as JsonCallStreamer;
    this.call = null;
    const deltas = call.close();
    if (deltas === null) {
      this.emitContent(out, OPEN + call.text);
      return;
    }
    out.toolCalls.push(...deltas);
    this.numCalls++;
  }

  /** Once a call has been made, only text that says something is content (not the newlines between calls). */
  private emitContent(out: ParsedToolDelta, text: string): void {
    if (this.numCalls > 0 && text.trim() === '') return;
    out.content += text;
  }
}
