/**
 * GPTQ over a whole model (layerwise-calibration.ts's sequential order): each layer's projections
 * are quantized against H = 2 X^T X / n of their slot's calibration inputs.
 */
import type { LinearInputGrams } from '../runtime/cpu/native.js';
import { architectureOf } from '../model/arch/registry.js';
import { PROJECTIONS_OF_SLOT, projectionShape, type LinearSlot } from '../model/layout.js';
import { fromFloat32 } from '../model/safetensors-writer.js';
import { toFloat32 } from '../model/safetensors.js';
import type { ModelSpec } from '../model/spec.js';
import type { TensorData } from '../model/tensors.js';
import { dequantize, type QuantizedTensor } from '../model/weight-formats/quantized.js';
import type { NamedSource } from '../model/quant/quantized-checkpoint.js';
import { quantizeGptq, type GptqOptions } from '../model/quant/gptq.js';
import type { QuantGrid } from '../model/quant/rtn.js';
import { calibrateLayerByLayer, LINEAR_SLOTS, type CalibrationOptions } from './layerwise-calibration.js';

export interface GptqModelOptions extends CalibrationOptions {
  grid: QuantGrid;
  gptq: GptqOptions;
}

/** H = 2 X^T X / n of one linear slot's inputs. */
function hessianOf(grams: LinearInputGrams, slot: LinearSlot): Float64Array {
  const scale = 2 / Math.max(grams.rows, 1);
  return grams[slot].map((v) => v * scale);
}

/** Every projection of `spec` quantized by GPTQ, by its checkpoint module name (`model.layers.0.self_attn.q_proj`). */
export async function gptqQuantizeModel(spec: ModelSpec, dense: NamedSource, options: GptqModelOptions): Promise<Map<string, QuantizedTensor>> {
  const { checkpoint } = architectureOf(spec);
  const quantized = new Map<string, QuantizedTensor>();
  await calibrateLayerByLayer(spec, dense, options, (layer, grams) => {
    const replaced = new Map<string, TensorData>();
    for (const slot of LINEAR_SLOTS) {
      const hessian = hessianOf(grams, slot);
      for (const projection of PROJECTIONS_OF_SLOT[slot]) {
        const module = checkpoint.loraModuleName(layer, projection);
        const shape = projectionShape(spec, projection);
        const tensor = quantizeGptq(toFloat32(dense.read(`${module}.weight`)), shape, hessian, options.grid, options.gptq);
        quantized.set(module, tensor);
        replaced.set(`${module}.weight`, { dtype: 'float32', shape, bytes: fromFloat32(dequantize(tensor), 'float32') });
      }
    }
    return replaced;
  });
  return quantized;
}
