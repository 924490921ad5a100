/**
 * AutoAWQ's GEMM packing, per projection `<module>.` (4 bits only):
 * - qweight int32 [inputs, outputs / 8] and qzeros int32 [groups, outputs / 8]: eight codes of
 *   consecutive output columns per word, interleaved: nibble i (lowest first) holds column
 *   8w + AWQ_ORDER[i].
 * - scales float16 [groups, outputs]. Zero points are stored as they are (no offset).
 */
import type { WeightSource } from '../tensors.js';
import type { QuantizedTensor } from '../weight-formats/quantized.js';
import { groupsOf, readPacked, readScales } from './gptq-packing.js';
import type { QuantConfig } from './quant-config.js';
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
