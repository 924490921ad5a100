/**
 * swiftlet's CPU runner and llama.cpp (node-llama-cpp) side by side on the same weights and
 * prompts, in one process, alternating, several repetitions, medians:
 *   - prompt processing: tokens/s of one 512-token prompt (time to the first generated token);
 *   - decode at batch 1: tokens/s of the next 127 tokens of that same request;
 *   - 16 sequences at once: generated tokens/s of 16 distinct prompts x 128 new tokens, from
 *     submitting them all to the last token (prefill included).
 * Each also per second of the process's CPU time, which a loaded host disturbs far less than the
 * wall clock (one thread per side: it leaves out the time a side waited for a core).
 * The weights: random Qwen2.5-0.5B-shaped weights written once as a bf16 safetensors
 * checkpoint (with the fixture's Qwen tokenizer), exported with `swiftlet export --to-gguf`
 * to GGUF bf16 and f16. swiftlet runs the bf16 checkpoint through its engine (LLMEngine over
 * the CPU runner, greedy, EOS ignored, prefix caching off); llama.cpp runs each GGUF through
 * node-llama-cpp's LlamaContext sequences (greedy; its defaults otherwise: f16 KV cache).
 *
 * `--swiftlet bf16,int8,int4` picks swiftlet's weights: the bf16 checkpoint as it is, or its
 * projections quantized by swiftlet's RTN (symmetric, groups of 32, as q8_0 / q4_0 block them) and
 * loaded as a GPTQ checkpoint (embedding and lm_head stay bf16, as GPTQ checkpoints keep them).
 * `--lm-head-dtype int8` (or int4) quantizes swiftlet's lm_head at load, as the GGUF export
 * quantizes token_embd; a weights entry may also name it alone: `int4+int8` is int4 projections
 * with an int8 lm_head.
 *
 *   npx tsx bench/llama-cpp-side-by-side.ts [--reps 3] [--threads 2] [--formats bf16,f16]
 *     [--swiftlet bf16] [--lm-head-dtype auto|int8|int4] [--prompt 512] [--gen 128] [--parallel 16] [--parallel-prompt 64] [--dir DIR] [--layers N]
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { getLlama, LlamaLogLevel, type LlamaContext, type LlamaModel, type Token } from 'node-llama-cpp';
import { LLMEngine } from '../src/engine/engine.js';
import { NO_TEXT_TOKENIZER } from '../src/engine/engine-tokenizer.js';
import { SamplingParams } from '../src/engine/sampling-params.js';
import { loadModelSpec } from '../src/model/config.js';
import { exportGguf, type GgufOutType } from '../src/model/gguf/export-gguf.js';
import { writeRandomCheckpoint } from '../src/model/random-weights.js';
import { SafetensorsCheckpoint } from '../src/model/safetensors.js';
import { QuantizedCheckpointView } from '../src/model/quant/quantized-checkpoint.js';
import { gptqPacking } from '../src/model/quant/gptq-packing.js';
import { quantizeRtn, type QuantGrid } from '../src/model/quant/rtn.js';
import { kvBytesPerBlock } from '../src/runtime/cpu/cpu-runner.js';
import { createRunnerFor } from '../src/runtime/create-runner.js';
import { KV_BLOCK_SIZE } from '../src/runtime/types.js';
import { isLmHeadDtype, LM_HEAD_DTYPES, type LmHeadDtype } from '../src/runtime/lm-head-dtype.js';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    formats: { type: 'string', default: 'bf16,f16' },
    swiftlet: { type: 'string', default: 'bf16' },
    'lm-head-dtype': { type: 'string', default: 'auto' },
    prompt: { type: 'string', default: '512' },
    gen: { type: 'string', default: '128' },
    parallel: { type: 'string', default: '16' },
    'parallel-prompt': { type: 'string', default: '64' },
    shape: { type: 'string', default: 'qwen2.5-0.5b' },
    layers: { type: 'string' },
    dir: { type: 'string', default: join(tmpdir(), 'swiftlet-side-by-side') },
    /** Leave swiftlet out (diagnosis: llama.cpp without a second thread pool in the process). */
    'no-swiftlet': { type: 'boolean', default: false },
  },
});
const numReps = Number(values.reps);
/** Every thread count runs as its own contenders (e.g. `2,1`: also one thread each, which a busy host disturbs less). */
const threadCounts = values.threads.split(',').map(Number);
const formats = values.formats.split(',') as GgufOutType[];
const promptLen = Number(values.prompt);
const genLen = Number(values.gen);
const numParallel = Number(values.parallel);
const parallelPromptLen = Number(values['parallel-prompt']);
const fixtureTokenizerDir = join(import.meta.dirname, '..', 'test', 'fixtures', 'tiny-qwen2');

// --- the weights, written once -------------------------------------------------------------

const checkpointDir = join(values.dir, `${values.shape}${values.layers ? `-${values.layers}l` : ''}-bf16`);
if (!existsSync(join(checkpointDir, 'model.safetensors'))) {
  mkdirSync(checkpointDir, { recursive: true });
  const started = performance.now();
  writeRandomCheckpoint(values.shape, checkpointDir, { dtype: 'bfloat16', ...(values.layers ? { numLayers: Number(values.layers) } : {}) });
  for (const file of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(fixtureTokenizerDir, file), join(checkpointDir, file));
  console.error(`wrote random ${values.shape} bf16 to ${checkpointDir} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
const ggufPaths = new Map<GgufOutType, string>();
for (const format of formats) {
  const path = join(checkpointDir, `model-${format}.gguf`);
  if (!existsSync(path)) {
    const started = performance.now();
    exportGguf({ modelDir: checkpointDir, outputPath: path, outType: format });
    console.error(`exported ${path} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  ggufPaths.set(format, path);
}
const spec = loadModelSpec(checkpointDir);

// --- prompts: the same ids for both engines ---------------------------------------------------

function randomIds(seed: number, length: number): number[] {
  let state = (seed * 2654435761 + 12345) >>> 0 || 1;
  return Array.from({ length }, () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    // NOTE: ordinary vocabulary only (below Qwen's special tokens).
    return (state >>> 0) % 150000;
  });
}

/**
 * Every rate twice: per wall-clock second, and per second of this process's CPU time (user +
 * system, both sides' threads included). One thread each, on a shared host the second counts
 * only the time a contender ran, not the time it waited for a core.
 */
interface Rate {
  wall: number;
  cpu: number;
}
interface SingleResult {
  prompt: Rate;
  decode: Rate;
}
interface ParallelResult {
  generated: Rate;
}
interface Contender {
  label: string;
  single(prompt: number[]): Promise<SingleResult>;
  parallel(prompts: number[][]): Promise<ParallelResult>;
  dispose(): Promise<void>;
}

/** Wall-clock and process CPU milliseconds. */
interface Stamp {
  wall: number;
  cpu: number;
}
function stamp(): Stamp {
  const { user, system } = process.cpuUsage();
  return { wall: performance.now(), cpu: (user + system) / 1000 };
}
/** `count` tokens between two stamps, per second of each clock. */
function rate(count: number, from: Stamp, to: Stamp): Rate {
  return { wall: count / ((to.wall - from.wall) / 1000), cpu: count / ((to.cpu - from.cpu) / 1000) };
}

/** Stamps of each generated token of one stream. */
async function tokenTimes(tokens: AsyncIterable<number>, limit: number): Promise<Stamp[]> {
  const times: Stamp[] = [];
  for await (const _ of tokens) {
    times.push(stamp());
    if (times.length >= limit) break;
  }
  return times;
}

async function singleResult(tokens: AsyncIterable<number>): Promise<SingleResult> {
  const start = stamp();
  const times = await tokenTimes(tokens, genLen);
  const first = times[0] ?? start;
  return { prompt: rate(promptLen, start, first), decode: rate(times.length - 1, first, times[times.length - 1] ?? first) };
}

async function parallelResult(streams: AsyncIterable<number>[]): Promise<ParallelResult> {
  const start = stamp();
  const all = await Promise.all(streams.map((tokens) => tokenTimes(tokens, genLen)));
  return { generated: rate(all.reduce((n, t) => n + t.length, 0), start, stamp()) };
}

// --- swiftlet ---------------------------------------------------------------------------------

type SwiftletWeights = 'bf16' | 'int8' | 'int4';
/** The projections' weights and the lm_head's dtype of one swiftlet contender (`int4+int8`: int4 projections, int8 lm_head). */
const swiftletContenders = values.swiftlet.split(',').map((entry) => {
  const [weights, lmHead = values['lm-head-dtype']] = entry.split('+');
  if (!isLmHeadDtype(lmHead)) throw new Error(`--lm-head-dtype / +LM_HEAD must be one of ${LM_HEAD_DTYPES.join(', ')}, got "${lmHead}"`);
  return { weights: weights as SwiftletWeights, lmHead };
});

async function swiftlet(numThreads: number, weights: SwiftletWeights, lmHeadDtype: LmHeadDtype): Promise<Contender> {
  const checkpoint = SafetensorsCheckpoint.open(checkpointDir);
  const maxLen = Math.max(promptLen, parallelPromptLen) + genLen;
  const blocks = (numParallel + 1) * Math.ceil(maxLen / KV_BLOCK_SIZE) + 8;
  const grid: QuantGrid = { bits: weights === 'int4' ? 4 : 8, groupSize: 32, sym: true };
  const quantized = weights !== 'bf16';
  const runnerSpec = quantized ? { ...spec, quantization: { method: 'gptq' as const, bits: grid.bits, groupSize: 32, descAct: false, sym: true, zeroOffset: 1 as const } } : spec;
  const source = quantized ? new QuantizedCheckpointView(spec, checkpoint, gptqPacking(grid), (w, shape) => quantizeRtn(w, shape, grid)) : checkpoint;
  const runner = await createRunnerFor(runnerSpec, source, {
    device: 'cpu',
    kvCacheBytes: blocks * kvBytesPerBlock(spec),
    maxLoras: 0,
    maxLoraRank: 0,
    numThreads,
    lmHeadDtype,
  });
  checkpoint.close();
  const engine = new LLMEngine(runner, NO_TEXT_TOKENIZER, { maxModelLen: maxLen, maxNumSeqs: numParallel, enablePrefixCaching: false });
  let nextId = 0;
  async function* tokens(prompt: number[], maxTokens: number): AsyncIterable<number> {
    const params = new SamplingParams({ maxTokens, temperature: 0, ignoreEos: true });
    for await (const output of engine.add({ requestId: `side-${nextId++}`, promptTokenIds: prompt, params })) {
      for (const out of output.outputs) yield* out.tokenIds;
    }
  }
  return {
    label: `swiftlet ${weights}${lmHeadDtype === 'auto' ? '' : `+${lmHeadDtype} lm_head`} ${numThreads}t`,
    single: (prompt) => singleResult(tokens(prompt, genLen)),
    parallel: (prompts) => parallelResult(prompts.map((p) => tokens(p, genLen))),
    async dispose() {
      runner.dispose();
    },
  };
}

// --- llama.cpp --------------------------------------------------------------------------------

const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: Math.max(...threadCounts) });
const llamaModels = new Map<GgufOutType, LlamaModel>();

async function llamaCpp(format: GgufOutType, numThreads: number): Promise<Contender> {
  let model = llamaModels.get(format);
  if (!model) {
    model = await llama.loadModel({ modelPath: ggufPaths.get(format) ?? '' });
    llamaModels.set(format, model);
  }
  const single: LlamaContext = await model.createContext({ contextSize: promptLen + genLen, sequences: 1, threads: numThreads, batchSize: 512 });
  const many: LlamaContext = await model.createContext({ contextSize: parallelPromptLen + genLen, sequences: numParallel, threads: numThreads, batchSize: 512 });
  const singleSequence = single.getSequence();
  const sequences = Array.from({ length: numParallel }, () => many.getSequence());
  const greedy = (sequence: typeof singleSequence, prompt: number[]) => sequence.evaluate(prompt as Token[], { temperature: 0 });
  return {
    label: `llama.cpp ${format} ${numThreads}t`,
    async single(prompt) {
      await singleSequence.clearHistory();
      return singleResult(greedy(singleSequence, prompt));
    },
    async parallel(prompts) {
      await Promise.all(sequences.map((s) => s.clearHistory()));
      return parallelResult(prompts.map((p, i) => greedy(sequences[i] ?? singleSequence, p)));
    },
    async dispose() {
      await single.dispose();
      await many.dispose();
    },
  };
}

// --- the runs ---------------------------------------------------------------------------------

/** Per thread count: swiftlet first (the base of the ratios), then llama.cpp per format. */
const groups: Contender[][] = [];
for (const numThreads of threadCounts) {
  const group: Contender[] = [];
  if (!values['no-swiftlet']) for (const { weights, lmHead } of swiftletContenders) group.push(await swiftlet(numThreads, weights, lmHead));
  for (const format of formats) group.push(await llamaCpp(format, numThreads));
  groups.push(group);
}
const contenders = groups.flat();

type Series = 'pp' | 'tg' | 'parallel' | 'ppCpu' | 'tgCpu' | 'parallelCpu';
const results = new Map<string, Record<Series, number[]>>();
for (const c of contenders) results.set(c.label, { pp: [], tg: [], parallel: [], ppCpu: [], tgCpu: [], parallelCpu: [] });
function record(label: string, wall: Series, cpu: Series, r: Rate): void {
  results.get(label)?.[wall].push(r.wall);
  results.get(label)?.[cpu].push(r.cpu);
}

// Warm-up: page the weights in, let each side size its buffers.
for (const c of contenders) {
  await c.single(randomIds(999, 64)).catch(() => undefined);
}

for (let rep = 0; rep < numReps; rep++) {
  // NOTE: the order flips every repetition so neither side always runs right after the other.
  const order = rep % 2 === 0 ? contenders : [...contenders].reverse();
  console.error(`rep ${rep + 1} starts ${new Date().toISOString()}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const prompt = randomIds(rep + 1, promptLen);
  for (const c of order) {
    const r = await c.single(prompt);
    record(c.label, 'pp', 'ppCpu', r.prompt);
    record(c.label, 'tg', 'tgCpu', r.decode);
    console.error(
      `rep ${rep + 1} ${c.label}: pp${promptLen} ${r.prompt.wall.toFixed(1)} tok/s (${r.prompt.cpu.toFixed(1)} per CPU s), ` +
        `tg${genLen} ${r.decode.wall.toFixed(2)} tok/s (${r.decode.cpu.toFixed(2)} per CPU s)`,
    );
  }
  const prompts = Array.from({ length: numParallel }, (_, i) => randomIds(1000 * (rep + 1) + i, parallelPromptLen));
  for (const c of order) {
    const r = await c.parallel(prompts);
    record(c.label, 'parallel', 'parallelCpu', r.generated);
    console.error(`rep ${rep + 1} ${c.label}: ${numParallel} x ${genLen} ${r.generated.wall.toFixed(2)} tok/s (${r.generated.cpu.toFixed(2)} per CPU s)`);
  }
}
for (const c of contenders) await c.dispose();
for (const model of llamaModels.values()) await model.dispose();
await llama.dispose();

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

const rows: [string, Series][] = [
  [`prompt ${promptLen}, batch 1: prompt tok/s`, 'pp'],
  [`decode ${genLen}, batch 1: tok/s`, 'tg'],
  [`${numParallel} sequences (prompt ${parallelPromptLen}, ${genLen} new each): generated tok/s`, 'parallel'],
  [`prompt ${promptLen}, batch 1: prompt tokens per CPU second`, 'ppCpu'],
  [`decode ${genLen}, batch 1: tokens per CPU second`, 'tgCpu'],
  [`${numParallel} sequences: generated tokens per CPU second`, 'parallelCpu'],
];
console.log(`\n${values.shape}${values.layers ? ` (${values.layers} layers)` : ''}, random weights, ${cpus()[0]?.model ?? 'cpu'}, median of ${numReps}; ratio = swiftlet / llama.cpp`);
for (const [g, group] of groups.entries()) {
  const [first, ...peers] = group;
  if (!first) continue;
  const base = results.get(first.label);
  const header = [`${threadCounts[g]} thread(s)`, first.label, ...peers.flatMap((p) => [p.label, 'ratio'])];
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const [name, key] of rows) {
    const ours = median(base?.[key] ?? []);
    const cells = peers.flatMap((p) => {
      const theirs = median(results.get(p.label)?.[key] ?? []);
      return [theirs.toFixed(1), values['no-swiftlet'] ? '' : `${(ours / theirs).toFixed(2)}x`];
    });
    lines.push(`| ${name} | ${ours.toFixed(1)} | ${cells.join(' | ')} |`);
  }
  console.log(`\n${lines.join('\n')}`);
}
console.log(`\nended ${new Date().toISOString()}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`all runs: ${JSON.stringify(Object.fromEntries(results))}`);
