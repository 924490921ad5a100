/**
 * Quantized checkpoints on the CPU: GPTQ (4/8 bits, grouped or per-row, act-order) and AWQ GEMM
 * packing, loaded through the weight-format seam, against the same model with the dequantized
 * weights stored dense in fp32.
 * Tolerance: the int kernels quantize activations per 32-column block to int8 (as llama.cpp's
 * q8_0 dot products do), a relative error up to 1/254 of each block's largest |x| per input;
 * through two layers of this random model that moves logprobs by up to ~0.02 (measured), so the
 * test allows max 0.05 and mean 0.01 over all positions. A packing mistake (a wrong nibble, zero or
 * column order) moves them by whole units.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { specFromConfig } from '../src/model/config.js';
import { QuantizedCheckpointView, type NamedSource } from '../src/model/quant/quantized-checkpoint.js';
import { gptqPacking, gptqQuantizationConfig } from '../src/model/quant/gptq-packing.js';
import { quantizeRtn, type QuantGrid } from '../src/model/quant/rtn.js';
import { randomModel } from '../src/model/random-weights.js';
import { toFloat32 } from '../src/model/safetensors.js';
import { fromFloat32 } from '../src/model/safetensors-writer.js';
import { projectionShape } from '../src/model/layout.js';
import type { ModelSpec } from '../src/model/spec.js';
import { dequantize, type QuantizedTensor } from '../src/model/weight-formats/quantized.js';
import { CpuRunner } from '../src/runtime/cpu/cpu-runner.js';
import type { LoraWeights, TensorData, WeightSource } from '../src/runtime/types.js';
import { teacherForced, type RefLogprobs } from './helpers/cpu-reference.js';

const MAX_TOLERANCE = 0.05;
const MEAN_TOLERANCE = 0.01;
const failsWith = (message: RegExp) => (e: unknown): boolean => e instanceof Error && message.test(e.message);
const base = randomModel('qwen3-tiny', { numLayers: 2, dtype: 'float32', std: 0.08 });

/** Tensors by name, in memory. */
class MapSource implements NamedSource {
  constructor(private readonly tensors: Map<string, TensorData>) {}
  names(): string[] {
    return [...this.tensors.keys()];
  }
  has(name: string): boolean {
    return this.tensors.has(name);
  }
  read(name: string): TensorData {
    const tensor = this.tensors.get(name);
    if (!tensor) throw new Error(`no tensor "${name}"`);
    return tensor;
  }
  info(name: string): { dtype: TensorData['dtype']; shape: number[] } {
    return this.read(name);
  }
}

function denseSource(): MapSource {
  return new MapSource(new Map(base.source.names().map((name) => [name, base.source.read(name)])));
}

/** The quantized checkpoint and the dense one holding exactly the weights its codes stand for. */
function quantizedPair(grid: QuantGrid, quantize: (w: Float32Array, shape: [number, number]) => QuantizedTensor): { view: WeightSource; reference: WeightSource } {
  const dense = denseSource();
  const reference = new Map<string, TensorData>();
  const view = new QuantizedCheckpointView(base.spec, dense, gptqPacking(grid), (w, shape) => quantize(w, shape));
  for (const name of dense.names()) {
    const tensor = dense.read(name);
    const isProjection = name.endsWith('_proj.weight');
    const values = isProjection ? dequantize(quantize(toFloat32(tensor), [tensor.shape[0]!, tensor.shape[1]!])) : undefined;
    reference.set(name, values ? { dtype: 'float32', shape: tensor.shape, bytes: fromFloat32(values, 'float32') } : tensor);
  }
  return { view, reference: new MapSource(reference) };
}

function quantSpec(quantizationConfig: Record<string, unknown>): ModelSpec {
  return specFromConfig({ ...base.config, quantization_config: quantizationConfig });
}

const PROMPTS: RefLogprobs[] = [
  { ids: [5, 17, 99, 250, 3, 71, 400, 12], positions: [], next_top: [] },
  { ids: [9, 800, 1, 42], positions: [], next_top: [] },
];

async function logprobs(spec: ModelSpec, source: WeightSource): Promise<Float32Array> {
  const runner = CpuRunner.load(spec, source, { kvCacheBytes: 4 << 20, maxLoras: 0, maxLoraRank: 0, numThreads: 2 });
  try {
    return (await teacherForced(runner, PROMPTS)).positionTargetLogprobs;
  } finally {
    runner.dispose();
  }
}

async function assertSameLogprobs(spec: ModelSpec, view: WeightSource, reference: WeightSource): Promise<void> {
  const got = await logprobs(spec, view);
  const want = await logprobs(base.spec, reference);
  let worst = 0;
  let total = 0;
  let count = 0;
  want.forEach((w, i) => {
    if (!Number.isFinite(w)) return;
    const diff = Math.abs(got[i]! - w);
    worst = Math.max(worst, diff);
    total += diff;
    count++;
  });
  assert.ok(worst <= MAX_TOLERANCE && total / count <= MEAN_TOLERANCE, `|logprob diff| max ${worst}, mean ${total / count}`);
}

/** A fixed permutation of the columns, so act-order groups are not runs of columns. */
function actOrderGroups(inputs: number, groupSize: number): Int32Array {
  const gIdx = new Int32Array(inputs);
  for (let k = 0; k < inputs; k++) gIdx[(k * 37 + 11) % inputs] = Math.floor(k / groupSize);
  return gIdx;
}

describe('GPTQ checkpoints load as their dequantized weights', () => {
  const grids: [string, QuantGrid, boolean][] = [
    ['4 bits, group 32, sym', { bits: 4, groupSize: 32, sym: true }, false],
    ['8 bits, group 32, sym', { bits: 8, groupSize: 32, sym: true }, false],
    ['4 bits, one group per row, asym', { bits: 4, groupSize: undefined, sym: false }, false],
    ['8 bits, group 64 (a partial last group), asym', { bits: 8, groupSize: 64, sym: false }, false],
    ['4 bits, group 32, act-order (g_idx)', { bits: 4, groupSize: 32, sym: true }, true],
  ];
  for (const [label, grid, descAct] of grids) {
    test(label, async () => {
      const quantize = (w: Float32Array, shape: [number, number]) =>
        quantizeRtn(w, shape, grid, descAct ? actOrderGroups(shape[1], grid.groupSize!) : undefined);
      const { view, reference } = quantizedPair(grid, quantize);
      await assertSameLogprobs(quantSpec(gptqQuantizationConfig(grid, descAct)), view, reference);
    });
  }
});

const AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7];

/** AutoAWQ's GEMM packing, written here from its documented order: [rows, outputs] codes into [rows, outputs / 8] words. */
function packAwqRows(codeAt: (row: number, output: number) => number, rows: number, outputs: number): TensorData {
  const words = new Int32Array(rows * (outputs / 8));
  for (let r = 0; r < rows; r++) {
    for (let w = 0; w < outputs / 8; w++) {
      AWQ_ORDER.forEach((column, nibble) => (words[r * (outputs / 8) + w]! |= codeAt(r, 8 * w + column) << (4 * nibble)));
    }
  }
  return { dtype: 'int32', shape: [rows, outputs / 8], bytes: new Uint8Array(words.buffer) };
}

function awqTensors(module: string, q: QuantizedTensor): [string, TensorData][] {
  const [outputs, inputs] = q.shape;
  const groups = q.scales.length / outputs;
  const scales = new Float32Array(groups * outputs);
  for (let g = 0; g < groups; g++) for (let o = 0; o < outputs; o++) scales[g * outputs + o] = q.scales[o * groups + g]!;
  return [
    [`${module}.qweight`, packAwqRows((i, o) => q.codes[o * inputs + i]!, inputs, outputs)],
    [`${module}.qzeros`, packAwqRows((g, o) => q.zeros[o * groups + g]!, groups, outputs)],
    [`${module}.scales`, { dtype: 'float16', shape: [groups, outputs], bytes: fromFloat32(scales, 'float16') }],
  ];
}

test('AWQ GEMM checkpoints (interleaved nibbles) load as their dequantized weights', async () => {
  const grid: QuantGrid = { bits: 4, groupSize: 32, sym: false };
  const quantize = (w: Float32Array, shape: [number, number]) => quantizeRtn(w, shape, grid);
  const { reference } = quantizedPair(grid, quantize);
  const dense = denseSource();
  const tensors = new Map<string, TensorData>();
  for (const name of dense.names()) {
    const tensor = dense.read(name);
    if (!name.endsWith('_proj.weight')) tensors.set(name, tensor);
    else for (const [n, t] of awqTensors(name.slice(0, -'.weight'.length), quantize(toFloat32(tensor), [tensor.shape[0]!, tensor.shape[1]!]))) tensors.set(n, t);
  }
  const spec = quantSpec({ quant_method: 'awq', bits: 4, group_size: 32, zero_point: true, version: 'gemm' });
  await assertSameLogprobs(spec, new MapSource(tensors), reference);
});

describe('unsupported or inconsistent quantization is refused in one line naming the reason or the tensor', () => {
  const configs: [string, Record<string, unknown>, RegExp][] = [
    ['an unknown method', { quant_method: 'bitsandbytes' }, /^quantization_config: quant_method "bitsandbytes" is not supported \(gptq, awq\)$/],
    ['3 bits', { quant_method: 'gptq', bits: 3, group_size: 128 }, /^quantization_config: bits 3 is not supported \(4 or 8\)$/],
    ['group size 16', { quant_method: 'gptq', bits: 4, group_size: 16 }, /^quantization_config: group_size 16 is not supported/],
    ['the marlin format', { quant_method: 'gptq', bits: 4, group_size: 128, checkpoint_format: 'marlin' }, /checkpoint_format "marlin" is not supported/],
    ['AWQ GEMV', { quant_method: 'awq', bits: 4, group_size: 128, version: 'gemv' }, /AWQ version "gemv" is not supported/],
  ];
  for (const [label, config, message] of configs) test(label, () => assert.throws(() => quantSpec(config), failsWith(message)));

  test('packed shapes that do not match the config name the tensor', () => {
    const grid: QuantGrid = { bits: 4, groupSize: 32, sym: true };
    const { view } = quantizedPair(grid, (w, shape) => quantizeRtn(w, shape, grid));
    const claimed = quantSpec(gptqQuantizationConfig({ ...grid, groupSize: 64 }, false));
    assert.throws(
      () => CpuRunner.load(claimed, view, { kvCacheBytes: 4 << 20, maxLoras: 0, maxLoraRank: 0, numThreads: 1 }),
      failsWith(/^tensor "model\.layers\.0\.self_attn\.q_proj\.qzeros" is int32 \[2, 16\], the quantization config needs int32 \[1, 16\]$/),
    );
  });
});

describe('the int kernels are batch-invariant: a prompt scores the same alone and among others', () => {
  // NOTE: the kernels pair weight rows with activation rows in tiles; the prompt sits at an odd row
  // offset among the others, so its rows fall into other tiles than when it runs alone.
  const prompt: RefLogprobs = { ids: [7, 300, 21, 5, 640, 88, 2], positions: [], next_top: [] };
  const others: RefLogprobs[] = [
    { ids: [4, 19, 803], positions: [], next_top: [] },
    { ids: [500, 1, 2, 3, 77], positions: [], next_top: [] },
  ];
  for (const bits of [8, 4] as const) {
    test(`${bits} bits, group 32, asym`, async () => {
      const grid: QuantGrid = { bits, groupSize: 32, sym: false };
      const { view } = quantizedPair(grid, (w, shape) => quantizeRtn(w, shape, grid));
      const runner = CpuRunner.load(quantSpec(gptqQuantizationConfig(grid, false)), view, { kvCacheBytes: 4 << 20, maxLoras: 0, maxLoraRank: 0, numThreads: 2 });
      try {
        const alone = (await teacherForced(runner, [prompt])).positionTargetLogprobs;
        const among = (await teacherForced(runner, [others[0]!, prompt, others[1]!])).positionTargetLogprobs;
        const offset = others[0]!.ids.length;
        assert.deepEqual([...among.subarray(offset, offset + prompt.ids.length)], [...alone]);
      } finally {
        runner.dispose();
      }
    });
  }
});

test('a LoRA adapter on a quantized base acts as on the dequantized dense base', async () => {
  const grid: QuantGrid = { bits: 4, groupSize: 32, sym: true };
  const { view, reference } = quantizedPair(grid, (w, shape) => quantizeRtn(w, shape, grid));
  let state = 12345;
  const small = () => ((state = (state * 1103515245 + 12345) >>> 0) / 4294967296 - 0.5) * 0.2;
  const rank = 4;
  const modules: LoraWeights['modules'] = new Map();
  for (let layer = 0; layer < base.spec.numLayers; layer++) {
    for (const [module, projection] of [['self_attn.q_proj', 'q_proj'], ['mlp.down_proj', 'down_proj']] as const) {
      const [outFeatures, inFeatures] = projectionShape(base.spec, projection);
      const a = Float32Array.from({ length: rank * inFeatures }, small);
      const b = Float32Array.from({ length: outFeatures * rank }, small);
      modules.set(`model.layers.${layer}.${module}`, { a, b, inFeatures, outFeatures });
    }
  }
  const adapter: LoraWeights = { rank, scale: 8, modules };
  const withAdapter = async (spec: ModelSpec, source: WeightSource, slot: number): Promise<Float32Array> => {
    const runner = CpuRunner.load(spec, source, { kvCacheBytes: 4 << 20, maxLoras: 1, maxLoraRank: rank, numThreads: 2 });
    try {
      runner.loadAdapter(0, adapter);
      return (await teacherForced(runner, PROMPTS, slot)).positionTargetLogprobs;
    } finally {
      runner.dispose();
    }
  };
  const spec = quantSpec(gptqQuantizationConfig(grid, false));
  const [got, want, withoutAdapter] = [await withAdapter(spec, view, 0), await withAdapter(base.spec, reference, 0), await withAdapter(spec, view, -1)];
  const meanDiff = (a: Float32Array, b: Float32Array) => {
    const diffs = [...a].flatMap((x, i) => (Number.isFinite(x) ? [Math.abs(x - b[i]!)] : []));
    return diffs.reduce((sum, d) => sum + d, 0) / diffs.length;
  };
  assert.ok(meanDiff(withoutAdapter, want) > 10 * MEAN_TOLERANCE, `the adapter moves logprobs by only ${meanDiff(withoutAdapter, want)}`);
  assert.ok(meanDiff(got, want) <= MEAN_TOLERANCE, `mean |logprob diff| ${meanDiff(got, want)}`);
});
