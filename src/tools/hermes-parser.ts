/**
 * `--tool-call-parser hermes`: calls as `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`
 * (Hermes 2 Pro, Qwen2.5, Qwen3 chat templates). Text before the first call is content.
 *
 * NOTE: `<tool_call>` is an added but not special token in these vocabularies, so it survives
 * skip_special_tokens and reaches the parser as text.
 */
import { CallSequence } from './call-sequence.js';
import { partialTagLength } from './partial-tag.js';
import { randomToolCallId, type ToolCallIdSource } from './tool-call-id.js';
import type { ParsedToolDelta, ToolCallParser } from './types.js';

const OPEN = '<tool_call>';
const CLOSE = '</tool_call>';

export class HermesToolCallParser implements ToolCallParser {
  private buffer = '';
  private readonly calls: CallSequence;

  constructor(newId: ToolCallIdSource = randomToolCallId) {
    this.calls = new CallSequence(newId);
  }

  push(textDelta: string): ParsedToolDelta {
    this.buffer += textDelta;
    const out: ParsedToolDelta = { content: '', toolCalls: [] };
    for (;;) {
      const tag = this.calls.isOpen ? CLOSE : OPEN;
      const at = this.buffer.indexOf(tag);
      const end = at >= 0 ? at : this.buffer.length - partialTagLength(this.buffer, tag);
      const text = this.buffer.slice(0, end);
      if (this.calls.isOpen) this.calls.append(text, out);
      else this.emitContent(out, text);
      this.buffer = this.buffer.slice(at >= 0 ? at + tag.length : end);
      if (at < 0) return out;
      if (this.calls.isOpen) this.calls.close(out, OPEN);
      else this.calls.open();
    }
  }

  finish(): ParsedToolDelta {
    const out: ParsedToolDelta = { content: '', toolCalls: [] };
    if (this.calls.isOpen) {
      this.calls.append(this.buffer, out);
      this.calls.close(out, OPEN);
    } else this.emitContent(out, this.buffer);
    this.buffer = '';
    return out;
  }

  /** Once a call has been made, only text that says something is content (not the newlines between calls). */
  private emitContent(out: ParsedToolDelta, text: string): void {
    if (this.calls.hasCalls && text.trim() === '') return;
    out.content += text;
  }
}
