/**
 * Asynchronous scheduling (EngineConfig.asyncScheduling) against the one-step-at-a-time loop on
 * the fake runner, whose KV cache is real enough that a block written by a sequence's dropped
 * extra token after it was freed and reused would change someone's output: the same requests
 * must give the same outputs (tokens, text, logprobs, finish and stop reasons) either way.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LLMEngine, type AddRequest, type EngineConfig } from '../src/engine/engine.js';
import type { RequestOutput } from '../src/engine/output.js';
import { SamplingParams, type SamplingParamsInit } from '../src/engine/sampling-params.js';
import { FakeRunner, FakeTokenizer, type FakeRunnerOptions } from './helpers/fake-runner.js';
import { runBothModes } from './helpers/scheduling-modes.js';
import { seededRandom } from './helpers/seeded-random.js';

function makeEngine(asyncScheduling: boolean, engine: Partial<EngineConfig> = {}, runner: FakeRunnerOptions = {}) {
  const fake = new FakeRunner(runner);
  return { engine: new LLMEngine(fake, new FakeTokenizer(fake.spec.vocabSize), { ...engine, asyncScheduling }) };
}

function randomPrompt(random: () => number, length: number): number[] {
  return Array.from({ length }, () => 1 + Math.floor(random() * 95));
}

/** Both modes over one fake runner, one after the other (a fresh engine and block pool each). */
function runBothWays(requests: AddRequest[], engine: Partial<EngineConfig> = {}, runner: FakeRunnerOptions = {}) {
  const fake = new FakeRunner(runner);
  return runBothModes(fake, (counting, asyncScheduling) => new LLMEngine(counting, new FakeTokenizer(fake.spec.vocabSize), { ...engine, asyncScheduling }), requests);
}

/** A mixed workload: greedy and seeded, logprobs, n = 2, stop tokens, min/max tokens, prompt logprobs, shared prefixes. */
function mixedRequests(seed: number, count: number, extra: (i: number) => SamplingParamsInit = () => ({})): AddRequest[] {
  const random = seededRandom(seed);
  const sharedPrefix = randomPrompt(random, 48);
  return Array.from({ length: count }, (_, i) => {
    const prompt = i % 3 === 0 ? [...sharedPrefix, ...randomPrompt(random, 1 + Math.floor(random() * 20))] : randomPrompt(random, 1 + Math.floor(random() * 90));
    const init: SamplingParamsInit = {
      maxTokens: 3 + Math.floor(random() * 40),
      temperature: i % 2 === 0 ? 0 : 0.8,
      seed: i,
      logprobs: i % 4 === 0 ? 3 : null,
      n: i % 7 === 0 ? 2 : 1,
      stopTokenIds: i % 5 === 0 ? [1 + Math.floor(random() * 95)] : [],
      minTokens: i % 6 === 0 ? 3 : 0,
      promptLogprobs: i % 9 === 0 ? 2 : null,
      ...extra(i),
    };
    return { requestId: `r${i}`, promptTokenIds: prompt, params: new SamplingParams(init) };
  });
}

test('a mixed workload gives the same outputs launched ahead as one step at a time', async () => {
  const requests = mixedRequests(1, 40);
  const { sync, ahead } = await runBothWays(requests, { maxNumBatchedTokens: 256 });
  assert.deepEqual(ahead.outputs, sync.outputs);
  assert.ok(ahead.numStepsAhead > 10, `${ahead.numStepsAhead} steps took their tokens from the step before`);
  assert.ok(sync.outputs.some((o) => o.outputs.some((c) => c.finishReason === 'stop')), 'some requests stopped on a token');
});

test('stop strings end a request at the same text when its next token is already in flight', async () => {
  const prompt = randomPrompt(seededRandom(2), 30);
  const base = { temperature: 0, maxTokens: 30, ignoreEos: true };
  const { sync } = await runBothWays([{ requestId: 'probe', promptTokenIds: prompt, params: new SamplingParams(base) }]);
  const text = sync.outputs[0]?.outputs[0]?.text ?? '';
  const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3);
  const requests = [0, 1].map((i) => ({ requestId: `s${i}`, promptTokenIds: prompt, params: new SamplingParams({ ...base, stop: [stop], includeStopStrInOutput: i === 1 }) }));
  const both = await runBothWays(requests);
  assert.deepEqual(both.ahead.outputs, both.sync.outputs);
  assert.equal(both.ahead.outputs[0]?.outputs[0]?.finishReason, 'stop');
  assert.ok((both.ahead.outputs[0]?.outputs[0]?.tokenIds.length ?? 30) < 30, 'the stop string ended it early');
});

test('a KV pool too small for everyone: the same outputs, preempting only in one-at-a-time steps', async () => {
  const requests = mixedRequests(3, 24, () => ({ maxTokens: 60, ignoreEos: true }));
  const { sync, ahead } = await runBothWays(requests, {}, { numKvBlocks: 20 });
  assert.deepEqual(ahead.outputs, sync.outputs);
  assert.ok(ahead.engine.stats().numPreemptions > 0, 'the pool forced preemptions');
  assert.ok(ahead.numStepsAhead > 0);
});

test('penalties fall back to one step at a time while a penalised token is in flight, with the same outputs', async () => {
  const requests = mixedRequests(4, 16, (i) => (i % 4 === 1 ? { repetitionPenalty: 1.3, presencePenalty: 0.5 } : {}));
  const { sync, ahead } = await runBothWays(requests);
  assert.deepEqual(ahead.outputs, sync.outputs);
});

test('an abort mid-stream ends the request with a prefix of its full output; the others are unchanged', async () => {
  const requests = mixedRequests(5, 6, () => ({ maxTokens: 40, ignoreEos: true }));
  const { sync } = await runBothWays(requests);
  const { engine } = makeEngine(true);
  const streams = requests.map((request) => engine.add(request));
  const collected = await Promise.all(
    streams.map(async (stream, i) => {
      const deltas: RequestOutput[] = [];
      for await (const delta of stream) {
        deltas.push(delta);
        if (i === 0 && deltas.length === 4) assert.equal(engine.abort('r0'), true);
      }
      return deltas;
    }),
  );
  const aborted = collected[0] as RequestOutput[];
  const last = aborted[aborted.length - 1] as RequestOutput;
  assert.equal(last.outputs[0]?.finishReason, 'abort');
  const tokens = aborted.flatMap((d) => d.outputs[0]?.tokenIds ?? []);
  assert.ok(tokens.length < 40);
  assert.deepEqual(tokens, sync.outputs[0]?.outputs[0]?.tokenIds.slice(0, tokens.length), 'no token after the abort, none out of place');
  for (let i = 1; i < requests.length; i++) {
    const tokenIds = (collected[i] as RequestOutput[]).flatMap((d) => d.outputs.flatMap((c) => c.tokenIds));
    assert.deepEqual(tokenIds, sync.outputs[i]?.outputs.flatMap((c) => c.tokenIds), `request ${i}`);
  }
  assert.equal(engine.stats().numKvBlocksUsed, 0);
});

test('a failed step fails its requests and the step launched behind it; the engine goes on serving', async () => {
  let fail = true;
  const { engine } = makeEngine(true, {}, { failWhen: (b) => fail && b.numTokens > 100 });
  const running = engine.generate([{ requestId: 'early', promptTokenIds: randomPrompt(seededRandom(6), 10), params: new SamplingParams({ maxTokens: 200, ignoreEos: true }) }]);
  await new Promise((resolve) => setTimeout(resolve, 5));
  const bad = engine.generate([{ requestId: 'bad', promptTokenIds: randomPrompt(seededRandom(7), 200) }]);
  await assert.rejects(bad, /fake runner failure/);
  await assert.rejects(running, /fake runner failure/);
  fail = false;
  const [ok] = await engine.generate([{ requestId: 'ok', promptTokenIds: randomPrompt(seededRandom(8), 20), params: new SamplingParams({ maxTokens: 3, ignoreEos: true }) }]);
  assert.equal(ok?.outputs[0]?.tokenIds.length, 3);
  // The failed step's blocks were counted as computed when it launched: none may be a cache hit now.
  const retry = { requestId: 'retry', promptTokenIds: randomPrompt(seededRandom(7), 200), params: new SamplingParams({ maxTokens: 5, temperature: 0 }) };
  const [again] = await engine.generate([retry]);
  const [fresh] = await makeEngine(true).engine.generate([retry]);
  assert.deepEqual(again?.outputs, fresh?.outputs);
  assert.equal(again?.numCachedPromptTokens, 0);
  assert.equal(engine.stats().numKvBlocksUsed, 0);
});

test('a caller driving step() itself gets the same outputs launched ahead', async () => {
  const requests = mixedRequests(9, 12);
  const { sync, ahead } = await runBothWays(requests, { autoStep: false });
  assert.deepEqual(ahead.outputs, sync.outputs);
  assert.ok(ahead.numStepsAhead > 0);
});

test('a runner without asynchronous scheduling is refused', () => {
  const fake = new FakeRunner();
  Object.defineProperty(fake, 'supportsAsyncScheduling', { value: false });
  assert.throws(() => new LLMEngine(fake, new FakeTokenizer(fake.spec.vocabSize), { asyncScheduling: true }), /asynchronous scheduling needs a runner/);
});
