/**
 * Issue 18: run-time LoRA loading reads only under --lora-root. Paths outside the roots,
 * symlinks leading out of them and oversized files are refused without echoing file contents
 * or naming paths outside the roots; without a root nothing loads; a cross-origin POST to an
 * admin endpoint is refused and gets no CORS headers.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ADAPTER_DIR, postJson, startLiveServer, type LiveServer } from './helpers/live-server.js';

const SECRET = 'root:SECRET-CONTENT-that-must-not-leak';
let root: string;
let outside: string;
let rooted: LiveServer;
let rootless: LiveServer;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'swiftlet-lora-root-'));
  outside = mkdtempSync(join(tmpdir(), 'swiftlet-lora-outside-'));
  writeFileSync(join(outside, 'secret'), SECRET);
  cpSync(ADAPTER_DIR, join(outside, 'adapter'), { recursive: true });
  cpSync(ADAPTER_DIR, join(root, 'good'), { recursive: true });
  // An adapter whose config is a symlink to a secret outside the root.
  cpSync(ADAPTER_DIR, join(root, 'config-link'), { recursive: true });
  const linked = join(root, 'config-link', 'adapter_config.json');
  rmSync(linked);
  symlinkSync(join(outside, 'secret'), linked);
  // A directory symlink out of the root.
  symlinkSync(join(outside, 'adapter'), join(root, 'dir-link'));
  // A config that is not JSON but the secret's text, inside the root.
  cpSync(ADAPTER_DIR, join(root, 'garbled'), { recursive: true });
  writeFileSync(join(root, 'garbled', 'adapter_config.json'), SECRET);
  // Weights far larger than any adapter of this model can be (a sparse file: no disk used).
  mkdirSync(join(root, 'huge'));
  cpSync(join(ADAPTER_DIR, 'adapter_config.json'), join(root, 'huge', 'adapter_config.json'));
  writeFileSync(join(root, 'huge', 'adapter_model.safetensors'), '');
  truncateSync(join(root, 'huge', 'adapter_model.safetensors'), 8 * 1024 ** 3);
  rooted = await startLiveServer({}, { allowRuntimeLoraUpdating: true, loraRoots: [root] });
  rootless = await startLiveServer({}, { allowRuntimeLoraUpdating: true });
});

after(async () => {
  await rooted?.close();
  await rootless?.close();
});

async function load(server: LiveServer, name: string, path: string, headers: Record<string, string> = {}) {
  const response = await postJson(`${server.url}/v1/load_lora_adapter`, { lora_name: name, lora_path: path }, headers);
  const message = (response.json as { error?: { message: string } } | null)?.error?.message ?? response.text;
  return { status: response.status, message, headers: response.headers };
}

test('an adapter under --lora-root loads, by absolute or root-relative path', async () => {
  assert.equal((await load(rooted, 'good', join(root, 'good'))).status, 200);
  assert.equal((await load(rooted, 'good-again', 'good')).status, 200);
});

test('without --lora-root nothing loads at run time', async () => {
  const result = await load(rootless, 'x', ADAPTER_DIR);
  assert.equal(result.status, 400);
  assert.match(result.message, /needs the server started with --lora-root/);
});

test('paths outside the roots are refused alike, existing or not, naming nothing outside', async () => {
  for (const path of [join(outside, 'adapter'), join(outside, 'missing'), '/etc', '../' + 'x', 'dir-link']) {
    const result = await load(rooted, 'x', path);
    assert.equal(result.status, 400, path);
    assert.match(result.message, /lora_path must be a directory under one of the server's --lora-root directories/, path);
    assert.ok(!result.message.includes(outside), result.message);
  }
});

test('a file symlinked out of the root, or a garbled one, never has its content echoed', async () => {
  for (const path of ['config-link', 'garbled']) {
    const result = await load(rooted, 'x', path);
    assert.equal(result.status, 400, path);
    assert.ok(!result.message.includes('SECRET'), result.message);
    assert.ok(!result.message.includes(outside) && !result.message.includes(root), result.message);
  }
  assert.match((await load(rooted, 'x', 'config-link')).message, /leads outside the --lora-root/);
});

test('an oversized weights file is refused by its size before it is read', async () => {
  const started = performance.now();
  const result = await load(rooted, 'x', 'huge');
  assert.equal(result.status, 400);
  assert.match(result.message, /adapter_model.safetensors' is 8589934592 bytes, more than/);
  assert.ok(performance.now() - started < 1000);
});

test('a cross-origin POST to an admin endpoint is refused, without CORS headers', async () => {
  const evil = await load(rooted, 'evil', 'good', { Origin: 'http://evil.example' });
  assert.equal(evil.status, 403);
  assert.equal(evil.headers.get('access-control-allow-origin'), null);
  const unload = await postJson(`${rooted.url}/v1/unload_lora_adapter`, { lora_name: 'good' }, { Origin: 'http://evil.example' });
  assert.equal(unload.status, 403);
  const preflight = await fetch(`${rooted.url}/v1/load_lora_adapter`, { method: 'OPTIONS', headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' } });
  assert.equal(preflight.headers.get('access-control-allow-origin'), null);
  const sameOrigin = await load(rooted, 'same-origin', 'good', { Origin: rooted.url });
  assert.equal(sameOrigin.status, 200, sameOrigin.message);
});
