/**
 * The CUDA runner on the Qwen v1 and ChatGLM3 fixtures (the two families with their own rotary
 * details: log-n query scaling, interleaved half-head rotary), against the fp32 references of
 * modeling_qwen.py / modeling_chatglm.py on the same bf16 weights, with cuda.test.ts's bf16
 * tolerances: teacher-forced logprobs within 5e-2 on average and 0.25 + 1% of |logprob| at every
 * position; greedy tokens identical up to the first step whose reference top-1/top-2 margin is
 * under 0.1 (decodes run through CUDA graphs, past Qwen v1's seq_length). A random LoRA on the
 * fused modules gives the CPU runner's logprobs within the same bounds.
 * Skipped where CUDA is unusable, unless SWIFTLET_REQUIRE_CUDA=1 (scripts/gpu-check.sh).
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadModelSpec } from '../src/model/config.js';
import { readLoraAdapter } from '../src/model/lora.js';
import { createRunner } from '../src/runtime/create-runner.js';
import { cudaAvailability } from '../src/runtime/cuda/native.js';
import type { ModelRunner } from '../src/runtime/types.js';
import { generateGreedy, teacherForced } from './helpers/cpu-reference.js';
import { familyReference } from './helpers/family-suite.js';
import { fixtureDir } from './helpers/paths.js';
import { writeRandomLora } from './helpers/random-lora.js';
import type { ReferenceGeneration } from './helpers/reference.js';

const MEAN_TOLERANCE = 5e-2;
const LOW_MARGIN = 0.1;
const RANK = 4;

const availability = cudaAvailability();
const skip = availability.available ? false : `CUDA unavailable: ${availability.reason}`;

if (process.env.SWIFTLET_REQUIRE_CUDA === '1') {
  test('CUDA is usable (SWIFTLET_REQUIRE_CUDA=1)', () => assert.ok(availability.available, availability.available ? '' : availability.reason));
}

/** Within bf16's drift of the fp32 answer: on average, and at every position. */
function assertBf16Close(actual: ArrayLike<number>, expected: readonly number[], label: string): void {
  let sum = 0;
  expected.forEach((want, i) => {
    const error = Math.abs((actual[i] ?? NaN) - want);
    assert.ok(error <= 0.25 + 0.01 * Math.abs(want), `${label} position ${i}: ${actual[i]} vs ${want}`);
    sum += error;
  });
  assert.ok(sum / expected.length <= MEAN_TOLERANCE, `${label}: mean error ${sum / expected.length}`);
}

function assertGreedyUpToLowMargin(outputs: number[][], refs: readonly ReferenceGeneration[], label: string): void {
  refs.forEach((ref, i) => {
    for (let k = 0; k < ref.output_ids.length; k++) {
      assert.equal(outputs[i]?.[k], ref.output_ids[k], `${label} ${i} token ${k}`);
      if ((ref.margins[k] ?? Infinity) < LOW_MARGIN) break;
    }
  });
}

const families = [
  { name: 'tiny-qwen1', maxTeacherForced: 64, targets: ['c_attn', 'c_proj', 'w1', 'w2'] },
  { name: 'tiny-chatglm3', maxTeacherForced: Infinity, targets: ['query_key_value', 'dense', 'dense_h_to_4h', 'dense_4h_to_h'] },
];

for (const { name, maxTeacherForced, targets } of families) {
  describe(`cuda runner (${name})`, { skip }, () => {
    const modelDir = join(fixtureDir, name);
    const reference = familyReference(name);
    const open = (device: 'cuda' | 'cpu'): Promise<ModelRunner> =>
      createRunner({ modelDir, device, kvCacheBytes: 64 << 20, maxLoras: 1, maxLoraRank: RANK });

    test('teacher-forced logprobs within bf16 tolerance of the fp32 reference', async () => {
      const runner = await open('cuda');
      try {
        for (const ref of reference.logprobs.filter((r) => r.ids.length <= maxTeacherForced)) {
          const out = await teacherForced(runner, [ref]);
          assertBf16Close(out.positionTargetLogprobs, ref.positions.map((p) => p.logprob), `${name} ${ref.ids.length} tokens`);
        }
      } finally {
        runner.dispose();
      }
    });

    test('greedy chat and completion tokens, prefills and decodes sharing steps', async () => {
      const runner = await open('cuda');
      try {
        const refs = [...reference.chat, ...reference.raw];
        assertGreedyUpToLowMargin(await generateGreedy(runner, refs, [], 2), refs, name);
      } finally {
        runner.dispose();
      }
    });

    test('a LoRA on the fused modules gives the CPU runner\'s logprobs', async () => {
      const adapterDir = mkdtempSync(join(tmpdir(), 'swiftlet-cuda-family-lora-'));
      const spec = loadModelSpec(modelDir);
      writeRandomLora(adapterDir, spec, { targets, rank: RANK, alpha: 2 * RANK, seed: 11, magnitude: 0.3 });
      const ref = reference.logprobs[1]!;
      const [cuda, cpu] = [await open('cuda'), await open('cpu')];
      try {
        for (const runner of [cuda, cpu]) runner.loadAdapter(0, readLoraAdapter(adapterDir, RANK, spec));
        const want = (await teacherForced(cpu, [ref], 0)).positionTargetLogprobs;
        const got = (await teacherForced(cuda, [ref], 0)).positionTargetLogprobs;
        assertBf16Close(got, Array.from(want.subarray(0, ref.ids.length - 1)), `${name} with LoRA`);
      } finally {
        cuda.dispose();
        cpu.dispose();
      }
    });
  });
}
