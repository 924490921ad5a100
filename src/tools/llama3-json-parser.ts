/**
 * `--tool-call-parser llama3_json`: Llama 3.1+'s JSON calls, `{"name": ..., "parameters": {...}}`,
 * optionally after `<|python_tag|>`, several separated by `;`. As in vLLM, an output is calls
 * only when it starts (after whitespace) with `{` or the tag; otherwise it is all content.
 */
import { CallSequence } from './call-sequence.js';
import { streamCallRun } from './json-call-run.js';
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
    const { rest, isOver } = streamCallRun(this.buffer, this.calls, /^[\s;]+/, out);
    this.buffer = rest;
    // Text after the calls that is not another call: content, as the model wrote it.
    if (isOver) this.mode = 'content';
  }
}
