/**
 * The request path on its own, over random weights (no checkpoint, as bench builds it): a list
 * is submitted whole or not at all, a fired signal or an unread submission's abort leaves
 * nothing in flight, and close() aborts what runs and refuses what comes after.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { InvalidRequestError } from '../src/engine/errors.js';
import type { RequestOutput } from '../src/engine/output.js';
import { SamplingParams } from '../src/engine/sampling-params.js';
import { ServingEngine, type EngineRequest, type Submission } from '../src/host/serving-engine.js';
import { randomModel } from '../src/model/random-weights.js';
import { FakeTokenizer } from './helpers/fake-runner.js';
import { eventually, fixtureModelOptions } from './helpers/live-server.js';

let serving: ServingEngine;

before(async () => {
  const { spec, source } = randomModel('llama-tiny', { seed: 1 });
  const options = fixtureModelOptions({ model: undefined, loraModules: [], kvCacheBytes: 8 * 1024 * 1024 });
  serving = await ServingEngine.start({ spec, source, randomSeed: 1 }, new FakeTokenizer(999), options);
});

after(async () => {
  await serving.close();
});

function request(maxTokens: number, extra: Partial<EngineRequest> = {}): EngineRequest {
  return { promptTokenIds: [5, 6, 7], params: new SamplingParams({ maxTokens, temperature: 0, ignoreEos: true }), adapter: null, ...extra };
}

async function drain(outputs: AsyncIterable<RequestOutput>): Promise<{ numTokens: number; finishReason: string | null }> {
  let numTokens = 0;
  let finishReason: string | null = null;
  for await (const output of outputs) {
    numTokens += output.outputs[0]?.tokenIds.length ?? 0;
    finishReason = output.outputs[0]?.finishReason ?? finishReason;
  }
  return { numTokens, finishReason };
}

async function assertIdle(): Promise<void> {
  assert.equal(serving.numInFlight, 0);
  await eventually(async () => !serving.engine.hasUnfinished && serving.engine.stats().numKvBlocksUsed === 0);
}

test('submitted requests run to their length and leave nothing in flight', async () => {
  const submissions = serving.submitAll([request(4), request(6)], (error) => error);
  assert.equal(serving.numInFlight, 2);
  const results = await Promise.all(submissions.map((submission: Submission) => drain(submission.outputs)));
  assert.deepEqual(results, [{ numTokens: 4, finishReason: 'length' }, { numTokens: 6, finishReason: 'length' }]);
  await assertIdle();
});

test('submitAll: a rejected request aborts those before it and throws mapError(error, index)', () => {
  const outOfVocabulary = request(4, { promptTokenIds: [1e9] });
  assert.throws(
    () => serving.submitAll([request(400), request(400), outOfVocabulary], (error, index) => new Error(`request ${index}: ${(error as Error).message}`)),
    /^Error: request 2: prompt token id 1000000000 is outside the vocabulary/,
  );
  assert.throws(() => serving.submit(outOfVocabulary), InvalidRequestError);
  return assertIdle();
});

test('a fired signal, and abort() of a submission nobody reads, end the request', async () => {
  const controller = new AbortController();
  controller.abort();
  assert.equal((await drain(serving.submit(request(400, { signal: controller.signal })).outputs)).finishReason, 'abort');
  serving.submit(request(400)).abort();
  await assertIdle();
  const live = new AbortController();
  const running = serving.submit(request(400, { signal: live.signal }));
  const drained = drain(running.outputs);
  live.abort();
  assert.equal((await drained).finishReason, 'abort');
  await assertIdle();
});

test('close() aborts what runs; later submits throw', async () => {
  const running = drain(serving.submit(request(2000)).outputs);
  await serving.close();
  assert.equal((await running).finishReason, 'abort');
  assert.equal(serving.numInFlight, 0);
  assert.throws(() => serving.submit(request(4)), /the engine is closed/);
});
