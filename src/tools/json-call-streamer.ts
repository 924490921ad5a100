/**
 * Streams one JSON-encoded call, `{"name": "...", "arguments": {...}}` (or `"parameters"`), as
 * OpenAI tool-call deltas while its text grows: the header delta as soon as the name is
 * complete, then the arguments' own text as it arrives.
 *
 * NOTE: a trailing `}` is held back until the call closes, since it may be the outer object's;
 * so the fragments always join to exactly the arguments' text as the model wrote it.
 */
import type { ToolCallIdSource } from './tool-call-id.js';
import type { ToolCallDelta } from './types.js';

const HEADER = /^\s*\{\s*"name"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"(?:arguments|parameters)"\s*:\s*/;

export class JsonCallStreamer {
  private body = '';
  /** Where the arguments' text starts in body; -1 until the header is sent. */
  private argumentsStart = -1;
  private numArgumentCharsSent = 0;

  constructor(
    private readonly index: number,
    private readonly newId: ToolCallIdSource,
  ) {}

  append(text: string): ToolCallDelta[] {
    this.body += text;
    const deltas: ToolCallDelta[] = [];
    if (this.argumentsStart < 0) {
      const header = HEADER.exec(this.body);
      if (header === null) return deltas;
      this.argumentsStart = header[0].length;
      deltas.push(this.headerDelta(JSON.parse(`"${header[1] as string}"`) as string));
    }
    const trimmed = this.body.trimEnd();
    const safeEnd = trimmed.endsWith('}') ? trimmed.length - 1 : trimmed.length;
    const fragment = this.takeArguments(safeEnd);
    if (fragment !== '') deltas.push(this.argumentsDelta(fragment));
    return deltas;
  }

  /** The call's last deltas, or null when the body is not a call (the caller shows it as content). */
  close(): ToolCallDelta[] | null {
    let call: unknown;
    try {
      call = JSON.parse(this.body);
    } catch {
      call = null;
    }
    const isCall = typeof call === 'object' && call !== null && typeof (call as Record<string, unknown>).name === 'string';
    if (this.argumentsStart >= 0) {
      const fragment = this.takeArguments(this.body.lastIndexOf('}'));
      return fragment === '' ? [] : [this.argumentsDelta(fragment.trimEnd())];
    }
    if (!isCall) return null;
    // Arguments before the name, or no arguments at all: nothing could stream early.
    const { name, arguments: args, parameters } = call as { name: string; arguments?: unknown; parameters?: unknown };
    const value = args ?? parameters ?? {};
    return [this.headerDelta(name), this.argumentsDelta(typeof value === 'string' ? value : JSON.stringify(value))];
  }

  get text(): string {
    return this.body;
  }

  private takeArguments(end: number): string {
    const from = this.argumentsStart + this.numArgumentCharsSent;
    if (end <= from) return '';
    this.numArgumentCharsSent = end - this.argumentsStart;
    return this.body.slice(from, end);
  }

  private headerDelta(name: string): ToolCallDelta {
    return { index: this.index, id: this.newId(), type: 'function', function: { name, arguments: '' } };
  }

  private argumentsDelta(fragment: string): ToolCallDelta {
    return { index: this.index, function: { arguments: fragment } };
  }
}
