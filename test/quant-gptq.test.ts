/**
 * GPTQ proper (`export --quant-bits 4 --quant-method gptq`) against round-to-nearest at 4 bits:
 *   - one layer: on correlated inputs, GPTQ's output error ||X (W - Q)^T|| is below RTN's (plain
 *     and act-order, whose g_idx must give every group groupSize columns);
 *   - the demo model (calibrated on a JSONL of its own kind of chat, scored on other questions):
 *     lower perplexity on the held text than RTN;
 *   - a fixture (tiny-qwen2, random weights, the built-in calibration text): its logprobs on held
 *     text nearer the original's than RTN's (random weights make perplexity itself meaningless).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { run as exportCommand } from '../src/cli/commands/export.js';
import { quantizeGptq } from '../src/model/quant/gptq.js';
import { quantizeRtn, type QuantGrid } from '../src/model/quant/rtn.js';
import { dequantize } from '../src/model/weight-formats/quantized.js';
import { repoRoot } from './helpers/paths.js';
import { gaussianFrom, heldLogprobs, layerOnInputs, mean, seededUniform } from './helpers/quant-eval.js';

const workDir = mkdtempSync(join(tmpdir(), 'swiftlet-gptq-'));
after(() => rmSync(workDir, { recursive: true, force: true }));

describe('one layer: GPTQ output error below RTN on correlated inputs', () => {
  const [rows, inputs, samples] = [24, 64, 256];
  const random = seededUniform(11);
  const gaussian = gaussianFrom(random);
  // Inputs: 8 latent factors mixed into 64 columns with uneven scales, plus noise (as activations are).
  const mixing = Array.from({ length: 8 * inputs }, gaussian);
  const x = new Float64Array(samples * inputs);
  for (let s = 0; s < samples; s++) {
    const latent = Array.from({ length: 8 }, gaussian);
    for (let c = 0; c < inputs; c++) {
      let v = 0.1 * gaussian();
      for (let f = 0; f < 8; f++) v += latent[f]! * mixing[f * inputs + c]!;
      x[s * inputs + c] = v * (1 + (c % 7));
    }
  }
  const weights = Float32Array.from({ length: rows * inputs }, gaussian);
  const { gram, outputError } = layerOnInputs(x, weights, inputs);
  const hessian = gram.map((v) => (2 / samples) * v);
  const grid: QuantGrid = { bits: 4, groupSize: 16, sym: false };
  const rtnError = outputError(dequantize(quantizeRtn(weights, [rows, inputs], grid)));

  for (const actOrder of [false, true]) {
    test(actOrder ? 'act-order' : 'columns in order', () => {
      const q = quantizeGptq(weights, [rows, inputs], hessian, grid, { dampPercent: 0.01, actOrder });
      const gptqError = outputError(dequantize(q));
      assert.ok(gptqError < 0.8 * rtnError, `GPTQ output error ${gptqError}, RTN ${rtnError}`);
      if (actOrder) {
        const sizes = new Map<number, number>();
        for (const g of q.gIdx ?? []) sizes.set(g, (sizes.get(g) ?? 0) + 1);
        assert.deepEqual([...sizes.values()], [16, 16, 16, 16]);
      }
    });
  }
});

async function exportBoth(modelDir: string, name: string, extra: string[]): Promise<{ rtn: string; gptq: string }> {
  const rtn = join(workDir, `${name}-rtn`);
  const gptq = join(workDir, `${name}-gptq`);
  assert.equal(await exportCommand(['--model', modelDir, '--quant-bits', '4', '--output', rtn]), 0);
  assert.equal(await exportCommand(['--model', modelDir, '--quant-bits', '4', '--quant-method', 'gptq', '--output', gptq, ...extra]), 0);
  return { rtn, gptq };
}

test('demo model: GPTQ (act-order, calibrated on a JSONL) has lower held-text perplexity than RTN at 4 bits', async () => {
  const demoDir = join(repoRoot, 'models', 'demo');
  const provinces: [string, string][] = [['Zhejiang', 'Hangzhou'], ['Sichuan', 'Chengdu'], ['Hubei', 'Wuhan'], ['Guangdong', 'Guangzhou'], ['Jiangsu', 'Nanjing']];
  const dataset = join(workDir, 'calibration.jsonl');
  const lines = provinces.flatMap(([p, c]) => [
    { messages: [{ role: 'user', content: `What is the capital of ${p}?` }, { role: 'assistant', content: `The capital of ${p} is ${c}.` }] },
    { text: `Who are you? I am a small demo model. Hello! The capital of ${p} is ${c}.` },
  ]);
  writeFileSync(dataset, lines.map((line) => JSON.stringify(line)).join('\n'));
  const { rtn, gptq } = await exportBoth(demoDir, 'demo', ['--dataset', dataset, '--act-order']);
  const config = JSON.parse(readFileSync(join(gptq, 'quantize_config.json'), 'utf8')) as { desc_act: boolean };
  assert.equal(config.desc_act, true);
  const held = ['What is the capital of Hunan? The capital of Hunan is Changsha.', 'What is the capital of Shandong? The capital of Shandong is Jinan.', 'Hello! Who are you?'];
  const perplexity = async (dir: string) => Math.exp(-mean(await heldLogprobs(dir, demoDir, held)));
  const [rtnPpl, gptqPpl] = [await perplexity(rtn), await perplexity(gptq)];
  assert.ok(gptqPpl < rtnPpl, `perplexity GPTQ ${gptqPpl}, RTN ${rtnPpl}`);
});

test('fixture (random weights, built-in calibration): GPTQ logprobs nearer the original than RTN at 4 bits', async () => {
  const fixtureDir = join(repoRoot, 'test', 'fixtures', 'tiny-qwen2');
  const { rtn, gptq } = await exportBoth(fixtureDir, 'fixture', []);
  const held = ['A lighthouse keeper counts the ships that pass each night and writes their names in a book.'];
  const original = await heldLogprobs(fixtureDir, fixtureDir, held);
  const distance = async (dir: string) => mean((await heldLogprobs(dir, fixtureDir, held)).map((lp, i) => Math.abs(lp - original[i]!)));
  const [rtnDistance, gptqDistance] = [await distance(rtn), await distance(gptq)];
  assert.ok(gptqDistance < rtnDistance, `mean |logprob - original| GPTQ ${gptqDistance}, RTN ${rtnDistance}`);
});
