/**
 * What a host serves through: one engine in this process (ServingEngine), or data-parallel
 * replicas in child processes behind the same submit/abort/adapter calls (ReplicaSet). The
 * front ends (server, run-batch, the library Engine) see either through ModelHost.serving.
 */
import type { EngineStats } from '../engine/engine.js';
import type { ReplicaSet } from './replicas/replica-set.js';
import type { EngineRequest, ServingEngine, Submission } from './serving-engine.js';

export type Serving = ServingEngine | ReplicaSet;

/** One engine's health and load, for /health and the per-replica /metrics. */
export interface ReplicaState {
  /** The replica's index; null for the one engine of a host without replicas (no label). */
  replica: number | null;
  /** The process the engine runs in. */
  pid: number;
  isHealthy: boolean;
  /** Why it is unhealthy (e.g. its process exited); null when healthy. */
  reason: string | null;
  numInFlight: number;
  stats: EngineStats;
  adapterNames: string[];
}

/**
 * Submits every request or none: when one is rejected, those before it are aborted and
 * `mapError(error, index)` is thrown.
 */
export function submitEach(
  submit: (request: EngineRequest) => Submission,
  requests: readonly EngineRequest[],
  mapError: (error: unknown, index: number) => unknown,
): Submission[] {
  const submissions: Submission[] = [];
  requests.forEach((request, index) => {
    try {
      submissions.push(submit(request));
    } catch (error) {
      for (const submission of submissions) submission.abort();
      throw mapError(error, index);
    }
  });
  return submissions;
}

/** Engine counters summed over replicas (gauges too: the host's total). */
export function sumStats(all: readonly EngineStats[]): EngineStats {
  const total: EngineStats = {
    numRunning: 0,
    numWaiting: 0,
    numKvBlocksUsed: 0,
    numKvBlocksTotal: 0,
    prefixCacheQueryTokens: 0,
    prefixCacheHitTokens: 0,
    promptTokensTotal: 0,
    generationTokensTotal: 0,
    numPreemptions: 0,
    numStepsTotal: 0,
    numDraftTokensTotal: 0,
    numAcceptedDraftTokensTotal: 0,
  };
  const keys = Object.keys(total) as (keyof EngineStats)[];
  for (const stats of all) for (const key of keys) total[key] += stats[key];
  return total;
}
