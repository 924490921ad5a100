/**
 * The OpenAI operations over one ModelHost, independent of transport: the HTTP server and
 * `run-batch` both call these. Validation errors throw ApiError before anything runs;
 * requests go through the host's ServingEngine, so a stream aborts its engine requests when
 * the consumer stops reading or the signal fires. Besides completions: vLLM's /tokenize and
 * /detokenize, and loading and unloading LoRA adapters at run time (unloading aborts the
 * adapter's requests in flight, the library Engine's on the same host too).
 */
import { randomUUID } from 'node:crypto';
import type { ZodType } from 'zod';
import type { CompletionOutput, RequestOutput } from '../engine/output.js';
import { InvalidRequestError } from '../engine/errors.js';
import { NO_CHAT_AGENT, type ChatAgentOptions } from '../protocol/chat-agent-options.js';
import { parseChatAgentRequest, type ChatAgentRequest } from '../protocol/chat-agent-request.js';
import { chatDelta, chatFinishReason, readChatChoice } from '../protocol/chat-output/chat-message.js';
import { ChoiceOutputParser } from '../protocol/chat-output/choice-parser.js';
import { badRequest, fromZodError, notFound } from '../protocol/errors.js';
import { invalidRequest, modelNotFound, OpenAIError, toOpenAIError } from '../protocol/openai-error.js';
import { chatPrompt, prepareChat, prepareCompletion, type PreparedPrompt } from '../protocol/prepare.js';
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
import { encodeWithinContext } from '../protocol/prompt-size.js';
import { chatCompletionRequestSchema, completionRequestSchema } from '../protocol/schemas.js';
import {
  detokenizeRequestSchema,
  loadLoraAdapterRequestSchema,
  tokenizeChatSchema,
  tokenizeCompletionSchema,
  unloadLoraAdapterRequestSchema,
} from '../protocol/tokenize.js';
import { AdapterError } from './adapters.js';
import { createEmbeddings } from './embeddings-service.js';
import type { AdapterPathPolicy } from './adapter-paths.js';
import type { ModelHost } from './model-host.js';
import type { Submission } from './serving-engine.js';

export type Json = Record<string, unknown>;

/** Either a whole response body, or the chunks of an SSE stream (without `[DONE]`). */
export type ServiceResult = { kind: 'json'; body: Json } | { kind: 'stream'; chunks: AsyncIterable<Json> };

/** What one engine request did, for metrics; every submitted request reports `finished` once. */
export interface RequestFinishedInfo {
  finishReason: 'stop' | 'length' | 'abort' | 'error';
  seconds: number;
  numPromptTokens: number;
  numGenerationTokens: number;
}

/** Timing hooks (e.g. the server's Prometheus metrics); all optional. */
export interface ServiceObserver {
  /** The first output tokens of an engine request came `seconds` after it was added. */
  firstToken?(seconds: number): void;
  /** Seconds between two consecutive outputs with tokens of one engine request. */
  interToken?(seconds: number): void;
  finished?(info: RequestFinishedInfo): void;
}

function parse<T>(schema: ZodType<T>, body: unknown): T {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the request body must be a JSON object');
  const result = schema.safeParse(body);
  if (!result.success) throw fromZodError(result.error);
  return result.data;
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
}

export class OpenAIService {
  constructor(
    readonly host: ModelHost,
    private readonly observer: ServiceObserver = {},
    private readonly agent: ChatAgentOptions = NO_CHAT_AGENT,
  ) {}

  /** Engine requests in flight on the host (this service's, and any other front end's on it). */
  get numInFlight(): number {
    return this.host.serving.numInFlight;
  }

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
    const prompts = await prepareCompletion(body, this.host.promptContext());
    const n = body.n ?? 1;
    const options = this.renderOptions('cmpl', body.model, body.return_tokens_as_token_ids ?? false);
    await this.checkStructuredOutput(prompts[0] as PreparedPrompt);
    const submitted = this.submit(prompts, body.model, signal);
    if (body.stream) {
      const includeUsage = body.stream_options?.include_usage ?? false;
      return { kind: 'stream', chunks: withUsageField(this.completionStream(submitted, options, n, includeUsage, body.echo ?? false), includeUsage) };
    }
    const { promptResults, choices } = await this.collect(submitted, n);
    return { kind: 'json', body: renderCompletion(options, promptResults, choices, body.echo ?? false, n) };
  }

  /** `/v1/embeddings`, each input's request reported to the observer. */
  embeddings(rawBody: unknown, signal?: AbortSignal): Promise<Json> {
    return createEmbeddings(this.host, rawBody, signal, this.observer);
  }

  async chat(rawBody: unknown, signal?: AbortSignal): Promise<ServiceResult> {
    const body = parse(chatCompletionRequestSchema, rawBody);
    const agent = parseChatAgentRequest(rawBody, this.agent);
    const prompt = await prepareChat(body, this.host.promptContext());
    const numTop = body.top_logprobs ?? 0;
    const options = this.renderOptions('chatcmpl', body.model, body.return_tokens_as_token_ids ?? false);
    await this.checkStructuredOutput(prompt);
    const submitted = this.submit([prompt], body.model, signal);
    if (body.stream) {
      const includeUsage = body.stream_options?.include_usage ?? false;
      return { kind: 'stream', chunks: withUsageField(this.chatStream(submitted, options, numTop, includeUsage, agent), includeUsage) };
    }
    const { promptResults, choices } = await this.collect(submitted, body.n ?? 1);
    return { kind: 'json', body: renderChatCompletion(options, promptResults[0] as PromptResult, choices, numTop, (choice) => readChatChoice(agent, choice)) };
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

  /**
   * A spec that does not compile is a 400 on its field before anything is submitted (a request's
   * prompts share one spec); compiled grammars are cached, so add() finds this one ready.
   * Data-parallel replicas answer it from a replica process (ReplicaSet.compileStructuredOutput).
   */
  private async checkStructuredOutput(prompt: PreparedPrompt): Promise<void> {
    const spec = prompt.params.structuredOutput;
    if (spec === null) return;
    try {
      await this.host.serving.compileStructuredOutput(spec);
    } catch (error) {
      if (error instanceof InvalidRequestError) throw invalidRequest(error.message, prompt.structuredOutputParam);
      throw error;
    }
  }

  /** Adds every prompt to the engine at once (so a failure leaves nothing half-submitted). */
  private submit(prompts: PreparedPrompt[], model: string | null | undefined, signal?: AbortSignal): Submitted {
    const adapter = this.host.resolveModel(model);
    if (adapter === undefined) throw modelNotFound(String(model));
    const requests = prompts.map(({ promptTokenIds, params }) => ({ promptTokenIds, params, adapter, signal }));
    const submissions = this.host.serving.submitAll(requests, toOpenAIError);
    const streams = prompts.map((prompt, promptIndex) =>
      this.observed(submissions[promptIndex] as Submission, prompt.promptTokenIds.length, promptIndex),
    );
    return { prompts, streams };
  }

  /**
   * Tags an engine stream with its prompt's index and reports its timing. NOTE: a stream that is
   * never iterated is still aborted by the submit signal, but reports nothing here.
   */
  private async *observed(
    submission: Submission,
    numPromptTokens: number,
    promptIndex: number,
  ): AsyncGenerator<{ promptIndex: number; output: RequestOutput }> {
    const added = performance.now();
    let lastTokenAt: number | null = null;
    let numGenerationTokens = 0;
    let finishReason: RequestFinishedInfo['finishReason'] = 'abort';
    try {
      for await (const output of submission.outputs) {
        const numNew = output.outputs.reduce((sum, out) => sum + out.tokenIds.length, 0);
        if (numNew > 0) {
          const now = performance.now();
          if (lastTokenAt === null) this.observer.firstToken?.((now - added) / 1000);
          else this.observer.interToken?.((now - lastTokenAt) / 1000);
          lastTokenAt = now;
          numGenerationTokens += numNew;
        }
        if (output.finished) finishReason = output.outputs[0]?.finishReason ?? finishReason;
        yield { promptIndex, output };
      }
    } catch (error) {
      finishReason = 'error';
      throw toOpenAIError(error);
    } finally {
      this.observer.finished?.({ finishReason, seconds: (performance.now() - added) / 1000, numPromptTokens, numGenerationTokens });
    }
  }

  /** vLLM's /tokenize: a completion prompt or chat messages to token ids. */
  async tokenize(rawBody: unknown): Promise<Json> {
    const isChat = rawBody !== null && typeof rawBody === 'object' && 'messages' in rawBody;
    const { tokenizer, maxModelLen } = this.host;
    let ids: number[];
    let returnTokenStrs: boolean;
    if (isChat) {
      const body = parse(tokenizeChatSchema, rawBody);
      this.checkModel(body.model);
      ids = (await chatPrompt(body, this.host.promptContext(), body.add_special_tokens ?? false)).ids;
      returnTokenStrs = body.return_token_strs ?? false;
    } else {
      const body = parse(tokenizeCompletionSchema, rawBody);
      this.checkModel(body.model);
      ids = await encodeWithinContext(this.host.promptContext().encode, body.prompt, maxModelLen, body.add_special_tokens ?? true, 'prompt');
      returnTokenStrs = body.return_token_strs ?? false;
    }
    const tokenStrs = returnTokenStrs ? ids.map((id) => tokenizer.idToToken(id) ?? null) : null;
    return { count: ids.length, max_model_len: maxModelLen, tokens: ids, token_strs: tokenStrs };
  }

  /** vLLM's /detokenize: token ids to text (special tokens kept). */
  detokenize(rawBody: unknown): Json {
    const body = parse(detokenizeRequestSchema, rawBody);
    this.checkModel(body.model);
    const vocabSize = this.host.spec.vocabSize;
    const bad = body.tokens.find((id) => id >= vocabSize);
    if (bad !== undefined) throw badRequest(`token id ${bad} is out of range (vocabulary size ${vocabSize})`, 'tokens');
    return { prompt: this.host.tokenizer.decode(body.tokens, { skipSpecialTokens: false }) };
  }

  /** vLLM's /v1/load_lora_adapter (on every replica); answers with vLLM's success sentence. */
  async loadAdapter(rawBody: unknown, paths: AdapterPathPolicy): Promise<string> {
    const { lora_name: name, lora_path: path } = parse(loadLoraAdapterRequestSchema, rawBody);
    if (name === this.host.servedModelName) throw badRequest(`'${name}' is the base model's name`, 'lora_name');
    if (this.host.adapters.get(name)) throw badRequest(`The lora adapter '${name}' has already been loaded.`, 'lora_name');
    let directory: string;
    try {
      directory = paths.check(path);
    } catch (error) {
      throw adapterApiError(error);
    }
    try {
      await this.host.serving.loadAdapter(name, directory);
    } catch (error) {
      // NOTE: the reader's message may quote the files or the server's paths: the client gets neither.
      throw adapterApiError(error instanceof AdapterError && error.status === 400 && !error.message.startsWith(`cannot load adapter '${name}' from `)
        ? error
        : new AdapterError(`cannot load adapter '${name}' from lora_path '${path}': not a PEFT adapter this model can use`, 400));
    }
    return `Success: LoRA adapter '${name}' added successfully.`;
  }

  /** vLLM's /v1/unload_lora_adapter. The adapter's requests in flight end at once with finish_reason "abort". */
  async unloadAdapter(rawBody: unknown): Promise<string> {
    const { lora_name: name } = parse(unloadLoraAdapterRequestSchema, rawBody);
    if (!this.host.adapters.get(name)) throw notFound(`The lora adapter '${name}' cannot be found.`, 'lora_name');
    try {
      await this.host.serving.unloadAdapter(name);
    } catch (error) {
      throw adapterApiError(error);
    }
    return `Success: LoRA adapter '${name}' removed successfully.`;
  }

  /** Aborts every engine request in flight on the host (e.g. at the end of a shutdown grace period). */
  abortAll(): void {
    this.host.serving.abortAll();
  }

  private checkModel(model: string | null | undefined): void {
    if (this.host.resolveModel(model) === undefined) throw modelNotFound(String(model));
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

  private async *chatStream(submitted: Submitted, options: RenderOptions, numTop: number, includeUsage: boolean, agent: ChatAgentRequest): AsyncGenerator<Json> {
    const prompt = promptResult(submitted.prompts[0] as PreparedPrompt);
    const choices = new Map<number, ChoiceResult>();
    const parsers = new Map<number, ChoiceOutputParser>();
    for await (const { output } of merge(submitted.streams)) {
      absorbPromptInfo(prompt, output);
      for (const out of output.outputs) {
        const isFirst = !choices.has(out.index);
        const choice = choices.get(out.index) ?? emptyChoice(out.index, out);
        choices.set(out.index, choice);
        appendOutput(choice, out);
        const parser = parsers.get(out.index) ?? new ChoiceOutputParser(agent);
        parsers.set(out.index, parser);
        const parsed = out.finishReason === null ? parser.push(out.text) : parser.pushLast(out.text);
        const finishReason = out.finishReason === null ? null : chatFinishReason(agent, parser, out.finishReason);
        yield chatChunk(options, { ...out, finishReason, textOffset: 0 }, numTop, chatDelta(parsed, isFirst));
      }
    }
    if (includeUsage) yield usageChunk(options, 'chat.completion.chunk', usageOf([prompt], [...choices.values()]));
  }
}


/** With include_usage every chunk carries `usage`, null until the last one has the counts (as OpenAI streams). */
async function* withUsageField(chunks: AsyncIterable<Json>, includeUsage: boolean): AsyncGenerator<Json> {
  for await (const chunk of chunks) yield includeUsage && !('usage' in chunk) ? { ...chunk, usage: null } : chunk;
}

function adapterApiError(error: unknown): unknown {
  if (error instanceof AdapterError) return new OpenAIError(error.status, error.message, 'lora_name');
  return error;
}

function promptResult(prompt: PreparedPrompt): PromptResult {
  return {
    promptTokenIds: prompt.promptTokenIds,
    promptText: prompt.promptText,
    promptLogprobs: null,
    wantsPromptLogprobs: prompt.wantsPromptLogprobs,
    numCachedTokens: 0,
  };
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
