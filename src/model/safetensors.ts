/**
 * Reads safetensors checkpoints (one `model.safetensors` or a sharded
 * `model.safetensors.index.json`) tensor by tensor, so that a loader can convert each
 * tensor and drop it: a checkpoint never has to sit in memory twice.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { TensorData, TensorDtype, WeightSource } from './tensors.js';
import { ModelLoadError } from './errors.js';

// NOTE: I32 holds the packed integers of quantized checkpoints (GPTQ/AWQ qweight, qzeros, g_idx).
const DTYPES: Record<string, TensorDtype> = { BF16: 'bfloat16', F16: 'float16', F32: 'float32', I32: 'int32' };
export const DTYPE_BYTES: Record<TensorDtype, number> = { bfloat16: 2, float16: 2, float32: 4, int32: 4 };

interface TensorEntry {
  file: string;
  dtype: TensorDtype;
  shape: number[];
  /** Absolute byte range in the file. */
  start: number;
  end: number;
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

function readHeader(path: string): { entries: Map<string, TensorEntry>; metadata: Record<string, string> } {
  const fd = openSync(path, 'r');
  try {
    const lengthBytes = Buffer.alloc(8);
    readSync(fd, lengthBytes, 0, 8, 0);
    const headerLength = Number(lengthBytes.readBigUInt64LE(0));
    const headerBytes = Buffer.alloc(headerLength);
    readSync(fd, headerBytes, 0, headerLength, 8);
    const header = JSON.parse(headerBytes.toString('utf8')) as Record<string, HeaderEntry | Record<string, string>>;
    const dataStart = 8 + headerLength;
    const entries = new Map<string, TensorEntry>();
    let metadata: Record<string, string> = {};
    for (const [name, raw] of Object.entries(header)) {
      if (name === '__metadata__') {
        metadata = raw as Record<string, string>;
        continue;
      }
      const entry = raw as HeaderEntry;
      const dtype = DTYPES[entry.dtype];
      if (!dtype) throw new ModelLoadError(`${path}: tensor "${name}" has unsupported dtype ${entry.dtype}`);
      entries.set(name, {
        file: path,
        dtype,
        shape: entry.shape,
        start: dataStart + entry.data_offsets[0],
        end: dataStart + entry.data_offsets[1],
      });
    }
    return { entries, metadata };
  } finally {
    closeSync(fd);
  }
}

export class SafetensorsCheckpoint implements WeightSource {
  private readonly fds = new Map<string, number>();

  private constructor(
    readonly dir: string,
    private readonly entries: Map<string, TensorEntry>,
  ) {}

  /** Opens `dir/model.safetensors` or the shards named by `dir/model.safetensors.index.json`. */
  static open(dir: string, baseName = 'model'): SafetensorsCheckpoint {
    const single = join(dir, `${baseName}.safetensors`);
    const index = join(dir, `${baseName}.safetensors.index.json`);
    const entries = new Map<string, TensorEntry>();
    if (existsSync(index)) {
      const weightMap = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map: Record<string, string> }).weight_map;
      for (const shard of new Set(Object.values(weightMap))) {
        for (const [name, entry] of readHeader(join(dir, shard)).entries) entries.set(name, entry);
      }
    } else if (existsSync(single)) {
      for (const [name, entry] of readHeader(single).entries) entries.set(name, entry);
    } else {
      throw new ModelLoadError(`no ${baseName}.safetensors or ${baseName}.safetensors.index.json in ${dir}`);
    }
    return new SafetensorsCheckpoint(dir, entries);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  info(name: string): { dtype: TensorDtype; shape: number[] } {
    const entry = this.entry(name);
    return { dtype: entry.dtype, shape: entry.shape };
  }

  read(name: string): TensorData {
    const entry = this.entry(name);
    let fd = this.fds.get(entry.file);
    if (fd === undefined) {
      fd = openSync(entry.file, 'r');
      this.fds.set(entry.file, fd);
    }
    const bytes = new Uint8Array(entry.end - entry.start);
    let done = 0;
    while (done < bytes.length) {
      const n = readSync(fd, bytes, done, bytes.length - done, entry.start + done);
      if (n === 0) throw new ModelLoadError(`${entry.file}: truncated while reading tensor "${name}"`);
      done += n;
    }
    return { dtype: entry.dtype, shape: entry.shape, bytes };
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }

  private entry(name: string): TensorEntry {
    const entry = this.entries.get(name);
    if (!entry) throw new ModelLoadError(`checkpoint in ${this.dir} has no tensor "${name}"`);
    return entry;
  }
}

/** Float32 view of any supported tensor (bf16/f16 widened exactly). */
export function toFloat32(tensor: TensorData): Float32Array {
  const count = tensor.bytes.byteLength / DTYPE_BYTES[tensor.dtype];
  const out = new Float32Array(count);
  const view = new DataView(tensor.bytes.buffer, tensor.bytes.byteOffset, tensor.bytes.byteLength);
  if (tensor.dtype === 'int32') throw new ModelLoadError('packed int32 tensors are no floating-point weights (read them through their quantization format)');
  if (tensor.dtype === 'float32') {
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  } else if (tensor.dtype === 'bfloat16') {
    const u32 = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) u32[i] = view.getUint16(i * 2, true) << 16;
  } else {
    for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
  }
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (mantissa / 1024);
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
}
