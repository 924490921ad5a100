/**
 * Hub download against a local server playing the hub's file API (test/helpers/fake-hub.ts):
 * only the needed files, byte-identical; nothing fetched twice; an interrupted file resumed
 * from where it stopped (in the same run and in the next), a foreign or corrupt partial file
 * fetched again; HF_ENDPOINT, HF_HUB_OFFLINE and HF_TOKEN honoured; model types resolved.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { loadModelSpec } from '../src/model/config.js';
import { cachedModelDir } from '../src/model/hub/cache.js';
import { downloadModel, type HubOptions } from '../src/model/hub/download.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import { resolveModel, resolveModelDir } from '../src/host/resolve-model.js';
import { FakeHub } from './helpers/fake-hub.js';
import { modelDir as fixtureModelDir } from './helpers/reference.js';
import { repoRoot } from './helpers/paths.js';
import { ScopedEnv } from './helpers/scoped-env.js';

const demoDir = join(repoRoot, 'models', 'demo');
const REPO = 'test-org/tiny-qwen2';
const WEIGHTS = 'model.safetensors';
const EXPECTED_FILES = ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];

const hub = new FakeHub({
  [REPO]: { dir: fixtureModelDir, extraListed: ['pytorch_model.bin', 'README.md', 'consolidated.safetensors'] },
  'Qwen/Qwen2.5-0.5B-Instruct': { dir: demoDir },
  'gated-org/demo': { dir: demoDir, token: 'hf_secret' },
});

const env = new ScopedEnv(['HF_ENDPOINT', 'HF_HUB_OFFLINE', 'HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'SWIFTLET_CACHE', 'USE_HF']);
let cache: string;
let progress: string[];
/** Quiet, fast retries; the progress lines collected. */
let options: Partial<HubOptions>;

before(async () => {
  await hub.start();
});
after(async () => {
  await hub.stop();
  env.restore();
});
beforeEach(() => {
  cache = mkdtempSync(join(tmpdir(), 'swiftlet-hub-'));
  env.clear();
  process.env['HF_ENDPOINT'] = hub.url;
  process.env['SWIFTLET_CACHE'] = cache;
  hub.requests.length = 0;
  hub.cuts.clear();
  hub.ignoreRanges = false;
  progress = [];
  options = { progress: { write: (text: string) => progress.push(text) }, retryDelayMs: 1 };
});
afterEach(() => rmSync(cache, { recursive: true, force: true }));

function assertSameFiles(dir: string, source: string, names = EXPECTED_FILES): void {
  for (const name of names) assert.ok(readFileSync(join(dir, name)).equals(readFileSync(join(source, name))), `${name} differs`);
}

function filesIn(dir: string): string[] {
  return readdirSync(dir).filter((name) => !name.startsWith('.')).sort();
}

test('a hub id downloads the model files, and only those, into $SWIFTLET_CACHE from $HF_ENDPOINT', async () => {
  const dir = await resolveModelDir(REPO, options);
  assert.ok(dir.startsWith(cache), dir);
  assert.deepEqual(filesIn(dir), EXPECTED_FILES);
  assertSameFiles(dir, fixtureModelDir);
  assert.equal(loadModelSpec(dir).hfArchitecture, 'Qwen2ForCausalLM');
  assert.ok((await loadTokenizer(dir)).vocabSize > 0);
  assert.ok(progress.some((line) => line.includes(WEIGHTS) && line.includes('100%')), progress.join(''));
  assert.equal(cachedModelDir(REPO, 'main', cache), dir);
  if (process.env['SHOW_PROGRESS']) console.log(progress.join(''));

  hub.requests.length = 0;
  assert.equal(await resolveModelDir(REPO, options), dir);
  assert.deepEqual(hub.requests.map((r) => r.url.split('?')[0]), [`/api/models/${REPO}/tree/main`], 'a second run only lists the files');
});

test('an interrupted file resumes from where it stopped, within one run', async () => {
  hub.cuts.set(`${REPO}/${WEIGHTS}`, 5_000_000);
  const dir = await downloadModel(REPO, options);
  assertSameFiles(dir, fixtureModelDir);
  const transfers = hub.transfers(REPO, WEIGHTS);
  assert.equal(transfers.length, 2, JSON.stringify(transfers));
  assert.equal(transfers[0], undefined);
  const resumedAt = Number(/^bytes=(\d+)-/.exec(transfers[1] ?? '')?.[1]);
  assert.ok(resumedAt > 0 && resumedAt <= 5_000_000, `resumed at ${transfers[1]}`);
  assert.ok(progress.some((line) => line.includes('interrupted')));
});

test('a download stopped in one run is never taken as complete, and the next run continues it', async () => {
  hub.cuts.set(`${REPO}/${WEIGHTS}`, 3_000_000);
  await assert.rejects(downloadModel(REPO, { ...options, maxRetries: 0 }), /stopped at \d+ of \d+ bytes.*run again to resume/);
  const dir = join(cache, 'hub', 'test-org', 'tiny-qwen2', 'main');
  assert.ok(!existsSync(join(dir, WEIGHTS)), 'no file under its final name');
  const partial = statSync(join(dir, `${WEIGHTS}.incomplete`)).size;
  assert.ok(partial > 0 && partial <= 3_000_000);
  assert.equal(cachedModelDir(REPO, 'main', cache), undefined);

  process.env['HF_HUB_OFFLINE'] = '1';
  await assert.rejects(resolveModelDir(REPO, options), /HF_HUB_OFFLINE is set and test-org\/tiny-qwen2 is not in the cache \(only partly downloaded\)/);
  delete process.env['HF_HUB_OFFLINE'];

  hub.requests.length = 0;
  await downloadModel(REPO, options);
  assertSameFiles(dir, fixtureModelDir);
  assert.deepEqual(hub.transfers(REPO, WEIGHTS), [`bytes=${partial}-${statSync(join(fixtureModelDir, WEIGHTS)).size - 1}`]);
  assert.deepEqual(hub.transfers(REPO, 'tokenizer.json'), [], 'finished files are not fetched again');
});

test('a partial file of another version, or with wrong bytes, is fetched again from the start', async () => {
  const dir = await downloadModel(REPO, options);
  const partial = join(dir, `${WEIGHTS}.incomplete`);
  const state = JSON.parse(readFileSync(join(dir, '.swiftlet-download.json'), 'utf8'));
  const version = state.files[WEIGHTS].version as string;
  const size = statSync(join(dir, WEIGHTS)).size;

  // Another version's bytes: discarded.
  rmSync(join(dir, WEIGHTS));
  writeFileSync(partial, Buffer.alloc(1000, 7));
  writeFileSync(`${partial}.json`, JSON.stringify({ version: 'an-older-version', size }));
  hub.requests.length = 0;
  await downloadModel(REPO, options);
  assert.deepEqual(hub.transfers(REPO, WEIGHTS), [undefined]);
  assertSameFiles(dir, fixtureModelDir);

  // This version, but corrupt: the hash check catches it and the file is fetched again.
  rmSync(join(dir, WEIGHTS));
  writeFileSync(partial, Buffer.alloc(1000, 7));
  writeFileSync(`${partial}.json`, JSON.stringify({ version, size }));
  hub.requests.length = 0;
  await downloadModel(REPO, options);
  assert.deepEqual(hub.transfers(REPO, WEIGHTS), [`bytes=1000-${size - 1}`, undefined]);
  assertSameFiles(dir, fixtureModelDir);
  assert.ok(!existsSync(partial));
});

test('a server that cannot resume gets the whole file again', async () => {
  hub.cuts.set(`${REPO}/${WEIGHTS}`, 2_000_000);
  hub.ignoreRanges = true;
  const dir = await downloadModel(REPO, options);
  assertSameFiles(dir, fixtureModelDir);
  const transfers = hub.transfers(REPO, WEIGHTS);
  assert.equal(transfers.length, 3, JSON.stringify(transfers));
  assert.match(transfers[1] ?? '', /^bytes=[1-9]\d*-/);
  assert.equal(transfers[2], undefined);
});

test('HF_HUB_OFFLINE=1 uses the cache, and says so clearly when the model is not there', async () => {
  const dir = await resolveModelDir(REPO, options);
  process.env['HF_HUB_OFFLINE'] = '1';
  hub.requests.length = 0;
  assert.equal(await resolveModelDir(REPO, options), dir);
  assert.equal(hub.requests.length, 0);
  await assert.rejects(resolveModelDir('test-org/not-downloaded', options), (error: Error) => {
    assert.match(error.message, /HF_HUB_OFFLINE is set and test-org\/not-downloaded is not in the cache at .*; unset HF_HUB_OFFLINE to download it/);
    return true;
  });
});

test('an unreachable hub falls back to a complete cached copy', async () => {
  const dir = await resolveModelDir(REPO, options);
  process.env['HF_ENDPOINT'] = 'http://127.0.0.1:1';
  assert.equal(await resolveModelDir(REPO, options), dir);
  assert.ok(progress.some((line) => line.includes('using the cached copy')));
  await assert.rejects(resolveModelDir('test-org/elsewhere', options), /cannot reach http:\/\/127\.0\.0\.1:1/);
});

test('HF_TOKEN is sent; a gated model without it fails with a clear error', async () => {
  await assert.rejects(resolveModelDir('gated-org/demo', options), /access denied .*set HF_TOKEN/);
  process.env['HF_TOKEN'] = 'hf_secret';
  const dir = await resolveModelDir('gated-org/demo', options);
  assertSameFiles(dir, demoDir);
  assert.ok(hub.requests.filter((r) => r.url.includes('gated-org')).at(-1)?.authorization === 'Bearer hf_secret');
});

test('an unknown repository and an unknown name are clear errors', async () => {
  await assert.rejects(resolveModelDir('nobody/nothing', options), /nobody\/nothing: no such model \(or revision 'main'\) on http/);
  await assert.rejects(resolveModelDir('no-such-thing', options), /model not found: "no-such-thing" is not a directory, a model type \(see `swiftlet models`\) or a hub id/);
});

test('a model type name downloads its hub id', async () => {
  const resolved = await resolveModel('qwen2_5-0_5b-instruct', options);
  assert.equal(resolved.source, 'hub');
  assert.equal(resolved.modelType?.hubId, 'Qwen/Qwen2.5-0.5B-Instruct');
  assert.equal(resolved.dir, join(cache, 'hub', 'Qwen', 'Qwen2.5-0.5B-Instruct', 'main'));
  assertSameFiles(resolved.dir, demoDir);
  assert.equal((await resolveModel('Qwen2.5-0.5B-Instruct', options)).dir, resolved.dir, 'spelled with a dot');
});
