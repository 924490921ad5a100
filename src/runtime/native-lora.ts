/** LoraWeights as both native runners take them: one entry per (layer, projection) module. */
import { ModelLoadError } from '../model/errors.js';
import type { ModelSpec } from '../model/spec.js';
import type { LoraWeights } from './types.js';

export type NativeProjection = 'q_proj' | 'k_proj' | 'v_proj' | 'o_proj' | 'gate_proj' | 'up_proj' | 'down_proj';

export interface NativeLoraModule {
  layer: number;
  projection: NativeProjection;
  rank: number;
  /** [rank, inFeatures] */
  a: Float32Array;
  /** [outFeatures, rank] */
  b: Float32Array;
}

const PROJECTIONS: ReadonlySet<string> = new Set(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);

/** `model.layers.3.self_attn.q_proj` -> layer 3, `q_proj`. */
function parseLoraModuleName(name: string): { layer: number; projection: NativeProjection } {
  const match = /^model\.layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)$/.exec(name);
  if (!match || !PROJECTIONS.has(match[2] ?? '')) {
    throw new ModelLoadError(`LoRA module "${name}" is not one of q/k/v/o/gate/up/down_proj of a decoder layer`);
  }
  return { layer: Number(match[1]), projection: match[2] as NativeProjection };
}

/** Checks the rank and the layers against the runner and the model; shapes are checked natively. */
export function nativeLoraModules(spec: ModelSpec, weights: LoraWeights, maxLoraRank: number): NativeLoraModule[] {
  if (weights.rank > maxLoraRank) {
    throw new ModelLoadError(`LoRA rank ${weights.rank} exceeds maxLoraRank ${maxLoraRank}`);
  }
  const modules: NativeLoraModule[] = [];
  for (const [name, m] of weights.modules) {
    const { layer, projection } = parseLoraModuleName(name);
    if (layer >= spec.numLayers) throw new ModelLoadError(`LoRA module "${name}": the model has ${spec.numLayers} layers`);
    modules.push({ layer, projection, rank: m.a.length / m.inFeatures, a: m.a, b: m.b });
  }
  return modules;
}
