/**
 * ModelScope download against a local server playing its model API (test/helpers/fake-modelscope.ts),
 * chosen by USE_HF=0 (or --use_hf false): the model files byte-identical in the cache's modelscope/ folder, nothing
 * fetched twice, an interrupted file resumed, offline use of the cache, model types resolved to
 * their ModelScope ids, a missing model and a refused token reported as such.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { parseFlags } from '../src/cli/args.js';
import { MODEL_FLAGS, modelOptionsFrom } from '../src/cli/model-flags.js';
import { resolveModel } from '../src/host/resolve-model.js';
import { downloadModel, type HubOptions } from '../src/model/hub/download.js';
import { ModelLoadError } from '../src/model/errors.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import { FakeModelScope } from './helpers/fake-modelscope.js';
import { repoRoot } from './helpers/paths.js';
import { ScopedEnv } from './helpers/scoped-env.js';

const qwen1Dir = join(repoRoot, 'test', 'fixtures', 'tiny-qwen1');
const glmDir = join(repoRoot, 'test', 'fixtures', 'tiny-chatglm3');
const REPO = 'test-org/tiny-qwen1';
const QWEN1_FILES = ['config.json', 'generation_config.json', 'model.safetensors', 'qwen.tiktoken', 'tokenizer_config.json'];

const hub = new FakeModelScope({
  [REPO]: { dir: qwen1Dir },
  'ZhipuAI/chatglm3-6b': { dir: glmDir },
  'private-org/model': { dir: glmDir, token: 'ms_secret' },
});

const env = new ScopedEnv(['USE_HF', 'MODELSCOPE_ENDPOINT', 'MODELSCOPE_API_TOKEN', 'HF_HUB_OFFLINE', 'SWIFTLET_CACHE']);
let cache: string;
let options: Partial<HubOptions>;

before(async () => {
  await hub.start();
});
after(async () => {
  await hub.stop();
  env.restore();
});
beforeEach(() => {
  cache = mkdtempSync(join(tmpdir(), 'swiftlet-ms-'));
  env.clear();
  process.env['USE_HF'] = '0';
  process.env['MODELSCOPE_ENDPOINT'] = hub.url;
  process.env['SWIFTLET_CACHE'] = cache;
  hub.requests.length = 0;
  hub.cuts.clear();
  options = { progress: null, retryDelayMs: 1 };
});
afterEach(() => rmSync(cache, { recursive: true, force: true }));

function assertSameFiles(dir: string, source: string, names: string[]): void {
  assert.deepEqual(readdirSync(dir).filter((name) => !name.startsWith('.')).sort(), names);
  for (const name of names) assert.ok(readFileSync(join(dir, name)).equals(readFileSync(join(source, name))), `${name} differs`);
}

test('USE_HF=0 downloads from ModelScope into the cache, the model files only, and a second run only lists them', async () => {
  const dir = await downloadModel(REPO, options);
  assert.equal(dir, join(cache, 'modelscope', 'test-org', 'tiny-qwen1', 'master'));
  assertSameFiles(dir, qwen1Dir, QWEN1_FILES);
  assert.equal((await loadTokenizer(dir)).vocabSize, 151851);
  hub.requests.length = 0;
  assert.equal(await downloadModel(REPO, options), dir);
  assert.deepEqual(hub.requests.map((r) => r.url.split('?')[0]), [`/api/v1/models/${REPO}/repo/files`]);
});

test('an interrupted ModelScope file resumes from where it stopped', async () => {
  hub.cuts.set(`${REPO}/model.safetensors`, 3_000_000);
  const dir = await downloadModel(REPO, options);
  assertSameFiles(dir, qwen1Dir, QWEN1_FILES);
  const [first, resumed, ...more] = hub.transfers(REPO, 'model.safetensors');
  assert.equal(first, undefined);
  assert.deepEqual(more, []);
  const offset = Number(/^bytes=(\d+)-$/.exec(resumed ?? '')?.[1]);
  assert.ok(offset > 0 && offset <= 3_000_000, `resumed at ${resumed}`);
});

test('offline, a ModelScope download is served from the cache, and refused when it is not there', async () => {
  const dir = await downloadModel(REPO, options);
  process.env['HF_HUB_OFFLINE'] = '1';
  hub.requests.length = 0;
  assert.equal(await downloadModel(REPO, options), dir);
  assert.equal(hub.requests.length, 0);
  await assert.rejects(downloadModel('ZhipuAI/chatglm3-6b', options), /HF_HUB_OFFLINE is set and ZhipuAI\/chatglm3-6b is not in the cache/);
});

test('a model type resolves to its ModelScope id when USE_HF=0', async () => {
  const resolved = await resolveModel('chatglm3_6b', options);
  assert.equal(resolved.modelType?.name, 'chatglm3-6b');
  assert.equal(resolved.dir, join(cache, 'modelscope', 'ZhipuAI', 'chatglm3-6b', 'master'));
  assertSameFiles(resolved.dir, glmDir, ['config.json', 'model.safetensors', 'tokenizer.model', 'tokenizer_config.json']);
});

test('a missing ModelScope model and a refused token are reported as such', async () => {
  await assert.rejects(downloadModel('nobody/nothing', options), (error: unknown) => {
    assert.ok(error instanceof ModelLoadError);
    assert.match(error.message, /nobody\/nothing: no such model \(or revision 'master'\)/);
    return true;
  });
  await assert.rejects(downloadModel('private-org/model', options), /access denied .* set MODELSCOPE_API_TOKEN/);
  process.env['MODELSCOPE_API_TOKEN'] = 'ms_secret';
  assert.ok(await downloadModel('private-org/model', options));
});

test("--use_hf chooses the hub as SWIFT's flag does; left out, USE_HF decides", () => {
  const hubOf = (argv: string[]) => modelOptionsFrom(parseFlags(argv, MODEL_FLAGS).flags).hub;
  assert.equal(hubOf(['--use_hf', 'false']), 'modelscope');
  assert.equal(hubOf(['--use_hf']), 'huggingface');
  assert.equal(hubOf(['--use-hf', 'true']), 'huggingface');
  assert.equal(hubOf([]), undefined);
});
