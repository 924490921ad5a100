/**
 * The tool and reasoning side of a chat request: `tools`, `tool_choice`, `parallel_tool_calls`
 * and the agent fields of messages checked (400 naming the field), and what the output is
 * read as. vLLM's rules: "auto" needs --enable-auto-tool-choice and a --tool-call-parser; tools
 * without a tool_choice mean "auto" when the server allows it, else they only reach the template.
 */
import { z } from 'zod';
import { agentChatRequestSchema, agentFieldProblem, agentMessageFields, type Tool } from './agent-schemas.js';
import type { ChatAgentOptions } from './chat-agent-options.js';
import { badRequest, fromZodError } from './errors.js';

/**
 * How a choice's text is read: plain text; the tool-call parser's format ("auto"); a JSON array
 * of `{name, parameters}` (tool_choice "required"); the named function's arguments object.
 */
export type ToolOutputMode =
  | { kind: 'text' }
  | { kind: 'auto'; parser: string }
  | { kind: 'required' }
  | { kind: 'named'; name: string };

export interface ChatAgentRequest {
  tools: Tool[] | null;
  toolMode: ToolOutputMode;
  /** The reasoning parser to apply, null for none (a forced call has no room for reasoning). */
  reasoningParser: string | null;
}

const agentMessagesSchema = z.looseObject({ messages: z.array(z.looseObject(agentMessageFields)) });

const AUTO_NEEDS_FLAGS = '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set';

function toolModeOf(request: z.infer<typeof agentChatRequestSchema>, options: ChatAgentOptions): ToolOutputMode {
  const { tools, tool_choice: toolChoice } = request;
  if (!tools || toolChoice === 'none') return { kind: 'text' };
  if (toolChoice === 'required') return { kind: 'required' };
  if (typeof toolChoice === 'object' && toolChoice !== null) return { kind: 'named', name: toolChoice.function.name };
  const isAllowed = options.enableAutoToolChoice && options.toolCallParser !== null;
  if (toolChoice === 'auto' && !isAllowed) throw badRequest(AUTO_NEEDS_FLAGS, 'tool_choice');
  return isAllowed ? { kind: 'auto', parser: options.toolCallParser as string } : { kind: 'text' };
}

/** Assumes the body is an object (the chat schema checked it first). */
export function parseChatAgentRequest(body: unknown, options: ChatAgentOptions): ChatAgentRequest {
  const fields = agentChatRequestSchema.safeParse(body);
  if (!fields.success) throw fromZodError(fields.error);
  const messages = agentMessagesSchema.safeParse(body);
  if (!messages.success) throw fromZodError(messages.error);
  const problem = agentFieldProblem(fields.data);
  if (problem !== null) throw badRequest(problem[1], problem[0]);
  const toolMode = toolModeOf(fields.data, options);
  const isForced = toolMode.kind === 'required' || toolMode.kind === 'named';
  return { tools: fields.data.tools ?? null, toolMode, reasoningParser: isForced ? null : options.reasoningParser };
}
