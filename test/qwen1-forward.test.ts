/**
 * Qwen v1 (QWenLMHeadModel) on the CPU against modeling_qwen.py: fused c_attn, w2 as the gate,
 * log-n query scaling once a chat's decode passes seq_length (64 in the fixture), and the
 * refusal of prompts whose dynamic NTK base swiftlet does not implement.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseFlags } from '../src/cli/args.js';
import { MODEL_FLAGS, modelOptionsFrom } from '../src/cli/model-flags.js';
import { SamplingParams } from '../src/engine/sampling-params.js';
import { ModelHost } from '../src/host/model-host.js';
import { loadModelSpec } from '../src/model/config.js';
import { RequestTooLongError } from '../src/engine/errors.js';
import { checkDynamicNtkPrompt } from '../src/engine/dynamic-ntk-limit.js';
import { familyReference, familyReferenceSuite } from './helpers/family-suite.js';
import { fixtureDir } from './helpers/paths.js';

const SEQ_LENGTH = 64;

familyReferenceSuite('tiny-qwen1', { maxTeacherForcedLength: SEQ_LENGTH });

test('the config maps as modeling_qwen.py reads it', () => {
  const spec = loadModelSpec(join(fixtureDir, 'tiny-qwen1'));
  assert.equal(spec.family, 'qwen');
  assert.equal(spec.intermediateSize, 32, 'w1 and w2 are intermediate_size / 2 wide');
  assert.deepEqual([spec.headDim, spec.numKvHeads, spec.qkvBias, spec.oBias, spec.mlpBias], [8, 2, true, false, false]);
  assert.deepEqual([spec.lognAttnContext, spec.rope.dynamicNtkContext], [SEQ_LENGTH, SEQ_LENGTH]);
});

test('a chat reference decodes past seq_length, so log-n scaling is exercised', () => {
  const longest = Math.max(...familyReference('tiny-qwen1').chat.map((c) => c.prompt_ids.length + c.output_ids.length));
  assert.ok(longest > SEQ_LENGTH + 1, `longest chat reaches ${longest} tokens`);
});

test('a prompt past seq_length is refused while dynamic NTK is on, not run with the wrong rotary base', async () => {
  const spec = loadModelSpec(join(fixtureDir, 'tiny-qwen1'));
  const { dynamicNtkContext: _, ...withoutNtk } = spec.rope;
  checkDynamicNtkPrompt({ ...spec, rope: withoutNtk }, SEQ_LENGTH + 1);
  const { flags } = parseFlags(['--model', join(fixtureDir, 'tiny-qwen1'), '--device', 'cpu', '--kv-cache-memory', '4MiB'], MODEL_FLAGS);
  const host = await ModelHost.load(modelOptionsFrom(flags));
  try {
    const add = (length: number) => host.engine.add({ requestId: `ntk-${length}`, promptTokenIds: Array.from({ length }, (_, i) => 100 + i), params: new SamplingParams({ maxTokens: 1 }) });
    assert.throws(() => add(SEQ_LENGTH + 1), (error) => error instanceof RequestTooLongError && /use_dynamic_ntk/.test(error.message));
    for await (const _output of add(SEQ_LENGTH)) {
      // NOTE: a prompt of seq_length tokens runs (alpha 1), to its one token.
    }
  } finally {
    host.dispose();
  }
});
