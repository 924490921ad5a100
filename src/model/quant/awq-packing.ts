/**
 * AutoAWQ's GEMM packing, per projection `<module>.` (4 bits only):
 * - qweight int32 [inputs, outputs / 8] and qzeros int32 [groups, outputs / 8]: eight codes of
 *   consecutive output columns per word, interleaved: nibble i (lowest first) holds column
 *   8w + AWQ_ORDER[i].
 * - scales float16 [groups, outputs]. Zero points are stored as they are (no offset).
 */
import type { TensorData, WeightSource } from '../tensors.js';
import { fromFloat32 } from '../safetensors-writer.js';
import type { QuantizedTensor } from '../weight-formats/quantized.js';
import { groupsOf, int32Tensor, readPacked, readScales } from './gptq-packing.js';
import type { QuantConfig } from './quant-config.js';
import type { ProjectionPacking } from './quantized-checkpoint.js';
import type { QuantGrid } from './rtn.js';
import { ModelLoadError } from '../errors.js';

const AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7] as const;

/** Each output column's nibble of an interleaved row of words: `into[column] = code`. */
function unpackRow(words: Int32Array, wordStart: number, outputs: number, into: (column: number, code: number) => void): void {
  for (let w = 0; w < outputs / 8; w++) {
    const word = words[wordStart + w]!;
    AWQ_ORDER.forEach((column, nibble) => into(8 * w + column, (word >>> (4 * nibble)) & 15));
  }
}

export function readAwq(source: WeightSource, module: string, [outputs, inputs]: [number, number], config: QuantConfig): QuantizedTensor {
  if (outputs % 8 !== 0) throw new ModelLoadError(`tensor "${module}.qweight": ${outputs} outputs do not pack 8 to a word`);
  const groups = groupsOf(config, inputs);
  const qweight = readPacked(source, `${module}.qweight`, [inputs, outputs / 8]);
  const qzeros = readPacked(source, `${module}.qzeros`, [groups, outputs / 8]);
  const stored = readScales(source, `${module}.scales`, [groups, outputs]);
  const codes = new Uint8Array(outputs * inputs);
  for (let i = 0; i < inputs; i++) unpackRow(qweight, i * (outputs / 8), outputs, (o, code) => (codes[o * inputs + i] = code));
  const scales = new Float32Array(outputs * groups);
  const zeros = new Float32Array(outputs * groups);
  for (let g = 0; g < groups; g++) {
    unpackRow(qzeros, g * (outputs / 8), outputs, (o, zero) => (zeros[o * groups + g] = zero));
    for (let o = 0; o < outputs; o++) scales[o * groups + g] = stored[g * outputs + o]!;
  }
  return { bits: 4, shape: [outputs, inputs], groupSize: config.groupSize ?? inputs, codes, scales, zeros };
}

/** Row-major [rows, outputs] codes (`codeAt(row, column)`) packed eight output columns to a word, interleaved. */
function packRows(rows: number, outputs: number, codeAt: (row: number, column: number) => number): Int32Array {
  const words = new Int32Array(rows * (outputs / 8));
  for (let r = 0; r < rows; r++) {
    for (let w = 0; w < outputs / 8; w++) {
      let word = 0;
      AWQ_ORDER.forEach((column, nibble) => (word |= (codeAt(r, 8 * w + column) & 15) << (4 * nibble)));
      words[r * (outputs / 8) + w] = word;
    }
  }
  return words;
}

/** The checkpoint tensors of one 4-bit projection in AutoAWQ's GEMM packing, by suffix. */
export function packAwq(tensor: QuantizedTensor): Record<'qweight' | 'qzeros' | 'scales', TensorData> {
  const [outputs, inputs] = tensor.shape;
  if (tensor.bits !== 4 || tensor.gIdx) throw new ModelLoadError('AWQ packing holds 4-bit codes in column order only');
  const groups = tensor.scales.length / outputs;
  const scales = new Float32Array(groups * outputs);
  for (let g = 0; g < groups; g++) for (let o = 0; o < outputs; o++) scales[g * outputs + o] = tensor.scales[o * groups + g]!;
  return {
    qweight: int32Tensor(packRows(inputs, outputs, (i, o) => tensor.codes[o * inputs + i]!), [inputs, outputs / 8]),
    qzeros: int32Tensor(packRows(groups, outputs, (g, o) => tensor.zeros[o * groups + g]!), [groups, outputs / 8]),
    scales: { dtype: 'float16', shape: [groups, outputs], bytes: fromFloat32(scales, 'float16') },
  };
}

/** transformers' `quantization_config` of an AutoAWQ GEMM checkpoint. */
export function awqQuantizationConfig(grid: QuantGrid): Record<string, unknown> {
  return { quant_method: 'awq', bits: grid.bits, group_size: grid.groupSize ?? -1, zero_point: true, version: 'gemm' };
}

/** AutoAWQ's GEMM packing on `grid`, for QuantizedCheckpointView. */
export function awqPacking(grid: QuantGrid): ProjectionPacking {
  return {
    suffixes: ['qweight', 'qzeros', 'scales'],
    info(suffix, [outputs, inputs]) {
      const groups = groupsOf(grid, inputs);
      const shapes: Record<string, number[]> = { qweight: [inputs, outputs / 8], qzeros: [groups, outputs / 8], scales: [groups, outputs] };
      return { dtype: suffix === 'scales' ? 'float16' : 'int32', shape: shapes[suffix]! };
    },
    pack: packAwq,
  };
}
