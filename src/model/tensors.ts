/** Checkpoint tensors and LoRA weights as they leave src/model for a runner. */
import type { WeightDtype } from './spec.js';

/** A checkpoint tensor's storage type: a weight dtype, or int32 for quantized checkpoints' packed integers. */
export type TensorDtype = WeightDtype | 'int32';

/** Raw tensor bytes as stored in a checkpoint (little-endian). */
export interface TensorData {
  dtype: TensorDtype;
  shape: number[];
  /** Exactly the tensor's bytes. */
  bytes: Uint8Array;
}

/** Pulls checkpoint tensors one at a time, so a runner can convert and drop each. */
export interface WeightSource {
  has(name: string): boolean;
  /** Throws an error naming the tensor when it is missing. */
  read(name: string): TensorData;
}

/** One PEFT LoRA adapter, already scaled: delta W = scale * B @ A. */
export interface LoraWeights {
  rank: number;
  /** lora_alpha / r, or lora_alpha / sqrt(r) with rsLoRA. */
  scale: number;
  /**
   * Keyed by the base weight's name without `.weight`, e.g. `model.layers.0.self_attn.q_proj`.
   * a: (rank, inFeatures), b: (outFeatures, rank), row-major fp32.
   */
  modules: Map<string, { a: Float32Array; b: Float32Array; inFeatures: number; outFeatures: number }>;
}
