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

/** Output rows [first, first + count) of a column-parallel projection with `rows` outputs that rank `rank` holds. */
function outputRowsOf(spec: ModelSpec, kv: boolean, rows: number, rank: number, size: number): { first: number; count: number } {
  if (!kv) return { first: (rank * rows) / size, count: rows / size };
  const { first, count } = kvHeadsOf(spec, rank, size);
  return { first: first * spec.headDim, count: count * spec.headDim };
}

/** Rows [first, first + count) of a row-major array of `rows` rows (a subarray, no copy). */
function rowBlock<T extends Uint8Array | Float32Array>(values: T, rows: number, first: number, count: number): T {
  const width = values.length / rows;
  return values.subarray(first * width, (first + count) * width) as T;
}

/** Columns [rank * w/size, (rank+1) * w/size) of a row-major array of `rows` rows of width w (a copy). */
function columnBlock<T extends Uint8Array | Float32Array>(values: T, rows: number, rank: number, size: number): T {
  const width = values.length / rows;
  const part = width / size;
  // NOTE: built by element type, not values.constructor: checkpoint bytes may be a Node Buffer.
  const out = (values instanceof Float32Array ? new Float32Array(rows * part) : new Uint8Array(rows * part)) as T;
  for (let r = 0; r < rows; r++) out.set(values.subarray(r * width + rank * part, r * width + (rank + 1) * part), r * part);
  return out;
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

/** Rank `rank`'s part of one checkpoint tensor of `spec`, or null when that rank does not hold it. */
export function shardTensor(spec: ModelSpec, name: string, tensor: TensorData, rank: number, size: number): TensorData | null {
  if (size === 1) return tensor;
  const split = splitOf(name);
  switch (split) {
    case 'rank0':
      return rank === 0 ? tensor : null;
    case 'rows':
    case 'kvRows': {
      const [rows = 0, ...rest] = tensor.shape;
      const { first, count } = outputRowsOf(spec, split === 'kvRows', rows, rank, size);
      return { dtype: tensor.dtype, shape: [count, ...rest], bytes: rowBlock(tensor.bytes, rows, first, count) };
    }
    case 'columns': {
      // NOTE: sliced as bytes: a column of 2-byte elements is 2 byte-columns, so the block is the same.
      const [rows = 0, cols = 0] = tensor.shape;
      return { dtype: tensor.dtype, shape: [rows, cols / size], bytes: columnBlock(tensor.bytes, rows, rank, size) };
    }
    case 'replicated':
      return tensor;
  }
}

/**
 * A LoRA module split as its base projection is: column-parallel projections keep all of A and
 * their rows of B; row-parallel ones their columns of A and all of B (their partial products are
 * summed by the same all-reduce as the base projection's).
 */
export function shardLoraModule(spec: ModelSpec, module: NativeLoraModule, rank: number, size: number): NativeLoraModule {
  if (size === 1) return module;
  const { a, b, rank: r, projection } = module;
  if (projection === 'o_proj' || projection === 'down_proj') return { ...module, a: columnBlock(a, r, rank, size) };
  const outputs = b.length / r;
  const { first, count } = outputRowsOf(spec, projection === 'k_proj' || projection === 'v_proj', outputs, rank, size);
  return { ...module, b: rowBlock(b, outputs, first, count) };
}
