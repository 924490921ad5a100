/**
 * How a model is split over `size` GPUs (Megatron-style tensor parallelism, as vLLM does it):
 * attention heads and MLP columns are divided, so each rank is the same decoder with fewer heads
 * and a narrower MLP, and the two row-parallel projections (o_proj, down_proj) produce partial
 * sums that one all-reduce per projection adds up.
 *
 * - column-parallel (output rows split): q/k/v (and their biases), gate/up (and biases); with
 *   fewer KV heads than ranks (size a multiple of them), each rank keeps the one KV head its
 *   query heads read, so ranks sharing it hold copies (vLLM replicates KV heads the same way);
 * - row-parallel (input columns split): o_proj, down_proj; their biases are added once, after
 *   the all-reduce, so every rank keeps the whole bias;
 * - replicated: embedding, norms, q/k norms; lm_head only on rank 0, which alone samples.
 *
 * The plan lives here, in one place the CPU tests can check, and the CUDA runner uploads what it
 * returns: each rank's native model is configured with `shardSpec` and never slices anything.
 */
import { ModelLoadError } from '../model/errors.js';
import type { ModelSpec } from '../model/spec.js';
import type { NativeLoraModule } from './native-lora.js';
import type { TensorData } from './types.js';

/** Throws a ModelLoadError when the model cannot be split evenly over `size` ranks. */
export function checkShardable(spec: ModelSpec, size: number): void {
  if (!Number.isInteger(size) || size < 1) throw new ModelLoadError(`tensor parallel size must be a positive integer (got ${size})`);
  const parts: [string, number][] = [
    ['attention heads', spec.numHeads],
    ['intermediate size', spec.intermediateSize],
  ];
  for (const [what, n] of parts) {
    if (n % size !== 0) {
      throw new ModelLoadError(`--tensor-parallel-size ${size} does not divide the model's ${what} (${n})`);
    }
  }
  if (spec.numKvHeads % size !== 0 && size % spec.numKvHeads !== 0) {
    throw new ModelLoadError(
      `--tensor-parallel-size ${size} neither divides the model's key/value heads (${spec.numKvHeads}) nor is a multiple of them`,
    );
  }
  // NOTE: the CUDA kernels read the MLP in 16-byte vectors; one GPU's own check covers size 1.
  if (size > 1 && (spec.intermediateSize / size) % 8 !== 0) {
    throw new ModelLoadError(`--tensor-parallel-size ${size} leaves an intermediate slice of ${spec.intermediateSize / size}, not a multiple of 8`);
  }
}

/** The decoder one rank runs: the same model with its share of the heads and of the MLP. */
export function shardSpec(spec: ModelSpec, size: number): ModelSpec {
  checkShardable(spec, size);
  return {
    ...spec,
    numHeads: spec.numHeads / size,
    numKvHeads: kvHeadsOf(spec, 0, size).count,
    intermediateSize: spec.intermediateSize / size,
  };
}

/** The KV heads rank `rank` holds: its share, or the one its query heads read when ranks outnumber them. */
function kvHeadsOf(spec: ModelSpec, rank: number, size: number): { first: number; count: number } {
  return { first: Math.floor((rank * spec.numKvHeads) / size), count: Math.max(1, spec.numKvHeads / size) };
}

type Split = 'rows' | 'kvRows' | 'columns' | 'replicated' | 'rank0';

const COLUMN_PARALLEL = /\.(self_attn\.q_proj|mlp\.(gate|up)_proj)\.(weight|bias)$/;
const KV_PROJECTION = /\.self_attn\.[kv]_proj\.(weight|bias)$/;
const ROW_PARALLEL = /\.(self_attn\.o_proj|mlp\.down_proj)\.weight$/;

function splitOf(name: string): Split {
  if (name === 'lm_head.weight') return 'rank0';
  if (COLUMN_PARALLEL.test(name)) return 'rows';
  if (KV_PROJECTION.test(name)) return 'kvRows';
  if (ROW_PARALLEL.test(name)) return 'columns';
  return 'replicated';
}

function elementBytes(tensor: TensorData): number {
  return tensor.dtype === 'float32' ? 4 : 2;
}

/** Rows [first, first + count) of a row-major tensor (its first dimension). */
function sliceRows(tensor: TensorData, first: number, count: number): TensorData {
  const [rows = 0, ...rest] = tensor.shape;
  const rowBytes = tensor.bytes.byteLength / rows;
  return {
    dtype: tensor.dtype,
    shape: [count, ...rest],
    bytes: tensor.bytes.subarray(first * rowBytes, (first + count) * rowBytes),
  };
}

/** Columns [rank * n/size, (rank+1) * n/size) of a 2-D row-major tensor. */
function sliceColumns(tensor: TensorData, rank: number, size: number): TensorData {
  const [rows = 0, cols = 0] = tensor.shape;
  const part = cols / size;
  const elem = elementBytes(tensor);
  const out = new Uint8Array(rows * part * elem);
  for (let r = 0; r < rows; r++) {
    const from = (r * cols + rank * part) * elem;
    out.set(tensor.bytes.subarray(from, from + part * elem), r * part * elem);
  }
  return { dtype: tensor.dtype, shape: [rows, part], bytes: out };
}

/** Rank `rank`'s part of one checkpoint tensor of `spec`, or null when that rank does not hold it. */
export function shardTensor(spec: ModelSpec, name: string, tensor: TensorData, rank: number, size: number): TensorData | null {
  if (size === 1) return tensor;
  switch (splitOf(name)) {
    case 'rank0':
      return rank === 0 ? tensor : null;
    case 'rows': {
      const part = (tensor.shape[0] ?? 0) / size;
      return sliceRows(tensor, rank * part, part);
    }
    case 'kvRows': {
      const { first, count } = kvHeadsOf(spec, rank, size);
      return sliceRows(tensor, first * spec.headDim, count * spec.headDim);
    }
    case 'columns':
      return sliceColumns(tensor, rank, size);
    case 'replicated':
      return tensor;
  }
}

function sliceFloatColumns(values: Float32Array, rows: number, cols: number, rank: number, size: number): Float32Array {
  const part = cols / size;
  const out = new Float32Array(rows * part);
  for (let r = 0; r < rows; r++) out.set(values.subarray(r * cols + rank * part, r * cols + (rank + 1) * part), r * part);
  return out;
}

/**
 * A LoRA module split as its base projection is: column-parallel projections keep all of A and
 * their rows of B; row-parallel ones their columns of A and all of B (their partial products are
 * summed by the same all-reduce as the base projection's).
 */
export function shardLoraModule(spec: ModelSpec, module: NativeLoraModule, rank: number, size: number): NativeLoraModule {
  if (size === 1) return module;
  const { a, b, rank: r } = module;
  if (module.projection === 'o_proj' || module.projection === 'down_proj') {
    return { ...module, a: sliceFloatColumns(a, r, a.length / r, rank, size) };
  }
  if (module.projection === 'k_proj' || module.projection === 'v_proj') {
    const { first, count } = kvHeadsOf(spec, rank, size);
    return { ...module, b: b.subarray(first * spec.headDim * r, (first + count) * spec.headDim * r) };
  }
  const part = b.length / size;
  return { ...module, b: b.subarray(rank * part, (rank + 1) * part) };
}
