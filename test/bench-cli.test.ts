/** `swiftlet bench` end to end on small workloads: every scenario reports what it measured. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { repoRoot } from './helpers/paths.js';

const run = promisify(execFile);
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

type BenchResult = Record<string, number | string | boolean>;

/** Every result line of one run. */
async function benchLines(...args: string[]): Promise<BenchResult[]> {
  const { stdout } = await run(process.execPath, [cli, 'bench', '--device', 'cpu', ...args], { timeout: 120_000 });
  return stdout.trim().split('\n').map((line) => JSON.parse(line) as BenchResult);
}

async function bench(...args: string[]): Promise<BenchResult> {
  return (await benchLines(...args)).pop() as BenchResult;
}

test('throughput and sequential count every generated token (random weights of a named shape)', async () => {
  for (const scenario of ['throughput', 'sequential']) {
    const result = await bench('--shape', 'llama-tiny', '--scenario', scenario, '--num-prompts', '6', '--input-len', '40', '--output-len', '5');
    assert.equal(result['outputTokens'], 30, scenario);
    assert.ok((result['outputTokensPerSecond'] as number) > 0, scenario);
  }
});

test('throughput over data-parallel replicas: each builds the random weights, every token counted, ttft refused', async () => {
  const result = await bench('--shape', 'llama-tiny', '--data-parallel-size', '2', '--num-prompts', '6', '--input-len', '40', '--output-len', '5');
  assert.equal(result['dataParallelSize'], 2);
  assert.equal(result['outputTokens'], 30);
  // NOTE: 6 requests of 5 tokens take at least 5 steps on one engine; both replicas stepping makes more.
  assert.ok((result['steps'] as number) >= 10, `steps ${result['steps']}`);
  await assert.rejects(bench('--shape', 'llama-tiny', '-dp', '2', '--scenario', 'ttft'), /--scenario ttft measures one engine/);
});

test('--requests takes prompts and output lengths from a JSON list, and refuses a malformed one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swiftlet-bench-'));
  try {
    const file = join(dir, 'requests.json');
    writeFileSync(file, JSON.stringify([
      { prompt_token_ids: [1, 2, 3, 4, 5], max_tokens: 3 },
      { prompt_token_ids: [7, 8], max_tokens: 9 },
      { prompt_token_ids: Array.from({ length: 30 }, (_, i) => i), max_tokens: 1 },
    ]));
    const result = await bench('--shape', 'llama-tiny', '--requests', file, '--temperature', '0.6');
    assert.equal(result['outputTokens'], 13);
    assert.equal(result['numPrompts'], 3);
    assert.equal(result['inputLen'], 37 / 3);
    assert.equal(result['temperature'], 0.6);
    writeFileSync(file, JSON.stringify([{ prompt_token_ids: [1, 2], max_tokens: 0 }]));
    await assert.rejects(bench('--shape', 'llama-tiny', '--requests', file), /entry 0 needs max_tokens >= 1/);
    writeFileSync(file, '[{"prompt_token_ids": [1e9], "max_tokens": 2}]');
    await assert.rejects(bench('--shape', 'llama-tiny', '--requests', file), /token ids below/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ttft reports the short request behind the long one, with and without chunked prefill', async () => {
  const chunked = await bench('--shape', 'llama-tiny', '--scenario', 'ttft', '--input-len', '600', '--max-num-batched-tokens', '128');
  assert.equal(chunked['chunkedPrefill'], true);
  assert.ok((chunked['shortTtftMs'] as number) > 0);
  const whole = await bench('--shape', 'llama-tiny', '--scenario', 'ttft', '--input-len', '600', '--no-enable-chunked-prefill', '--max-num-batched-tokens', '1024');
  assert.equal(whole['chunkedPrefill'], false);
});

test('serve drives a server at a request rate and reports latency percentiles', async () => {
  const result = await bench('--scenario', 'serve', '--num-prompts', '6', '--input-len', '24', '--output-len', '6', '--request-rate', '20');
  assert.equal(result['outputTokens'], 36);
  for (const key of ['ttftP50Ms', 'ttftP99Ms', 'itlP50Ms', 'e2eP90Ms', 'outputTokensPerSecond']) {
    assert.ok(Number.isFinite(result[key]) && (result[key] as number) > 0, key);
  }
});

test('serve runs each rate of a list, ShareGPT-like lengths, in process on a random-weight shape', async () => {
  // NOTE: seed 2's first two ShareGPT-like pairs are short (at most 255 new tokens): the test stays quick.
  const lines = await benchLines('--scenario', 'serve', '--shape', 'llama-tiny', '--dataset', 'sharegpt', '--seed', '2', '--num-prompts', '2', '--request-rate', '20,inf');
  assert.deepEqual(lines.map((line) => line['requestRate']), [20, 'inf']);
  for (const line of lines) {
    assert.equal(line['dataset'], 'sharegpt');
    assert.equal(line['outputTokens'], 2 * (line['meanOutputLen'] as number));
    for (const key of ['ttftP50Ms', 'ttftP99Ms', 'itlP50Ms', 'itlP99Ms']) assert.ok((line[key] as number) > 0, key);
  }
});

test('serve with a shared system prompt reports the prefix-cache hit rate, and none without the cache', async () => {
  const args = ['--scenario', 'serve', '--num-prompts', '4', '--input-len', '8', '--output-len', '2', '--shared-prefix-len', '96', '--request-rate', '50'];
  const cached = await bench(...args);
  const uncached = await bench(...args, '--no-enable-prefix-caching');
  // 104-token prompts: the first request finds nothing; the others can find the prefix's 6 full blocks once it is computed.
  assert.ok((cached['prefixCacheHitRate'] as number) > 0 && (cached['prefixCacheHitRate'] as number) <= 0.75 * (96 / 104), `${cached['prefixCacheHitRate']}`);
  assert.equal(uncached['prefixCacheHitRate'], 0);
});
