/** The CPU runner against the transformers reference (test/fixtures/tiny-qwen2.ref.json). */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadModelSpec } from '../src/model/config.js';
import { SafetensorsCheckpoint } from '../src/model/safetensors.js';
import { CpuRunner } from '../src/runtime/cpu/cpu-runner.js';
import {
  buildStepBatch,
  commitStep,
  GREEDY,
  ManualBlockPool,
  ManualSequence,
  type ManualSampling,
} from './helpers/manual-batch.js';
import { createRunner } from '../src/runtime/create-runner.js';
import type { ModelRunner, TensorData, WeightSource } from '../src/runtime/types.js';
import { checkMalformedTokenBitmask, checkTokenBitmask } from './helpers/token-bitmask-checks.js';
import { generateGreedy, checkGreedy, checkTeacherForced, MODEL_DIR, openTinyRunner, reference, teacherForced, type RefGeneration } from './helpers/cpu-reference.js';

describe('cpu runner vs transformers (tiny-qwen2)', () => {
  let runner: ModelRunner;
  before(async () => {
    runner = await openTinyRunner();
  });
  after(() => runner.dispose());

  test('teacher-forced logprobs at every position of every sequence, all in one step', async () => {
    const out = await teacherForced(runner, reference.logprobs);
    const checked = checkTeacherForced(out, reference.logprobs, 'base');
    assert.equal(checked, reference.logprobs.reduce((n, r) => n + r.ids.length, 0));
  });

  test('greedy chat and raw completions, several sequences per step', async () => {
    const refs = [...reference.chat, ...reference.raw];
    const outputs = await generateGreedy(runner, refs, refs.map(() => -1));
    checkGreedy(outputs, refs, 'base');
  });

  test('the 1200-token sequence in chunks of 100 across steps equals computing it at once', async () => {
    const ref = reference.logprobs.find((r) => r.ids.length === 1200);
    assert.ok(ref);
    const whole = await teacherForced(runner, [ref]);
    const pool = new ManualBlockPool(runner.numKvBlocks);
    const seq = new ManualSequence(ref.ids);
    const chunked: number[] = [];
    for (let start = 0; start < ref.ids.length; start += 100) {
      const entries = [{ seq, numTokens: Math.min(100, ref.ids.length - start), sample: false }];
      const tokenIndex = Int32Array.from({ length: entries[0]!.numTokens }, (_, i) => i);
      const targetTokenId = Int32Array.from(tokenIndex, (i) => ref.ids[start + i + 1] ?? -1);
      const out = await runner.execute(buildStepBatch(pool, entries, { tokenIndex, targetTokenId, topK: 5 }));
      commitStep(entries, out.sampledTokenIds);
      chunked.push(...out.positionTargetLogprobs);
    }
    assert.deepEqual(Float32Array.from(chunked), whole.positionTargetLogprobs);
  });

  test('a row gives the same results alone as among other rows', async () => {
    const [a, b, c] = [reference.chat[0]!, reference.raw[1]!, reference.chat[2]!];
    const runSteps = async (refs: RefGeneration[]) => {
      const pool = new ManualBlockPool(runner.numKvBlocks);
      const sampling: ManualSampling = { ...GREEDY, numLogprobs: 5 };
      const seqs = refs.map((r) => new ManualSequence(r.prompt_ids, sampling));
      const logprobs: number[][] = refs.map(() => []);
      for (let step = 0; step < 6; step++) {
        const entries = seqs.map((seq) => ({ seq, numTokens: seq.tokens.length - seq.numComputed, sample: true }));
        const out = await runner.execute(buildStepBatch(pool, entries));
        refs.forEach((_, i) => logprobs[i]!.push(out.sampledLogprobs[i]!, ...out.topLogprobs.subarray(i * out.topK, (i + 1) * out.topK)));
        commitStep(entries, out.sampledTokenIds);
      }
      return { tokens: seqs.map((s) => s.outputIds), logprobs };
    };
    const alone = await runSteps([a]);
    const among = await runSteps([b, a, c]);
    assert.deepEqual(among.tokens[1], alone.tokens[0]);
    assert.deepEqual(among.logprobs[1], alone.logprobs[0]);
  });

  test('seeded sampling is reproducible and independent of the batch', async () => {
    const sampling = (seed: number): ManualSampling => ({ ...GREEDY, temperature: 3, topP: 0.95, topK: 200, minP: 0.01, seed, repetitionPenalty: 1.1, presencePenalty: 0.2, frequencyPenalty: 0.1 });
    const generate = async (seeds: number[], prompts: number[][]) => {
      const pool = new ManualBlockPool(runner.numKvBlocks);
      const seqs = prompts.map((p, i) => new ManualSequence(p, sampling(seeds[i]!)));
      for (let step = 0; step < 12; step++) {
        const entries = seqs.map((seq) => ({ seq, numTokens: seq.tokens.length - seq.numComputed, sample: true }));
        commitStep(entries, (await runner.execute(buildStepBatch(pool, entries))).sampledTokenIds);
      }
      return seqs.map((s) => s.outputIds);
    };
    const prompt = reference.raw[0]!.prompt_ids;
    const first = await generate([1234], [prompt]);
    const again = await generate([1234], [prompt]);
    const batched = await generate([7, 1234, 99], [reference.chat[1]!.prompt_ids, prompt, prompt]);
    assert.deepEqual(again[0], first[0]);
    assert.deepEqual(batched[1], first[0]);
    assert.notDeepEqual(batched[2], first[0], 'another seed should draw differently');
  });

  test('temperature 0 with a bias ban never picks the banned token', async () => {
    const pool = new ManualBlockPool(runner.numKvBlocks);
    const ref = reference.raw[1]!;
    const banned = ref.output_ids[0]!;
    const seq = new ManualSequence(ref.prompt_ids, { ...GREEDY, bias: new Map([[banned, -Infinity]]) });
    const out = await runner.execute(buildStepBatch(pool, [{ seq, numTokens: seq.tokens.length, sample: true }]));
    assert.notEqual(out.sampledTokenIds[0], banned);
  });

  test('a token bitmask constrains its row\'s sampling and logprobs only, in prefill and decode steps', async () => {
    const [a, b] = [reference.chat[0]!, reference.raw[1]!];
    await checkTokenBitmask(runner, [a.prompt_ids, b.prompt_ids], [a.output_ids[0]! + 1, 17, 4242]);
  });

  test('a malformed token bitmask is rejected naming the field', () => checkMalformedTokenBitmask(runner));
  test('a malformed late token bitmask, or a failing one, fails its step naming why', () => checkMalformedTokenBitmask(runner, 'late'));

  test('a malformed step is rejected and the runner keeps working', async () => {
    const pool = new ManualBlockPool(runner.numKvBlocks);
    const seq = new ManualSequence([1, 2, 3]);
    const batch = buildStepBatch(pool, [{ seq, numTokens: 3, sample: true }]);
    batch.tokenIds[1] = 10_000_000;
    await assert.rejects(runner.execute(batch), /outside the vocabulary/);
    batch.tokenIds[1] = 2;
    const out = await runner.execute(batch);
    assert.ok(out.sampledTokenIds[0]! >= 0);
  });
});

describe('cpu runner load errors', () => {
  test('a missing tensor is named', () => {
    const spec = loadModelSpec(MODEL_DIR);
    const checkpoint = SafetensorsCheckpoint.open(MODEL_DIR);
    const hidden = 'model.layers.1.mlp.down_proj.weight';
    const source: WeightSource = {
      has: (name) => name !== hidden && checkpoint.has(name),
      read: (name): TensorData => checkpoint.read(name),
    };
    assert.throws(() => CpuRunner.load(spec, source, { kvCacheBytes: 1 << 20, maxLoras: 0, maxLoraRank: 0 }), new RegExp(hidden.replaceAll('.', '\\.')));
    checkpoint.close();
  });

  test('an unsupported architecture is named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swiftlet-arch-'));
    const config = JSON.parse(readFileSync(join(MODEL_DIR, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, architectures: ['GPT2LMHeadModel'] }));
    copyFileSync(join(MODEL_DIR, 'model.safetensors'), join(dir, 'model.safetensors'));
    await assert.rejects(createRunner({ modelDir: dir, device: 'cpu', kvCacheBytes: 1 << 20, maxLoras: 0, maxLoraRank: 0 }), /GPT2LMHeadModel/);
  });

  test('cuda is refused clearly; auto picks the cpu', async () => {
    await assert.rejects(createRunner({ modelDir: MODEL_DIR, device: 'cuda', kvCacheBytes: 1 << 20, maxLoras: 0, maxLoraRank: 0 }), /--device cuda: .*CUDA/i);
    const runner = await createRunner({ modelDir: MODEL_DIR, device: 'auto', kvCacheBytes: 1 << 20, maxLoras: 0, maxLoraRank: 0 });
    assert.equal(runner.device, 'cpu');
    runner.dispose();
  });

  test('tensor parallelism on the cpu in one process is refused, pointing at --nnodes', async () => {
    await assert.rejects(
      createRunner({ modelDir: MODEL_DIR, device: 'cpu', tensorParallelSize: 2, kvCacheBytes: 1 << 20, maxLoras: 0, maxLoraRank: 0 }),
      /--tensor-parallel-size 2 on --device cpu needs one process per rank: add --nnodes 2/,
    );
  });
});
