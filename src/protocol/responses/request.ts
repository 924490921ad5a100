/**
 * `/v1/responses` requests (OpenAI's Responses API, without stored state) as the chat request
 * they mean: `instructions` and the `input` items become messages (function calls join an
 * assistant turn, their outputs become `tool` turns), flat function tools become chat tools.
 * The chat path then does everything else, so both endpoints read tools the same way.
 */
import { z } from 'zod';
import { badRequest, fromZodError } from '../errors.js';

const textContent = z.union([
  z.string(),
  z.array(z.looseObject({ type: z.enum(['input_text', 'output_text', 'text']), text: z.string() })),
]);

const messageItem = z.looseObject({
  type: z.literal('message').optional(),
  role: z.enum(['user', 'assistant', 'system', 'developer']),
  content: textContent,
});
const functionCallItem = z.looseObject({ type: z.literal('function_call'), call_id: z.string(), name: z.string(), arguments: z.string() });
const functionOutputItem = z.looseObject({ type: z.literal('function_call_output'), call_id: z.string(), output: z.string() });
/** Reasoning a client sends back is not fed to the model again (as chat templates drop it). */
const reasoningItem = z.looseObject({ type: z.literal('reasoning') });
const inputItem = z.union([messageItem, functionCallItem, functionOutputItem, reasoningItem]);

const functionTool = z.looseObject({
  type: z.literal('function'),
  name: z.string(),
  description: z.string().nullish(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
});

export const responsesRequestSchema = z.looseObject({
  model: z.string().nullish(),
  input: z.union([z.string(), z.array(inputItem).min(1)]),
  instructions: z.string().nullish(),
  tools: z.array(functionTool).nullish(),
  tool_choice: z.union([z.enum(['none', 'auto', 'required']), z.looseObject({ type: z.literal('function'), name: z.string() })]).nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  max_output_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  stream: z.boolean().nullish(),
  previous_response_id: z.string().nullish(),
  store: z.boolean().nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  user: z.string().nullish(),
});
export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;

type InputItem = z.infer<typeof inputItem>;
type ChatMessage = Record<string, unknown>;

function textOf(content: z.infer<typeof textContent>): string {
  return typeof content === 'string' ? content : content.map((part) => part.text).join('');
}

function messagesOf(request: ResponsesRequest): ChatMessage[] {
  const messages: ChatMessage[] = [];
  if (request.instructions) messages.push({ role: 'system', content: request.instructions });
  const items: InputItem[] = typeof request.input === 'string' ? [{ role: 'user', content: request.input }] : request.input;
  for (const item of items) {
    if (item.type === 'reasoning') continue;
    if (item.type === 'function_call') {
      const call = { id: item.call_id, type: 'function', function: { name: item.name, arguments: item.arguments } };
      const last = messages.at(-1);
      if (last?.['role'] === 'assistant' && Array.isArray(last['tool_calls'])) (last['tool_calls'] as unknown[]).push(call);
      else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
    } else if (item.type === 'function_call_output') {
      messages.push({ role: 'tool', tool_call_id: item.call_id, content: item.output });
    } else messages.push({ role: item.role, content: textOf(item.content) });
  }
  return messages;
}

/** Parsed and checked; `previous_response_id` is refused since nothing is stored. */
export function parseResponsesRequest(body: unknown): ResponsesRequest {
  const parsed = responsesRequestSchema.safeParse(body);
  if (!parsed.success) throw fromZodError(parsed.error);
  if (parsed.data.previous_response_id) {
    throw badRequest('previous_response_id is not supported: this server stores no responses; send the whole conversation in input', 'previous_response_id');
  }
  return parsed.data;
}

/** The chat completion request this response request means (streamed with usage when it is). */
export function chatBodyOf(request: ResponsesRequest): Record<string, unknown> {
  const toolChoice = request.tool_choice;
  return {
    model: request.model,
    messages: messagesOf(request),
    tools: request.tools?.map(({ name, description, parameters, strict }) => ({ type: 'function', function: { name, description, parameters, strict } })),
    tool_choice: typeof toolChoice === 'object' && toolChoice !== null ? { type: 'function', function: { name: toolChoice.name } } : toolChoice,
    parallel_tool_calls: request.parallel_tool_calls,
    max_tokens: request.max_output_tokens,
    temperature: request.temperature,
    top_p: request.top_p,
    stream: request.stream ?? false,
    ...(request.stream ? { stream_options: { include_usage: true } } : {}),
  };
}
