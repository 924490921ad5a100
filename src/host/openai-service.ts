/**
 * The OpenAI operations over one ModelHost, independent of transport: the HTTP server and
 * `run-batch` both call these. Validation errors throw ApiError before anything runs;
 * a stream aborts its engine requests when the consumer stops reading or the signal fires.
 */
import { randomUUID } from 'node:crypto';
import type { ZodType } from 'zod';
import { InvalidRequestError, QueueFullError } from '../engine/errors.js';
import type { AddRequest } from '../engine/engine.js';
import type { CompletionOutput, RequestOutput } from '../engine/output.js';
import { ApiError, badRequest, fromZodError, notFound } from '../protocol/errors.js';
import { prepareChat, prepareCompletion, type PreparedPrompt } from '../protocol/prepare.js';
import {
  chatChunk,
  completionChunk,
  echoChunk,
  renderChatCompletion,
  renderCompletion,
  usageChunk,
  type RenderOptions,
} from '../protocol/render.js';
import type { ChoiceResult, PromptResult } from '../protocol/results.js';
import { usageOf } from '../protocol/results.js';
import { chatCompletionRequestSchema, completionRequestSchema } from '../protocol/schemas.js';
import type { ModelHost } from './model-host.js';

export type Json = Record<string, unknown>;

/** Either a whole response body, or the chunks of an SSE stream (without `[DONE]`). */
export type ServiceResult = { kind: 'json'; body: Json } | { kind: 'stream'; chunks: AsyncIterable<Json> };

function parse<T>(schema: ZodType<T>, body: unknown): T {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the request body must be a JSON object');
  const result = schema.safeParse(body);
  if (!result.success) throw fromZodError(result.error);
  return result.data;
}

/** Engine errors thrown at add() become API errors: the caller's mistake, or back-pressure. */
function toApiError(error: unknown): unknown {
  if (error instanceof QueueFullError) return new ApiError(503, error.message, 'ServiceUnavailableError');
  if (error instanceof InvalidRequestError) return badRequest(error.message, error.param);
  return error;
}

/** Merges async iterables, yielding values as they come. */
async function* merge<T>(sources: AsyncIterable<T>[]): AsyncGenerator<T> {
  const iterators = sources.map((source) => source[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<{ index: number; result: IteratorResult<T> }>>();
  const pull = (index: number) =>
    pending.set(index, (iterators[index] as AsyncIterator<T>).next().then((result) => ({ index, result })));
  iterators.forEach((_, index) => pull(index));
  try {
    while (pending.size > 0) {
      const { index, result } = await Promise.race(pending.values());
      if (result.done) {
        pending.delete(index);
        continue;
      }
      pull(index);
      yield result.value;
    }
  } finally {
    for (const index of pending.keys()) await (iterators[index] as AsyncIterator<T>).return?.();
  }
}

interface Submitted {
  prompts: PreparedPrompt[];
  streams: AsyncIterable<{ promptIndex: number; output: RequestOutput }>[];
  requestIds: string[];
}

export class OpenAIService {
  constructor(readonly host: ModelHost) {}

  listModels(): Json {
    const created = Math.floor(Date.now() / 1000);
    const base = { id: this.host.servedModelName, object: 'model', created, owned_by: 'swiftlet', root: this.host.modelDir, parent: null, max_model_len: this.host.maxModelLen };
    const adapters = this.host.adapters.list().map((adapter) => ({
      id: adapter.name,
      object: 'model',
      created,
      owned_by: 'swiftlet',
      root: adapter.path,
      parent: this.host.servedModelName,
      max_model_len: this.host.maxModelLen,
    }));
    return { object: 'list', data: [base, ...adapters] };
  }

  async completion(rawBody: unknown, signal?: AbortSignal): Promise<ServiceResult> {
    const body = parse(completionRequestSchema, rawBody);
    const prompts = prepareCompletion(body, this.host.promptContext());
    const n = body.n ?? 1;
    const options = this.renderOptions('cmpl', body.model, body.return_tokens_as_token_ids ?? false);
    const submitted = this.submit(prompts, body.model, signal);
    if (body.stream) {
      return { kind: 'stream', chunks: this.completionStream(submitted, options, n, body.stream_options?.include_usage ?? false, body.echo ?? false) };
    }
    const { promptResults, choices } = await this.collect(submitted, n);
    return { kind: 'json', body: renderCompletion(options, promptResults, choices, body.echo ?? false, n) };
  }

  async chat(rawBody: unknown, signal?: AbortSignal): Promise<ServiceResult> {
    const body = parse(chatCompletionRequestSchema, rawBody);
    const prompt = prepareChat(body, this.host.promptContext());
    const numTop = body.top_logprobs ?? 0;
    const options = this.renderOptions('chatcmpl', body.model, body.return_tokens_as_token_ids ?? false);
    const submitted = this.submit([prompt], body.model, signal);
    if (body.stream) {
      return { kind: 'stream', chunks: this.chatStream(submitted, options, numTop, body.stream_options?.include_usage ?? false) };
    }
    const { promptResults, choices } = await this.collect(submitted, body.n ?? 1);
    return { kind: 'json', body: renderChatCompletion(options, promptResults[0] as PromptResult, choices, numTop) };
  }

  private renderOptions(prefix: string, model: string | null | undefined, returnTokensAsTokenIds: boolean): RenderOptions {
    return {
      id: `${prefix}-${randomUUID().replace(/-/g, '')}`,
      model: model ?? this.host.servedModelName,
      created: Math.floor(Date.now() / 1000),
      namer: this.host.tokenizer,
      returnTokensAsTokenIds,
    };
  }

  /** Adds every prompt to the engine at once (so a failure leaves nothing half-submitted). */
  private submit(prompts: PreparedPrompt[], model: string | null | undefined, signal?: AbortSignal): Submitted {
    const adapter = this.host.resolveModel(model);
    if (adapter === undefined) throw notFound(`The model \`${model}\` does not exist.`, 'model');
    const engine = this.host.engine;
    const requestIds: string[] = [];
    const streams: Submitted['streams'] = [];
    try {
      prompts.forEach((prompt, promptIndex) => {
        const request: AddRequest = {
          requestId: randomUUID(),
          promptTokenIds: prompt.promptTokenIds,
          params: prompt.params,
          adapterSlot: adapter?.slot ?? -1,
          adapterKey: adapter?.key,
        };
        const stream = engine.add(request);
        requestIds.push(request.requestId);
        streams.push(tagged(stream, promptIndex));
      });
    } catch (error) {
      for (const id of requestIds) engine.abort(id);
      throw toApiError(error);
    }
    if (signal) {
      const abortAll = () => requestIds.forEach((id) => engine.abort(id));
      if (signal.aborted) abortAll();
      else signal.addEventListener('abort', abortAll, { once: true });
    }
    return { prompts, streams, requestIds };
  }

  private async collect(submitted: Submitted, n: number): Promise<{ promptResults: PromptResult[]; choices: ChoiceResult[] }> {
    const promptResults = submitted.prompts.map((prompt) => promptResult(prompt));
    const byChoice = new Map<number, ChoiceResult>();
    for await (const { promptIndex, output } of merge(submitted.streams)) {
      absorbPromptInfo(promptResults[promptIndex] as PromptResult, output);
      for (const out of output.outputs) {
        const index = promptIndex * n + out.index;
        const choice = byChoice.get(index) ?? emptyChoice(index, out);
        byChoice.set(index, choice);
        appendOutput(choice, out);
      }
    }
    return { promptResults, choices: [...byChoice.values()].sort((a, b) => a.index - b.index) };
  }

  private async *completionStream(submitted: Submitted, options: RenderOptions, n: number, includeUsage: boolean, echo: boolean): AsyncGenerator<Json> {
    const promptResults = submitted.prompts.map((prompt) => promptResult(prompt));
    const choices = new Map<number, ChoiceResult>();
    for await (const { promptIndex, output } of merge(submitted.streams)) {
      const prompt = promptResults[promptIndex] as PromptResult;
      absorbPromptInfo(prompt, output);
      for (const out of output.outputs) {
        const index = promptIndex * n + out.index;
        let choice = choices.get(index);
        if (!choice) {
          choice = emptyChoice(index, out);
          choices.set(index, choice);
          if (echo) yield echoChunk(options, index, prompt, out.logprobs !== null);
        }
        const textOffset = (echo ? prompt.promptText.length : 0) + choice.text.length;
        appendOutput(choice, out);
        yield completionChunk(options, { ...out, index, textOffset });
      }
    }
    if (includeUsage) yield usageChunk(options, 'text_completion', usageOf(promptResults, [...choices.values()]));
  }

  private async *chatStream(submitted: Submitted, options: RenderOptions, numTop: number, includeUsage: boolean): AsyncGenerator<Json> {
    const prompt = promptResult(submitted.prompts[0] as PreparedPrompt);
    const choices = new Map<number, ChoiceResult>();
    for await (const { output } of merge(submitted.streams)) {
      absorbPromptInfo(prompt, output);
      for (const out of output.outputs) {
        const isFirst = !choices.has(out.index);
        const choice = choices.get(out.index) ?? emptyChoice(out.index, out);
        choices.set(out.index, choice);
        appendOutput(choice, out);
        yield chatChunk(options, { ...out, textOffset: 0 }, numTop, isFirst);
      }
    }
    if (includeUsage) yield usageChunk(options, 'chat.completion.chunk', usageOf([prompt], [...choices.values()]));
  }
}

async function* tagged(stream: AsyncIterable<RequestOutput>, promptIndex: number): AsyncGenerator<{ promptIndex: number; output: RequestOutput }> {
  for await (const output of stream) yield { promptIndex, output };
}

function promptResult(prompt: PreparedPrompt): PromptResult {
  return { promptTokenIds: prompt.promptTokenIds, promptText: prompt.promptText, promptLogprobs: null, numCachedTokens: 0 };
}

function absorbPromptInfo(prompt: PromptResult, output: RequestOutput): void {
  prompt.promptLogprobs ??= output.promptLogprobs;
  prompt.numCachedTokens = output.numCachedPromptTokens;
}

function emptyChoice(index: number, out: CompletionOutput): ChoiceResult {
  return { index, text: '', tokenIds: [], logprobs: out.logprobs === null ? null : [], finishReason: null, stopReason: null };
}

function appendOutput(choice: ChoiceResult, out: CompletionOutput): void {
  choice.text += out.text;
  choice.tokenIds.push(...out.tokenIds);
  if (out.logprobs) (choice.logprobs ??= []).push(...out.logprobs);
  choice.finishReason = out.finishReason;
  choice.stopReason = out.stopReason;
}
