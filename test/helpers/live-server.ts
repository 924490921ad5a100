/**
 * A live swiftlet server on 127.0.0.1 (a free port) over the tiny-qwen2 fixture with its
 * LoRA adapter `a`, plus the fixture's reference outputs and small HTTP helpers.
 */
import OpenAI from 'openai';
import type { ModelOptions } from '../../src/cli/model-flags.js';
import { ModelHost } from '../../src/host/model-host.js';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server/server.js';
import { loraDir as ADAPTER_DIR, modelDir as MODEL_DIR } from './reference.js';

export const MODEL_NAME = 'tiny-qwen2';
export const ADAPTER_NAME = 'a';
export { ADAPTER_DIR, MODEL_DIR };
export { reference } from './reference.js';
export type { ReferenceChat as ChatReference, ReferenceRaw as RawReference } from './reference.js';

export function fixtureModelOptions(overrides: Partial<ModelOptions> = {}): ModelOptions {
  return {
    model: MODEL_DIR,
    servedModelName: MODEL_NAME,
    loraModules: [{ name: ADAPTER_NAME, path: ADAPTER_DIR }],
    maxLoras: 4,
    maxLoraRank: 64,
    maxModelLen: undefined,
    device: 'cpu',
    tensorParallelSize: 1,
    maxNumSeqs: 256,
    maxNumBatchedTokens: 2048,
    kvCacheBytes: 64 * 1024 * 1024,
    gpuMemoryUtilization: 0.9,
    enablePrefixCaching: true,
    enableChunkedPrefill: true,
    useGenerationConfig: true,
    chatTemplate: undefined,
    numThreads: undefined,
    maxWaiting: 1024,
    ...overrides,
  };
}

export interface LiveServer {
  server: RunningServer;
  host: ModelHost;
  url: string;
  client: OpenAI;
  close(): Promise<void>;
}

export async function startLiveServer(model: Partial<ModelOptions> = {}, options: ServerOptions = {}): Promise<LiveServer> {
  const host = await ModelHost.load(fixtureModelOptions(model));
  const server = await startServer(host, { hostname: '127.0.0.1', port: 0, ...options });
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: options.apiKey ?? 'unused', maxRetries: 0 });
  return {
    server,
    host,
    url: server.url,
    client,
    close: async () => {
      await server.shutdown(0);
      host.dispose();
    },
  };
}

/** Reads the token ids back from logprobs rendered with return_tokens_as_token_ids. */
export function idsFromTokens(tokens: readonly string[]): number[] {
  return tokens.map((token) => {
    const match = /^token_id:(\d+)$/.exec(token);
    if (!match) throw new Error(`not a token_id: ${token}`);
    return Number(match[1]);
  });
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: unknown; text: string; headers: Headers }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON (plain text or SSE)
  }
  return { status: res.status, json, text, headers: res.headers };
}

/**
 * A sample's value in Prometheus text: `name` alone matches its first series, `name{...}` that
 * series exactly. A series not (yet) exported is `missing` when given, else an error.
 */
export function metricValue(text: string, name: string, missing?: number): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  if (line === undefined && missing !== undefined) return missing;
  if (line === undefined) throw new Error(`metric ${name} not found`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

export async function scrape(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

/** Polls until `check` holds (engine bookkeeping after an abort lands within a step). */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
