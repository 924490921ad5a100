/**
 * `--lm-head-dtype int8 | int4` (src/runtime/lm-head-dtype.ts): the CPU runner quantizes the
 * lm_head at load (native/cpu/formats/rtn_int.h) and computes the logits with the int kernels,
 * a tied embedding's lookup keeping the stored rows.
 * Reference: the same model with an untied fp32 lm_head holding the dequantized RTN codes
 * (src/model/quant/rtn.ts, the grid the native quantizer follows) and the stored embedding. What
 * is left: on tiny-qwen1 (hidden 16, the int kernels' scalar path in fp32) rounding only,
 * measured 4e-6; on tiny-qwen2 (the block path) also the int kernels' int8 quantization of the
 * final hidden state per 32 columns (1/254 of a block's largest |x|), measured 0.24, as its
 * logits are large (top logprob gaps of ~12). A wrong scale, code or row order moves them by
 * whole units.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseFlags, UsageError } from '../src/cli/args.js';
import { MODEL_FLAGS, modelOptionsFrom } from '../src/cli/model-flags.js';
import { accumulateOutputs, type RequestOutput } from '../src/engine/output.js';
import { SamplingParams } from '../src/engine/sampling-params.js';
import { ModelHost } from '../src/host/model-host.js';
import { loadModelSpec, specFromConfig } from '../src/model/config.js';
import { quantizeRtn } from '../src/model/quant/rtn.js';
import { SafetensorsCheckpoint, toFloat32 } from '../src/model/safetensors.js';
import { fromFloat32 } from '../src/model/safetensors-writer.js';
import type { ModelSpec } from '../src/model/spec.js';
import type { TensorData, WeightSource } from '../src/model/tensors.js';
import { dequantize } from '../src/model/weight-formats/quantized.js';
import { CpuRunner } from '../src/runtime/cpu/cpu-runner.js';
import { createRunner } from '../src/runtime/create-runner.js';
import { cudaOptionsOf } from '../src/runtime/runner-choice.js';
import type { LmHeadDtype } from '../src/runtime/lm-head-dtype.js';
import { teacherForced } from './helpers/cpu-reference.js';
import { fixtureDir, repoRoot } from './helpers/paths.js';
import { reference } from './helpers/reference.js';

const TOLERANCE: Record<string, number> = { 'tiny-qwen2': 0.3, 'tiny-qwen1': 2e-5 };
const BITS = { int8: 8, int4: 4 } as const;

/** A checkpoint with its lm_head replaced (or, tied, added) as fp32 values. */
class WithLmHead implements WeightSource {
  constructor(
    private readonly checkpoint: WeightSource,
    private readonly lmHead: TensorData,
  ) {}
  has(name: string): boolean {
    return name === 'lm_head.weight' || this.checkpoint.has(name);
  }
  read(name: string): TensorData {
    return name === 'lm_head.weight' ? this.lmHead : this.checkpoint.read(name);
  }
}

async function targetLogprobs(spec: ModelSpec, source: WeightSource, lmHeadDtype: LmHeadDtype): Promise<Float32Array> {
  const runner = CpuRunner.load(spec, source, { kvCacheBytes: 16 << 20, maxLoras: 0, maxLoraRank: 0, numThreads: 2, lmHeadDtype });
  try {
    return (await teacherForced(runner, reference.logprobs)).positionTargetLogprobs;
  } finally {
    runner.dispose();
  }
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  return a.reduce((worst, x, i) => (Number.isFinite(b[i]!) ? Math.max(worst, Math.abs(x - b[i]!)) : worst), 0);
}

describe('a quantized lm_head scores as its dequantized weights do', () => {
  // tiny-qwen2 ties the lm_head to the embedding (hidden 64: two 32-column groups); tiny-qwen1
  // has its own lm_head (hidden 16: one partial group, the int kernels' scalar path).
  for (const model of ['tiny-qwen2', 'tiny-qwen1']) {
    for (const dtype of ['int8', 'int4'] as const) {
      test(`${model}, ${dtype}`, async () => {
        const modelDir = join(fixtureDir, model);
        const spec = loadModelSpec(modelDir);
        const checkpoint = SafetensorsCheckpoint.open(modelDir);
        try {
          const stored = checkpoint.read(spec.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
          const shape: [number, number] = [stored.shape[0]!, stored.shape[1]!];
          const values = dequantize(quantizeRtn(toFloat32(stored), shape, { bits: BITS[dtype], groupSize: 32, sym: true }));
          const untied = specFromConfig({ ...JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')), tie_word_embeddings: false });
          const dequantized = new WithLmHead(checkpoint, { dtype: 'float32', shape: stored.shape, bytes: fromFloat32(values, 'float32') });
          const want = await targetLogprobs(untied, dequantized, 'auto');
          const got = await targetLogprobs(spec, checkpoint, dtype);
          const difference = maxDifference(got, want);
          assert.ok(difference <= TOLERANCE[model]!, `max |logprob difference| ${difference}`);
        } finally {
          checkpoint.close();
        }
      });
    }
  }
});

async function loadDemo(extraFlags: string[]): Promise<ModelHost> {
  const { flags } = parseFlags(['--device', 'cpu', '--kv-cache-memory', '64MiB', '--num-threads', '2', ...extraFlags], MODEL_FLAGS);
  return ModelHost.load(modelOptionsFrom(flags));
}

const DEMO_QUESTIONS = ['浙江的省会在哪?', 'What is the capital of Sichuan?', 'Who are you?', '你好', 'hello'];

async function greedyTokens(host: ModelHost): Promise<number[][]> {
  return Promise.all(
    DEMO_QUESTIONS.map(async (question, i) => {
      const prompt = host.chatTemplate.render([{ role: 'user', content: question }], { addGenerationPrompt: true });
      const promptTokenIds = host.tokenizer.encode(prompt, { addSpecialTokens: false });
      const deltas: RequestOutput[] = [];
      const params = new SamplingParams({ maxTokens: 40, temperature: 0 });
      for await (const delta of host.engine.add({ requestId: `q-${i}`, promptTokenIds, params })) deltas.push(delta);
      return accumulateOutputs(deltas).outputs[0]?.tokenIds ?? [];
    }),
  );
}

test('the demo model answers greedily the same with --lm-head-dtype int8', async () => {
  const stored = await loadDemo([]);
  const quantized = await loadDemo(['--lm-head-dtype', 'int8']);
  try {
    assert.equal(quantized.modelDir, join(repoRoot, 'models', 'demo'));
    assert.deepEqual(await greedyTokens(quantized), await greedyTokens(stored));
  } finally {
    stored.dispose();
    quantized.dispose();
  }
});

describe('--lm-head-dtype is refused where it cannot apply', () => {
  test('an unknown dtype', () => {
    const { flags } = parseFlags(['--lm-head-dtype', 'fp8'], MODEL_FLAGS);
    assert.throws(() => modelOptionsFrom(flags), (e: unknown) => e instanceof UsageError && /^--lm-head-dtype must be one of auto, int8, int4, got "fp8"$/.test(e.message));
  });

  test('the CUDA runner', () => {
    assert.throws(
      () => cudaOptionsOf({ device: 'cuda', kvCacheBytes: 0, maxLoras: 0, maxLoraRank: 0, lmHeadDtype: 'int8' }),
      /^Error: --lm-head-dtype int8 is CPU-only/,
    );
  });

  test('an unknown dtype from a JavaScript caller of the CPU runner', async () => {
    const lmHeadDtype = 'int2' as LmHeadDtype;
    await assert.rejects(
      createRunner({ modelDir: join(fixtureDir, 'tiny-qwen2'), device: 'cpu', kvCacheBytes: 16 << 20, maxLoras: 0, maxLoraRank: 0, lmHeadDtype }),
      /lmHeadDtype must be one of auto, int8, int4, got "int2"/,
    );
  });
});
