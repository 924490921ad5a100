/**
 * Multi-LoRA through the live server: adapter requests equal peft's references, base and
 * adapter requests sent together share engine steps and each gets its own reference, and
 * adapters load and unload at run time (unloading aborts the adapter's requests in flight).
 */
import { dirname } from 'node:path';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type OpenAI from 'openai';
import type { ChatCompletionCreateParamsNonStreaming, CompletionCreateParamsNonStreaming } from 'openai/resources';
import {
  ADAPTER_DIR,
  eventually,
  idsFromTokens,
  metricValue,
  MODEL_NAME,
  postJson,
  reference,
  scrape,
  startLiveServer,
  type ChatReference,
  type LiveServer,
  type RawReference,
} from './helpers/live-server.js';

let live: LiveServer;
let client: OpenAI;

before(async () => {
  live = await startLiveServer({}, { allowRuntimeLoraUpdating: true, loraRoots: [dirname(ADAPTER_DIR)] });
  client = live.client;
});

after(async () => {
  await live.close();
});

const asIds = { return_tokens_as_token_ids: true } as Record<string, unknown>;

async function chatIds(model: string, ref: ChatReference): Promise<number[]> {
  const completion = await client.chat.completions.create({
    model,
    messages: ref.messages,
    max_tokens: ref.output_ids.length,
    temperature: 0,
    logprobs: true,
    ...asIds,
  } as ChatCompletionCreateParamsNonStreaming);
  return idsFromTokens(completion.choices[0]?.logprobs?.content?.map((entry) => entry.token) ?? []);
}

async function rawIds(model: string, ref: RawReference): Promise<number[]> {
  const completion = await client.completions.create({
    model,
    prompt: ref.prompt,
    max_tokens: ref.output_ids.length,
    temperature: 0,
    logprobs: 0,
    ...asIds,
  } as CompletionCreateParamsNonStreaming);
  return idsFromTokens(completion.choices[0]?.logprobs?.tokens ?? []);
}

test('adapter requests equal the peft references (chat and completion), streamed text too', async () => {
  for (const ref of reference.lora.a.chat) assert.deepEqual(await chatIds('a', ref), ref.output_ids);
  for (const ref of reference.lora.a.raw) assert.deepEqual(await rawIds('a', ref), ref.output_ids);
  const ref = reference.lora.a.chat[0];
  assert.ok(ref);
  const stream = await client.chat.completions.create({ model: 'a', messages: ref.messages, max_tokens: ref.output_ids.length, temperature: 0, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
  assert.equal(text, ref.text);
});

test('base and adapter requests sent together run in the same engine steps, each with its own reference', async () => {
  const jobs: { run: () => Promise<number[]>; expected: number[] }[] = [];
  for (let copy = 0; copy < 2; copy++) {
    reference.chat.forEach((ref, i) => {
      jobs.push({ run: () => chatIds(MODEL_NAME, ref), expected: ref.output_ids });
      const adapted = reference.lora.a.chat[i] as ChatReference;
      jobs.push({ run: () => chatIds('a', adapted), expected: adapted.output_ids });
    });
    reference.raw.forEach((ref, i) => {
      jobs.push({ run: () => rawIds(MODEL_NAME, ref), expected: ref.output_ids });
      const adapted = reference.lora.a.raw[i] as RawReference;
      jobs.push({ run: () => rawIds('a', adapted), expected: adapted.output_ids });
    });
  }
  const stepsBefore = live.host.engine.stats().numStepsTotal;
  const results = await Promise.all(jobs.map((job) => job.run()));
  const steps = live.host.engine.stats().numStepsTotal - stepsBefore;
  results.forEach((ids, i) => assert.deepEqual(ids, jobs[i]?.expected, `request ${i}`));
  const numTokens = jobs.reduce((sum, job) => sum + job.expected.length, 0);
  // Alone, each request would need a step per token; batched, about as many as the longest.
  assert.ok(steps < numTokens / 4, `${jobs.length} requests (${numTokens} tokens) took ${steps} steps`);
});

test('load_lora_adapter / unload_lora_adapter at run time, with vLLM bodies and errors', async () => {
  const load = await postJson(`${live.url}/v1/load_lora_adapter`, { lora_name: 'b', lora_path: ADAPTER_DIR });
  assert.equal(load.status, 200, load.text);
  assert.match(load.text, /Success: LoRA adapter 'b' added successfully/);
  assert.deepEqual(
    (await client.models.list()).data.map((m) => m.id),
    [MODEL_NAME, 'a', 'b'],
  );
  const ref = reference.lora.a.raw[0] as RawReference;
  assert.deepEqual(await rawIds('b', ref), ref.output_ids);

  const again = await postJson(`${live.url}/v1/load_lora_adapter`, { lora_name: 'b', lora_path: ADAPTER_DIR });
  assert.equal(again.status, 400);
  assert.match((again.json as { error: { message: string } }).error.message, /already been loaded/);
  const missing = await postJson(`${live.url}/v1/load_lora_adapter`, { lora_name: 'c', lora_path: '/nonexistent/adapter' });
  assert.equal(missing.status, 400);
  assert.match((missing.json as { error: { message: string } }).error.message, /lora_path must be a directory under one of the server's --lora-root/);
  const malformed = await postJson(`${live.url}/v1/load_lora_adapter`, { lora_name: 'c' });
  assert.equal(malformed.status, 400);
  assert.equal((malformed.json as { error: { param: string } }).error.param, 'lora_path');

  const unload = await postJson(`${live.url}/v1/unload_lora_adapter`, { lora_name: 'b' });
  assert.equal(unload.status, 200, unload.text);
  assert.match(unload.text, /removed successfully/);
  const gone = await postJson(`${live.url}/v1/completions`, { model: 'b', prompt: 'hi', max_tokens: 2 });
  assert.equal(gone.status, 404);
  const unknown = await postJson(`${live.url}/v1/unload_lora_adapter`, { lora_name: 'b' });
  assert.equal(unknown.status, 404);
  assert.deepEqual(
    (await client.models.list()).data.map((m) => m.id),
    [MODEL_NAME, 'a'],
  );
  // The slot is free again, and a reload under the same name computes afresh.
  assert.equal((await postJson(`${live.url}/v1/load_lora_adapter`, { lora_name: 'b', lora_path: ADAPTER_DIR })).status, 200);
  assert.deepEqual(await rawIds('b', ref), ref.output_ids);
  assert.equal((await postJson(`${live.url}/v1/unload_lora_adapter`, { lora_name: 'b' })).status, 200);
});

test('unloading an adapter aborts its requests in flight; the base model\'s go on', async () => {
  assert.equal((await postJson(`${live.url}/v1/load_lora_adapter`, { lora_name: 'doomed', lora_path: ADAPTER_DIR })).status, 200);
  const long = { prompt: 'The quick brown fox', max_tokens: 3000, temperature: 0, ignore_eos: true, stream: true } as Record<string, unknown>;
  const doomed = await client.completions.create({ ...long, model: 'doomed' } as unknown as OpenAI.CompletionCreateParamsStreaming);
  const base = await client.completions.create({ ...long, model: MODEL_NAME, max_tokens: 40 } as unknown as OpenAI.CompletionCreateParamsStreaming);
  const doomedIterator = doomed[Symbol.asyncIterator]();
  assert.equal((await doomedIterator.next()).done, false);
  assert.equal((await postJson(`${live.url}/v1/unload_lora_adapter`, { lora_name: 'doomed' })).status, 200);
  let finishReason: string | null = null;
  let numChunks = 0;
  for (;;) {
    const next = await doomedIterator.next();
    if (next.done) break;
    numChunks++;
    finishReason = next.value.choices[0]?.finish_reason ?? finishReason;
  }
  assert.equal(finishReason, 'abort');
  assert.ok(numChunks < 2900);
  let baseFinish: string | null = null;
  for await (const chunk of base) baseFinish = chunk.choices[0]?.finish_reason ?? baseFinish;
  assert.equal(baseFinish, 'length');
  await eventually(async () => metricValue(await scrape(live.url), 'swiftlet:kv_cache_blocks_used') === 0);
});
