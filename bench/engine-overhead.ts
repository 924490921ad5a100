/**
 * The engine's host time per step: LLMEngine over a no-op runner (a fixed token per sequence,
 * resolved at once), N sequences in steady decode (~512-token prompts already computed),
 * consumers reading their streams. A step's host time is the time from one execute() call
 * to the next: postprocess (stop checks, detokenizer, deltas, stream delivery), the engine
 * loop's setImmediate hop, schedule and step-batch building: what the GPU would wait for.
 *   npx tsx bench/engine-overhead.ts [--seqs 1,32,128,256] [--steps 1000] [--warmup 200] [--prompt 512] [--repeats 3]
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { IncrementalDetokenizer } from '../src/engine/detokenizer.js';
import type { EngineTokenizer } from '../src/engine/engine-tokenizer.js';
import { LLMEngine } from '../src/engine/engine.js';
import { SamplingParams } from '../src/engine/sampling-params.js';
import type { Tokenizer } from '../src/model/tokenizer.js';
import type { LoraWeights, ModelRunner, StepBatch, StepOutput } from '../src/runtime/types.js';
import { KV_BLOCK_SIZE } from '../src/runtime/types.js';
import { fakeSpec } from '../test/helpers/fake-runner.js';

const { values } = parseArgs({
  options: {
    seqs: { type: 'string', default: '1,32,128,256' },
    steps: { type: 'string', default: '1000' },
    warmup: { type: 'string', default: '200' },
    prompt: { type: 'string', default: '512' },
    repeats: { type: 'string', default: '3' },
  },
});
const seqCounts = values.seqs.split(',').map(Number);
const numSteps = Number(values.steps);
const numWarmup = Number(values.warmup);
const promptLen = Number(values.prompt);
const numRepeats = Number(values.repeats);
const VOCAB = 32000;
const TOKEN = 1234;
const MAX_NUM_BATCHED_TOKENS = 2048;

/** Returns the same token for every sampled sequence, at once; records when each step was handed to it. */
class NoopRunner implements ModelRunner {
  readonly spec = fakeSpec(VOCAB, 1 << 20);
  readonly device = 'cpu' as const;
  readonly maxLoras = 0;
  readonly stepTimes: number[] = [];
  readonly isSteady: boolean[] = [];
  private readonly output: StepOutput;

  constructor(
    readonly numKvBlocks: number,
    private readonly numSeqs: number,
  ) {
    const sampled = new Int32Array(numSeqs).fill(TOKEN);
    this.output = {
      sampledTokenIds: sampled,
      sampledLogprobs: new Float32Array(numSeqs),
      topK: 0,
      topTokenIds: new Int32Array(0),
      topLogprobs: new Float32Array(0),
      positionTargetLogprobs: new Float32Array(0),
      positionTopTokenIds: new Int32Array(0),
      positionTopLogprobs: new Float32Array(0),
      hiddenStates: new Float32Array(0),
    };
  }

  execute(batch: StepBatch): Promise<StepOutput> {
    this.stepTimes.push(performance.now());
    this.isSteady.push(batch.numSeqs === this.numSeqs && batch.numTokens === this.numSeqs);
    return Promise.resolve(this.output);
  }

  loadAdapter(_slot: number, _weights: LoraWeights): void {}
  unloadAdapter(_slot: number): void {}
  dispose(): void {}
}

/** A vocabulary of short pieces, decoded by lookup: the detokenizer's own bookkeeping is what is measured. */
function trivialTokenizer(): EngineTokenizer {
  const pieces = Array.from({ length: VOCAB }, (_, id) => `t${id % 97} `);
  const tokenizer = {
    decode: (ids: readonly number[]) => {
      let text = '';
      for (const id of ids) text += pieces[id] as string;
      return text;
    },
  };
  return {
    decode: tokenizer.decode,
    createDetokenizer: (promptIds, skip) => new IncrementalDetokenizer(tokenizer as unknown as Tokenizer, promptIds, skip),
  };
}

function prompt(seed: number): number[] {
  let state = (seed * 2654435761) >>> 0 || 1;
  return Array.from({ length: promptLen }, () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return 1 + ((state >>> 0) % (VOCAB - 1));
  });
}

async function measure(numSeqs: number): Promise<number[]> {
  // NOTE: early prompts start decoding while later ones are still in prefill.
  const maxTokens = numWarmup + numSteps + Math.ceil((numSeqs * promptLen) / MAX_NUM_BATCHED_TOKENS) + 8;
  const numKvBlocks = numSeqs * Math.ceil((promptLen + maxTokens) / KV_BLOCK_SIZE) + 16;
  const runner = new NoopRunner(numKvBlocks, numSeqs);
  const engine = new LLMEngine(runner, trivialTokenizer(), {
    maxNumSeqs: Math.max(256, numSeqs),
    maxNumBatchedTokens: MAX_NUM_BATCHED_TOKENS,
  });
  const params = new SamplingParams({ maxTokens, ignoreEos: true, temperature: 0 });
  const readers: Promise<number>[] = [];
  for (let i = 0; i < numSeqs; i++) {
    const stream = engine.add({ requestId: `r${i}`, promptTokenIds: prompt(i + 1), params });
    readers.push(
      (async () => {
        let numChars = 0;
        for await (const delta of stream) for (const out of delta.outputs) numChars += out.text.length;
        return numChars;
      })(),
    );
  }
  await Promise.all(readers);
  const { stepTimes, isSteady } = runner;
  const intervals: number[] = [];
  for (let i = 0; i + 1 < stepTimes.length; i++) {
    if (isSteady[i] && isSteady[i + 1]) intervals.push(((stepTimes[i + 1] as number) - (stepTimes[i] as number)) * 1000);
  }
  return intervals.slice(numWarmup, numWarmup + numSteps);
}

function stats(us: number[]): { mean: number; p50: number; p99: number } {
  const sorted = [...us].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return { mean: us.reduce((a, b) => a + b, 0) / us.length, p50: at(0.5), p99: at(0.99) };
}

console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} x${cpus().length}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`prompt ${promptLen} tokens, ${numWarmup} warm-up + ${numSteps} measured decode steps, best mean of ${numRepeats} runs`);
console.log('| sequences | mean µs/step | p50 µs/step | p99 µs/step | µs/sequence |');
console.log('| ---: | ---: | ---: | ---: | ---: |');
for (const numSeqs of seqCounts) {
  let best: ReturnType<typeof stats> | null = null;
  for (let r = 0; r < numRepeats; r++) {
    const intervals = await measure(numSeqs);
    if (intervals.length < numSteps) throw new Error(`only ${intervals.length} steady steps measured`);
    const s = stats(intervals);
    if (best === null || s.mean < best.mean) best = s;
  }
  const b = best as ReturnType<typeof stats>;
  console.log(`| ${numSeqs} | ${b.mean.toFixed(1)} | ${b.p50.toFixed(1)} | ${b.p99.toFixed(1)} | ${(b.mean / numSeqs).toFixed(2)} |`);
}
console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
