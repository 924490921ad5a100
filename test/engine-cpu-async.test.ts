/**
 * Asynchronous scheduling (--async-scheduling) on the real CPU runner and the fixture model:
 * the same outputs as the one-step-at-a-time loop, bit for bit (tokens, text, logprobs, finish
 * and stop reasons), for greedy and seeded sampling, n > 1, stop strings and tokens, max_tokens,
 * prompt logprobs and shared prefixes in the prefix cache.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { parseFlags } from '../src/cli/args.js';
import { MODEL_FLAGS, modelOptionsFrom } from '../src/cli/model-flags.js';
import { LLMEngine, type AddRequest } from '../src/engine/engine.js';
import { SamplingParams } from '../src/engine/sampling-params.js';
import { ModelHost } from '../src/host/model-host.js';
import { modelDir, reference } from './helpers/reference.js';
import { runBothModes } from './helpers/scheduling-modes.js';

let host: ModelHost | null = null;
after(() => host?.dispose());

async function loadHost(): Promise<ModelHost> {
  const { flags } = parseFlags(['--model', modelDir, '--device', 'cpu', '--kv-cache-memory', '16MiB', '--max-num-batched-tokens', '256'], MODEL_FLAGS);
  host = await ModelHost.load(modelOptionsFrom(flags));
  return host;
}

test('the flag turns asynchronous scheduling on, and it gives the same outputs as one step at a time', async () => {
  const { flags } = parseFlags(['--model', modelDir, '--async-scheduling'], MODEL_FLAGS);
  assert.equal(modelOptionsFrom(flags).asyncScheduling, true);

  const loaded = await loadHost();
  const base = loaded.engine;
  const shared = reference.logprobs.filter((entry) => entry.ids.length === 440).map((entry) => entry.ids);
  const prompts = [...reference.chat.map((c) => c.prompt_ids), ...reference.raw.map((r) => r.prompt_ids), ...shared];
  const probe = await base.generate([{ requestId: 'probe', promptTokenIds: prompts[0] as number[], params: new SamplingParams({ temperature: 0, maxTokens: 24 }) }]);
  const probeText = probe[0]?.outputs[0]?.text ?? '';
  const stop = probeText.slice(10, 13);
  assert.equal(stop.length, 3, 'the probe has text to stop on');

  const requests: AddRequest[] = prompts.flatMap((prompt, i) => [
    { requestId: `greedy-${i}`, promptTokenIds: prompt, params: new SamplingParams({ temperature: 0, maxTokens: 8 + 5 * i, logprobs: 2 }) },
    { requestId: `seeded-${i}`, promptTokenIds: prompt, params: new SamplingParams({ temperature: 0.9, topP: 0.95, topK: 50, seed: 1000 + i, maxTokens: 20, n: i % 2 === 0 ? 2 : 1 }) },
    { requestId: `stop-${i}`, promptTokenIds: prompt, params: new SamplingParams({ temperature: 0, maxTokens: 24, stop: [stop], promptLogprobs: i === 0 ? 1 : null }) },
  ]);
  const { sync, ahead } = await runBothModes(
    base.runner,
    (runner, asyncScheduling) => new LLMEngine(runner, base.tokenizer, { ...base.config, asyncScheduling }),
    requests,
  );
  assert.deepEqual(ahead.outputs, sync.outputs);
  assert.ok(ahead.numStepsAhead > 10, `${ahead.numStepsAhead} steps took their tokens from the step before`);
  assert.ok(sync.outputs[2]?.outputs[0]?.finishReason === 'stop', 'the stop string ended the first prompt early');
  assert.ok(ahead.engine.stats().prefixCacheHitTokens > 0, 'the shared prefixes were cache hits');
});
