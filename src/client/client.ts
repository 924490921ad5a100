/**
 * A client for a deployed swiftlet (or any OpenAI-compatible) server, with the library's
 * request and response shapes (SWIFT's InferClient):
 *
 *   const client = new Client({ baseURL: 'http://127.0.0.1:8000/v1' });
 *   const answer = await client.chat({ query: 'hi', history }, { seed: 42 });
 *
 * Plain fetch and server-sent events; no dependencies.
 */
import { ConversationError } from '../chat/conversation.js';
import { requestMessages, withAnswer } from '../llm/conversation.js';
import { embeddingsBody, embedResultOf, type EmbedInput, type EmbedOptions, type EmbedResult } from '../llm/embeddings.js';
import { InferRequestError } from '../llm/errors.js';
import type {
  ChatMessage,
  FinishReason,
  InferBackend,
  InferRequest,
  InferResponse,
  InferStreamChunk,
  RequestConfig,
  TokenLogprobInfo,
  Usage,
} from '../llm/types.js';
import { sseData } from './sse.js';
import { structuredOutputsField } from '../llm/structured-outputs.js';

export interface ClientOptions {
  /** The server's API root; `/v1` is added when missing. Default `http://127.0.0.1:8000/v1`. */
  baseURL?: string;
  /** Sent as `Authorization: Bearer ...`; default `$SWIFTLET_API_KEY`. */
  apiKey?: string;
  /** The model requests name when their config names none; default: the first the server lists. */
  model?: string;
  /** Per request, in milliseconds (streams included); default none. */
  timeoutMs?: number;
  /** Extra headers on every request. */
  headers?: Readonly<Record<string, string>>;
  /** A fetch to use instead of the global one. */
  fetch?: typeof fetch;
}

/** A model the server serves: the base model, or a LoRA adapter (with `parent` the base). */
export interface ModelCard {
  id: string;
  ownedBy: string;
  created: number;
  root: string | null;
  parent: string | null;
  maxModelLen: number | null;
}

/** The server answered with an error (`{"error": {message, type, param, code}}`). */
export class ClientError extends Error {
  override name = 'ClientError';
  constructor(
    message: string,
    readonly status: number,
    readonly type: string | null = null,
    readonly param: string | null = null,
    readonly code: string | number | null = null,
  ) {
    super(message);
  }
}

type Json = Record<string, any>;

const DEFAULT_BASE_URL = 'http://127.0.0.1:8000/v1';

function apiRoot(baseURL: string): string {
  const trimmed = baseURL.replace(/\/+$/, '');
  return trimmed.endsWith('/v1') ? trimmed : `${trimmed}/v1`;
}

function finishReasonOf(value: unknown): FinishReason | null {
  if (value === null || value === undefined) return null;
  return value === 'length' || value === 'abort' ? value : 'stop';
}

function usageOf(body: Json | undefined): Usage | null {
  if (body === undefined || body === null || typeof body !== 'object') return null;
  const promptTokens = Number(body['prompt_tokens'] ?? 0);
  const completionTokens = Number(body['completion_tokens'] ?? 0);
  return {
    promptTokens,
    completionTokens,
    totalTokens: Number(body['total_tokens'] ?? promptTokens + completionTokens),
    cachedTokens: Number(body['prompt_tokens_details']?.['cached_tokens'] ?? 0),
  };
}

function logprobsOf(body: Json | null | undefined): TokenLogprobInfo[] | null {
  const content = body?.['content'];
  if (!Array.isArray(content)) return null;
  return content.map((entry: Json) => ({
    token: String(entry['token']),
    logprob: Number(entry['logprob']),
    topLogprobs: ((entry['top_logprobs'] ?? []) as Json[]).map((top) => ({ token: String(top['token']), logprob: Number(top['logprob']) })),
  }));
}

/** The config as an OpenAI/vLLM chat request body (undefined fields drop out of the JSON). */
function requestBody(messages: ChatMessage[], model: string, config: RequestConfig, stream: boolean): Json {
  return {
    model,
    messages,
    stream,
    ...(stream ? { stream_options: { include_usage: true } } : {}),
    max_tokens: config.maxTokens,
    temperature: config.temperature,
    top_p: config.topP,
    top_k: config.topK,
    min_p: config.minP,
    seed: config.seed,
    repetition_penalty: config.repetitionPenalty,
    presence_penalty: config.presencePenalty,
    frequency_penalty: config.frequencyPenalty,
    min_tokens: config.minTokens,
    stop: config.stop,
    stop_token_ids: config.stopTokenIds,
    ignore_eos: config.ignoreEos,
    include_stop_str_in_output: config.includeStopStrInOutput,
    skip_special_tokens: config.skipSpecialTokens,
    logprobs: config.logprobs,
    top_logprobs: config.logprobs ? config.topLogprobs : undefined,
    chat_template_kwargs: config.chatTemplateKwargs,
    structured_outputs: config.structuredOutputs === undefined ? undefined : structuredOutputsField(config.structuredOutputs),
  };
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}

export class Client implements InferBackend {
  readonly baseURL: string;
  private readonly apiKey: string | undefined;
  private readonly fetchImpl: typeof fetch;
  private defaultModel: Promise<string> | null;

  constructor(private readonly options: ClientOptions = {}) {
    this.baseURL = apiRoot(options.baseURL ?? DEFAULT_BASE_URL);
    this.apiKey = options.apiKey ?? process.env['SWIFTLET_API_KEY'];
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.defaultModel = options.model === undefined ? null : Promise.resolve(options.model);
  }

  /** Whether the server answers `/health` with 200. */
  async health(): Promise<boolean> {
    try {
      const response = await this.fetchImpl(`${this.baseURL.replace(/\/v1$/, '')}/health`, { signal: this.signal(undefined) });
      await response.body?.cancel();
      return response.ok;
    } catch {
      return false;
    }
  }

  async models(): Promise<ModelCard[]> {
    const body = (await (await this.send('GET', '/models', undefined, undefined)).json()) as Json;
    return ((body['data'] ?? []) as Json[]).map((model) => ({
      id: String(model['id']),
      ownedBy: String(model['owned_by'] ?? ''),
      created: Number(model['created'] ?? 0),
      root: model['root'] ?? null,
      parent: model['parent'] ?? null,
      maxModelLen: model['max_model_len'] ?? null,
    }));
  }

  /**
   * Every request at once (the server batches them); answers in input order. A malformed
   * request fails the call before anything is sent; a failed one aborts the others.
   */
  async infer(requests: readonly InferRequest[], config: RequestConfig = {}): Promise<InferResponse[]> {
    const conversations = requests.map((request, index) => {
      try {
        return this.messagesOf(request);
      } catch (error) {
        throw error instanceof InferRequestError ? error.withIndex(index) : error;
      }
    });
    const siblings = new AbortController();
    const signal = config.signal === undefined ? siblings.signal : AbortSignal.any([config.signal, siblings.signal]);
    try {
      return await Promise.all(requests.map((request, index) => this.chatWith(request, conversations[index] as ChatMessage[], { ...config, signal })));
    } catch (error) {
      siblings.abort();
      throw error;
    }
  }

  /** One answer. `config.signal` aborting rejects with its reason (the Engine returns the partial answer instead). */
  async chat(request: InferRequest, config: RequestConfig = {}): Promise<InferResponse> {
    return this.chatWith(request, this.messagesOf(request), config);
  }

  private async chatWith(request: InferRequest, messages: ChatMessage[], config: RequestConfig): Promise<InferResponse> {
    const model = await this.modelFor(config);
    const response = await this.send('POST', '/chat/completions', requestBody(messages, model, config, false), config.signal);
    const body = (await response.json()) as Json;
    const choice = (body['choices'] as Json[] | undefined)?.[0];
    if (choice === undefined) throw new ClientError('the server answered without choices', response.status);
    const text = String(choice['message']?.['content'] ?? '');
    return {
      response: text,
      ...withAnswer(request, messages, text),
      finishReason: finishReasonOf(choice['finish_reason']) ?? 'stop',
      usage: usageOf(body['usage']) ?? { promptTokens: 0, completionTokens: 0, totalTokens: 0, cachedTokens: 0 },
      logprobs: logprobsOf(choice['logprobs']),
    };
  }

  /** Embeddings from the server's /v1/embeddings (see Engine.embed). */
  async embed(input: EmbedInput, options: EmbedOptions = {}): Promise<EmbedResult> {
    const model = await this.modelFor(options);
    const response = await this.send('POST', '/embeddings', embeddingsBody(input, options, model), options.signal);
    return embedResultOf((await response.json()) as Json);
  }

  /**
   * The answer as the server streams it. `usage` is exact in the last chunk (before it,
   * completionTokens counts chunks). `config.signal` ends the stream with finishReason 'abort'.
   */
  async *chatStream(request: InferRequest, config: RequestConfig = {}): AsyncGenerator<InferStreamChunk> {
    const messages = this.messagesOf(request);
    const model = await this.modelFor(config);
    const response = await this.send('POST', '/chat/completions', requestBody(messages, model, config, true), config.signal);
    if (response.body === null) throw new ClientError('the server sent an empty stream', response.status);
    let text = '';
    let numChunks = 0;
    let held: InferStreamChunk | null = null;
    const chunkOf = (delta: string, finishReason: FinishReason | null, usage: Usage, logprobs: TokenLogprobInfo[] | null): InferStreamChunk => ({
      delta,
      response: text,
      finishReason,
      ...withAnswer(request, messages, text),
      usage,
      logprobs,
    });
    try {
      for await (const data of sseData(response.body)) {
        let event: Json;
        try {
          event = JSON.parse(data) as Json;
        } catch {
          throw new ClientError(`the server sent a stream event that is not JSON: ${data.slice(0, 200)}`, response.status);
        }
        if (event['error'] !== undefined) throw errorOf(event, response.status);
        const usage = usageOf(event['usage']);
        if (usage !== null && held !== null) {
          // NOTE: the usage chunk follows the finishing one; the caller gets both as one last chunk.
          yield { ...held, usage };
          held = null;
          continue;
        }
        const choice = (event['choices'] as Json[] | undefined)?.[0];
        if (choice === undefined) continue;
        const delta = String(choice['delta']?.['content'] ?? '');
        text += delta;
        const logprobs = logprobsOf(choice['logprobs']);
        numChunks += logprobs?.length ?? (delta === '' ? 0 : 1);
        const finishReason = finishReasonOf(choice['finish_reason']);
        const chunk = chunkOf(delta, finishReason, usage ?? { promptTokens: 0, completionTokens: numChunks, totalTokens: numChunks, cachedTokens: 0 }, logprobs);
        if (finishReason !== null) held = chunk;
        else yield chunk;
      }
    } catch (error) {
      if (!(config.signal?.aborted && isAbortError(error))) throw error;
      held = null;
      yield chunkOf('', 'abort', { promptTokens: 0, completionTokens: numChunks, totalTokens: numChunks, cachedTokens: 0 }, null);
      return;
    }
    if (held !== null) yield held;
  }

  /** chatStream under the InferBackend name (the Engine's). */
  inferStream(request: InferRequest, config: RequestConfig = {}): AsyncGenerator<InferStreamChunk> {
    return this.chatStream(request, config);
  }

  private messagesOf(request: InferRequest): ChatMessage[] {
    try {
      return requestMessages(request);
    } catch (error) {
      if (error instanceof ConversationError) throw new InferRequestError(error.message, 'messages', null, { cause: error });
      throw error;
    }
  }

  private modelFor(config: RequestConfig): Promise<string> {
    if (config.model !== undefined) return Promise.resolve(config.model);
    this.defaultModel ??= this.models().then((models) => {
      const first = models[0];
      if (first === undefined) throw new ClientError('the server lists no models', 200);
      return first.id;
    });
    // NOTE: a failed lookup is not cached, so a server that comes up later is found.
    return this.defaultModel.catch((error: unknown) => {
      this.defaultModel = null;
      throw error;
    });
  }

  private signal(signal: AbortSignal | undefined): AbortSignal | undefined {
    const timeout = this.options.timeoutMs === undefined ? undefined : AbortSignal.timeout(this.options.timeoutMs);
    if (timeout === undefined) return signal;
    return signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
  }

  private async send(method: 'GET' | 'POST', path: string, body: Json | undefined, signal: AbortSignal | undefined): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json', ...this.options.headers };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (this.apiKey) headers['Authorization'] = `Bearer ${this.apiKey}`;
    const url = `${this.baseURL}${path}`;
    let response: Response;
    try {
      response = await this.fetchImpl(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: this.signal(signal),
      });
    } catch (error) {
      if (isAbortError(error)) throw error;
      const cause = (error as Error & { cause?: Error }).cause;
      throw new Error(`cannot reach ${url}: ${cause?.message ?? (error as Error).message}`, { cause: error });
    }
    if (!response.ok) {
      const text = await response.text();
      let parsed: Json | null = null;
      try {
        parsed = JSON.parse(text) as Json;
      } catch {
        // not JSON: the status line says enough
      }
      throw parsed?.['error'] !== undefined
        ? errorOf(parsed, response.status)
        : new ClientError(`${method} ${url}: ${response.status} ${response.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`, response.status);
    }
    return response;
  }
}

function errorOf(body: Json, status: number): ClientError {
  const error = (body['error'] ?? {}) as Json;
  const message = typeof error === 'string' ? error : String(error['message'] ?? 'unknown error');
  return new ClientError(message, status, error['type'] ?? null, error['param'] ?? null, error['code'] ?? null);
}
