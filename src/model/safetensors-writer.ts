/**
 * Writes a safetensors checkpoint tensor by tensor, sharded as transformers shards it:
 * `model.safetensors` when everything fits in one shard, else `model-0000i-of-0000n.safetensors`
 * plus `model.safetensors.index.json`. The shard plan (names, dtypes, shapes) is fixed up front,
 * so each shard's header is written first and the tensors' bytes are appended as they come:
 * at most one tensor is ever in memory.
 */
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { WeightDtype } from './spec.js';
import type { TensorDtype } from './tensors.js';
import { DTYPE_BYTES } from './safetensors.js';

const HEADER_DTYPES: Record<TensorDtype, string> = { bfloat16: 'BF16', float16: 'F16', float32: 'F32', int32: 'I32' };

export interface TensorPlan {
  name: string;
  dtype: TensorDtype;
  shape: number[];
}

export interface ShardPlan {
  file: string;
  tensors: (TensorPlan & { begin: number; end: number })[];
  bytes: number;
}

export function tensorBytes(tensor: TensorPlan): number {
  return tensor.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[tensor.dtype];
}

/** Shards in order, a new one whenever the next tensor would push a shard past `maxShardBytes`. */
export function planShards(tensors: readonly TensorPlan[], maxShardBytes: number, baseName = 'model'): ShardPlan[] {
  const groups: TensorPlan[][] = [];
  let current: TensorPlan[] = [];
  let currentBytes = 0;
  for (const tensor of tensors) {
    const bytes = tensorBytes(tensor);
    // NOTE: a tensor larger than the limit gets a shard of its own, as in transformers.
    if (current.length > 0 && currentBytes + bytes > maxShardBytes) {
      groups.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(tensor);
    currentBytes += bytes;
  }
  if (current.length > 0 || groups.length === 0) groups.push(current);
  const pad = (i: number) => String(i).padStart(5, '0');
  return groups.map((group, i) => {
    let offset = 0;
    const placed = group.map((tensor) => {
      const begin = offset;
      offset += tensorBytes(tensor);
      return { ...tensor, begin, end: offset };
    });
    const file = groups.length === 1 ? `${baseName}.safetensors` : `${baseName}-${pad(i + 1)}-of-${pad(groups.length)}.safetensors`;
    return { file, tensors: placed, bytes: offset };
  });
}

function headerBytes(shard: ShardPlan, metadata: Record<string, string>): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  for (const t of shard.tensors) header[t.name] = { dtype: HEADER_DTYPES[t.dtype], shape: t.shape, data_offsets: [t.begin, t.end] };
  let json = JSON.stringify(header);
  // NOTE: the spec lets the header be space-padded; 8-byte alignment keeps the data aligned.
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const body = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + body.length);
  out.writeBigUInt64LE(BigInt(body.length), 0);
  body.copy(out, 8);
  return out;
}

/**
 * Writes the planned shards into `dir`: call `write(name, bytes)` once per tensor, in plan
 * order, then `finish()`. Each write must hold exactly the planned number of bytes.
 */
export class SafetensorsWriter {
  readonly shards: ShardPlan[];
  private shardIndex = -1;
  private tensorIndex = 0;
  private fd: number | undefined;

  constructor(
    private readonly dir: string,
    tensors: readonly TensorPlan[],
    maxShardBytes: number,
    private readonly metadata: Record<string, string> = { format: 'pt' },
    private readonly baseName = 'model',
  ) {
    this.shards = planShards(tensors, maxShardBytes, baseName);
  }

  /** The tensors in the order `write` expects them. */
  order(): TensorPlan[] {
    return this.shards.flatMap((shard) => shard.tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape })));
  }

  write(name: string, bytes: Uint8Array): void {
    while (this.fd === undefined || this.tensorIndex >= (this.shards[this.shardIndex]?.tensors.length ?? 0)) this.openNextShard();
    const planned = this.shards[this.shardIndex]?.tensors[this.tensorIndex];
    if (!planned || planned.name !== name) throw new Error(`safetensors writer: expected tensor "${planned?.name}", got "${name}"`);
    if (bytes.byteLength !== planned.end - planned.begin) {
      throw new Error(`safetensors writer: "${name}" has ${bytes.byteLength} bytes, planned ${planned.end - planned.begin}`);
    }
    let done = 0;
    while (done < bytes.byteLength) done += writeSync(this.fd, bytes, done, bytes.byteLength - done);
    this.tensorIndex++;
  }

  /** Closes the last shard and writes the index when there are several. Returns the files written. */
  finish(): string[] {
    const remaining = this.shards.slice(this.shardIndex + 1).some((shard) => shard.tensors.length > 0);
    if (this.tensorIndex < (this.shards[this.shardIndex]?.tensors.length ?? 0) || remaining) {
      throw new Error('safetensors writer: finished before every planned tensor was written');
    }
    // NOTE: a plan with no tensors still gets its (empty) file.
    while (this.shardIndex < this.shards.length - 1) this.openNextShard();
    this.closeShard();
    const files = this.shards.map((shard) => shard.file);
    if (this.shards.length > 1) {
      const weightMap: Record<string, string> = {};
      for (const shard of this.shards) for (const t of shard.tensors) weightMap[t.name] = shard.file;
      const totalSize = this.shards.reduce((sum, shard) => sum + shard.bytes, 0);
      const index = `${this.baseName}.safetensors.index.json`;
      writeFileSync(join(this.dir, index), `${JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2)}\n`);
      files.push(index);
    }
    return files;
  }

  /** Closes the shard in hand, if any; safe to call after a failure. */
  closeShard(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private openNextShard(): void {
    this.closeShard();
    this.shardIndex++;
    this.tensorIndex = 0;
    const shard = this.shards[this.shardIndex];
    if (!shard) throw new Error('safetensors writer: more tensors than planned');
    this.fd = openSync(join(this.dir, shard.file), 'w');
    const header = headerBytes(shard, this.metadata);
    writeSync(this.fd, header, 0, header.length);
  }
}

/** fp32 values to `dtype` bytes (little-endian), rounding to nearest even as torch does. */
export function fromFloat32(values: Float32Array, dtype: WeightDtype): Uint8Array {
  if (dtype === 'float32') return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  const out = new Uint16Array(values.length);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  if (dtype === 'bfloat16') {
    for (let i = 0; i < values.length; i++) {
      const u = bits[i] as number;
      if ((u & 0x7fffffff) > 0x7f800000) out[i] = (u >>> 16) | 0x40; // NaN stays a (quiet) NaN
      else out[i] = (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
    }
  } else {
    for (let i = 0; i < values.length; i++) out[i] = floatToHalf(bits[i] as number);
  }
  return new Uint8Array(out.buffer);
}

/** IEEE binary32 bits to binary16 bits, round to nearest even, with subnormals and overflow to infinity. */
function floatToHalf(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const exponent = (u >>> 23) & 0xff;
  const mantissa = u & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mantissa | 0x800000;
    const shift = 14 - e;
    let half = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half++;
  return sign | half;
}
