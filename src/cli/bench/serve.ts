/**
 * The serving benchmark (as vLLM's benchmark_serving): requests arrive at a given rate
 * (Poisson, or all at once), each streamed with EOS ignored; reports time to first token,
 * inter-token latency, end-to-end latency percentiles and throughput. The transport is a
 * parameter: an OpenAI-compatible server over HTTP (httpSender), or an engine in process.
 */
import { seededUniform } from './workloads.js';

export interface ServeWorkload {
  prompts: number[][];
  /** Tokens each request generates, parallel to prompts. */
  outputLens: number[];
  /** Requests per second; Infinity sends them all at once. */
  requestRate: number;
  seed: number;
}

/** A streamed chunk: generated output (timed for TTFT and ITL) or not (a usage report), and the tokens it adds to the count. */
export interface StreamedChunk {
  isOutput: boolean;
  numTokens: number;
}

/** Sends one request and yields its chunks as they arrive. */
export type SendRequest = (prompt: number[], maxTokens: number) => AsyncIterable<StreamedChunk>;

interface RequestTiming {
  ttftMs: number;
  itlMs: number[];
  e2eMs: number;
  outputTokens: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

function summary(values: number[], prefix: string): Record<string, number> {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, v) => sum + v, 0) / Math.max(sorted.length, 1);
  return { [`${prefix}MeanMs`]: mean, [`${prefix}P50Ms`]: percentile(sorted, 50), [`${prefix}P90Ms`]: percentile(sorted, 90), [`${prefix}P99Ms`]: percentile(sorted, 99) };
}

/** Exponential gaps with a seeded generator, so a rerun sends the same schedule. */
function arrivalGapsMs(count: number, rate: number, seed: number): number[] {
  if (!Number.isFinite(rate)) return new Array<number>(count).fill(0);
  const uniform = seededUniform(seed * 2654435761 + 7);
  return Array.from({ length: count }, () => (-Math.log(uniform()) / rate) * 1000);
}

/** Streamed /v1/completions of token-id prompts, greedy, EOS ignored, usage in the last chunk. */
export function httpSender(baseUrl: string, model: string, apiKey: string | undefined): SendRequest {
  return async function* send(prompt, maxTokens) {
    const response = await fetch(`${baseUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}) },
      body: JSON.stringify({ model, prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
    });
    if (!response.ok || !response.body) throw new Error(`server answered ${response.status}: ${await response.text()}`);
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const bytes of response.body) {
      buffered += decoder.decode(bytes as Uint8Array, { stream: true });
      let end: number;
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const event = buffered.slice(0, end).replace(/^data: /, '');
        buffered = buffered.slice(end + 2);
        if (event === '[DONE]') continue;
        const chunk = JSON.parse(event) as { choices: { text: string }[]; usage?: { completion_tokens: number } };
        // NOTE: text chunks do not say how many tokens they carry; the usage chunk gives the total.
        if (chunk.choices.length > 0) yield { isOutput: true, numTokens: 0 };
        if (chunk.usage) yield { isOutput: false, numTokens: chunk.usage.completion_tokens };
      }
    }
  };
}

async function timeOne(send: SendRequest, prompt: number[], maxTokens: number): Promise<RequestTiming> {
  const start = performance.now();
  let last = start;
  let ttftMs = NaN;
  const itlMs: number[] = [];
  let outputTokens = 0;
  for await (const { isOutput, numTokens } of send(prompt, maxTokens)) {
    outputTokens += numTokens;
    if (!isOutput) continue;
    const now = performance.now();
    if (Number.isNaN(ttftMs)) ttftMs = now - start;
    else itlMs.push(now - last);
    last = now;
  }
  return { ttftMs, itlMs, e2eMs: performance.now() - start, outputTokens };
}

export async function serveBenchmark(workload: ServeWorkload, send: SendRequest): Promise<Record<string, number>> {
  const gaps = arrivalGapsMs(workload.prompts.length, workload.requestRate, workload.seed);
  const start = performance.now();
  const pending: Promise<RequestTiming>[] = [];
  for (const [i, prompt] of workload.prompts.entries()) {
    const gap = gaps[i] as number;
    if (gap > 0) await new Promise((resolve) => setTimeout(resolve, gap));
    pending.push(timeOne(send, prompt, workload.outputLens[i] as number));
  }
  const timings = await Promise.all(pending);
  const seconds = (performance.now() - start) / 1000;
  const outputTokens = timings.reduce((sum, t) => sum + t.outputTokens, 0);
  return {
    seconds,
    requestsPerSecond: timings.length / seconds,
    outputTokensPerSecond: outputTokens / seconds,
    outputTokens,
    ...summary(timings.map((t) => t.ttftMs), 'ttft'),
    ...summary(timings.flatMap((t) => t.itlMs), 'itl'),
    ...summary(timings.map((t) => t.e2eMs), 'e2e'),
  };
}
