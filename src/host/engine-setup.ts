/**
 * ModelOptions to a runner and an engine over that runner: the one place both the model host
 * and the random-weight benchmark turn flags into a running engine (through ServingEngine).
 */
import { LLMEngine } from '../engine/engine.js';
import type { EngineTokenizer } from '../engine/engine-tokenizer.js';
import { randomModel, type RandomModelOptions } from '../model/random-weights.js';
import type { ModelSpec } from '../model/spec.js';
import { createRunner, createRunnerFor, resolveDevice, type RunnerChoice } from '../runtime/create-runner.js';
import { KV_BLOCK_SIZE, type ModelRunner, type WeightSource } from '../runtime/types.js';
import type { ModelOptions } from './model-options.js';

/**
 * A checkpoint directory, or weights made in memory (bench's random weights: on the GPU
 * `randomSeed` lets the device fill them itself).
 */
export type EngineWeights = { modelDir: string } | { spec: ModelSpec; source: WeightSource; randomSeed: number };

/** A named shape's random weights (bench's models), as plain data a replica process can take. */
export interface RandomWeights {
  shape: string;
  dtype: NonNullable<RandomModelOptions['dtype']>;
  seed: number;
}

export function randomEngineWeights({ shape, dtype, seed }: RandomWeights): Extract<EngineWeights, { spec: ModelSpec }> {
  const { spec, source } = randomModel(shape, { seed, dtype });
  return { spec, source, randomSeed: seed };
}

const DEFAULT_CPU_KV_CACHE_BYTES = 1 << 30;

export function runnerChoiceOf(options: ModelOptions): RunnerChoice {
  const onGpu = resolveDevice(options.device) === 'cuda';
  // NOTE: GPU adapter slots are allocated up front (gigabytes for a 7B model at rank 64), so
  // as vLLM with --enable-lora, only when adapters are asked for; the CPU allocates on load.
  const wantsLora = options.loraModules.length > 0 || options.enableLora === true;
  return {
    device: options.device,
    // NOTE: on the GPU the KV cache takes what --gpu-memory-utilization leaves (0 = derive it).
    kvCacheBytes: options.kvCacheBytes ?? (onGpu ? 0 : DEFAULT_CPU_KV_CACHE_BYTES),
    gpuMemoryUtilization: options.gpuMemoryUtilization,
    maxLoras: onGpu && !wantsLora ? 0 : options.maxLoras,
    maxLoraRank: options.maxLoraRank,
    numThreads: options.numThreads,
    ...(options.lmHeadDtype !== undefined ? { lmHeadDtype: options.lmHeadDtype } : {}),
    tensorParallelSize: options.tensorParallelSize,
    ...(options.group !== undefined ? { group: options.group } : {}),
    maxNumSeqs: options.maxNumSeqs,
    maxNumBatchedTokens: options.maxNumBatchedTokens,
    maxModelLen: options.maxModelLen,
  };
}

export function runnerFor(weights: EngineWeights, options: ModelOptions): Promise<ModelRunner> {
  const choice = runnerChoiceOf(options);
  if ('modelDir' in weights) return createRunner({ modelDir: weights.modelDir, ...choice });
  return createRunnerFor(weights.spec, weights.source, choice, weights.randomSeed);
}

/** The longest context: the flag or the model's, capped by the KV cache and the runner's own limit. */
export function maxModelLenOf(options: ModelOptions, runner: ModelRunner): number {
  const kvCapacity = runner.numKvBlocks * KV_BLOCK_SIZE;
  return Math.min(options.maxModelLen ?? runner.spec.maxPositionEmbeddings, kvCapacity, runner.maxModelLen ?? Infinity);
}

export function engineFor(runner: ModelRunner, tokenizer: EngineTokenizer, options: ModelOptions): LLMEngine {
  return new LLMEngine(runner, tokenizer, {
    maxNumSeqs: options.maxNumSeqs,
    maxNumBatchedTokens: options.maxNumBatchedTokens,
    maxModelLen: maxModelLenOf(options, runner),
    enableChunkedPrefill: options.enableChunkedPrefill,
    ...(options.longPrefillTokenThreshold !== undefined ? { longPrefillTokenThreshold: options.longPrefillTokenThreshold } : {}),
    enablePrefixCaching: options.enablePrefixCaching,
    maxWaiting: options.maxWaiting,
    speculative: options.speculativeConfig ?? null,
    asyncScheduling: options.asyncScheduling ?? false,
    eosTokenIds: [...new Set([...runner.spec.eosTokenIds, ...(tokenizer.stopTokenIds ?? [])])],
  });
}
