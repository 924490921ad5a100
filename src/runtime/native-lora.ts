/** LoraWeights as both native runners take them: one entry per (layer, projection) module. */
import { architectureOf } from '../model/arch/registry.js';
import { ModelLoadError } from '../model/errors.js';
import type { ModelSpec } from '../model/spec.js';
import { projectionShape, type Projection } from '../model/layout.js';
import type { LoraWeights } from './types.js';

export interface NativeLoraModule {
  layer: number;
  projection: Projection;
  rank: number;
  /** [rank, inFeatures] */
  a: Float32Array;
  /** [outFeatures, rank] */
  b: Float32Array;
}

/** Checks the rank and the layers against the runner and the model; shapes are checked natively. */
export function nativeLoraModules(spec: ModelSpec, weights: LoraWeights, maxLoraRank: number): NativeLoraModule[] {
  if (weights.rank > maxLoraRank) {
    throw new ModelLoadError(`LoRA rank ${weights.rank} exceeds maxLoraRank ${maxLoraRank}`);
  }
  const { checkpoint } = architectureOf(spec);
  const modules: NativeLoraModule[] = [];
  for (const [name, m] of weights.modules) {
    const target = checkpoint.parseLoraModuleName(name);
    if (!target) throw new ModelLoadError(`LoRA module "${name}" is not one of q/k/v/o/gate/up/down_proj of a decoder layer`);
    if (target.layer >= spec.numLayers) throw new ModelLoadError(`LoRA module "${name}": the model has ${spec.numLayers} layers`);
    const rank = m.a.length / m.inFeatures;
    // NOTE: a fused module (Qwen v1's c_attn) is B·A over its projections' rows: each keeps A and its rows of B.
    let firstRow = 0;
    for (const projection of target.projections) {
      const rows = projectionShape(spec, projection)[0];
      modules.push({ layer: target.layer, projection, rank, a: m.a, b: m.b.subarray(firstRow * rank, (firstRow + rows) * rank) });
      firstRow += rows;
    }
  }
  return modules;
}
