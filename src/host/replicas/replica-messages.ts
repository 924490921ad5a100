/**
 * The IPC messages between the front process and one replica child (node's 'advanced'
 * serialization: structured clone, so Maps, null and Infinity cross as they are). Requests
 * name their adapter, never a slot: each replica keeps its own slots.
 */
import type { EngineStats } from '../../engine/engine.js';
import type { RequestOutput } from '../../engine/output.js';
import type { SamplingParamsInit } from '../../engine/sampling-params.js';
import type { StructuredOutputSpec } from '../../engine/structured/spec.js';
import type { PoolingMode } from '../../model/pooling-config.js';
import type { RandomWeights } from '../engine-setup.js';
import type { ModelOptions } from '../model-options.js';

/** What a replica reports once its model is loaded. */
export interface ReplicaReady {
  device: string;
  maxModelLen: number;
  numKvBlocks: number;
  maxLoras: number;
}

/** A snapshot of the replica's engine, sent with its outputs so the balancer sees its KV use. */
export type ReplicaStats = EngineStats;

/** An error crossed over IPC: its class name (to rebuild engine errors) and message. */
export interface WireError {
  name: string;
  message: string;
  param?: string | undefined;
  status?: number | undefined;
  /** QueueFullError's figures. */
  numWaiting?: number | undefined;
  maxWaiting?: number | undefined;
}

export type ToReplica =
  /** `randomWeights`: a benchmark's named shape instead of options.model's checkpoint. */
  | { kind: 'start'; options: ModelOptions; randomWeights: RandomWeights | null }
  | { kind: 'submit'; requestId: string; promptTokenIds: readonly number[]; params: SamplingParamsInit; adapterName: string | null; pooling: PoolingMode | null }
  | { kind: 'abort'; requestId: string }
  | { kind: 'loadAdapter'; callId: number; name: string; path: string }
  | { kind: 'unloadAdapter'; callId: number; name: string }
  /** Compiles (and caches) a structured-output spec: an InvalidRequestError when it does not compile. */
  | { kind: 'compileGrammar'; callId: number; spec: StructuredOutputSpec }
  | { kind: 'stop' };

export type FromReplica =
  | { kind: 'ready'; ready: ReplicaReady; stats: ReplicaStats }
  | { kind: 'startFailed'; error: WireError }
  | { kind: 'outputs'; outputs: RequestOutput[]; stats: ReplicaStats }
  | { kind: 'failed'; requestId: string; error: WireError }
  | { kind: 'called'; callId: number; error: WireError | null };

export function toWireError(error: unknown): WireError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const { param, status, numWaiting, maxWaiting } = error as { param?: unknown; status?: unknown; numWaiting?: unknown; maxWaiting?: unknown };
  const numberOrUndefined = (value: unknown) => (typeof value === 'number' ? value : undefined);
  return {
    name: error.name,
    message: error.message,
    param: typeof param === 'string' ? param : undefined,
    status: numberOrUndefined(status),
    numWaiting: numberOrUndefined(numWaiting),
    maxWaiting: numberOrUndefined(maxWaiting),
  };
}
