/** LoRA adapters on the CPU runner against transformers + peft, and the PEFT loader's errors. */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadModelSpec } from '../src/model/config.js';
import { loadLoraAdapter } from '../src/model/lora.js';
import type { ModelRunner } from '../src/runtime/types.js';
import { fixtureDir } from './helpers/paths.js';
import { checkGreedy, checkTeacherForced, generateGreedy, MODEL_DIR, openTinyRunner, reference, teacherForced } from './helpers/cpu-reference.js';

const ADAPTER_DIR = join(fixtureDir, 'tiny-qwen2-lora-a');
const spec = loadModelSpec(MODEL_DIR);

function adapterCopy(edit: (config: Record<string, unknown>) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'swiftlet-lora-'));
  const config = JSON.parse(readFileSync(join(ADAPTER_DIR, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  edit(config);
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(config));
  copyFileSync(join(ADAPTER_DIR, 'adapter_model.safetensors'), join(dir, 'adapter_model.safetensors'));
  return dir;
}

describe('LoRA on the cpu runner (tiny-qwen2-lora-a)', () => {
  let runner: ModelRunner;
  before(async () => {
    runner = await openTinyRunner();
    runner.loadAdapter(1, loadLoraAdapter(ADAPTER_DIR, { maxRank: 16, spec }));
  });
  after(() => runner.dispose());

  test('the loader reads rank, scale and all seven projections of every layer', () => {
    const weights = loadLoraAdapter(ADAPTER_DIR, { maxRank: 16, spec });
    assert.equal(weights.rank, 8);
    assert.equal(weights.scale, 2);
    assert.equal(weights.modules.size, 7 * spec.numLayers);
    const q = weights.modules.get('model.layers.0.self_attn.q_proj');
    assert.ok(q);
    assert.equal(q.a.length, 8 * spec.hiddenSize);
  });

  test('teacher-forced logprobs with the adapter', async () => {
    const out = await teacherForced(runner, reference.lora.a.logprobs, 1);
    checkTeacherForced(out, reference.lora.a.logprobs, 'lora');
  });

  test('greedy generations: adapter rows and base rows in the same steps', async () => {
    const loraRefs = [...reference.lora.a.chat, ...reference.lora.a.raw];
    const baseRefs = [reference.chat[0]!, reference.raw[2]!];
    const refs = [...loraRefs, ...baseRefs];
    const outputs = await generateGreedy(runner, refs, [...loraRefs.map(() => 1), -1, -1]);
    checkGreedy(outputs.slice(0, loraRefs.length), loraRefs, 'lora');
    checkGreedy(outputs.slice(loraRefs.length), baseRefs, 'base among lora');
  });

  test('unloading returns the slot to the base model; an empty slot is refused', async () => {
    runner.unloadAdapter(1);
    const out = await teacherForced(runner, [reference.logprobs[0]!]);
    checkTeacherForced(out, [reference.logprobs[0]!], 'base after unload');
    await assert.rejects(teacherForced(runner, [reference.logprobs[0]!], 1), /adapter slot 1/);
    runner.loadAdapter(1, loadLoraAdapter(ADAPTER_DIR, { maxRank: 16, spec }));
  });
});

describe('PEFT adapter loader errors', () => {
  test('rank over the maximum', () => {
    assert.throws(() => loadLoraAdapter(ADAPTER_DIR, { maxRank: 4, spec }), /rank 8 exceeds the maximum rank 4/);
  });

  test('unknown target module', () => {
    const dir = adapterCopy((c) => (c['target_modules'] = ['q_proj', 'embed_tokens']));
    assert.throws(() => loadLoraAdapter(dir, { maxRank: 16, spec }), /unknown target module "embed_tokens"/);
  });

  test('missing tensor is named', () => {
    const dir = adapterCopy(() => {});
    const adapterSpec = { ...spec, numLayers: spec.numLayers + 1 };
    assert.throws(
      () => loadLoraAdapter(dir, { maxRank: 16, spec: adapterSpec }),
      /missing tensor "base_model\.model\.model\.layers\.2\.self_attn\.k_proj\.lora_A\.weight"/,
    );
  });

  test('rsLoRA scales by alpha / sqrt(r)', () => {
    const dir = adapterCopy((c) => (c['use_rslora'] = true));
    assert.equal(loadLoraAdapter(dir, { maxRank: 16, spec }).scale, 16 / Math.sqrt(8));
  });
});
