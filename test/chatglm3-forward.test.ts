/**
 * ChatGLM3 (ChatGLMModel) on the CPU against modeling_chatglm.py: fused query_key_value with
 * multi-query groups, gate/up halves of dense_h_to_4h, rotary over the first half of each head
 * with interleaved pairs, and the prompt built as build_chat_input builds it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadModelSpec, specFromConfig } from '../src/model/config.js';
import { ropeTables } from '../src/model/rope.js';
import { FakeModelScope } from './helpers/fake-modelscope.js';
import { familyReference, familyReferenceSuite } from './helpers/family-suite.js';
import { fixtureDir, repoRoot } from './helpers/paths.js';

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

test('`swiftlet infer --model_type chatglm3-6b` downloads from ModelScope and answers as the reference does', async () => {
  const hub = await new FakeModelScope({ 'ZhipuAI/chatglm3-6b': { dir: join(fixtureDir, 'tiny-chatglm3') } }).start();
  try {
    const ref = familyReference('tiny-chatglm3').chat.find((c) => c.messages.length === 1 && c.messages[0]?.role === 'user');
    assert.ok(ref);
    const args = ['infer', '--model_type', 'chatglm3-6b', '--device', 'cpu', '--kv-cache-memory', '16MiB', '--max_new_tokens', String(ref.output_ids.length), '--temperature', '0'];
    const env = { ...process.env, USE_HF: '0', MODELSCOPE_ENDPOINT: hub.url, SWIFTLET_CACHE: mkdtempSync(join(tmpdir(), 'swiftlet-glm-')) };
    const child = spawn(process.execPath, [join(repoRoot, 'dist', 'src', 'cli', 'main.js'), ...args], { env });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stdin.end(`${ref.messages[0]?.content}\n\n`);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 0);
    assert.ok(stdout.includes(ref.text), `the answer is the reference's: ${stdout}`);
  } finally {
    await hub.stop();
  }
});
