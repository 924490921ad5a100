/** The CPU ModelRunner: weights into the native model once, then one native call per step. */
import { nativeModelShape } from '../native-shape.js';
import { availableParallelism } from 'node:os';
import { ModelLoadError } from '../../model/errors.js';
import type { ModelSpec } from '../../model/spec.js';
import { canonicalTensors } from '../../model/arch/checkpoint.js';
import { nativeTensorOf } from '../../model/weight-formats/registry.js';
import type { FillTokenBitmask, LoraWeights, ModelRunner, RunnerOptions, StepBatch, StepOutput, TensorData, WeightSource } from '../types.js';
import { executeWithLateBitmask } from '../late-token-bitmask.js';
import { StepQueue } from '../step-queue.js';
import { KV_BLOCK_SIZE, type LinearSlot } from '../../model/layout.js';
import { nativeLoraModules } from '../native-lora.js';
import { shardLoraModule, shardSpec, shardTensor } from '../tensor-parallel.js';
import { lmHeadBits, type LmHeadDtype } from '../lm-head-dtype.js';
import { loadCpuAddon, type LinearInputGrams, type NativeCpuModel } from './native.js';

export interface CpuRunnerOptions extends RunnerOptions {
  /** Tokens per forward chunk; sizes the scratch buffers. A longer step runs as several chunks. */
  maxTokensPerChunk?: number;
  /**
   * Whether grammar masks are filled while the forward pass runs (executeWithLateBitmask).
   * Default: when the step's threads leave a core free for the JS thread. With every core in
   * the step's thread pool, filling masks beside it slowed the step more than it hid
   * (docs/benchmarks.md, bench/structured-mask.ts).
   */
  lateTokenBitmask?: boolean;
  /** The lm_head's dtype for the logits (default 'auto': as the checkpoint stores it). */
  lmHeadDtype?: LmHeadDtype;
}

/** One process's part of a model split over several (src/runtime/distributed/). */
export interface CpuShard {
  rank: number;
  size: number;
}

const FP32_BYTES = 4;

/** KV cache bytes one block of KV_BLOCK_SIZE tokens takes over all layers (K and V, fp32). */
export function kvBytesPerBlock(spec: ModelSpec): number {
  return spec.numLayers * 2 * KV_BLOCK_SIZE * spec.numKvHeads * spec.headDim * FP32_BYTES;
}

export class CpuRunner implements ModelRunner {
  readonly device = 'cpu' as const;
  private native: NativeCpuModel | null;
  readonly executeWithLateBitmask: ((batch: StepBatch, fillMask: FillTokenBitmask) => Promise<StepOutput>) | undefined;
  /** The native model runs one step at a time: a step called early waits for the one before it. */
  readonly supportsAsyncScheduling = true;
  private readonly steps = new StepQueue();

  private constructor(
    readonly spec: ModelSpec,
    native: NativeCpuModel,
    readonly numKvBlocks: number,
    readonly maxLoras: number,
    private readonly maxLoraRank: number,
    private readonly shard: CpuShard,
    isTokenBitmaskLate: boolean,
  ) {
    this.native = native;
    this.executeWithLateBitmask = isTokenBitmaskLate ? (batch, fillMask) => this.executeLate(batch, fillMask) : undefined;
  }

  /**
   * Checks the checkpoint has every tensor first, then passes them one canonical slot at a time.
   * A shard (rank of size > 1) is the smaller decoder of shardSpec, fed its part of each tensor.
   */
  static load(spec: ModelSpec, source: WeightSource, options: CpuRunnerOptions, shard: CpuShard = { rank: 0, size: 1 }): CpuRunner {
    const tensors = canonicalTensors(spec, source);
    const nativeSpec = shardSpec(spec, shard.size);
    const numKvBlocks = Math.floor(options.kvCacheBytes / kvBytesPerBlock(nativeSpec));
    if (numKvBlocks < 1) {
      throw new ModelLoadError(`kvCacheBytes ${options.kvCacheBytes} is less than one KV block (${kvBytesPerBlock(nativeSpec)} bytes)`);
    }
    const addon = loadCpuAddon();
    const numThreads = options.numThreads || availableParallelism();
    const native = new addon.CpuModel({
      ...nativeModelShape(nativeSpec),
      maxTokensPerChunk: options.maxTokensPerChunk ?? 256,
      numKvBlocks,
      maxLoras: options.maxLoras,
      maxLoraRank: options.maxLoraRank,
      numThreads,
      ...(shard.size > 1 ? { shardRank: shard.rank, shardCount: shard.size } : {}),
      lmHeadBits: lmHeadBits(options.lmHeadDtype ?? 'auto'),
    });
    try {
      for (const { ref, tensor } of tensors) {
        const part = shardTensor(spec, ref.slot, tensor, shard.rank, shard.size);
        if (part !== null) native.setTensor(ref.layer, ref.slot, nativeTensorOf(ref.slot, part));
      }
      native.finishLoading();
    } catch (err) {
      native.dispose();
      throw err instanceof Error ? new ModelLoadError(err.message) : err;
    }
    const isTokenBitmaskLate = options.lateTokenBitmask ?? numThreads < availableParallelism();
    return new CpuRunner(spec, native, numKvBlocks, options.maxLoras, options.maxLoraRank, shard, isTokenBitmaskLate);
  }

  execute(batch: StepBatch): Promise<StepOutput> {
    return this.steps.run(batch, (step) => this.live().execute(step));
  }

  private executeLate(batch: StepBatch, fillMask: FillTokenBitmask): Promise<StepOutput> {
    return this.steps.run(batch, (step) => executeWithLateBitmask(this.live(), step, fillMask));
  }

  loadAdapter(slot: number, weights: LoraWeights): void {
    const native = this.live();
    const { rank, size } = this.shard;
    const modules = nativeLoraModules(this.spec, weights, this.maxLoraRank).map((module) => shardLoraModule(this.spec, module, rank, size));
    native.loadAdapter(slot, weights.scale, modules);
  }

  unloadAdapter(slot: number): void {
    this.live().unloadAdapter(slot);
  }

  /** Calibration (GPTQ export): steps from now on sum X^T X of `layer`'s linear inputs, from zero (-1: off). */
  captureInputGrams(layer: number): void {
    this.live().captureInputGrams(layer);
  }

  inputGrams(): LinearInputGrams {
    return this.live().inputGrams();
  }

  /** Swaps one layer's linear weight between steps (GPTQ export: a layer's quantized weights, before the next layer calibrates). */
  replaceLinear(layer: number, slot: LinearSlot, tensor: TensorData): void {
    this.live().setTensor(layer, slot, nativeTensorOf(slot, tensor));
  }

  /** A shard's collective, for the rendezvous (src/runtime/distributed/): see NativeCpuModel.listenGroup and the two after it. */
  get group(): Pick<NativeCpuModel, 'listenGroup' | 'acceptGroup' | 'connectGroup'> {
    return this.live();
  }

  dispose(): void {
    this.native?.dispose();
    this.native = null;
  }

  private live(): NativeCpuModel {
    if (!this.native) throw new Error('the CPU runner was disposed');
    return this.native;
  }
}
