/**
 * ChatGLM3 (ChatGLMModel) on the CPU against modeling_chatglm.py: fused query_key_value with
 * multi-query groups, gate/up halves of dense_h_to_4h, rotary over the first half of each head
 * with interleaved pairs, and the prompt built as build_chat_input builds it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadModelSpec, specFromConfig } from '../src/model/config.js';
import { ropeTables } from '../src/model/rope.js';
import { familyReferenceSuite } from './helpers/family-suite.js';
import { fixtureDir } from './helpers/paths.js';

familyReferenceSuite('tiny-chatglm3');

test('the config maps as modeling_chatglm.py reads it', () => {
  const spec = loadModelSpec(join(fixtureDir, 'tiny-chatglm3'));
  assert.equal(spec.family, 'chatglm');
  assert.deepEqual([spec.vocabSize, spec.intermediateSize, spec.numLayers, spec.numKvHeads, spec.headDim], [65024, 40, 2, 2, 8]);
  assert.deepEqual([spec.qkvBias, spec.oBias, spec.mlpBias, spec.tieWordEmbeddings], [true, false, false, false]);
  assert.equal(spec.rope.interleaved, true);
  assert.equal(ropeTables(spec).rotaryDim, 4, 'half of each 8-wide head is rotated');
});

test('rope_ratio (the 32k variant) scales the rotary base', () => {
  const config = JSON.parse(readFileSync(join(fixtureDir, 'tiny-chatglm3', 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(specFromConfig(config).rope.theta, 10000);
  assert.equal(specFromConfig({ ...config, rope_ratio: 50 }).rope.theta, 500000);
});
