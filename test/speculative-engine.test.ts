/**
 * Prompt-lookup speculation on the real CPU runner and the bundled demo model: greedy outputs
 * (tokens, text, finish and stop reasons, logprobs) are identical to plain decoding, request by
 * request, while drafts are accepted and rejected along the way, and no KV block leaks.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { parseFlags } from '../src/cli/args.js';
import { MODEL_FLAGS, modelOptionsFrom } from '../src/cli/model-flags.js';
import { accumulateOutputs, type RequestOutput } from '../src/engine/output.js';
import { SamplingParams, type SamplingParamsInit } from '../src/engine/sampling-params.js';
import { ModelHost } from '../src/host/model-host.js';

const SPECULATIVE = '{"method":"ngram","num_speculative_tokens":4,"prompt_lookup_max":3,"prompt_lookup_min":1}';

let plain: ModelHost;
let speculative: ModelHost;
before(async () => {
  const load = async (...flags: string[]) =>
    ModelHost.load(modelOptionsFrom(parseFlags(['--device', 'cpu', '--kv-cache-memory', '32MiB', ...flags], MODEL_FLAGS).flags));
  plain = await load();
  speculative = await load('--speculative-config', SPECULATIVE);
});
after(() => {
  plain?.dispose();
  speculative?.dispose();
});

/** Deterministic prompts that quote themselves: a random passage, something else, the passage again. */
function groundedPrompts(count: number): number[][] {
  let state = 12345;
  const next = (n: number) => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state % n;
  };
  const vocab = 780; // below the ChatML specials
  return Array.from({ length: count }, () => {
    const passage = Array.from({ length: 6 + next(40) }, () => next(vocab));
    const filler = Array.from({ length: next(20) }, () => next(vocab));
    return [...passage, ...filler, ...passage.slice(0, 1 + next(passage.length))];
  });
}

async function run(host: ModelHost, requests: { prompt: number[]; init: SamplingParamsInit }[]): Promise<RequestOutput[]> {
  return Promise.all(
    requests.map(async ({ prompt, init }, i) => {
      const deltas: RequestOutput[] = [];
      for await (const delta of host.engine.add({ requestId: `q${i}`, promptTokenIds: prompt, params: new SamplingParams(init) })) deltas.push(delta);
      return accumulateOutputs(deltas);
    }),
  );
}

function assertSameOutputs(actual: RequestOutput[], expected: RequestOutput[]): void {
  assert.equal(actual.length, expected.length);
  for (const [i, want] of expected.entries()) {
    const got = actual[i] as RequestOutput;
    assert.deepEqual(got.outputs, want.outputs, `request ${i}`);
  }
}

test('greedy outputs with speculation equal plain decoding: max_tokens, logprobs, n > 1, EOS, a batch of 24', async () => {
  const prompts = groundedPrompts(24);
  const variants: SamplingParamsInit[] = [
    { temperature: 0, maxTokens: 60, ignoreEos: true },
    { temperature: 0, maxTokens: 1, ignoreEos: true },
    { temperature: 0, maxTokens: 2, ignoreEos: true },
    { temperature: 0, maxTokens: 5, ignoreEos: true, logprobs: 3 },
    { temperature: 0, maxTokens: 33, logprobs: 0 },
    { temperature: 0, maxTokens: 40, n: 2, logprobs: 2, ignoreEos: true },
    { temperature: 0, maxTokens: 47 },
    { temperature: 0.8, seed: 7, maxTokens: 30, ignoreEos: true },
  ];
  const requests = prompts.map((prompt, i) => ({ prompt, init: variants[i % variants.length] as SamplingParamsInit }));
  const before = speculative.engine.stats();
  const [want, got] = await Promise.all([run(plain, requests), run(speculative, requests)]);
  assertSameOutputs(got, want);
  const stats = speculative.engine.stats();
  const numDrafts = stats.numDraftTokensTotal - before.numDraftTokensTotal;
  const numAccepted = stats.numAcceptedDraftTokensTotal - before.numAcceptedDraftTokensTotal;
  assert.ok(numAccepted > 0, `some drafts were accepted (${numAccepted} of ${numDrafts})`);
  assert.ok(numAccepted < numDrafts, `some drafts were rejected (${numAccepted} of ${numDrafts})`);
  assert.ok(stats.numStepsTotal - before.numStepsTotal < plain.engine.stats().numStepsTotal, 'fewer steps than plain decoding');
  assert.equal(stats.numKvBlocksUsed, 0, 'every block came back');
});

test('stop strings end a speculating request exactly where plain decoding ends it', async () => {
  const prompts = groundedPrompts(12);
  const free = prompts.map((prompt) => ({ prompt, init: { temperature: 0, maxTokens: 50, ignoreEos: true } }));
  const texts = (await run(plain, free)).map((output) => output.outputs[0]?.text ?? '');
  // A stop string from the middle of each plain answer: found while drafts are in flight.
  const requests = prompts.map((prompt, i) => {
    const text = texts[i] as string;
    const at = Math.floor(text.length / 2);
    return { prompt, init: { temperature: 0, maxTokens: 50, ignoreEos: true, stop: [text.slice(at, at + 3)], includeStopStrInOutput: i % 2 === 0 } };
  });
  const [want, got] = await Promise.all([run(plain, requests), run(speculative, requests)]);
  assertSameOutputs(got, want);
  assert.ok(want.some((output) => output.outputs[0]?.finishReason === 'stop'), 'the stop strings were hit');
});
