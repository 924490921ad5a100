/**
 * The library's in-process engine, SWIFT's PtEngine/VllmEngine workflow in TypeScript:
 *
 *   const engine = await Engine.load({ model: 'Qwen/Qwen2.5-0.5B-Instruct' });
 *   const [answer] = await engine.infer([{ query: 'hi' }], { maxTokens: 64, temperature: 0 });
 *
 * Requests go through the model's chat template into the host's ServingEngine (the request
 * path the server shares); everything passed to one infer() call is submitted at once, so it
 * runs batched.
 */
import { flattenContent, type ChatMessage } from '../chat/conversation.js';
import type { ChatTemplate } from '../chat/template.js';
import { DEFAULT_MODEL_OPTIONS as defaults, parseBytes, type ModelOptions } from '../host/model-options.js';
import type { EngineStats } from '../engine/engine.js';
import type { TokenLogprob } from '../engine/output.js';
import { SamplingParams } from '../engine/sampling-params.js';
import { speculativeConfigFrom } from '../engine/speculative/config.js';
import { ModelHost, type Logger } from '../host/model-host.js';
import type { EngineRequest, Submission } from '../host/serving-engine.js';
import type { PoolingMode } from '../model/pooling-config.js';
import type { LmHeadDtype } from '../runtime/lm-head-dtype.js';
import type { Tokenizer } from '../model/tokenizer.js';
import { createEmbeddings } from '../host/embeddings-service.js';
import { InvalidRequestError } from '../engine/errors.js';
import type { StructuredOutputSpec } from '../engine/structured/spec.js';
import { structuredOutputsFieldSpec } from '../protocol/structured-output-request.js';
import { structuredOutputsField } from './structured-outputs.js';
import { requestMessages, withAnswer } from './conversation.js';
import { embeddingsBody, embedResultOf, type EmbedInput, type EmbedOptions, type EmbedResult } from './embeddings.js';
import { asInferRequestError, InferRequestError } from './errors.js';
import type {
  FinishReason,
  InferBackend,
  InferRequest,
  InferResponse,
  InferStreamChunk,
  RequestConfig,
  TokenLogprobInfo,
  Usage,
} from './types.js';

/** How to load a model; what is left out takes the same default as the CLI flag of that name. */
export interface EngineOptions {
  /** A checkpoint directory, a hub id or a model type. */
  model?: string;
  /** LoRA adapters to load, `{ name: path }` or `[{ name, path }]`; pick one per request with `model`. */
  loraModules?: Readonly<Record<string, string>> | readonly { name: string; path: string }[];
  device?: 'cpu' | 'cuda' | 'auto';
  /** Longest prompt + answer; default: the model's, capped by the KV cache. */
  maxModelLen?: number;
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
  /** KV cache size in bytes or as text (`'512MiB'`); CPU default 1 GiB. */
  kvCacheMemory?: number | string;
  gpuMemoryUtilization?: number;
  tensorParallelSize?: number;
  maxLoras?: number;
  maxLoraRank?: number;
  enablePrefixCaching?: boolean;
  enableChunkedPrefill?: boolean;
  /** A Jinja file or a built-in template name (chatml, qwen, llama3) instead of the model's. */
  chatTemplate?: string;
  /** Sampling defaults from generation_config.json (default true). */
  useGenerationConfig?: boolean;
  numThreads?: number;
  /** CPU: 'int8' or 'int4' quantizes the lm_head at load, reading fewer bytes per token (not faster on AVX2 hosts: docs/benchmarks.md) (default 'auto': as stored, logprobs as transformers'). */
  lmHeadDtype?: LmHeadDtype;
  /** How embed() pools: 'last' or 'mean' (default: the checkpoint's sentence-transformers config, else 'last'). */
  pooling?: PoolingMode;
  /** The base model's name in responses and for `model` in requests; default: `model`. */
  servedModelName?: string;
  /**
   * Prompt-lookup speculative decoding, as vLLM's speculative_config:
   * `{ method: 'ngram', num_speculative_tokens: 4, prompt_lookup_max: 3 }`. Greedy requests only.
   */
  speculativeConfig?: Readonly<Record<string, unknown>>;
  /** Progress messages while loading (default: none). */
  log?: Logger;
}

/** A request rendered for the engine, with what its answers are built from. */
interface Prepared {
  request: InferRequest;
  messages: ChatMessage[];
  engineRequest: EngineRequest;
  topLogprobs: number;
}

/** An error from one request of an infer() list, as the caller sees it. */
function tagged(error: unknown, index: number): unknown {
  const converted = asInferRequestError(error);
  return converted instanceof InferRequestError ? converted.withIndex(index) : converted;
}

export function modelOptionsOf(options: EngineOptions): ModelOptions {
  const loraModules = options.loraModules === undefined
    ? []
    : Array.isArray(options.loraModules)
      ? options.loraModules.map(({ name, path }) => ({ name, path }))
      : Object.entries(options.loraModules as Record<string, string>).map(([name, path]) => ({ name, path }));
  const kvCacheMemory = options.kvCacheMemory;
  const defined = <T>(value: T | undefined, fallback: T): T => (value === undefined ? fallback : value);
  return {
    model: options.model,
    servedModelName: options.servedModelName,
    loraModules,
    maxLoras: defined(options.maxLoras, Math.max(defaults.maxLoras, loraModules.length)),
    maxLoraRank: defined(options.maxLoraRank, defaults.maxLoraRank),
    maxModelLen: options.maxModelLen,
    device: defined(options.device, defaults.device),
    tensorParallelSize: defined(options.tensorParallelSize, defaults.tensorParallelSize),
    maxNumSeqs: defined(options.maxNumSeqs, defaults.maxNumSeqs),
    maxNumBatchedTokens: defined(options.maxNumBatchedTokens, defaults.maxNumBatchedTokens),
    kvCacheBytes: typeof kvCacheMemory === 'string' ? parseBytes(kvCacheMemory) : kvCacheMemory,
    gpuMemoryUtilization: defined(options.gpuMemoryUtilization, defaults.gpuMemoryUtilization),
    enablePrefixCaching: defined(options.enablePrefixCaching, defaults.enablePrefixCaching),
    enableChunkedPrefill: defined(options.enableChunkedPrefill, defaults.enableChunkedPrefill),
    useGenerationConfig: defined(options.useGenerationConfig, defaults.useGenerationConfig),
    chatTemplate: options.chatTemplate,
    numThreads: options.numThreads,
    ...(options.lmHeadDtype !== undefined ? { lmHeadDtype: options.lmHeadDtype } : {}),
    pooling: options.pooling,
    // NOTE: a library caller hands over whole lists at once; the queue must take them.
    maxWaiting: Number.POSITIVE_INFINITY,
    speculativeConfig: options.speculativeConfig === undefined ? null : speculativeConfigFrom(options.speculativeConfig),
  };
}

export class Engine implements InferBackend {
  /** Wraps a loaded ModelHost (the CLI's way in); most callers want Engine.load(). */
  constructor(readonly host: ModelHost) {}

  static async load(options: EngineOptions = {}): Promise<Engine> {
    return new Engine(await ModelHost.load(modelOptionsOf(options), options.log));
  }

  get chatTemplate(): ChatTemplate {
    return this.host.chatTemplate;
  }

  get tokenizer(): Tokenizer {
    return this.host.tokenizer;
  }

  /** The base model's name (what `model` selects besides adapter names). */
  get modelName(): string {
    return this.host.servedModelName;
  }

  get modelDir(): string {
    return this.host.modelDir;
  }

  get maxModelLen(): number {
    return this.host.maxModelLen;
  }

  get adapterNames(): string[] {
    return this.host.adapters.list().map((adapter) => adapter.name);
  }

  loadAdapter(name: string, path: string): void {
    if (name === this.modelName) throw new InferRequestError(`'${name}' is the base model's name`, 'model');
    this.host.localServing().adapters.load(name, path);
  }

  /** Requests still running with the adapter end at once with finishReason 'abort', the server's on the same host too. */
  unloadAdapter(name: string): void {
    this.host.localServing().unloadAdapter(name);
  }

  /** The prompt text a request becomes (what the model sees). */
  applyChatTemplate(request: InferRequest, options: { addGenerationPrompt?: boolean; chatTemplateKwargs?: Readonly<Record<string, unknown>> } = {}): string {
    try {
      return this.chatTemplate.render(flattenContent(requestMessages(request)), {
        addGenerationPrompt: options.addGenerationPrompt ?? true,
        kwargs: options.chatTemplateKwargs,
      });
    } catch (error) {
      throw asInferRequestError(error);
    }
  }

  /** Answers every request; all are submitted together, so they run batched. Results in input order. */
  async infer(requests: readonly InferRequest[], config: RequestConfig = {}): Promise<InferResponse[]> {
    const structuredOutput = await this.structuredOutputOf(config);
    const prepared = requests.map((request, index) => {
      try {
        return this.prepare(request, config, structuredOutput);
      } catch (error) {
        throw tagged(error, index);
      }
    });
    const submissions = this.host.serving.submitAll(prepared.map((p) => p.engineRequest), tagged);
    try {
      return await Promise.all(prepared.map((p, index) => this.collect(p, submissions[index] as Submission)));
    } catch (error) {
      for (const submission of submissions) submission.abort();
      throw error;
    }
  }

  /** One request's answer. */
  async chat(request: InferRequest, config: RequestConfig = {}): Promise<InferResponse> {
    const [response] = await this.infer([request], config);
    return response as InferResponse;
  }

  /**
   * The answer as it is generated. Leaving the loop early (break, return, throw) aborts the
   * request; so does `config.signal`, which ends the stream with finishReason 'abort'.
   */
  async *inferStream(request: InferRequest, config: RequestConfig = {}): AsyncGenerator<InferStreamChunk> {
    let prepared: Prepared;
    let submission: Submission;
    try {
      prepared = this.prepare(request, config, await this.structuredOutputOf(config));
      submission = this.host.serving.submit(prepared.engineRequest);
    } catch (error) {
      throw asInferRequestError(error);
    }
    yield* this.chunks(prepared, submission);
  }

  /**
   * Embeddings of texts or token-id prompts: the model's final hidden states pooled as the
   * host says (`pooling` option, or the checkpoint's sentence-transformers config), unit length.
   */
  async embed(input: EmbedInput, options: EmbedOptions = {}): Promise<EmbedResult> {
    try {
      return embedResultOf(await createEmbeddings(this.host, embeddingsBody(input, options, options.model), options.signal));
    } catch (error) {
      throw asInferRequestError(error);
    }
  }

  stats(): EngineStats {
    return this.host.serving.stats();
  }

  /**
   * Aborts whatever still runs on the host (the server's requests too, when one shares it),
   * waits for the engine to settle, frees the model.
   */
  close(): Promise<void> {
    return this.host.close();
  }

  /** The config's structuredOutputs, compiled (cached), or null; InferRequestError when it does not compile. */
  private async structuredOutputOf(config: RequestConfig): Promise<StructuredOutputSpec | null> {
    if (config.structuredOutputs === undefined) return null;
    const param = 'structured_outputs';
    try {
      const spec = structuredOutputsFieldSpec(structuredOutputsField(config.structuredOutputs), param);
      await this.host.serving.compileStructuredOutput(spec);
      return spec;
    } catch (error) {
      if (error instanceof InvalidRequestError) throw new InferRequestError(error.message, param, null, { cause: error });
      throw asInferRequestError(error);
    }
  }

  private prepare(request: InferRequest, config: RequestConfig, structuredOutput: StructuredOutputSpec | null): Prepared {
    const messages = requestMessages(request);
    const flat = flattenContent(messages);
    const { chatInput } = this.host.promptContext();
    // NOTE: a template already wrote every special token, so none are added (as vLLM).
    const promptTokenIds =
      chatInput?.(flat, true)?.ids ??
      this.tokenizer.encode(this.chatTemplate.render(flat, { addGenerationPrompt: true, kwargs: config.chatTemplateKwargs }), { addSpecialTokens: false });
    const adapter = this.host.resolveModel(config.model);
    if (adapter === undefined) {
      throw new InferRequestError(`no model or adapter named '${config.model}' (have: ${[this.modelName, ...this.adapterNames].join(', ')})`, 'model');
    }
    const params = this.samplingParams(config, promptTokenIds.length, structuredOutput);
    const engineRequest: EngineRequest = { promptTokenIds, params, adapter, signal: config.signal };
    return { request, messages, engineRequest, topLogprobs: params.logprobs ?? 0 };
  }

  private samplingParams(config: RequestConfig, numPromptTokens: number, structuredOutput: StructuredOutputSpec | null): SamplingParams {
    const room = this.maxModelLen - numPromptTokens;
    if (room <= 0) {
      throw new InferRequestError(
        `the prompt has ${numPromptTokens} tokens, leaving no room for an answer in the model's context of ${this.maxModelLen}`,
        'messages',
      );
    }
    if (config.maxTokens !== undefined && config.maxTokens > room) {
      throw new InferRequestError(
        `the prompt (${numPromptTokens} tokens) and maxTokens (${config.maxTokens}) exceed the model's context of ${this.maxModelLen}`,
        'max_tokens',
      );
    }
    const defaults = { ...this.host.samplingDefaults };
    const maxTokens = config.maxTokens ?? Math.min(defaults.maxTokens ?? room, room);
    return new SamplingParams(
      {
        maxTokens,
        temperature: config.temperature,
        topP: config.topP,
        topK: config.topK,
        minP: config.minP,
        seed: config.seed ?? null,
        repetitionPenalty: config.repetitionPenalty,
        presencePenalty: config.presencePenalty,
        frequencyPenalty: config.frequencyPenalty,
        minTokens: config.minTokens,
        stop: config.stop ?? null,
        stopTokenIds: config.stopTokenIds ?? null,
        ignoreEos: config.ignoreEos,
        includeStopStrInOutput: config.includeStopStrInOutput,
        skipSpecialTokens: config.skipSpecialTokens,
        logprobs: config.logprobs ? (config.topLogprobs ?? 0) : null,
        structuredOutput,
      },
      defaults,
    );
  }

  /** NOTE: leaving the loop early ends the submission's outputs, which aborts the request. */
  private async *chunks(prepared: Prepared, submission: Submission): AsyncGenerator<InferStreamChunk> {
    let response = '';
    let finishReason: FinishReason | null = null;
    const numPromptTokens = prepared.engineRequest.promptTokenIds.length;
    const usage: Usage = { promptTokens: numPromptTokens, completionTokens: 0, totalTokens: numPromptTokens, cachedTokens: 0 };
    for await (const output of submission.outputs) {
      const out = output.outputs[0];
      const delta = out?.text ?? '';
      response += delta;
      finishReason = out?.finishReason ?? (output.finished ? 'abort' : null);
      usage.completionTokens = output.numCompletionTokens;
      usage.totalTokens = usage.promptTokens + usage.completionTokens;
      usage.cachedTokens = output.numCachedPromptTokens;
      yield {
        delta,
        response,
        finishReason,
        ...withAnswer(prepared.request, prepared.messages, response),
        usage: { ...usage },
        tokenIds: [...(out?.tokenIds ?? [])],
        logprobs: out?.logprobs ? this.renderLogprobs(out.logprobs, prepared.topLogprobs) : null,
      };
    }
  }

  private async collect(prepared: Prepared, submission: Submission): Promise<InferResponse> {
    let last: InferStreamChunk | null = null;
    const tokenIds: number[] = [];
    let logprobs: TokenLogprobInfo[] | null = null;
    for await (const chunk of this.chunks(prepared, submission)) {
      last = chunk;
      tokenIds.push(...(chunk.tokenIds ?? []));
      if (chunk.logprobs !== null) (logprobs ??= []).push(...chunk.logprobs);
    }
    if (last === null) throw new Error('the engine ended a request without output');
    return {
      response: last.response,
      history: last.history,
      messages: last.messages,
      finishReason: last.finishReason ?? 'abort',
      usage: last.usage,
      tokenIds,
      logprobs,
    };
  }

  private renderLogprobs(entries: readonly TokenLogprob[], numTop: number): TokenLogprobInfo[] {
    const name = (tokenId: number) => this.tokenizer.decodeToken(tokenId);
    return entries.map((entry) => ({
      token: name(entry.tokenId),
      tokenId: entry.tokenId,
      logprob: entry.logprob,
      topLogprobs: entry.top.slice(0, numTop).map(([tokenId, logprob]) => ({ token: name(tokenId), tokenId, logprob })),
    }));
  }
}
