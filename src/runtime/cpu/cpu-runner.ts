/** The CPU ModelRunner: weights into the native model once, then one native call per step. */
import { nativeModelShape } from '../native-shape.js';
import { availableParallelism } from 'node:os';
import { ModelLoadError } from '../../model/errors.js';
import type { ModelSpec } from '../../model/spec.js';
import { checkWeights, requiredTensorNames } from '../../model/weights.js';
import type { LoraWeights, ModelRunner, RunnerOptions, StepBatch, StepOutput, WeightSource } from '../types.js';
import { KV_BLOCK_SIZE } from '../types.js';
import { loadCpuAddon, type NativeCpuModel, type NativeLoraModule, type NativeProjection } from './native.js';

export interface CpuRunnerOptions extends RunnerOptions {
  /** Tokens per forward chunk; sizes the scratch buffers. A longer step runs as several chunks. */
  maxTokensPerChunk?: number;
}

const SUPPORTED_FAMILIES: ReadonlySet<ModelSpec['family']> = new Set(['llama', 'qwen2', 'qwen3']);
const PROJECTIONS: ReadonlySet<string> = new Set(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
const FP32_BYTES = 4;

/** KV cache bytes one block of KV_BLOCK_SIZE tokens takes over all layers (K and V, fp32). */
export function kvBytesPerBlock(spec: ModelSpec): number {
  return spec.numLayers * 2 * KV_BLOCK_SIZE * spec.numKvHeads * spec.headDim * FP32_BYTES;
}

/** `model.layers.3.self_attn.q_proj` -> layer 3, `q_proj`. */
function parseLoraModuleName(name: string): { layer: number; projection: NativeProjection } {
  const match = /^model\.layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)$/.exec(name);
  if (!match || !PROJECTIONS.has(match[2] ?? '')) {
    throw new ModelLoadError(`LoRA module "${name}" is not one of q/k/v/o/gate/up/down_proj of a decoder layer`);
  }
  return { layer: Number(match[1]), projection: match[2] as NativeProjection };
}

export class CpuRunner implements ModelRunner {
  readonly device = 'cpu' as const;
  private native: NativeCpuModel | null;

  private constructor(
    readonly spec: ModelSpec,
    native: NativeCpuModel,
    readonly numKvBlocks: number,
    readonly maxLoras: number,
    private readonly maxLoraRank: number,
  ) {
    this.native = native;
  }

  /** Checks the checkpoint has every tensor first, then converts them one at a time. */
  static load(spec: ModelSpec, source: WeightSource, options: CpuRunnerOptions): CpuRunner {
    if (!SUPPORTED_FAMILIES.has(spec.family)) {
      throw new ModelLoadError(`the CPU runner does not support architecture "${spec.hfArchitecture}" (family ${spec.family})`);
    }
    checkWeights(spec, source);
    const numKvBlocks = Math.floor(options.kvCacheBytes / kvBytesPerBlock(spec));
    if (numKvBlocks < 1) {
      throw new ModelLoadError(`kvCacheBytes ${options.kvCacheBytes} is less than one KV block (${kvBytesPerBlock(spec)} bytes)`);
    }
    const addon = loadCpuAddon();
    const native = new addon.CpuModel({
      ...nativeModelShape(spec),
      maxTokens: options.maxTokensPerChunk ?? 256,
      numKvBlocks,
      maxLoras: options.maxLoras,
      maxLoraRank: options.maxLoraRank,
      numThreads: options.numThreads ?? availableParallelism(),
    });
    try {
      for (const name of requiredTensorNames(spec)) {
        const tensor = source.read(name);
        native.setWeight(name, tensor.dtype, tensor.shape, tensor.bytes);
      }
      native.finishLoading();
    } catch (err) {
      native.dispose();
      throw err instanceof Error ? new ModelLoadError(err.message) : err;
    }
    return new CpuRunner(spec, native, numKvBlocks, options.maxLoras, options.maxLoraRank);
  }

  execute(batch: StepBatch): Promise<StepOutput> {
    if (!this.native) return Promise.reject(new Error('the CPU runner was disposed'));
    return this.native.execute(batch);
  }

  loadAdapter(slot: number, weights: LoraWeights): void {
    const native = this.live();
    if (weights.rank > this.maxLoraRank) {
      throw new ModelLoadError(`LoRA rank ${weights.rank} exceeds maxLoraRank ${this.maxLoraRank}`);
    }
    const modules: NativeLoraModule[] = [];
    for (const [name, m] of weights.modules) {
      const { layer, projection } = parseLoraModuleName(name);
      if (layer >= this.spec.numLayers) throw new ModelLoadError(`LoRA module "${name}": the model has ${this.spec.numLayers} layers`);
      modules.push({ layer, projection, rank: m.a.length / m.inFeatures, a: m.a, b: m.b });
    }
    native.loadAdapter(slot, weights.scale, modules);
  }

  unloadAdapter(slot: number): void {
    this.live().unloadAdapter(slot);
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
