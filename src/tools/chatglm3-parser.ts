/**
 * `--tool-call-parser chatglm3`: ChatGLM3's replies as its openai_api_demo's `process_response`
 * reads them. The first line is the turn's metadata: empty for an answer (the rest is content),
 * a tool name for a call, whose body is a code block holding `tool_call(k=v, ...)` (Python
 * literals) or a JSON object of the arguments:
 *
 *     get_weather
 *      ```python
 *     tool_call(city='Paris')
 *      ```
 *
 * NOTE: a call's arguments become JSON only once the body is whole, and ChatGLM3 stops at
 * `<|observation|>` right after it, so a call is sent in one piece at the end; an answer streams.
 * A named turn whose body is not a call stays content, whole, as the model wrote it.
 */
import { randomToolCallId, type ToolCallIdSource } from './tool-call-id.js';
import { toolCallArguments } from './python-literal.js';
import { wholeCallDeltas, type ParsedToolDelta, type ToolCallParser } from './types.js';

type Mode = 'metadata' | 'answer' | 'call';

/** The arguments of a call body: the code block's `tool_call(...)` or JSON object; null when it is neither. */
function callBodyArguments(body: string): string | null {
  const code = body.trim().replace(/^```\w*\s*\n?/, '').replace(/\n?\s*```$/, '').trim();
  const kwargs = toolCallArguments(code);
  if (kwargs !== null) return JSON.stringify(kwargs);
  try {
    const value = JSON.parse(code) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? JSON.stringify(value) : null;
  } catch {
    return null;
  }
}

export class ChatGlm3ToolCallParser implements ToolCallParser {
  private mode: Mode = 'metadata';
  private buffer = '';

  constructor(private readonly newId: ToolCallIdSource = randomToolCallId) {}

  push(textDelta: string): ParsedToolDelta {
    this.buffer += textDelta;
    if (this.mode === 'metadata') {
      const newline = this.buffer.indexOf('\n');
      if (newline < 0) return { content: '', toolCalls: [] };
      const isAnswer = this.buffer.slice(0, newline).trim() === '';
      this.mode = isAnswer ? 'answer' : 'call';
      // The empty metadata line of an answer is no part of it (the demo strips it too).
      if (isAnswer) this.buffer = this.buffer.slice(newline + 1);
    }
    if (this.mode !== 'answer') return { content: '', toolCalls: [] };
    const content = this.buffer;
    this.buffer = '';
    return { content, toolCalls: [] };
  }

  finish(): ParsedToolDelta {
    const text = this.buffer;
    this.buffer = '';
    const newline = text.indexOf('\n');
    if (this.mode !== 'call' || newline < 0) return { content: text, toolCalls: [] };
    const args = callBodyArguments(text.slice(newline + 1));
    if (args === null) return { content: text, toolCalls: [] };
    const name = text.slice(0, newline).trim();
    return { content: '', toolCalls: wholeCallDeltas(0, this.newId(), name, args) };
  }
}
