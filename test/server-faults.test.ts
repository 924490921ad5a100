/**
 * What clients get wrong and what goes wrong around them: bad bodies, unknown models and
 * routes, limits, auth, CORS, a full queue, clients that vanish mid-request, shutdown.
 * After each, the server still answers and holds no KV blocks.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { eventually, metricValue, MODEL_NAME, postJson, reference, scrape, startLiveServer, type LiveServer } from './helpers/live-server.js';

let live: LiveServer;
/** The live server's log: access lines, and any error it reports. */
const logged: string[] = [];

before(async () => {
  live = await startLiveServer({}, { log: (line) => logged.push(line) });
});

after(async () => {
  await live.close();
});

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: number | string | null };
}

function errorOf(json: unknown): ErrorBody['error'] {
  const body = json as ErrorBody;
  assert.equal(typeof body?.error?.message, 'string', `an OpenAI error body: ${JSON.stringify(json)}`);
  return body.error;
}

const chatMessages = reference.chat[0]?.messages ?? [];

async function assertIdle(url: string): Promise<void> {
  await eventually(async () => {
    const text = await scrape(url);
    return (
      metricValue(text, 'swiftlet:num_requests_running') === 0 &&
      metricValue(text, 'swiftlet:num_requests_waiting') === 0 &&
      metricValue(text, 'swiftlet:kv_cache_blocks_used') === 0
    );
  });
}

/** Reads an SSE response until `count` data events have come, then returns them. */
async function readEvents(body: ReadableStream<Uint8Array>, count: number): Promise<string[]> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const events: string[] = [];
  while (events.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      events.push(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  }
  reader.releaseLock();
  return events;
}

test('malformed JSON, a non-object body and an empty body: 400 saying so', async () => {
  const malformed = await postJson(`${live.url}/v1/chat/completions`, '{"model": "tiny-qwen2", "messages": [');
  assert.equal(malformed.status, 400);
  assert.match(errorOf(malformed.json).message, /not valid JSON/);
  assert.equal(errorOf(malformed.json).type, 'invalid_request_error');
  const array = await postJson(`${live.url}/v1/completions`, '[1, 2]');
  assert.equal(array.status, 400);
  assert.match(errorOf(array.json).message, /JSON object/);
  const empty = await postJson(`${live.url}/v1/completions`, '');
  assert.equal(empty.status, 400);
  assert.match(errorOf(empty.json).message, /empty/);
});

test('wrong field types and values: 400 naming the field', async () => {
  const cases: [unknown, string][] = [
    [{ model: MODEL_NAME, messages: chatMessages, temperature: 'hot' }, 'temperature'],
    [{ model: MODEL_NAME, messages: chatMessages, max_tokens: 1.5 }, 'max_tokens'],
    [{ model: MODEL_NAME, messages: 'hello' }, 'messages'],
    [{ model: MODEL_NAME, messages: [{ role: 'wizard', content: 'x' }] }, 'messages.0.role'],
    [{ model: MODEL_NAME, messages: chatMessages, n: 0 }, 'n'],
    [{ model: MODEL_NAME, messages: chatMessages, stream: 'yes' }, 'stream'],
    [{ model: MODEL_NAME, messages: chatMessages, top_logprobs: 2 }, 'top_logprobs'],
  ];
  for (const [body, param] of cases) {
    const response = await postJson(`${live.url}/v1/chat/completions`, body);
    assert.equal(response.status, 400, JSON.stringify(body));
    assert.equal(errorOf(response.json).param, param, JSON.stringify(response.json));
  }
  const noPrompt = await postJson(`${live.url}/v1/completions`, { model: MODEL_NAME });
  assert.equal(noPrompt.status, 400);
  assert.equal(errorOf(noPrompt.json).param, 'prompt');
});

test('empty messages, max_tokens beyond the context, an out-of-vocabulary prompt: 400', async () => {
  const client = live.client;
  await assert.rejects(client.chat.completions.create({ model: MODEL_NAME, messages: [] }), (error: unknown) => {
    assert.ok(error instanceof OpenAI.BadRequestError);
    assert.match(error.message, /at least one message/);
    return true;
  });
  await assert.rejects(client.chat.completions.create({ model: MODEL_NAME, messages: chatMessages, max_tokens: 100_000 }), (error: unknown) => {
    assert.ok(error instanceof OpenAI.BadRequestError);
    assert.match(error.message, /maximum context length is \d+ tokens/);
    return true;
  });
  await assert.rejects(client.completions.create({ model: MODEL_NAME, prompt: [10_000_000], max_tokens: 2 }), OpenAI.BadRequestError);
});

test('an unknown model is a 404 (as vLLM), through the client too', async () => {
  await assert.rejects(live.client.chat.completions.create({ model: 'gpt-4', messages: chatMessages, max_tokens: 2 }), (error: unknown) => {
    assert.ok(error instanceof OpenAI.NotFoundError);
    assert.match(error.message, /The model `gpt-4` does not exist/);
    return true;
  });
  const streamed = await postJson(`${live.url}/v1/completions`, { model: 'nope', prompt: 'x', stream: true });
  assert.equal(streamed.status, 404);
  assert.equal(errorOf(streamed.json).param, 'model');
});

test('unknown route 404, wrong method 405 with Allow, body over the limit 413', async () => {
  const unknown = await fetch(`${live.url}/v1/engines`);
  assert.equal(unknown.status, 404);
  errorOf(await unknown.json());
  const wrongMethod = await fetch(`${live.url}/v1/chat/completions`);
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.get('allow'), 'POST, OPTIONS');
  errorOf(await wrongMethod.json());
  assert.equal((await fetch(`${live.url}/v1/models`, { method: 'DELETE' })).status, 405);
  const overDefault = await postJson(`${live.url}/v1/completions`, { model: MODEL_NAME, prompt: 'x'.repeat(33 * 1024 * 1024) });
  assert.equal(overDefault.status, 413);
  assert.match(errorOf(overDefault.json).message, /limit of 33554432 bytes/);

  const small = await startLiveServer({}, { maxBodyBytes: 1024 });
  try {
    const big = await postJson(`${small.url}/v1/completions`, { model: MODEL_NAME, prompt: 'x'.repeat(4096) });
    assert.equal(big.status, 413);
    assert.match(errorOf(big.json).message, /larger than the limit of 1024 bytes/);
    // Without Content-Length (chunked), the limit holds while reading.
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${small.url}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 8; i++) req.write('x'.repeat(512));
      req.end();
    });
    assert.equal(chunked, 413);
    assert.equal((await postJson(`${small.url}/v1/completions`, { model: MODEL_NAME, prompt: 'hi', max_tokens: 1 })).status, 200);
  } finally {
    await small.close();
  }
});

test('without an API key, run-time adapter loading is off unless enabled (it reads any local path)', async () => {
  const open = await startLiveServer();
  try {
    assert.equal((await postJson(`${open.url}/v1/load_lora_adapter`, { lora_name: 'x', lora_path: '/x' })).status, 404);
    assert.equal((await postJson(`${open.url}/v1/unload_lora_adapter`, { lora_name: 'x' })).status, 404);
  } finally {
    await open.close();
  }
});

test('the API key guards /v1/* and tokenize; /health, /metrics and preflight stay open', async () => {
  const guarded = await startLiveServer({}, { apiKey: 'sekret' });
  try {
    const anonymous = new OpenAI({ baseURL: `${guarded.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
    await assert.rejects(anonymous.models.list(), OpenAI.AuthenticationError);
    const missing = await fetch(`${guarded.url}/v1/models`);
    assert.equal(missing.status, 401);
    assert.match(errorOf(await missing.json()).message, /Authorization: Bearer/);
    assert.equal((await postJson(`${guarded.url}/tokenize`, { prompt: 'hi' })).status, 401);
    assert.equal((await postJson(`${guarded.url}/v1/load_lora_adapter`, { lora_name: 'x', lora_path: '/x' })).status, 401);
    assert.equal((await fetch(`${guarded.url}/health`)).status, 200);
    assert.equal((await fetch(`${guarded.url}/metrics`)).status, 200);
    const preflight = await fetch(`${guarded.url}/v1/chat/completions`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://example.com', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), '*');
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.equal(preflight.headers.get('access-control-allow-headers'), 'authorization, content-type');

    const allowed = guarded.client;
    const models = await allowed.models.list();
    assert.equal(models.data[0]?.id, MODEL_NAME);
    const reply = await fetch(`${guarded.url}/v1/models`, { headers: { Authorization: 'Bearer sekret', Origin: 'http://example.com' } });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers.get('access-control-allow-origin'), '*');
  } finally {
    await guarded.close();
  }
});

test('a full queue answers 503 at once with a clear message, never a hang', async () => {
  const busyLogged: string[] = [];
  const busy = await startLiveServer({ maxNumSeqs: 1, maxWaiting: 1 }, { log: (line) => busyLogged.push(line) });
  try {
    const long = { model: MODEL_NAME, prompt: 'The quick brown fox', max_tokens: 3000, ignore_eos: true, temperature: 0, stream: true };
    const running = new AbortController();
    const first = await fetch(`${busy.url}/v1/completions`, { method: 'POST', body: JSON.stringify(long), signal: running.signal });
    assert.ok(first.body);
    await readEvents(first.body, 1);
    const waiting = new AbortController();
    const second = await fetch(`${busy.url}/v1/completions`, { method: 'POST', body: JSON.stringify(long), signal: waiting.signal });
    assert.equal(second.status, 200);
    const started = Date.now();
    const third = await postJson(`${busy.url}/v1/completions`, { ...long, stream: false });
    assert.ok(Date.now() - started < 2000);
    assert.equal(third.status, 503);
    assert.match(errorOf(third.json).message, /queue is full/);
    await assert.rejects(busy.client.chat.completions.create({ model: MODEL_NAME, messages: chatMessages, max_tokens: 2 }), OpenAI.InternalServerError);
    running.abort();
    waiting.abort();
    await assertIdle(busy.url);
    const after = await postJson(`${busy.url}/v1/completions`, { model: MODEL_NAME, prompt: 'hi', max_tokens: 2 });
    assert.equal(after.status, 200);
    assert.ok(busyLogged.some((line) => /^POST \/v1\/completions 503 /.test(line)), busyLogged.join('\n'));
    assert.ok(!busyLogged.some((line) => /^error in|\n\s+at /.test(line)), `a full queue is not the server's error:\n${busyLogged.join('\n')}`);
  } finally {
    await busy.close();
  }
});

test('a client that disconnects mid-stream aborts its request and frees its blocks at once', async () => {
  const controller = new AbortController();
  const response = await fetch(`${live.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'a', messages: chatMessages, max_tokens: 3000, ignore_eos: true, n: 2, stream: true }),
    signal: controller.signal,
  });
  assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  assert.ok(response.body);
  const events = await readEvents(response.body, 3);
  assert.ok(events.every((event) => event.startsWith('data: {')));
  assert.ok(metricValue(await scrape(live.url), 'swiftlet:kv_cache_blocks_used') > 0);
  const abortsBefore = metricValue(await scrape(live.url), 'swiftlet:request_success_total{model_name="tiny-qwen2",finished_reason="abort"}', 0);
  controller.abort();
  await assertIdle(live.url);
  const text = await scrape(live.url);
  assert.ok(metricValue(text, 'swiftlet:request_success_total{model_name="tiny-qwen2",finished_reason="abort"}') > abortsBefore);
  assert.ok(metricValue(text, 'swiftlet:http_requests_total{method="POST",endpoint="/v1/chat/completions",status="499"}') >= 1);
});

test('a client that disconnects during a non-streamed request aborts it too', async () => {
  const controller = new AbortController();
  const pending = fetch(`${live.url}/v1/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: MODEL_NAME, prompt: 'The quick brown fox', max_tokens: 3000, ignore_eos: true }),
    signal: controller.signal,
  });
  await eventually(async () => metricValue(await scrape(live.url), 'swiftlet:num_requests_running') === 1);
  controller.abort();
  await assert.rejects(pending);
  await assertIdle(live.url);
  assert.equal((await postJson(`${live.url}/v1/completions`, { model: MODEL_NAME, prompt: 'hi', max_tokens: 2 })).status, 200);
});

test('clients gone mid-upload, mid-stream or mid-request are access lines with 499, never errors with stacks', async () => {
  const upload = await new Promise<Socket>((resolve) => {
    const socket = connect(live.server.port, '127.0.0.1', () => resolve(socket));
  });
  upload.write('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"prompt": "hel');
  await new Promise((resolve) => setTimeout(resolve, 100));
  upload.destroy();
  const closed = () => logged.filter((line) => / 499 \(client closed the connection\) /.test(line));
  // NOTE: the two disconnect tests above left one each.
  await eventually(async () => closed().length >= 3);
  assert.ok(closed().some((line) => line.startsWith('POST /v1/chat/completions 499')), logged.join('\n'));
  assert.ok(!logged.some((line) => /^error in|\n\s+at /.test(line)), logged.join('\n'));
});

test('an error inside a stream arrives as a data: {"error": ...} event, then [DONE]', async () => {
  const failing = await startLiveServer();
  try {
    const runner = failing.host.runner;
    const execute = runner.execute.bind(runner);
    let numSteps = 0;
    runner.execute = async (batch) => {
      if (++numSteps === 3) throw new Error('device lost');
      return execute(batch);
    };
    const response = await fetch(`${failing.url}/v1/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: MODEL_NAME, prompt: 'The quick brown fox', max_tokens: 10, stream: true }),
    });
    assert.equal(response.status, 200);
    const text = await response.text();
    const events = text.split('\n\n').filter((event) => event !== '');
    assert.equal(events.at(-1), 'data: [DONE]');
    const error = JSON.parse((events.at(-2) as string).slice('data: '.length)) as ErrorBody;
    assert.match(error.error.message, /device lost/);
    assert.deepEqual([error.error.type, error.error.code], ['server_error', null]);
    await assertIdle(failing.url);
    const next = await postJson(`${failing.url}/v1/completions`, { model: MODEL_NAME, prompt: 'hi', max_tokens: 2 });
    assert.equal(next.status, 200);
  } finally {
    await failing.close();
  }
});

test('shutdown: requests in flight finish within the grace period; new connections are refused', async () => {
  const server = await startLiveServer();
  const stream = await server.client.completions.create({ model: MODEL_NAME, prompt: 'The quick brown fox', max_tokens: 40, temperature: 0, stream: true });
  const iterator = stream[Symbol.asyncIterator]();
  assert.equal((await iterator.next()).done, false);
  const closed = server.server.shutdown(10_000);
  await assert.rejects(fetch(`${server.url}/health`));
  let finishReason: string | null = null;
  let text = ' fox';
  for (;;) {
    const next = await iterator.next();
    if (next.done) break;
    text += next.value.choices[0]?.text ?? '';
    finishReason = next.value.choices[0]?.finish_reason ?? finishReason;
  }
  assert.equal(finishReason, 'length');
  assert.equal(text, ' fox'.repeat(40));
  await closed;
  server.host.dispose();
});

test('shutdown: what outlives the grace period is aborted ("abort", then [DONE]) and the server closes', async () => {
  const server = await startLiveServer();
  const response = await fetch(`${server.url}/v1/completions`, {
    method: 'POST',
    body: JSON.stringify({ model: MODEL_NAME, prompt: 'The quick brown fox', max_tokens: 3000, ignore_eos: true, stream: true }),
  });
  assert.ok(response.body);
  const reader = response.body.getReader();
  await reader.read();
  const started = Date.now();
  const closed = server.server.shutdown(200);
  let rest = '';
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    rest += decoder.decode(value, { stream: true });
  }
  await closed;
  assert.ok(Date.now() - started < 3000);
  assert.match(rest, /"finish_reason":"abort"/);
  assert.ok(rest.endsWith('data: [DONE]\n\n'));
  assert.equal(server.host.engine.stats().numKvBlocksUsed, 0);
  server.host.dispose();
});
