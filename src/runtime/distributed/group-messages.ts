/** What the leader and the other ranks of a tensor-parallel group say to each other (framed-channel.ts). */
import type { LoraWeights, StepBatch } from '../types.js';

/** What the leader decides for every rank, so they size themselves as it did. */
export interface ShardPlan {
  /** The leader's collective (native/cpu/tcp_group.h) listens here, at --master-addr. */
  groupPort: number;
  kvCacheBytes: number;
  maxLoras: number;
  maxLoraRank: number;
  maxTokensPerChunk: number | undefined;
}

export type LeaderMessage =
  | { kind: 'plan'; plan: ShardPlan }
  | { kind: 'step'; batch: StepBatch }
  | { kind: 'loadAdapter'; slot: number; weights: LoraWeights }
  | { kind: 'unloadAdapter'; slot: number }
  | { kind: 'shutdown' };

export type RankMessage =
  | { kind: 'hello'; rank: number; size: number }
  /** Loaded its shard and connected to the collective. */
  | { kind: 'ready' }
  | { kind: 'failed'; message: string };
