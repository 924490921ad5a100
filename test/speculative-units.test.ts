/**
 * Prompt-lookup speculation without a model: the --speculative-config reader, the n-gram
 * proposer, and the scheduler's draft bookkeeping (KV rollback, prefix cache, limits).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BlockPool } from '../src/engine/block-pool.js';
import { KvCacheManager } from '../src/engine/kv-cache-manager.js';
import { Request } from '../src/engine/request.js';
import { SamplingParams, type SamplingParamsInit } from '../src/engine/sampling-params.js';
import { Scheduler } from '../src/engine/scheduler.js';
import { parseSpeculativeConfig, SpeculativeConfigError, type SpeculativeConfig } from '../src/engine/speculative/config.js';
import { proposeNgramDrafts } from '../src/engine/speculative/ngram-proposer.js';
import { KV_BLOCK_SIZE } from '../src/runtime/types.js';

const NGRAM: SpeculativeConfig = { method: 'ngram', numSpeculativeTokens: 3, promptLookupMax: 3, promptLookupMin: 1 };

test('--speculative-config reads vLLM\'s ngram JSON and names what is wrong', () => {
  assert.deepEqual(parseSpeculativeConfig('{"method":"ngram","num_speculative_tokens":4,"prompt_lookup_max":5,"prompt_lookup_min":2}'), {
    method: 'ngram',
    numSpeculativeTokens: 4,
    promptLookupMax: 5,
    promptLookupMin: 2,
  });
  assert.deepEqual(parseSpeculativeConfig('{"method":"ngram","num_speculative_tokens":2,"prompt_lookup_max":3}'), {
    method: 'ngram',
    numSpeculativeTokens: 2,
    promptLookupMax: 3,
    promptLookupMin: 3,
  });
  assert.equal(parseSpeculativeConfig('{"method":"ngram","num_speculative_tokens":2}').promptLookupMax, 5);
  const cases: [string, RegExp][] = [
    ['{"method":"eagle","num_speculative_tokens":2}', /method must be "ngram"/],
    ['{"method":"ngram"}', /num_speculative_tokens must be a positive integer/],
    ['{"method":"ngram","num_speculative_tokens":2,"prompt_lookup_max":2,"prompt_lookup_min":3}', /prompt_lookup_min 3 exceeds/],
    ['{"method":"ngram","num_speculative_tokens":2,"prompt_lookup_mx":2}', /unknown key "prompt_lookup_mx"/],
    ['[1]', /must be a JSON object/],
    ['ngram', /not JSON/],
  ];
  for (const [text, message] of cases) assert.throws(() => parseSpeculativeConfig(text), (e: unknown) => e instanceof SpeculativeConfigError && message.test(e.message), text);
});

test('the proposer continues the most recent earlier occurrence of the longest suffix n-gram', () => {
  // Suffix [5, 6]: occurs at 1 (followed by 7, 8) and at 6 (followed by 9, 1): the later one wins.
  assert.deepEqual(proposeNgramDrafts([4, 5, 6, 7, 8, 0, 5, 6, 9, 1, 2, 5, 6], NGRAM, 3), [9, 1, 2]);
  // The 3-gram [3, 5, 6] beats the more recent 2-gram [5, 6].
  assert.deepEqual(proposeNgramDrafts([3, 5, 6, 7, 8, 0, 5, 6, 9, 1, 3, 5, 6], NGRAM, 3), [7, 8, 0]);
  assert.deepEqual(proposeNgramDrafts([3, 5, 6, 7, 8, 0, 5, 6, 9, 1, 3, 5, 6], NGRAM, 1), [7], 'capped by the caller');
  assert.deepEqual(proposeNgramDrafts([1, 2, 3, 4], NGRAM, 3), [], 'no earlier occurrence');
  assert.deepEqual(proposeNgramDrafts([1, 2, 3, 1], { ...NGRAM, promptLookupMin: 2 }, 3), [], 'a 1-gram is below the minimum');
  assert.deepEqual(proposeNgramDrafts([7, 7, 7], NGRAM, 3), [7], 'the draft stops at the end of the known tokens');
});

function setup(speculative: SpeculativeConfig | null, numBlocks = 16, budget = 64) {
  const kv = new KvCacheManager(new BlockPool(numBlocks), true);
  const scheduler = new Scheduler({ maxNumSeqs: 4, maxNumBatchedTokens: budget, maxModelLen: 1024, enableChunkedPrefill: true, speculative }, kv);
  const add = (promptTokenIds: number[], init: SamplingParamsInit = { temperature: 0 }, maxTokens = 100): Request => {
    const request = new Request({
      requestId: 'r',
      parentId: 'r',
      index: 0,
      promptTokenIds,
      params: new SamplingParams(init),
      maxTokens,
      adapterSlot: -1,
      adapterHash: 0,
      arrivalIndex: 0,
      prefixSource: null,
    });
    scheduler.add(request);
    return request;
  };
  return { kv, scheduler, add };
}

/** 27 distinct tokens then 1 2 3 again (30 tokens: a full block and 14); once the model says 4, [2, 3, 4] proposes 5 6 7. */
const REPEATING = [...Array.from({ length: 27 }, (_, i) => i + 1), 1, 2, 3];

test('a decoding step carries the drafts after the last token; rejected ones are rolled back out of the KV cache', () => {
  const { kv, scheduler, add } = setup(NGRAM);
  const request = add(REPEATING);
  let out = scheduler.schedule();
  assert.deepEqual(out.scheduled[0]?.draftTokenIds, [], 'a prefill carries no drafts');
  scheduler.commit(out);
  request.appendOutputToken(4);
  out = scheduler.schedule();
  const seq = out.scheduled[0];
  assert.deepEqual([seq?.start, seq?.numNewTokens, seq?.doSample, seq?.draftTokenIds], [30, 4, true, [5, 6, 7]]);
  assert.equal(kv.blockIds(request).length, 3, 'positions 30..33 reach a third block');
  const numFreeBefore = kv.pool.numFreeBlocks;
  scheduler.commit(out);
  assert.equal(request.numComputedTokens, 31, 'drafts are not computed tokens until verified');
  assert.equal(kv.pool.numFreeBlocks, numFreeBefore, 'nothing is freed before verification');
  // The model agreed with 5, then chose 9 instead of 6.
  request.appendOutputToken(5);
  request.appendOutputToken(9);
  scheduler.acceptDrafts(request, 1);
  assert.equal(request.numComputedTokens, 32);
  assert.equal(request.numTokens, 33);
  assert.equal(kv.blockIds(request).length, 2, 'the third block held only rejected drafts');
  assert.equal(kv.pool.numFreeBlocks, numFreeBefore + 1);
  const following = scheduler.schedule().scheduled[0] as (typeof out.scheduled)[number];
  assert.equal(following.start, 32, 'the next step starts after the accepted draft');
  assert.equal(following.numNewTokens - following.draftTokenIds.length, 1);
});

test('the prefix cache publishes a block only once it is full of verified tokens', () => {
  const { kv, scheduler, add } = setup({ ...NGRAM, numSpeculativeTokens: 8 });
  // 24 distinct tokens then 1..5 again (29 tokens); once the model says 6, [4, 5, 6] proposes 7..14.
  const prompt = [...Array.from({ length: 24 }, (_, i) => i + 1), 1, 2, 3, 4, 5];
  const request = add(prompt);
  scheduler.commit(scheduler.schedule());
  request.appendOutputToken(6);
  const out = scheduler.schedule();
  assert.deepEqual(out.scheduled[0]?.draftTokenIds, [7, 8, 9, 10, 11, 12, 13, 14]);
  scheduler.commit(out);
  // None accepted: the model chose 99 after 6.
  request.appendOutputToken(99);
  scheduler.acceptDrafts(request, 0);
  assert.equal(request.numComputedTokens, prompt.length + 1);
  // Had the drafts counted, the second block (positions 16..31: ..., 6, 7, 8) would be published for this twin to hit.
  const twin = new Request({ requestId: 't', parentId: 't', index: 0, promptTokenIds: [...prompt, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18], params: new SamplingParams({ temperature: 0 }), maxTokens: 10, adapterSlot: -1, adapterHash: 0, arrivalIndex: 1, prefixSource: null });
  assert.equal(kv.getComputedBlocks(twin).numTokens, KV_BLOCK_SIZE);
});

test('no drafts for sampled or penalised requests, past max_tokens, beyond the budget, or without free blocks', () => {
  const decodeStep = (init: SamplingParamsInit, maxTokens = 100, numBlocks = 16, budget = 64): readonly number[] | undefined => {
    const { scheduler, add } = setup(NGRAM, numBlocks, budget);
    const request = add(REPEATING, init, maxTokens);
    while (request.numComputedTokens < request.numTokens) scheduler.commit(scheduler.schedule());
    request.appendOutputToken(4);
    return scheduler.schedule().scheduled[0]?.draftTokenIds;
  };
  assert.deepEqual(decodeStep({ temperature: 0 }), [5, 6, 7]);
  assert.deepEqual(decodeStep({ temperature: 0.7 }), []);
  assert.deepEqual(decodeStep({ temperature: 0, repetitionPenalty: 1.1 }), []);
  assert.deepEqual(decodeStep({ temperature: 0, presencePenalty: 0.5 }), []);
  assert.deepEqual(decodeStep({ temperature: 0, logitBias: { 5: 1 } }), []);
  assert.deepEqual(decodeStep({ temperature: 0, minTokens: 3 }), [], 'the EOS ban of min_tokens changes the logits');
  assert.deepEqual(decodeStep({ temperature: 0 }, 3), [5], 'one output so far, max_tokens 3: one draft and the bonus token');
  assert.deepEqual(decodeStep({ temperature: 0 }, 2), [], 'the next token is the last');
  assert.deepEqual(decodeStep({ temperature: 0 }, 100, 16, 2), [5], 'a budget of 2 tokens');
  assert.deepEqual(decodeStep({ temperature: 0 }, 100, 2), [], 'a third block is not free');
});
