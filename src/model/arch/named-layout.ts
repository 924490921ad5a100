/**
 * A CheckpointLayout from a table of tensor names, for checkpoints whose projections come fused
 * already (Qwen v1's `c_attn`, ChatGLM's `query_key_value` and `dense_h_to_4h`): each canonical
 * slot is one or more checkpoint tensors whose rows are joined in the listed order, and a LoRA
 * module on a fused tensor adapts every projection whose rows it holds.
 */
import { MODEL_LAYER, PROJECTIONS, type LayerSlot, type ModelSlot, type Projection, type SlotRef } from '../layout.js';
import { ModelLoadError } from '../errors.js';
import { concatRows } from './rows.js';
import type { CheckpointLayout } from './types.js';

export interface CheckpointNames {
  /** The model-level tensors. */
  model: Readonly<Record<ModelSlot, string>>;
  /** The prefix of layer `n`'s tensors, e.g. `transformer.h.3.`. */
  layerPrefix(layer: number): string;
  /** A module name split into its layer (group 1) and the rest (group 2); the inverse of layerPrefix. */
  layerName: RegExp;
  /** Per layer slot, the tensors (after the prefix) whose rows make it, in order. */
  layer: Readonly<Record<LayerSlot, readonly string[] | undefined>>;
  /** Per projection, the module (after the prefix) holding its rows; fused projections name the same one. */
  modules: Readonly<Record<Projection, string>>;
}

export function namedCheckpointLayout(names: CheckpointNames): CheckpointLayout {
  const layerTensors = (layer: number, slot: LayerSlot): string[] => {
    const parts = names.layer[slot];
    if (!parts) throw new ModelLoadError(`no checkpoint tensor for slot ${slot}`);
    return parts.map((part) => names.layerPrefix(layer) + part);
  };
  return {
    tensorsOf(ref: SlotRef): string[] {
      return ref.layer === MODEL_LAYER ? [names.model[ref.slot as ModelSlot]] : layerTensors(ref.layer, ref.slot as LayerSlot);
    },
    read(_spec, source, ref) {
      const tensorNames = this.tensorsOf(ref);
      return concatRows(tensorNames, tensorNames.map((name) => source.read(name)), `${ref.slot} of layer ${ref.layer}`);
    },
    loraModuleName: (layer, projection) => names.layerPrefix(layer) + names.modules[projection],
    parseLoraModuleName(name) {
      const match = names.layerName.exec(name);
      const projections = PROJECTIONS.filter((p) => names.modules[p] === match?.[2]);
      return match && projections.length > 0 ? { layer: Number(match[1]), projections } : undefined;
    },
  };
}
