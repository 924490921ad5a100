/** What the leader and the other ranks of a tensor-parallel group say to each other (framed-channel.ts). */
import type { LoraWeights, StepBatch } from '../types.js';
import type { Collective, RankChoice } from './rank-runner.js';

/** What the leader decides for every rank, so they size themselves as it did. */
export interface ShardPlan {
  collective: Collective;
  /** The leader's runner options; a rank keeps its own CPU threads. */
  choice: RankChoice;
}

export type LeaderMessage =
  | { kind: 'plan'; plan: ShardPlan }
  | { kind: 'step'; batch: StepBatch }
  | { kind: 'loadAdapter'; slot: number; weights: LoraWeights }
  | { kind: 'unloadAdapter'; slot: number }
  | { kind: 'shutdown' };

export type RankMessage =
  | { kind: 'hello'; rank: number; size: number }
  /** Loaded its shard and joined the collective; the leader needs at least as many KV blocks on every rank as its own. */
  | { kind: 'ready'; numKvBlocks: number }
  | { kind: 'failed'; message: string };
