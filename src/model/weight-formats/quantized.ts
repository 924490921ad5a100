/**
 * The integer weight formats `int8` and `int4`: one canonical layout for every quantized
 * checkpoint (GPTQ, AWQ, swiftlet's own export), whatever its packing on disk.
 *
 * NativeTensor layout (both devices read it; shape [outputs, inputs], rows in canonical order):
 * - buffers.codes: uint8. int8: [outputs, inputs], one unsigned code per byte. int4: [outputs,
 *   inputs / 2], column 2j in the low nibble and 2j+1 in the high nibble.
 * - buffers.scales, buffers.zeros: float32 [outputs, numGroups]; weight = scale * (code - zero).
 * - buffers.gIdx (act-order only): int32 [inputs], the group of each input column; without it
 *   column c is in group floor(c / params.groupSize).
 * - params.groupSize: input columns per group (inputs when the whole row is one group).
 */
import { ModelLoadError } from '../errors.js';
import type { NativeTensor } from '../layout.js';
import { joinBytes } from '../arch/rows.js';

export interface QuantizedTensor {
  bits: 4 | 8;
  /** [outputs, inputs]. */
  shape: [number, number];
  groupSize: number;
  /** One unsigned code per byte, row-major [outputs, inputs]. */
  codes: Uint8Array;
  scales: Float32Array;
  zeros: Float32Array;
  gIdx?: Int32Array;
}

/** A canonical linear tensor: dense bytes or integer codes. */
export function isQuantized(tensor: object): tensor is QuantizedTensor {
  return 'codes' in tensor;
}

export function numGroups(tensor: Pick<QuantizedTensor, 'shape' | 'groupSize' | 'gIdx'>): number {
  if (tensor.gIdx) return tensor.gIdx.reduce((max, g) => Math.max(max, g), -1) + 1;
  return Math.ceil(tensor.shape[1] / tensor.groupSize);
}

/** The group of input column `column`. */
export function groupOf(tensor: QuantizedTensor, column: number): number {
  return tensor.gIdx ? (tensor.gIdx[column] ?? 0) : Math.floor(column / tensor.groupSize);
}

function bytesOf(values: Float32Array | Int32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

function packNibbles(codes: Uint8Array): Uint8Array {
  const packed = new Uint8Array(codes.length / 2);
  for (let i = 0; i < packed.length; i++) packed[i] = (codes[2 * i]! & 15) | ((codes[2 * i + 1]! & 15) << 4);
  return packed;
}

export function quantizedToNative(tensor: QuantizedTensor): NativeTensor {
  const buffers: NativeTensor['buffers'] = {
    codes: tensor.bits === 4 ? packNibbles(tensor.codes) : tensor.codes,
    scales: bytesOf(tensor.scales),
    zeros: bytesOf(tensor.zeros),
  };
  if (tensor.gIdx) buffers['gIdx'] = bytesOf(tensor.gIdx);
  return { format: `int${tensor.bits}`, shape: [...tensor.shape], buffers, params: { groupSize: tensor.groupSize } };
}

/** The projections' output rows one after another (q/k/v into qkv): groups run along the inputs, so any row count joins. */
export function concatQuantizedRows(names: readonly string[], parts: readonly QuantizedTensor[]): QuantizedTensor {
  const [first, ...rest] = parts;
  if (!first) throw new ModelLoadError('no quantized tensor to join');
  if (rest.length === 0) return first;
  parts.forEach((part, i) => {
    const same = part.bits === first.bits && part.groupSize === first.groupSize && part.shape[1] === first.shape[1];
    if (!same) throw new ModelLoadError(`tensor "${names[i]}" is quantized unlike "${names[0]}", fused with it`);
    if (String(part.gIdx ?? '') !== String(first.gIdx ?? '')) {
      throw new ModelLoadError(`tensor "${names[i]}": its g_idx differs from "${names[0]}", fused with it (act-order must match)`);
    }
  });
  const floats = (pick: (p: QuantizedTensor) => Float32Array): Float32Array => {
    const joined = joinBytes(parts.map((p) => bytesOf(pick(p))));
    return new Float32Array(joined.buffer, joined.byteOffset, joined.byteLength / 4);
  };
  const rows = parts.reduce((n, p) => n + p.shape[0], 0);
  const joined: QuantizedTensor = {
    bits: first.bits, shape: [rows, first.shape[1]], groupSize: first.groupSize,
    codes: joinBytes(parts.map((p) => p.codes)), scales: floats((p) => p.scales), zeros: floats((p) => p.zeros),
  };
  if (first.gIdx) joined.gIdx = first.gIdx;
  return joined;
}

/** The float32 weights the codes stand for, [outputs, inputs] (the reference the kernels are tested against). */
export function dequantize(tensor: QuantizedTensor): Float32Array {
  const [rows, cols] = tensor.shape;
  const groups = numGroups(tensor);
  const out = new Float32Array(rows * cols);
  for (let c = 0; c < cols; c++) {
    const g = groupOf(tensor, c);
    for (let r = 0; r < rows; r++) {
      const k = r * groups + g;
      out[r * cols + c] = tensor.scales[k]! * (tensor.codes[r * cols + c]! - tensor.zeros[k]!);
    }
  }
  return out;
}
