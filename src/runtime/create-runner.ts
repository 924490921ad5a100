/** Builds the runner for the chosen device, from a checkpoint directory or any WeightSource. */
import { loadModelSpec } from '../model/config.js';
import { SafetensorsCheckpoint } from '../model/safetensors.js';
import type { ModelSpec } from '../model/spec.js';
import { CpuRunner, type CpuRunnerOptions } from './cpu/cpu-runner.js';
import { CudaRunner } from './cuda/cuda-runner.js';
import { cudaAvailability } from './cuda/native.js';
import type { GroupOptions } from './distributed/group-options.js';
import { TensorParallelLeader } from './distributed/leader-runner.js';
import type { ModelRunner, WeightSource } from './types.js';

export type RunnerDevice = 'cpu' | 'cuda' | 'auto';

export interface RunnerChoice extends CpuRunnerOptions {
  device: RunnerDevice;
  /** CUDA: fraction of GPU memory for weights, scratch and KV cache (when kvCacheBytes is not given). */
  gpuMemoryUtilization?: number;
  /** GPUs to shard the model over, or processes with `group` (CPU only so far). */
  tensorParallelSize?: number;
  /** Rank 0 of a tensor-parallel group of processes (src/runtime/distributed/); absent: this process holds the whole model. */
  group?: GroupOptions;
  /** CUDA: the engine's step limits, which size the scratch buffers and CUDA graphs. */
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
  maxModelLen?: number;
}

export interface CreateRunnerOptions extends RunnerChoice {
  modelDir: string;
}

/** 'auto' is CUDA where the CUDA addon loads and a GPU answers, else the CPU. */
export function resolveDevice(device: RunnerDevice): 'cpu' | 'cuda' {
  if (device !== 'auto') return device;
  return cudaAvailability().available ? 'cuda' : 'cpu';
}

/** `random`: CUDA can fill weights on the GPU itself, skipping the host-side generator. */
export async function createRunnerFor(
  spec: ModelSpec,
  source: WeightSource,
  options: RunnerChoice,
  randomSeed?: number,
): Promise<ModelRunner> {
  const { device, gpuMemoryUtilization, tensorParallelSize, maxNumSeqs, maxNumBatchedTokens, maxModelLen, group, ...cpuOptions } = options;
  const parallel = tensorParallelSize ?? 1;
  if (group !== undefined && group.size > 1) {
    if (resolveDevice(device) !== 'cpu') throw new Error('--nnodes > 1 runs on --device cpu so far: the CUDA ranks (ncclCommInitRank) are not wired to the engine yet');
    return TensorParallelLeader.start(spec, source, cpuOptions, group);
  }
  if (resolveDevice(device) === 'cpu') {
    if (parallel > 1) throw new Error(`--tensor-parallel-size ${parallel} on --device cpu needs one process per rank: add --nnodes ${parallel} and start the other ranks (docs/deploy.md)`);
    return CpuRunner.load(spec, source, cpuOptions);
  }
  const availability = cudaAvailability();
  if (!availability.available) throw new Error(`--device cuda: ${availability.reason}`);
  const cudaOptions = {
    gpuMemoryUtilization,
    // NOTE: an explicit --kv-cache-memory wins over the utilisation fraction, as on the CPU.
    kvCacheBytes: cpuOptions.kvCacheBytes,
    maxLoras: cpuOptions.maxLoras,
    maxLoraRank: cpuOptions.maxLoraRank,
    maxNumSeqs,
    maxNumTokens: maxNumBatchedTokens,
    maxModelLen,
    tensorParallelSize: parallel,
  };
  return randomSeed === undefined ? CudaRunner.load(spec, source, cudaOptions) : CudaRunner.withRandomWeights(spec, randomSeed, cudaOptions);
}

export async function createRunner(options: CreateRunnerOptions): Promise<ModelRunner> {
  const { modelDir, ...choice } = options;
  const checkpoint = SafetensorsCheckpoint.open(modelDir);
  try {
    return await createRunnerFor(loadModelSpec(modelDir), checkpoint, choice);
  } finally {
    checkpoint.close();
  }
}
