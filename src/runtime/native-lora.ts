/** LoraWeights as both native runners take them: one entry per (layer, projection) module. */
import { architectureOf } from '../model/arch/registry.js';
import { ModelLoadError } from '../model/errors.js';
import type { ModelSpec } from '../model/spec.js';
import type { Projection } from '../model/layout.js';
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
    modules.push({ ...target, rank: m.a.length / m.inFeatures, a: m.a, b: m.b });
  }
  return modules;
}
