/**
 * /metrics under vLLM's names, as the Gateway API Inference Extension's model-server protocol
 * reads them: parsed from a live server's exposition text, with their types, the model_name
 * label, and values that move while a request runs and after it ends.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ADAPTER_NAME, MODEL_NAME, scrape, startLiveServer, type LiveServer } from './helpers/live-server.js';

interface Sample {
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  types: Map<string, string>;
  samples: Map<string, Sample[]>;
}

/** The text format's TYPE lines and samples (label values here never hold an escaped quote). */
function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples = new Map<string, Sample[]>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1] as string, type[2] as string);
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) continue;
    const labels = Object.fromEntries([...(sample[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((match) => [match[1], match[2]]));
    const list = samples.get(sample[1] as string) ?? [];
    list.push({ labels, value: Number(sample[3]) });
    samples.set(sample[1] as string, list);
  }
  return { types, samples };
}

/** The one sample of `name` for the served model. */
function value(exposition: Exposition, name: string): number {
  const found = exposition.samples.get(name)?.filter((sample) => sample.labels['model_name'] === MODEL_NAME) ?? [];
  assert.equal(found.length, 1, `${name}: one sample with model_name="${MODEL_NAME}"`);
  return (found[0] as Sample).value;
}

async function metrics(): Promise<Exposition> {
  return parseExposition(await scrape(live.url));
}

const VLLM_TYPES: Record<string, string> = {
  'vllm:num_requests_running': 'gauge',
  'vllm:num_requests_waiting': 'gauge',
  'vllm:kv_cache_usage_perc': 'gauge',
  'vllm:lora_requests_info': 'gauge',
  'vllm:prompt_tokens_total': 'counter',
  'vllm:generation_tokens_total': 'counter',
  'vllm:request_success_total': 'counter',
  'vllm:num_preemptions_total': 'counter',
  'vllm:prefix_cache_queries_total': 'counter',
  'vllm:prefix_cache_hits_total': 'counter',
  'vllm:time_to_first_token_seconds': 'histogram',
  'vllm:inter_token_latency_seconds': 'histogram',
  'vllm:e2e_request_latency_seconds': 'histogram',
};

let live: LiveServer;
const accessLines: string[] = [];

before(async () => {
  live = await startLiveServer({}, { log: (line) => accessLines.push(line) });
});

after(async () => {
  await live.close();
});

test('every vLLM name the inference gateway reads is there, with vLLM\'s type', async () => {
  const exposition = await metrics();
  for (const [name, type] of Object.entries(VLLM_TYPES)) assert.equal(exposition.types.get(name), type, name);
  for (const name of ['vllm:num_requests_running', 'vllm:num_requests_waiting', 'vllm:kv_cache_usage_perc', 'vllm:prompt_tokens_total']) value(exposition, name);
  const lora = exposition.samples.get('vllm:lora_requests_info') ?? [];
  assert.equal(lora.length, 1);
  assert.deepEqual(lora[0]?.labels, { running_lora_adapters: ADAPTER_NAME, max_lora: '4', waiting_lora_adapters: '' });
  assert.ok(Math.abs((lora[0]?.value ?? 0) - Date.now() / 1000) < 60, 'its value is the report time');
});

test('while a request runs the gauges show it; after it ends the counters and histograms have moved', async () => {
  const before = await metrics();
  const stream = await live.client.completions.create({
    model: MODEL_NAME,
    prompt: 'count with me',
    max_tokens: 48,
    temperature: 0,
    stream: true,
    ...({ ignore_eos: true } as Record<string, unknown>),
  });
  let during: Exposition | null = null;
  let numChunks = 0;
  for await (const chunk of stream) {
    void chunk;
    if (++numChunks === 3) during = await metrics();
  }
  assert.ok(during);
  assert.equal(value(during, 'vllm:num_requests_running'), 1);
  assert.ok(value(during, 'vllm:kv_cache_usage_perc') > 0);
  const after = await metrics();
  assert.equal(value(after, 'vllm:num_requests_running'), 0);
  assert.equal(value(after, 'vllm:kv_cache_usage_perc'), 0);
  assert.equal(value(after, 'vllm:generation_tokens_total') - value(before, 'vllm:generation_tokens_total'), 48);
  assert.ok(value(after, 'vllm:prompt_tokens_total') > value(before, 'vllm:prompt_tokens_total'));
  for (const histogram of ['vllm:time_to_first_token_seconds', 'vllm:e2e_request_latency_seconds']) {
    assert.equal(value(after, `${histogram}_count`) - value(before, `${histogram}_count`), 1, histogram);
  }
  assert.ok(value(after, 'vllm:inter_token_latency_seconds_count') - value(before, 'vllm:inter_token_latency_seconds_count') >= 1);
  const lengths = (after.samples.get('vllm:request_success_total') ?? []).find((sample) => sample.labels['finished_reason'] === 'length');
  assert.ok((lengths?.value ?? 0) >= 1);
});

test('embeddings and Responses requests count like chat ones: in request_success_total, the latency histogram, http_requests_total and the access log with their tokens', async () => {
  const httpCount = (exposition: Exposition, endpoint: string): number =>
    (exposition.samples.get('swiftlet:http_requests_total') ?? []).find((sample) => sample.labels['endpoint'] === endpoint && sample.labels['status'] === '200')?.value ?? 0;
  const before = await metrics();
  const numLinesBefore = accessLines.length;
  await live.client.embeddings.create({ model: MODEL_NAME, input: ['one', 'two'] });
  await live.client.responses.create({ model: MODEL_NAME, input: 'hi', max_output_tokens: 4, temperature: 0 });
  for await (const event of await live.client.responses.create({ model: MODEL_NAME, input: 'hi', max_output_tokens: 4, temperature: 0, stream: true })) void event;
  const after = await metrics();
  const numEnded = (exposition: Exposition) => (exposition.samples.get('vllm:request_success_total') ?? []).reduce((sum, sample) => sum + sample.value, 0);
  assert.equal(numEnded(after) - numEnded(before), 4, 'two embedding inputs and two responses ended');
  assert.equal(value(after, 'vllm:e2e_request_latency_seconds_count') - value(before, 'vllm:e2e_request_latency_seconds_count'), 4);
  assert.equal(httpCount(after, '/v1/embeddings') - httpCount(before, '/v1/embeddings'), 1);
  assert.equal(httpCount(after, '/v1/responses') - httpCount(before, '/v1/responses'), 2);
  const lines = accessLines.slice(numLinesBefore);
  assert.equal(lines.filter((line) => /^POST \/v1\/embeddings 200 tokens=\d+ \d+ ms$/.test(line)).length, 1, lines.join('\n'));
  assert.equal(lines.filter((line) => /^POST \/v1\/responses 200 tokens=\d+ \d+ ms$/.test(line)).length, 2, lines.join('\n'));
});
