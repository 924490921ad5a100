/**
 * The library API (`Engine` from src/index.ts) on the fixture model: greedy answers equal the
 * transformers references in both request shapes and with the LoRA adapter, a list runs
 * batched, history grows turn by turn, streamed deltas add up to the answer, seeds repeat,
 * aborts end with 'abort', and caller mistakes are InferRequestErrors naming the request.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Engine, InferRequestError, type InferRequest, type InferStreamChunk } from '../src/index.js';
import { assertGreedyMatches, loraDir, modelDir, reference } from './helpers/reference.js';
import { checkStructuredOutputs } from './helpers/structured-backend-checks.js';

let engine: Engine;

before(async () => {
  engine = await Engine.load({ model: modelDir, device: 'cpu', kvCacheMemory: '64MiB', loraModules: { a: loraDir } });
});

after(async () => {
  await engine.close();
});

/** The reference conversations in SWIFT's shape: system, [query, response] history, query. */
function asQuery(messages: readonly { role: string; content: string }[]): InferRequest {
  const system = messages.find((m) => m.role === 'system')?.content;
  const turns = messages.filter((m) => m.role !== 'system');
  const history: [string, string][] = [];
  for (let i = 0; i + 1 < turns.length; i += 2) history.push([turns[i]?.content ?? '', turns[i + 1]?.content ?? '']);
  return { query: turns[turns.length - 1]?.content ?? '', history, ...(system !== undefined ? { system } : {}) };
}

test('the chat template renders the reference prompts', () => {
  for (const ref of reference.chat) {
    assert.equal(engine.applyChatTemplate({ messages: ref.messages }), ref.prompt_text);
    assert.equal(engine.applyChatTemplate(asQuery(ref.messages)), ref.prompt_text);
  }
  assert.equal(engine.chatTemplate.render(reference.chat[0]?.messages ?? []), reference.chat[0]?.prompt_text);
});

test('infer: greedy answers equal the reference, for {messages} and {query, history, system}, all in one batch', async () => {
  const requests = [...reference.chat.map((ref) => ({ messages: ref.messages })), ...reference.chat.map((ref) => asQuery(ref.messages))];
  const stepsBefore = engine.stats().numStepsTotal;
  const responses = await engine.infer(requests, { maxTokens: 48, temperature: 0 });
  const numSteps = engine.stats().numStepsTotal - stepsBefore;
  // NOTE: one request after another would take 10 x 48 steps; batched they share steps.
  assert.ok(numSteps < 2 * 48, `${numSteps} engine steps for ${requests.length} requests of 48 tokens`);
  assert.equal(responses.length, requests.length);
  responses.forEach((response, i) => {
    const ref = reference.chat[i % reference.chat.length];
    assert.ok(ref);
    assertGreedyMatches(response.tokenIds ?? [], ref, `request ${i}`);
    assert.equal(response.response, ref.text);
    assert.equal(response.finishReason, ref.finish_reason);
    assert.deepEqual(response.usage, {
      promptTokens: ref.prompt_ids.length,
      completionTokens: ref.output_ids.length,
      totalTokens: ref.prompt_ids.length + ref.output_ids.length,
      cachedTokens: response.usage.cachedTokens,
    });
    assert.deepEqual(response.messages, [...ref.messages, { role: 'assistant', content: ref.text }]);
    const query = asQuery(ref.messages) as { query: string; history: [string, string][] };
    assert.deepEqual(response.history, [...query.history, [query.query, ref.text]]);
    assert.equal(response.logprobs, null);
  });
});

test('infer with a LoRA adapter (model: name) equals the adapter reference', async () => {
  const refs = reference.lora.a.chat;
  const responses = await engine.infer(refs.map((ref) => asQuery(ref.messages)), { maxTokens: 48, temperature: 0, model: 'a' });
  responses.forEach((response, i) => {
    const ref = refs[i];
    assert.ok(ref);
    assertGreedyMatches(response.tokenIds ?? [], ref, `lora ${i}`);
    assert.equal(response.response, ref.text);
  });
  assert.deepEqual(engine.adapterNames, ['a']);
});

test('history grows turn by turn, and a later turn sees the earlier ones', async () => {
  const config = { maxTokens: 6, temperature: 0, model: 'a' };
  const first = await engine.chat({ query: '你好!' }, config);
  assert.equal(first.history.length, 1);
  const second = await engine.chat({ query: '浙江的省会在哪?', history: first.history }, config);
  assert.deepEqual(second.history, [['你好!', first.response], ['浙江的省会在哪?', second.response]]);
  const viaMessages = await engine.chat({ messages: [...first.messages, { role: 'user', content: '浙江的省会在哪?' }] }, config);
  assert.equal(viaMessages.response, second.response);
  assert.deepEqual(viaMessages.history, second.history);
  assert.ok(second.usage.promptTokens > first.usage.promptTokens + first.usage.completionTokens);
});

test('inferStream: deltas add up to the answer; the last chunk has the finish reason, usage and history', async () => {
  const request = { query: 'Write a haiku about GPUs 🚀 and caches.' };
  const config = { maxTokens: 24, temperature: 0, model: 'a', logprobs: true, topLogprobs: 2 };
  const whole = await engine.chat(request, config);
  const chunks: InferStreamChunk[] = [];
  for await (const chunk of engine.inferStream(request, config)) chunks.push(chunk);
  assert.ok(chunks.length > 1);
  const last = chunks[chunks.length - 1];
  assert.ok(last);
  assert.equal(chunks.map((c) => c.delta).join(''), whole.response);
  assert.equal(last.response, whole.response);
  assert.deepEqual(chunks.flatMap((c) => c.tokenIds ?? []), whole.tokenIds);
  assert.ok(chunks.slice(0, -1).every((c) => c.finishReason === null));
  assert.equal(last.finishReason, 'length');
  assert.deepEqual(last.usage, whole.usage);
  assert.deepEqual(last.history, whole.history);
  assert.deepEqual(chunks.flatMap((c) => c.logprobs ?? []), whole.logprobs);
  assert.equal(whole.logprobs?.length, 24);
  for (const [i, entry] of (whole.logprobs ?? []).entries()) {
    assert.equal(entry.tokenId, whole.tokenIds?.[i]);
    assert.equal(entry.topLogprobs.length, 2);
    assert.ok(entry.logprob <= 0);
  }
});

test('a seed gives the same sampled answer again, alone or batched; another seed a different one', async () => {
  const request = { query: 'The quick brown fox' };
  const config = { maxTokens: 12, temperature: 1, model: 'a', seed: 7 };
  const seeded = await engine.infer([request, { query: 'hi' }, request], config);
  assert.deepEqual(seeded[0]?.tokenIds, seeded[2]?.tokenIds);
  const again = await engine.chat(request, config);
  assert.equal(again.response, seeded[0]?.response);
  const other = await engine.chat(request, { ...config, seed: 8 });
  assert.notDeepEqual(other.tokenIds, again.tokenIds);
});

test('aborting: a signal ends the answer with "abort"; leaving a stream early frees the request', async () => {
  const controller = new AbortController();
  let numChunks = 0;
  let last: InferStreamChunk | undefined;
  for await (const chunk of engine.inferStream({ query: 'hi' }, { temperature: 0, maxTokens: 2000, signal: controller.signal })) {
    last = chunk;
    if (++numChunks === 3) controller.abort();
  }
  assert.equal(last?.finishReason, 'abort');
  assert.ok((last?.usage.completionTokens ?? Infinity) < 100);

  const aborted = new AbortController();
  aborted.abort();
  const response = await engine.chat({ query: 'hi' }, { maxTokens: 2000, signal: aborted.signal });
  assert.equal(response.finishReason, 'abort');

  for await (const chunk of engine.inferStream({ query: 'hi' }, { temperature: 0, maxTokens: 2000 })) {
    if (chunk.usage.completionTokens >= 2) break;
  }
  for (let i = 0; i < 100 && engine.stats().numRunning + engine.stats().numWaiting > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(engine.stats().numRunning + engine.stats().numWaiting, 0);
});

test('structuredOutputs constrains the answer as the server\'s structured_outputs does; a bad one is an InferRequestError on it', async () => {
  await checkStructuredOutputs(engine, (error) => error instanceof InferRequestError && error.param === 'structured_outputs');
  assert.equal(engine.stats().numRunning + engine.stats().numWaiting, 0);
});

test('caller mistakes are InferRequestErrors naming the request; nothing is left running', async () => {
  await assert.rejects(engine.infer([{ query: 'ok' }, { query: 'x' }], { model: 'nope' }), (error: unknown) => {
    assert.ok(error instanceof InferRequestError);
    assert.equal(error.index, 0);
    assert.equal(error.param, 'model');
    assert.match(error.message, /requests\[0\]: no model or adapter named 'nope'/);
    return true;
  });
  await assert.rejects(engine.infer([{ query: 'ok' }, { messages: [] }], { maxTokens: 2 }), /requests\[1\]: `messages` must be a non-empty array/);
  await assert.rejects(engine.chat({ query: 'hi' }, { temperature: -1 }), (error: unknown) => error instanceof InferRequestError && error.param === 'temperature');
  await assert.rejects(engine.chat({ query: 'hi' }, { maxTokens: 5000 }), (error: unknown) => error instanceof InferRequestError && error.param === 'max_tokens');
  await assert.rejects(engine.chat({ query: 'word '.repeat(5000) }), /no room for an answer/);
  await assert.rejects(engine.chat({ query: 'hi', history: [['only one'] as unknown as [string, string]] }), /history\[0\]/);
  assert.equal(engine.stats().numRunning + engine.stats().numWaiting, 0);
});
