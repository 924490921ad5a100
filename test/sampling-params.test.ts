import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidRequestError } from '../src/engine/errors.js';
import { SamplingParams, seedWords } from '../src/engine/sampling-params.js';

test('vLLM defaults', () => {
  const p = new SamplingParams();
  assert.equal(p.n, 1);
  assert.equal(p.temperature, 1);
  assert.equal(p.topP, 1);
  assert.equal(p.topK, 0);
  assert.equal(p.minP, 0);
  assert.equal(p.repetitionPenalty, 1);
  assert.equal(p.presencePenalty, 0);
  assert.equal(p.frequencyPenalty, 0);
  assert.equal(p.maxTokens, 16);
  assert.equal(p.minTokens, 0);
  assert.deepEqual(p.stop, []);
  assert.deepEqual(p.stopTokenIds, []);
  assert.equal(p.ignoreEos, false);
  assert.equal(p.includeStopStrInOutput, false);
  assert.equal(p.logprobs, null);
  assert.equal(p.promptLogprobs, null);
  assert.equal(p.skipSpecialTokens, true);
  assert.equal(p.logitBias, null);
  assert.equal(p.isSeeded, false);
  assert.ok(Number.isInteger(p.seed));
});

test('generation_config defaults fill only what the request leaves out', () => {
  const p = new SamplingParams({ temperature: 0.2 }, { temperature: 0.7, topP: 0.8, maxTokens: 100 });
  assert.equal(p.temperature, 0.2);
  assert.equal(p.topP, 0.8);
  assert.equal(p.maxTokens, 100);
  assert.equal(new SamplingParams({ maxTokens: null }, { maxTokens: 100 }).maxTokens, null);
});

test('stop as one string, logit_bias with string keys', () => {
  const p = new SamplingParams({ stop: 'END', logitBias: { '5': -100, '7': 3 } });
  assert.deepEqual(p.stop, ['END']);
  assert.deepEqual([...(p.logitBias ?? [])], [[5, -100], [7, 3]]);
});

test('bad values throw InvalidRequestError naming the parameter', () => {
  const cases: [ConstructorParameters<typeof SamplingParams>[0], string][] = [
    [{ n: 0 }, 'n'],
    [{ n: 1.5 }, 'n'],
    [{ temperature: -1 }, 'temperature'],
    [{ temperature: Number.NaN }, 'temperature'],
    [{ topP: 0 }, 'top_p'],
    [{ topP: 1.5 }, 'top_p'],
    [{ topK: -2 }, 'top_k'],
    [{ minP: 2 }, 'min_p'],
    [{ repetitionPenalty: 0 }, 'repetition_penalty'],
    [{ presencePenalty: 3 }, 'presence_penalty'],
    [{ frequencyPenalty: -2.5 }, 'frequency_penalty'],
    [{ maxTokens: -1 }, 'max_tokens'],
    [{ maxTokens: 0 }, 'max_tokens'],
    [{ minTokens: -1 }, 'min_tokens'],
    [{ minTokens: 10, maxTokens: 5 }, 'min_tokens'],
    [{ stop: [''] }, 'stop'],
    [{ stopTokenIds: [-3] }, 'stop_token_ids'],
    [{ logprobs: -1 }, 'logprobs'],
    [{ promptLogprobs: 1.5 }, 'prompt_logprobs'],
    [{ seed: 0.5 }, 'seed'],
    [{ logitBias: { x: 1 } }, 'logit_bias'],
    [{ logitBias: { '3': 101 } }, 'logit_bias'],
  ];
  for (const [init, param] of cases) {
    assert.throws(
      () => new SamplingParams(init),
      (e: unknown) => e instanceof InvalidRequestError && e.param === param && e.message.includes(param),
      `${JSON.stringify(init)} should fail on ${param}`,
    );
  }
});

test('n > 1 children: distinct seeds derived from the parent, reproducible', () => {
  const p = new SamplingParams({ n: 3, seed: 42, promptLogprobs: 2 });
  const children = [0, 1, 2].map((i) => p.child(i));
  assert.deepEqual(children.map((c) => c.seed), [42, 43, 44]);
  assert.deepEqual(children.map((c) => c.n), [1, 1, 1]);
  assert.deepEqual(children.map((c) => c.promptLogprobs), [2, null, null]);
  const unseeded = new SamplingParams({ n: 2 });
  assert.notEqual(unseeded.child(0).seed, unseeded.child(1).seed);
});

test('seed words', () => {
  assert.deepEqual(seedWords(1), [1, 0]);
  assert.deepEqual(seedWords(2 ** 32 + 5), [5, 1]);
  assert.deepEqual(seedWords(-1), [0xffffffff, 0xffffffff]);
});
