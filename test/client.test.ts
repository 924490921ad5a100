/**
 * `Client` against a live swiftlet server on the fixture model: models(), greedy chat equal
 * to the references, history across turns, streaming adding up to the whole answer, seeds,
 * an adapter by name, the API key, server errors as ClientError, and aborting a stream.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client, ClientError, InferRequestError, type InferStreamChunk } from '../src/index.js';
import { ADAPTER_NAME, MODEL_NAME, reference, startLiveServer, type LiveServer } from './helpers/live-server.js';
import { checkStructuredOutputs } from './helpers/structured-backend-checks.js';

const API_KEY = 'test-key';
let live: LiveServer;
let client: Client;

before(async () => {
  live = await startLiveServer({}, { apiKey: API_KEY });
  client = new Client({ baseURL: live.url, apiKey: API_KEY });
});

after(async () => {
  await live.close();
});

test('models() lists the base model and its adapter; health() is true', async () => {
  const models = await client.models();
  assert.deepEqual(models.map((m) => m.id), [MODEL_NAME, ADAPTER_NAME]);
  assert.equal(models[1]?.parent, MODEL_NAME);
  assert.ok((models[0]?.maxModelLen ?? 0) > 0);
  assert.equal(await client.health(), true);
  assert.equal(client.baseURL, `${live.url}/v1`);
});

test('infer: greedy answers equal the reference; the model defaults to the first listed', async () => {
  const responses = await client.infer(reference.chat.map((ref) => ({ messages: ref.messages })), { maxTokens: 48, temperature: 0 });
  responses.forEach((response, i) => {
    const ref = reference.chat[i];
    assert.ok(ref);
    assert.equal(response.response, ref.text);
    assert.equal(response.finishReason, ref.finish_reason);
    assert.equal(response.usage.promptTokens, ref.prompt_ids.length);
    assert.equal(response.usage.completionTokens, ref.output_ids.length);
    assert.deepEqual(response.messages, [...ref.messages, { role: 'assistant', content: ref.text }]);
  });
  const lora = reference.lora.a.chat[0];
  assert.ok(lora);
  const answer = await client.chat({ messages: lora.messages }, { maxTokens: 48, temperature: 0, model: ADAPTER_NAME });
  assert.equal(answer.response, lora.text);
});

test('chat with history: the second turn carries the first', async () => {
  const config = { maxTokens: 8, temperature: 0, model: ADAPTER_NAME };
  const first = await client.chat({ query: '你好!', system: 'You are a terse assistant.' }, config);
  assert.deepEqual(first.history, [['你好!', first.response]]);
  const second = await client.chat({ query: '浙江的省会在哪?', history: first.history, system: 'You are a terse assistant.' }, config);
  assert.deepEqual(second.history, [['你好!', first.response], ['浙江的省会在哪?', second.response]]);
  assert.deepEqual(second.messages.map((m) => m.role), ['system', 'user', 'assistant', 'user', 'assistant']);
});

test('chatStream: deltas add up to the answer; the last chunk has usage and the finish reason', async () => {
  const request = { query: 'Write a haiku about GPUs 🚀 and caches.' };
  const config = { maxTokens: 16, temperature: 0, model: ADAPTER_NAME };
  const whole = await client.chat(request, config);
  const chunks: InferStreamChunk[] = [];
  for await (const chunk of client.chatStream(request, config)) chunks.push(chunk);
  const last = chunks[chunks.length - 1];
  assert.ok(last && chunks.length > 1);
  assert.equal(chunks.map((c) => c.delta).join(''), whole.response);
  assert.equal(last.finishReason, 'length');
  // NOTE: the second time the prompt comes from the prefix cache; the counts are the same.
  assert.deepEqual({ ...last.usage, cachedTokens: 0 }, { ...whole.usage, cachedTokens: 0 });
  assert.deepEqual(last.history, whole.history);
  assert.ok(chunks.slice(0, -1).every((c) => c.finishReason === null));
});

test('a seed repeats a sampled answer; logprobs come back per token', async () => {
  const config = { maxTokens: 10, temperature: 1, seed: 11, model: ADAPTER_NAME, logprobs: true, topLogprobs: 3 };
  const [a, b] = await client.infer([{ query: 'The quick brown fox' }, { query: 'The quick brown fox' }], config);
  assert.ok(a && b);
  assert.equal(a.response, b.response);
  assert.equal(a.logprobs?.length, 10);
  assert.equal(a.logprobs?.[0]?.topLogprobs.length, 3);
});

test('errors: a wrong API key is a 401, a bad request a 400 naming the field, an unknown model a 404', async () => {
  const stranger = new Client({ baseURL: `${live.url}/v1/`, apiKey: 'wrong' });
  await assert.rejects(stranger.models(), (error: unknown) => error instanceof ClientError && error.status === 401);
  await assert.rejects(client.chat({ query: 'hi' }, { temperature: -1 }), (error: unknown) => {
    assert.ok(error instanceof ClientError);
    assert.equal(error.status, 400);
    assert.equal(error.param, 'temperature');
    return true;
  });
  await assert.rejects(client.chat({ query: 'hi' }, { model: 'nope' }), (error: unknown) => error instanceof ClientError && error.status === 404);
  await assert.rejects(client.infer([{ query: 'hi' }, { messages: [] }]), (error: unknown) => error instanceof InferRequestError && error.index === 1);
  const nowhere = new Client({ baseURL: 'http://127.0.0.1:9/v1' });
  await assert.rejects(nowhere.models(), /cannot reach http:\/\/127\.0\.0\.1:9\/v1\/models/);
});

test('structuredOutputs reaches the server as structured_outputs; a bad one is a 400 on that field', async () => {
  await checkStructuredOutputs(client, (error) => error instanceof ClientError && error.status === 400 && error.param === 'structured_outputs');
});

test('aborting a stream ends it with "abort" and the server frees the request', async () => {
  const controller = new AbortController();
  let last: InferStreamChunk | undefined;
  let numChunks = 0;
  for await (const chunk of client.chatStream({ query: 'hi' }, { maxTokens: 3000, temperature: 0, signal: controller.signal })) {
    last = chunk;
    if (++numChunks === 3) controller.abort();
  }
  assert.equal(last?.finishReason, 'abort');
  const deadline = Date.now() + 5000;
  while (live.server.service.numInFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(live.server.service.numInFlight, 0);
});
