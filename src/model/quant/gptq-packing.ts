/**
 * GPTQ's on-disk packing, as AutoGPTQ and GPTQModel write it, per projection `<module>.`:
 * - qweight int32 [inputs * bits / 32, outputs]: 32/bits codes of consecutive input columns per
 *   word, the lowest bits first.
 * - qzeros int32 [groups, outputs * bits / 32]: zero points packed along the outputs the same way;
 *   v1 (`checkpoint_format: gptq`) stores each zero minus one.
 * - scales float16 [groups, outputs]; g_idx int32 [inputs] (the group of each column; act-order).
 */
import { ModelLoadError } from '../errors.js';
import { toFloat32 } from '../safetensors.js';
import type { TensorData, WeightSource } from '../tensors.js';
import { fromFloat32 } from '../safetensors-writer.js';
import type { QuantizedTensor } from '../weight-formats/quantized.js';
import type { QuantConfig } from './quant-config.js';
import type { ProjectionPacking } from './quantized-checkpoint.js';
import type { QuantGrid } from './rtn.js';

/** The stored int32 words of a packed tensor, its shape checked against what the config implies. */
export function readPacked(source: WeightSource, name: string, shape: readonly number[]): Int32Array {
  const tensor = source.read(name);
  if (tensor.dtype !== 'int32' || tensor.shape.join() !== shape.join()) {
    throw new ModelLoadError(`tensor "${name}" is ${tensor.dtype} [${tensor.shape.join(', ')}], the quantization config needs int32 [${shape.join(', ')}]`);
  }
  return new Int32Array(tensor.bytes.slice().buffer);
}

export function readScales(source: WeightSource, name: string, shape: readonly number[]): Float32Array {
  const tensor = source.read(name);
  if (tensor.dtype === 'int32' || tensor.shape.join() !== shape.join()) {
    throw new ModelLoadError(`tensor "${name}" is ${tensor.dtype} [${tensor.shape.join(', ')}], the quantization config needs float [${shape.join(', ')}]`);
  }
  return toFloat32(tensor);
}

function checkPackable(name: string, count: number, bits: number): void {
  if ((count * bits) % 32 !== 0) throw new ModelLoadError(`tensor "${name}": ${count} values do not pack into int32 words at ${bits} bits`);
}

export function groupsOf(config: Pick<QuantConfig, 'groupSize'>, inputs: number): number {
  return config.groupSize ? Math.ceil(inputs / config.groupSize) : 1;
}

/** One GPTQ projection `<module>` of [outputs, inputs] in the canonical layout. */
export function readGptq(source: WeightSource, module: string, [outputs, inputs]: [number, number], config: QuantConfig): QuantizedTensor {
  const { bits } = config;
  const perWord = 32 / bits;
  const mask = (1 << bits) - 1;
  checkPackable(`${module}.qweight`, inputs, bits);
  checkPackable(`${module}.qzeros`, outputs, bits);
  const groups = groupsOf(config, inputs);
  const qweight = readPacked(source, `${module}.qweight`, [inputs / perWord, outputs]);
  const qzeros = readPacked(source, `${module}.qzeros`, [groups, outputs / perWord]);
  const stored = readScales(source, `${module}.scales`, [groups, outputs]);
  const codes = new Uint8Array(outputs * inputs);
  for (let i = 0; i < inputs; i++) {
    const shift = (i % perWord) * bits;
    const word = ((i / perWord) | 0) * outputs;
    for (let o = 0; o < outputs; o++) codes[o * inputs + i] = (qweight[word + o]! >>> shift) & mask;
  }
  const scales = new Float32Array(outputs * groups);
  const zeros = new Float32Array(outputs * groups);
  for (let g = 0; g < groups; g++) {
    for (let o = 0; o < outputs; o++) {
      scales[o * groups + g] = stored[g * outputs + o]!;
      zeros[o * groups + g] = ((qzeros[g * (outputs / perWord) + ((o / perWord) | 0)]! >>> ((o % perWord) * bits)) & mask) + config.zeroOffset;
    }
  }
  const tensor: QuantizedTensor = { bits, shape: [outputs, inputs], groupSize: config.groupSize ?? inputs, codes, scales, zeros };
  if (config.descAct) tensor.gIdx = readGroupIndex(source, `${module}.g_idx`, inputs, groups);
  return tensor;
}

function readGroupIndex(source: WeightSource, name: string, inputs: number, groups: number): Int32Array {
  const gIdx = readPacked(source, name, [inputs]);
  const bad = gIdx.findIndex((g) => g < 0 || g >= groups);
  if (bad >= 0) throw new ModelLoadError(`tensor "${name}": column ${bad} names group ${gIdx[bad]}, outside 0..${groups - 1}`);
  return gIdx;
}

export function int32Tensor(values: Int32Array, shape: number[]): TensorData {
  return { dtype: 'int32', shape, bytes: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

/** The checkpoint tensors of one projection in GPTQ v1 packing (AutoGPTQ's; transformers' default), by suffix. */
export function packGptq(tensor: QuantizedTensor): Record<'qweight' | 'qzeros' | 'scales' | 'g_idx', TensorData> {
  const { bits } = tensor;
  const [outputs, inputs] = tensor.shape;
  const perWord = 32 / bits;
  const groups = tensor.scales.length / outputs;
  const qweight = new Int32Array((inputs / perWord) * outputs);
  for (let i = 0; i < inputs; i++) {
    const shift = (i % perWord) * bits;
    const word = ((i / perWord) | 0) * outputs;
    for (let o = 0; o < outputs; o++) qweight[word + o]! |= tensor.codes[o * inputs + i]! << shift;
  }
  const qzeros = new Int32Array(groups * (outputs / perWord));
  const scales = new Float32Array(groups * outputs);
  const mask = (1 << bits) - 1;
  for (let g = 0; g < groups; g++) {
    for (let o = 0; o < outputs; o++) {
      scales[g * outputs + o] = tensor.scales[o * groups + g]!;
      qzeros[g * (outputs / perWord) + ((o / perWord) | 0)]! |= ((tensor.zeros[o * groups + g]! - 1) & mask) << ((o % perWord) * bits);
    }
  }
  const gIdx = tensor.gIdx ?? Int32Array.from({ length: inputs }, (_, c) => Math.floor(c / tensor.groupSize));
  return {
    qweight: int32Tensor(qweight, [inputs / perWord, outputs]),
    qzeros: int32Tensor(qzeros, [groups, outputs / perWord]),
    scales: { dtype: 'float16', shape: [groups, outputs], bytes: fromFloat32(scales, 'float16') },
    g_idx: int32Tensor(gIdx, [inputs]),
  };
}

/** transformers' `quantization_config` (also written alone as quantize_config.json) for a GPTQ v1 checkpoint. */
export function gptqQuantizationConfig(grid: QuantGrid, descAct: boolean): Record<string, unknown> {
  return {
    quant_method: 'gptq', bits: grid.bits, group_size: grid.groupSize ?? -1, desc_act: descAct, sym: grid.sym,
    damp_percent: 0.01, true_sequential: true, checkpoint_format: 'gptq',
  };
}

/** GPTQ v1 packing on `grid`, for QuantizedCheckpointView. */
export function gptqPacking(grid: QuantGrid): ProjectionPacking {
  const perWord = 32 / grid.bits;
  return {
    suffixes: ['qweight', 'qzeros', 'scales', 'g_idx'],
    info(suffix, [outputs, inputs]) {
      const groups = groupsOf(grid, inputs);
      const shapes: Record<string, number[]> = { qweight: [inputs / perWord, outputs], qzeros: [groups, outputs / perWord], scales: [groups, outputs], g_idx: [inputs] };
      return { dtype: suffix === 'scales' ? 'float16' : 'int32', shape: shapes[suffix]! };
    },
    pack: packGptq,
  };
}
