/**
 * Round-to-nearest quantization of one weight matrix, group by group of input columns, with
 * AutoGPTQ's grid rules (the range always holds 0; symmetric grids centre the zero point at
 * 2^(bits-1)). Scales are rounded to float16, as the GPTQ checkpoint stores them, so what is
 * written is exactly what is computed with.
 */
import { fromFloat32 } from '../safetensors-writer.js';
import { toFloat32 } from '../safetensors.js';
import { groupOf, numGroups, type QuantizedTensor } from '../weight-formats/quantized.js';
import type { QuantBits } from './quant-config.js';

export interface QuantGrid {
  bits: QuantBits;
  /** Input columns per group; undefined: the whole row is one group. */
  groupSize: number | undefined;
  sym: boolean;
}

export interface GroupParams {
  scale: number;
  zero: number;
}

function toHalf(value: number): number {
  return toFloat32({ dtype: 'float16', shape: [1], bytes: fromFloat32(Float32Array.of(value), 'float16') })[0]!;
}

/** The scale and zero point of the grid that covers `values`. */
export function groupParams(values: ArrayLike<number>, bits: QuantBits, sym: boolean): GroupParams {
  const maxq = 2 ** bits - 1;
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < values.length; i++) {
    lo = Math.min(lo, values[i]!);
    hi = Math.max(hi, values[i]!);
  }
  if (sym) {
    hi = Math.max(-lo, hi);
    lo = -hi;
  }
  if (lo === 0 && hi === 0) {
    lo = -1;
    hi = 1;
  }
  const scale = toHalf((hi - lo) / maxq);
  return { scale, zero: sym ? (maxq + 1) / 2 : Math.round(-lo / scale) };
}

/** The code of `value` on the grid. */
export function quantizeValue(value: number, { scale, zero }: GroupParams, bits: QuantBits): number {
  return Math.min(2 ** bits - 1, Math.max(0, Math.round(value / scale) + zero));
}

/**
 * `weights` [outputs, inputs] rounded to the nearest code of each group's grid; `gIdx` (act-order)
 * names each column's group, else groups are runs of groupSize columns.
 */
export function quantizeRtn(weights: Float32Array, [outputs, inputs]: [number, number], grid: QuantGrid, gIdx?: Int32Array): QuantizedTensor {
  const groupSize = grid.groupSize ?? inputs;
  const tensor: QuantizedTensor = { bits: grid.bits, shape: [outputs, inputs], groupSize, codes: new Uint8Array(outputs * inputs), scales: new Float32Array(0), zeros: new Float32Array(0) };
  if (gIdx) tensor.gIdx = gIdx;
  const columnsOfGroup: number[][] = Array.from({ length: numGroups(tensor) }, () => []);
  for (let c = 0; c < inputs; c++) columnsOfGroup[groupOf(tensor, c)]!.push(c);
  const groups = columnsOfGroup.length;
  tensor.scales = new Float32Array(outputs * groups);
  tensor.zeros = new Float32Array(outputs * groups);
  for (let o = 0; o < outputs; o++) {
    const row = weights.subarray(o * inputs, (o + 1) * inputs);
    columnsOfGroup.forEach((columns, g) => {
      const params = groupParams(columns.map((c) => row[c]!), grid.bits, grid.sym);
      tensor.scales[o * groups + g] = params.scale;
      tensor.zeros[o * groups + g] = params.zero;
      for (const c of columns) tensor.codes[o * inputs + c] = quantizeValue(row[c]!, params, grid.bits);
    });
  }
  return tensor;
}
