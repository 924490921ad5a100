/**
 * A bounded load test of a swiftlet server, loopback only. It first computes a greedy
 * reference for every (model, endpoint, prompt) alone, then sends `requests` streaming
 * requests at once, a fraction of which disconnect after a few chunks; every completed one
 * must equal its reference token for token. Afterwards /metrics must show no request running
 * or waiting and no KV block in use, and the server must still answer.
 *
 *   npx tsx bench/load-test.ts                      # starts the tiny-qwen2 fixture in-process
 *   npx tsx bench/load-test.ts --url http://127.0.0.1:8000 --requests 200 --disconnect-fraction 0.25
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFlags, type FlagSpecs } from '../src/cli/args.js';
import { MODEL_FLAGS, modelOptionsFrom } from '../src/cli/model-flags.js';
import { ModelHost } from '../src/host/model-host.js';
import { startServer } from '../src/server/server.js';

export interface LoadTestOptions {
  /** Base URL of the server, e.g. http://127.0.0.1:8000; must be a loopback address. */
  url: string;
  numRequests: number;
  /** Share of the requests that disconnect early. */
  disconnectFraction: number;
  maxTokens: number;
  apiKey?: string;
  /** Prompts (each sent to every model, as chat and as completion); a built-in set by default. */
  prompts?: string[];
  log?: (line: string) => void;
}

export interface LoadTestReport {
  numRequests: number;
  numCompleted: number;
  numCorrect: number;
  numDisconnected: number;
  numFailed: number;
  failures: string[];
  seconds: number;
  numGeneratedTokens: number;
  tokensPerSecond: number;
  ttftMs: { p50: number; p90: number; p99: number };
  latencyMs: { p50: number; p90: number; p99: number };
  /** /metrics after the load settled. */
  final: { running: number; waiting: number; kvBlocksUsed: number };
  isServerAnswering: boolean;
  /** Every completed response correct, nothing left in the engine, server still answering. */
  isPassed: boolean;
}

const DEFAULT_PROMPTS = [
  'The quick brown fox',
  'def fib(n):\n    ',
  '浙江 -> 杭州\n安徽 -> 合肥\n四川 ->',
  'Write a haiku about GPUs and caches.',
  'Once upon a time, in a land far away,',
  'SELECT name FROM users WHERE',
  'who are you?',
  'List three prime numbers:',
];

type Endpoint = 'chat' | 'completion';

interface Template {
  model: string;
  endpoint: Endpoint;
  prompt: string;
}

interface Reference {
  ids: number[];
  text: string;
  finishReason: string | null;
}

interface StreamResult {
  ids: number[];
  text: string;
  finishReason: string | null;
  ttftMs: number | null;
  numChunks: number;
  isDisconnected: boolean;
  error: string | null;
}

function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host)) throw new Error(`the load test runs against loopback only, not ${host}`);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

function summary(values: number[]): { p50: number; p90: number; p99: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 10) / 10;
  return { p50: round(percentile(sorted, 50)), p90: round(percentile(sorted, 90)), p99: round(percentile(sorted, 99)) };
}

function body(template: Template, maxTokens: number, stream: boolean): Record<string, unknown> {
  const common = {
    model: template.model,
    max_tokens: maxTokens,
    temperature: 0,
    ignore_eos: true,
    return_tokens_as_token_ids: true,
    stream,
  };
  return template.endpoint === 'chat'
    ? { ...common, messages: [{ role: 'user', content: template.prompt }], logprobs: true }
    : { ...common, prompt: template.prompt, logprobs: 0 };
}

function path(endpoint: Endpoint): string {
  return endpoint === 'chat' ? '/v1/chat/completions' : '/v1/completions';
}

function idsOf(tokens: readonly string[]): number[] {
  return tokens.map((token) => Number(/^token_id:(\d+)$/.exec(token)?.[1] ?? Number.NaN));
}

interface ChoiceJson {
  text?: string;
  message?: { content?: string };
  delta?: { content?: string };
  logprobs?: { tokens?: string[]; content?: { token: string }[] } | null;
  finish_reason?: string | null;
}

function choiceTokens(choice: ChoiceJson): string[] {
  return choice.logprobs?.tokens ?? choice.logprobs?.content?.map((entry) => entry.token) ?? [];
}

class LoadClient {
  constructor(
    private readonly url: string,
    private readonly apiKey: string | undefined,
  ) {}

  private headers(): Record<string, string> {
    return { 'Content-Type': 'application/json', ...(this.apiKey ? { Authorization: `Bearer ${this.apiKey}` } : {}) };
  }

  async models(): Promise<string[]> {
    const response = await fetch(`${this.url}/v1/models`, { headers: this.headers() });
    if (!response.ok) throw new Error(`/v1/models: ${response.status}`);
    return ((await response.json()) as { data: { id: string }[] }).data.map((model) => model.id);
  }

  async reference(template: Template, maxTokens: number): Promise<Reference> {
    const response = await fetch(`${this.url}${path(template.endpoint)}`, {
      method: 'POST',
      headers: this.headers(),
      body: JSON.stringify(body(template, maxTokens, false)),
    });
    if (!response.ok) throw new Error(`reference for ${JSON.stringify(template)}: ${response.status} ${await response.text()}`);
    const choice = ((await response.json()) as { choices: ChoiceJson[] }).choices[0] ?? {};
    return { ids: idsOf(choiceTokens(choice)), text: choice.text ?? choice.message?.content ?? '', finishReason: choice.finish_reason ?? null };
  }

  /** Streams one request; with `disconnectAfter`, drops the connection after that many chunks. */
  async stream(template: Template, maxTokens: number, disconnectAfter: number | null): Promise<StreamResult> {
    const started = performance.now();
    const controller = new AbortController();
    const result: StreamResult = { ids: [], text: '', finishReason: null, ttftMs: null, numChunks: 0, isDisconnected: false, error: null };
    try {
      const response = await fetch(`${this.url}${path(template.endpoint)}`, {
        method: 'POST',
        headers: this.headers(),
        body: JSON.stringify(body(template, maxTokens, true)),
        signal: controller.signal,
      });
      if (!response.ok || !response.body) {
        result.error = `HTTP ${response.status}: ${await response.text()}`;
        return result;
      }
      const decoder = new TextDecoder();
      let buffer = '';
      let isDone = false;
      for await (const bytes of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(bytes, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!event.startsWith('data: ')) continue;
          const data = event.slice('data: '.length);
          if (data === '[DONE]') {
            isDone = true;
            continue;
          }
          const chunk = JSON.parse(data) as { choices?: ChoiceJson[]; error?: { message: string } };
          if (chunk.error) {
            result.error = `stream error: ${chunk.error.message}`;
            continue;
          }
          const choice = chunk.choices?.[0];
          if (!choice) continue;
          result.ttftMs ??= performance.now() - started;
          result.numChunks++;
          result.text += choice.text ?? choice.delta?.content ?? '';
          result.ids.push(...idsOf(choiceTokens(choice)));
          result.finishReason = choice.finish_reason ?? result.finishReason;
          if (disconnectAfter !== null && result.numChunks >= disconnectAfter) {
            result.isDisconnected = true;
            controller.abort();
            return result;
          }
        }
      }
      if (!isDone && result.error === null) result.error = 'stream ended without [DONE]';
    } catch (error) {
      if (!result.isDisconnected) result.error = (error as Error).message;
    }
    return result;
  }

  async metrics(): Promise<LoadTestReport['final']> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    const value = (name: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
      return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    return {
      running: value('swiftlet:num_requests_running'),
      waiting: value('swiftlet:num_requests_waiting'),
      kvBlocksUsed: value('swiftlet:kv_cache_blocks_used'),
    };
  }

  async isAnswering(model: string): Promise<boolean> {
    try {
      const health = await fetch(`${this.url}/health`);
      const completion = await fetch(`${this.url}/v1/completions`, {
        method: 'POST',
        headers: this.headers(),
        body: JSON.stringify({ model, prompt: 'still there?', max_tokens: 2 }),
      });
      return health.status === 200 && completion.status === 200;
    } catch {
      return false;
    }
  }
}

export async function runLoadTest(options: LoadTestOptions): Promise<LoadTestReport> {
  assertLoopback(options.url);
  const log = options.log ?? (() => {});
  const client = new LoadClient(options.url.replace(/\/$/, ''), options.apiKey);
  const models = await client.models();
  const templates: Template[] = [];
  for (const prompt of options.prompts ?? DEFAULT_PROMPTS) {
    for (const model of models) for (const endpoint of ['chat', 'completion'] as const) templates.push({ model, endpoint, prompt });
  }

  log(`references: ${templates.length} requests (${models.length} models x 2 endpoints x prompts), one at a time`);
  const references: Reference[] = [];
  for (const template of templates) references.push(await client.reference(template, options.maxTokens));

  const numDisconnecting = Math.round(options.numRequests * options.disconnectFraction);
  const everyNth = numDisconnecting === 0 ? Number.POSITIVE_INFINITY : options.numRequests / numDisconnecting;
  log(`load: ${options.numRequests} concurrent streaming requests, ${numDisconnecting} disconnecting early, max_tokens ${options.maxTokens}`);
  const started = performance.now();
  const jobs = Array.from({ length: options.numRequests }, (_, i) => {
    const templateIndex = i % templates.length;
    const isDisconnecting = Math.floor((i + 1) / everyNth) > Math.floor(i / everyNth);
    const disconnectAfter = isDisconnecting ? 1 + (i % Math.max(1, Math.floor(options.maxTokens / 2))) : null;
    const requestStarted = performance.now();
    return client
      .stream(templates[templateIndex] as Template, options.maxTokens, disconnectAfter)
      .then((result) => ({ i, templateIndex, result, latencyMs: performance.now() - requestStarted }));
  });
  const outcomes = await Promise.all(jobs);
  const seconds = (performance.now() - started) / 1000;

  const failures: string[] = [];
  let numCompleted = 0;
  let numCorrect = 0;
  let numDisconnected = 0;
  let numGeneratedTokens = 0;
  const ttfts: number[] = [];
  const latencies: number[] = [];
  for (const { i, templateIndex, result, latencyMs } of outcomes) {
    numGeneratedTokens += result.ids.length;
    if (result.ttftMs !== null) ttfts.push(result.ttftMs);
    if (result.error !== null) {
      failures.push(`request ${i}: ${result.error}`);
      continue;
    }
    if (result.isDisconnected) {
      numDisconnected++;
      continue;
    }
    numCompleted++;
    latencies.push(latencyMs);
    const expected = references[templateIndex] as Reference;
    const template = templates[templateIndex] as Template;
    const isCorrect =
      result.text === expected.text &&
      result.finishReason === expected.finishReason &&
      result.ids.length === expected.ids.length &&
      result.ids.every((id, k) => id === expected.ids[k]);
    if (isCorrect) numCorrect++;
    else failures.push(`request ${i} (${template.model}, ${template.endpoint}, ${JSON.stringify(template.prompt)}): output differs from its reference`);
  }

  // NOTE: aborts land when the engine step in flight returns, so give the server a moment.
  let final = await client.metrics();
  const deadline = Date.now() + 10_000;
  while ((final.running !== 0 || final.waiting !== 0 || final.kvBlocksUsed !== 0) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    final = await client.metrics();
  }
  const isServerAnswering = await client.isAnswering(models[0] as string);
  const report: LoadTestReport = {
    numRequests: options.numRequests,
    numCompleted,
    numCorrect,
    numDisconnected,
    numFailed: failures.length,
    failures,
    seconds: Math.round(seconds * 100) / 100,
    numGeneratedTokens,
    tokensPerSecond: Math.round(numGeneratedTokens / seconds),
    ttftMs: summary(ttfts),
    latencyMs: summary(latencies),
    final,
    isServerAnswering,
    isPassed:
      failures.length === 0 &&
      numCompleted + numDisconnected === options.numRequests &&
      final.running === 0 &&
      final.waiting === 0 &&
      final.kvBlocksUsed === 0 &&
      isServerAnswering,
  };
  return report;
}

const FLAGS: FlagSpecs = {
  url: { kind: 'string', help: 'server to load (loopback); default: start the tiny-qwen2 fixture in-process' },
  requests: { kind: 'number', default: 200, help: 'concurrent streaming requests' },
  'disconnect-fraction': { kind: 'number', default: 0.25, help: 'share of requests that disconnect early' },
  'max-tokens': { kind: 'number', default: 32, help: 'tokens per request' },
  'api-key': { kind: 'string', help: 'bearer key for the server' },
  ...MODEL_FLAGS,
};

async function main(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, FLAGS);
  let url = flags['url'] as string | undefined;
  let stop = async () => {};
  if (url === undefined) {
    const fixtures = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'test', 'fixtures');
    if (flags['model'] === undefined) {
      flags['model'] = join(fixtures, 'tiny-qwen2');
      flags['served-model-name'] ??= 'tiny-qwen2';
      flags['lora-modules'] ??= [`a=${join(fixtures, 'tiny-qwen2-lora-a')}`];
      flags['kv-cache-memory'] ??= '256MiB';
    }
    const host = await ModelHost.load(modelOptionsFrom(flags), (line) => console.error(line));
    const server = await startServer(host, { port: 0 });
    url = server.url;
    stop = async () => {
      await server.shutdown(1000);
      host.dispose();
    };
  }
  try {
    const report = await runLoadTest({
      url,
      numRequests: flags['requests'] as number,
      disconnectFraction: flags['disconnect-fraction'] as number,
      maxTokens: flags['max-tokens'] as number,
      apiKey: flags['api-key'] as string | undefined,
      log: (line) => console.error(line),
    });
    console.log(JSON.stringify({ ...report, failures: report.failures.slice(0, 20) }, null, 2));
    return report.isPassed ? 0 : 1;
  } finally {
    await stop();
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2));
}
