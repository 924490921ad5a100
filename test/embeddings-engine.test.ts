/**
 * Final hidden states from the CPU forward pass, pooled by the engine, checked against
 * transformers without trusting our own logits (helpers/tied-logits.ts: log_softmax(E · h)
 * must give the reference's next-token logprobs). Steps are chunked (32 tokens)
 * so pooling spans several prefill steps. Mean pooling equals the mean of every prefix's last
 * state (a causal model's state at position i sees only tokens 0..i).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { PoolingMode } from '../src/model/pooling-config.js';
import { SamplingParams } from '../src/engine/sampling-params.js';
import { ModelHost } from '../src/host/model-host.js';
import { fixtureModelOptions, MODEL_DIR, reference } from './helpers/live-server.js';
import { logSoftmaxOfTiedLogits, readEmbeddingMatrix } from './helpers/tied-logits.js';

let host: ModelHost;
let embeddingMatrix: Float32Array;

before(async () => {
  host = await ModelHost.load(fixtureModelOptions({ loraModules: [], maxNumBatchedTokens: 32, enableChunkedPrefill: true }));
  embeddingMatrix = readEmbeddingMatrix(MODEL_DIR);
});

after(() => {
  host.dispose();
});

async function embed(ids: readonly number[], pooling: PoolingMode): Promise<Float32Array> {
  const submission = host.serving.submit({ promptTokenIds: ids, params: new SamplingParams({ maxTokens: 1, temperature: 0 }), adapter: null, pooling });
  let embedding: Float32Array | undefined;
  for await (const output of submission.outputs) embedding ??= output.embedding;
  assert.ok(embedding, 'the finished output carries the embedding');
  return embedding;
}

test('last-token hidden state: E · h reproduces the reference next-token logprobs (7 and 130 tokens, chunked)', async () => {
  for (const ref of [reference.logprobs[0], reference.logprobs[2]]) {
    assert.ok(ref);
    const h = await embed(ref.ids, 'last');
    assert.equal(h.length, host.spec.hiddenSize);
    const logprobs = logSoftmaxOfTiedLogits(embeddingMatrix, h);
    for (const [id, want] of ref.next_top) {
      assert.ok(Math.abs((logprobs[id] as number) - want) < 2e-3, `${ref.ids.length} tokens: token ${id} logprob ${logprobs[id]} vs ${want}`);
    }
  }
});

test('mean pooling is the mean of each prefix\'s last state, across chunk boundaries', async () => {
  const ids = (reference.logprobs[2]?.ids ?? []).slice(0, 40);
  const mean = await embed(ids, 'mean');
  const expected = new Float64Array(host.spec.hiddenSize);
  for (let n = 1; n <= ids.length; n++) {
    const last = await embed(ids.slice(0, n), 'last');
    last.forEach((x, i) => (expected[i] = (expected[i] as number) + x / ids.length));
  }
  mean.forEach((x, i) => assert.ok(Math.abs(x - (expected[i] as number)) < 1e-3, `dim ${i}: ${x} vs ${expected[i]}`));
});
