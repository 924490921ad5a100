/** What a runner is built from (the device and its options), and each device runner's part of it. */
import type { CpuRunnerOptions } from './cpu/cpu-runner.js';
import type { CudaRunnerOptions } from './cuda/cuda-runner.js';
import { cudaAvailability } from './cuda/native.js';
import type { GroupOptions } from './distributed/group-options.js';

export type RunnerDevice = 'cpu' | 'cuda' | 'auto';

export interface RunnerChoice extends CpuRunnerOptions {
  device: RunnerDevice;
  /** CUDA: fraction of GPU memory for weights, scratch and KV cache (when kvCacheBytes is not given). */
  gpuMemoryUtilization?: number;
  /** GPUs to shard the model over, or processes with `group`. */
  tensorParallelSize?: number;
  /** Rank 0 of a tensor-parallel group of processes (src/runtime/distributed/); absent: this process holds the whole model. */
  group?: GroupOptions;
  /** CUDA: the engine's step limits, which size the scratch buffers and CUDA graphs. */
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
  maxModelLen?: number;
}

/** The CPU runner's part of a choice. */
export function cpuOptionsOf(options: RunnerChoice): CpuRunnerOptions {
  const { device, gpuMemoryUtilization, tensorParallelSize, maxNumSeqs, maxNumBatchedTokens, maxModelLen, group, ...cpuOptions } = options;
  return cpuOptions;
}

/** The CUDA runner's part of a choice; throws when CUDA is not usable here. */
export function cudaOptionsOf(options: RunnerChoice): CudaRunnerOptions {
  if ((options.lmHeadDtype ?? 'auto') !== 'auto') {
    throw new Error(`--lm-head-dtype ${options.lmHeadDtype} is CPU-only: the CUDA runner computes the lm_head as the checkpoint stores it (leave the flag out, or use --device cpu)`);
  }
  const availability = cudaAvailability();
  if (!availability.available) throw new Error(`--device cuda: ${availability.reason}`);
  return {
    gpuMemoryUtilization: options.gpuMemoryUtilization,
    // NOTE: an explicit --kv-cache-memory wins over the utilisation fraction, as on the CPU.
    kvCacheBytes: options.kvCacheBytes,
    maxLoras: options.maxLoras,
    maxLoraRank: options.maxLoraRank,
    maxNumSeqs: options.maxNumSeqs,
    maxNumTokens: options.maxNumBatchedTokens,
    maxModelLen: options.maxModelLen,
    tensorParallelSize: options.tensorParallelSize ?? 1,
  };
}
