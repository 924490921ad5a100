/**
 * The tensor-parallel shard plan (src/runtime/tensor-parallel.ts), on the CPU: one decoder layer
 * in the canonical layout (fused qkv and gateUp), run from each rank's shards, with the
 * row-parallel partial sums added as the all-reduce would, equals the layer run on the whole
 * tensors; fused slots split part by part (q, k, v; gate, up), including KV heads replicated over
 * more ranks than there are of them; bf16 tensors slice by whole elements; lmHead stays on rank 0
 * and the rest is replicated; LoRA modules split like their base projections; a model that does
 * not divide is a ModelLoadError naming why. Quantized (int4/int8, with or without g_idx) slots:
 * the layer from the shards' dequantized weights equals the layer from the whole tensors'.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ModelLoadError } from '../src/model/errors.js';
import type { ModelSpec } from '../src/model/spec.js';
import type { LayerSlot, Projection, Slot } from '../src/model/layout.js';
import type { NativeLoraModule } from '../src/runtime/native-lora.js';
import { checkShardable, shardLoraModule, shardSpec, shardTensor } from '../src/runtime/tensor-parallel.js';
import type { TensorData } from '../src/runtime/types.js';
import type { SlotTensor } from '../src/model/arch/checkpoint.js';
import { quantizeRtn } from '../src/model/quant/rtn.js';
import { dequantize, isQuantized, type QuantizedTensor } from '../src/model/weight-formats/quantized.js';

/** Tokens in every test sequence. */
const T = 5;

function tinySpec(overrides: Partial<ModelSpec> = {}): ModelSpec {
  return {
    hfArchitecture: 'LlamaForCausalLM', family: 'llama', vocabSize: 50, hiddenSize: 16, intermediateSize: 32,
    numLayers: 1, numHeads: 4, numKvHeads: 2, headDim: 8, rmsNormEps: 1e-5, maxPositionEmbeddings: 64,
    tieWordEmbeddings: false, qkvBias: true, oBias: true, mlpBias: true, qkNorm: false,
    rope: { type: 'default', theta: 10000, partialRotaryFactor: 1 }, dtype: 'float32', bosTokenId: null, eosTokenIds: [],
    ...overrides,
  };
}

/** mulberry32: the same weights on every run, so a failure reproduces. */
function seededRandom(seed: number): (scale: number) => number {
  let a = seed >>> 0;
  return (scale) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  };
}
const random = seededRandom(1234);
const randomFloats = (n: number, scale = 0.5): Float32Array => Float32Array.from({ length: n }, () => random(scale));

function f32Tensor(shape: number[], values: Float32Array): TensorData {
  return { dtype: 'float32', shape, bytes: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

/** A copy, so a row slice of the bytes need not start on a 4-byte boundary. */
function floatsOf(tensor: TensorData): Float32Array {
  assert.equal(tensor.dtype, 'float32');
  return new Float32Array(tensor.bytes.slice().buffer);
}

// ---- the reference layer (fp32; rope left out: it acts on each head alike on every rank) ----

/** x [T, inF] @ W^T with W [out, inF] row-major, as checkpoints and LoRA store it. */
function matmulT(x: Float32Array, w: Float32Array, out: number, inF: number): Float32Array {
  assert.equal(x.length, T * inF, `input is [${T}, ${x.length / T}], the weight wants ${inF} columns`);
  assert.equal(w.length, out * inF);
  const y = new Float32Array(T * out);
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < out; o++) {
      let s = 0;
      for (let i = 0; i < inF; i++) s += x[t * inF + i]! * w[o * inF + i]!;
      y[t * out + o] = s;
    }
  }
  return y;
}

/** A projection whose sizes come from the tensor's shape, so a wrongly shaped shard cannot pass. */
function linear(x: Float32Array, weight: TensorData, bias?: TensorData): Float32Array {
  const [out = 0, inF = 0] = weight.shape;
  const y = matmulT(x, floatsOf(weight), out, inF);
  if (bias) addRowwise(y, floatsOf(bias));
  return y;
}

/** y[t, j] += b[j] for every token. */
function addRowwise(y: Float32Array, b: Float32Array): void {
  assert.equal(y.length, T * b.length);
  y.forEach((v, i) => (y[i] = v + b[i % b.length]!));
}

function rmsNorm(x: Float32Array, weight: TensorData, eps: number): Float32Array {
  const g = floatsOf(weight);
  const d = g.length;
  const y = new Float32Array(x.length);
  for (let t = 0; t < T; t++) {
    const row = x.subarray(t * d, (t + 1) * d);
    const inv = 1 / Math.sqrt(row.reduce((s, v) => s + v * v, 0) / d + eps);
    row.forEach((v, j) => (y[t * d + j] = v * inv * g[j]!));
  }
  return y;
}

/** Causal GQA: query head h reads KV head floor(h / (numHeads / numKvHeads)). */
function causalAttention(spec: ModelSpec, q: Float32Array, k: Float32Array, v: Float32Array): Float32Array {
  const { numHeads, numKvHeads, headDim: hd } = spec;
  const [qWidth, kvWidth] = [numHeads * hd, numKvHeads * hd];
  const out = new Float32Array(T * qWidth);
  for (let h = 0; h < numHeads; h++) {
    const kvh = Math.floor(h / (numHeads / numKvHeads));
    for (let t = 0; t < T; t++) {
      const scores: number[] = [];
      for (let s = 0; s <= t; s++) {
        let dot = 0;
        for (let i = 0; i < hd; i++) dot += q[t * qWidth + h * hd + i]! * k[s * kvWidth + kvh * hd + i]!;
        scores.push(dot / Math.sqrt(hd));
      }
      const max = Math.max(...scores);
      const p = scores.map((sc) => Math.exp(sc - max));
      const sum = p.reduce((a, b) => a + b, 0);
      for (let i = 0; i < hd; i++) {
        let acc = 0;
        p.forEach((ps, s) => (acc += (ps / sum) * v[s * kvWidth + kvh * hd + i]!));
        out[t * qWidth + h * hd + i] = acc;
      }
    }
  }
  return out;
}

/** One rank: its decoder shape (shardSpec) and its tensors of layer 0, by slot. */
interface Rank {
  spec: ModelSpec;
  tensors: Map<LayerSlot, TensorData>;
}

function tensorOf(rank: Rank, slot: LayerSlot): TensorData {
  const t = rank.tensors.get(slot);
  assert.ok(t, `no ${slot}`);
  return t;
}

/** Columns [first, first + width) of a [T, w] activation. */
function columns(y: Float32Array, first: number, width: number): Float32Array {
  const w = y.length / T;
  return Float32Array.from({ length: T * width }, (_, i) => y[Math.floor(i / width) * w + first + (i % width)]!);
}

/** Attention up to o, without its bias: on a shard this is the partial sum the all-reduce adds. */
function attentionPartial(rank: Rank, x: Float32Array): Float32Array {
  const { spec } = rank;
  const n = rmsNorm(x, tensorOf(rank, 'inputNorm'), spec.rmsNormEps);
  // NOTE: split by the rank's own shape, so a shard that is not its q share, then its k and v heads, computes another layer.
  const qkv = linear(n, tensorOf(rank, 'qkv'), tensorOf(rank, 'qkvBias'));
  const [qWidth, kvWidth] = [spec.numHeads * spec.headDim, spec.numKvHeads * spec.headDim];
  assert.equal(qkv.length, T * (qWidth + 2 * kvWidth), 'the qkv shard has the rows of its shardSpec');
  const [q, k, v] = [columns(qkv, 0, qWidth), columns(qkv, qWidth, kvWidth), columns(qkv, qWidth + kvWidth, kvWidth)];
  return linear(causalAttention(spec, q, k, v), tensorOf(rank, 'o'));
}

/** The MLP up to down, without its bias: the second partial sum. */
function mlpPartial(rank: Rank, h: Float32Array): Float32Array {
  const I = rank.spec.intermediateSize;
  const n = rmsNorm(h, tensorOf(rank, 'postNorm'), rank.spec.rmsNormEps);
  const gateUp = linear(n, tensorOf(rank, 'gateUp'), tensorOf(rank, 'gateUpBias'));
  assert.equal(gateUp.length, T * 2 * I, 'the gateUp shard has the rows of its shardSpec');
  const [gate, up] = [columns(gateUp, 0, I), columns(gateUp, I, I)];
  return linear(gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!), tensorOf(rank, 'down'));
}

/** residual + all-reduce(partials) + bias, the bias added once (rank 0's whole copy). */
function reduceIntoResidual(residual: Float32Array, partials: Float32Array[], bias: TensorData): Float32Array {
  const y = Float32Array.from(residual);
  for (const p of partials) y.forEach((v, i) => (y[i] = v + p[i]!));
  addRowwise(y, floatsOf(bias));
  return y;
}

/** The layer as `ranks.length` GPUs run it; one rank holding everything is the unsharded layer. */
function runLayer(ranks: Rank[], x: Float32Array): Float32Array {
  const rank0 = ranks[0]!;
  const h = reduceIntoResidual(x, ranks.map((r) => attentionPartial(r, x)), tensorOf(rank0, 'oBias'));
  return reduceIntoResidual(h, ranks.map((r) => mlpPartial(r, h)), tensorOf(rank0, 'downBias'));
}

function randomLayer(spec: ModelSpec): Map<LayerSlot, TensorData> {
  const { hiddenSize: d, intermediateSize: f } = spec;
  const qkvRows = (spec.numHeads + 2 * spec.numKvHeads) * spec.headDim;
  const shapes: [LayerSlot, number[]][] = [
    ['inputNorm', [d]], ['qkv', [qkvRows, d]], ['qkvBias', [qkvRows]], ['o', [d, spec.numHeads * spec.headDim]], ['oBias', [d]],
    ['postNorm', [d]], ['gateUp', [2 * f, d]], ['gateUpBias', [2 * f]], ['down', [d, f]], ['downBias', [d]],
  ];
  return new Map(shapes.map(([slot, shape]) => [slot, f32Tensor(shape, randomFloats(shape.reduce((a, b) => a * b)))]));
}

function shardLayer(spec: ModelSpec, full: Map<LayerSlot, TensorData>, size: number): Rank[] {
  return Array.from({ length: size }, (_, rank) => ({
    spec: shardSpec(spec, size),
    tensors: new Map([...full].map(([slot, t]) => [slot, shardTensor(spec, slot, t, rank, size) ?? assert.fail(`${slot}: null on rank ${rank}`)])),
  }));
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
}

describe('one decoder layer from the shards equals the whole layer', () => {
  // 2 KV heads over 4 ranks: each rank keeps a copy of the KV head its one query head reads.
  for (const [numKvHeads, sizes] of [[2, [1, 2, 4]], [4, [2, 4]], [1, [2]]] as const) {
    const spec = tinySpec({ numKvHeads });
    const full = randomLayer(spec);
    const x = randomFloats(T * spec.hiddenSize, 1);
    const want = runLayer([{ spec, tensors: full }], x);
    for (const size of sizes) {
      test(`${spec.numHeads} heads, ${numKvHeads} KV heads over ${size} ranks`, () => {
        assert.ok(maxAbsDiff(runLayer(shardLayer(spec, full, size), x), want) <= 1e-5);
      });
    }
  }

  test('the check can fail: ranks that trade the k rows of their qkv shards give another layer', () => {
    const spec = tinySpec();
    const full = randomLayer(spec);
    const x = randomFloats(T * spec.hiddenSize, 1);
    const [r0, r1] = shardLayer(spec, full, 2) as [Rank, Rank];
    // Each rank holds 2 query heads then 1 KV head of 8: its k rows are 16..23.
    const [first, count] = [16, 8];
    for (const slot of ['qkv', 'qkvBias'] as const) {
      const [a, b] = [tensorOf(r0, slot), tensorOf(r1, slot)];
      const rowBytes = a.bytes.length / (a.shape[0] ?? 1);
      const [ka, kb] = [a.bytes.slice(first * rowBytes, (first + count) * rowBytes), b.bytes.slice(first * rowBytes, (first + count) * rowBytes)];
      const [na, nb] = [a.bytes.slice(), b.bytes.slice()];
      na.set(kb, first * rowBytes);
      nb.set(ka, first * rowBytes);
      r0.tensors.set(slot, { ...a, bytes: na });
      r1.tensors.set(slot, { ...b, bytes: nb });
    }
    assert.ok(maxAbsDiff(runLayer([r0, r1], x), runLayer([{ spec, tensors: full }], x)) > 1e-3);
  });
});

/** A bf16 tensor whose element (r, c) holds the code 10r + c, little-endian like safetensors. */
function bf16Codes(shape: number[], codes: number[]): TensorData {
  const bytes = new Uint8Array(codes.length * 2);
  const view = new DataView(bytes.buffer);
  codes.forEach((c, i) => view.setUint16(i * 2, c, true));
  return { dtype: 'bfloat16', shape, bytes };
}
const codeGrid = (rows: number, cols: number): number[] => Array.from({ length: rows * cols }, (_, i) => 10 * Math.floor(i / cols) + (i % cols));

describe('2-byte tensors slice by whole elements, fused slots part by part', () => {
  const down = bf16Codes([3, 8], codeGrid(3, 8));
  // intermediate 4: gate rows 0-3, then up rows 4-7.
  const gateUp = bf16Codes([8, 3], codeGrid(8, 3));
  // 4 query heads and 2 KV heads of 1: q rows 0-3, k rows 4-5, v rows 6-7.
  const qkv = bf16Codes([8, 2], codeGrid(8, 2));
  const small = { intermediateSize: 4, numHeads: 4, numKvHeads: 2, headDim: 1, hiddenSize: 2 };
  const cases: [string, Slot, TensorData, number, number, TensorData][] = [
    ['down rank 0 of 2: columns 0-3', 'down', down, 0, 2, bf16Codes([3, 4], [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23])],
    ['down rank 1 of 2: columns 4-7', 'down', down, 1, 2, bf16Codes([3, 4], [4, 5, 6, 7, 14, 15, 16, 17, 24, 25, 26, 27])],
    ['down rank 2 of 4: columns 4-5', 'down', down, 2, 4, bf16Codes([3, 2], [4, 5, 14, 15, 24, 25])],
    ['gateUp rank 1 of 2: gate rows 2-3, up rows 6-7', 'gateUp', gateUp, 1, 2, bf16Codes([4, 3], [20, 21, 22, 30, 31, 32, 60, 61, 62, 70, 71, 72])],
    ['gateUp rank 0 of 4: gate row 0, up row 4', 'gateUp', gateUp, 0, 4, bf16Codes([2, 3], [0, 1, 2, 40, 41, 42])],
    ['qkv rank 1 of 2: q rows 2-3, k row 5, v row 7', 'qkv', qkv, 1, 2, bf16Codes([4, 2], [20, 21, 30, 31, 50, 51, 70, 71])],
    ['qkv rank 2 of 4: q row 2, the KV head it shares with rank 3 (k row 5, v row 7)', 'qkv', qkv, 2, 4, bf16Codes([3, 2], [20, 21, 50, 51, 70, 71])],
    ['qkv rank 1 of 4: q row 1, the KV head it shares with rank 0 (k row 4, v row 6)', 'qkv', qkv, 1, 4, bf16Codes([3, 2], [10, 11, 40, 41, 60, 61])],
  ];
  for (const [label, slot, tensor, rank, size, want] of cases) {
    test(label, () => {
      const got = shardTensor(tinySpec(small), slot, tensor, rank, size);
      assert.deepEqual(got && { ...got, bytes: [...got.bytes] }, { ...want, bytes: [...want.bytes] });
    });
  }
});

describe('replicated, rank-0 and size-1 tensors', () => {
  const t = f32Tensor([4, 4], randomFloats(16));
  test('lmHead only on rank 0', () => {
    const spec = tinySpec();
    assert.equal(shardTensor(spec, 'lmHead', t, 0, 2), t);
    assert.equal(shardTensor(spec, 'lmHead', t, 1, 2), null);
    assert.equal(shardTensor(spec, 'lmHead', t, 3, 4), null);
  });
  test('embedding, norms and the row-parallel biases are whole on every rank', () => {
    const slots: Slot[] = ['embedding', 'finalNorm', 'inputNorm', 'postNorm', 'qNorm', 'kNorm', 'oBias', 'downBias'];
    for (const slot of slots) for (const rank of [0, 1]) assert.equal(shardTensor(tinySpec(), slot, t, rank, 2), t, `${slot} rank ${rank}`);
  });
  test('size 1 returns every tensor as it is', () => {
    for (const slot of ['lmHead', 'qkv', 'down'] as const) assert.equal(shardTensor(tinySpec(), slot, t, 0, 1), t);
  });
});

describe('LoRA modules split like their base projections', () => {
  const r = 3;
  // [projection, inFeatures, outFeatures] for hidden 16, 4 heads of 8, 2 KV heads, intermediate 32.
  const modules: [Projection, number, number][] = [
    ['q_proj', 16, 32], ['k_proj', 16, 16], ['v_proj', 16, 16], ['gate_proj', 16, 32], ['up_proj', 16, 32], ['o_proj', 32, 16], ['down_proj', 32, 16],
  ];
  /** x @ A^T @ B^T with sizes read off the module, as the runner's kernels do. */
  const lowRank = (x: Float32Array, m: NativeLoraModule): Float32Array =>
    matmulT(matmulT(x, m.a, m.rank, m.a.length / m.rank), m.b, m.b.length / m.rank, m.rank);
  /** Columns [rank * w/size, (rank + 1) * w/size) of a [T, w] activation. */
  const columnsOf = (x: Float32Array, w: number, rank: number, size: number): Float32Array =>
    Float32Array.from({ length: (T * w) / size }, (_, i) => x[Math.floor(i / (w / size)) * w + rank * (w / size) + (i % (w / size))]!);

  for (const [projection, inF, out] of modules) {
    for (const size of [2, 4]) {
      test(`${projection} over ${size} ranks`, () => {
        const module: NativeLoraModule = { layer: 0, projection, rank: r, a: randomFloats(r * inF), b: randomFloats(out * r) };
        const x = randomFloats(T * inF, 1);
        const want = lowRank(x, module);
        const shards = Array.from({ length: size }, (_, rank) => shardLoraModule(tinySpec(), module, rank, size));
        let got: Float32Array;
        if (projection === 'o_proj' || projection === 'down_proj') {
          // Row-parallel: each rank sees its columns of x, and the partial deltas are summed.
          got = new Float32Array(T * out);
          shards.forEach((m, rank) => lowRank(columnsOf(x, inF, rank, size), m).forEach((v, i) => (got[i] = got[i]! + v)));
        } else {
          // Column-parallel: each rank computes its block of output features (k/v over 4 ranks: the
          // 8 features of KV head rank/2, which two ranks share); they must be those of the whole.
          const block = (rank: number): [number, number] =>
            (projection === 'k_proj' || projection === 'v_proj') && size > 2 ? [Math.floor(rank / 2) * 8, 8] : [rank * (out / size), out / size];
          got = new Float32Array(0);
          shards.forEach((m, rank) => {
            const [first, width] = block(rank);
            const part = lowRank(x, m);
            assert.equal(part.length, T * width);
            const expected = Float32Array.from({ length: T * width }, (_, i) => want[Math.floor(i / width) * out + first + (i % width)]!);
            assert.ok(maxAbsDiff(part, expected) <= 1e-5, `rank ${rank}`);
          });
          return;
        }
        assert.ok(maxAbsDiff(got, want) <= 1e-5);
      });
    }
  }
  test('size 1 keeps the module', () => {
    const module: NativeLoraModule = { layer: 0, projection: 'o_proj', rank: r, a: randomFloats(r * 32), b: randomFloats(16 * r) };
    assert.equal(shardLoraModule(tinySpec(), module, 0, 1), module);
  });
});

describe('a model that does not split is a ModelLoadError', () => {
  const cases: [string, Partial<ModelSpec>, number, RegExp][] = [
    ['2 KV heads over 3 ranks', { numHeads: 6, numKvHeads: 2, intermediateSize: 48 }, 3, /key\/value heads \(2\) nor is a multiple/],
    ['4 KV heads over 8 ranks would be fine, but 4 heads are not', { numKvHeads: 4 }, 8, /attention heads \(4\)/],
    ['4 heads over 3 ranks', { numKvHeads: 4 }, 3, /attention heads \(4\)/],
    ['intermediate 30 over 4 ranks', { numKvHeads: 4, intermediateSize: 30 }, 4, /intermediate size \(30\)/],
    ['intermediate 36 over 2 ranks: a slice of 18', { intermediateSize: 36 }, 2, /intermediate slice of 18/],
    ['size 0', {}, 0, /positive integer \(got 0\)/],
    ['size 1.5', {}, 1.5, /positive integer \(got 1.5\)/],
    ['size -2', {}, -2, /positive integer \(got -2\)/],
  ];
  for (const [label, overrides, size, message] of cases) {
    test(label, () => {
      const spec = tinySpec(overrides);
      const isLoadError = (e: unknown): boolean => e instanceof ModelLoadError && message.test(e.message);
      assert.throws(() => checkShardable(spec, size), isLoadError);
      assert.throws(() => shardSpec(spec, size), isLoadError);
    });
  }
  test('shardSpec divides heads, KV heads and the MLP, and keeps the rest', () => {
    const spec = tinySpec({ numKvHeads: 4 });
    assert.deepEqual(shardSpec(spec, 4), { ...spec, numHeads: 1, numKvHeads: 1, intermediateSize: 8 });
  });
  test('with more ranks than KV heads, each rank keeps one', () => {
    const spec = tinySpec({ numHeads: 8, numKvHeads: 2 });
    assert.deepEqual(shardSpec(spec, 4), { ...spec, numHeads: 2, numKvHeads: 1, intermediateSize: 8 });
  });
});

describe('quantized linear slots split like dense ones', () => {
  const QUANTIZED_SLOTS: readonly LayerSlot[] = ['qkv', 'o', 'gateUp', 'down'];
  /**
   * Groups of 8 columns, in column order or act-order (g_idx): `spread` puts column c in group
   * (5c mod groups), so every group has columns on every shard; `swapped` gives block b of 8
   * columns group (2b mod groups) + (2b div groups), so two shards hold groups {0, 2} and {1, 3}.
   */
  type Order = 'columns' | 'spread' | 'swapped';
  function groupIndex(order: Order, cols: number): Int32Array | undefined {
    const groups = cols / 8;
    if (order === 'spread') return Int32Array.from({ length: cols }, (_, c) => (c * 5) % groups);
    if (order === 'swapped') return Int32Array.from({ length: cols }, (_, c) => ((2 * Math.floor(c / 8)) % groups) + Math.floor((2 * Math.floor(c / 8)) / groups));
    return undefined;
  }
  function quantizeLayer(full: Map<LayerSlot, TensorData>, bits: 4 | 8, order: Order): Map<LayerSlot, SlotTensor> {
    return new Map([...full].map(([slot, t]): [LayerSlot, SlotTensor] => {
      if (!QUANTIZED_SLOTS.includes(slot)) return [slot, t];
      const [rows = 0, cols = 0] = t.shape;
      return [slot, quantizeRtn(floatsOf(t), [rows, cols], { bits, groupSize: 8, sym: false }, groupIndex(order, cols))];
    }));
  }
  /** What a rank computes with: its quantized shards as the weights their codes stand for. */
  const dense = (t: SlotTensor): TensorData => (isQuantized(t) ? f32Tensor([...t.shape], dequantize(t)) : t);
  const whole = (spec: ModelSpec, full: Map<LayerSlot, SlotTensor>): Rank[] => [{ spec, tensors: new Map([...full].map(([slot, t]) => [slot, dense(t)])) }];
  function shardQuantized(spec: ModelSpec, full: Map<LayerSlot, SlotTensor>, size: number): Rank[] {
    return Array.from({ length: size }, (_, rank) => ({
      spec: shardSpec(spec, size),
      tensors: new Map([...full].map(([slot, t]) => [slot, dense(shardTensor(spec, slot, t, rank, size) ?? assert.fail(`${slot}: null on rank ${rank}`))])),
    }));
  }
  const cases: [string, 4 | 8, Order, number, number][] = [
    ['int4, 2 KV heads over 2 ranks', 4, 'columns', 2, 2],
    ['int8, 2 KV heads over 4 ranks (KV heads shared)', 8, 'columns', 2, 4],
    ['int4 act-order, every group on every shard, 4 KV heads over 4 ranks', 4, 'spread', 4, 4],
    ['int4 act-order, groups renumbered per shard, over 2 ranks', 4, 'swapped', 2, 2],
  ];
  for (const [label, bits, order, numKvHeads, size] of cases) {
    test(label, () => {
      const spec = tinySpec({ numKvHeads });
      const full = quantizeLayer(randomLayer(spec), bits, order);
      const x = randomFloats(T * spec.hiddenSize, 1);
      assert.ok(maxAbsDiff(runLayer(shardQuantized(spec, full, size), x), runLayer(whole(spec, full), x)) <= 1e-5);
    });
  }
  test('the check can fail: a rank 1 down shard with the scales of the last groups instead of those its columns name', () => {
    const spec = tinySpec();
    const full = quantizeLayer(randomLayer(spec), 4, 'swapped');
    const x = randomFloats(T * spec.hiddenSize, 1);
    const ranks = shardQuantized(spec, full, 2);
    const down = full.get('down') as QuantizedTensor;
    const shard = shardTensor(spec, 'down', down, 1, 2) as QuantizedTensor;
    // down [16, 32]: groups 0-3; rank 1's columns are in groups 1 and 3, renumbered 0 and 1. Give it groups 2 and 3's scales.
    const lastGroups = (v: Float32Array) => Float32Array.from({ length: 32 }, (_, i) => v[Math.floor(i / 2) * 4 + 2 + (i % 2)]!);
    ranks[1]!.tensors.set('down', dense({ ...shard, scales: lastGroups(down.scales), zeros: lastGroups(down.zeros) }));
    assert.ok(maxAbsDiff(runLayer(ranks, x), runLayer(whole(spec, full), x)) > 1e-3);
  });
  test('groups that do not divide a shard are refused, naming the tensor', () => {
    const spec = tinySpec();
    const down = quantizeRtn(randomFloats(16 * 32), [16, 32], { bits: 4, groupSize: 16, sym: false });
    assert.throws(() => shardTensor(spec, 'down', down, 0, 4), (e: unknown) => e instanceof ModelLoadError && /tensor down: its groups of 16 input columns do not divide a tensor-parallel shard of 8 columns \(32 over 4\)/.test(e.message));
    assert.equal((shardTensor(spec, 'down', down, 1, 2) as QuantizedTensor).scales.length, 16);
  });
});
