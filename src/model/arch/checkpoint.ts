/** A spec's checkpoint, read through its family's CheckpointLayout: which tensors it needs, and each slot in the canonical layout. */
import { ModelLoadError } from '../errors.js';
import type { ModelSpec } from '../spec.js';
import { isLinearSlot, requiredSlots, type SlotRef } from '../layout.js';
import type { TensorData, WeightSource } from '../tensors.js';
import { quantizedTensorNames, readQuantizedSlot } from '../quant/quantized-slot.js';
import type { QuantizedTensor } from '../weight-formats/quantized.js';
import { architectureOf } from './registry.js';

/** A canonical tensor: the checkpoint's bytes, or integer codes for a quantized checkpoint's linear slots. */
export type SlotTensor = TensorData | QuantizedTensor;

/** Every checkpoint tensor `spec` needs, by its checkpoint name, in load order. */
export function requiredTensorNames(spec: ModelSpec): string[] {
  const { checkpoint } = architectureOf(spec);
  const { quantization } = spec;
  return requiredSlots(spec).flatMap((ref) => {
    const names = checkpoint.tensorsOf(ref);
    return quantization && isLinearSlot(ref.slot) ? names.flatMap((name) => quantizedTensorNames(name, quantization)) : names;
  });
}

/** Fails with one error listing every missing tensor, before any weight is converted. */
export function checkWeights(spec: ModelSpec, source: WeightSource): void {
  const missing = requiredTensorNames(spec).filter((name) => !source.has(name));
  if (missing.length > 0) {
    const shown = missing.slice(0, 5).join(', ');
    const more = missing.length > 5 ? ` and ${missing.length - 5} more` : '';
    throw new ModelLoadError(`checkpoint is missing tensor(s) for ${spec.hfArchitecture}: ${shown}${more}`);
  }
}

/** One canonical tensor of `spec` (q/k/v already one `qkv`, and so on), read from the checkpoint. */
export function readSlot(spec: ModelSpec, source: WeightSource, ref: SlotRef): TensorData {
  return architectureOf(spec).checkpoint.read(spec, source, ref);
}

/** readSlot, or for a quantized checkpoint's linear slot its several packed tensors per projection. */
function readCanonicalSlot(spec: ModelSpec, source: WeightSource, ref: SlotRef): SlotTensor {
  if (!spec.quantization || !isLinearSlot(ref.slot)) return readSlot(spec, source, ref);
  return readQuantizedSlot(spec, spec.quantization, source, ref.slot, architectureOf(spec).checkpoint.tensorsOf(ref));
}

/** Every canonical tensor of `spec` in load order, read one at a time (so a runner can convert and drop each); checks first that none is missing. */
export function canonicalTensors(spec: ModelSpec, source: WeightSource): Iterable<{ ref: SlotRef; tensor: SlotTensor }> {
  checkWeights(spec, source);
  return (function* () {
    for (const ref of requiredSlots(spec)) yield { ref, tensor: readCanonicalSlot(spec, source, ref) };
  })();
}
