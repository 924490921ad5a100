/**
 * `swiftlet bench`: offline engine benchmarks on a checkpoint or on random weights of a
 * named shape (no download), generation ignoring EOS, results as one JSON line.
 *   --scenario throughput   N requests arriving together (output tokens/s); --requests FILE
 *                           takes the prompts and lengths from a JSON list instead
 *   --scenario sequential   the same requests one at a time
 *   --scenario ttft         a short request arriving while a long prompt is being computed
 *   --scenario serve        streamed requests at --request-rate against a server (--base-url,
 *                           or one started here on --model): TTFT / ITL / latency percentiles
 */
import { readFileSync } from 'node:fs';
import { helpText, parseFlags, UsageError, type FlagSpecs, type ParsedFlags } from '../args.js';
import { serveBenchmark } from '../bench/serve.js';
import { startServer } from '../../server/server.js';
import { MODEL_FLAGS, modelOptionsFrom, type ModelOptions } from '../model-flags.js';
import { NO_TEXT_TOKENIZER } from '../../engine/engine-tokenizer.js';
import type { RequestOutput } from '../../engine/output.js';
import { SamplingParams } from '../../engine/sampling-params.js';
import { ModelHost } from '../../host/model-host.js';
import { ServingEngine, type EngineRequest } from '../../host/serving-engine.js';
import { randomModel, RANDOM_MODEL_CONFIGS } from '../../model/random-weights.js';

const FLAGS: FlagSpecs = {
  scenario: { kind: 'string', default: 'throughput', help: 'throughput, sequential, ttft or serve' },
  'base-url': { kind: 'string', help: 'serve: a running swiftlet deploy (or any OpenAI-compatible server); default: start one here on --model' },
  'request-rate': { kind: 'string', default: 'inf', help: 'serve: requests per second (Poisson arrivals), or inf for all at once' },
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


/** The serving engine a benchmark drives: a checkpoint's through ModelHost, or random weights'. */
async function loadEngine(options: ModelOptions, shape: string | undefined, dtype: string, seed: number): Promise<{ serving: ServingEngine; label: string }> {
  // NOTE: a benchmark hands over all its requests at once; the queue must take them.
  const benchOptions = { ...options, maxWaiting: Number.POSITIVE_INFINITY };
  if (shape === undefined) {
    const host = await ModelHost.load(benchOptions, (message) => console.error(message));
    return { serving: host.serving, label: host.modelDir };
  }
  if (dtype !== 'bfloat16' && dtype !== 'float16' && dtype !== 'float32') throw new UsageError(`--dtype must be bfloat16, float16 or float32`);
  const { spec, source } = randomModel(shape, { seed, dtype });
  const started = performance.now();
  const serving = await ServingEngine.start({ spec, source, randomSeed: seed }, NO_TEXT_TOKENIZER, benchOptions);
  const { runner } = serving;
  console.error(`random ${shape} (${dtype}) on ${runner.device} ready in ${((performance.now() - started) / 1000).toFixed(1)} s; ${runner.numKvBlocks} KV blocks`);
  return { serving, label: `random ${shape} ${dtype}` };
}

/** Deterministic prompts of random ids, distinct per request so the prefix cache cannot help. */
function prompts(count: number, length: number, seed: number, vocab: number): number[][] {
  let state = (seed * 2654435761 + 1) >>> 0;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % vocab;
  };
  return Array.from({ length: count }, () => Array.from({ length }, next));
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

async function throughput(serving: ServingEngine, all: BenchRequest[], temperature: number, sequential: boolean): Promise<Record<string, number>> {
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

async function ttftBehindLong(serving: ServingEngine, longLen: number, shortLen: number, seed: number): Promise<Record<string, number>> {
  const vocab = serving.runner.spec.vocabSize;
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

async function runServe(flags: ParsedFlags, options: ModelOptions): Promise<number> {
  const rateText = flags['request-rate'] as string;
  const requestRate = rateText === 'inf' ? Number.POSITIVE_INFINITY : Number(rateText);
  if (!(requestRate > 0)) throw new UsageError('--request-rate must be a positive number or inf');
  const seed = flags['seed'] as number;
  const common = { requestRate, seed, outputLen: flags['output-len'] as number, apiKey: flags['api-key'] as string | undefined };
  const count = flags['num-prompts'] as number;
  const inputLen = flags['input-len'] as number;
  const external = flags['base-url'] as string | undefined;
  let result: Record<string, number>;
  let label: string;
  if (external !== undefined) {
    label = external;
    const listed = (await (await fetch(`${external}/v1/models`, { headers: common.apiKey ? { Authorization: `Bearer ${common.apiKey}` } : {} })).json()) as { data: { id: string }[] };
    const model = listed.data[0]?.id ?? '';
    result = await serveBenchmark({ ...common, baseUrl: external, model, prompts: prompts(count, inputLen, seed, flags['prompt-vocab'] as number) });
  } else {
    const host = await ModelHost.load(options, (message) => console.error(message));
    const server = await startServer(host, { port: 0, apiKey: common.apiKey });
    label = host.modelDir;
    try {
      result = await serveBenchmark({ ...common, baseUrl: server.url, model: host.servedModelName, prompts: prompts(count, inputLen, seed, host.spec.vocabSize) });
    } finally {
      await server.shutdown(0);
      host.dispose();
    }
  }
  console.log(JSON.stringify({ scenario: 'serve', server: label, numPrompts: count, inputLen, outputLen: common.outputLen, requestRate: rateText, ...rounded(result) }));
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
  const shape = flags['shape'] as string | undefined;
  if (shape === undefined && options.model === undefined) throw new UsageError('give --shape NAME (random weights) or --model DIR');
  const seed = flags['seed'] as number;
  const inputLen = flags['input-len'] as number;
  const outputLen = flags['output-len'] as number;
  const requestsFile = flags['requests'] as string | undefined;
  if (requestsFile !== undefined && scenario === 'ttft') throw new UsageError('--requests goes with --scenario throughput or sequential');
  const temperature = flags['temperature'] as number;
  if (!(temperature >= 0)) throw new UsageError('--temperature must be >= 0');
  const { serving, label } = await loadEngine(options, shape, flags['dtype'] as string, seed);
  const { engine } = serving;
  try {
    const vocab = serving.runner.spec.vocabSize;
    const requests: BenchRequest[] =
      scenario === 'ttft'
        ? []
        : requestsFile !== undefined
          ? readRequests(requestsFile, vocab)
          : prompts(flags['num-prompts'] as number, inputLen, seed, vocab).map((promptTokenIds) => ({ promptTokenIds, maxTokens: outputLen }));
    const result =
      scenario === 'ttft'
        ? await ttftBehindLong(serving, inputLen, flags['short-len'] as number, seed)
        : await throughput(serving, requests, temperature, scenario === 'sequential');
    const stats = engine.stats();
    console.log(JSON.stringify({
      scenario,
      model: label,
      ...(requestsFile !== undefined ? { requests: requestsFile, temperature } : {}),
      numPrompts: scenario === 'ttft' ? 2 : requests.length,
      inputLen: requestsFile !== undefined ? requests.reduce((sum, r) => sum + r.promptTokenIds.length, 0) / requests.length : inputLen,
      outputLen: requestsFile !== undefined ? requests.reduce((sum, r) => sum + r.maxTokens, 0) / requests.length : outputLen,
      chunkedPrefill: engine.config.enableChunkedPrefill,
      maxNumBatchedTokens: engine.config.maxNumBatchedTokens,
      ...rounded(result),
      steps: stats.numStepsTotal,
      preemptions: stats.numPreemptions,
    }));
    return 0;
  } finally {
    serving.dispose();
  }
}
