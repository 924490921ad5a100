/**
 * An OpenAI tool conversation in ChatGLM3's roles, as its openai_api_demo's
 * `process_chatglm_messages` maps its own API's messages:
 * - tools become a leading system message, "Answer the following questions as best as you can.
 *   You have access to the following tools:" with `tools` (the functions' definitions, which
 *   build_chat_input writes as JSON), and the caller's first system message is dropped (the demo
 *   does so: the model was tuned on that instruction);
 * - a `tool` result is an `observation` turn;
 * - an assistant call is an assistant turn whose metadata is the tool name and whose content is the
 *   code block ChatGLM3 itself writes, `tool_call(k=v, ...)` in Python literals; one turn per call.
 */
import { toolCallCode } from '../tools/python-literal.js';
import type { ChatMessage } from './conversation.js';

const TOOLS_INSTRUCTION = 'Answer the following questions as best as you can. You have access to the following tools:';

/** OpenAI's `tools` entries as ChatGLM3 lists tools: each function's own definition. */
function toolDefinitions(tools: unknown): unknown[] {
  if (!Array.isArray(tools)) return [];
  return tools.map((tool: unknown) => {
    const fn = (tool as { function?: unknown } | null)?.function;
    return fn !== undefined ? fn : tool;
  });
}

/** One assistant turn per call. `arguments` arrive parsed (src/chat/tool-turns.ts) unless they were not JSON. */
function callTurns(calls: unknown[]): ChatMessage[] {
  return calls.map((call) => {
    const fn = ((call as { function?: unknown } | null)?.function ?? {}) as { name?: unknown; arguments?: unknown };
    const args = fn.arguments;
    const code = typeof args === 'object' && args !== null && !Array.isArray(args) ? toolCallCode(args as Record<string, unknown>) : String(args ?? '');
    return { role: 'assistant', metadata: String(fn.name ?? ''), content: `\`\`\`python\n${code}\n\`\`\`` };
  });
}

export function chatGlm3ToolTurns(messages: readonly ChatMessage[], tools: unknown): ChatMessage[] {
  const definitions = toolDefinitions(tools);
  const turns: ChatMessage[] = definitions.length > 0 ? [{ role: 'system', content: TOOLS_INSTRUCTION, tools: definitions }] : [];
  let dropSystem = definitions.length > 0;
  for (const message of messages) {
    const calls = message['tool_calls'];
    if (message.role === 'system' && dropSystem) {
      dropSystem = false;
    } else if (message.role === 'tool') {
      turns.push({ role: 'observation', content: message.content ?? '' });
    } else if (message.role === 'assistant' && Array.isArray(calls) && calls.length > 0) {
      if (typeof message.content === 'string' && message.content.trim() !== '') turns.push({ role: 'assistant', content: message.content });
      turns.push(...callTurns(calls));
    } else turns.push(message);
  }
  return turns;
}
