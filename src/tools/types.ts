/** OpenAI's tool-call shapes, whole (chat.completion message) and streamed (chunk delta). */

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** One streamed piece: the first for a call carries id, type and name with arguments ""; later ones carry argument text only. */
export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function: { name?: string; arguments: string };
}

/** What one text delta of the model becomes. */
export interface ParsedToolDelta {
  /** Plain text to stream as `content` ('' when none). */
  content: string;
  toolCalls: ToolCallDelta[];
}

/** A tool-call format: fed the decoded text deltas of one choice, in order. */
export interface ToolCallParser {
  push(textDelta: string): ParsedToolDelta;
  /** The end of the output: whatever was held back, and any call still open. */
  finish(): ParsedToolDelta;
}

/** A call known whole at once, as its two streamed pieces: the header, then all of its arguments. */
export function wholeCallDeltas(index: number, id: string, name: string, args: string): ToolCallDelta[] {
  return [
    { index, id, type: 'function', function: { name, arguments: '' } },
    { index, function: { arguments: args } },
  ];
}

/** A whole output split into content and calls (non-streamed responses). */
export interface ExtractedToolCalls {
  /** null when the output was only tool calls (as OpenAI sends it). */
  content: string | null;
  toolCalls: ToolCall[];
}

/** Streamed call pieces joined into whole calls, in index order. */
export function joinToolCallDeltas(deltas: readonly ToolCallDelta[]): ToolCall[] {
  const toolCalls: ToolCall[] = [];
  for (const call of deltas) {
    const existing = toolCalls[call.index];
    if (existing === undefined) {
      toolCalls[call.index] = { id: call.id ?? '', type: 'function', function: { name: call.function.name ?? '', arguments: call.function.arguments } };
    } else existing.function.arguments += call.function.arguments;
  }
  return toolCalls;
}

/** The whole-output form of any parser: push everything, then finish, then join the deltas. */
export function extractToolCalls(parser: ToolCallParser, text: string): ExtractedToolCalls {
  const deltas = [parser.push(text), parser.finish()];
  const content = deltas.map((delta) => delta.content).join('');
  const toolCalls = joinToolCallDeltas(deltas.flatMap((delta) => delta.toolCalls));
  return { content: toolCalls.length > 0 && content.trim() === '' ? null : content, toolCalls };
}
