/**
 * Qwen v1 (QWenLMHeadModel) on the CPU against modeling_qwen.py: fused c_attn, w2 as the gate,
 * log-n query scaling once a chat's decode passes seq_length (64 in the fixture), and dynamic NTK:
 * the reference's teacher-forced sequences of 130, 140 and 440 tokens (alphas 7, 7 and 15) run in
 * one step beside short ones (alpha 1), in chunks, and after a shorter prompt cached their prefix.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseFlags } from '../src/cli/args.js';
import { MODEL_FLAGS, modelOptionsFrom } from '../src/cli/model-flags.js';
import { dynamicNtkAlpha } from '../src/engine/dynamic-ntk.js';
import { accumulateOutputs, type RequestOutput } from '../src/engine/output.js';
import { SamplingParams } from '../src/engine/sampling-params.js';
import { ModelHost } from '../src/host/model-host.js';
import { loadModelSpec } from '../src/model/config.js';
import { familyReference, familyReferenceSuite } from './helpers/family-suite.js';
import { fixtureDir } from './helpers/paths.js';
import { LOGPROB_TOLERANCE, type ReferenceLogprobs } from './helpers/reference.js';

const SEQ_LENGTH = 64;
const MODEL_DIR = join(fixtureDir, 'tiny-qwen1');

familyReferenceSuite('tiny-qwen1');

test('the config maps as modeling_qwen.py reads it', () => {
  const spec = loadModelSpec(MODEL_DIR);
  assert.equal(spec.family, 'qwen');
  assert.equal(spec.intermediateSize, 32, 'w1 and w2 are intermediate_size / 2 wide');
  assert.deepEqual([spec.headDim, spec.numKvHeads, spec.qkvBias, spec.oBias, spec.mlpBias], [8, 2, true, false, false]);
  assert.deepEqual([spec.lognAttnContext, spec.rope.dynamicNtkContext], [SEQ_LENGTH, SEQ_LENGTH]);
});

test('a chat reference decodes past seq_length, so log-n scaling and a kept alpha of 1 are exercised', () => {
  const longest = Math.max(...familyReference('tiny-qwen1').chat.map((c) => c.prompt_ids.length + c.output_ids.length));
  assert.ok(longest > SEQ_LENGTH + 1, `longest chat reaches ${longest} tokens`);
});

test('the NTK alpha is get_ntk_alpha of the prompt length', () => {
  const lengths = [1, 32, 64, 65, 128, 129, 256, 257, 440];
  assert.deepEqual(
    lengths.map((n) => dynamicNtkAlpha(n, SEQ_LENGTH)),
    [1, 1, 1, 3, 3, 7, 7, 15, 15],
  );
});

/** modeling_qwen.py's RotaryEmbedding of a 8-wide head at `alpha`, in float64. */
function referenceInvFreq(alpha: number): number[] {
  const dim = 8;
  const base = 10000 * alpha ** (dim / (dim - 2));
  return Array.from({ length: dim / 2 }, (_, i) => 1 / base ** ((2 * i) / dim));
}

function promptLogprobsOf(outputs: RequestOutput[]): number[] {
  const promptLogprobs = accumulateOutputs(outputs).promptLogprobs ?? [];
  return promptLogprobs.slice(1).map((entry) => entry?.logprob ?? NaN);
}

function assertMatchesReference(logprobs: readonly number[], ref: ReferenceLogprobs, label: string): void {
  assert.equal(logprobs.length, ref.positions.length, label);
  ref.positions.forEach((position, i) => {
    const actual = logprobs[i] ?? NaN;
    assert.ok(Math.abs(actual - position.logprob) <= LOGPROB_TOLERANCE, `${label} position ${i}: ${actual} vs ${position.logprob}`);
  });
}

describe('dynamic NTK through the engine', () => {
  const refs = familyReference('tiny-qwen1').logprobs;
  const ref130 = refs.find((r) => r.ids.length === 130)!;
  const ref440 = refs.find((r) => r.ids.length === 440)!;
  let host: ModelHost;
  let steps: (Float32Array | null)[] = [];
  before(async () => {
    const { flags } = parseFlags(['--model', MODEL_DIR, '--device', 'cpu', '--kv-cache-memory', '8MiB', '--max-num-batched-tokens', '48'], MODEL_FLAGS);
    host = await ModelHost.load(modelOptionsFrom(flags));
    const runner = host.engine.runner;
    const execute = runner.execute.bind(runner);
    runner.execute = (batch) => {
      steps.push(batch.ropeInvFreq?.slice() ?? null);
      return execute(batch);
    };
  });
  after(() => host.dispose());

  const run = async (requestId: string, promptTokenIds: readonly number[], params: SamplingParams): Promise<RequestOutput[]> => {
    const outputs: RequestOutput[] = [];
    for await (const output of host.engine.add({ requestId, promptTokenIds, params })) outputs.push(output);
    return outputs;
  };

  test('a prompt run in chunks of 48 keeps the alpha of its whole length (15 for 440 tokens)', async () => {
    const outputs = await run('chunked-440', ref440.ids, new SamplingParams({ maxTokens: 1, temperature: 0, promptLogprobs: 0 }));
    assertMatchesReference(promptLogprobsOf(outputs), ref440, 'chunked 440');
  });

  test('a sequence keeps its prompt\'s alpha while it decodes past the next power of two', async () => {
    steps = [];
    const prompt = ref130.ids.slice(0, 100);
    const outputs = await run('decode-100', prompt, new SamplingParams({ maxTokens: 40, temperature: 0, ignoreEos: true }));
    assert.equal(accumulateOutputs(outputs).outputs[0]?.tokenIds.length, 40, 'decodes to 140 tokens, past 128');
    const expected = referenceInvFreq(3);
    assert.ok(steps.length > 40);
    steps.forEach((rows, step) => {
      assert.ok(rows !== null && rows.length === expected.length, `step ${step} carries one row of 4 inverse frequencies`);
      expected.forEach((f, i) => assert.ok(Math.abs((rows[i] as number) - f) <= 1e-6 * f, `step ${step} frequency ${i}: ${rows[i]} vs ${f}`));
    });
  });

  test('a cached prefix of a sequence with another alpha is not reused; one of the same alpha is', async () => {
    // NOTE: no prompt logprobs here: a request that wants them never reads the prefix cache.
    const params = new SamplingParams({ maxTokens: 1, temperature: 0, logprobs: 5 });
    const nextTop = async (requestId: string): Promise<RequestOutput> => {
      const output = accumulateOutputs(await run(requestId, ref130.ids, params));
      const top = output.outputs[0]?.logprobs?.[0]?.top ?? [];
      ref130.next_top.forEach(([id, logprob], k) => {
        assert.equal(top[k]?.[0], id, `${requestId} next top[${k}]`);
        assert.ok(Math.abs((top[k]?.[1] ?? NaN) - logprob) <= LOGPROB_TOLERANCE, `${requestId} next top[${k}]: ${top[k]?.[1]} vs ${logprob}`);
      });
      return output;
    };
    await run('alpha-1-prefix', ref130.ids.slice(0, SEQ_LENGTH), new SamplingParams({ maxTokens: 1, temperature: 0 }));
    const first = await nextTop('alpha-7');
    assert.equal(first.numCachedPromptTokens, 0, 'the 64 cached tokens were rotated with alpha 1, not 7');
    const again = await nextTop('alpha-7-again');
    assert.ok(again.numCachedPromptTokens >= 112, `the same prompt reuses its own blocks (${again.numCachedPromptTokens} cached)`);
  });
});
