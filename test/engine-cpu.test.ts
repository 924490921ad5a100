/**
 * The engine's contracts on the real CPU runner and the fixture model (issue 3): prefix
 * reuse gives transformers' logprobs, a request's output does not depend on its batch, and
 * preemption under a small KV pool still completes every request correctly.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { parseFlags } from '../src/cli/args.js';
import { MODEL_FLAGS, modelOptionsFrom } from '../src/cli/model-flags.js';
import { accumulateOutputs, type RequestOutput } from '../src/engine/output.js';
import { SamplingParams, type SamplingParamsInit } from '../src/engine/sampling-params.js';
import { ModelHost } from '../src/host/model-host.js';
import { LOGPROB_TOLERANCE, modelDir, reference } from './helpers/reference.js';

const hosts: ModelHost[] = [];
after(() => hosts.forEach((host) => host.dispose()));

async function loadHost(...flags: string[]): Promise<ModelHost> {
  const { flags: parsed } = parseFlags(['--model', modelDir, '--device', 'cpu', '--kv-cache-memory', '16MiB', ...flags], MODEL_FLAGS);
  const host = await ModelHost.load(modelOptionsFrom(parsed));
  hosts.push(host);
  return host;
}

let nextId = 0;
async function generate(host: ModelHost, promptTokenIds: number[], init: SamplingParamsInit): Promise<RequestOutput> {
  const deltas: RequestOutput[] = [];
  for await (const delta of host.engine.add({ requestId: `r${nextId++}`, promptTokenIds, params: new SamplingParams(init) })) deltas.push(delta);
  return accumulateOutputs(deltas);
}

function firstTop(output: RequestOutput): [number, number][] {
  const entry = output.outputs[0]?.logprobs?.[0];
  assert.ok(entry, 'the output has logprobs');
  return entry.top;
}

function assertCloseTop(actual: [number, number][], expected: [number, number][], label: string): void {
  assert.deepEqual(actual.map(([id]) => id), expected.map(([id]) => id), `${label}: top-5 ids`);
  for (const [i, [, lp]] of expected.entries()) {
    assert.ok(Math.abs((actual[i]?.[1] ?? NaN) - lp) <= LOGPROB_TOLERANCE, `${label}: top[${i}] ${actual[i]?.[1]} vs ${lp}`);
  }
}

test('a prompt sharing a 400-token prefix reuses its blocks and keeps transformers\' logprobs', async () => {
  const shared = reference.logprobs.filter((entry) => entry.ids.length === 440);
  assert.equal(shared.length, 2);
  const [first, second] = shared as [(typeof shared)[0], (typeof shared)[0]];
  assert.deepEqual(first.ids.slice(0, 400), second.ids.slice(0, 400));
  const params = { maxTokens: 1, temperature: 0, logprobs: 5 };

  const cached = await loadHost();
  await generate(cached, first.ids, params);
  const before = cached.engine.stats().prefixCacheHitTokens;
  const withCache = await generate(cached, second.ids, params);
  assert.equal(cached.engine.stats().prefixCacheHitTokens - before, 400, 'the 25 shared blocks are hits');
  assert.equal(withCache.numCachedPromptTokens, 400);

  const uncached = await loadHost('--no-enable-prefix-caching');
  const withoutCache = await generate(uncached, second.ids, params);
  assert.equal(uncached.engine.stats().prefixCacheHitTokens, 0);

  assertCloseTop(firstTop(withCache), second.next_top, 'with prefix caching');
  assertCloseTop(firstTop(withoutCache), second.next_top, 'without prefix caching');
  assert.deepEqual(firstTop(withCache), firstTop(withoutCache), 'bit-identical with and without the cache');
});

test('greedy and seeded outputs are identical alone and among 30 others arriving at random steps', async () => {
  const host = await loadHost('--max-num-batched-tokens', '256');
  const target = reference.chat[1]!.prompt_ids;
  const greedy = { maxTokens: 24, temperature: 0, logprobs: 2 };
  const seeded = { maxTokens: 24, temperature: 0.9, topP: 0.95, topK: 50, seed: 1234, logprobs: 2 };
  const aloneGreedy = await generate(host, target, greedy);
  const aloneSeeded = await generate(host, target, seeded);
  host.engine.resetPrefixCache();

  let state = 42;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const others: Promise<RequestOutput>[] = [];
  const launch = () => {
    const length = 1 + Math.floor(random() * 300);
    const prompt = Array.from({ length }, () => Math.floor(random() * 151000));
    others.push(generate(host, prompt, { maxTokens: 1 + Math.floor(random() * 30), temperature: random(), seed: Math.floor(random() * 1000) }));
  };
  for (let i = 0; i < 15; i++) launch();
  const mixedGreedy = generate(host, target, greedy);
  const mixedSeeded = generate(host, target, seeded);
  for (let i = 0; i < 15; i++) {
    await new Promise((resolve) => setTimeout(resolve, random() * 20));
    launch();
  }
  const [g, s] = await Promise.all([mixedGreedy, mixedSeeded, ...others]);
  assert.deepEqual(g!.outputs, aloneGreedy.outputs, 'greedy output (tokens, text, logprobs) unchanged by the batch');
  assert.deepEqual(s!.outputs, aloneSeeded.outputs, 'seeded output unchanged by the batch');
  assert.deepEqual(aloneGreedy.outputs[0]!.tokenIds, reference.chat[1]!.output_ids.slice(0, 24));
  assert.equal(host.engine.stats().numKvBlocksUsed, 0);
});

test('with a KV pool too small for all requests at once, preemption completes each correctly', async () => {
  // 2 layers x 2 KV heads x 16 dims x (K + V) x fp32 = 512 bytes per token: 24 blocks of 16 tokens.
  const host = await loadHost('--kv-cache-memory', String(24 * 16 * 512));
  const requests = reference.chat.map((entry) => generate(host, entry.prompt_ids, { maxTokens: 48, temperature: 0 }));
  const outputs = await Promise.all(requests);
  outputs.forEach((output, i) => assert.deepEqual(output.outputs[0]!.tokenIds, reference.chat[i]!.output_ids, `chat ${i}`));
  assert.ok(host.engine.stats().numPreemptions > 0, 'the pool forced preemptions');
  assert.equal(host.engine.stats().numKvBlocksUsed, 0);
});
