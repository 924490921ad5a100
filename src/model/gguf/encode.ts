/**
 * Checkpoint tensors (bf16, f16, f32) to GGUF storage types: F32, F16, BF16 (rounded to
 * nearest even), Q8_0 (per block of 32: an f16 scale max|x|/127 and 32 rounded int8s) and Q4_0
 * (per block of 32: an f16 scale and 32 4-bit codes).
 * Same-type conversions copy the bytes unchanged.
 */
import type { TensorData } from '../tensors.js';
import { ModelLoadError } from '../errors.js';
import { Q8_0_BLOCK, type GgmlTypeName } from './gguf-file.js';

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** float32 bits to IEEE half bits, round to nearest even (overflow to infinity, NaN kept NaN). */
export function halfBitsFromFloat32Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const absolute = x & 0x7fffffff;
  if (absolute >= 0x7f800000) return sign | 0x7c00 | (absolute > 0x7f800000 ? 0x200 : 0);
  // NOTE: 0x477ff000 is the smallest float32 that rounds up past the largest half (65504).
  if (absolute >= 0x477ff000) return sign | 0x7c00;
  if (absolute < 0x38800000) {
    // Subnormal half (or zero): shift the full mantissa so the half's unit is 2^-24.
    if (absolute < 0x33000000) return sign;
    const exponent = absolute >>> 23;
    const mantissa = (absolute & 0x7fffff) | 0x800000;
    const shift = 126 - exponent;
    const half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && half & 1) ? 1 : 0));
  }
  const rebased = absolute - 0x38000000;
  const half = rebased >>> 13;
  const rest = rebased & 0x1fff;
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0));
}

export function halfBitsFromFloat(value: number): number {
  f32Scratch[0] = value;
  return halfBitsFromFloat32Bits(u32Scratch[0] ?? 0);
}

/** A typed view of `bytes` when aligned, else of an aligned copy. */
function view<T>(bytes: Uint8Array, width: number, make: (buffer: ArrayBufferLike, offset: number, length: number) => T): T {
  const aligned = bytes.byteOffset % width === 0 ? bytes : bytes.slice();
  return make(aligned.buffer, aligned.byteOffset, aligned.byteLength / width);
}

/** float32 values of a checkpoint tensor (bf16 and f16 widen exactly). */
export function float32Values(tensor: TensorData): Float32Array {
  if (tensor.dtype === 'float32') return view(tensor.bytes, 4, (b, o, n) => new Float32Array(b, o, n)).slice();
  const source = view(tensor.bytes, 2, (b, o, n) => new Uint16Array(b, o, n));
  const out = new Float32Array(source.length);
  const bits = new Uint32Array(out.buffer);
  if (tensor.dtype === 'bfloat16') {
    for (let i = 0; i < source.length; i++) bits[i] = (source[i] ?? 0) << 16;
    return out;
  }
  const table = halfToFloatTable();
  for (let i = 0; i < source.length; i++) out[i] = table[source[i] ?? 0] ?? 0;
  return out;
}

let halfTable: Float32Array | undefined;
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) halfTable[h] = sign * 2 ** -14 * (mantissa / 1024);
    else if (exponent === 31) halfTable[h] = mantissa ? NaN : sign * Infinity;
    else halfTable[h] = sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
  }
  return halfTable;
}

function toF16(values: Float32Array): Uint8Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = halfBitsFromFloat32Bits(bits[i] ?? 0);
  return new Uint8Array(out.buffer);
}

function toBf16(values: Float32Array): Uint8Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = bits[i] ?? 0;
    // NOTE: NaN must stay NaN (rounding could carry it into infinity).
    out[i] = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return new Uint8Array(out.buffer);
}

/** Q8_0 blocks of consecutive values (rows must be a multiple of 32 long, so blocks never span rows). */
export function toQ8_0(values: Float32Array): Uint8Array {
  if (values.length % Q8_0_BLOCK !== 0) throw new ModelLoadError(`Q8_0 needs a multiple of ${Q8_0_BLOCK} values, got ${values.length}`);
  const numBlocks = values.length / Q8_0_BLOCK;
  const out = new Uint8Array(numBlocks * (2 + Q8_0_BLOCK));
  const quants = new Int8Array(out.buffer);
  for (let b = 0; b < numBlocks; b++) {
    const start = b * Q8_0_BLOCK;
    let amax = 0;
    for (let i = 0; i < Q8_0_BLOCK; i++) amax = Math.max(amax, Math.abs(values[start + i] ?? 0));
    const scale = amax / 127;
    const inverse = scale !== 0 ? 1 / scale : 0;
    const at = b * (2 + Q8_0_BLOCK);
    const scaleBits = halfBitsFromFloat(scale);
    out[at] = scaleBits & 0xff;
    out[at + 1] = scaleBits >>> 8;
    for (let i = 0; i < Q8_0_BLOCK; i++) {
      const x = (values[start + i] ?? 0) * inverse;
      // NOTE: round half away from zero, as ggml's reference quantizer does.
      quants[at + 2 + i] = x < 0 ? -Math.round(-x) : Math.round(x);
    }
  }
  return out;
}

/**
 * Q4_0 blocks (ggml's reference quantizer): the scale is the block's value of largest magnitude
 * over -8, so that value is code 0 exactly; codes are x / scale + 8 truncated after adding 0.5,
 * at most 15. Byte i holds value i in its low nibble and value 16 + i in its high nibble.
 */
export function toQ4_0(values: Float32Array): Uint8Array {
  if (values.length % Q8_0_BLOCK !== 0) throw new ModelLoadError(`Q4_0 needs a multiple of ${Q8_0_BLOCK} values, got ${values.length}`);
  const half = Q8_0_BLOCK / 2;
  const numBlocks = values.length / Q8_0_BLOCK;
  const out = new Uint8Array(numBlocks * (2 + half));
  for (let b = 0; b < numBlocks; b++) {
    const block = values.subarray(b * Q8_0_BLOCK, (b + 1) * Q8_0_BLOCK);
    let extreme = 0;
    for (const x of block) if (Math.abs(x) > Math.abs(extreme)) extreme = x;
    const scale = extreme / -8;
    const inverse = scale !== 0 ? 1 / scale : 0;
    const code = (x: number) => Math.min(15, Math.trunc(x * inverse + 8.5));
    const at = b * (2 + half);
    const scaleBits = halfBitsFromFloat(scale);
    out[at] = scaleBits & 0xff;
    out[at + 1] = scaleBits >>> 8;
    for (let i = 0; i < half; i++) out[at + 2 + i] = code(block[i]!) | (code(block[half + i]!) << 4);
  }
  return out;
}

const SAME_DTYPE: Partial<Record<GgmlTypeName, TensorData['dtype']>> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** The tensor's bytes in `type` (row-major, unchanged layout). */
export function encodeTensor(tensor: TensorData, type: GgmlTypeName): Uint8Array {
  if (SAME_DTYPE[type] === tensor.dtype) return tensor.bytes;
  const values = float32Values(tensor);
  switch (type) {
    case 'F32':
      return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    case 'F16':
      return toF16(values);
    case 'BF16':
      return toBf16(values);
    case 'Q8_0':
      return toQ8_0(values);
    case 'Q4_0':
      return toQ4_0(values);
  }
}
