/**
 * OpenAI's chat shapes for what ChoiceOutputParser read: the whole `message` (no `tool_calls`
 * key when there are none, `content: null` when there are only calls, as OpenAI sends them),
 * a stream chunk's `delta`, and `finish_reason: "tool_calls"` when the model chose to call.
 */
import { joinToolCallDeltas, type ToolCall } from '../../tools/types.js';
import type { ChatAgentRequest } from '../chat-agent-request.js';
import type { ChoiceResult } from '../results.js';
import { ChoiceOutputParser, type ChoiceOutputDelta } from './choice-parser.js';

export type ChatFinishReason = ChoiceResult['finishReason'] | 'tool_calls';

export interface ChatMessageOut {
  role: 'assistant';
  content: string | null;
  tool_calls?: ToolCall[];
  reasoning_content?: string | null;
}

/**
 * "tool_calls" when the model ended by calling (auto or required); a named tool_choice keeps
 * "stop", as OpenAI answers it, and a call cut off by length stays "length".
 */
export function chatFinishReason(request: ChatAgentRequest, parser: ChoiceOutputParser, reason: ChoiceResult['finishReason']): ChatFinishReason {
  return reason === 'stop' && parser.hasToolCalls && request.toolMode.kind !== 'named' ? 'tool_calls' : reason;
}

/** A finished choice as its message and finish_reason. */
export function readChatChoice(request: ChatAgentRequest, choice: ChoiceResult): { message: ChatMessageOut; finishReason: ChatFinishReason } {
  const parser = new ChoiceOutputParser(request);
  const { content, reasoning, toolCalls: deltas } = parser.pushLast(choice.text);
  const toolCalls = joinToolCallDeltas(deltas);
  const message: ChatMessageOut = { role: 'assistant', content: toolCalls.length > 0 && content.trim() === '' ? null : content };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  if (request.reasoningParser !== null) message.reasoning_content = reasoning === '' ? null : reasoning;
  return { message, finishReason: chatFinishReason(request, parser, choice.finishReason) };
}

/** A chunk's `delta`: the role first, then only the fields this piece has (content '' when it has nothing). */
export function chatDelta(delta: ChoiceOutputDelta, isFirst: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = isFirst ? { role: 'assistant' } : {};
  const hasOther = delta.toolCalls.length > 0 || delta.reasoning !== '';
  if (delta.content !== '' || !hasOther) out['content'] = delta.content;
  if (delta.reasoning !== '') out['reasoning_content'] = delta.reasoning;
  if (delta.toolCalls.length > 0) out['tool_calls'] = delta.toolCalls;
  return out;
}
