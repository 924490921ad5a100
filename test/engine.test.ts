import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LLMEngine, type AddRequest, type EngineConfig } from '../src/engine/engine.js';
import { InvalidRequestError, QueueFullError, RequestTooLongError } from '../src/engine/errors.js';
import { accumulateOutputs, type RequestOutput } from '../src/engine/output.js';
import { SamplingParams } from '../src/engine/sampling-params.js';
import { FAKE_EOS, FakeRunner, FakeTokenizer, type FakeRunnerOptions } from './helpers/fake-runner.js';
import { seededRandom } from './helpers/seeded-random.js';

function makeEngine(engine: Partial<EngineConfig> = {}, runner: FakeRunnerOptions = {}) {
  const fake = new FakeRunner(runner);
  const tokenizer = new FakeTokenizer(fake.spec.vocabSize);
  return { engine: new LLMEngine(fake, tokenizer, engine), runner: fake, tokenizer };
}

function randomPrompt(random: () => number, length: number, vocabSize = 96): number[] {
  return Array.from({ length }, () => 1 + Math.floor(random() * (vocabSize - 1)));
}

async function collect(stream: AsyncIterable<RequestOutput>): Promise<RequestOutput[]> {
  const deltas: RequestOutput[] = [];
  for await (const d of stream) deltas.push(d);
  return deltas;
}

async function runAlone(request: AddRequest, engine: Partial<EngineConfig> = {}, runner: FakeRunnerOptions = {}) {
  const { engine: e } = makeEngine(engine, runner);
  const [out] = await e.generate([request]);
  return out as RequestOutput;
}

function output0(out: RequestOutput) {
  const o = out.outputs[0];
  assert.ok(o !== undefined);
  return o;
}

test('greedy generation: deltas add up, final output has counts and finish reason', async () => {
  const { engine } = makeEngine();
  const prompt = randomPrompt(seededRandom(1), 37);
  const deltas = await collect(
    engine.add({ requestId: 'a', promptTokenIds: prompt, params: new SamplingParams({ temperature: 0, maxTokens: 12, ignoreEos: true }) }),
  );
  assert.equal(deltas.length, 12);
  const last = deltas[deltas.length - 1] as RequestOutput;
  assert.equal(last.finished, true);
  assert.equal(output0(last).finishReason, 'length');
  assert.equal(last.numPromptTokens, 37);
  assert.equal(last.numCompletionTokens, 12);
  assert.ok(deltas.slice(0, -1).every((d) => !d.finished));
  const whole = accumulateOutputs(deltas);
  assert.equal(output0(whole).tokenIds.length, 12);
  assert.equal(engine.stats().numKvBlocksUsed, 0);
  assert.equal(engine.stats().generationTokensTotal, 12);
  assert.equal(engine.stats().promptTokensTotal, 37);
});

test('(a) batch invariance: greedy and seeded outputs alone equal outputs among 50 others arriving at random steps', async () => {
  const random = seededRandom(7);
  const greedy: AddRequest = {
    requestId: 'greedy',
    promptTokenIds: randomPrompt(random, 150),
    params: new SamplingParams({ temperature: 0, maxTokens: 40, ignoreEos: true, logprobs: 2 }),
  };
  const seeded: AddRequest = {
    requestId: 'seeded',
    promptTokenIds: randomPrompt(random, 70),
    params: new SamplingParams({ temperature: 0.9, topP: 0.9, topK: 20, seed: 1234, maxTokens: 40, ignoreEos: true, presencePenalty: 0.5 }),
  };
  const config: Partial<EngineConfig> = { maxNumBatchedTokens: 128, maxNumSeqs: 16 };
  const alone = [await runAlone(greedy, config), await runAlone(seeded, config)];

  const { engine } = makeEngine({ ...config, autoStep: false, numKvBlocks: 120 });
  const others: AddRequest[] = Array.from({ length: 50 }, (_, i) => ({
    requestId: `other-${i}`,
    promptTokenIds: randomPrompt(random, 1 + Math.floor(random() * 300)),
    params: new SamplingParams({
      temperature: random() < 0.5 ? 0 : 1,
      maxTokens: 1 + Math.floor(random() * 60),
      seed: i,
      n: random() < 0.1 ? 2 : 1,
    }),
  }));
  const arrivals = [...others, greedy, seeded].map((r) => ({ request: r, step: Math.floor(random() * 40) }));
  const results = new Map<string, Promise<RequestOutput[]>>();
  for (let step = 0; results.size < arrivals.length || engine.hasUnfinished; step++) {
    for (const a of arrivals) if (a.step === step) results.set(a.request.requestId, collect(engine.add(a.request)));
    if (engine.hasUnfinished) await engine.step();
  }
  const mixed = [accumulateOutputs(await (results.get('greedy') as Promise<RequestOutput[]>)), accumulateOutputs(await (results.get('seeded') as Promise<RequestOutput[]>))];
  for (let i = 0; i < 2; i++) {
    assert.deepEqual(output0(mixed[i] as RequestOutput).tokenIds, output0(alone[i] as RequestOutput).tokenIds);
    assert.equal(output0(mixed[i] as RequestOutput).text, output0(alone[i] as RequestOutput).text);
    assert.deepEqual(output0(mixed[i] as RequestOutput).logprobs, output0(alone[i] as RequestOutput).logprobs);
  }
  assert.equal(output0(alone[0] as RequestOutput).logprobs?.[0]?.top.length, 2);
  assert.equal(engine.stats().numKvBlocksUsed, 0);
  assert.equal(engine.stats().numRunning + engine.stats().numWaiting, 0);
});

test('(b) a prompt sharing a 400-token prefix reuses its blocks (exact hit count) with the same output', async () => {
  const random = seededRandom(11);
  const prefix = randomPrompt(random, 400);
  const first = [...prefix, ...randomPrompt(random, 30)];
  const second = [...prefix, ...randomPrompt(random, 50)];
  const params = new SamplingParams({ temperature: 0, maxTokens: 8, ignoreEos: true });
  const { engine } = makeEngine();
  await engine.generate([{ requestId: 'first', promptTokenIds: first, params }]);
  assert.equal(engine.stats().prefixCacheHitTokens, 0);
  const [out] = await engine.generate([{ requestId: 'second', promptTokenIds: second, params }]);
  const stats = engine.stats();
  assert.equal(stats.prefixCacheQueryTokens, first.length + second.length);
  assert.equal(stats.prefixCacheHitTokens, 400);
  assert.equal((out as RequestOutput).numCachedPromptTokens, 400);
  const alone = await runAlone({ requestId: 'second', promptTokenIds: second, params });
  assert.deepEqual(output0(out as RequestOutput).tokenIds, output0(alone).tokenIds);
  assert.equal(alone.numCachedPromptTokens, 0);
});

test('an identical prompt never reuses its last token: at least one token is computed', async () => {
  const prompt = randomPrompt(seededRandom(3), 64);
  const params = new SamplingParams({ temperature: 0, maxTokens: 4, ignoreEos: true });
  const { engine } = makeEngine();
  const [a] = await engine.generate([{ requestId: 'a', promptTokenIds: prompt, params }]);
  const [b] = await engine.generate([{ requestId: 'b', promptTokenIds: prompt, params }]);
  assert.equal((b as RequestOutput).numCachedPromptTokens, 48);
  assert.deepEqual(output0(b as RequestOutput).tokenIds, output0(a as RequestOutput).tokenIds);
});

test('adapters do not share prefix blocks with the base model', async () => {
  const prompt = randomPrompt(seededRandom(5), 80);
  const params = new SamplingParams({ temperature: 0, maxTokens: 6, ignoreEos: true });
  const { engine } = makeEngine();
  const [base] = await engine.generate([{ requestId: 'base', promptTokenIds: prompt, params }]);
  const [lora] = await engine.generate([{ requestId: 'lora', promptTokenIds: prompt, params, adapterSlot: 0 }]);
  assert.equal((lora as RequestOutput).numCachedPromptTokens, 0);
  const loraAlone = await runAlone({ requestId: 'lora', promptTokenIds: prompt, params, adapterSlot: 0 });
  assert.deepEqual(output0(lora as RequestOutput).tokenIds, output0(loraAlone).tokenIds);
  assert.notDeepEqual(output0(lora as RequestOutput).tokenIds, output0(base as RequestOutput).tokenIds);
});

test('(c) a pool too small for all requests at once: all complete as alone, through preemption', async () => {
  const random = seededRandom(21);
  const requests: AddRequest[] = Array.from({ length: 10 }, (_, i) => ({
    requestId: `r${i}`,
    promptTokenIds: randomPrompt(random, 60 + Math.floor(random() * 40)),
    params: new SamplingParams({ temperature: i % 2 === 0 ? 0 : 0.8, seed: i, maxTokens: 60, ignoreEos: true, frequencyPenalty: 0.3 }),
  }));
  const config: Partial<EngineConfig> = { numKvBlocks: 24, maxNumBatchedTokens: 64 };
  const alone = await Promise.all(requests.map((r) => runAlone(r, config)));
  const { engine } = makeEngine(config);
  const together = await engine.generate(requests);
  together.forEach((out, i) => {
    assert.deepEqual(output0(out).tokenIds, output0(alone[i] as RequestOutput).tokenIds, `request ${i}`);
    assert.equal(output0(out).tokenIds.length, 60);
  });
  assert.ok(engine.stats().numPreemptions > 0, 'expected preemptions');
  assert.equal(engine.stats().numKvBlocksUsed, 0);
});

test('(c) the same without prefix caching and without chunked prefill', async () => {
  const random = seededRandom(22);
  const requests: AddRequest[] = Array.from({ length: 8 }, (_, i) => ({
    requestId: `r${i}`,
    promptTokenIds: randomPrompt(random, 40 + Math.floor(random() * 40)),
    params: new SamplingParams({ temperature: 0, maxTokens: 50, ignoreEos: true }),
  }));
  const config: Partial<EngineConfig> = { numKvBlocks: 20, maxNumBatchedTokens: 256, enablePrefixCaching: false, enableChunkedPrefill: false };
  const alone = await Promise.all(requests.map((r) => runAlone(r, config)));
  const { engine } = makeEngine(config);
  const together = await engine.generate(requests);
  together.forEach((out, i) => assert.deepEqual(output0(out).tokenIds, output0(alone[i] as RequestOutput).tokenIds));
  assert.ok(engine.stats().numPreemptions > 0);
  assert.equal(engine.stats().prefixCacheQueryTokens, 0);
  assert.equal(engine.stats().numKvBlocksUsed, 0);
});

test('(d) randomized add/step/abort ends with zero blocks in use', async () => {
  for (let trial = 0; trial < 12; trial++) {
    const random = seededRandom(100 + trial);
    const { engine } = makeEngine(
      {
        autoStep: false,
        numKvBlocks: 16 + Math.floor(random() * 40),
        maxNumBatchedTokens: 16 + Math.floor(random() * 200),
        maxNumSeqs: 1 + Math.floor(random() * 12),
        enableChunkedPrefill: random() < 0.8,
        enablePrefixCaching: random() < 0.8,
      },
      { maxPositionEmbeddings: 512 },
    );
    const live: string[] = [];
    const streams: Promise<RequestOutput[]>[] = [];
    const sharedPrefix = randomPrompt(random, 64);
    let nextId = 0;
    for (let op = 0; op < 300; op++) {
      const r = random();
      if (r < 0.3) {
        const requestId = `q${nextId++}`;
        const own = randomPrompt(random, 1 + Math.floor(random() * 150));
        const prompt = random() < 0.5 ? [...sharedPrefix.slice(0, Math.floor(random() * 64)), ...own] : own;
        try {
          streams.push(
            collect(
              engine.add({
                requestId,
                promptTokenIds: prompt,
                params: new SamplingParams({ temperature: random() < 0.5 ? 0 : 1, maxTokens: 1 + Math.floor(random() * 40), n: random() < 0.2 ? 3 : 1, promptLogprobs: random() < 0.1 ? 1 : null }),
              }),
            ),
          );
          live.push(requestId);
        } catch (error) {
          assert.ok(error instanceof RequestTooLongError, String(error));
        }
      } else if (r < 0.4 && live.length > 0) {
        const [victim] = live.splice(Math.floor(random() * live.length), 1);
        engine.abort(victim as string);
        engine.abort(victim as string);
      } else if (engine.hasUnfinished) {
        if (random() < 0.1) {
          // Abort while the step is in flight.
          const inFlight = engine.step();
          if (live.length > 0) engine.abort(live[Math.floor(random() * live.length)] as string);
          await inFlight;
        } else {
          await engine.step();
        }
      }
    }
    while (engine.hasUnfinished) await engine.step();
    const outputs = await Promise.all(streams);
    for (const deltas of outputs) assert.equal(deltas[deltas.length - 1]?.finished, true);
    const stats = engine.stats();
    assert.equal(stats.numKvBlocksUsed, 0, `trial ${trial}`);
    assert.equal(stats.numRunning + stats.numWaiting, 0);
  }
});

test('stop strings split across tokens are found; text after them is not emitted', async () => {
  const prompt = randomPrompt(seededRandom(31), 20);
  const base = new SamplingParams({ temperature: 0, maxTokens: 30, ignoreEos: true }).toInit();
  const full = await runAlone({ requestId: 'x', promptTokenIds: prompt, params: new SamplingParams(base) });
  const { tokenIds, text } = output0(full);
  const tokenizer = new FakeTokenizer();
  const pieces = tokenIds.map((id) => tokenizer.decode([id], { skipSpecialTokens: true }));
  // A stop string made of the end of piece 5 and the start of piece 6 (and 7).
  const boundary = pieces.slice(0, 6).join('').length;
  const stop = text.slice(boundary - 1, boundary + 2);
  assert.equal(stop.length, 3);
  const matchAt = text.indexOf(stop);

  for (const include of [false, true]) {
    const deltas = await collect(
      makeEngine().engine.add({ requestId: 'y', promptTokenIds: prompt, params: new SamplingParams({ ...base, stop: ['zzzz', stop], includeStopStrInOutput: include }) }),
    );
    const out = output0(accumulateOutputs(deltas));
    assert.equal(out.text, text.slice(0, include ? matchAt + stop.length : matchAt));
    assert.equal(out.finishReason, 'stop');
    assert.equal(out.stopReason, stop);
    assert.deepEqual(out.tokenIds, tokenIds.slice(0, out.tokenIds.length));
    // Streamed text never ran ahead of the final text.
    let streamed = '';
    for (const d of deltas) {
      streamed += d.outputs[0]?.text ?? '';
      assert.ok(out.text.startsWith(streamed));
    }
  }
});

test('min_tokens bans EOS and stop_token_ids until reached; EOS text is not output', async () => {
  const prompt = randomPrompt(seededRandom(41), 10);
  const eos = await runAlone({ requestId: 'e', promptTokenIds: prompt, params: new SamplingParams({ temperature: 0, minTokens: 5, maxTokens: 20, logitBias: { [FAKE_EOS]: 100 } }) });
  assert.equal(output0(eos).tokenIds.length, 6);
  assert.equal(output0(eos).tokenIds[5], FAKE_EOS);
  assert.ok(!output0(eos).tokenIds.slice(0, 5).includes(FAKE_EOS));
  assert.equal(output0(eos).finishReason, 'stop');
  assert.equal(output0(eos).stopReason, null);
  assert.ok(!output0(eos).text.includes('<eos>'));

  const stopId = 17;
  const byId = await runAlone({ requestId: 's', promptTokenIds: prompt, params: new SamplingParams({ temperature: 0, minTokens: 3, maxTokens: 20, stopTokenIds: [stopId], logitBias: { [stopId]: 100 } }) });
  assert.deepEqual(output0(byId).tokenIds.slice(3), [stopId]);
  assert.equal(output0(byId).stopReason, stopId);
  const tokenizer = new FakeTokenizer();
  assert.equal(output0(byId).text, tokenizer.decode(output0(byId).tokenIds.slice(0, 3), { skipSpecialTokens: true }));

  const ignored = await runAlone({ requestId: 'i', promptTokenIds: prompt, params: new SamplingParams({ temperature: 0, maxTokens: 7, ignoreEos: true, logitBias: { [FAKE_EOS]: 100 } }) });
  assert.deepEqual(output0(ignored).tokenIds, Array(7).fill(FAKE_EOS));
  assert.equal(output0(ignored).finishReason, 'length');
});

test('max_tokens defaults to the rest of max_model_len', async () => {
  const out = await runAlone(
    { requestId: 'm', promptTokenIds: randomPrompt(seededRandom(2), 50), params: new SamplingParams({ temperature: 0, maxTokens: null, ignoreEos: true }) },
    { maxModelLen: 64 },
  );
  assert.equal(output0(out).tokenIds.length, 14);
  assert.equal(output0(out).finishReason, 'length');
});

test('n > 1: samples gathered under one id, sharing the prompt blocks; seeded is reproducible', async () => {
  const prompt = randomPrompt(seededRandom(51), 100);
  const params = new SamplingParams({ n: 3, temperature: 1, seed: 99, maxTokens: 10, ignoreEos: true });
  const { engine } = makeEngine();
  const deltas = await collect(engine.add({ requestId: 'p', promptTokenIds: prompt, params }));
  assert.ok(deltas.every((d) => d.requestId === 'p'));
  const out = accumulateOutputs(deltas);
  assert.deepEqual(out.outputs.map((o) => o.index), [0, 1, 2]);
  assert.ok(out.outputs.every((o) => o.tokenIds.length === 10 && o.finishReason === 'length'));
  assert.equal(new Set(out.outputs.map((o) => o.tokenIds.join())).size, 3, 'samples differ');
  assert.equal(out.numCompletionTokens, 30);
  assert.equal(engine.stats().prefixCacheHitTokens, 2 * 96, 'children 1 and 2 reuse the prompt blocks');
  const again = await runAlone({ requestId: 'p', promptTokenIds: prompt, params });
  assert.deepEqual(again.outputs.map((o) => o.tokenIds), out.outputs.map((o) => o.tokenIds));
  const single = await runAlone({ requestId: 'q', promptTokenIds: prompt, params: new SamplingParams({ ...params.toInit(), n: 1 }) });
  assert.deepEqual(output0(single).tokenIds, out.outputs[0]?.tokenIds);
});

test('abort mid-generation frees everything and ends the stream with finish reason abort', async () => {
  const { engine } = makeEngine();
  const stream = engine.add({ requestId: 'long', promptTokenIds: randomPrompt(seededRandom(61), 40), params: new SamplingParams({ maxTokens: 500, ignoreEos: true }) });
  const deltas: RequestOutput[] = [];
  for await (const d of stream) {
    deltas.push(d);
    if (deltas.length === 3) assert.equal(engine.abort('long'), true);
  }
  const last = deltas[deltas.length - 1] as RequestOutput;
  assert.equal(last.finished, true);
  assert.equal(output0(last).finishReason, 'abort');
  assert.ok(deltas.length <= 5);
  assert.equal(engine.stats().numKvBlocksUsed, 0);
  assert.equal(engine.abort('long'), false);
});

test('abort while the step is in flight applies after it; leaving the loop early aborts', async () => {
  const { engine } = makeEngine();
  const stream = engine.add({ requestId: 'a', promptTokenIds: randomPrompt(seededRandom(62), 40), params: new SamplingParams({ maxTokens: 100 }) });
  engine.abort('a');
  const deltas = await collect(stream);
  assert.equal(deltas.length, 1);
  assert.equal(output0(deltas[0] as RequestOutput).finishReason, 'abort');
  assert.deepEqual(output0(deltas[0] as RequestOutput).tokenIds, []);

  const other = engine.add({ requestId: 'b', promptTokenIds: randomPrompt(seededRandom(63), 40), params: new SamplingParams({ maxTokens: 100, ignoreEos: true }) });
  for await (const d of other) if (d.numCompletionTokens >= 2) break;
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(engine.hasUnfinished, false);
  assert.equal(engine.stats().numKvBlocksUsed, 0);
});

test('queue full and too-long requests are rejected with typed errors', async () => {
  const { engine } = makeEngine({ autoStep: false, maxWaiting: 2, maxModelLen: 128 }, { numKvBlocks: 6 });
  const params = new SamplingParams({ maxTokens: 10 });
  engine.add({ requestId: '1', promptTokenIds: [1, 2, 3], params });
  engine.add({ requestId: '2', promptTokenIds: [1, 2, 3], params });
  assert.throws(() => engine.add({ requestId: '3', promptTokenIds: [1, 2, 3], params }), QueueFullError);
  assert.throws(() => engine.add({ requestId: '1', promptTokenIds: [1], params }), InvalidRequestError);
  assert.throws(
    () => engine.add({ requestId: 'long', promptTokenIds: Array(100).fill(1), params: new SamplingParams({ maxTokens: 50 }) }),
    (e: unknown) => e instanceof RequestTooLongError && /128/.test(e.message) && /150/.test(e.message),
  );
  assert.throws(
    () => engine.add({ requestId: 'big', promptTokenIds: Array(90).fill(1), params: new SamplingParams({ maxTokens: 20 }) }),
    (e: unknown) => e instanceof RequestTooLongError && /109/.test(e.message) && /96 tokens/.test(e.message),
  );
  assert.throws(() => engine.add({ requestId: 'e', promptTokenIds: [] }), InvalidRequestError);
  assert.throws(() => engine.add({ requestId: 'v', promptTokenIds: [1000] }), InvalidRequestError);
  assert.throws(() => engine.add({ requestId: 'l', promptTokenIds: [1], params: new SamplingParams({ logprobs: 21 }) }), /logprobs/);
  assert.throws(() => engine.add({ requestId: 's', promptTokenIds: [1], adapterSlot: 5 }), InvalidRequestError);
  while (engine.hasUnfinished) await engine.step();
  assert.equal(engine.stats().numKvBlocksUsed, 0);
});

test('prompt logprobs: once, with the first output, first null; equal with and without chunking', async () => {
  const prompt = randomPrompt(seededRandom(71), 45);
  const params = new SamplingParams({ temperature: 0, maxTokens: 3, promptLogprobs: 2, ignoreEos: true });
  const run = async (config: Partial<EngineConfig>) => collect(makeEngine(config).engine.add({ requestId: 'p', promptTokenIds: prompt, params }));
  const chunked = await run({ maxNumBatchedTokens: 16 });
  const whole = await run({});
  const first = chunked[0]?.promptLogprobs;
  assert.ok(first);
  assert.equal(first.length, 45);
  assert.equal(first[0], null);
  first.slice(1).forEach((entry, i) => {
    assert.equal(entry?.tokenId, prompt[i + 1]);
    assert.equal(entry?.top.length, 2);
    assert.ok((entry?.logprob ?? 1) <= 0);
  });
  assert.ok(chunked.slice(1).every((d) => d.promptLogprobs === null));
  assert.deepEqual(first, whole[0]?.promptLogprobs);
});

test('chunked prefill: a long prompt does not stall a running request', async () => {
  const { engine, runner } = makeEngine({ maxNumBatchedTokens: 64 });
  const short = collect(engine.add({ requestId: 's', promptTokenIds: randomPrompt(seededRandom(81), 10), params: new SamplingParams({ maxTokens: 40, ignoreEos: true }) }));
  await new Promise((r) => setImmediate(r));
  const long = collect(engine.add({ requestId: 'l', promptTokenIds: randomPrompt(seededRandom(82), 1000), params: new SamplingParams({ maxTokens: 2, ignoreEos: true }) }));
  await Promise.all([short, long]);
  assert.ok(runner.batches.every((b) => b.numTokens <= 64));
  const prefillSteps = runner.batches.filter((b) => b.numTokens > 2);
  assert.ok(prefillSteps.length >= 15);
  assert.ok(prefillSteps.slice(0, 15).every((b) => b.numSampled >= 1), 'the short request decodes during the long prefill');
});

test('a runner failure fails the step\'s requests and leaves the engine serving', async () => {
  let fail = true;
  const { engine } = makeEngine({}, { failWhen: (b) => fail && b.numTokens > 100 });
  const bad = collect(engine.add({ requestId: 'bad', promptTokenIds: randomPrompt(seededRandom(91), 200) }));
  await assert.rejects(bad, /fake runner failure/);
  fail = false;
  const [ok] = await engine.generate([{ requestId: 'ok', promptTokenIds: randomPrompt(seededRandom(92), 20), params: new SamplingParams({ maxTokens: 3, ignoreEos: true }) }]);
  assert.equal(ok?.outputs[0]?.tokenIds.length, 3);
  assert.equal(engine.stats().numKvBlocksUsed, 0);
});

test('generate() feeds a batch through a bounded queue and returns outputs in order', async () => {
  const random = seededRandom(93);
  const requests: AddRequest[] = Array.from({ length: 30 }, (_, i) => ({
    requestId: `g${i}`,
    promptTokenIds: randomPrompt(random, 5 + i),
    params: new SamplingParams({ temperature: 0, maxTokens: 5, ignoreEos: true }),
  }));
  const { engine } = makeEngine({ maxWaiting: 4, maxNumSeqs: 4 });
  const outs = await engine.generate(requests);
  assert.deepEqual(outs.map((o) => o.requestId), requests.map((r) => r.requestId));
  assert.ok(outs.every((o) => o.finished && o.outputs[0]?.tokenIds.length === 5));
  const manual = makeEngine({ autoStep: false }).engine;
  const [m] = await manual.generate([requests[3] as AddRequest]);
  assert.deepEqual(m?.outputs[0]?.tokenIds, outs[3]?.outputs[0]?.tokenIds);
});

test('cached blocks are keyed by their whole prefix, not only their own tokens', async () => {
  const random = seededRandom(95);
  const [w, x, y] = [randomPrompt(random, 16), randomPrompt(random, 16), randomPrompt(random, 16)];
  const params = new SamplingParams({ temperature: 0, maxTokens: 5, ignoreEos: true });
  const { engine } = makeEngine();
  await engine.generate([{ requestId: 'wy', promptTokenIds: [...w, ...y, 1, 2, 3], params }]);
  await engine.generate([{ requestId: 'xy', promptTokenIds: [...x, ...y, 4, 5, 6], params }]);
  const c: AddRequest = { requestId: 'c', promptTokenIds: [...x, ...y, 7, 8, 9], params };
  const [out] = await engine.generate([c]);
  assert.equal(out?.numCachedPromptTokens, 32);
  assert.deepEqual(out?.outputs[0]?.tokenIds, output0(await runAlone(c)).tokenIds);
});

test('a constrained request fails with InvalidRequestError when the tokenizer has no grammar vocabulary; others go on', async () => {
  const { engine } = makeEngine();
  const constrained = new SamplingParams({ maxTokens: 4, structuredOutput: { kind: 'choice', choices: ['a'] } });
  const failing = engine.generate([{ requestId: 'c', promptTokenIds: [1, 2], params: constrained }]);
  await assert.rejects(failing, (error: unknown) => error instanceof InvalidRequestError && error.param === 'structured_outputs');
  const [free] = await engine.generate([{ requestId: 'f', promptTokenIds: [1, 2], params: new SamplingParams({ maxTokens: 3, ignoreEos: true }) }]);
  assert.equal(free?.outputs[0]?.tokenIds.length, 3);
  assert.equal(engine.stats().numKvBlocksUsed, 0);
});
