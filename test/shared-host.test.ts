/**
 * The library Engine and the HTTP server over one ModelHost share one request path: unloading
 * an adapter through either aborts that adapter's requests submitted through the other, the
 * base model's go on, and afterwards nothing runs and no KV block is held.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dirname } from 'node:path';
import type OpenAI from 'openai';
import { Engine } from '../src/index.js';
import { ADAPTER_DIR, eventually, MODEL_NAME, postJson, startLiveServer, type LiveServer } from './helpers/live-server.js';

let live: LiveServer;
let engine: Engine;

before(async () => {
  live = await startLiveServer({}, { allowRuntimeLoraUpdating: true, loraRoots: [dirname(ADAPTER_DIR)] });
  engine = new Engine(live.host);
});

after(async () => {
  await live.server.shutdown(0);
  // NOTE: the Engine owns the host it wraps: closing it frees the model for both.
  await engine.close();
});

const LONG = 3000;

async function assertIdle(): Promise<void> {
  await eventually(async () => {
    const stats = engine.stats();
    return stats.numRunning + stats.numWaiting === 0 && stats.numKvBlocksUsed === 0;
  });
  assert.equal(live.server.service.numInFlight, 0);
}

test('an adapter unloaded through the server aborts its requests submitted through the library Engine', async () => {
  assert.equal((await postJson(`${live.url}/v1/load_lora_adapter`, { lora_name: 'doomed', lora_path: ADAPTER_DIR })).status, 200);
  const config = { temperature: 0, maxTokens: LONG, ignoreEos: true };
  const doomed = engine.inferStream({ query: 'The quick brown fox' }, { ...config, model: 'doomed' })[Symbol.asyncIterator]();
  const base = engine.chat({ query: 'The quick brown fox' }, { ...config, maxTokens: 40 });
  assert.equal((await doomed.next()).done, false);

  assert.equal((await postJson(`${live.url}/v1/unload_lora_adapter`, { lora_name: 'doomed' })).status, 200);
  let finishReason: string | null = null;
  let numChunks = 0;
  for (let next = await doomed.next(); !next.done; next = await doomed.next()) {
    numChunks++;
    finishReason = next.value.finishReason;
  }
  assert.equal(finishReason, 'abort');
  assert.ok(numChunks < LONG / 2, `${numChunks} chunks after the unload`);
  assert.equal((await base).finishReason, 'length');
  await assertIdle();
});

test('an adapter unloaded through the library Engine aborts its requests submitted through the server', async () => {
  engine.loadAdapter('doomed', ADAPTER_DIR);
  const long = { prompt: 'The quick brown fox', max_tokens: LONG, temperature: 0, ignore_eos: true, stream: true } as Record<string, unknown>;
  const doomed = (await live.client.completions.create({ ...long, model: 'doomed' } as unknown as OpenAI.CompletionCreateParamsStreaming))[Symbol.asyncIterator]();
  const base = live.client.completions.create({ ...long, model: MODEL_NAME, max_tokens: 40, stream: false } as unknown as OpenAI.CompletionCreateParamsNonStreaming);
  assert.equal((await doomed.next()).done, false);

  engine.unloadAdapter('doomed');
  let finishReason: string | null = null;
  let numChunks = 0;
  for (let next = await doomed.next(); !next.done; next = await doomed.next()) {
    numChunks++;
    finishReason = next.value.choices[0]?.finish_reason ?? finishReason;
  }
  assert.equal(finishReason, 'abort');
  assert.ok(numChunks < LONG / 2, `${numChunks} chunks after the unload`);
  assert.equal((await base).choices[0]?.finish_reason, 'length');
  assert.deepEqual(engine.adapterNames, ['a']);
  await assertIdle();
});
