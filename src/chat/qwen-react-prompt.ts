/**
 * Qwen v1's ReAct prompt for an OpenAI conversation with `tools`, as its openai_api.py builds it
 * (`parse_messages`, then make_context's ChatML, or `text_complete_last_message`):
 * - the tools become the ReAct instruction, put before a user question
 *   (`{instruction}\n\nQuestion: {question}`): the last one answered, or the new one when none is;
 * - an assistant call is `Thought: {content}\nAction: {name}\nAction Input: {arguments}`, its
 *   result `\nObservation: {result}` appended to the same assistant turn (several calls of one
 *   turn: each followed by its own result); a reply without calls is
 *   `Thought: I now know the final answer.\nFinal Answer: {content}`;
 * - a conversation that ends in a tool result leaves that assistant turn open, ending in
 *   `\nThought:`, for the model to continue.
 * The caller's system message (trimmed) or Qwen's default one opens the prompt. Replies are read
 * back by src/tools/qwen-react-parser.ts.
 */
import { ConversationError, type ChatMessage } from './conversation.js';
import { pythonJsonDumps } from './python-json.js';

const DEFAULT_SYSTEM = 'You are a helpful assistant.';

const REACT_INSTRUCTION = (toolsText: string, toolNames: string) => `Answer the following questions as best you can. You have access to the following APIs:

${toolsText}

Use the following format:

Question: the input question you must answer
Thought: you should always think about what to do
Action: the action to take, should be one of [${toolNames}]
Action Input: the input to the action
Observation: the result of the action
... (this Thought/Action/Action Input/Observation can be repeated zero or more times)
Thought: I now know the final answer
Final Answer: the final answer to the original input question

Begin!`;

interface ToolFunction {
  name: string;
  description: string;
  parameters: unknown;
}

/** OpenAI's `tools` (or bare function definitions) as the functions openai_api.py lists. */
function toolFunctions(tools: unknown): ToolFunction[] {
  if (!Array.isArray(tools)) return [];
  return tools.map((tool: unknown) => {
    const fn = ((tool as { function?: unknown } | null)?.function ?? tool) as Record<string, unknown> | null;
    return { name: String(fn?.['name'] ?? ''), description: String(fn?.['description'] ?? ''), parameters: fn?.['parameters'] };
  });
}

function instructionOf(functions: readonly ToolFunction[]): string {
  const toolsText = functions
    .map(({ name, description, parameters }) =>
      `${name}: Call this tool to interact with the ${name} API. What is the ${name} API useful for? ${description} Parameters: ${pythonJsonDumps(parameters)}`)
    .join('\n\n');
  return REACT_INSTRUCTION(toolsText, functions.map((f) => f.name).join(', '));
}

/** Python's `s.lstrip('\n').rstrip()`, which openai_api.py applies to every content. */
function trimmed(content: unknown): string {
  return (typeof content === 'string' ? content : '').replace(/^\n+/, '').replace(/\s+$/, '');
}

interface Call {
  id: unknown;
  name: string;
  arguments: string;
}

function callsOf(message: ChatMessage): Call[] {
  const calls = message['tool_calls'];
  if (!Array.isArray(calls)) return [];
  return calls.map((call: unknown) => {
    const { id, function: fn } = (call ?? {}) as { id?: unknown; function?: { name?: unknown; arguments?: unknown } };
    // NOTE: src/chat/tool-turns.ts hands arguments over parsed; Qwen wrote them as Python's json.dumps does.
    const args = fn?.arguments;
    return { id, name: String(fn?.name ?? ''), arguments: typeof args === 'string' ? args : pythonJsonDumps(args ?? {}) };
  });
}

/** A user or assistant turn of the ReAct conversation. */
interface Turn {
  role: 'user' | 'assistant';
  content: string;
}

/** The turns openai_api.py's parse_messages makes of the messages after the system one; `endsInResult` when the last is a tool result. */
function reactTurns(messages: readonly ChatMessage[]): { turns: Turn[]; endsInResult: boolean } {
  const turns: Turn[] = [];
  const assistantTurn = (): Turn => {
    const last = turns[turns.length - 1];
    if (!last) throw new ConversationError('Qwen ReAct: expecting a user message before the first assistant or tool message');
    return last;
  };
  const appendAssistant = (text: string) => {
    const last = assistantTurn();
    if (last.role === 'user') turns.push({ role: 'assistant', content: trimmed(text) });
    else last.content += `\n${text}`;
  };
  let endsInResult = false;
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    endsInResult = false;
    if (message.role === 'user') {
      turns.push({ role: 'user', content: trimmed(message.content) });
    } else if (message.role === 'assistant') {
      const calls = callsOf(message);
      if (calls.length === 0) {
        appendAssistant(`Thought: I now know the final answer.\nFinal Answer: ${trimmed(message.content)}`);
        continue;
      }
      // NOTE: ReAct runs one action at a time, so each call is followed by its own result (by id, else in order).
      const results: ChatMessage[] = [];
      while (messages[i + 1]?.role === 'tool') results.push(messages[++i]!);
      calls.forEach((call, index) => {
        const thought = index === 0 ? trimmed(message.content) : '';
        appendAssistant(`${thought.startsWith('Thought:') ? thought : `Thought: ${thought}`}\nAction: ${call.name}\nAction Input: ${call.arguments}`);
        const result = results.find((r) => r['tool_call_id'] !== undefined && r['tool_call_id'] === call.id) ?? results[index];
        if (result) {
          assistantTurn().content += `\nObservation: ${trimmed(result.content)}`;
          endsInResult = true;
        }
      });
    } else if (message.role === 'tool') {
      throw new ConversationError('Qwen ReAct: a tool message must follow the assistant message that called the tool');
    } else {
      throw new ConversationError(`Qwen ReAct: unexpected role "${message.role}"`);
    }
  }
  return { turns, endsInResult };
}

const TURN_END = '<|im_end|>\n';

function chatml(role: string, content: string): string {
  return `<|im_start|>${role}\n${content}${TURN_END}`;
}

/**
 * The prompt text, or undefined when there are no tools (the chat template renders plain ChatML
 * then). A conversation that ends in an assistant turn continues it, as text_complete_last_message does.
 */
export function qwenReactPrompt(messages: readonly ChatMessage[], tools: unknown, addGenerationPrompt = true): string | undefined {
  const functions = toolFunctions(tools);
  if (functions.length === 0) return undefined;
  const hasSystem = messages[0]?.role === 'system';
  const system = hasSystem ? trimmed(messages[0]!.content) : DEFAULT_SYSTEM;
  const { turns, endsInResult } = reactTurns(hasSystem ? messages.slice(1) : messages);
  // NOTE: parse_messages puts the instruction on the last user turn that has a reply (the last
  // history pair), and on the new question only when there is no history.
  const roles = turns.map((turn) => turn.role);
  const answered = roles.lastIndexOf('user', roles[roles.length - 1] === 'user' ? roles.length - 2 : roles.length - 1);
  const target = answered >= 0 ? answered : roles.lastIndexOf('user');
  if (target < 0) throw new ConversationError('Qwen ReAct: expecting at least one user message');
  turns[target]!.content = `${instructionOf(functions)}\n\nQuestion: ${turns[target]!.content}`;
  const text = chatml('system', system) + turns.map((turn) => chatml(turn.role, turn.content)).join('');
  if (turns[turns.length - 1]?.role === 'assistant') return text.slice(0, -TURN_END.length) + (endsInResult ? '\nThought:' : '');
  return addGenerationPrompt ? `${text}<|im_start|>assistant\n` : text;
}
