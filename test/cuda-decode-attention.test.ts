/**
 * The CUDA runner's tensor-core decode attention against its SIMT decode attention (two separate
 * kernels) at the head sizes real models use, which the tiny-qwen2 fixture (head_dim 16) does not
 * reach: head_dim 128 with 2 query heads per KV head (Qwen3-0.6B's) and head_dim 64 with 7 (as
 * Qwen2.5-0.5B groups them). Random 2-layer Qwen3 models: their q/k norms make attention scores
 * O(1), so a skipped, repeated or misplaced cache block moves the logprobs visibly. Contexts from
 * 37 to 700 tokens cover partial blocks, several 4-block groups, and one or several splits.
 * Skipped where CUDA is unusable.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { randomModelConfig } from '../src/model/random-weights.js';
import { specFromConfig } from '../src/model/config.js';
import { CudaRunner } from '../src/runtime/cuda/cuda-runner.js';
import { cudaAvailability } from '../src/runtime/cuda/native.js';
import type { StepOutput } from '../src/runtime/types.js';
import { buildStepBatch, commitStep, GREEDY, ManualBlockPool, ManualSequence, type ManualStepEntry } from './helpers/manual-batch.js';

const availability = cudaAvailability();
const skipReason = availability.available ? false : `CUDA unavailable: ${availability.reason}`;
// P is rounded to bf16 on the tensor cores and not in the SIMT kernel: a few thousandths apart.
const MEAN_TOLERANCE = 1e-2;
const MAX_TOLERANCE = 6e-2;
const PROMPT_LENGTHS = [37, 64, 100, 129, 250, 333, 512, 700];

const SHAPES = {
  'head_dim 128, 2 query heads per KV head': { num_attention_heads: 16, num_key_value_heads: 8, head_dim: 128 },
  'head_dim 64, 7 query heads per KV head': { num_attention_heads: 14, num_key_value_heads: 2, head_dim: 64 },
};

function openRunner(shape: Record<string, number>, simt: boolean, maxNumSeqs: number): CudaRunner {
  const spec = specFromConfig({ ...randomModelConfig('qwen3-0.6b', { numLayers: 2 }), vocab_size: 5000, ...shape });
  if (simt) process.env.SWIFTLET_DECODE_SIMT = '1';
  try {
    return CudaRunner.withRandomWeights(spec, 3, { kvCacheBytes: 256 << 20, maxNumSeqs, maxNumTokens: 4096, maxModelLen: 1024, enforceEager: true });
  } finally {
    delete process.env.SWIFTLET_DECODE_SIMT;
  }
}

function randomIds(count: number, seed: number): number[] {
  let state = seed;
  return Array.from({ length: count }, () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % 5000;
  });
}

/** Mean and worst absolute difference of two equally long arrays. */
function drift(got: ArrayLike<number>, want: ArrayLike<number>): { mean: number; worst: number } {
  assert.equal(got.length, want.length);
  let sum = 0;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs((got[i] ?? NaN) - (want[i] ?? NaN));
    assert.ok(Number.isFinite(d), `position ${i}: ${got[i]} vs ${want[i]}`);
    sum += d;
    worst = Math.max(worst, d);
  }
  return { mean: sum / want.length, worst };
}

describe('tensor-core decode attention against the SIMT kernel (random Qwen3 models)', { skip: skipReason }, () => {
  for (const [label, shape] of Object.entries(SHAPES)) {
    test(label, async () => {
      const runners = [openRunner(shape, false, PROMPT_LENGTHS.length), openRunner(shape, true, PROMPT_LENGTHS.length)];
      try {
        const pools = runners.map((r) => new ManualBlockPool(r.numKvBlocks));
        const sampling = { ...GREEDY, numLogprobs: 3 };
        const seqs = runners.map(() => PROMPT_LENGTHS.map((n, i) => new ManualSequence(randomIds(n, 50 + i), sampling)));
        for (let step = 0; step < 8; step++) {
          const outs: StepOutput[] = [];
          const steps: ManualStepEntry[][] = [];
          for (const [r, runner] of runners.entries()) {
            // Prefill first (rows of several tokens: the prefill kernel), then decode steps.
            const entries = (seqs[r] ?? []).map((seq) => ({ seq, numTokens: seq.tokens.length - seq.numComputed, sample: true }));
            steps.push(entries);
            outs.push(await runner.execute(buildStepBatch(pools[r] as ManualBlockPool, entries)));
          }
          const [tc, simt] = outs as [StepOutput, StepOutput];
          if (step > 0) {
            const { mean, worst } = drift(tc.topLogprobs, simt.topLogprobs);
            assert.ok(mean <= MEAN_TOLERANCE && worst <= MAX_TOLERANCE, `step ${step}: top-3 logprobs differ by ${mean.toExponential(2)} on average, ${worst.toExponential(2)} at worst`);
          }
          // Both go on with the tensor-core runner's tokens, so their contexts stay equal.
          for (const entries of steps) commitStep(entries, tc.sampledTokenIds);
        }
      } finally {
        for (const r of runners) r.dispose();
      }
    });
  }
});
