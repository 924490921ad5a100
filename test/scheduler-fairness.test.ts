/**
 * Fair admission under a soak: hundreds of streams arriving over time with mixed prompt and
 * output lengths, random client aborts and a KV cache small enough to force preemptions. Every
 * stream that is not aborted gets its first token, streams are first scheduled in arrival order,
 * and no stream waits for its first token longer than the work that arrived before it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BlockPool } from '../src/engine/block-pool.js';
import { KvCacheManager } from '../src/engine/kv-cache-manager.js';
import { Request, RequestStatus } from '../src/engine/request.js';
import { SamplingParams } from '../src/engine/sampling-params.js';
import { Scheduler } from '../src/engine/scheduler.js';

interface Stream {
  request: Request;
  arrivalStep: number;
  /** The step at which the client disconnects, if it does. */
  abortStep: number;
  firstScheduledStep: number;
  firstTokenStep: number;
  /** The step at which it finished or was aborted. */
  endStep: number;
}

/** Deterministic uniform integers in [0, n). */
function randomInts(seed: number): (n: number) => number {
  let state = seed >>> 0 || 1;
  return (n) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
}

const CHUNK = 32;

function soak(seed: number): { streams: Stream[]; numPreemptions: number } {
  const random = randomInts(seed);
  const kv = new KvCacheManager(new BlockPool(40), true);
  const scheduler = new Scheduler({ maxNumSeqs: 12, maxNumBatchedTokens: 96, maxModelLen: 640, enableChunkedPrefill: true, longPrefillTokenThreshold: CHUNK }, kv);
  const streams: Stream[] = [];
  let arrivalStep = 0;
  for (let i = 0; i < 300; i++) {
    arrivalStep += random(2);
    const numPromptTokens = 1 + random(150);
    const maxTokens = 1 + random(40);
    const request = new Request({
      requestId: `s${i}`,
      parentId: `s${i}`,
      index: 0,
      // Distinct prompts: the prefix cache must not make anyone's prefill free.
      promptTokenIds: Array.from({ length: numPromptTokens }, (_, t) => 1 + ((i * 131 + t * 7) % 5000)),
      params: new SamplingParams({ maxTokens }),
      maxTokens,
      adapterSlot: -1,
      adapterHash: 0,
      arrivalIndex: i,
      prefixSource: null,
    });
    scheduler.checkFits(numPromptTokens, maxTokens);
    streams.push({ request, arrivalStep, abortStep: random(10) === 0 ? arrivalStep + random(60) : Infinity, firstScheduledStep: -1, firstTokenStep: -1, endStep: -1 });
  }
  let next = 0;
  for (let step = 0; next < streams.length || scheduler.hasUnfinished; step++) {
    assert.ok(step < 100_000, 'the soak never drained');
    while (next < streams.length && (streams[next] as Stream).arrivalStep <= step) scheduler.add((streams[next++] as Stream).request);
    for (const s of streams) {
      if (s.abortStep !== step || s.request.isFinished) continue;
      scheduler.finish(s.request, RequestStatus.FINISHED_ABORTED);
      s.endStep = step;
    }
    const out = scheduler.schedule();
    scheduler.commit(out);
    for (const { request, doSample } of out.scheduled) {
      const stream = streams.find((s) => s.request === request) as Stream;
      if (stream.firstScheduledStep < 0) stream.firstScheduledStep = step;
      if (!doSample) continue;
      request.appendOutputToken(7);
      if (stream.firstTokenStep < 0) stream.firstTokenStep = step;
      if (request.numOutputTokens < request.maxTokens) continue;
      scheduler.finish(request, RequestStatus.FINISHED_LENGTH);
      stream.endStep = step;
    }
  }
  return { streams, numPreemptions: scheduler.numPreemptions };
}

/** Steps one stream needs alone: its prompt in chunks, then one token a step (twice over, as a preemption recomputes it). */
function workOf(s: Stream): number {
  return 2 * (Math.ceil(s.request.numPromptTokens / CHUNK) + s.request.maxTokens);
}

for (const seed of [1, 2, 3]) {
  test(`soak ${seed}: every stream gets its first token, in arrival order, within the work ahead of it`, () => {
    const { streams, numPreemptions } = soak(seed);
    assert.ok(numPreemptions > 0, 'the soak is meant to run out of KV blocks');
    const served = streams.filter((s) => s.abortStep === Infinity || s.firstTokenStep >= 0);
    for (const s of streams.filter((x) => x.abortStep === Infinity)) assert.ok(s.firstTokenStep >= 0, `${s.request.requestId} never got a token`);
    const byAdmission = [...served].sort((a, b) => a.firstScheduledStep - b.firstScheduledStep);
    for (let i = 1; i < byAdmission.length; i++) {
      const [before, after] = [byAdmission[i - 1] as Stream, byAdmission[i] as Stream];
      assert.ok(before.request.arrivalIndex < after.request.arrivalIndex || before.firstScheduledStep === after.firstScheduledStep,
        `${after.request.requestId} was admitted after ${before.request.requestId}, which arrived later`);
    }
    let longestWait = 0;
    for (const s of served) {
      const ahead = streams.filter((o) => o.request.arrivalIndex < s.request.arrivalIndex && !(o.endStep >= 0 && o.endStep < s.arrivalStep));
      const bound = workOf(s) + ahead.reduce((sum, o) => sum + workOf(o), 0);
      longestWait = Math.max(longestWait, s.firstTokenStep - s.arrivalStep);
      assert.ok(s.firstTokenStep - s.arrivalStep <= bound, `${s.request.requestId} waited ${s.firstTokenStep - s.arrivalStep} steps for its first token (bound ${bound})`);
    }
    console.log(`soak ${seed}: ${numPreemptions} preemptions, longest wait for a first token ${longestWait} steps`);
  });
}
