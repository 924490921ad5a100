/**
 * A rank > 0 of a tensor-parallel group of processes: connects to the leader, loads its shard as
 * the leader's plan says, joins the collective, then runs every step and adapter change the
 * leader sends, in order. It samples nothing; its all-reduces are what the leader waits on.
 */
import { ModelLoadError } from '../../model/errors.js';
import type { ModelSpec } from '../../model/spec.js';
import type { ModelRunner, WeightSource } from '../types.js';
import type { LeaderMessage } from './group-messages.js';
import type { GroupOptions } from './group-options.js';
import { loadFollowerRank } from './rank-runner.js';
import { connectToLeader, nextMessage, type RankChannel } from './rendezvous.js';

/** A step the leader validated the same way fails here without reaching a collective: the group stays in step. */
const INVALID_STEP_PREFIX = 'invalid step:';

export interface FollowerOptions {
  /** This process's CPU threads (not the leader's: hosts may differ). */
  numThreads?: number;
  log: (message: string) => void;
}

/** Resolves when the leader says shutdown; rejects when the leader goes away, or on a load or step failure. */
export async function followLeader(spec: ModelSpec, source: WeightSource, group: GroupOptions, options: FollowerOptions): Promise<void> {
  const channel = await connectToLeader(group);
  const first = await nextMessage(channel, group.timeoutMs, `tensor-parallel rank ${group.rank}: waiting for the leader's plan`);
  if (first.kind !== 'plan') {
    channel.close();
    throw new ModelLoadError(`tensor-parallel rank ${group.rank}: the leader turned this process away (is --node-rank ${group.rank} taken, or --nnodes different?)`);
  }
  const { collective, choice } = first.plan;
  let runner: ModelRunner;
  try {
    const { numThreads, ...leaderChoice } = choice;
    runner = loadFollowerRank(spec, source, { ...leaderChoice, ...(options.numThreads !== undefined ? { numThreads: options.numThreads } : {}) }, group, collective);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    channel.send({ kind: 'failed', message });
    channel.close();
    throw new ModelLoadError(`tensor-parallel rank ${group.rank}: ${message}`);
  }
  await channel.send({ kind: 'ready', numKvBlocks: runner.numKvBlocks });
  options.log(`tensor-parallel rank ${group.rank} of ${group.size}: shard loaded (KV cache: ${runner.numKvBlocks} blocks), following ${group.masterAddr}:${group.masterPort}`);
  try {
    await runSteps(channel, runner);
  } finally {
    runner.dispose();
  }
}

/** Applies the leader's messages one after another (a step finishes before the next message is applied). */
function runSteps(channel: RankChannel, runner: ModelRunner): Promise<void> {
  return new Promise((resolve, reject) => {
    let queue = Promise.resolve();
    let done = false;
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      if (error) reject(error);
      else resolve();
    };
    const apply = async (message: LeaderMessage): Promise<void> => {
      if (done) return;
      switch (message.kind) {
        case 'step':
          try {
            await runner.execute(message.batch);
          } catch (error) {
            const text = error instanceof Error ? error.message : String(error);
            if (!text.startsWith(INVALID_STEP_PREFIX)) throw new Error(`a step failed: ${text}`);
          }
          return;
        case 'loadAdapter':
          return runner.loadAdapter(message.slot, message.weights);
        case 'unloadAdapter':
          return runner.unloadAdapter(message.slot);
        case 'shutdown':
          return finish();
        case 'plan':
          throw new Error('a second plan arrived');
      }
    };
    channel.onMessage((message) => {
      queue = queue.then(() => apply(message)).catch((error: unknown) => finish(error instanceof Error ? error : new Error(String(error))));
    });
    channel.onClose(() => queue.then(() => finish(new Error('the leader disconnected'))));
  });
}
