/**
 * The one request path of a host: a runner, the batching engine over it, its LoRA adapters and
 * the requests in flight. The library Engine, the OpenAI service (server and run-batch) and
 * bench all submit here, so unloading an adapter or closing the host aborts every request it
 * concerns, whichever of them submitted it.
 */
import { randomUUID } from 'node:crypto';
import { LLMEngine, type EngineStats } from '../engine/engine.js';
import type { EngineTokenizer } from '../engine/engine-tokenizer.js';
import type { RequestOutput } from '../engine/output.js';
import type { PoolingMode } from '../model/pooling-config.js';
import type { SamplingParams } from '../engine/sampling-params.js';
import type { StructuredOutputSpec } from '../engine/structured/spec.js';
import type { ModelRunner } from '../runtime/types.js';
import { AdapterRegistry, type AdapterEntry } from './adapters.js';
import { engineFor, runnerFor, type EngineWeights } from './engine-setup.js';
import type { ModelOptions } from './model-options.js';
import { submitEach, type ReplicaState } from './serving.js';

export interface EngineRequest {
  promptTokenIds: readonly number[];
  params: SamplingParams;
  /** What ModelHost.resolveModel found for the request's `model`; null: the base model. */
  adapter: AdapterEntry | null;
  /** Firing it ends the request with finishReason 'abort'. */
  signal?: AbortSignal;
  /** An embedding request (the engine's AddRequest.pooling). */
  pooling?: PoolingMode;
}

export interface Submission {
  readonly requestId: string;
  /** The engine's delta outputs, the last one `finished`; leaving the loop early ends the request. Read once. */
  readonly outputs: AsyncIterable<RequestOutput>;
  /** Ends the request, whether or not its outputs are being read; the outputs then end with 'abort'. */
  abort(): void;
}

interface InFlight {
  adapter: AdapterEntry | null;
  /** Undoes the signal listener. */
  release: () => void;
}

export class ServingEngine {
  /** Engine request id -> what it runs with, from submit() until it ends or is aborted. */
  private readonly inFlight = new Map<string, InFlight>();
  private closing: Promise<void> | null = null;

  private constructor(
    readonly runner: ModelRunner,
    readonly engine: LLMEngine,
    readonly adapters: AdapterRegistry,
  ) {}

  static async start(weights: EngineWeights, tokenizer: EngineTokenizer, options: ModelOptions): Promise<ServingEngine> {
    const runner = await runnerFor(weights, options);
    return new ServingEngine(runner, engineFor(runner, tokenizer, options), new AdapterRegistry(runner, options.maxLoraRank));
  }

  /** Requests submitted here whose outputs have not ended and that were not aborted. */
  get numInFlight(): number {
    return this.inFlight.size;
  }

  /** Adapters resident at once. */
  get maxLoras(): number {
    return this.runner.maxLoras;
  }

  stats(): EngineStats {
    return this.engine.stats();
  }

  /** One engine in this process: no replica label, healthy while it is not closed and its runner can run steps. */
  replicaStates(): ReplicaState[] {
    const reason = this.runner.outOfService?.() ?? null;
    return [{
      replica: null,
      pid: process.pid,
      isHealthy: this.closing === null && reason === null,
      reason,
      numInFlight: this.numInFlight,
      stats: this.stats(),
      adapterNames: this.adapters.list().map((entry) => entry.name),
    }];
  }

  loadAdapter(name: string, path: string): AdapterEntry {
    return this.adapters.load(name, path);
  }

  /**
   * Queues a request. Throws at once what the engine rejects (InvalidRequestError,
   * QueueFullError); an already fired signal still gives outputs, ending with 'abort'.
   */
  submit(request: EngineRequest): Submission {
    if (this.closing !== null) throw new Error('the engine is closed');
    const { adapter, signal } = request;
    const requestId = randomUUID();
    const stream = this.engine.add({
      requestId,
      promptTokenIds: request.promptTokenIds,
      params: request.params,
      adapterSlot: adapter?.slot ?? -1,
      adapterKey: adapter?.key,
      ...(request.pooling ? { pooling: request.pooling } : {}),
    });
    const abort = () => this.end(requestId);
    this.inFlight.set(requestId, { adapter, release: () => signal?.removeEventListener('abort', abort) });
    if (signal?.aborted === true) abort();
    else signal?.addEventListener('abort', abort, { once: true });
    return { requestId, outputs: this.tracked(requestId, stream), abort };
  }

  /** Submits every request or none (see submitEach). */
  submitAll(requests: readonly EngineRequest[], mapError: (error: unknown, index: number) => unknown): Submission[] {
    return submitEach((request) => this.submit(request), requests, mapError);
  }

  /**
   * Unloads an adapter (AdapterError 404 when none has the name); its requests in flight end
   * at once with 'abort'. NOTE: the engine applies aborts before its next step and the runner
   * applies slot changes after the step in flight, so no step runs with an unloaded slot.
   */
  unloadAdapter(name: string): void {
    const entry = this.adapters.get(name);
    for (const [requestId, inFlight] of this.inFlight) if (inFlight.adapter === entry) this.end(requestId);
    this.adapters.unload(name);
  }

  /** Compiles (and caches) a structured-output spec; rejects with InvalidRequestError when it does not compile. */
  async compileStructuredOutput(spec: StructuredOutputSpec): Promise<void> {
    await this.engine.compileStructuredOutput(spec);
  }

  abortAll(): void {
    for (const requestId of this.inFlight.keys()) this.end(requestId);
  }

  /** Aborts whatever still runs, waits for the engine to settle, frees the runner; later submits throw. */
  close(): Promise<void> {
    this.closing ??= this.settleAndDispose();
    return this.closing;
  }

  /** Frees the runner at once (the caller knows no step is in flight). */
  dispose(): void {
    this.runner.dispose();
  }

  private async settleAndDispose(): Promise<void> {
    this.abortAll();
    // NOTE: a step in flight finishes before its aborts apply; the runner must outlive it.
    while (this.engine.hasUnfinished) await new Promise((resolve) => setTimeout(resolve, 2));
    this.runner.dispose();
  }

  private end(requestId: string): void {
    this.inFlight.get(requestId)?.release();
    this.inFlight.delete(requestId);
    this.engine.abort(requestId);
  }

  private async *tracked(requestId: string, stream: AsyncIterable<RequestOutput>): AsyncGenerator<RequestOutput> {
    try {
      yield* stream;
    } finally {
      this.end(requestId);
    }
  }
}
