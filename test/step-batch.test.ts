import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BlockPool } from '../src/engine/block-pool.js';
import { KvCacheManager } from '../src/engine/kv-cache-manager.js';
import { Request, RequestStatus } from '../src/engine/request.js';
import { SamplingParams } from '../src/engine/sampling-params.js';
import { Scheduler } from '../src/engine/scheduler.js';
import { StepBatchBuilder } from '../src/engine/step-batch.js';
import type { StepBatch } from '../src/runtime/types.js';

/** Every array of a batch as plain numbers, so two batches compare by value. */
function plain(batch: StepBatch): unknown {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(batch)) {
    if (ArrayBuffer.isView(value)) out[key] = Array.from(value as Int32Array);
    else if (value !== null && typeof value === 'object') out[key] = plain(value as StepBatch);
    else out[key] = value;
  }
  return out;
}

test('a builder reused across steps (scratch buffers, incremental block tables) builds what a fresh one does', () => {
  let state = 12345;
  const random = (n: number): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8) % n;
  };
  // NOTE: a small pool forces preemptions; random finishes shift rows; long outputs move the stride.
  const kv = new KvCacheManager(new BlockPool(40), true);
  const scheduler = new Scheduler({ maxNumSeqs: 6, maxNumBatchedTokens: 40, maxModelLen: 400, enableChunkedPrefill: true, longPrefillTokenThreshold: 24 }, kv);
  const reused = new StepBatchBuilder([0], 2, 8);
  let numArrivals = 0;
  let numSteps = 0;
  const add = (): void => {
    const penalised = random(4) === 0;
    const params = new SamplingParams({
      maxTokens: 200,
      temperature: random(2) === 0 ? 0 : 0.7,
      seed: random(1000),
      minTokens: random(3) === 0 ? 3 : 0,
      stopTokenIds: random(2) === 0 ? [5] : [],
      repetitionPenalty: penalised ? 1.2 : 1,
      presencePenalty: penalised ? 0.5 : 0,
      logitBias: random(5) === 0 ? { 3: 1.5 } : null,
    });
    // Shared first tokens give prefix-cache hits.
    const prompt = Array.from({ length: 1 + random(70) }, (_, i) => (i < 32 && random(2) === 0 ? 1 + i : 1 + random(90)));
    const id = `r${numArrivals}`;
    scheduler.add(
      new Request({ requestId: id, parentId: id, index: 0, promptTokenIds: prompt, params, maxTokens: 200, adapterSlot: -1, adapterHash: 0, arrivalIndex: numArrivals++, prefixSource: null }),
    );
  };
  for (let i = 0; i < 8; i++) add();
  let numPreempted = 0;
  while (numSteps < 400 && scheduler.hasUnfinished) {
    if (random(4) === 0) add();
    const output = scheduler.schedule();
    numPreempted += output.preempted.length;
    if (output.scheduled.length === 0) continue;
    const built = reused.build(output.scheduled, kv);
    const fresh = new StepBatchBuilder([0]).build(output.scheduled, kv);
    assert.deepEqual(plain(built.batch), plain(fresh.batch), `step ${numSteps}`);
    assert.deepEqual(built.promptLogprobSlices, fresh.promptLogprobSlices);
    scheduler.commit(output);
    for (const { request, doSample } of output.scheduled) {
      if (!doSample || request.isFinished) continue;
      request.appendOutputToken(1 + random(90));
      if (random(80) === 0 || request.numTokens >= 390) scheduler.finish(request, RequestStatus.FINISHED_STOPPED);
    }
    numSteps++;
  }
  assert.ok(numSteps >= 100, `only ${numSteps} steps`);
  assert.ok(numPreempted > 0, 'the workload should preempt');
});
