/**
 * A CheckpointLayout from a table of tensor names, for checkpoints whose projections come fused
 * already (Qwen v1's `c_attn`, ChatGLM's `query_key_value` and `dense_h_to_4h`): each canonical
 * slot is one or more checkpoint tensors whose rows are joined in the listed order.
 */
import { MODEL_LAYER, type LayerSlot, type ModelSlot, type Projection, type SlotRef } from '../layout.js';
import { ModelLoadError } from '../errors.js';
import { concatRows } from './rows.js';
import type { CheckpointLayout } from './types.js';

export interface CheckpointNames {
  /** The model-level tensors. */
  model: Readonly<Record<ModelSlot, string>>;
  /** The prefix of layer `n`'s tensors, e.g. `transformer.h.3.`. */
  layerPrefix(layer: number): string;
  /** Per layer slot, the tensors (after the prefix) whose rows make it, in order. */
  layer: Readonly<Record<LayerSlot, readonly string[] | undefined>>;
  /** Why LoRA adapters of this family cannot load yet (its PEFT targets fuse several canonical projections). */
  loraRefusal: string;
}

export function namedCheckpointLayout(names: CheckpointNames): CheckpointLayout {
  const layerTensors = (layer: number, slot: LayerSlot): string[] => {
    const parts = names.layer[slot];
    if (!parts) throw new ModelLoadError(`no checkpoint tensor for slot ${slot}`);
    return parts.map((part) => names.layerPrefix(layer) + part);
  };
  const refuseLora = (): never => {
    throw new ModelLoadError(names.loraRefusal);
  };
  return {
    tensorsOf(ref: SlotRef): string[] {
      return ref.layer === MODEL_LAYER ? [names.model[ref.slot as ModelSlot]] : layerTensors(ref.layer, ref.slot as LayerSlot);
    },
    read(_spec, source, ref) {
      const tensorNames = this.tensorsOf(ref);
      return concatRows(tensorNames, tensorNames.map((name) => source.read(name)), `${ref.slot} of layer ${ref.layer}`);
    },
    loraModuleName: (_layer: number, _projection: Projection) => refuseLora(),
    parseLoraModuleName: () => refuseLora(),
  };
}
