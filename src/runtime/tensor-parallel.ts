/**
 * How a model is split over `size` GPUs (Megatron-style tensor parallelism, as vLLM does it):
 * attention heads and MLP columns are divided, so each rank is the same decoder with fewer heads
 * and a narrower MLP, and the two row-parallel projections (o_proj, down_proj) produce partial
 * sums that one all-reduce per projection adds up.
 *
 * Split by canonical slot (src/model/layout.ts):
 * - column-parallel (output rows split): `qkv` and `gateUp` (and their biases), part by part: a
 *   rank holds its share of q's rows, then of k's and of v's (gate's, then up's), joined in that
 *   order, so its shard is again a fused slot of its shardSpec. With fewer KV heads than ranks
 *   (size a multiple of them), each rank keeps the one KV head its query heads read, so ranks
 *   sharing it hold copies (vLLM replicates KV heads the same way);
 * - row-parallel (input columns split): `o`, `down`; their biases are added once, after the
 *   all-reduce, so every rank keeps the whole bias;
 * - replicated: embedding, norms, q/k norms; `lmHead` only on rank 0, which alone samples.
 *
 * Quantized linear slots (int8/int4 codes with scales and zero points per row and group) split
 * the same way: rows with their scales and zeros; columns with whole groups (a rank's columns
 * must be a whole number of groups, else the split is refused), or under act-order (g_idx) with
 * the groups its columns name, renumbered.
 *
 * The plan lives here, in one place the CPU tests can check, and the CUDA runner uploads what it
 * returns: each rank's native model is configured with `shardSpec` and never slices anything.
 */
import type { SlotTensor } from '../model/arch/checkpoint.js';
import { isQuantized, type QuantizedTensor } from '../model/weight-formats/quantized.js';
import { ModelLoadError } from '../model/errors.js';
import type { ModelSpec } from '../model/spec.js';
import { linearOf, PROJECTIONS_OF_SLOT, slotRowParts, type LinearSlot, type Projection, type Slot } from '../model/layout.js';
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

/** An empty array of `values`' element type. NOTE: by element type, not values.constructor: checkpoint bytes may be a Node Buffer. */
function emptyLike<T extends Uint8Array | Float32Array>(values: T, length: number): T {
  return (values instanceof Float32Array ? new Float32Array(length) : new Uint8Array(length)) as T;
}

/** The row ranges of a row-major array of `rows` rows, one after another (a copy). */
function joinRows<T extends Uint8Array | Float32Array>(values: T, rows: number, ranges: readonly RowRange[]): T {
  const width = values.length / rows;
  const out = emptyLike(values, ranges.reduce((n, r) => n + r.count, 0) * width);
  let offset = 0;
  for (const { first, count } of ranges) {
    out.set(rowBlock(values, rows, first, count), offset);
    offset += count * width;
  }
  return out;
}

/** Columns [rank * w/size, (rank+1) * w/size) of a row-major array of `rows` rows of width w (a copy). */
function columnBlock<T extends Uint8Array | Float32Array>(values: T, rows: number, rank: number, size: number): T {
  const width = values.length / rows;
  const part = width / size;
  const out = emptyLike(values, rows * part);
  for (let r = 0; r < rows; r++) out.set(values.subarray(r * width + rank * part, r * width + (rank + 1) * part), r * part);
  return out;
}

/** Column-parallel linear layers: a rank holds its share of each part's output rows (weights and biases). */
const ROW_SPLIT: ReadonlySet<LinearSlot> = new Set<LinearSlot>(['qkv', 'gateUp']);
/** Row-parallel weights: a rank holds their input columns. */
const COLUMN_SPLIT: ReadonlySet<Slot> = new Set<Slot>(['o', 'down']);

const isKvProjection = (projection: Projection): boolean => projection === 'k_proj' || projection === 'v_proj';

interface RowRange {
  first: number;
  count: number;
}

/** Each part's rows that rank `rank` holds (q's share, then k's and v's KV heads; gate's share, then up's), in the fused slot's row numbers. */
function fusedRowRanges(spec: ModelSpec, slot: LinearSlot, rank: number, size: number): RowRange[] {
  let partStart = 0;
  return PROJECTIONS_OF_SLOT[slot].map((projection, i) => {
    const partRows = slotRowParts(spec, slot)[i] ?? 0;
    const { first, count } = outputRowsOf(spec, isKvProjection(projection), partRows, rank, size);
    const range = { first: partStart + first, count };
    partStart += partRows;
    return range;
  });
}

function fusedRowBlock(spec: ModelSpec, slot: LinearSlot, tensor: TensorData, rank: number, size: number): TensorData {
  const [rows = 0, ...rest] = tensor.shape;
  const ranges = fusedRowRanges(spec, slot, rank, size);
  return { dtype: tensor.dtype, shape: [ranges.reduce((n, r) => n + r.count, 0), ...rest], bytes: joinRows(tensor.bytes, rows, ranges) };
}

/** A quantized column-parallel slot's rows: codes, scales and zeros alike (g_idx runs along the inputs, so every rank keeps it). */
function quantizedRowBlock(spec: ModelSpec, slot: LinearSlot, tensor: QuantizedTensor, rank: number, size: number): QuantizedTensor {
  const [rows, cols] = tensor.shape;
  const ranges = fusedRowRanges(spec, slot, rank, size);
  return {
    ...tensor,
    shape: [ranges.reduce((n, r) => n + r.count, 0), cols],
    codes: joinRows(tensor.codes, rows, ranges),
    scales: joinRows(tensor.scales, rows, ranges),
    zeros: joinRows(tensor.zeros, rows, ranges),
  };
}

/** A quantized row-parallel slot's columns [rank * cols/size, ...) with the groups they belong to. */
function quantizedColumnBlock(slot: Slot, tensor: QuantizedTensor, rank: number, size: number): QuantizedTensor {
  const [rows, cols] = tensor.shape;
  const part = cols / size;
  const codes = columnBlock(tensor.codes, rows, rank, size);
  if (!tensor.gIdx) {
    if (part % tensor.groupSize !== 0) {
      throw new ModelLoadError(`tensor ${slot}: its groups of ${tensor.groupSize} input columns do not divide a tensor-parallel shard of ${part} columns (${cols} over ${size})`);
    }
    return { ...tensor, shape: [rows, part], codes, scales: columnBlock(tensor.scales, rows, rank, size), zeros: columnBlock(tensor.zeros, rows, rank, size) };
  }
  // Act-order: the shard's columns name groups anywhere in the row; it keeps those, numbered in order.
  const columnGroups = tensor.gIdx.subarray(rank * part, (rank + 1) * part);
  const kept = [...new Set(columnGroups)].sort((a, b) => a - b);
  const renumbered = new Map(kept.map((g, i) => [g, i]));
  const groups = tensor.scales.length / rows;
  const gather = (values: Float32Array): Float32Array => Float32Array.from({ length: rows * kept.length }, (_, i) => values[Math.floor(i / kept.length) * groups + kept[i % kept.length]!]!);
  return {
    ...tensor, shape: [rows, part], codes, scales: gather(tensor.scales), zeros: gather(tensor.zeros),
    gIdx: Int32Array.from(columnGroups, (g) => renumbered.get(g)!),
  };
}

/** Rank `rank`'s part of one canonical tensor of `spec`, or null when that rank does not hold it. */
export function shardTensor(spec: ModelSpec, slot: Slot, tensor: TensorData, rank: number, size: number): TensorData | null;
export function shardTensor(spec: ModelSpec, slot: Slot, tensor: SlotTensor, rank: number, size: number): SlotTensor | null;
export function shardTensor(spec: ModelSpec, slot: Slot, tensor: SlotTensor, rank: number, size: number): SlotTensor | null {
  if (size === 1) return tensor;
  if (slot === 'lmHead') return rank === 0 ? tensor : null;
  const linear = linearOf(slot);
  if (linear && ROW_SPLIT.has(linear)) {
    return isQuantized(tensor) ? quantizedRowBlock(spec, linear, tensor, rank, size) : fusedRowBlock(spec, linear, tensor, rank, size);
  }
  if (COLUMN_SPLIT.has(slot)) {
    if (isQuantized(tensor)) return quantizedColumnBlock(slot, tensor, rank, size);
    // NOTE: sliced as bytes: a column of 2-byte elements is 2 byte-columns, so the block is the same.
    const [rows = 0, cols = 0] = tensor.shape;
    return { dtype: tensor.dtype, shape: [rows, cols / size], bytes: columnBlock(tensor.bytes, rows, rank, size) };
  }
  return tensor;
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
  const { first, count } = outputRowsOf(spec, isKvProjection(projection), outputs, rank, size);
  return { ...module, b: rowBlock(b, outputs, first, count) };
}
