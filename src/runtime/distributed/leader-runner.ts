/**
 * Rank 0 of a tensor-parallel group of processes: a ModelRunner like any other to the engine.
 * Each step goes to every other rank over its control channel, then runs on this rank's shard;
 * the shards' all-reduces (native, on the step's thread) keep them in lockstep, and only this
 * rank holds the lm_head and samples. A rank that goes away fails the step in flight (its
 * socket closes under the all-reduce) and every later one, and marks the runner out of service.
 */
import { ModelLoadError } from '../../model/errors.js';
import type { ModelSpec } from '../../model/spec.js';
import { CpuRunner, type CpuRunnerOptions } from '../cpu/cpu-runner.js';
import type { LoraWeights, ModelRunner, StepBatch, StepOutput, WeightSource } from '../types.js';
import type { ShardPlan } from './group-messages.js';
import type { GroupOptions } from './group-options.js';
import { acceptRanks, listenForRanks, nextMessage, type LeaderChannel } from './rendezvous.js';

/** Errors of the native collective start so (native/cpu/tcp_group.cc): after one, the group is broken. */
const GROUP_ERROR_PREFIX = 'tensor-parallel group:';

export class TensorParallelLeader implements ModelRunner {
  readonly device = 'cpu' as const;
  private brokenReason: string | null = null;

  private constructor(
    private readonly local: CpuRunner,
    /** Ranks 1..size-1 (rank r at index r - 1). */
    private readonly ranks: readonly LeaderChannel[],
  ) {
    ranks.forEach((channel, i) => channel.onClose(() => this.markBroken(`tensor-parallel rank ${i + 1} disconnected`)));
  }

  /** Waits for the other ranks, loads this shard meanwhile, sends the plan, and forms the collective. */
  static async start(spec: ModelSpec, source: WeightSource, options: CpuRunnerOptions, group: GroupOptions): Promise<TensorParallelLeader> {
    const server = await listenForRanks(group.masterPort);
    let local: CpuRunner | null = null;
    let ranks: LeaderChannel[] = [];
    try {
      const joining = acceptRanks(server, group);
      // NOTE: a rejection here is handled by the await below; this only keeps it from being reported unhandled first.
      joining.catch(() => {});
      local = CpuRunner.load(spec, source, options, { rank: 0, size: group.size });
      const plan: ShardPlan = {
        groupPort: local.group.listenGroup(0),
        kvCacheBytes: options.kvCacheBytes,
        maxLoras: options.maxLoras,
        maxLoraRank: options.maxLoraRank,
        maxTokensPerChunk: options.maxTokensPerChunk,
      };
      ranks = await joining;
      await Promise.all(ranks.map((channel, i) => sendPlan(channel, i + 1, plan, group.timeoutMs)));
      // NOTE: every rank connected before it said ready, so this returns at once.
      local.group.acceptGroup(group.timeoutMs);
      return new TensorParallelLeader(local, ranks);
    } catch (error) {
      for (const channel of ranks) {
        channel.send({ kind: 'shutdown' });
        channel.close();
      }
      local?.dispose();
      throw error instanceof Error ? new ModelLoadError(error.message) : error;
    } finally {
      server.close();
    }
  }

  get spec(): ModelSpec {
    return this.local.spec;
  }

  get numKvBlocks(): number {
    return this.local.numKvBlocks;
  }

  get maxLoras(): number {
    return this.local.maxLoras;
  }

  outOfService(): string | null {
    return this.brokenReason;
  }

  execute(batch: StepBatch): Promise<StepOutput> {
    if (this.brokenReason !== null) return Promise.reject(new Error(this.brokenReason));
    this.broadcast({ kind: 'step', batch });
    return this.local.execute(batch).catch((error: unknown) => {
      if (error instanceof Error && error.message.startsWith(GROUP_ERROR_PREFIX)) this.markBroken(error.message);
      throw error;
    });
  }

  loadAdapter(slot: number, weights: LoraWeights): void {
    this.local.loadAdapter(slot, weights);
    this.broadcast({ kind: 'loadAdapter', slot, weights });
  }

  unloadAdapter(slot: number): void {
    this.local.unloadAdapter(slot);
    this.broadcast({ kind: 'unloadAdapter', slot });
  }

  /** Stops the other ranks too (they exit once told, or once this process's connections close). */
  dispose(): void {
    this.broadcast({ kind: 'shutdown' });
    for (const channel of this.ranks) channel.close();
    this.local.dispose();
  }

  private broadcast(message: Parameters<LeaderChannel['send']>[0]): void {
    for (const channel of this.ranks) channel.send(message);
  }

  private markBroken(reason: string): void {
    this.brokenReason ??= reason;
  }
}

async function sendPlan(channel: LeaderChannel, rank: number, plan: ShardPlan, timeoutMs: number): Promise<void> {
  const answer = nextMessage(channel, timeoutMs, `tensor-parallel rank ${rank}`);
  channel.send({ kind: 'plan', plan });
  const reply = await answer;
  if (reply.kind === 'failed') throw new Error(`tensor-parallel rank ${rank}: ${reply.message}`);
  if (reply.kind !== 'ready') throw new Error(`tensor-parallel rank ${rank}: said ${reply.kind} instead of ready`);
}
