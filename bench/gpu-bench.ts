/**
 * GPU benchmark on a Qwen2.5-7B-shaped model with random weights made on the GPU (bf16, or the
 * layers' linear weights as int8 / int4 codes with --weight-format, the lm_head staying bf16):
 *  1. batch 1, prompt 512, 256 new tokens: decode tokens/s and ms/token against the
 *     memory-bandwidth roofline (weight + KV bytes / device-to-device copy bandwidth measured here);
 *  2. N requests at once (default 128), prompt 512, 256 new tokens: output tokens/s against the
 *     workload's floor (prefill FLOPs at the bf16 GEMM peak measured here + every decode step's
 *     reads at copy bandwidth: bench/workload-floor.ts).
 * Requests go through the engine's LLMEngine (continuous batching, chunked prefill), greedy,
 * ignore_eos. Usage: node dist/bench/gpu-bench.js [--shape qwen2.5-7b] [--prompt 512]
 *   [--gen 256] [--batch 128] [--max-batched-tokens 16384] [--tp 1] [--json out.json]
 *   [--weight-format bf16|int8|int4] [--group-size 128] [--scheduling sync|async|both]
 * --scheduling async runs the engine with asynchronous scheduling (--async-scheduling); both
 * measures the one-step-at-a-time loop first, then asynchronous scheduling on the same runner
 * (JSON: batch1/batchN of the first, asyncSchedulingRun.batch1/batchN of the second).
 * --tp N splits the model over GPUs 0..N-1 (tensor parallelism); the roofline is then that of
 * rank 0, the GPU that reads the most: its share of every layer and the whole lm_head. With an int
 * format the batch-1 roofline counts the bytes the runner holds for the layers instead of bf16's
 * (codes and per-group scales); the N-request floor stays bf16's.
 */
import { writeFileSync } from 'node:fs';
import { LLMEngine } from '../src/engine/engine.js';
import { NO_TEXT_TOKENIZER } from '../src/engine/engine-tokenizer.js';
import { SamplingParams } from '../src/engine/sampling-params.js';
import { specFromConfig } from '../src/model/config.js';
import { randomModelConfig } from '../src/model/random-weights.js';
import { CudaRunner } from '../src/runtime/cuda/cuda-runner.js';
import { kernelImagePath, loadCudaAddon, type RandomIntFormat } from '../src/runtime/cuda/native.js';
import { weightBytesPerDecodeStep, workloadFloor, type DevicePeaks } from './workload-floor.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const shape = flag('shape', 'qwen2.5-7b');
const promptLen = Number(flag('prompt', '512'));
const genLen = Number(flag('gen', '256'));
const batch = Number(flag('batch', '128'));
const maxBatchedTokens = Number(flag('max-batched-tokens', '16384'));
const jsonPath = flag('json', '');
const tensorParallelSize = Number(flag('tp', '1'));
const weightFormat = flag('weight-format', 'bf16');
const intFormat = parseWeightFormat(weightFormat, Number(flag('group-size', '128')));
const schedulingModes = parseScheduling(flag('scheduling', 'sync'));

/** The engine's asyncScheduling settings to measure, in order. */
function parseScheduling(name: string): boolean[] {
  if (name === 'sync' || name === 'async') return [name === 'async'];
  if (name === 'both') return [false, true];
  throw new Error(`--scheduling ${name}: expected sync, async or both`);
}

function parseWeightFormat(name: string, groupSize: number): RandomIntFormat | undefined {
  if (name === 'bf16') return undefined;
  if (name === 'int8' || name === 'int4') return { bits: name === 'int8' ? 8 : 4, groupSize };
  throw new Error(`--weight-format ${name}: expected bf16, int8 or int4`);
}

function randomPrompts(count: number, length: number, vocab: number, seed: number): number[][] {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
  return Array.from({ length: count }, () => Array.from({ length }, () => next() % Math.min(vocab, 150000)));
}

/**
 * Host time around the runner in decode steps: how long each execute() promise took (the worker's
 * step plus the hand-offs between the JS thread and it) and how long the engine took from the end
 * of one step to the next execute() call.
 */
class StepClock {
  private executeMs = 0;
  private betweenMs = 0;
  private steps = 0;
  private lastEnd = 0;

  constructor(runner: CudaRunner) {
    const execute = runner.execute.bind(runner);
    runner.execute = async (stepBatch) => {
      const start = performance.now();
      const decode = stepBatch.numSeqs === stepBatch.numTokens;
      if (decode && this.lastEnd > 0) this.betweenMs += start - this.lastEnd;
      try {
        return await execute(stepBatch);
      } finally {
        const end = performance.now();
        if (decode) {
          this.executeMs += end - start;
          this.steps++;
        }
        this.lastEnd = decode ? end : 0;
      }
    };
  }

  reset(): void {
    this.executeMs = this.betweenMs = this.steps = this.lastEnd = 0;
  }

  summary(): string {
    return `${this.steps} decode steps, execute() ${(this.executeMs / this.steps).toFixed(3)} ms/step, engine between two ${(this.betweenMs / Math.max(1, this.steps - 1)).toFixed(3)} ms`;
  }
}

async function run(engine: LLMEngine, prompts: number[][], maxTokens: number) {
  const start = performance.now();
  const firstTokenAt: number[] = [];
  let outputTokens = 0;
  await Promise.all(
    prompts.map(async (p, i) => {
      const stream = engine.add({
        requestId: `r${i}-${start}`,
        promptTokenIds: p,
        params: new SamplingParams({ temperature: 0, maxTokens, ignoreEos: true }),
      });
      for await (const out of stream) {
        const n = out.outputs[0]?.tokenIds.length ?? 0;
        if (n > 0 && firstTokenAt[i] === undefined) firstTokenAt[i] = performance.now();
        outputTokens += n;
      }
    }),
  );
  const end = performance.now();
  const lastFirst = Math.max(...firstTokenAt.map((t) => t ?? end));
  return { seconds: (end - start) / 1e3, outputTokens, ttftSeconds: (lastFirst - start) / 1e3, decodeSeconds: (end - lastFirst) / 1e3 };
}

type Timing = Awaited<ReturnType<typeof run>>;

/** The JSON figures of one batch-1 run and one N-request run. */
function figures(single: Timing, many: Timing, rooflineMs: number, floorSeconds: number) {
  const decodeMsPerToken = (single.decodeSeconds / (genLen - 1)) * 1e3;
  return {
    batch1: {
      ttftMs: single.ttftSeconds * 1e3,
      decodeMsPerToken,
      decodeTokensPerSecond: 1e3 / decodeMsPerToken,
      fractionOfRoofline: rooflineMs / decodeMsPerToken,
      totalSeconds: single.seconds,
    },
    batchN: {
      requests: batch,
      outputTokens: many.outputTokens,
      seconds: many.seconds,
      outputTokensPerSecond: many.outputTokens / many.seconds,
      prefillSeconds: many.ttftSeconds,
      floorSeconds,
      fractionOfFloor: floorSeconds / many.seconds,
    },
  };
}

/**
 * --profile: per-stage GPU time of decode steps and of prefill steps (SWIFTLET_CUDA_PROFILE=1: eager
 * steps with events, printed when the runner is disposed), at batch 1 and at `batch`, with the tensor-core decode
 * attention (default) and the SIMT one (SWIFTLET_DECODE_SIMT=1) for comparison.
 */
async function profile(): Promise<void> {
  const spec = specFromConfig(randomModelConfig(shape));
  const maxModelLen = Math.max(1024, promptLen + genLen + 16);
  const cases: [string, number, Record<string, string>][] = [
    ['batch 1', 1, {}],
    [`batch ${batch}`, batch, {}],
    [`batch ${batch}, SIMT decode attention`, batch, { SWIFTLET_DECODE_SIMT: '1' }],
    [`batch 1, SIMT decode attention`, 1, { SWIFTLET_DECODE_SIMT: '1' }],
  ];
  for (const [label, n, env] of cases) {
    process.env.SWIFTLET_CUDA_PROFILE = '1';
    delete process.env.SWIFTLET_DECODE_SIMT;
    Object.assign(process.env, env);
    const runner = CudaRunner.withRandomWeights(spec, 0, { maxNumSeqs: Math.max(n, 1), maxNumTokens: maxBatchedTokens, maxModelLen });
    const engine = new LLMEngine(runner, NO_TEXT_TOKENIZER, { maxNumSeqs: Math.max(n, 1), maxNumBatchedTokens: maxBatchedTokens, maxModelLen, enablePrefixCaching: false });
    const r = await run(engine, randomPrompts(n, promptLen, spec.vocabSize, 5), 64);
    console.log(`## ${label}: decode ${((r.decodeSeconds / 63) * 1e3).toFixed(2)} ms/step through the engine (eager, with events)`);
    runner.dispose();
  }
  delete process.env.SWIFTLET_CUDA_PROFILE;
}

async function main(): Promise<void> {
  if (process.argv.includes('--profile')) return profile();
  const addon = loadCudaAddon();
  const device = addon.deviceInfo(0);
  // Copy bandwidth first, while the card is empty: 2 GiB buffers, read + write counted.
  const copyBandwidth = addon.measureCopyBandwidth(0, 2 ** 31, 20);
  // A large square GEMM through the same cuBLASLt path the model uses: the compute peak.
  const gemmFlops = addon.measureGemmPeak(0, kernelImagePath(), 8192, 8192, 8192, 50);
  const peaks: DevicePeaks = { gemmFlopsPerSecond: gemmFlops, copyBytesPerSecond: copyBandwidth };
  const spec = specFromConfig(randomModelConfig(shape));
  const maxModelLen = Math.max(1024, promptLen + genLen + 16);
  const loadStart = performance.now();
  const runner = CudaRunner.withRandomWeights(spec, 0, {
    maxNumSeqs: Math.max(batch, 1),
    maxNumTokens: maxBatchedTokens,
    maxModelLen,
    gpuMemoryUtilization: 0.9,
    tensorParallelSize,
  }, intFormat);
  const loadSeconds = (performance.now() - loadStart) / 1e3;
  const clock = new StepClock(runner);
  const engineWith = (asyncScheduling: boolean) =>
    new LLMEngine(runner, NO_TEXT_TOKENIZER, {
      maxNumSeqs: Math.max(batch, 1),
      maxNumBatchedTokens: maxBatchedTokens,
      maxModelLen,
      enablePrefixCaching: false,
      asyncScheduling,
    });
  const bytesPerStep = weightBytesPerDecodeStep(spec);
  const bytesPerGpu = weightBytesPerDecodeStep(spec, tensorParallelSize);
  // An int model reads its layers' codes and scales (what the runner holds, less an untied embedding
  // table) where bf16 reads bytesPerGpu; over tensor-parallel ranks, the average rank's share.
  const embeddingBytes = spec.tieWordEmbeddings ? 0 : spec.vocabSize * spec.hiddenSize * 2;
  const heldBytesPerGpu = runner.weightBytes / tensorParallelSize - embeddingBytes;
  const bf16RooflineMs = workloadFloor(spec, peaks, { requests: 1, promptLen, genLen }, tensorParallelSize).decodeMsPerStep;
  const rooflineMs = intFormat ? bf16RooflineMs - ((bytesPerGpu - heldBytesPerGpu) / copyBandwidth) * 1e3 : bf16RooflineMs;
  const floorN = workloadFloor(spec, peaks, { requests: batch, promptLen, genLen }, tensorParallelSize);
  const variant = process.env.SWIFTLET_DECODE_SIMT === '1' ? 'SIMT decode attention' : 'tensor-core decode attention';
  console.log(`# ${device.name} (${(device.totalMemory / 2 ** 30).toFixed(1)} GiB, ${device.multiprocessors} SMs) x ${tensorParallelSize}, ${shape} ${weightFormat}${intFormat ? ` (group ${intFormat.groupSize})` : ''} random weights, ${runner.numKvBlocks} KV blocks, load ${loadSeconds.toFixed(1)} s`);
  console.log(`# copy bandwidth ${(copyBandwidth / 1e12).toFixed(3)} TB/s (read + write), bf16 GEMM ${(gemmFlops / 1e12).toFixed(0)} TFLOP/s (8192^3, cuBLASLt)`);
  console.log(`# ${((intFormat ? heldBytesPerGpu : bytesPerGpu) / 1e9).toFixed(2)} GB of weights read per decode step by ${tensorParallelSize > 1 ? 'rank 0' : 'the GPU'}, plus KV -> batch-1 roofline ${rooflineMs.toFixed(2)} ms/token`);
  console.log(`# ${batch}-request floor ${floorN.totalSeconds.toFixed(2)} s (prefill ${floorN.prefillSeconds.toFixed(2)} s at the GEMM peak + decode ${floorN.decodeSeconds.toFixed(2)} s at copy bandwidth)`);

  // Warm-up: captures the CUDA graphs of the buckets used below and picks the GEMM algorithms.
  const vocab = spec.vocabSize;
  const warmEngine = engineWith(schedulingModes[0] ?? false);
  await run(warmEngine, randomPrompts(1, promptLen, vocab, 1), 8);
  await run(warmEngine, randomPrompts(batch, promptLen, vocab, 2), 4);

  const measured = [];
  for (const asyncScheduling of schedulingModes) {
    const engine = engineWith(asyncScheduling);
    const single = await run(engine, randomPrompts(1, promptLen, vocab, 3), genLen);
    clock.reset();
    const many = await run(engine, randomPrompts(batch, promptLen, vocab, 4), genLen);
    measured.push({ asyncScheduling, ...figures(single, many, rooflineMs, floorN.totalSeconds), many, hostTime: clock.summary() });
  }
  const [first, second] = measured as [(typeof measured)[0], (typeof measured)[0] | undefined];
  const result = {
    device: device.name,
    shape,
    weightFormat,
    groupSize: intFormat?.groupSize,
    tensorParallelSize,
    promptLen,
    genLen,
    driver: 'LLMEngine (continuous batching, chunked prefill, maxNumBatchedTokens ' + maxBatchedTokens + ')',
    variant,
    copyBandwidthTBs: copyBandwidth / 1e12,
    gemmPeakTflops: gemmFlops / 1e12,
    weightBytesPerStep: bytesPerStep,
    weightBytesPerGpuStep: bytesPerGpu,
    rooflineMsPerToken: rooflineMs,
    asyncScheduling: first.asyncScheduling,
    batch1: first.batch1,
    batchN: { ...first.batchN, floorPrefillSeconds: floorN.prefillSeconds, floorDecodeSeconds: floorN.decodeSeconds },
    ...(second ? { asyncSchedulingRun: { batch1: second.batch1, batchN: second.batchN } } : {}),
  };
  console.log(`# variant: ${variant}`);
  for (const m of measured) {
    const mode = m.asyncScheduling ? 'async scheduling' : 'one step at a time';
    console.log(`[${mode}] batch 1: TTFT ${m.batch1.ttftMs.toFixed(1)} ms, decode ${m.batch1.decodeMsPerToken.toFixed(2)} ms/token = ${m.batch1.decodeTokensPerSecond.toFixed(1)} tok/s, ${(m.batch1.fractionOfRoofline * 100).toFixed(1)}% of the ${rooflineMs.toFixed(2)} ms roofline`);
    console.log(`[${mode}] batch ${batch}: ${m.many.outputTokens} output tokens in ${m.many.seconds.toFixed(2)} s = ${m.batchN.outputTokensPerSecond.toFixed(0)} tok/s (all first tokens after ${m.many.ttftSeconds.toFixed(2)} s), ${(m.batchN.fractionOfFloor * 100).toFixed(1)}% of the ${floorN.totalSeconds.toFixed(2)} s floor`);
    console.log(`[${mode}] batch ${batch} host time: ${m.hostTime}`);
  }
  if (second) console.log(`async scheduling / one step at a time: batch 1 ${(second.batch1.decodeTokensPerSecond / first.batch1.decodeTokensPerSecond).toFixed(3)}x, batch ${batch} ${(second.batchN.outputTokensPerSecond / first.batchN.outputTokensPerSecond).toFixed(3)}x`);
  if (jsonPath) writeFileSync(jsonPath, JSON.stringify(result, null, 2));
  runner.dispose();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
