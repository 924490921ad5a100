/** Builds the runner for the chosen device, from a checkpoint directory or any WeightSource. */
import { loadModelSpec } from '../model/config.js';
import { SafetensorsCheckpoint } from '../model/safetensors.js';
import type { ModelSpec } from '../model/spec.js';
import { CpuRunner, type CpuRunnerOptions } from './cpu/cpu-runner.js';
import { CudaRunner } from './cuda/cuda-runner.js';
import { cudaAvailability } from './cuda/native.js';
import type { ModelRunner, WeightSource } from './types.js';

export type RunnerDevice = 'cpu' | 'cuda' | 'auto';

export interface RunnerChoice extends CpuRunnerOptions {
  device: RunnerDevice;
  /** CUDA: fraction of GPU memory for weights, scratch and KV cache (when kvCacheBytes is not given). */
  gpuMemoryUtilization?: number;
  /** GPUs to shard the model over (CUDA only; the CPU runner takes 1). */
  tensorParallelSize?: number;
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
  const { device, gpuMemoryUtilization, tensorParallelSize, maxNumSeqs, maxNumBatchedTokens, maxModelLen, ...cpuOptions } = options;
  const parallel = tensorParallelSize ?? 1;
  if (resolveDevice(device) === 'cpu') {
    if (parallel > 1) throw new Error(`--tensor-parallel-size ${parallel} needs --device cuda: the CPU runner runs on one machine's cores`);
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
