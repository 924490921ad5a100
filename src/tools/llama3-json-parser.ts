/**
 * `--tool-call-parser llama3_json`: Llama 3.1+'s JSON calls, `{"name": ..., "parameters": {...}}`,
 * optionally after `<|python_tag|>`, several separated by `;`. As in vLLM, an output is calls
 * only when it starts (after whitespace) with `{` or the tag; otherwise it is all content.
 */
import { JsonCallStreamer } from './json-call-streamer.js';
import { jsonObjectEnd } from './json-object-scan.js';
import { randomToolCallId, type ToolCallIdSource } from './tool-call-id.js';
import type { ParsedToolDelta, ToolCallParser } from './types.js';

const PYTHON_TAG = '<|python_tag|>';

type Mode = 'undecided' | 'content' | 'calls';

export class Llama3JsonToolCallParser implements ToolCallParser {
  private mode: Mode = 'undecided';
  private buffer = '';
  private call: JsonCallStreamer | null = null;
  private numCalls = 0;

  constructor(private readonly newId: ToolCallIdSource = randomToolCallId) {}

  push(textDelta: string): ParsedToolDelta {
    this.buffer += textDelta;
    const out: ParsedToolDelta = { content: '', toolCalls: [] };
    if (this.mode === 'undecided') this.decide();
    if (this.mode === 'content') {
      out.content = this.buffer;
      this.buffer = '';
    } else if (this.mode === 'calls') this.parseCalls(out);
    return out;
  }

  finish(): ParsedToolDelta {
    const out: ParsedToolDelta = { content: '', toolCalls: [] };
    if (this.call !== null) {
      const deltas = this.call.close();
      if (deltas === null) out.content = this.call.text;
      else out.toolCalls.push(...deltas);
      this.call = null;
    }
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
      if (this.call === null) {
        const rest = this.buffer.replace(/^[\s;]+/, '');
        if (rest === '') return;
        if (!rest.startsWith('{')) {
          // Text after the calls that is not another call: content, as the model wrote it.
          this.mode = 'content';
          out.content += rest;
          this.buffer = '';
          return;
        }
        this.buffer = rest;
        this.call = new JsonCallStreamer(this.numCalls, this.newId);
      }
      // The open call's earlier text lives in the streamer; the object's end is found over all of it.
      const numSeen = this.call.text.length;
      const end = jsonObjectEnd(this.call.text + this.buffer, 0);
      const taken = end < 0 ? this.buffer.length : end - numSeen;
      out.toolCalls.push(...this.call.append(this.buffer.slice(0, taken)));
      this.buffer = this.buffer.slice(taken);
      if (end < 0) return;
      const deltas = this.call.close();
      if (deltas === null) out.content += this.call.text;
      else out.toolCalls.push(...deltas);
      this.call = null;
      this.numCalls++;
    }
  }
}
