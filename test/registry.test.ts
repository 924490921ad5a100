/** The model-type registry and `swiftlet models`. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isBuiltinTemplateName } from '../src/chat/builtin.js';
import { run as runModels } from '../src/cli/commands/models.js';
import { SUPPORTED_ARCHITECTURES } from '../src/model/arch/registry.js';
import { writeState } from '../src/model/hub/cache.js';
import { isHubId } from '../src/model/hub/download.js';
import { resolveModel } from '../src/host/resolve-model.js';
import { demoModelDir, findModelType, MODEL_TYPES, modelTypeOfHubId } from '../src/model/registry.js';
import { repoRoot } from './helpers/paths.js';

/** Listed for SWIFT's workflow; their forward passes come with the model-family modules. */
const PENDING_ARCHITECTURES = ['QWenLMHeadModel', 'ChatGLMModel'];

test('every model type names a hub id, a supported architecture and a built-in template', () => {
  assert.equal(new Set(MODEL_TYPES.map((type) => type.name)).size, MODEL_TYPES.length, 'names are unique');
  assert.equal(new Set(MODEL_TYPES.map((type) => type.name.replace(/[._-]/g, '_'))).size, MODEL_TYPES.length, 'unique in every spelling');
  for (const type of MODEL_TYPES) {
    if (type.hubId !== null) assert.ok(isHubId(type.hubId), type.hubId);
    if (type.modelScopeId !== undefined) assert.ok(isHubId(type.modelScopeId), type.modelScopeId);
    assert.ok([...SUPPORTED_ARCHITECTURES, ...PENDING_ARCHITECTURES].includes(type.architecture), `${type.name}: ${type.architecture}`);
    assert.ok(isBuiltinTemplateName(type.template), `${type.name}: ${type.template}`);
  }
});

test('the families swiftlet supports are all there', () => {
  const hubIds = new Set(MODEL_TYPES.map((type) => type.hubId));
  for (const size of ['0.5B', '1.5B', '3B', '7B', '14B', '32B', '72B']) assert.ok(hubIds.has(`Qwen/Qwen2.5-${size}-Instruct`), size);
  for (const size of ['0.6B', '1.7B', '4B', '8B', '14B', '32B']) assert.ok(hubIds.has(`Qwen/Qwen3-${size}`), size);
  for (const id of ['Llama-3.1-8B', 'Llama-3.1-70B', 'Llama-3.2-1B', 'Llama-3.2-3B', 'Llama-3.3-70B']) {
    assert.ok(hubIds.has(`meta-llama/${id}-Instruct`), id);
  }
  for (const size of ['6B', '9B', '34B']) assert.ok(hubIds.has(`01-ai/Yi-1.5-${size}-Chat`), size);
  assert.ok(hubIds.has('mistralai/Mistral-7B-Instruct-v0.3'));
});

test("SWIFT's seed model types are there under SWIFT's names, dashes or underscores, with both hubs' ids", () => {
  const expected: Record<string, [string, string, string]> = {
    'qwen-7b-chat': ['Qwen/Qwen-7B-Chat', 'qwen/Qwen-7B-Chat', 'QWenLMHeadModel'],
    'qwen-7b': ['Qwen/Qwen-7B', 'qwen/Qwen-7B', 'QWenLMHeadModel'],
    'chatglm3-6b': ['THUDM/chatglm3-6b', 'ZhipuAI/chatglm3-6b', 'ChatGLMModel'],
    'yi-6b-chat': ['01-ai/Yi-6B-Chat', '01ai/Yi-6B-Chat', 'LlamaForCausalLM'],
    'qwen1half-7b-chat': ['Qwen/Qwen1.5-7B-Chat', 'qwen/Qwen1.5-7B-Chat', 'Qwen2ForCausalLM'],
    'qwen1half-7b-chat-int4': ['Qwen/Qwen1.5-7B-Chat-GPTQ-Int4', 'qwen/Qwen1.5-7B-Chat-GPTQ-Int4', 'Qwen2ForCausalLM'],
    'llama2-7b-chat': ['meta-llama/Llama-2-7b-chat-hf', 'modelscope/Llama-2-7b-chat-ms', 'LlamaForCausalLM'],
    'llama3-8b-instruct': ['meta-llama/Meta-Llama-3-8B-Instruct', 'LLM-Research/Meta-Llama-3-8B-Instruct', 'LlamaForCausalLM'],
  };
  for (const [name, [hubId, modelScopeId, architecture]] of Object.entries(expected)) {
    for (const spelling of [name, name.replace(/-/g, '_')]) {
      const type = findModelType(spelling);
      assert.equal(type?.name, name, spelling);
      assert.deepEqual([type.hubId, type.modelScopeId, type.architecture], [hubId, modelScopeId, architecture]);
    }
    assert.equal(modelTypeOfHubId(modelScopeId)?.name, name);
  }
  assert.equal(findModelType('chatglm3-6b')?.chatFormat, 'chatglm3');
});

test('the GPTQ int4 type is refused at load, saying why', async () => {
  await assert.rejects(resolveModel('qwen1half_7b_chat_int4'), /qwen1half-7b-chat-int4: needs GPTQ int4 weights/);
});

test('a model type is found under SWIFT\'s spelling, with dots, in any case, or by hub id', () => {
  assert.equal(findModelType('qwen2_5-7b-instruct')?.hubId, 'Qwen/Qwen2.5-7B-Instruct');
  assert.equal(findModelType('Qwen2.5-7B-Instruct')?.hubId, 'Qwen/Qwen2.5-7B-Instruct');
  assert.equal(findModelType('LLAMA3_1-8B-INSTRUCT')?.hubId, 'meta-llama/Llama-3.1-8B-Instruct');
  assert.equal(findModelType('mistral-7b-instruct-v0.3')?.architecture, 'MistralForCausalLM');
  assert.equal(findModelType('gpt-5'), undefined);
  assert.equal(modelTypeOfHubId('qwen/qwen3-8b')?.name, 'qwen3-8b');
  assert.equal(demoModelDir(), join(repoRoot, 'models', 'demo'));
});

test('swiftlet models lists the types and marks what is cached', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'swiftlet-models-'));
  const saved = process.env['SWIFTLET_CACHE'];
  process.env['SWIFTLET_CACHE'] = cache;
  const fakeDownload = (org: string, name: string) => {
    const dir = join(cache, 'hub', org, name, 'main');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), '{}');
    writeState(dir, { hubId: `${org}/${name}`, revision: 'main', complete: true, files: { 'config.json': { size: 2, version: 'x' } } });
  };
  fakeDownload('Qwen', 'Qwen3-0.6B');
  fakeDownload('someone', 'other-model');
  const printed: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => void printed.push(args.join(' '));
  try {
    assert.equal(await runModels(['--json']), 0);
    assert.equal(await runModels([]), 0);
  } finally {
    console.log = log;
    if (saved === undefined) delete process.env['SWIFTLET_CACHE'];
    else process.env['SWIFTLET_CACHE'] = saved;
    rmSync(cache, { recursive: true, force: true });
  }
  const listed = JSON.parse(printed[0] ?? '') as { modelTypes: { name: string; localDir: string | null }[]; otherCached: { id: string }[] };
  assert.equal(listed.modelTypes.length, MODEL_TYPES.length);
  const cached = listed.modelTypes.filter((type) => type.localDir !== null).map((type) => type.name);
  assert.deepEqual(cached, ['swiftlet-demo', 'qwen3-0_6b']);
  assert.deepEqual(listed.otherCached.map((other) => other.id), ['someone/other-model']);
  const text = printed.slice(1).join('\n');
  assert.match(text, /^qwen3-0_6b\s+Qwen\/Qwen3-0\.6B\s+Qwen3ForCausalLM\s+chatml\s+0\.6B\s+yes$/m);
  assert.match(text, /^qwen3-8b\s+Qwen\/Qwen3-8B\s+Qwen3ForCausalLM\s+chatml\s+8\.2B$/m);
  assert.match(text, /also cached:\n {2}someone\/other-model/);
  assert.match(text, /^chatglm3-6b\s+THUDM\/chatglm3-6b\s+ChatGLMModel\s+chatglm3\s+6\.2B\s+SentencePiece/m);
  assert.match(text, /^qwen1half-7b-chat-int4\s.*needs GPTQ int4 weights/m);
});
