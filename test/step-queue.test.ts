/**
 * StepQueue, the host side of asynchronous scheduling on the native runners: steps run one at a
 * time in call order, a step with nothing in flight starts inside the call, and a step's pending
 * tokens come from the previous step's samples (or it fails when that step failed).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StepQueue } from '../src/runtime/step-queue.js';
import type { StepBatch, StepOutput } from '../src/runtime/types.js';

/** A decode batch of `numSeqs` one-token sequences; `previousSampledRow` marks pending tokens. */
function batch(tokenIds: number[], previousSampledRow: number[] | null): StepBatch {
  const numSeqs = tokenIds.length;
  return {
    numSeqs,
    numTokens: numSeqs,
    tokenIds: Int32Array.from(tokenIds),
    queryStart: Int32Array.from({ length: numSeqs + 1 }, (_, i) => i),
    previousSampledRow: previousSampledRow === null ? null : Int32Array.from(previousSampledRow),
  } as StepBatch;
}

function output(sampled: number[]): StepOutput {
  return { sampledTokenIds: Int32Array.from(sampled) } as StepOutput;
}

/** A native model stand-in: records the token ids each step started with; steps end when told. */
function nativeModel() {
  const started: number[][] = [];
  const finishers: ((result: StepOutput | Error) => void)[] = [];
  const start = (step: StepBatch) => {
    started.push([...step.tokenIds]);
    return new Promise<StepOutput>((resolve, reject) => finishers.push((result) => (result instanceof Error ? reject(result) : resolve(result))));
  };
  return { started, start, finish: (i: number, result: StepOutput | Error) => finishers[i]?.(result) };
}

test('steps start in call order, one at a time, taking pending tokens from the step before', async () => {
  const queue = new StepQueue();
  const model = nativeModel();
  const first = queue.run(batch([5, 6], null), model.start);
  assert.equal(model.started.length, 1, 'nothing in flight: the first step starts inside the call');
  const second = queue.run(batch([0, 7, 0], [1, -1, 0]), model.start);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(model.started.length, 1, 'the second waits for the first');
  model.finish(0, output([11, 12]));
  await first;
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(model.started[1], [12, 7, 11]);
  model.finish(1, output([1, 2, 3]));
  await second;
  queue.run(batch([9], null), model.start);
  assert.equal(model.started.length, 3, 'with the queue drained, a step starts inside the call again');
});

test('a step whose pending tokens came from a failed step fails; one without them runs', async () => {
  const queue = new StepQueue();
  const model = nativeModel();
  const failing = queue.run(batch([5], null), model.start);
  const dependent = queue.run(batch([0], [0]), model.start);
  const independent = queue.run(batch([8], null), model.start);
  model.finish(0, new Error('device fault'));
  await assert.rejects(failing, /device fault/);
  await assert.rejects(dependent, /row 0 of the previous step, which failed/);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(model.started, [[5], [8]]);
  model.finish(1, output([4]));
  assert.deepEqual([...(await independent).sampledTokenIds], [4]);
});
