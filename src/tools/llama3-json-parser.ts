/**
 * `--tool-call-parser llama3_json`: Llama 3.1+'s JSON calls, `{"name": ..., "parameters": {...}}`,
 * optionally after `<|python_tag|>`, several separated by `;`. As in vLLM, an output is calls
 * only when it starts (after whitespace) with `{` or the tag; otherwise it is all content.
 */
import { CallSequence } from './call-sequence.js';
import { jsonObjectEnd } from './json-object-scan.js';
import { randomToolCallId, type ToolCallIdSource } from './tool-call-id.js';
import type { ParsedToolDelta, ToolCallParser } from './types.js';

const PYTHON_TAG = '<|python_tag|>';

type Mode = 'undecided' | 'content' | 'calls';

export class Llama3JsonToolCallParser implements ToolCallParser {
  private mode: Mode = 'undecided';
  private buffer = '';
  private readonly calls: CallSequence;

  constructor(newId: ToolCallIdSource = randomToolCallId) {
    this.calls = new CallSequence(newId);
  }

  push(textDelta: string): ParsedToolDelta {
    this.buffer += textDelta;
    const out: ParsedToolDelta = { content: '', toolCalls: [] };
    if (this.mode === 'undecided') this.decide();
    if (this.mode === 'calls') this.parseCalls(out);
    if (this.mode === 'content') {
      out.content += this.buffer;
      this.buffer = '';
    }
    return out;
  }

  finish(): ParsedToolDelta {
    const out: ParsedToolDelta = { content: '', toolCalls: [] };
    this.calls.close(out);
    if (this.mode !== 'calls' || this.buffer.trim() !== '') out.content += this.buffer;
    this.buffer = '';
    return out;
  }

  private decide(): void {
    const start = this.buffer.trimStart();
    if (start === '' || (PYTHON_TAG.startsWith(start) && start !== PYTHON_TAG)) return;
    if (start.startsWith(PYTHON_TAG)) {
      this.mode = 'calls';
      this.buffer = start.slice(PYTHON_TAG.length);
    } else this.mode = start.startsWith('{') ? 'calls' : 'content';
  }

  private parseCalls(out: ParsedToolDelta): void {
    for (;;) {
      if (!this.calls.isOpen) {
        this.buffer = this.buffer.replace(/^[\s;]+/, '');
        if (this.buffer === '') return;
        // Text after the calls that is not another call: content, as the model wrote it.
        if (!this.buffer.startsWith('{')) {
          this.mode = 'content';
          return;
        }
        this.calls.open();
      }
      // The open call's earlier text lives in the sequence; the object's end is found over all of it.
      const numSeen = this.calls.openText.length;
      const end = jsonObjectEnd(this.calls.openText + this.buffer, 0);
      const taken = end < 0 ? this.buffer.length : end - numSeen;
      this.calls.append(this.buffer.slice(0, taken), out);
      this.buffer = this.buffer.slice(taken);
      if (end < 0) return;
      this.calls.close(out);
    }
  }
}
