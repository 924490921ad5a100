/**
 * The weight-format hook for quantized checkpoints: a linear slot is read from several tensors
 * per projection (qweight, qzeros, scales, g_idx) instead of one `.weight`, then its projections'
 * rows are joined (q/k/v into qkv) as the dense path joins them.
 */
import { projectionShape, PROJECTIONS_OF_SLOT, type LinearSlot } from '../layout.js';
import type { WeightSource } from '../tensors.js';
import type { ModelSpec } from '../spec.js';
import { concatQuantizedRows, type QuantizedTensor } from '../weight-formats/quantized.js';
import { readAwq } from './awq-packing.js';
import { readGptq } from './gptq-packing.js';
import type { QuantConfig } from './quant-config.js';

const WEIGHT_SUFFIX = '.weight';

/** The module a projection's `.weight` name belongs to. */
function moduleOf(weightName: string): string {
  return weightName.endsWith(WEIGHT_SUFFIX) ? weightName.slice(0, -WEIGHT_SUFFIX.length) : weightName;
}

/** The checkpoint tensors that replace a projection's `.weight` in a quantized checkpoint. */
export function quantizedTensorNames(weightName: string, config: QuantConfig): string[] {
  const suffixes = config.descAct ? ['qweight', 'qzeros', 'scales', 'g_idx'] : ['qweight', 'qzeros', 'scales'];
  return suffixes.map((suffix) => `${moduleOf(weightName)}.${suffix}`);
}

/** A linear slot of a quantized checkpoint; `weightNames` are its projections' `.weight` names in row order. */
export function readQuantizedSlot(spec: ModelSpec, config: QuantConfig, source: WeightSource, slot: LinearSlot, weightNames: readonly string[]): QuantizedTensor {
  const read = config.method === 'awq' ? readAwq : readGptq;
  const modules = weightNames.map(moduleOf);
  const parts = PROJECTIONS_OF_SLOT[slot].map((projection, i) => read(source, modules[i]!, projectionShape(spec, projection), config));
  return concatQuantizedRows(modules, parts);
}
