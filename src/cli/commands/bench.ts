/**
 * `swiftlet bench`: offline engine benchmarks on a checkpoint or on random weights of a
 * named shape (no download), generation ignoring EOS, results as one JSON line.
 *   --scenario throughput   N requests arriving together (output tokens/s); --requests FILE
 *                           takes the prompts and lengths from a JSON list instead
 *   --scenario sequential   the same requests one at a time
 *   --scenario ttft         a short request arriving while a long prompt is being computed
 *   --scenario serve        streamed requests at --request-rate (a list: one result line per
 *                           rate) against a server (--base-url, or one started here on --model)
 *                           or the engine in process (--shape): TTFT / ITL / latency percentiles;
 *                           --dataset sharegpt for ShareGPT-like lengths, --shared-prefix-len for a
 *                           common system prompt (then the prefix-cache hit rate, when local)
 */
import { readFileSync } from 'node:fs';
import { helpText, parseFlags, UsageError, type FlagSpecs, type ParsedFlags } from '../args.js';
import { httpSender, serveBenchmark, type SendRequest } from '../bench/serve.js';
import { randomPrompts, sharegptLikeLengths, type LengthPair } from '../bench/workloads.js';
import { startServer } from '../../server/server.js';
import { MODEL_FLAGS, modelOptionsFrom, type ModelOptions } from '../model-flags.js';
import type { EngineStats } from '../../engine/engine.js';
import { NO_TEXT_TOKENIZER } from '../../engine/engine-tokenizer.js';
import type { RequestOutput } from '../../engine/output.js';
import { SamplingParams } from '../../engine/sampling-params.js';
import { randomEngineWeights, type RandomWeights } from '../../host/engine-setup.js';
import { ModelHost } from '../../host/model-host.js';
import { ReplicaSet } from '../../host/replicas/replica-set.js';
import type { Serving } from '../../host/serving.js';
import { ServingEngine, type EngineRequest } from '../../host/serving-engine.js';
import { RANDOM_MODEL_CONFIGS } from '../../model/random-weights.js';

/** Exported for test/cli-help.test.ts, which checks the help lists every one. */
export const FLAGS: FlagSpecs = {
  scenario: { kind: 'string', default: 'throughput', help: 'throughput, sequential, ttft or serve' },
  'base-url': { kind: 'string', help: 'serve: a running swiftlet deploy (or any OpenAI-compatible server)', defaultText: 'start one here on --model' },
  'request-rate': { kind: 'string', default: 'inf', help: 'serve: requests per second (Poisson arrivals), or inf for all at once; a comma list runs each in turn' },
  dataset: { kind: 'string', default: 'random', help: 'serve: random (--input-len / --output-len) or sharegpt (ShareGPT-like lengths: log-normal around its published means)' },
  'shared-prefix-len': { kind: 'number', default: 0, help: 'serve: tokens of a prefix every prompt starts with (a long common system prompt)' },
  'api-key': { kind: 'string', help: 'serve: the server\'s API key' },
  'prompt-vocab': { kind: 'number', default: 256, help: 'serve with --base-url: prompt token ids are drawn below this' },
  shape: { kind: 'string', help: `random weights of a named shape instead of --model (${Object.keys(RANDOM_MODEL_CONFIGS).join(', ')})` },
  dtype: { kind: 'string', default: 'bfloat16', help: 'random weights\' dtype: bfloat16, float16 or float32' },
  'num-prompts': { kind: 'number', default: 64, help: 'requests (throughput, sequential)' },
  requests: { kind: 'string', help: 'throughput, sequential: a JSON list of {"prompt_token_ids": [...], "max_tokens": N} instead of --num-prompts / --input-len / --output-len' },
  temperature: { kind: 'number', default: 0, help: 'throughput, sequential: sampling temperature (0: greedy)' },
  'input-len': { kind: 'number', default: 256, help: 'prompt tokens (ttft: of the long prompt)' },
  'output-len': { kind: 'number', default: 64, help: 'generated tokens per request' },
  'short-len': { kind: 'number', default: 16, help: 'ttft: prompt tokens of the short request' },
  seed: { kind: 'number', default: 0, help: 'seed for prompts and random weights' },
  help: { kind: 'boolean', aliases: ['-h'], help: 'show this help' },
  ...MODEL_FLAGS,
};

interface LoadedEngine {
  serving: Serving;
  label: string;
  vocabSize: number;
}

/**
 * The engine a benchmark drives: a checkpoint's through ModelHost, or random weights'; with
 * --data-parallel-size, replica processes (each builds the same random weights itself).
 */
async function loadEngine(options: ModelOptions, shape: string | undefined, dtype: string, seed: number): Promise<LoadedEngine> {
  // NOTE: a benchmark hands over all its requests at once; the queue must take them.
  const benchOptions = { ...options, maxWaiting: Number.POSITIVE_INFINITY };
  const log = (message: string) => console.error(message);
  if (shape === undefined) {
    const host = await ModelHost.load(benchOptions, log);
    return { serving: host.serving, label: host.modelDir, vocabSize: host.spec.vocabSize };
  }
  if (dtype !== 'bfloat16' && dtype !== 'float16' && dtype !== 'float32') throw new UsageError(`--dtype must be bfloat16, float16 or float32`);
  const random: RandomWeights = { shape, dtype, seed };
  const weights = randomEngineWeights(random);
  const label = `random ${shape} ${dtype}`;
  const started = performance.now();
  const ready = () => `${label} ready in ${((performance.now() - started) / 1000).toFixed(1)} s`;
  if ((options.dataParallelSize ?? 1) > 1) {
    const replicas = await ReplicaSet.start(benchOptions, log, random);
    log(`${ready()} as ${replicas.describe()}`);
    return { serving: replicas, label, vocabSize: weights.spec.vocabSize };
  }
  const serving = await ServingEngine.start(weights, NO_TEXT_TOKENIZER, benchOptions);
  const { runner } = serving;
  log(`${ready()} on ${runner.device}; ${runner.numKvBlocks} KV blocks`);
  return { serving, label, vocabSize: weights.spec.vocabSize };
}

/** Deterministic prompts of random ids, distinct per request so the prefix cache cannot help. */
function prompts(count: number, length: number, seed: number, vocab: number): number[][] {
  return randomPrompts(new Array<number>(count).fill(length), seed, vocab);
}

/** One benchmark request: its prompt and how many tokens it generates (EOS ignored). */
interface BenchRequest {
  promptTokenIds: number[];
  maxTokens: number;
}

/** --requests FILE: [{"prompt_token_ids": [...], "max_tokens": N}, ...], ids below the model's vocabulary. */
function readRequests(path: string, vocab: number): BenchRequest[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`--requests ${path}: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) throw new UsageError(`--requests ${path}: expected a non-empty JSON list`);
  return parsed.map((entry: unknown, i) => {
    const { prompt_token_ids: ids, max_tokens: maxTokens } = (entry ?? {}) as { prompt_token_ids?: unknown; max_tokens?: unknown };
    const validIds = Array.isArray(ids) && ids.length > 0 && ids.every((id) => Number.isInteger(id) && id >= 0 && id < vocab);
    if (!validIds) throw new UsageError(`--requests ${path}: entry ${i} needs prompt_token_ids, a non-empty list of token ids below ${vocab}`);
    if (!Number.isInteger(maxTokens) || (maxTokens as number) < 1) throw new UsageError(`--requests ${path}: entry ${i} needs max_tokens >= 1`);
    return { promptTokenIds: ids as number[], maxTokens: maxTokens as number };
  });
}

function request(promptTokenIds: number[], maxTokens: number, temperature = 0): EngineRequest {
  return { promptTokenIds, params: new SamplingParams({ maxTokens, temperature, ignoreEos: true }), adapter: null };
}

/** Resolves with the time of the first output and of the last. */
async function timed(stream: AsyncIterable<RequestOutput>, start: number): Promise<{ ttft: number; total: number; tokens: number }> {
  let ttft = NaN;
  let tokens = 0;
  for await (const output of stream) {
    if (Number.isNaN(ttft)) ttft = performance.now() - start;
    for (const out of output.outputs) tokens += out.tokenIds.length;
  }
  return { ttft, total: performance.now() - start, tokens };
}

async function throughput(serving: Serving, all: BenchRequest[], temperature: number, sequential: boolean): Promise<Record<string, number>> {
  const start = performance.now();
  const results = [];
  const add = (r: BenchRequest) => serving.submit(request(r.promptTokenIds, r.maxTokens, temperature)).outputs;
  if (sequential) {
    for (const r of all) results.push(await timed(add(r), performance.now()));
  } else {
    results.push(...(await Promise.all(all.map((r) => timed(add(r), start)))));
  }
  const seconds = (performance.now() - start) / 1000;
  const outputTokens = results.reduce((sum, r) => sum + r.tokens, 0);
  const inputTokens = all.reduce((sum, r) => sum + r.promptTokenIds.length, 0);
  return {
    seconds,
    outputTokens,
    outputTokensPerSecond: outputTokens / seconds,
    totalTokensPerSecond: (inputTokens + outputTokens) / seconds,
    meanTtftMs: results.reduce((sum, r) => sum + r.ttft, 0) / results.length,
  };
}

async function ttftBehindLong(serving: Serving, vocab: number, longLen: number, shortLen: number, seed: number): Promise<Record<string, number>> {
  const [long, short] = [prompts(1, longLen, seed, vocab)[0] as number[], prompts(1, shortLen, seed + 1, vocab)[0] as number[]];
  const start = performance.now();
  const longDone = timed(serving.submit(request(long, 1)).outputs, start);
  // NOTE: the short request arrives once the long prompt's first step is under way.
  await new Promise((resolve) => setTimeout(resolve, 5));
  const shortStart = performance.now();
  const shortResult = await timed(serving.submit(request(short, 1)).outputs, shortStart);
  const longResult = await longDone;
  return { shortTtftMs: shortResult.ttft, longTtftMs: longResult.ttft };
}

/** Where serve sends its requests, and the engine's counters when the engine runs here. */
interface ServeTarget {
  label: string;
  send: SendRequest;
  vocab: number;
  stats: (() => EngineStats) | null;
  close: () => Promise<void>;
}

/** Requests through the engine in process: no HTTP, for random-weight shapes that have no tokenizer. */
function engineSender(serving: Serving): SendRequest {
  return async function* send(prompt, maxTokens) {
    for await (const output of serving.submit(request(prompt, maxTokens)).outputs) {
      let numTokens = 0;
      for (const out of output.outputs) numTokens += out.tokenIds.length;
      yield { isOutput: numTokens > 0, numTokens };
    }
  };
}

async function serveTarget(flags: ParsedFlags, options: ModelOptions): Promise<ServeTarget> {
  const apiKey = flags['api-key'] as string | undefined;
  const external = flags['base-url'] as string | undefined;
  if (external !== undefined) {
    const listed = (await (await fetch(`${external}/v1/models`, { headers: apiKey ? { Authorization: `Bearer ${apiKey}` } : {} })).json()) as { data: { id: string }[] };
    const model = listed.data[0]?.id ?? '';
    return { label: external, send: httpSender(external, model, apiKey), vocab: flags['prompt-vocab'] as number, stats: null, close: async () => {} };
  }
  const shape = flags['shape'] as string | undefined;
  if (shape !== undefined) {
    const { serving, label, vocabSize } = await loadEngine(options, shape, flags['dtype'] as string, flags['seed'] as number);
    return { label, send: engineSender(serving), vocab: vocabSize, stats: () => serving.stats(), close: async () => serving.dispose() };
  }
  const host = await ModelHost.load(options, (message) => console.error(message));
  const server = await startServer(host, { port: 0, apiKey });
  return {
    label: host.modelDir,
    send: httpSender(server.url, host.servedModelName, apiKey),
    vocab: host.spec.vocabSize,
    stats: () => host.serving.stats(),
    close: async () => {
      await server.shutdown(0);
      host.dispose();
    },
  };
}

function parseRates(text: string): number[] {
  return text.split(',').map((part) => {
    const rate = part.trim() === 'inf' ? Number.POSITIVE_INFINITY : Number(part);
    if (!(rate > 0)) throw new UsageError('--request-rate must be positive numbers or inf, comma-separated');
    return rate;
  });
}

function serveLengths(flags: ParsedFlags): { dataset: string; lengths: LengthPair[] } {
  const dataset = flags['dataset'] as string;
  const count = flags['num-prompts'] as number;
  const seed = flags['seed'] as number;
  if (dataset === 'sharegpt') return { dataset, lengths: sharegptLikeLengths(count, seed) };
  if (dataset !== 'random') throw new UsageError('--dataset must be random or sharegpt');
  const pair = { inputLen: flags['input-len'] as number, outputLen: flags['output-len'] as number };
  return { dataset, lengths: new Array<LengthPair>(count).fill(pair) };
}

async function runServe(flags: ParsedFlags, options: ModelOptions): Promise<number> {
  const rates = parseRates(flags['request-rate'] as string);
  const seed = flags['seed'] as number;
  const sharedPrefixLen = flags['shared-prefix-len'] as number;
  if (!Number.isInteger(sharedPrefixLen) || sharedPrefixLen < 0) throw new UsageError('--shared-prefix-len must be a whole number');
  const { dataset, lengths } = serveLengths(flags);
  const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;
  const target = await serveTarget(flags, options);
  try {
    for (const [r, requestRate] of rates.entries()) {
      // NOTE: fresh prompts for each rate, so one rate's cached blocks do not help the next (the shared prefix aside).
      const prompts = randomPrompts(lengths.map((pair) => pair.inputLen), seed + r, target.vocab, sharedPrefixLen);
      const outputLens = lengths.map((pair) => pair.outputLen);
      const before = target.stats?.();
      const result = await serveBenchmark({ prompts, outputLens, requestRate, seed: seed + r }, target.send);
      const after = target.stats?.();
      const numQueried = before && after ? after.prefixCacheQueryTokens - before.prefixCacheQueryTokens : 0;
      const numHit = before && after ? after.prefixCacheHitTokens - before.prefixCacheHitTokens : 0;
      console.log(JSON.stringify({
        scenario: 'serve',
        server: target.label,
        dataParallelSize: options.dataParallelSize ?? 1,
        dataset,
        numPrompts: prompts.length,
        sharedPrefixLen,
        meanInputLen: mean(prompts.map((prompt) => prompt.length)),
        meanOutputLen: mean(outputLens),
        requestRate: Number.isFinite(requestRate) ? requestRate : 'inf',
        ...rounded(result),
        ...(after ? { prefixCacheHitRate: rounded({ rate: numQueried > 0 ? numHit / numQueried : 0 })['rate'] } : {}),
      }));
    }
  } finally {
    await target.close();
  }
  return 0;
}

function rounded(values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, Math.round(value * 100) / 100]));
}

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, FLAGS);
  if (flags['help']) {
    console.log(helpText('bench', 'Offline engine benchmarks (random weights of a named shape, or --model).', FLAGS));
    return 0;
  }
  const scenario = flags['scenario'] as string;
  if (!['throughput', 'sequential', 'ttft', 'serve'].includes(scenario)) throw new UsageError('--scenario must be throughput, sequential, ttft or serve');
  const options = modelOptionsFrom(flags);
  if (scenario === 'serve') return runServe(flags, options);
  // NOTE: with replicas the short request would go to the idle one: the scenario measures nothing.
  if ((options.dataParallelSize ?? 1) > 1 && scenario === 'ttft') throw new UsageError('--scenario ttft measures one engine: leave out --data-parallel-size');
  const shape = flags['shape'] as string | undefined;
  if (shape === undefined && options.model === undefined) throw new UsageError('give --shape NAME (random weights) or --model DIR');
  const seed = flags['seed'] as number;
  const inputLen = flags['input-len'] as number;
  const outputLen = flags['output-len'] as number;
  const requestsFile = flags['requests'] as string | undefined;
  if (requestsFile !== undefined && scenario === 'ttft') throw new UsageError('--requests goes with --scenario throughput or sequential');
  const temperature = flags['temperature'] as number;
  if (!(temperature >= 0)) throw new UsageError('--temperature must be >= 0');
  const { serving, label, vocabSize: vocab } = await loadEngine(options, shape, flags['dtype'] as string, seed);
  try {
    const requests: BenchRequest[] =
      scenario === 'ttft'
        ? []
        : requestsFile !== undefined
          ? readRequests(requestsFile, vocab)
          : prompts(flags['num-prompts'] as number, inputLen, seed, vocab).map((promptTokenIds) => ({ promptTokenIds, maxTokens: outputLen }));
    const result =
      scenario === 'ttft'
        ? await ttftBehindLong(serving, vocab, inputLen, flags['short-len'] as number, seed)
        : await throughput(serving, requests, temperature, scenario === 'sequential');
    const stats = serving.stats();
    console.log(JSON.stringify({
      scenario,
      model: label,
      ...(requestsFile !== undefined ? { requests: requestsFile, temperature } : {}),
      numPrompts: scenario === 'ttft' ? 2 : requests.length,
      inputLen: requestsFile !== undefined ? requests.reduce((sum, r) => sum + r.promptTokenIds.length, 0) / requests.length : inputLen,
      outputLen: requestsFile !== undefined ? requests.reduce((sum, r) => sum + r.maxTokens, 0) / requests.length : outputLen,
      dataParallelSize: options.dataParallelSize ?? 1,
      chunkedPrefill: options.enableChunkedPrefill,
      maxNumBatchedTokens: options.maxNumBatchedTokens,
      ...rounded(result),
      steps: stats.numStepsTotal,
      preemptions: stats.numPreemptions,
    }));
    return 0;
  } finally {
    serving.dispose();
  }
}
