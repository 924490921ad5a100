/** Builds the runner for the chosen device, from a checkpoint directory or any WeightSource. */
import { loadModelSpec } from '../model/config.js';
import { SafetensorsCheckpoint } from '../model/safetensors.js';
import type { ModelSpec } from '../model/spec.js';
import { CpuRunner, type CpuRunnerOptions } from './cpu/cpu-runner.js';
import type { ModelRunner, WeightSource } from './types.js';

export type RunnerDevice = 'cpu' | 'cuda' | 'auto';

export interface RunnerChoice extends CpuRunnerOptions {
  device: RunnerDevice;
  /** CUDA only: fraction of GPU memory for weights and KV cache. */
  gpuMemoryUtilization?: number;
  /** CUDA only: GPUs to shard over; the CPU runner takes 1. */
  tensorParallelSize?: number;
}

export interface CreateRunnerOptions extends RunnerChoice {
  modelDir: string;
}

export async function createRunnerFor(spec: ModelSpec, source: WeightSource, options: RunnerChoice): Promise<ModelRunner> {
  const { device, gpuMemoryUtilization: _gpuMemory, tensorParallelSize, ...runnerOptions } = options;
  if (device === 'cuda') throw new Error('CUDA runner not available in this build; use --device cpu');
  if (tensorParallelSize !== undefined && tensorParallelSize > 1) {
    throw new Error(`--tensor-parallel-size ${tensorParallelSize} needs the CUDA runner; the CPU runner runs on one host`);
  }
  // NOTE: 'auto' means cpu until a CUDA runner exists.
  return CpuRunner.load(spec, source, runnerOptions);
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
