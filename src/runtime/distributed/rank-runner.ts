/**
 * One rank's runner in a group of processes, and how its collective forms, per device. The order
 * differs: the CPU's TCP group listens from a loaded model and the others connect once loaded;
 * NCCL's unique id is made first, and every rank's load blocks in ncclCommInitRank until all
 * ranks have called it.
 */
import type { ModelSpec } from '../../model/spec.js';
import { CpuRunner } from '../cpu/cpu-runner.js';
import { CudaRunner } from '../cuda/cuda-runner.js';
import { loadCudaAddon } from '../cuda/native.js';
import { cpuOptionsOf, cudaOptionsOf, type RunnerChoice } from '../runner-choice.js';
import type { ModelRunner, WeightSource } from '../types.js';
import type { GroupOptions } from './group-options.js';

/** The collective's rendezvous, sent with the plan. */
export type Collective = { kind: 'tcp'; port: number } | { kind: 'nccl'; uniqueId: Uint8Array };

/** The runner options every rank takes from the leader (plain data; no group: each rank has its own). */
export type RankChoice = Omit<RunnerChoice, 'group'> & { device: 'cpu' | 'cuda' };

/** The leader's side of forming the group: sends the plan (resolving once written), then waits for every rank's ready. */
export interface PlanSender {
  send(collective: Collective): Promise<void>;
  ready(): Promise<void>;
}

/** Rank 0's runner, loaded and joined to the collective with every other rank. */
export async function loadLeaderRank(spec: ModelSpec, source: WeightSource, choice: RankChoice, group: GroupOptions, plans: PlanSender): Promise<ModelRunner> {
  const shard = { rank: 0, size: group.size };
  if (choice.device === 'cpu') {
    const runner = CpuRunner.load(spec, source, cpuOptionsOf(choice), shard);
    try {
      await plans.send({ kind: 'tcp', port: runner.group.listenGroup(0) });
      await plans.ready();
      // NOTE: every rank connected before it said ready, so this returns at once.
      runner.group.acceptGroup(group.timeoutMs);
    } catch (error) {
      runner.dispose();
      throw error;
    }
    return runner;
  }
  const uniqueId = loadCudaAddon().ncclUniqueId();
  await plans.send({ kind: 'nccl', uniqueId });
  const runner = CudaRunner.load(spec, source, { ...cudaOptionsOf(choice), processGroup: { ...shard, uniqueId } });
  try {
    await plans.ready();
  } catch (error) {
    runner.dispose();
    throw error;
  }
  return runner;
}

/** A rank > 0's runner, as the leader's plan says, joined to the collective. */
export function loadFollowerRank(spec: ModelSpec, source: WeightSource, choice: RankChoice, group: GroupOptions, collective: Collective): ModelRunner {
  const shard = { rank: group.rank, size: group.size };
  if (collective.kind === 'tcp') {
    const runner = CpuRunner.load(spec, source, cpuOptionsOf(choice), shard);
    try {
      runner.group.connectGroup(group.masterAddr, collective.port, group.timeoutMs);
    } catch (error) {
      runner.dispose();
      throw error;
    }
    return runner;
  }
  return CudaRunner.load(spec, source, { ...cudaOptionsOf(choice), processGroup: { ...shard, uniqueId: collective.uniqueId } });
}
