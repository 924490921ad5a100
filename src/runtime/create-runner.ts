/** Builds the runner for the chosen device, from a checkpoint directory or any WeightSource. */
import { loadModelSpec } from '../model/config.js';
import { SafetensorsCheckpoint } from '../model/safetensors.js';
import type { ModelSpec } from '../model/spec.js';
import { CpuRunner } from './cpu/cpu-runner.js';
import { CudaRunner } from './cuda/cuda-runner.js';
import { cudaAvailability } from './cuda/native.js';
import { TensorParallelLeader } from './distributed/leader-runner.js';
import { cpuOptionsOf, cudaOptionsOf, type RunnerChoice } from './runner-choice.js';
import type { ModelRunner, WeightSource } from './types.js';

import type { RunnerDevice } from './runner-choice.js';

export type { RunnerChoice, RunnerDevice } from './runner-choice.js';

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
  const parallel = options.tensorParallelSize ?? 1;
  const device = resolveDevice(options.device);
  const { group, ...choice } = options;
  if (group !== undefined && group.size > 1) {
    if (randomSeed !== undefined) throw new Error('--nnodes > 1 loads a checkpoint on every rank: random weights are not supported');
    return TensorParallelLeader.start(spec, source, { ...choice, device }, group);
  }
  if (device === 'cpu') {
    if (parallel > 1) throw new Error(`--tensor-parallel-size ${parallel} on --device cpu needs one process per rank: add --nnodes ${parallel} and start the other ranks (docs/deploy.md)`);
    return CpuRunner.load(spec, source, cpuOptionsOf(options));
  }
  const cudaOptions = cudaOptionsOf(options);
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
