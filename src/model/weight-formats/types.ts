/**
 * A weight format: how a linear layer's weight crosses to native code (vLLM's `quant_method`).
 * Native code turns the NativeTensor into a linear-layer object by the same name
 * (native/cpu/linear.h makeLinear; the CUDA runner's equivalent), so the forward pass never
 * branches on how a weight is stored.
 */
import type { NativeTensor } from '../layout.js';
import type { TensorData } from '../tensors.js';

export interface WeightFormat {
  /** NativeTensor.format: the name native's format registry knows it by. */
  readonly name: string;
  /** A linear slot's weight, its rows already in the canonical order, as native takes it. */
  toNative(tensor: TensorData): NativeTensor;
}
