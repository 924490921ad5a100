/**
 * Before/after guard for refactors of the CPU runner: the exact float32 bits of prompt logprobs
 * (top 8 at every position), greedy and seeded sampled tokens and their logprobs, with and
 * without a LoRA adapter, on every family switch, must equal what an earlier build recorded in
 * test/fixtures/cpu-golden.json. Tolerance is zero on purpose: a change that moves any bit is a
 * numerical change and must say so by re-recording (SWIFTLET_WRITE_GOLDEN=1 npm test).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readLoraAdapter } from '../src/model/lora.js';
import { writeRandomCheckpoint } from '../src/model/random-weights.js';
import type { WeightDtype } from '../src/model/spec.js';
import { kvBytesPerBlock } from '../src/runtime/cpu/cpu-runner.js';
import { createRunner } from '../src/runtime/create-runner.js';
import { loadModelSpec } from '../src/model/config.js';
import type { ModelRunner } from '../src/runtime/types.js';
import { buildStepBatch, commitStep, GREEDY, ManualBlockPool, ManualSequence, type ManualSampling } from './helpers/manual-batch.js';
import { fixtureDir, repoRoot } from './helpers/paths.js';

const goldenPath = join(fixtureDir, 'cpu-golden.json');
const writing = process.env['SWIFTLET_WRITE_GOLDEN'] === '1';
type Golden = Record<string, string[]>;
const recorded: Golden = existsSync(goldenPath) ? (JSON.parse(readFileSync(goldenPath, 'utf8')) as Golden) : {};
const produced: Golden = {};

/** Float32 values as hex bit patterns, so the comparison is exact and NaN-safe. */
function bits(values: Float32Array): string {
  const u = new Uint32Array(values.buffer, values.byteOffset, values.length);
  return Array.from(u, (v) => v.toString(16)).join(',');
}

const SAMPLED: ManualSampling = {
  ...GREEDY,
  temperature: 0.9,
  topP: 0.85,
  topK: 40,
  minP: 0.01,
  repetitionPenalty: 1.1,
  presencePenalty: 0.2,
  frequencyPenalty: 0.1,
  seed: 1234,
  numLogprobs: 4,
  bias: new Map([[3, 1.5]]),
};

/** Prompt logprobs of one sequence, then 12 batched decode steps of three sequences. */
async function record(runner: ModelRunner, vocab: number, withAdapter: boolean): Promise<string[]> {
  const out: string[] = [];
  const pool = new ManualBlockPool(runner.numKvBlocks);
  const ids = Array.from({ length: 37 }, (_, i) => (i * 37 + 11) % vocab);
  const prompt = new ManualSequence(ids, GREEDY, withAdapter ? 0 : -1);
  const tokenIndex = Int32Array.from(ids, (_, i) => i);
  const targetTokenId = Int32Array.from(ids, (_, i) => ids[i + 1] ?? 0);
  const p = await runner.execute(buildStepBatch(pool, [{ seq: prompt, numTokens: ids.length, sample: false }], { tokenIndex, targetTokenId, topK: 8 }));
  out.push(bits(p.positionTargetLogprobs), Array.from(p.positionTopTokenIds).join(','), bits(p.positionTopLogprobs));
  pool.release(prompt);

  const seqs = [
    new ManualSequence(ids.slice(0, 9), GREEDY, withAdapter ? 0 : -1),
    new ManualSequence(ids.slice(5, 26), { ...SAMPLED }, -1),
    new ManualSequence(ids.slice(2, 19), { ...SAMPLED, seed: 99, temperature: 1.3, topK: 0, topP: 1 }, withAdapter ? 0 : -1),
  ];
  for (let step = 0; step < 12; step++) {
    const entries = seqs.map((seq) => ({ seq, numTokens: seq.tokens.length - seq.numComputed, sample: true }));
    const o = await runner.execute(buildStepBatch(pool, entries));
    out.push(Array.from(o.sampledTokenIds).join(','), bits(o.sampledLogprobs), Array.from(o.topTokenIds).join(','), bits(o.topLogprobs));
    commitStep(entries, o.sampledTokenIds);
  }
  return out;
}

const tmp = mkdtempSync(join(tmpdir(), 'swiftlet-golden-'));
after(() => {
  rmSync(tmp, { recursive: true, force: true });
  if (writing) writeFileSync(goldenPath, JSON.stringify(produced, null, 1) + '\n');
});

const randomCases: { shape: string; dtype: WeightDtype }[] = [
  { shape: 'qwen3-tiny', dtype: 'bfloat16' },
  { shape: 'llama-tiny', dtype: 'bfloat16' },
  { shape: 'llama-tiny', dtype: 'float16' },
  { shape: 'qwen3-tiny', dtype: 'float32' },
];

async function check(name: string, modelDir: string, adapterDir?: string): Promise<void> {
  const spec = loadModelSpec(modelDir);
  const runner = await createRunner({ modelDir, device: 'cpu', kvCacheBytes: 64 * kvBytesPerBlock(spec), maxLoras: 1, maxLoraRank: 16, numThreads: 2 });
  try {
    if (adapterDir) runner.loadAdapter(0, readLoraAdapter(adapterDir, 16, spec));
    const got = await record(runner, spec.vocabSize, adapterDir !== undefined);
    produced[name] = got;
    if (writing) return;
    const want = recorded[name];
    assert.ok(want, `no recorded outputs for ${name} in ${goldenPath}`);
    assert.equal(got.length, want.length);
    got.forEach((line, i) => assert.equal(line, want[i], `${name}: record ${i} differs from the recorded build`));
  } finally {
    runner.dispose();
  }
}

describe('CPU outputs are bit-identical to the recorded build', () => {
  for (const { shape, dtype } of randomCases) {
    test(`${shape} (${dtype})`, async () => {
      const dir = join(tmp, `${shape}-${dtype}`);
      writeRandomCheckpoint(shape, dir, { dtype, std: 0.15, seed: 5 });
      await check(`${shape}-${dtype}`, dir);
    });
  }
  test('tiny-qwen2 fixture', () => check('tiny-qwen2', join(fixtureDir, 'tiny-qwen2')));
  test('tiny-qwen2 fixture with its LoRA adapter', () =>
    check('tiny-qwen2+lora', join(fixtureDir, 'tiny-qwen2'), join(fixtureDir, 'tiny-qwen2-lora-a')));
  test('bundled demo model', () => check('demo', join(repoRoot, 'models', 'demo')));
});
