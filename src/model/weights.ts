/** Which checkpoint tensors a ModelSpec needs, named as Hugging Face names them. */
import { ModelLoadError } from './errors.js';
import type { ModelSpec } from './spec.js';
import type { WeightSource } from '../runtime/types.js';

/** The per-layer linear projections, in the order the forward pass uses them. */
export const LAYER_PROJECTIONS = [
  'self_attn.q_proj',
  'self_attn.k_proj',
  'self_attn.v_proj',
  'self_attn.o_proj',
  'mlp.gate_proj',
  'mlp.up_proj',
  'mlp.down_proj',
] as const;
export type LayerProjection = (typeof LAYER_PROJECTIONS)[number];

export function layerPrefix(layer: number): string {
  return `model.layers.${layer}`;
}

export function requiredTensorNames(spec: ModelSpec): string[] {
  const names = ['model.embed_tokens.weight', 'model.norm.weight'];
  if (!spec.tieWordEmbeddings) names.push('lm_head.weight');
  for (let layer = 0; layer < spec.numLayers; layer++) {
    const p = layerPrefix(layer);
    names.push(`${p}.input_layernorm.weight`, `${p}.post_attention_layernorm.weight`);
    for (const proj of LAYER_PROJECTIONS) names.push(`${p}.${proj}.weight`);
    if (spec.qkvBias) names.push(`${p}.self_attn.q_proj.bias`, `${p}.self_attn.k_proj.bias`, `${p}.self_attn.v_proj.bias`);
    if (spec.oBias) names.push(`${p}.self_attn.o_proj.bias`);
    if (spec.mlpBias) names.push(`${p}.mlp.gate_proj.bias`, `${p}.mlp.up_proj.bias`, `${p}.mlp.down_proj.bias`);
    if (spec.qkNorm) names.push(`${p}.self_attn.q_norm.weight`, `${p}.self_attn.k_norm.weight`);
  }
  return names;
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
