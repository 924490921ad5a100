/**
 * Sampling parameters with vLLM's names, defaults and meanings, validated once at creation.
 * Messages and `param` use the OpenAI/vLLM wire names (snake_case), since they reach clients.
 */
import { InvalidRequestError } from './errors.js';
import type { StructuredOutputSpec } from './structured/spec.js';

export interface SamplingParamsInit {
  /** Independent samples for one prompt. */
  n?: number;
  /** 0 means greedy. */
  temperature?: number;
  topP?: number;
  /** 0 or -1: disabled. */
  topK?: number;
  minP?: number;
  /** Unseeded requests get a random seed at creation. */
  seed?: number | null;
  repetitionPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** null: up to max_model_len. */
  maxTokens?: number | null;
  minTokens?: number;
  stop?: string | readonly string[] | null;
  stopTokenIds?: readonly number[] | null;
  ignoreEos?: boolean;
  includeStopStrInOutput?: boolean;
  /** null: none; 0: the sampled token's logprob; k: also the top k. */
  logprobs?: number | null;
  promptLogprobs?: number | null;
  skipSpecialTokens?: boolean;
  /** token id -> additive bias in [-100, 100], as OpenAI's logit_bias (keys may be strings). */
  logitBias?: Readonly<Record<string, number>> | ReadonlyMap<number, number> | null;
  /** Structured outputs: the output is constrained to this grammar, enforced as a token mask; null: free text. */
  structuredOutput?: StructuredOutputSpec | null;
}

/** Fields a model's generation_config.json may default (see model/generation-config.ts). */
export type SamplingDefaults = Pick<
  SamplingParamsInit,
  'temperature' | 'topP' | 'topK' | 'minP' | 'repetitionPenalty' | 'maxTokens'
>;

const MAX_SEED = 2 ** 53;

export class SamplingParams {
  readonly n: number;
  readonly temperature: number;
  readonly topP: number;
  readonly topK: number;
  readonly minP: number;
  /** Always set: the caller's seed, or a random one drawn at creation. */
  readonly seed: number;
  /** Whether the caller chose the seed. */
  readonly isSeeded: boolean;
  /** The seed as SamplingBatch.seeds wants it: u32 (lo, hi). */
  readonly seedWords: readonly [number, number];
  readonly repetitionPenalty: number;
  readonly presencePenalty: number;
  readonly frequencyPenalty: number;
  readonly maxTokens: number | null;
  readonly minTokens: number;
  readonly stop: readonly string[];
  readonly stopTokenIds: readonly number[];
  readonly ignoreEos: boolean;
  readonly includeStopStrInOutput: boolean;
  readonly logprobs: number | null;
  readonly promptLogprobs: number | null;
  readonly skipSpecialTokens: boolean;
  readonly logitBias: ReadonlyMap<number, number> | null;
  readonly structuredOutput: StructuredOutputSpec | null;

  /** `defaults` fill fields the request leaves out (generation_config), before vLLM's own defaults. */
  constructor(init: SamplingParamsInit = {}, defaults: SamplingDefaults = {}) {
    this.n = init.n ?? 1;
    this.temperature = init.temperature ?? defaults.temperature ?? 1.0;
    this.topP = init.topP ?? defaults.topP ?? 1.0;
    this.topK = init.topK ?? defaults.topK ?? 0;
    this.minP = init.minP ?? defaults.minP ?? 0;
    this.isSeeded = init.seed !== undefined && init.seed !== null;
    this.seed = init.seed ?? Math.floor(Math.random() * 2 ** 48);
    this.repetitionPenalty = init.repetitionPenalty ?? defaults.repetitionPenalty ?? 1.0;
    this.presencePenalty = init.presencePenalty ?? 0;
    this.frequencyPenalty = init.frequencyPenalty ?? 0;
    this.maxTokens = init.maxTokens === undefined ? (defaults.maxTokens ?? 16) : init.maxTokens;
    this.minTokens = init.minTokens ?? 0;
    const stop = init.stop ?? [];
    this.stop = typeof stop === 'string' ? [stop] : [...stop];
    this.stopTokenIds = [...(init.stopTokenIds ?? [])];
    this.ignoreEos = init.ignoreEos ?? false;
    this.includeStopStrInOutput = init.includeStopStrInOutput ?? false;
    this.logprobs = init.logprobs ?? null;
    this.promptLogprobs = init.promptLogprobs ?? null;
    this.skipSpecialTokens = init.skipSpecialTokens ?? true;
    this.logitBias = normaliseLogitBias(init.logitBias ?? null);
    this.structuredOutput = init.structuredOutput ?? null;
    this.validate();
    this.seedWords = seedWords(this.seed);
    Object.freeze(this);
  }

  /**
   * The i-th of n samples: n = 1 and seed + i (as vLLM's parallel sampling), so a seeded
   * n > 1 request is reproducible and its samples differ. Prompt logprobs are the parent's,
   * computed once by sample 0.
   */
  child(index: number): SamplingParams {
    return new SamplingParams({
      ...this.toInit(),
      n: 1,
      seed: (this.seed + index) % MAX_SEED,
      promptLogprobs: index === 0 ? this.promptLogprobs : null,
    });
  }

  get isGreedy(): boolean {
    return this.temperature === 0;
  }

  get hasPenalties(): boolean {
    return this.repetitionPenalty !== 1 || this.presencePenalty !== 0 || this.frequencyPenalty !== 0;
  }

  toInit(): SamplingParamsInit {
    return {
      n: this.n,
      temperature: this.temperature,
      topP: this.topP,
      topK: this.topK,
      minP: this.minP,
      seed: this.seed,
      repetitionPenalty: this.repetitionPenalty,
      presencePenalty: this.presencePenalty,
      frequencyPenalty: this.frequencyPenalty,
      maxTokens: this.maxTokens,
      minTokens: this.minTokens,
      stop: this.stop,
      stopTokenIds: this.stopTokenIds,
      ignoreEos: this.ignoreEos,
      includeStopStrInOutput: this.includeStopStrInOutput,
      logprobs: this.logprobs,
      promptLogprobs: this.promptLogprobs,
      skipSpecialTokens: this.skipSpecialTokens,
      logitBias: this.logitBias,
      structuredOutput: this.structuredOutput,
    };
  }

  private validate(): void {
    requireInt(this.n, 'n', 1);
    requireFinite(this.temperature, 'temperature');
    if (this.temperature < 0) fail('temperature', `must be non-negative, got ${this.temperature}`);
    requireFinite(this.topP, 'top_p');
    if (!(this.topP > 0 && this.topP <= 1)) fail('top_p', `must be in (0, 1], got ${this.topP}`);
    if (!Number.isInteger(this.topK) || this.topK < -1) {
      fail('top_k', `must be -1 or 0 (disable) or a positive integer, got ${this.topK}`);
    }
    requireFinite(this.minP, 'min_p');
    if (this.minP < 0 || this.minP > 1) fail('min_p', `must be in [0, 1], got ${this.minP}`);
    if (!Number.isInteger(this.seed) || Math.abs(this.seed) >= MAX_SEED) {
      fail('seed', `must be a safe integer, got ${this.seed}`);
    }
    requireFinite(this.repetitionPenalty, 'repetition_penalty');
    if (this.repetitionPenalty <= 0) {
      fail('repetition_penalty', `must be greater than zero, got ${this.repetitionPenalty}`);
    }
    for (const [value, param] of [
      [this.presencePenalty, 'presence_penalty'],
      [this.frequencyPenalty, 'frequency_penalty'],
    ] as const) {
      requireFinite(value, param);
      if (value < -2 || value > 2) fail(param, `must be in [-2, 2], got ${value}`);
    }
    if (this.maxTokens !== null) requireInt(this.maxTokens, 'max_tokens', 1);
    requireInt(this.minTokens, 'min_tokens', 0);
    if (this.maxTokens !== null && this.minTokens > this.maxTokens) {
      fail('min_tokens', `must be less than or equal to max_tokens=${this.maxTokens}, got ${this.minTokens}`);
    }
    for (const s of this.stop) {
      if (typeof s !== 'string' || s.length === 0) fail('stop', 'stop strings must be non-empty strings');
    }
    for (const id of this.stopTokenIds) requireInt(id, 'stop_token_ids', 0);
    if (this.logprobs !== null) requireInt(this.logprobs, 'logprobs', 0);
    if (this.promptLogprobs !== null) requireInt(this.promptLogprobs, 'prompt_logprobs', 0);
  }
}

/** The seed as two u32 words (lo, hi), as SamplingBatch.seeds wants them. */
export function seedWords(seed: number): [number, number] {
  const bits = BigInt.asUintN(64, BigInt(seed));
  return [Number(bits & 0xffffffffn), Number(bits >> 32n)];
}

function normaliseLogitBias(
  bias: Readonly<Record<string, number>> | ReadonlyMap<number, number> | null,
): ReadonlyMap<number, number> | null {
  if (bias === null) return null;
  const entries: [unknown, unknown][] = bias instanceof Map ? [...bias.entries()] : Object.entries(bias);
  const out = new Map<number, number>();
  for (const [key, value] of entries) {
    const tokenId = typeof key === 'string' ? Number(key) : key;
    if (typeof tokenId !== 'number' || !Number.isInteger(tokenId) || tokenId < 0) {
      fail('logit_bias', `keys must be token ids (non-negative integers), got ${String(key)}`);
    }
    if (typeof value !== 'number' || !Number.isFinite(value) || value < -100 || value > 100) {
      fail('logit_bias', `values must be in [-100, 100], got ${String(value)} for token ${tokenId}`);
    }
    out.set(tokenId, value);
  }
  return out.size > 0 ? out : null;
}

function requireFinite(value: number, param: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(param, `must be a finite number, got ${value}`);
}

function requireInt(value: number, param: string, min: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    fail(param, `must be an integer >= ${min}, got ${value}`);
  }
}

function fail(param: string, message: string): never {
  throw new InvalidRequestError(`${param} ${message}`, param);
}
