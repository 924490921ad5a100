/**
 * `/v1/embeddings` through the openai client on a live server: base64 (the client's default)
 * and float agree, vectors are unit length, `dimensions` is the renormalised prefix, a batch
 * answers each input as alone, token-id inputs equal their text, usage counts prompt tokens.
 * (That the vectors are the model's final hidden states is checked against transformers in
 * embeddings-engine.test.ts.) Also the pooling choice from a sentence-transformers config.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from '../src/client/client.js';
import { Engine } from '../src/llm/engine.js';
import { InferRequestError } from '../src/llm/errors.js';
import { poolingModeOf } from '../src/model/pooling-config.js';
import { MODEL_NAME, postJson, startLiveServer, type LiveServer } from './helpers/live-server.js';

let live: LiveServer;

before(async () => {
  live = await startLiveServer();
});

after(async () => {
  await live.close();
});

const norm = (v: readonly number[]) => Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));

function assertClose(a: readonly number[], b: readonly number[], what: string): void {
  assert.equal(a.length, b.length, what);
  a.forEach((x, i) => assert.ok(Math.abs(x - (b[i] as number)) < 1e-5, `${what}: [${i}] ${x} vs ${b[i]}`));
}

test('base64 and float agree; unit length; hidden-size vectors; usage', async () => {
  const base64 = await live.client.embeddings.create({ model: MODEL_NAME, input: 'The quick brown fox' });
  const float = await live.client.embeddings.create({ model: MODEL_NAME, input: 'The quick brown fox', encoding_format: 'float' });
  const v = base64.data[0]?.embedding ?? [];
  assert.equal(v.length, live.host.spec.hiddenSize);
  assertClose(v, float.data[0]?.embedding ?? [], 'base64 vs float');
  assert.ok(Math.abs(norm(v) - 1) < 1e-5);
  const numTokens = live.host.tokenizer.encode('The quick brown fox').length;
  assert.deepEqual(base64.usage, { prompt_tokens: numTokens, total_tokens: numTokens });
  assert.equal(base64.object, 'list');
  assert.equal(base64.data[0]?.object, 'embedding');
});

test('a batch answers each input as alone, in order; token ids equal their text', async () => {
  const texts = ['hello world', 'a much longer sentence about something else entirely', 'x'];
  const batch = await live.client.embeddings.create({ model: MODEL_NAME, input: texts, encoding_format: 'float' });
  assert.deepEqual(batch.data.map((entry) => entry.index), [0, 1, 2]);
  for (const [i, text] of texts.entries()) {
    const alone = await live.client.embeddings.create({ model: MODEL_NAME, input: text, encoding_format: 'float' });
    assertClose(batch.data[i]?.embedding ?? [], alone.data[0]?.embedding ?? [], `input ${i}`);
  }
  const ids = live.host.tokenizer.encode(texts[1] as string);
  const fromIds = await live.client.embeddings.create({ model: MODEL_NAME, input: [ids, ids.slice(0, 3)], encoding_format: 'float' });
  assertClose(fromIds.data[0]?.embedding ?? [], batch.data[1]?.embedding ?? [], 'token ids vs text');
  assert.notDeepEqual(fromIds.data[1]?.embedding, fromIds.data[0]?.embedding);
});

test('dimensions: the first N renormalised; more than the hidden size is a 400', async () => {
  const full = (await live.client.embeddings.create({ model: MODEL_NAME, input: 'hello', encoding_format: 'float' })).data[0]?.embedding ?? [];
  const short = (await live.client.embeddings.create({ model: MODEL_NAME, input: 'hello', dimensions: 16, encoding_format: 'float' })).data[0]?.embedding ?? [];
  const prefix = full.slice(0, 16);
  assertClose(short, prefix.map((x) => x / norm(prefix)), 'dimensions 16');
  const tooMany = await postJson(`${live.url}/v1/embeddings`, { model: MODEL_NAME, input: 'hello', dimensions: 10_000 });
  assert.equal(tooMany.status, 400);
  assert.equal((tooMany.json as { error: { param: string } }).error.param, 'dimensions');
});

test('pooling: --pooling wins, else 1_Pooling/config.json, else the last token', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swiftlet-pooling-'));
  try {
    assert.equal(poolingModeOf(dir, undefined), 'last');
    mkdirSync(join(dir, '1_Pooling'));
    writeFileSync(join(dir, '1_Pooling', 'config.json'), JSON.stringify({ word_embedding_dimension: 64, pooling_mode_mean_tokens: true, pooling_mode_lasttoken: false }));
    assert.equal(poolingModeOf(dir, undefined), 'mean');
    assert.equal(poolingModeOf(dir, 'last'), 'last');
    writeFileSync(join(dir, '1_Pooling', 'config.json'), JSON.stringify({ pooling_mode_cls_token: true }));
    assert.throws(() => poolingModeOf(dir, undefined), /pooling_mode_cls_token is not supported/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the library Engine and the Client embed the same vectors as the endpoint', async () => {
  const texts = ['hello world', 'x'];
  const api = await live.client.embeddings.create({ model: MODEL_NAME, input: texts, dimensions: 32, encoding_format: 'float' });
  const fromEngine = await new Engine(live.host).embed(texts, { dimensions: 32 });
  const fromClient = await new Client({ baseURL: live.url }).embed(texts, { dimensions: 32 });
  for (const result of [fromEngine, fromClient]) {
    assert.equal(result.promptTokens, api.usage.prompt_tokens);
    result.embeddings.forEach((vector, i) => assertClose(vector, api.data[i]?.embedding ?? [], `input ${i}`));
  }
  await assert.rejects(new Engine(live.host).embed('x', { dimensions: 10_000 }), (error: unknown) => error instanceof InferRequestError && error.param === 'dimensions');
});
