/**
 * The front process's handle on one replica child: spawns it, relays requests and adapter
 * calls over IPC, and turns its outputs back into request streams. When the child exits
 * unasked (a crash, the OOM killer, kill -9) the replica turns unhealthy: its requests in
 * flight fail with ReplicaFailedError and the balancer sends it nothing more. It is not
 * restarted: a restart would load the model again while serving, which an orchestrator
 * (Kubernetes restarting the pod on /health) does better.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { InvalidRequestError, QueueFullError } from '../../engine/errors.js';
import type { RequestOutput } from '../../engine/output.js';
import { RequestStream } from '../../engine/request-stream.js';
import type { StructuredOutputSpec } from '../../engine/structured/spec.js';
import type { EngineRequest } from '../serving-engine.js';
import { AdapterError } from '../adapters.js';
import type { RandomWeights } from '../engine-setup.js';
import type { ModelOptions } from '../model-options.js';
import type { ReplicaPlacement } from './placement.js';
import type { FromReplica, ReplicaReady, ReplicaStats, ToReplica, WireError } from './replica-messages.js';

const REPLICA_MAIN = fileURLToPath(new URL('./replica-main.js', import.meta.url));
/** A replica asked to stop gets this long to settle before it is killed. */
const STOP_WAIT_MS = 10_000;

/** A replica's process ended while it had work (or before it was ready). */
export class ReplicaFailedError extends Error {
  override name = 'ReplicaFailedError';
}

/** Rebuilds the engine and adapter errors a replica reports, so callers map them as they would in process. */
function fromWireError(error: WireError): Error {
  switch (error.name) {
    case 'QueueFullError':
      return new QueueFullError(error.numWaiting ?? 0, error.maxWaiting ?? 0);
    case 'RequestTooLongError':
    case 'InvalidRequestError':
      return new InvalidRequestError(error.message, error.param ?? null);
    case 'AdapterError':
      return new AdapterError(error.message, error.status === 404 ? 404 : 400);
    default:
      return new ReplicaFailedError(error.message);
  }
}

interface PendingCall {
  resolve: () => void;
  reject: (error: Error) => void;
}

export class ReplicaProcess {
  private readonly streams = new Map<string, { stream: RequestStream; adapterName: string | null }>();
  private readonly calls = new Map<number, PendingCall>();
  private nextCallId = 0;
  private failure: string | null = null;
  private isStopping = false;
  private readonly exited: Promise<void>;

  private constructor(
    readonly index: number,
    private readonly child: ChildProcess,
    readonly ready: ReplicaReady,
    private latestStats: ReplicaStats,
  ) {
    child.on('message', (message: FromReplica) => this.onMessage(message));
    // NOTE: a send to a dying child fails here; its exit, which follows, settles its requests.
    child.on('error', () => {});
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
      this.onExit(code, signal);
      resolve();
    }));
  }

  /** Starts the child and resolves once its model is loaded; rejects with its load error. */
  static spawn(index: number, options: ModelOptions, placement: ReplicaPlacement, randomWeights: RandomWeights | null): Promise<ReplicaProcess> {
    const env: NodeJS.ProcessEnv = { ...process.env, SWIFTLET_REPLICA: String(index) };
    if (placement.cudaVisibleDevices !== undefined) env['CUDA_VISIBLE_DEVICES'] = placement.cudaVisibleDevices;
    const child = fork(REPLICA_MAIN, [], { serialization: 'advanced', env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const replicaOptions: ModelOptions = { ...options, dataParallelSize: 1, numThreads: placement.numThreads ?? options.numThreads };
    child.send({ kind: 'start', options: replicaOptions, randomWeights } satisfies ToReplica);
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
        reject(new ReplicaFailedError(`replica ${index} exited while loading (${signal ?? `code ${code}`})`));
      child.once('exit', onExit);
      child.once('error', (error) => reject(new ReplicaFailedError(`replica ${index} could not start: ${error.message}`)));
      child.once('message', (message: FromReplica) => {
        child.off('exit', onExit);
        if (message.kind === 'ready') resolve(new ReplicaProcess(index, child, message.ready, message.stats));
        else {
          child.kill('SIGKILL');
          reject(message.kind === 'startFailed' ? new ReplicaFailedError(`replica ${index}: ${message.error.message}`) : new ReplicaFailedError(`replica ${index}: unexpected '${message.kind}' while loading`));
        }
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get isHealthy(): boolean {
    return this.failure === null && !this.isStopping;
  }

  /** Why the replica is out of service; null while healthy. */
  get reason(): string | null {
    return this.failure ?? (this.isStopping ? 'stopping' : null);
  }

  get numInFlight(): number {
    return this.streams.size;
  }

  get stats(): ReplicaStats {
    return this.latestStats;
  }

  get kvUsage(): number {
    const { numKvBlocksUsed, numKvBlocksTotal } = this.latestStats;
    return numKvBlocksTotal === 0 ? 0 : numKvBlocksUsed / numKvBlocksTotal;
  }

  isRunningAdapter(name: string): boolean {
    for (const entry of this.streams.values()) if (entry.adapterName === name) return true;
    return false;
  }

  /** The request's outputs; leaving the loop early aborts it in the replica. */
  submit(requestId: string, request: EngineRequest, adapterName: string | null): AsyncIterable<RequestOutput> {
    const stream = new RequestStream(() => this.abort(requestId));
    this.streams.set(requestId, { stream, adapterName });
    const { promptTokenIds, params, pooling } = request;
    this.send({ kind: 'submit', requestId, promptTokenIds, params: params.toInit(), adapterName, pooling: pooling ?? null });
    return stream;
  }

  /** The replica ends the request, which then gets its final 'abort' output. */
  abort(requestId: string): void {
    if (this.streams.has(requestId)) this.send({ kind: 'abort', requestId });
  }

  abortAll(): void {
    for (const requestId of this.streams.keys()) this.send({ kind: 'abort', requestId });
  }

  loadAdapter(name: string, path: string): Promise<void> {
    return this.call((callId) => ({ kind: 'loadAdapter', callId, name, path }));
  }

  unloadAdapter(name: string): Promise<void> {
    return this.call((callId) => ({ kind: 'unloadAdapter', callId, name }));
  }

  compileStructuredOutput(spec: StructuredOutputSpec): Promise<void> {
    return this.call((callId) => ({ kind: 'compileGrammar', callId, spec }));
  }

  /** Lets the replica settle (aborting what it runs) and exit; killed if it takes too long. */
  async stop(): Promise<void> {
    this.isStopping = true;
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.send({ kind: 'stop' });
      const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_WAIT_MS);
      await this.exited;
      clearTimeout(timer);
    }
  }

  /** Ends the child at once (the front is going; nothing it runs will be read). */
  kill(): void {
    this.isStopping = true;
    this.child.kill('SIGKILL');
  }

  private call(message: (callId: number) => ToReplica): Promise<void> {
    if (!this.isHealthy) return Promise.reject(new ReplicaFailedError(`replica ${this.index} is ${this.reason}`));
    const callId = this.nextCallId++;
    return new Promise((resolve, reject) => {
      this.calls.set(callId, { resolve, reject });
      this.send(message(callId));
    });
  }

  private send(message: ToReplica): void {
    if (this.child.connected) this.child.send(message);
  }

  private onMessage(message: FromReplica): void {
    switch (message.kind) {
      case 'outputs':
        this.latestStats = message.stats;
        for (const output of message.outputs) {
          const entry = this.streams.get(output.requestId);
          if (entry === undefined) continue;
          entry.stream.push(output);
          if (output.finished) {
            entry.stream.end();
            this.streams.delete(output.requestId);
          }
        }
        break;
      case 'failed':
        this.streams.get(message.requestId)?.stream.fail(fromWireError(message.error));
        this.streams.delete(message.requestId);
        break;
      case 'called': {
        const call = this.calls.get(message.callId);
        this.calls.delete(message.callId);
        if (message.error === null) call?.resolve();
        else call?.reject(fromWireError(message.error));
        break;
      }
      case 'ready':
      case 'startFailed':
        break;
    }
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (!this.isStopping) this.failure = `exited (${signal ?? `code ${code}`})`;
    // NOTE: a gone engine runs nothing and holds no cache; its counters stay, so totals never drop.
    this.latestStats = { ...this.latestStats, numRunning: 0, numWaiting: 0, numKvBlocksUsed: 0, numKvBlocksTotal: 0 };
    const error = new ReplicaFailedError(`replica ${this.index} ${this.failure ?? 'stopped'} while running this request`);
    for (const { stream } of this.streams.values()) stream.fail(error);
    this.streams.clear();
    for (const call of this.calls.values()) call.reject(error);
    this.calls.clear();
  }
}
