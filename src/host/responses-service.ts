/**
 * `/v1/responses` over OpenAIService's chat path: the request becomes a chat request, and the
 * chat answer (whole, or its chunks) becomes a response (whole, or its stream events). Nothing
 * is stored, so `previous_response_id` is a 400 and every response says `store: false`.
 */
import type { ToolCall, ToolCallDelta } from '../tools/types.js';
import { chatBodyOf, parseResponsesRequest } from '../protocol/responses/request.js';
import { ResponseBuilder, type ChatUsage, type ResponsePiece } from '../protocol/responses/response-builder.js';
import type { Json, OpenAIService, ServiceResult } from './openai-service.js';

interface ChatChoiceJson {
  message?: { content?: string | null; reasoning_content?: string | null; tool_calls?: ToolCall[] };
  delta?: { content?: string | null; reasoning_content?: string | null; tool_calls?: ToolCallDelta[] };
  finish_reason: string | null;
}

function wholePiece(message: NonNullable<ChatChoiceJson['message']>): ResponsePiece {
  const toolCalls = (message.tool_calls ?? []).flatMap((call, index): ToolCallDelta[] => [
    { index, id: call.id, type: 'function', function: { name: call.function.name, arguments: call.function.arguments } },
  ]);
  return { content: message.content ?? '', reasoning: message.reasoning_content ?? '', toolCalls };
}

async function* responseEvents(builder: ResponseBuilder, chunks: AsyncIterable<Json>): AsyncGenerator<Json> {
  yield* builder.start();
  let finishReason: string | null = null;
  let usage: ChatUsage | null = null;
  for await (const chunk of chunks) {
    if (chunk['usage']) usage = chunk['usage'] as ChatUsage;
    const choice = (chunk['choices'] as ChatChoiceJson[])[0];
    if (choice === undefined) continue;
    const delta = choice.delta ?? {};
    yield* builder.add({ content: delta.content ?? '', reasoning: delta.reasoning_content ?? '', toolCalls: delta.tool_calls ?? [] });
    finishReason = choice.finish_reason ?? finishReason;
  }
  yield* builder.finish(finishReason, usage);
}

export async function createResponse(service: OpenAIService, rawBody: unknown, signal?: AbortSignal): Promise<ServiceResult> {
  const request = parseResponsesRequest(rawBody);
  const chat = await service.chat(chatBodyOf(request), signal);
  const builder = new ResponseBuilder(request, request.model ?? service.host.servedModelName);
  if (chat.kind === 'stream') return { kind: 'stream', chunks: responseEvents(builder, chat.chunks) };
  const choice = (chat.body['choices'] as ChatChoiceJson[])[0] as ChatChoiceJson;
  builder.add(wholePiece(choice.message ?? {}));
  builder.finish(choice.finish_reason, chat.body['usage'] as ChatUsage);
  return { kind: 'json', body: builder.response() };
}
