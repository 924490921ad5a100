/**
 * Rank 0 of a tensor-parallel group of processes: a ModelRunner like any other to the engine.
 * Each step goes to every other rank over its control channel, then runs on this rank's shard;
 * the shards' all-reduces (native, on the step's thread) keep them in lockstep, and only this
 * rank holds the lm_head and samples. A rank that goes away fails the step in flight (its
 * socket closes under the all-reduce) and every later one, and marks the runner out of service.
 */
import { ModelLoadError } from '../../model/errors.js';
import type { ModelSpec } from '../../model/spec.js';
import type { LoraWeights, ModelRunner, StepBatch, StepOutput, WeightSource } from '../types.js';
import type { RankMessage } from './group-messages.js';
import type { GroupOptions } from './group-options.js';
import { loadLeaderRank, type Collective, type RankChoice } from './rank-runner.js';
import { acceptRanks, listenForRanks, nextMessage, type LeaderChannel } from './rendezvous.js';

/** Errors of the CPU's collective start so (native/cpu/tcp_group.cc): after one, the group is broken. */
const GROUP_ERROR_PREFIX = 'tensor-parallel group:';

export class TensorParallelLeader implements ModelRunner {
  private brokenReason: string | null = null;

  private constructor(
    private readonly local: ModelRunner,
    /** Ranks 1..size-1 (rank r at index r - 1). */
    private readonly ranks: readonly LeaderChannel[],
  ) {
    ranks.forEach((channel, i) => channel.onClose(() => this.markBroken(`tensor-parallel rank ${i + 1} disconnected`)));
  }

  /** Waits for the other ranks, sends them the plan, and loads this shard as the device's rendezvous orders it (rank-runner.ts). */
  static async start(spec: ModelSpec, source: WeightSource, choice: RankChoice, group: GroupOptions): Promise<TensorParallelLeader> {
    const server = await listenForRanks(group.masterPort);
    let ranks: LeaderChannel[] = [];
    try {
      ranks = await acceptRanks(server, group);
      const channels = ranks;
      let answers: Promise<RankMessage>[] = [];
      const local = await loadLeaderRank(spec, source, choice, group, {
        send: async (collective: Collective) => {
          answers = channels.map((channel, i) => nextMessage(channel, group.timeoutMs, `tensor-parallel rank ${i + 1}`));
          // NOTE: a rank's failure is reported by ready(); this only keeps it from being reported unhandled first.
          for (const answer of answers) answer.catch(() => {});
          await Promise.all(channels.map((channel) => channel.send({ kind: 'plan', plan: { collective, choice } })));
        },
        ready: async () => {
          const replies = await Promise.all(answers);
          replies.forEach((reply, i) => checkReady(reply, i + 1));
        },
      });
      const short = (await Promise.all(answers)).findIndex((reply) => reply.kind === 'ready' && reply.numKvBlocks < local.numKvBlocks);
      if (short >= 0) {
        local.dispose();
        throw new Error(`tensor-parallel rank ${short + 1} has room for fewer KV blocks than rank 0 (${local.numKvBlocks}): give every rank the same --kv-cache-memory`);
      }
      return new TensorParallelLeader(local, ranks);
    } catch (error) {
      for (const channel of ranks) {
        channel.send({ kind: 'shutdown' });
        channel.close();
      }
      throw error instanceof Error ? new ModelLoadError(error.message) : error;
    } finally {
      server.close();
    }
  }

  get device(): 'cpu' | 'cuda' {
    return this.local.device;
  }

  get maxModelLen(): number | undefined {
    return this.local.maxModelLen;
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

function checkReady(reply: RankMessage, rank: number): void {
  if (reply.kind === 'failed') throw new Error(`tensor-parallel rank ${rank}: ${reply.message}`);
  if (reply.kind !== 'ready') throw new Error(`tensor-parallel rank ${rank}: said ${reply.kind} instead of ready`);
}
