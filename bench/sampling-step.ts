/**
 * CPU decode step time by sampling mode at a real vocabulary (default: the qwen2.5-0.5b shape,
 * 151,936 tokens, one layer so the sampler's share of the step shows; --layers 24 for the whole
 * model's steps, as in docs/benchmarks.md), driving the runner with
 * hand-built steps. Each mode runs the same prompts; the ratio is to greedy in the same run.
 * The modes take turns for --rounds rounds and each keeps its fastest, so a busy machine skews less.
 *   npx tsx bench/sampling-step.ts [--shape qwen2.5-0.5b] [--layers 1] [--batch 16] [--steps 64] [--rounds 3] [--threads N]
 */
import { availableParallelism, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { randomModel } from '../src/model/random-weights.js';
import { CpuRunner, kvBytesPerBlock } from '../src/runtime/cpu/cpu-runner.js';
import { buildStepBatch, commitStep, GREEDY, ManualBlockPool, ManualSequence, type ManualSampling } from '../test/helpers/manual-batch.js';
import { KV_BLOCK_SIZE, type ModelRunner } from '../src/runtime/types.js';

const { values } = parseArgs({
  options: {
    shape: { type: 'string', default: 'qwen2.5-0.5b' },
    layers: { type: 'string', default: '1' },
    batch: { type: 'string', default: '16' },
    steps: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: String(availableParallelism()) },
  },
});
const batch = Number(values.batch);
const steps = Number(values.steps);
const numThreads = Number(values.threads);
const promptLen = 16;

const MODES: Record<string, ManualSampling> = {
  greedy: GREEDY,
  'temperature 1': { ...GREEDY, temperature: 1, seed: 7 },
  'top_p 0.8': { ...GREEDY, temperature: 1, topP: 0.8, seed: 7 },
  'top_k 20': { ...GREEDY, temperature: 1, topK: 20, seed: 7 },
  'min_p 0.05': { ...GREEDY, temperature: 1, minP: 0.05, seed: 7 },
};

/** Milliseconds per decode step of `batch` sequences sampled with `sampling`. */
async function msPerStep(runner: ModelRunner, sampling: ManualSampling): Promise<number> {
  const pool = new ManualBlockPool(runner.numKvBlocks);
  const seqs = Array.from({ length: batch }, (_, i) => new ManualSequence(Array.from({ length: promptLen }, (_, j) => (i * 7919 + j * 104729) % runner.spec.vocabSize), sampling));
  const prefill = seqs.map((seq) => ({ seq, numTokens: promptLen, sample: true }));
  commitStep(prefill, (await runner.execute(buildStepBatch(pool, prefill))).sampledTokenIds);
  const start = performance.now();
  for (let step = 0; step < steps; step++) {
    const entries = seqs.map((seq) => ({ seq, numTokens: 1, sample: true }));
    commitStep(entries, (await runner.execute(buildStepBatch(pool, entries))).sampledTokenIds);
  }
  const ms = (performance.now() - start) / steps;
  for (const seq of seqs) pool.release(seq);
  return ms;
}

const { spec, source } = randomModel(values.shape, { numLayers: Number(values.layers) });
const runner = CpuRunner.load(spec, source, {
  kvCacheBytes: batch * Math.ceil((promptLen + steps + 2) / KV_BLOCK_SIZE) * kvBytesPerBlock(spec),
  maxLoras: 0,
  maxLoraRank: 0,
  numThreads,
  maxTokensPerChunk: batch * promptLen,
});
await msPerStep(runner, GREEDY);  // warm-up: page in the weights
const timings = new Map<string, number>();
for (let round = 0; round < Number(values.rounds); round++) {
  for (const [mode, sampling] of Object.entries(MODES)) timings.set(mode, Math.min(timings.get(mode) ?? Infinity, await msPerStep(runner, sampling)));
}
runner.dispose();

const greedyMs = timings.get('greedy') ?? NaN;
console.log(`${values.shape}, ${values.layers} layer(s), vocab ${spec.vocabSize}, batch ${batch}, ${steps} decode steps (fastest of ${values.rounds} rounds), ${numThreads} threads, ${cpus()[0]?.model ?? 'cpu'}`);
console.log('| sampling | ms/step | tok/s | x greedy |');
console.log('| --- | --- | --- | --- |');
for (const [mode, ms] of timings) console.log(`| ${mode} | ${ms.toFixed(2)} | ${((batch * 1000) / ms).toFixed(0)} | ${(ms / greedyMs).toFixed(2)} |`);
