/**
 * Quantized checkpoints on the CPU: GPTQ (4/8 bits, grouped or per-row, act-order) and AWQ GEMM
 * packing, loaded through the weight-format seam, against the same model with the dequantized
 * weights stored dense in fp32. The int kernels keep activations in fp32 (no activation
 * quantization), so the only difference is fp32 summation order: logprobs within 1e-4 (tested),
 * well inside the 1e-3.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { specFromConfig } from '../src/model/config.js';
import { GptqCheckpointView, gptqQuantizationConfig, type NamedSource } from '../src/model/quant/gptq-checkpoint.js';
import { quantizeRtn, type QuantGrid } from '../src/model/quant/rtn.js';
import { randomModel } from '../src/model/random-weights.js';
import { toFloat32 } from '../src/model/safetensors.js';
import { fromFloat32 } from '../src/model/safetensors-writer.js';
import type { ModelSpec } from '../src/model/spec.js';
import { dequantize, type QuantizedTensor } from '../src/model/weight-formats/quantized.js';
import { CpuRunner } from '../src/runtime/cpu/cpu-runner.js';
import type { TensorData, WeightSource } from '../src/runtime/types.js';
import { teacherForced, type RefLogprobs } from './helpers/cpu-reference.js';

const TOLERANCE = 1e-4;
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
}

function denseSource(): MapSource {
  return new MapSource(new Map(base.source.names().map((name) => [name, base.source.read(name)])));
}

/** The quantized checkpoint and the dense one holding exactly the weights its codes stand for. */
function quantizedPair(quantize: (w: Float32Array, shape: [number, number]) => QuantizedTensor): { view: WeightSource; reference: WeightSource } {
  const dense = denseSource();
  const reference = new Map<string, TensorData>();
  const view = new GptqCheckpointView(base.spec, dense, (w, shape) => quantize(w, shape));
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
  want.forEach((w, i) => {
    if (Number.isFinite(w)) worst = Math.max(worst, Math.abs(got[i]! - w));
  });
  assert.ok(worst <= TOLERANCE, `max |logprob diff| ${worst} > ${TOLERANCE}`);
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
      const { view, reference } = quantizedPair(quantize);
      await assertSameLogprobs(quantSpec(gptqQuantizationConfig(grid, descAct)), view, reference);
    });
  }
});
