/**
 * `swiftlet deploy --node-rank R` (R > 0): this process serves no API; it holds rank R's shard of
 * the model and follows rank 0's steps until rank 0 stops it (or goes away).
 */
import { loadModelSpec } from '../model/config.js';
import { SafetensorsCheckpoint } from '../model/safetensors.js';
import { followLeader } from '../runtime/distributed/follower.js';
import type { GroupOptions } from '../runtime/distributed/group-options.js';
import type { ModelOptions } from './model-options.js';
import { resolveModel } from './resolve-model.js';

export async function runTensorParallelRank(options: ModelOptions, group: GroupOptions, log: (message: string) => void): Promise<void> {
  const { dir } = await resolveModel(options.model, options.hub === undefined ? {} : { hub: options.hub });
  const checkpoint = SafetensorsCheckpoint.open(dir);
  try {
    await followLeader(loadModelSpec(dir), checkpoint, group, { numThreads: options.numThreads, log });
  } finally {
    checkpoint.close();
  }
}
