/**
 * CPU decode and prompt-processing throughput on a named random-weight shape, driving the
 * runner directly with hand-built steps (greedy, EOS ignored).
 *   npx tsx bench/cpu-decode.ts [--shape qwen2.5-0.5b] [--prompt 512] [--gen 128] [--batch 1,16] [--threads N]
 */
import { availableParallelism, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { randomModel } from '../src/model/random-weights.js';
import { CpuRunner, kvBytesPerBlock } from '../src/runtime/cpu/cpu-runner.js';
import { buildStepBatch, commitStep, ManualBlockPool, ManualSequence, type ManualStepEntry } from '../test/helpers/manual-batch.js';
import { KV_BLOCK_SIZE, type ModelRunner } from '../src/runtime/types.js';

const { values } = parseArgs({
  options: {
    shape: { type: 'string', default: 'qwen2.5-0.5b' },
    prompt: { type: 'string', default: '512' },
    gen: { type: 'string', default: '128' },
    batch: { type: 'string', default: '1,16' },
    threads: { type: 'string', default: String(availableParallelism()) },
    layers: { type: 'string' },
  },
});
const promptLen = Number(values.prompt);
const genLen = Number(values.gen);
const batchSizes = values.batch.split(',').map(Number);
const numThreads = Number(values.threads);
const maxBatch = Math.max(...batchSizes);

function randomPrompt(seed: number, vocab: number): number[] {
  let state = (seed * 2654435761) >>> 0 || 1;
  return Array.from({ length: promptLen }, () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % vocab;
  });
}

async function run(runner: ModelRunner, pool: ManualBlockPool, entries: ManualStepEntry[]): Promise<void> {
  const out = await runner.execute(buildStepBatch(pool, entries));
  commitStep(entries, out.sampledTokenIds);
}

async function measure(runner: ModelRunner, batch: number): Promise<{ promptTokensPerSecond: number; decodeTokensPerSecond: number }> {
  const pool = new ManualBlockPool(runner.numKvBlocks);
  const seqs = Array.from({ length: batch }, (_, i) => new ManualSequence(randomPrompt(i + 1, runner.spec.vocabSize)));
  const prefillStart = performance.now();
  for (const seq of seqs) await run(runner, pool, [{ seq, numTokens: promptLen, sample: true }]);
  const prefillSeconds = (performance.now() - prefillStart) / 1000;
  const decodeStart = performance.now();
  for (let step = 1; step < genLen; step++) await run(runner, pool, seqs.map((seq) => ({ seq, numTokens: 1, sample: true })));
  const decodeSeconds = (performance.now() - decodeStart) / 1000;
  for (const seq of seqs) pool.release(seq);
  return { promptTokensPerSecond: (batch * promptLen) / prefillSeconds, decodeTokensPerSecond: (batch * (genLen - 1)) / decodeSeconds };
}

const loadStart = performance.now();
const { spec, source } = randomModel(values.shape, values.layers ? { numLayers: Number(values.layers) } : {});
const blocksNeeded = maxBatch * Math.ceil((promptLen + genLen) / KV_BLOCK_SIZE);
const runner = CpuRunner.load(spec, source, {
  kvCacheBytes: blocksNeeded * kvBytesPerBlock(spec),
  maxLoras: 0,
  maxLoraRank: 0,
  numThreads,
  maxTokensPerChunk: promptLen,
});
console.error(`loaded ${values.shape} (random ${spec.dtype}) in ${((performance.now() - loadStart) / 1000).toFixed(1)} s`);
// Warm-up: page in the weights and the KV cache.
await measure(runner, 1).catch(() => undefined);
const results = new Map<number, { promptTokensPerSecond: number; decodeTokensPerSecond: number }>();
for (const batch of batchSizes) results.set(batch, await measure(runner, batch));
runner.dispose();

const cpu = cpus()[0]?.model ?? 'cpu';
const decodeColumns = batchSizes.map((b) => `tg${genLen} b${b} tok/s`);
console.log(`| shape | weights | machine | threads | pp${promptLen} tok/s | ${decodeColumns.join(' | ')} |`);
console.log(`| --- | --- | --- | --- | --- | ${decodeColumns.map(() => '---').join(' | ')} |`);
const pp = results.get(batchSizes[0] ?? 1)?.promptTokensPerSecond ?? NaN;
const decode = batchSizes.map((b) => (results.get(b)?.decodeTokensPerSecond ?? NaN).toFixed(1));
console.log(`| ${values.shape} | random ${spec.dtype} | ${cpu} | ${numThreads} | ${pp.toFixed(1)} | ${decode.join(' | ')} |`);
