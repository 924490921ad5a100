/**
 * The canonical weight layout both native runners take (native/common/layout.h is its twin):
 * tensors by (layer, slot), never by a checkpoint's name. The architecture modules
 * (src/model/arch/) map each checkpoint onto it.
 */
import type { ModelSpec } from './spec.js';

/** Tokens per KV-cache block (native/common/layout.h kKvBlockSize; the CUDA attention tiles assume it). */
export const KV_BLOCK_SIZE = 16;

// NOTE: listed in load order, which is also the order of the tensors in the files swiftlet writes
// (random checkpoints, GGUF export); native/common/layout.h numbers the same names its own way.
/** Model-level slots: they take layer MODEL_LAYER. */
export const MODEL_SLOTS = ['embedding', 'finalNorm', 'lmHead'] as const;
/** Slots every decoder layer has one of (or none, when the spec's switches leave them out). */
export const LAYER_SLOTS = [
  'inputNorm', 'postNorm', 'qkv', 'o', 'gateUp', 'down', 'qkvBias', 'oBias', 'gateUpBias', 'downBias', 'qNorm', 'kNorm',
] as const;
export type ModelSlot = (typeof MODEL_SLOTS)[number];
export type LayerSlot = (typeof LAYER_SLOTS)[number];
export type Slot = ModelSlot | LayerSlot;

/** The layer index of a model-level slot. */
export const MODEL_LAYER = -1;

/** One canonical tensor's place: a model-level slot with MODEL_LAYER, or a layer slot with its layer. */
export type SlotRef = { layer: typeof MODEL_LAYER; slot: ModelSlot } | { layer: number; slot: LayerSlot };

/** The projections a LoRA module can target, in forward order (native/common/layout.h Projection). */
export const PROJECTIONS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type Projection = (typeof PROJECTIONS)[number];

/** A linear layer's weight slot: its weight format decides how it is stored and multiplied. */
export type LinearSlot = 'qkv' | 'o' | 'gateUp' | 'down';
const LINEAR_SLOTS: ReadonlySet<Slot> = new Set<LinearSlot>(['qkv', 'o', 'gateUp', 'down']);
export function isLinearSlot(slot: Slot): slot is LinearSlot {
  return LINEAR_SLOTS.has(slot);
}

/** The projections whose output rows make up each linear slot, in row order (qkv: q, then k, then v). */
export const PROJECTIONS_OF_SLOT: Readonly<Record<LinearSlot, readonly Projection[]>> = {
  qkv: ['q_proj', 'k_proj', 'v_proj'],
  o: ['o_proj'],
  gateUp: ['gate_proj', 'up_proj'],
  down: ['down_proj'],
};

const LINEAR_OF_SLOT: Partial<Record<Slot, LinearSlot>> = {
  qkv: 'qkv', qkvBias: 'qkv', o: 'o', oBias: 'o', gateUp: 'gateUp', gateUpBias: 'gateUp', down: 'down', downBias: 'down',
};
/** The linear layer a weight or bias slot belongs to; undefined for norms and the model-level slots. */
export function linearOf(slot: Slot): LinearSlot | undefined {
  return LINEAR_OF_SLOT[slot];
}

/** A tensor as both addons take it (setTensor / uploadTensor): a weight format's buffers and parameters. */
export interface NativeTensor {
  /** `bfloat16` | `float16` | `float32` for dense tensors (buffers `{ weight }`); a quantized format otherwise. */
  format: string;
  shape: number[];
  buffers: { [name: string]: Uint8Array };
  params?: { [name: string]: number };
}

/** [outputs, inputs] of one projection. */
export function projectionShape(spec: ModelSpec, projection: Projection): [number, number] {
  const H = spec.hiddenSize;
  const I = spec.intermediateSize;
  const q = spec.numHeads * spec.headDim;
  const kv = spec.numKvHeads * spec.headDim;
  const shapes: Record<Projection, [number, number]> = {
    q_proj: [q, H], k_proj: [kv, H], v_proj: [kv, H], o_proj: [H, q], gate_proj: [I, H], up_proj: [I, H], down_proj: [H, I],
  };
  return shapes[projection];
}

/** The output rows of each part of a linear slot, in order (qkv: [q, kv, kv]). */
export function slotRowParts(spec: ModelSpec, slot: LinearSlot): number[] {
  return PROJECTIONS_OF_SLOT[slot].map((p) => projectionShape(spec, p)[0]);
}

function linearSlotShape(spec: ModelSpec, slot: LinearSlot): [number, number] {
  const rows = slotRowParts(spec, slot).reduce((a, b) => a + b, 0);
  return [rows, projectionShape(spec, PROJECTIONS_OF_SLOT[slot][0]!)[1]];
}

/** The shape native expects for a slot of `spec` (see native/common/layout.h). */
export function slotShape(spec: ModelSpec, slot: Slot): number[] {
  switch (slot) {
    case 'embedding':
    case 'lmHead':
      return [spec.vocabSize, spec.hiddenSize];
    case 'finalNorm':
    case 'inputNorm':
    case 'postNorm':
      return [spec.hiddenSize];
    case 'qNorm':
    case 'kNorm':
      return [spec.headDim];
    case 'qkvBias':
      return [linearSlotShape(spec, 'qkv')[0]];
    case 'oBias':
      return [linearSlotShape(spec, 'o')[0]];
    case 'gateUpBias':
      return [linearSlotShape(spec, 'gateUp')[0]];
    case 'downBias':
      return [linearSlotShape(spec, 'down')[0]];
    default:
      return linearSlotShape(spec, slot);
  }
}

/** Whether `spec`'s switches give each layer this slot. */
function hasLayerSlot(spec: ModelSpec, slot: LayerSlot): boolean {
  switch (slot) {
    case 'qkvBias':
      return spec.qkvBias;
    case 'oBias':
      return spec.oBias;
    case 'gateUpBias':
    case 'downBias':
      return spec.mlpBias;
    case 'qNorm':
    case 'kNorm':
      return spec.qkNorm;
    default:
      return true;
  }
}

/** Every tensor `spec` needs, in load order: the model-level slots, then layer by layer. */
export function requiredSlots(spec: ModelSpec): SlotRef[] {
  const refs: SlotRef[] = MODEL_SLOTS.filter((slot) => slot !== 'lmHead' || !spec.tieWordEmbeddings).map((slot) => ({ layer: MODEL_LAYER, slot }));
  for (let layer = 0; layer < spec.numLayers; layer++) {
    for (const slot of LAYER_SLOTS) if (hasLayerSlot(spec, slot)) refs.push({ layer, slot });
  }
  return refs;
}
