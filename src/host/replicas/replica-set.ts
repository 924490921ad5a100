/**
 * Data-parallel serving: N replica processes (each a whole engine on its own CPU threads or
 * GPUs) behind the calls of ServingEngine, so the server, run-batch and the library Engine
 * use them unchanged. Each request goes to one replica (balance.ts); adapters loaded at run
 * time go to every healthy replica, so any replica can serve any adapter; a replica that dies
 * is left out while the others keep serving.
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { EngineStats } from '../../engine/engine.js';
import type { StructuredOutputSpec } from '../../engine/structured/spec.js';
import { resolveDevice } from '../../runtime/create-runner.js';
import { AdapterError, type AdapterEntry } from '../adapters.js';
import type { RandomWeights } from '../engine-setup.js';
import type { Logger } from '../model-host.js';
import type { ModelOptions } from '../model-options.js';
import { submitEach, sumStats, type ReplicaState } from '../serving.js';
import type { EngineRequest, Submission } from '../serving-engine.js';
import { pickReplica } from './balance.js';
import { cpuPlacements, cudaPlacements, type ReplicaPlacement } from './placement.js';
import { ReplicaProcess } from './replica-process.js';

/** Every replica is out of service; answered as back-pressure (503). */
/** A 503 at the HTTP edge (toOpenAIError reads `status`): the pod is up, but cannot serve now. */
export class NoHealthyReplicaError extends Error {
  override name = 'NoHealthyReplicaError';
  readonly status = 503;
}

/** The adapters the replicas all hold, by name. NOTE: slot is -1: each replica keeps its own slots. */
export class ReplicaAdapters {
  private readonly byName = new Map<string, AdapterEntry>();
  private loadCount = 0;

  constructor(readonly maxLoraRank: number) {}

  list(): AdapterEntry[] {
    return [...this.byName.values()];
  }

  get(name: string): AdapterEntry | undefined {
    return this.byName.get(name);
  }

  add(name: string, path: string): void {
    this.byName.set(name, { name, path, slot: -1, key: `${name}#${++this.loadCount}` });
  }

  remove(name: string): void {
    this.byName.delete(name);
  }
}

function placementsFor(options: ModelOptions, numReplicas: number, device: 'cpu' | 'cuda'): ReplicaPlacement[] {
  return device === 'cpu'
    ? cpuPlacements(numReplicas, options.numThreads ?? availableParallelism())
    : cudaPlacements(numReplicas, options.tensorParallelSize, process.env['CUDA_VISIBLE_DEVICES']);
}

export class ReplicaSet {
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly replicas: readonly ReplicaProcess[],
    readonly adapters: ReplicaAdapters,
  ) {}

  /**
   * Starts every replica (in parallel) and waits for all; one failing to load fails the start.
   * `randomWeights`: a benchmark's named shape instead of options.model's checkpoint.
   */
  static async start(options: ModelOptions, log: Logger, randomWeights: RandomWeights | null = null): Promise<ReplicaSet> {
    const numReplicas = options.dataParallelSize ?? 1;
    const device = resolveDevice(options.device);
    const placements = placementsFor(options, numReplicas, device);
    placements.forEach((placement, index) =>
      log(`replica ${index}: ${placement.cudaVisibleDevices === undefined ? `${placement.numThreads} CPU thread${placement.numThreads === 1 ? '' : 's'}` : `CUDA_VISIBLE_DEVICES=${placement.cudaVisibleDevices}`}`),
    );
    const started = await Promise.allSettled(placements.map((placement, index) => ReplicaProcess.spawn(index, { ...options, device }, placement, randomWeights)));
    const replicas = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed !== undefined) {
      for (const replica of replicas) replica.kill();
      throw failed.reason;
    }
    const adapters = new ReplicaAdapters(options.maxLoraRank);
    for (const { name, path } of options.loraModules) adapters.add(name, path);
    return new ReplicaSet(replicas, adapters);
  }

  get numInFlight(): number {
    return this.replicas.reduce((sum, replica) => sum + replica.numInFlight, 0);
  }

  /** The longest context every replica takes. */
  get maxModelLen(): number {
    return Math.min(...this.replicas.map((replica) => replica.ready.maxModelLen));
  }

  /** Adapters resident at once (the same on every replica). */
  get maxLoras(): number {
    return this.replicas[0]?.ready.maxLoras ?? 0;
  }

  /** For the load log line: what the replicas run on and their KV caches. */
  describe(): string {
    const [first] = this.replicas;
    const blocks = this.replicas.map((replica) => replica.ready.numKvBlocks).join(' + ');
    return `${this.replicas.length} replicas on ${first?.ready.device}; KV cache blocks ${blocks}`;
  }

  /** Queues a request on the replica the balancer picks; throws NoHealthyReplicaError when none is left. */
  submit(request: EngineRequest): Submission {
    if (this.closing !== null) throw new Error('the engine is closed');
    const adapterName = request.adapter?.name ?? null;
    const index = pickReplica(this.replicas.map((replica) => ({
      isHealthy: replica.isHealthy,
      numInFlight: replica.numInFlight,
      kvUsage: replica.kvUsage,
      isRunningAdapter: adapterName !== null && replica.isRunningAdapter(adapterName),
    })));
    const replica = this.replicas[index];
    if (replica === undefined) throw new NoHealthyReplicaError(`no healthy replica (${this.replicaStates().map((state) => `${state.replica}: ${state.reason}`).join('; ')})`);
    const requestId = randomUUID();
    const outputs = replica.submit(requestId, request, adapterName);
    const abort = () => replica.abort(requestId);
    const { signal } = request;
    if (signal?.aborted === true) abort();
    else signal?.addEventListener('abort', abort, { once: true });
    async function* released() {
      try {
        yield* outputs;
      } finally {
        signal?.removeEventListener('abort', abort);
      }
    }
    return { requestId, outputs: released(), abort };
  }

  /** Submits every request or none (see submitEach). */
  submitAll(requests: readonly EngineRequest[], mapError: (error: unknown, index: number) => unknown): Submission[] {
    return submitEach((request) => this.submit(request), requests, mapError);
  }

  /** Loads on every healthy replica, or on none: a replica that refuses undoes the others. */
  async loadAdapter(name: string, path: string): Promise<void> {
    if (this.adapters.get(name)) throw new AdapterError(`adapter '${name}' is already loaded`, 400);
    const healthy = this.healthyReplicas();
    const results = await Promise.allSettled(healthy.map((replica) => replica.loadAdapter(name, path)));
    const refused = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (refused !== undefined) {
      await Promise.allSettled(healthy.filter((_, index) => results[index]?.status === 'fulfilled').map((replica) => replica.unloadAdapter(name)));
      throw refused.reason;
    }
    this.adapters.add(name, path);
  }

  /** Unloads from every healthy replica; each aborts its requests for the adapter at once. */
  async unloadAdapter(name: string): Promise<void> {
    if (!this.adapters.get(name)) throw new AdapterError(`adapter '${name}' is not loaded`, 404);
    this.adapters.remove(name);
    await Promise.all(this.healthyReplicas().map((replica) => replica.unloadAdapter(name)));
  }

  /**
   * Rejects with InvalidRequestError when the spec does not compile. One replica compiles it:
   * every replica has the same vocabulary, so its verdict is theirs (the one a request lands
   * on compiles it again, into its own cache).
   */
  compileStructuredOutput(spec: StructuredOutputSpec): Promise<void> {
    const replica = this.healthyReplicas()[0];
    if (replica === undefined) return Promise.reject(new NoHealthyReplicaError(`no healthy replica to compile the grammar`));
    return replica.compileStructuredOutput(spec);
  }

  abortAll(): void {
    for (const replica of this.replicas) replica.abortAll();
  }

  stats(): EngineStats {
    return sumStats(this.replicas.map((replica) => replica.stats));
  }

  replicaStates(): ReplicaState[] {
    const adapterNames = this.adapters.list().map((entry) => entry.name);
    return this.replicas.map((replica) => ({
      replica: replica.index,
      pid: replica.pid,
      isHealthy: replica.isHealthy,
      reason: replica.reason,
      numInFlight: replica.numInFlight,
      stats: replica.stats,
      adapterNames: replica.isHealthy ? adapterNames : [],
    }));
  }

  /** Each replica aborts what it runs, settles and exits; later submits throw. */
  close(): Promise<void> {
    this.closing ??= Promise.all(this.replicas.map((replica) => replica.stop())).then(() => undefined);
    return this.closing;
  }

  /** Ends the replica processes at once (the caller has settled its requests). */
  dispose(): void {
    for (const replica of this.replicas) replica.kill();
  }

  private healthyReplicas(): ReplicaProcess[] {
    return this.replicas.filter((replica) => replica.isHealthy);
  }
}
