/**
 * The agent loop's turns as Hugging Face chat templates read them: an assistant turn that only
 * calls tools arrives with `content: null`, and templates that concatenate content need a
 * string; a call's `arguments` arrive as JSON text, and templates (Qwen2.5, Qwen3, Llama 3.1)
 * write them with `tojson`, so they get the object, as transformers passes it.
 */
import type { ChatMessage } from './conversation.js';

function argumentsValue(text: unknown): unknown {
  if (typeof text !== 'string') return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // NOTE: arguments a client wrote by hand that are not JSON are shown as written.
    return text;
  }
}

function templateCall(call: unknown): unknown {
  if (typeof call !== 'object' || call === null) return call;
  const { function: fn } = call as { function?: unknown };
  if (typeof fn !== 'object' || fn === null) return call;
  const { arguments: args } = fn as { arguments?: unknown };
  return { ...call, function: { ...fn, arguments: argumentsValue(args) } };
}

export function templateToolTurns(messages: readonly ChatMessage[]): ChatMessage[] {
  return messages.map((message) => {
    const calls = message['tool_calls'];
    if (message.content !== null && message.content !== undefined && !Array.isArray(calls)) return message;
    const turn: ChatMessage = { ...message, content: message.content ?? '' };
    if (Array.isArray(calls)) turn['tool_calls'] = calls.map(templateCall);
    return turn;
  });
}
