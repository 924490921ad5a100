/** Opens a checkpoint directory and builds the runner for the chosen device. */
import { loadModelSpec } from '../model/config.js';
import { SafetensorsCheckpoint } from '../model/safetensors.js';
import { CpuRunner, type CpuRunnerOptions } from './cpu/cpu-runner.js';
import type { ModelRunner } from './types.js';

export type RunnerDevice = 'cpu' | 'cuda' | 'auto';

export interface CreateRunnerOptions extends CpuRunnerOptions {
  modelDir: string;
  device: RunnerDevice;
  /** CUDA only: fraction of GPU memory for weights and KV cache. */
  gpuMemoryUtilization?: number;
  /** CUDA only: GPUs to shard over; the CPU runner takes 1. */
  tensorParallelSize?: number;
}

export async function createRunner(options: CreateRunnerOptions): Promise<ModelRunner> {
  const { modelDir, device, gpuMemoryUtilization: _gpuMemory, tensorParallelSize, ...runnerOptions } = options;
  if (device === 'cuda') throw new Error('CUDA runner not available in this build; use --device cpu');
  if (tensorParallelSize !== undefined && tensorParallelSize > 1) {
    throw new Error(`--tensor-parallel-size ${tensorParallelSize} needs the CUDA runner; the CPU runner runs on one host`);
  }
  // NOTE: 'auto' means cpu until a CUDA runner exists.
  const spec = loadModelSpec(modelDir);
  const checkpoint = SafetensorsCheckpoint.open(modelDir);
  try {
    return CpuRunner.load(spec, checkpoint, runnerOptions);
  } finally {
    checkpoint.close();
  }
}
