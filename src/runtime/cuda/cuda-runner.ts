/**
 * The CUDA ModelRunner: weights uploaded once in bf16, the KV cache sized from the GPU memory
 * left, then one native call per engine step (forward, sampling and logprobs on the GPU; only
 * the chosen ids and asked-for logprobs come back).
 */
import { nativeLoraModules } from '../native-lora.js';
import { nativeModelShape } from '../native-shape.js';
import { shardLoraModule, shardSpec, shardTensor } from '../tensor-parallel.js';
import { ModelLoadError } from '../../model/errors.js';
import type { ModelSpec } from '../../model/spec.js';
import { canonicalTensors } from '../../model/arch/checkpoint.js';
import { nativeTensorOf } from '../../model/weight-formats/registry.js';
import type { FillTokenBitmask, LoraWeights, ModelRunner, RunnerOptions, StepBatch, StepOutput, WeightSource } from '../types.js';
import { executeWithLateBitmask } from '../late-token-bitmask.js';
import { StepQueue } from '../step-queue.js';
import { KV_BLOCK_SIZE } from '../../model/layout.js';
import { kernelImagePath, loadCudaAddon, type CudaProcessRank, type NativeCudaModel, type RandomIntFormat } from './native.js';

export interface CudaRunnerOptions extends Partial<RunnerOptions> {
  /** Fraction of the card's memory for weights, scratch and KV cache, used when kvCacheBytes is 0 or absent (vLLM's default 0.9). */
  gpuMemoryUtilization?: number;
  /** Largest step in tokens (the engine's maxNumBatchedTokens). */
  maxNumTokens?: number;
  /** Largest batch in sequences (the engine's maxNumSeqs). */
  maxNumSeqs?: number;
  /** Longest context; defaults to the model's max_position_embeddings, at most 32768. */
  maxModelLen?: number;
  /** Skip CUDA graphs (vLLM's --enforce-eager). */
  enforceEager?: boolean;
  /** CUDA device ordinal of the first GPU. */
  device?: number;
  /** GPUs to shard the model over (ordinals device .. device + size - 1), with NCCL all-reduces. */
  tensorParallelSize?: number;
  /** Instead: this process holds one rank of a model split over processes (its GPU is `device`); tensorParallelSize is ignored. */
  processGroup?: CudaProcessRank;
}


/** KV cache bytes one block of KV_BLOCK_SIZE tokens takes over all layers (K and V, bf16). */
export function cudaKvBytesPerBlock(spec: ModelSpec): number {
  return spec.numLayers * 2 * KV_BLOCK_SIZE * spec.numKvHeads * spec.headDim * 2;
}

export class CudaRunner implements ModelRunner {
  readonly device = 'cuda' as const;
  /** Steps queue on the host (StepQueue); the native model takes one at a time. */
  readonly supportsAsyncScheduling = true;
  private native: NativeCudaModel | null;
  private readonly steps = new StepQueue();

  private constructor(
    readonly spec: ModelSpec,
    native: NativeCudaModel,
    readonly numKvBlocks: number,
    readonly maxModelLen: number,
    readonly weightBytes: number,
    readonly maxLoras: number,
    private readonly maxLoraRank: number,
    /** The ranks this process holds: all, or its one rank of a process group. */
    private readonly ranks: readonly number[],
    readonly tensorParallelSize: number,
  ) {
    this.native = native;
  }

  /** Checks the checkpoint has every tensor, uploads them one canonical slot at a time (each rank its shard), then sizes the KV cache. */
  static load(spec: ModelSpec, source: WeightSource, options: CudaRunnerOptions = {}): CudaRunner {
    const tensors = canonicalTensors(spec, source);
    return CudaRunner.build(spec, options, (native, ranks, size) => {
      for (const { ref, tensor } of tensors) {
        ranks.forEach((rank, local) => {
          const shard = shardTensor(spec, ref.slot, tensor, rank, size);
          if (shard) native.uploadTensor(local, ref.layer, ref.slot, nativeTensorOf(ref.slot, shard));
        });
      }
    });
  }

  /** A runner whose weights are made on the GPU from a seed (benchmarks: no checkpoint needed); bf16, or int codes in `intFormat`. */
  static withRandomWeights(spec: ModelSpec, seed: number, options: CudaRunnerOptions = {}, intFormat?: RandomIntFormat): CudaRunner {
    return CudaRunner.build(spec, options, (native) => native.initRandomWeights(seed, intFormat));
  }

  /** `fill` gets the ranks this process holds (all of them, or its one rank of a process group) and the group's size. */
  private static build(spec: ModelSpec, options: CudaRunnerOptions, fill: (native: NativeCudaModel, ranks: number[], size: number) => void): CudaRunner {
    const maxLoras = options.maxLoras ?? 0;
    const maxLoraRank = maxLoras > 0 ? (options.maxLoraRank ?? 16) : 0;
    if (maxLoras > 0 && (maxLoraRank < 1 || maxLoraRank > 256)) {
      throw new ModelLoadError(`the CUDA runner takes LoRA ranks 1..256 (--max-lora-rank ${maxLoraRank})`);
    }
    const addon = loadCudaAddon();
    const { processGroup } = options;
    const size = processGroup?.size ?? options.tensorParallelSize ?? 1;
    const ranks = processGroup ? [processGroup.rank] : Array.from({ length: size }, (_, rank) => rank);
    const shard = shardSpec(spec, size);
    const first = options.device ?? 0;
    const available = addon.deviceCount();
    if (first + ranks.length > available) {
      throw new ModelLoadError(
        ranks.length > 1
          ? `--tensor-parallel-size ${size} needs GPUs ${first}..${first + size - 1}, but ${available} GPU(s) are visible`
          : `CUDA device ${first} does not exist (${available} GPU(s) visible)`,
      );
    }
    const maxModelLen = options.maxModelLen ?? Math.min(spec.maxPositionEmbeddings, 32768);
    const native = new addon.CudaModel({
      ...nativeModelShape(shard),
      maxNumTokens: options.maxNumTokens ?? 8192,
      maxNumSeqs: options.maxNumSeqs ?? 256,
      maxModelLen,
      maxLoras,
      maxLoraRank,
      useCudaGraphs: !(options.enforceEager ?? false),
      devices: Int32Array.from(ranks, (_, local) => first + local),
      fatbinPath: kernelImagePath(),
      ...(processGroup ? { processGroup } : {}),
    });
    try {
      fill(native, ranks, size);
      // NOTE: --kv-cache-memory is the whole group's, as with -tp in one process; a process holds its share.
      const kvCacheBytes = Math.floor((options.kvCacheBytes ?? 0) * (ranks.length / size));
      const numKvBlocks = native.allocateKvCache(kvCacheBytes, options.gpuMemoryUtilization ?? 0.9);
      return new CudaRunner(spec, native, numKvBlocks, maxModelLen, native.info().weightBytes, maxLoras, maxLoraRank, ranks, size);
    } catch (error) {
      native.dispose();
      throw error;
    }
  }

  /**
   * A step built ahead (it takes tokens from the step before it) runs wholly on a worker thread,
   * so the engine postprocesses the step before it meanwhile; other decode steps replayed from a
   * graph run on the JS thread, where they cost less (native/cuda/src/addon.cc).
   */
  execute(batch: StepBatch): Promise<StepOutput> {
    return this.steps.run(batch, (step) => this.live().execute(step, false, step.previousSampledRow != null));
  }

  executeWithLateBitmask(batch: StepBatch, fillMask: FillTokenBitmask): Promise<StepOutput> {
    return this.steps.run(batch, (step) => executeWithLateBitmask(this.live(), step, fillMask));
  }

  /** Resident in a GPU slot (fp32, as PEFT keeps it); a step in flight finishes with what it started with. */
  loadAdapter(slot: number, weights: LoraWeights): void {
    const native = this.live();
    const modules = nativeLoraModules(this.spec, weights, this.maxLoraRank);
    const perRank = this.ranks.map((rank) => modules.map((m) => shardLoraModule(this.spec, m, rank, this.tensorParallelSize)));
    native.loadAdapter(slot, weights.scale, perRank);
  }

  unloadAdapter(slot: number): void {
    this.live().unloadAdapter(slot);
  }

  private live(): NativeCudaModel {
    if (!this.native) throw new Error('CUDA runner was disposed');
    return this.native;
  }

  dispose(): void {
    this.native?.dispose();
    this.native = null;
  }
}
