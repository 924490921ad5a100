/**
 * Data-parallel replicas on the CPU (2 child processes over the tiny-qwen2 fixture): greedy
 * outputs equal one engine's, requests spread over both, adapters (at start and loaded at run
 * time) served by both, embeddings pooled in the replicas, a grammar that does not compile
 * refused before a stream starts, and a killed replica leaves the other serving with /health saying so.
 */
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { after, before, test } from 'node:test';
import type OpenAI from 'openai';
import {
  ADAPTER_DIR,
  ADAPTER_NAME,
  eventually,
  metricValue,
  MODEL_NAME,
  postJson,
  reference,
  scrape,
  startLiveServer,
  type LiveServer,
} from './helpers/live-server.js';

let single: LiveServer;
let replicated: LiveServer;

interface Health {
  status: string;
  replicas: { replica: number; pid: number; healthy: boolean; reason: string | null }[];
}

async function health(url: string): Promise<{ status: number; body: Health }> {
  const res = await fetch(`${url}/health`);
  return { status: res.status, body: (await res.json()) as Health };
}

/** Short greedy answers keep the test quick on a busy machine; equality with one engine is the point. */
const MAX_TOKENS = 8;

async function answer(client: OpenAI, model: string, prompt: string): Promise<string> {
  const completion = await client.completions.create({ model, prompt, max_tokens: MAX_TOKENS, temperature: 0 });
  return completion.choices[0]?.text ?? '';
}

/** Every reference prompt, base and adapter, sent all at once. */
function greedyAnswers(client: OpenAI): Promise<string[]> {
  return Promise.all([
    ...reference.raw.map((ref) => answer(client, MODEL_NAME, ref.prompt)),
    ...reference.lora.a.raw.map((ref) => answer(client, ADAPTER_NAME, ref.prompt)),
  ]);
}

function replicaMetric(text: string, name: string, replica: number): number {
  return metricValue(text, `${name}{model_name="${MODEL_NAME}",replica="${replica}"}`);
}

before(async () => {
  single = await startLiveServer({ numThreads: 2 });
  replicated = await startLiveServer(
    { dataParallelSize: 2, numThreads: 2 },
    { allowRuntimeLoraUpdating: true, loraRoots: [dirname(ADAPTER_DIR)] },
  );
});

after(async () => {
  await replicated?.close();
  await single?.close();
});

test('two replicas: greedy outputs identical to one engine (base model and adapter)', async () => {
  const [one, two] = await Promise.all([greedyAnswers(single.client), greedyAnswers(replicated.client)]);
  assert.deepEqual(two, one);
  assert.notEqual(one[0], one[reference.raw.length], 'the adapter changes the answer, so it was applied');
});

test('embeddings through replicas equal one engine\'s (the pooling mode crosses to the replica)', async () => {
  const input = reference.raw.map((ref) => ref.prompt);
  const embed = (server: LiveServer) => server.client.embeddings.create({ model: MODEL_NAME, input });
  const [one, two] = await Promise.all([embed(single), embed(replicated)]);
  assert.equal(two.data.length, input.length);
  for (const [i, item] of two.data.entries()) {
    const expected = one.data[i]?.embedding ?? [];
    assert.equal(item.embedding.length, expected.length);
    item.embedding.forEach((value, j) => assert.ok(Math.abs(value - (expected[j] as number)) < 1e-5, `input ${i} dimension ${j}`));
  }
});

test('requests spread over both replicas; /metrics has one sample per replica and the pod totals under vLLM names', async () => {
  const before = await scrape(replicated.url);
  const counts = [0, 1].map((replica) => replicaMetric(before, 'swiftlet:prompt_tokens_total', replica));
  await Promise.all(Array.from({ length: 8 }, (_, index) =>
    replicated.client.completions.create({ model: MODEL_NAME, prompt: `spread ${index}`, max_tokens: 4, temperature: 0 })));
  const text = await scrape(replicated.url);
  const grown = [0, 1].map((replica) => replicaMetric(text, 'swiftlet:prompt_tokens_total', replica) - (counts[replica] as number));
  assert.ok(grown.every((tokens) => tokens > 0), `both replicas prefilled prompts: ${grown.join(', ')}`);
  const perReplica = [0, 1].map((replica) => replicaMetric(text, 'swiftlet:generation_tokens_total', replica));
  assert.equal(metricValue(text, `vllm:generation_tokens_total{model_name="${MODEL_NAME}"}`), perReplica[0]! + perReplica[1]!);
});

test('an adapter loaded at run time is served by every replica; unloading removes it from all', async () => {
  const load = await postJson(`${replicated.url}/v1/load_lora_adapter`, { lora_name: 'b', lora_path: ADAPTER_DIR });
  assert.equal(load.status, 200, load.text);
  const prompt = reference.lora.a.raw[0]!.prompt;
  const expected = await answer(single.client, ADAPTER_NAME, prompt);
  // NOTE: sent together, they spread over both replicas, so both must hold 'b' (the same weights as 'a').
  const answers = await Promise.all(Array.from({ length: 4 }, () => answer(replicated.client, 'b', prompt)));
  assert.deepEqual(answers, answers.map(() => expected));
  const text = await scrape(replicated.url);
  assert.match(text, /vllm:lora_requests_info\{running_lora_adapters="a,b",max_lora="4",waiting_lora_adapters=""\} \d/);
  const unload = await postJson(`${replicated.url}/v1/unload_lora_adapter`, { lora_name: 'b' });
  assert.equal(unload.status, 200, unload.text);
  const gone = await postJson(`${replicated.url}/v1/completions`, { model: 'b', prompt: 'hi', max_tokens: 2 });
  assert.equal(gone.status, 404);
});

test('a grammar that does not compile is a 400 naming its field before a stream starts, as with one engine', async () => {
  const body = { model: MODEL_NAME, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, stream: true, structured_outputs: { grammar: 'root ::= missing' } };
  for (const server of [single, replicated]) {
    const reply = await postJson(`${server.url}/v1/chat/completions`, body);
    assert.equal(reply.status, 400, reply.text);
    assert.equal((reply.json as { error: { param: string } }).error.param, 'structured_outputs');
  }
  const good = await postJson(`${replicated.url}/v1/chat/completions`, { ...body, stream: false, structured_outputs: { choice: ['yes', 'no'] } });
  assert.equal(good.status, 200, good.text);
  assert.ok(['yes', 'no'].includes((good.json as { choices: { message: { content: string } }[] }).choices[0]?.message.content ?? ''));
});

test('/health lists both replicas while they serve', async () => {
  const { status, body } = await health(replicated.url);
  assert.equal(status, 200);
  assert.equal(body.status, 'ok');
  assert.deepEqual(body.replicas.map((replica) => [replica.replica, replica.healthy]), [[0, true], [1, true]]);
});

// NOTE: last: it leaves the replicated server with one replica.
test('a killed replica is marked unhealthy and the other keeps serving every request', async () => {
  const { body } = await health(replicated.url);
  const victim = body.replicas[1]!;
  process.kill(victim.pid, 'SIGKILL');
  await eventually(async () => (await health(replicated.url)).body.status === 'degraded');
  const after = await health(replicated.url);
  assert.equal(after.status, 200, 'a pod with one replica serving stays ready');
  assert.deepEqual(after.body.replicas.map((replica) => [replica.replica, replica.healthy]), [[0, true], [1, false]]);
  assert.match(after.body.replicas[1]?.reason ?? '', /SIGKILL/);
  const prompt = reference.raw[0]!.prompt;
  const expected = await answer(single.client, MODEL_NAME, prompt);
  const answers = await Promise.all(Array.from({ length: 4 }, () => answer(replicated.client, MODEL_NAME, prompt)));
  assert.deepEqual(answers, answers.map(() => expected));
  const text = await scrape(replicated.url);
  assert.equal(replicaMetric(text, 'swiftlet:engine_healthy', 1), 0);
  assert.equal(replicaMetric(text, 'swiftlet:engine_healthy', 0), 1);
});
