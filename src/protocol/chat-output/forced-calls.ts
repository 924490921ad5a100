/**
 * Outputs a forced tool_choice constrains (the grammar of src/engine/structured makes them
 * valid JSON), both streamed as they come: a named function's output is its arguments object;
 * "required" is a JSON array of `{"name", "parameters"}` calls.
 */
import { CallSequence } from '../../tools/call-sequence.js';
import { streamCallRun } from '../../tools/json-call-run.js';
import { randomToolCallId, type ToolCallIdSource } from '../../tools/tool-call-id.js';
import type { ParsedToolDelta, ToolCallDelta, ToolCallParser } from '../../tools/types.js';

export class NamedCallParser implements ToolCallParser {
  private isHeaderSent = false;

  constructor(
    private readonly name: string,
    private readonly newId: ToolCallIdSource = randomToolCallId,
  ) {}

  push(textDelta: string): ParsedToolDelta {
    const toolCalls: ToolCallDelta[] = [];
    if (!this.isHeaderSent) {
      this.isHeaderSent = true;
      toolCalls.push({ index: 0, id: this.newId(), type: 'function', function: { name: this.name, arguments: '' } });
    }
    if (textDelta !== '') toolCalls.push({ index: 0, function: { arguments: textDelta } });
    return { content: '', toolCalls };
  }

  finish(): ParsedToolDelta {
    return this.push('');
  }
}

type ListState = 'before' | 'inside' | 'after';

/**
 * The "required" choice's `[{"name": ..., "parameters": {...}}, ...]`, each call streamed as it
 * grows (the name first, then the parameters' text), like an auto or named call.
 */
export class RequiredCallsParser implements ToolCallParser {
  private state: ListState = 'before';
  private text = '';
  private buffer = '';
  private readonly calls: CallSequence;

  constructor(newId: ToolCallIdSource = randomToolCallId) {
    this.calls = new CallSequence(newId);
  }

  push(textDelta: string): ParsedToolDelta {
    this.text += textDelta;
    const out: ParsedToolDelta = { content: '', toolCalls: [] };
    if (this.state === 'before') {
      const start = this.text.trimStart();
      if (!start.startsWith('[')) return out;
      this.state = 'inside';
      this.buffer = start.slice(1);
    } else if (this.state === 'inside') {
      this.buffer += textDelta;
    }
    if (this.state === 'inside') {
      const { rest, isOver } = streamCallRun(this.buffer, this.calls, /^[\s,]+/, out);
      this.buffer = rest;
      if (isOver) this.state = 'after';
    }
    return out;
  }

  /** The last call's end; text that never became a call (no grammar held the model to a list) is content. */
  finish(): ParsedToolDelta {
    const out: ParsedToolDelta = { content: '', toolCalls: [] };
    this.calls.close(out);
    if (!this.calls.hasCalls) return { content: this.text, toolCalls: [] };
    return out;
  }
}
