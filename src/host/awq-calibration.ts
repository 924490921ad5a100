/**
 * AWQ over a whole model (layerwise-calibration.ts's sequential order), as AutoAWQ applies it to
 * a decoder layer: one scale search (src/model/quant/awq.ts) per input the linears share, each
 * folded into what produces that input, so the model computes the same function before rounding:
 * - q, k, v read the input norm: their columns times s, the norm's weight divided by s;
 * - o reads v's heads (only without grouped KV heads, as AutoAWQ: o's columns then map one to one
 *   onto v's rows): o's columns times s, v's rows (and bias) divided by s;
 * - gate, up read the post-attention norm: likewise;
 * - down reads silu(gate) * up: its columns times s, up's rows (and bias) divided by s.
 * Then every projection is quantized with zero points (asymmetric groups), as AWQ checkpoints are.
 */
import type { LinearInputGrams } from '../runtime/cpu/native.js';
import { architectureOf } from '../model/arch/registry.js';
import { ModelLoadError } from '../model/errors.js';
import { PROJECTIONS, projectionShape, type LayerSlot, type LinearSlot, type Projection } from '../model/layout.js';
import { fromFloat32 } from '../model/safetensors-writer.js';
import { toFloat32 } from '../model/safetensors.js';
import type { ModelSpec } from '../model/spec.js';
import type { TensorData } from '../model/tensors.js';
import { dequantize, type QuantizedTensor } from '../model/weight-formats/quantized.js';
import { searchAwqScales } from '../model/quant/awq.js';
import type { NamedSource } from '../model/quant/quantized-checkpoint.js';
import { quantizeRtn, type QuantGrid } from '../model/quant/rtn.js';
import { calibrateLayerByLayer, type CalibrationOptions } from './layerwise-calibration.js';

export interface AwqModelOptions extends CalibrationOptions {
  grid: QuantGrid;
}

export interface AwqModel {
  /** Every projection's codes, by checkpoint module name. */
  quantized: Map<string, QuantizedTensor>;
  /** The norms and biases the scales were folded into, by checkpoint tensor name (in their stored dtype). */
  folded: Map<string, TensorData>;
}

/** One shared input: the linears reading it, the slot whose input sums it has, and where its scales are folded. */
interface ScaledInput {
  readers: readonly Projection[];
  grams: LinearSlot;
  /** A norm whose weight is divided by the scales, or a projection whose output rows are. */
  foldInto: { norm: LayerSlot } | { rows: Projection; bias: { slot: LayerSlot; index: number } | undefined };
}

function scaledInputs(spec: ModelSpec): ScaledInput[] {
  const inputs: ScaledInput[] = [{ readers: ['q_proj', 'k_proj', 'v_proj'], grams: 'qkv', foldInto: { norm: 'inputNorm' } }];
  if (spec.numKvHeads === spec.numHeads) {
    inputs.push({ readers: ['o_proj'], grams: 'o', foldInto: { rows: 'v_proj', bias: spec.qkvBias ? { slot: 'qkvBias', index: 2 } : undefined } });
  }
  inputs.push({ readers: ['gate_proj', 'up_proj'], grams: 'gateUp', foldInto: { norm: 'postNorm' } });
  inputs.push({ readers: ['down_proj'], grams: 'down', foldInto: { rows: 'up_proj', bias: spec.mlpBias ? { slot: 'gateUpBias', index: 1 } : undefined } });
  return inputs;
}

/** AWQ folds scales into each projection's own module, so a family whose checkpoint fuses projections (Qwen v1's c_attn) is refused. */
export function checkAwqSupported(spec: ModelSpec): void {
  const { checkpoint } = architectureOf(spec);
  const modules = new Set(PROJECTIONS.map((p) => checkpoint.loraModuleName(0, p)));
  if (modules.size !== PROJECTIONS.length) throw new ModelLoadError(`--quant-method awq needs one checkpoint module per projection; ${spec.hfArchitecture} fuses some`);
}

/** values[i] / scales[i mod scales.length] (a norm, a bias) or each row i of [scales.length, width] divided by scales[i]. */
function divideRows(values: Float32Array, scales: Float32Array): void {
  const width = values.length / scales.length;
  for (let i = 0; i < values.length; i++) values[i]! /= scales[Math.floor(i / width)]!;
}

function multiplyColumns(values: Float32Array, scales: Float32Array): void {
  for (let i = 0; i < values.length; i++) values[i]! *= scales[i % scales.length]!;
}

/** AWQ of every projection of `spec`, with the norms and biases its scales were folded into. */
export async function awqQuantizeModel(spec: ModelSpec, dense: NamedSource, options: AwqModelOptions): Promise<AwqModel> {
  checkAwqSupported(spec);
  const { checkpoint } = architectureOf(spec);
  const model: AwqModel = { quantized: new Map(), folded: new Map() };
  const readFloats = (name: string): Float32Array => toFloat32(model.folded.get(name) ?? dense.read(name));
  const fold = (name: string, values: Float32Array): void => {
    const stored = dense.read(name);
    if (stored.dtype === 'int32') throw new ModelLoadError(`tensor "${name}" is int32; AWQ folds its scales into float norms and biases`);
    model.folded.set(name, { dtype: stored.dtype, shape: stored.shape, bytes: fromFloat32(values, stored.dtype) });
  };
  await calibrateLayerByLayer(spec, dense, options, (layer, grams: LinearInputGrams) => {
    const module = (p: Projection): string => checkpoint.loraModuleName(layer, p);
    const weights = new Map(PROJECTIONS.map((p) => [p, toFloat32(dense.read(`${module(p)}.weight`))]));
    /** Each projection's input-column scales (its weights were multiplied by them) and output-row scales (divided by them). */
    const columnScales = new Map<Projection, Float32Array>();
    const rowScales = new Map<Projection, Float32Array>();
    for (const input of scaledInputs(spec)) {
      const inputs = projectionShape(spec, input.readers[0]!)[1];
      const linears = input.readers.map((p) => ({ weights: weights.get(p)!, outputs: projectionShape(spec, p)[0] }));
      const s = searchAwqScales({ linears, inputs, gram: grams[input.grams], rows: grams.rows }, options.grid);
      for (const p of input.readers) columnScales.set(p, s);
      if ('norm' in input.foldInto) {
        const [name] = checkpoint.tensorsOf({ layer, slot: input.foldInto.norm });
        const norm = readFloats(name!);
        divideRows(norm, s);
        fold(name!, norm);
      } else {
        rowScales.set(input.foldInto.rows, s);
        const { bias } = input.foldInto;
        if (bias) {
          const name = checkpoint.tensorsOf({ layer, slot: bias.slot })[bias.index]!;
          const values = readFloats(name);
          divideRows(values, s);
          fold(name, values);
        }
      }
    }
    const replaced = new Map<string, TensorData>();
    for (const p of PROJECTIONS) {
      const shape = projectionShape(spec, p);
      const w = weights.get(p)!;
      const rows = rowScales.get(p);
      // NOTE: o has no scales of its own with grouped KV heads.
      const columns = columnScales.get(p);
      if (rows) divideRows(w, rows);
      if (columns) multiplyColumns(w, columns);
      const tensor = quantizeRtn(w, shape, options.grid);
      model.quantized.set(module(p), tensor);
      // NOTE: the runner keeps the unfolded norms and biases, so it gets what the codes stand for in the unscaled model.
      const effective = dequantize(tensor);
      if (columns) for (let i = 0; i < effective.length; i++) effective[i]! /= columns[i % shape[1]]!;
      if (rows) for (let i = 0; i < effective.length; i++) effective[i]! *= rows[Math.floor(i / shape[1])]!;
      replaced.set(`${module(p)}.weight`, { dtype: 'float32', shape, bytes: fromFloat32(effective, 'float32') });
    }
    return replaced;
  });
  return model;
}
