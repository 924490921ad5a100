/**
 * AWQ (`export --quant-bits 4 --quant-method awq`):
 *   - the GEMM packing writes what the AWQ loader reads back (codes, zero points, fp16 scales);
 *   - the scale search: on inputs with a few salient columns, the output error of its scaled
 *     quantization is well below plain round-to-nearest's;
 *   - the demo model: the checkpoint it writes is an AWQ one (norms with the scales folded in),
 *     loads, and has lower held-text perplexity than the RTN export at 4 bits;
 *   - bad options (8 bits, act-order, a group size that does not divide, a family with fused
 *     projections) are one-line errors and nothing is written.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { run as exportCommand } from '../src/cli/commands/export.js';
import { readAwq, packAwq } from '../src/model/quant/awq-packing.js';
import { searchAwqScales } from '../src/model/quant/awq.js';
import { parseQuantConfig } from '../src/model/quant/quant-config.js';
import { quantizeRtn, type QuantGrid } from '../src/model/quant/rtn.js';
import { SafetensorsCheckpoint, toFloat32 } from '../src/model/safetensors.js';
import type { TensorData, WeightSource } from '../src/model/tensors.js';
import { dequantize } from '../src/model/weight-formats/quantized.js';
import { repoRoot } from './helpers/paths.js';
import { gaussianFrom, heldLogprobs, layerOnInputs, mean, seededUniform } from './helpers/quant-eval.js';

const workDir = mkdtempSync(join(tmpdir(), 'swiftlet-awq-'));
after(() => rmSync(workDir, { recursive: true, force: true }));
const demoDir = join(repoRoot, 'models', 'demo');

describe('AWQ GEMM packing', () => {
  test('packAwq writes what readAwq reads', () => {
    const random = seededUniform(3);
    const [outputs, inputs] = [16, 64];
    const weights = Float32Array.from({ length: outputs * inputs }, () => random() * 2 - 1.5);
    const tensor = quantizeRtn(weights, [outputs, inputs], { bits: 4, groupSize: 32, sym: false });
    const packed: Record<string, TensorData> = packAwq(tensor);
    const source: WeightSource = { has: (name) => name.slice(2) in packed, read: (name) => packed[name.slice(2)]! };
    const config = parseQuantConfig({ quantization_config: { quant_method: 'awq', bits: 4, group_size: 32, zero_point: true, version: 'gemm' } })!;
    const read = readAwq(source, 'm', [outputs, inputs], config);
    assert.deepEqual([...read.codes], [...tensor.codes]);
    assert.deepEqual([...read.zeros], [...tensor.zeros]);
    assert.deepEqual([...read.scales], [...tensor.scales]);
    assert.ok(tensor.zeros.some((z) => z !== 8), 'asymmetric groups: the zero points vary');
  });
});

test('the scale search: output error well below round-to-nearest when a few input columns carry large activations', () => {
  const [outputs, inputs, samples] = [32, 64, 512];
  const random = seededUniform(7);
  const gaussian = gaussianFrom(random);
  // Every eighth column is salient (activations 20x the others), as the AWQ paper observes in LLMs.
  const x = new Float64Array(samples * inputs);
  for (let i = 0; i < x.length; i++) x[i] = gaussian() * ((i % inputs) % 8 === 0 ? 20 : 1);
  const weights = Float32Array.from({ length: outputs * inputs }, gaussian);
  const { gram, outputError } = layerOnInputs(x, weights, inputs);
  const grid: QuantGrid = { bits: 4, groupSize: 32, sym: false };
  const scales = searchAwqScales({ linears: [{ weights, outputs }], inputs, gram, rows: samples }, grid);
  const scaled = weights.map((w, i) => w * scales[i % inputs]!);
  const awq = dequantize(quantizeRtn(scaled, [outputs, inputs], grid)).map((w, i) => w / scales[i % inputs]!);
  const rtn = dequantize(quantizeRtn(weights, [outputs, inputs], grid));
  const [awqError, rtnError] = [outputError(awq), outputError(rtn)];
  assert.ok(awqError < 0.8 * rtnError, `AWQ output error ${awqError}, RTN ${rtnError}`);
  assert.ok(scales[0]! > scales[1]!, 'a salient column gets a larger scale');
});

test('demo model: an AWQ checkpoint that loads, with lower held-text perplexity than RTN at 4 bits', async () => {
  const [rtn, awq] = [join(workDir, 'demo-rtn'), join(workDir, 'demo-awq')];
  assert.equal(await exportCommand(['--model', demoDir, '--quant-bits', '4', '--output', rtn]), 0);
  assert.equal(await exportCommand(['--model', demoDir, '--quant_bits', '4', '--quant_method', 'awq', '--output', awq]), 0);
  const config = JSON.parse(readFileSync(join(awq, 'config.json'), 'utf8')) as { quantization_config: Record<string, unknown> };
  assert.deepEqual(config.quantization_config, { quant_method: 'awq', bits: 4, group_size: 128, zero_point: true, version: 'gemm' });
  const [original, written] = [SafetensorsCheckpoint.open(demoDir), SafetensorsCheckpoint.open(awq)];
  try {
    const norm = 'model.layers.0.input_layernorm.weight';
    assert.notDeepEqual([...toFloat32(written.read(norm))], [...toFloat32(original.read(norm))], 'the scales are folded into the norm');
    assert.equal(written.has('model.layers.0.self_attn.q_proj.g_idx'), false);
    assert.deepEqual(written.read('model.layers.0.mlp.down_proj.qweight').shape, [768, 256 / 8]);
  } finally {
    original.close();
    written.close();
  }
  const held = ['What is the capital of Hunan? The capital of Hunan is Changsha.', 'What is the capital of Shandong? The capital of Shandong is Jinan.', 'Hello! Who are you?'];
  const perplexity = async (dir: string) => Math.exp(-mean(await heldLogprobs(dir, demoDir, held)));
  const [rtnPpl, awqPpl] = [await perplexity(rtn), await perplexity(awq)];
  assert.ok(awqPpl < rtnPpl, `perplexity AWQ ${awqPpl}, RTN ${rtnPpl}`);
});

describe('bad options: one-line error, nothing written', () => {
  /** A model directory whose config alone is read before the refusal (its intermediate size 96 does not split into groups of 64). */
  const oddDir = join(workDir, 'odd-config');
  mkdirSync(oddDir);
  const config = JSON.parse(readFileSync(join(repoRoot, 'test', 'fixtures', 'tiny-qwen2', 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(oddDir, 'config.json'), JSON.stringify({ ...config, intermediate_size: 96 }));
  const qwen1Dir = join(workDir, 'qwen1');
  mkdirSync(qwen1Dir);
  copyFileSync(join(repoRoot, 'test', 'fixtures', 'tiny-qwen1', 'config.json'), join(qwen1Dir, 'config.json'));
  const cases: [string, string[], RegExp][] = [
    ['8 bits', ['--model', demoDir, '--quant-bits', '8', '--quant-method', 'awq'], /^--quant-method awq writes 4-bit weights only \(got --quant-bits 8\)$/],
    ['act-order', ['--model', demoDir, '--quant-bits', '4', '--quant-method', 'awq', '--act-order'], /^--act-order needs --quant-method gptq$/],
    ['a group size that does not divide', ['--model', oddDir, '--quant-bits', '4', '--quant-method', 'awq', '--group-size', '64'], /^--group-size 64 does not divide down_proj's 96 inputs$/],
    ['fused projections', ['--model', qwen1Dir, '--quant-bits', '4', '--quant-method', 'awq'], /^--quant-method awq needs one checkpoint module per projection; QWenLMHeadModel fuses some$/],
  ];
  for (const [label, args, message] of cases) {
    test(label, async () => {
      const output = join(workDir, `refused-${label.replace(/\W+/g, '-')}`);
      await assert.rejects(exportCommand([...args, '--output', output]), (e: Error) => message.test(e.message));
      assert.equal(existsSync(output), false);
    });
  }
});
