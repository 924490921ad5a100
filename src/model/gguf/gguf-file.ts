/**
 * A GGUF v3 file, written in one pass: metadata and tensor descriptions first (their sizes
 * are known from shapes and types alone), then each tensor's bytes as the caller produces
 * them, so a checkpoint is converted tensor by tensor and never held whole.
 *
 * Layout (little-endian): "GGUF", u32 version, u64 tensor count, u64 metadata count,
 * the metadata key/value pairs, the tensor infos (name, dims innermost first, ggml type,
 * offset into the data section), zero padding to the alignment, then the data section with
 * every tensor starting at a multiple of the alignment.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { ModelLoadError } from '../errors.js';

const GGUF_MAGIC = 'GGUF';
const GGUF_VERSION = 3;
/** llama.cpp's default when `general.alignment` is absent. */
export const GGUF_ALIGNMENT = 32;

/** Metadata value types, as numbered by the format. */
const VALUE_TYPE = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;

export type GgufValue =
  | { type: 'uint32'; value: number }
  | { type: 'int32'; value: number }
  | { type: 'uint64'; value: number }
  | { type: 'float32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; itemType: 'string'; value: readonly string[] }
  | { type: 'array'; itemType: 'int32'; value: readonly number[] }
  | { type: 'array'; itemType: 'float32'; value: readonly number[] };

/** The tensor storage types this writer produces, with ggml's numbering. */
export const GGML_TYPE = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, BF16: 30 } as const;
export type GgmlTypeName = keyof typeof GGML_TYPE;

/** Q8_0 packs 32 values as one f16 scale and 32 int8s. */
export const Q8_0_BLOCK = 32;
const Q8_0_BLOCK_BYTES = 2 + Q8_0_BLOCK;
/** Q4_0 packs the same 32 values as one f16 scale and 16 bytes of 4-bit codes. */
const Q4_0_BLOCK_BYTES = 2 + Q8_0_BLOCK / 2;

/** Bytes of a tensor whose innermost dimension is `rowLength`. */
export function tensorByteSize(type: GgmlTypeName, shape: readonly number[]): number {
  const count = shape.reduce((a, b) => a * b, 1);
  switch (type) {
    case 'F32':
      return count * 4;
    case 'F16':
    case 'BF16':
      return count * 2;
    case 'Q8_0':
    case 'Q4_0': {
      const rowLength = shape[shape.length - 1] ?? 1;
      if (rowLength % Q8_0_BLOCK !== 0) throw new ModelLoadError(`${type} needs rows of a multiple of ${Q8_0_BLOCK} values, got ${rowLength}`);
      return (count / Q8_0_BLOCK) * (type === 'Q8_0' ? Q8_0_BLOCK_BYTES : Q4_0_BLOCK_BYTES);
    }
  }
}

export interface GgufTensorInfo {
  name: string;
  /** Row-major shape, outermost first, as PyTorch and safetensors spell it. */
  shape: number[];
  type: GgmlTypeName;
  byteSize: number;
  /** From the start of the data section. */
  offset: number;
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** Serialises metadata into growing chunks; strings are u64 length + UTF-8 bytes. */
class ByteSink {
  private readonly chunks: Buffer[] = [];
  private scratch = Buffer.alloc(1 << 16);
  private used = 0;
  length = 0;

  private reserve(n: number): void {
    if (this.used + n <= this.scratch.length) return;
    this.flush();
    if (n > this.scratch.length) this.scratch = Buffer.alloc(n);
  }

  private flush(): void {
    if (this.used > 0) this.chunks.push(Buffer.from(this.scratch.subarray(0, this.used)));
    this.used = 0;
  }

  u32(v: number): void {
    this.reserve(4);
    this.scratch.writeUInt32LE(v, this.used);
    this.used += 4;
    this.length += 4;
  }

  i32(v: number): void {
    this.reserve(4);
    this.scratch.writeInt32LE(v, this.used);
    this.used += 4;
    this.length += 4;
  }

  u64(v: number): void {
    this.reserve(8);
    this.scratch.writeBigUInt64LE(BigInt(v), this.used);
    this.used += 8;
    this.length += 8;
  }

  f32(v: number): void {
    this.reserve(4);
    this.scratch.writeFloatLE(v, this.used);
    this.used += 4;
    this.length += 4;
  }

  u8(v: number): void {
    this.reserve(1);
    this.scratch[this.used++] = v;
    this.length += 1;
  }

  string(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.u64(n);
    this.reserve(n);
    this.scratch.write(s, this.used, 'utf8');
    this.used += n;
    this.length += n;
  }

  zeros(n: number): void {
    this.reserve(n);
    this.scratch.fill(0, this.used, this.used + n);
    this.used += n;
    this.length += n;
  }

  bytes(): Buffer {
    this.flush();
    return Buffer.concat(this.chunks);
  }
}

function writeValue(sink: ByteSink, v: GgufValue): void {
  switch (v.type) {
    case 'uint32':
      sink.u32(VALUE_TYPE.uint32);
      sink.u32(v.value);
      return;
    case 'int32':
      sink.u32(VALUE_TYPE.int32);
      sink.i32(v.value);
      return;
    case 'uint64':
      sink.u32(VALUE_TYPE.uint64);
      sink.u64(v.value);
      return;
    case 'float32':
      sink.u32(VALUE_TYPE.float32);
      sink.f32(v.value);
      return;
    case 'bool':
      sink.u32(VALUE_TYPE.bool);
      sink.u8(v.value ? 1 : 0);
      return;
    case 'string':
      sink.u32(VALUE_TYPE.string);
      sink.string(v.value);
      return;
    case 'array':
      sink.u32(VALUE_TYPE.array);
      sink.u32(VALUE_TYPE[v.itemType]);
      sink.u64(v.value.length);
      if (v.itemType === 'string') for (const item of v.value) sink.string(item);
      else if (v.itemType === 'int32') for (const item of v.value) sink.i32(item);
      else for (const item of v.value) sink.f32(item);
      return;
  }
}

/** Metadata and tensor list of a file to be written; `write` then streams the data. */
export class GgufBuilder {
  private readonly metadata = new Map<string, GgufValue>();
  private readonly tensors: GgufTensorInfo[] = [];
  private dataSize = 0;

  set(key: string, value: GgufValue): this {
    this.metadata.set(key, value);
    return this;
  }

  get(key: string): GgufValue | undefined {
    return this.metadata.get(key);
  }

  addTensor(name: string, shape: readonly number[], type: GgmlTypeName): GgufTensorInfo {
    if (this.tensors.some((t) => t.name === name)) throw new ModelLoadError(`GGUF: tensor "${name}" added twice`);
    const byteSize = tensorByteSize(type, shape);
    const info: GgufTensorInfo = { name, shape: [...shape], type, byteSize, offset: this.dataSize };
    this.tensors.push(info);
    this.dataSize = alignUp(this.dataSize + byteSize, GGUF_ALIGNMENT);
    return info;
  }

  get tensorInfos(): readonly GgufTensorInfo[] {
    return this.tensors;
  }

  /** Everything before the data section, padded to the alignment. */
  header(): Buffer {
    const sink = new ByteSink();
    sink.u32(Buffer.from(GGUF_MAGIC, 'ascii').readUInt32LE(0));
    sink.u32(GGUF_VERSION);
    sink.u64(this.tensors.length);
    sink.u64(this.metadata.size);
    for (const [key, value] of this.metadata) {
      sink.string(key);
      writeValue(sink, value);
    }
    for (const t of this.tensors) {
      sink.string(t.name);
      sink.u32(t.shape.length);
      // NOTE: GGUF lists dimensions innermost first (ggml's ne[0] is the row length).
      for (let d = t.shape.length - 1; d >= 0; d--) sink.u64(t.shape[d] ?? 1);
      sink.u32(GGML_TYPE[t.type]);
      sink.u64(t.offset);
    }
    sink.zeros(alignUp(sink.length, GGUF_ALIGNMENT) - sink.length);
    return sink.bytes();
  }

  /**
   * Writes the file: header, then for each tensor in order the bytes `produce` returns
   * (exactly `byteSize` of them), each padded to the alignment.
   */
  write(path: string, produce: (tensor: GgufTensorInfo) => Uint8Array): void {
    const fd = openSync(path, 'w');
    try {
      const header = this.header();
      writeFully(fd, header);
      const padding = new Uint8Array(GGUF_ALIGNMENT);
      let written = 0;
      for (const tensor of this.tensors) {
        const bytes = produce(tensor);
        if (bytes.byteLength !== tensor.byteSize) {
          throw new ModelLoadError(`GGUF: tensor "${tensor.name}" has ${bytes.byteLength} bytes, expected ${tensor.byteSize}`);
        }
        writeFully(fd, bytes);
        written += bytes.byteLength;
        const pad = alignUp(written, GGUF_ALIGNMENT) - written;
        if (pad > 0) writeFully(fd, padding.subarray(0, pad));
        written += pad;
      }
    } finally {
      closeSync(fd);
    }
  }
}

function writeFully(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done);
}
