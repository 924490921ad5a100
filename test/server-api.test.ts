/**
 * The OpenAI API of a live server, driven by the official `openai` client: greedy outputs
 * equal the transformers references token for token, streamed and not; n > 1, logprobs, stop
 * strings, seeds; /v1/models, /tokenize, /detokenize, /health, /version, /metrics.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type OpenAI from 'openai';
import type {
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
  CompletionCreateParamsNonStreaming,
  CompletionCreateParamsStreaming,
} from 'openai/resources';
import { idsFromTokens, metricValue, MODEL_NAME, postJson, reference, scrape, startLiveServer, type LiveServer } from './helpers/live-server.js';

let live: LiveServer;
let client: OpenAI;

before(async () => {
  live = await startLiveServer();
  client = live.client;
});

after(async () => {
  await live.close();
});

/** vLLM's extension fields ride along in the body; the SDK sends unknown fields as given. */
const asIds = { return_tokens_as_token_ids: true } as Record<string, unknown>;

test('/v1/models lists the base model and the adapter; retrieve finds each', async () => {
  const models = await client.models.list();
  assert.deepEqual(
    models.data.map((m) => m.id),
    [MODEL_NAME, 'a'],
  );
  const adapter = (await client.models.retrieve('a')) as unknown as Record<string, unknown>;
  assert.equal(adapter['parent'], MODEL_NAME);
  assert.equal((await client.models.retrieve(MODEL_NAME)).id, MODEL_NAME);
});

test('chat, not streamed: greedy output ids and text equal the reference', async () => {
  for (const ref of reference.chat) {
    const completion = await client.chat.completions.create({
      model: MODEL_NAME,
      messages: ref.messages,
      max_tokens: ref.output_ids.length,
      temperature: 0,
      logprobs: true,
      ...asIds,
    } as ChatCompletionCreateParamsNonStreaming);
    const choice = completion.choices[0];
    assert.ok(choice);
    assert.deepEqual(idsFromTokens(choice.logprobs?.content?.map((entry) => entry.token) ?? []), ref.output_ids);
    assert.equal(choice.message.content, ref.text);
    assert.equal(choice.finish_reason, ref.finish_reason);
    assert.equal(completion.usage?.prompt_tokens, ref.prompt_ids.length);
    assert.equal(completion.usage?.completion_tokens, ref.output_ids.length);
    assert.equal(completion.model, MODEL_NAME);
  }
});

test('chat, streamed: deltas add up to the reference; usage comes last with include_usage', async () => {
  const ref = reference.chat[4];
  assert.ok(ref);
  const stream = await client.chat.completions.create({
    model: MODEL_NAME,
    messages: ref.messages,
    max_tokens: ref.output_ids.length,
    temperature: 0,
    logprobs: true,
    stream: true,
    stream_options: { include_usage: true },
    ...asIds,
  } as ChatCompletionCreateParamsStreaming);
  let text = '';
  const ids: number[] = [];
  let finishReason: string | null = null;
  let usage: OpenAI.CompletionUsage | null | undefined = null;
  let isFirst = true;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) continue;
    if (isFirst) assert.equal(choice.delta.role, 'assistant');
    isFirst = false;
    text += choice.delta.content ?? '';
    ids.push(...idsFromTokens(choice.logprobs?.content?.map((entry) => entry.token) ?? []));
    finishReason = choice.finish_reason ?? finishReason;
  }
  assert.equal(text, ref.text);
  assert.deepEqual(ids, ref.output_ids);
  assert.equal(finishReason, ref.finish_reason);
  assert.equal(usage?.prompt_tokens, ref.prompt_ids.length);
  assert.equal(usage?.completion_tokens, ref.output_ids.length);
});

test('completion, not streamed and streamed, from text and from token ids: the reference', async () => {
  for (const ref of reference.raw) {
    for (const prompt of [ref.prompt, ref.prompt_ids]) {
      const completion = await client.completions.create({
        model: MODEL_NAME,
        prompt,
        max_tokens: ref.output_ids.length,
        temperature: 0,
        logprobs: 0,
        ...asIds,
      } as CompletionCreateParamsNonStreaming);
      const choice = completion.choices[0];
      assert.ok(choice);
      assert.deepEqual(idsFromTokens(choice.logprobs?.tokens ?? []), ref.output_ids);
      assert.equal(choice.text, ref.text);
      assert.equal(completion.usage?.prompt_tokens, ref.prompt_ids.length);
    }
    const stream = await client.completions.create({
      model: MODEL_NAME,
      prompt: ref.prompt,
      max_tokens: ref.output_ids.length,
      temperature: 0,
      stream: true,
    } as CompletionCreateParamsStreaming);
    let text = '';
    let finishReason: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? '';
      finishReason = chunk.choices[0]?.finish_reason ?? finishReason;
    }
    assert.equal(text, ref.text);
    assert.equal(finishReason, 'length');
  }
});

test('n > 1 with a seed: n distinct-index choices, reproducible, and a greedy n gives n copies of the reference', async () => {
  const ref = reference.raw[1];
  assert.ok(ref);
  const sampled = async (seed: number) =>
    client.completions.create({ model: 'a', prompt: ref.prompt, max_tokens: 12, temperature: 1.5, n: 3, seed });
  const first = await sampled(1234);
  const again = await sampled(1234);
  assert.deepEqual(
    first.choices.map((c) => c.index),
    [0, 1, 2],
  );
  assert.deepEqual(
    first.choices.map((c) => c.text),
    again.choices.map((c) => c.text),
  );
  assert.equal(first.usage?.completion_tokens, 36);
  assert.ok(new Set(first.choices.map((c) => c.text)).size > 1, 'the n samples differ');
  const other = await sampled(99);
  assert.notDeepEqual(
    first.choices.map((c) => c.text),
    other.choices.map((c) => c.text),
  );

  const greedy = await client.chat.completions.create({
    model: MODEL_NAME,
    messages: reference.chat[0]?.messages ?? [],
    max_tokens: 8,
    temperature: 0,
    n: 2,
    stream: true,
  });
  const texts = ['', ''];
  for await (const chunk of greedy) for (const choice of chunk.choices) texts[choice.index] += choice.delta.content ?? '';
  assert.deepEqual(texts, ['\n'.repeat(8), '\n'.repeat(8)]);
});

test('seeded sampling is reproducible for chat, streamed or not', async () => {
  const body = { model: 'a', messages: reference.chat[1]?.messages ?? [], max_tokens: 16, temperature: 1.2, top_p: 0.95, seed: 42 };
  const whole = await client.chat.completions.create(body);
  const stream = await client.chat.completions.create({ ...body, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
  assert.equal(text, whole.choices[0]?.message.content);
  assert.equal((await client.chat.completions.create(body)).choices[0]?.message.content, text);
});

test('logprobs: top_logprobs entries, the greedy token is the top one, completion logprobs line up', async () => {
  const chat = await client.chat.completions.create({
    model: MODEL_NAME,
    messages: reference.chat[3]?.messages ?? [],
    max_tokens: 6,
    temperature: 0,
    logprobs: true,
    top_logprobs: 3,
  });
  const content = chat.choices[0]?.logprobs?.content ?? [];
  assert.equal(content.length, 6);
  for (const entry of content) {
    assert.equal(entry.top_logprobs.length, 3);
    assert.ok(entry.logprob <= 0);
    assert.equal(entry.top_logprobs[0]?.token, entry.token);
    assert.ok(Math.abs((entry.top_logprobs[0]?.logprob ?? 0) - entry.logprob) < 1e-6);
    assert.ok(Array.isArray(entry.bytes));
  }
  const completion = await client.completions.create({ model: MODEL_NAME, prompt: 'The quick brown fox', max_tokens: 4, temperature: 0, logprobs: 2 });
  const logprobs = completion.choices[0]?.logprobs;
  assert.equal(logprobs?.tokens?.length, 4);
  assert.equal(logprobs?.token_logprobs?.length, 4);
  assert.equal(logprobs?.top_logprobs?.length, 4);
  assert.equal(logprobs?.tokens?.join(''), completion.choices[0]?.text);
});

test('stop strings end the text before the stop (or with it, include_stop_str_in_output), streamed and not', async () => {
  const ref = reference.lora.a.raw[1];
  assert.ok(ref);
  const stop = 'hà';
  const cut = ref.text.indexOf(stop);
  assert.ok(cut > 0);
  const plain = await client.completions.create({ model: 'a', prompt: ref.prompt, max_tokens: 32, temperature: 0, stop: [stop] });
  assert.equal(plain.choices[0]?.text, ref.text.slice(0, cut));
  assert.equal(plain.choices[0]?.finish_reason, 'stop');
  assert.equal((plain.choices[0] as unknown as Record<string, unknown>)['stop_reason'], stop);
  const included = await client.completions.create({
    model: 'a',
    prompt: ref.prompt,
    max_tokens: 32,
    temperature: 0,
    stop,
    include_stop_str_in_output: true,
  } as CompletionCreateParamsNonStreaming);
  assert.equal(included.choices[0]?.text, ref.text.slice(0, cut + stop.length));
  const stream = await client.completions.create({ model: 'a', prompt: ref.prompt, max_tokens: 32, temperature: 0, stop, stream: true });
  let text = '';
  let finishReason: string | null = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.text ?? '';
    finishReason = chunk.choices[0]?.finish_reason ?? finishReason;
  }
  assert.equal(text, ref.text.slice(0, cut));
  assert.equal(finishReason, 'stop');
});

test('/tokenize and /detokenize: vLLM shapes, completion and chat prompts', async () => {
  const raw = reference.raw[0];
  const chat = reference.chat[2];
  assert.ok(raw && chat);
  const plain = await postJson(`${live.url}/tokenize`, { model: MODEL_NAME, prompt: raw.prompt, return_token_strs: true });
  assert.equal(plain.status, 200);
  const body = plain.json as { count: number; max_model_len: number; tokens: number[]; token_strs: string[] };
  assert.deepEqual(body.tokens, raw.prompt_ids);
  assert.equal(body.count, raw.prompt_ids.length);
  assert.equal(body.max_model_len, live.host.maxModelLen);
  assert.equal(body.token_strs.length, raw.prompt_ids.length);
  const templated = await postJson(`${live.url}/tokenize`, { messages: chat.messages });
  assert.deepEqual((templated.json as { tokens: number[] }).tokens, chat.prompt_ids);
  assert.equal((templated.json as { token_strs: unknown }).token_strs, null);
  const detokenized = await postJson(`${live.url}/detokenize`, { model: MODEL_NAME, tokens: chat.prompt_ids });
  assert.equal(detokenized.status, 200);
  assert.deepEqual(detokenized.json, { prompt: chat.prompt_text });
  const bad = await postJson(`${live.url}/detokenize`, { tokens: [1, 'x'] });
  assert.equal(bad.status, 400);
  const unknownModel = await postJson(`${live.url}/tokenize`, { model: 'nope', prompt: 'hi' });
  assert.equal(unknownModel.status, 404);
});

test('/health, /version, HEAD, and /metrics in Prometheus text with the request counters', async () => {
  const health = await fetch(`${live.url}/health`);
  assert.equal(health.status, 200);
  assert.equal(await health.text(), '');
  const version = (await (await fetch(`${live.url}/version`)).json()) as { version: string };
  assert.match(version.version, /^\d+\.\d+\.\d+/);
  assert.equal((await fetch(`${live.url}/health`, { method: 'HEAD' })).status, 200);

  const response = await fetch(`${live.url}/metrics`);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  assert.match(text, /# TYPE swiftlet:time_to_first_token_seconds histogram/);
  assert.match(text, /swiftlet:http_requests_total\{method="POST",endpoint="\/v1\/chat\/completions",status="200"\} \d+/);
  assert.ok(metricValue(text, 'swiftlet:time_to_first_token_seconds_count') > 0);
  assert.ok(metricValue(text, 'swiftlet:inter_token_latency_seconds_count') > 0);
  assert.ok(metricValue(text, 'swiftlet:generation_tokens_total') > 0);
  assert.ok(metricValue(text, 'swiftlet:prompt_tokens_total') > 0);
  assert.ok(metricValue(text, 'swiftlet:prefix_cache_hits_total') > 0, 'repeated prompts hit the prefix cache');
  const hitRate = metricValue(text, 'swiftlet:prefix_cache_hit_rate');
  assert.ok(hitRate > 0 && hitRate <= 1);
  assert.equal(metricValue(text, 'swiftlet:num_requests_running'), 0);
  assert.equal(metricValue(text, 'swiftlet:num_requests_waiting'), 0);
  assert.equal(metricValue(text, 'swiftlet:kv_cache_blocks_used'), 0);
  assert.equal(metricValue(text, 'swiftlet:kv_cache_usage_perc'), 0);
  assert.equal(metricValue(text, 'swiftlet:num_preemptions_total'), 0);
  assert.ok(metricValue(await scrape(live.url), 'swiftlet:http_requests_total{method="GET",endpoint="/metrics",status="200"}') >= 1);
});
