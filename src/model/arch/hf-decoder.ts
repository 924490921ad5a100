/**
 * The tensor names of transformers' Llama-style decoders (Llama, Mistral, Yi, Qwen2, Qwen3 and
 * many more): `model.layers.<n>.self_attn.q_proj.weight` and so on, one tensor per projection.
 * A family whose checkpoint names its tensors otherwise (Qwen v1's fused `c_attn`, ChatGLM's
 * `query_key_value`) writes its own CheckpointLayout instead of using this one.
 */
import {
  linearOf, MODEL_LAYER, PROJECTIONS, PROJECTIONS_OF_SLOT, type LayerSlot, type ModelSlot, type Projection, type SlotRef,
} from '../layout.js';
import { ModelLoadError } from '../errors.js';
import { concatRows } from './rows.js';
import type { CheckpointLayout } from './types.js';

const MODEL_TENSORS: Record<ModelSlot, string> = {
  embedding: 'model.embed_tokens.weight',
  lmHead: 'lm_head.weight',
  finalNorm: 'model.norm.weight',
};

/** Module paths inside `model.layers.<n>.`. */
const PROJECTION_MODULES: Record<Projection, string> = {
  q_proj: 'self_attn.q_proj',
  k_proj: 'self_attn.k_proj',
  v_proj: 'self_attn.v_proj',
  o_proj: 'self_attn.o_proj',
  gate_proj: 'mlp.gate_proj',
  up_proj: 'mlp.up_proj',
  down_proj: 'mlp.down_proj',
};

const LAYER_VECTORS: Partial<Record<LayerSlot, string>> = {
  inputNorm: 'input_layernorm.weight',
  postNorm: 'post_attention_layernorm.weight',
  qNorm: 'self_attn.q_norm.weight',
  kNorm: 'self_attn.k_norm.weight',
};

const MODULE_NAME = /^model\.layers\.(\d+)\.(.+)$/;
const PROJECTION_OF_MODULE = new Map<string, Projection>(PROJECTIONS.map((p) => [PROJECTION_MODULES[p], p]));

function layerTensorsOf(layer: number, slot: LayerSlot): string[] {
  const prefix = `model.layers.${layer}.`;
  const vector = LAYER_VECTORS[slot];
  if (vector) return [prefix + vector];
  const linear = linearOf(slot);
  if (!linear) throw new ModelLoadError(`no checkpoint tensor for slot ${slot}`);
  const kind = linear === slot ? 'weight' : 'bias';
  return PROJECTIONS_OF_SLOT[linear].map((p) => `${prefix}${PROJECTION_MODULES[p]}.${kind}`);
}

export const HF_DECODER_LAYOUT: CheckpointLayout = {
  tensorsOf(ref: SlotRef): string[] {
    return ref.layer === MODEL_LAYER ? [MODEL_TENSORS[ref.slot as ModelSlot]] : layerTensorsOf(ref.layer, ref.slot as LayerSlot);
  },
  read(_spec, source, ref) {
    const names = this.tensorsOf(ref);
    return concatRows(names, names.map((name) => source.read(name)), `${ref.slot} of layer ${ref.layer}`);
  },
  loraModuleName(layer, projection) {
    return `model.layers.${layer}.${PROJECTION_MODULES[projection]}`;
  },
  parseLoraModuleName(name) {
    const match = MODULE_NAME.exec(name);
    const projection = match ? PROJECTION_OF_MODULE.get(match[2] ?? '') : undefined;
    return match && projection ? { layer: Number(match[1]), projections: [projection] } : undefined;
  },
};
