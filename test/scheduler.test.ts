import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BlockPool } from '../src/engine/block-pool.js';
import { RequestTooLongError } from '../src/engine/errors.js';
import { KvCacheManager } from '../src/engine/kv-cache-manager.js';
import { Request, RequestStatus } from '../src/engine/request.js';
import { SamplingParams } from '../src/engine/sampling-params.js';
import { Scheduler, type SchedulerConfig } from '../src/engine/scheduler.js';

function setup(numBlocks: number, config: Partial<SchedulerConfig> = {}) {
  const kv = new KvCacheManager(new BlockPool(numBlocks), true);
  const scheduler = new Scheduler({ maxNumSeqs: 8, maxNumBatchedTokens: 64, maxModelLen: 1024, enableChunkedPrefill: true, ...config }, kv);
  let arrival = 0;
  const add = (numPromptTokens: number, firstToken = 1) => {
    const request = new Request({
      requestId: `r${arrival}`,
      parentId: `r${arrival}`,
      index: 0,
      promptTokenIds: Array.from({ length: numPromptTokens }, (_, i) => firstToken + i),
      params: new SamplingParams({ maxTokens: 100 }),
      maxTokens: 100,
      adapterSlot: -1,
      adapterHash: 0,
      arrivalIndex: arrival++,
      prefixSource: null,
    });
    scheduler.add(request);
    return request;
  };
  /** One step where every sampled sequence gets token 7. */
  const step = () => {
    const out = scheduler.schedule();
    scheduler.commit(out);
    for (const s of out.scheduled) if (s.doSample) s.request.appendOutputToken(7);
    return out;
  };
  return { kv, scheduler, add, step };
}

test('running requests first, then waiting ones chunked into the remaining budget', () => {
  const { add, step } = setup(64);
  const a = add(10);
  let out = step();
  assert.deepEqual(out.scheduled.map((s) => [s.request.requestId, s.start, s.numNewTokens, s.doSample]), [['r0', 0, 10, true]]);
  const b = add(100);
  out = step();
  assert.deepEqual(out.scheduled.map((s) => [s.request.requestId, s.start, s.numNewTokens, s.doSample]), [
    ['r0', 10, 1, true],
    ['r1', 0, 63, false],
  ]);
  out = step();
  assert.deepEqual(out.scheduled.map((s) => [s.request.requestId, s.start, s.numNewTokens, s.doSample]), [
    ['r0', 11, 1, true],
    ['r1', 63, 37, true],
  ]);
  assert.equal(a.numComputedTokens, 12);
  assert.equal(b.numComputedTokens, 100);
  assert.equal(out.numScheduledTokens, 38);
});

test('long_prefill_token_threshold caps a long prompt\'s chunk so a short one arriving behind it runs next step', () => {
  const { add, step } = setup(64, { longPrefillTokenThreshold: 16 });
  add(100);
  assert.deepEqual(step().scheduled.map((s) => [s.request.requestId, s.numNewTokens]), [['r0', 16]]);
  add(5);
  assert.deepEqual(step().scheduled.map((s) => [s.request.requestId, s.numNewTokens, s.doSample]), [
    ['r0', 16, false],
    ['r1', 5, true],
  ]);
});

test('without chunked prefill a prompt waits for a step with room for all of it', () => {
  const { add, step } = setup(64, { enableChunkedPrefill: false });
  add(10);
  step();
  add(64);
  assert.deepEqual(step().scheduled.map((s) => s.request.requestId), ['r0']);
});

test('out of blocks: the newest running request is preempted, recomputed later, and nobody is admitted that step', () => {
  const { scheduler, kv, add, step } = setup(4);
  const a = add(32); // 2 blocks
  const b = add(32, 500); // 2 blocks
  step();
  assert.equal(kv.pool.numFreeBlocks, 0);
  // Both now need a third block for position 32: b (newest) is preempted so a can go on.
  const out = step();
  assert.deepEqual(out.preempted, [b]);
  assert.equal(b.status, RequestStatus.PREEMPTED);
  assert.equal(b.numComputedTokens, 0);
  assert.deepEqual(out.scheduled.map((s) => s.request), [a]);
  assert.equal(scheduler.numPreemptions, 1);
  assert.equal(kv.blockIds(a).length, 3);
  scheduler.finish(a, RequestStatus.FINISHED_STOPPED);
  const resumed = step();
  assert.deepEqual(resumed.scheduled.map((s) => [s.request.requestId, s.start, s.numNewTokens]), [['r1', 16, 17]], 'prompt + output recomputed; its first block is still cached, its tail block was evicted first');
  scheduler.finish(b, RequestStatus.FINISHED_ABORTED);
  assert.equal(kv.pool.numUsedBlocks, 0);
});

test('maxNumSeqs caps admissions', () => {
  const { add, step } = setup(64, { maxNumSeqs: 2 });
  add(3);
  add(3);
  add(3);
  assert.equal(step().scheduled.length, 2);
});

test('requests that can never fit are rejected naming their length and the limit', () => {
  const { scheduler } = setup(4, { maxModelLen: 100 });
  assert.throws(() => scheduler.checkFits(90, 20), (e: unknown) => e instanceof RequestTooLongError && e.numTokens === 110 && e.limit === 100);
  assert.throws(() => scheduler.checkFits(100, 1), RequestTooLongError);
  assert.throws(() => scheduler.checkFits(60, 10), (e: unknown) => e instanceof RequestTooLongError && e.limit === 64 && /69 tokens of KV cache/.test(e.message));
  scheduler.checkFits(60, 5);
});
