/**
 * `swiftlet app-ui` and `swiftlet deploy --ui` as real child processes: the page's URL on
 * stdout, the page and the API on one port, the SWIFT flag spellings, exit 0 on SIGINT.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { ADAPTER_DIR, MODEL_DIR } from './helpers/live-server.js';
import { cliCommand } from './helpers/cli-command.js';
import { repoRoot } from './helpers/paths.js';

const MODEL_ARGS = ['--model', MODEL_DIR, '--device', 'cpu', '--kv-cache-memory', '32MiB'];

/** Starts a command and resolves with the first stdout or stderr line `pick` accepts. */
async function start(args: string[], pick: (line: string) => string | null) {
  const child = spawn(process.execPath, [...cliCommand(), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL in time:\n${log.join('\n')}`)), 30_000);
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream as NodeJS.ReadableStream }).on('line', (line) => {
        log.push(line);
        const found = pick(line);
        if (found !== null) {
          clearTimeout(timer);
          resolve(found);
        }
      });
    }
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}:\n${log.join('\n')}`));
    });
  });
  return { child, url, log };
}

test('swiftlet app-ui prints the page URL and serves the page with the model and its adapter; SIGINT exits 0', async () => {
  const { child, url, log } = await start(['app-ui', ...MODEL_ARGS, '--lora_modules', `lora-a=${ADAPTER_DIR}`, '--port', '0'], (line) =>
    /^http:\/\/127\.0\.0\.1:\d+\/$/.test(line) ? line : null,
  );
  try {
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<script type="module" src="\/app.js">/);
    const models = (await (await fetch(`${url}v1/models`)).json()) as { data: { id: string }[] };
    assert.deepEqual(models.data.map((model) => model.id), [MODEL_DIR, 'lora-a']);
    assert.ok(log.some((line) => line.startsWith('swiftlet app-ui: serving')));
  } finally {
    child.kill('SIGINT');
  }
  const [code] = await once(child, 'exit');
  assert.equal(code, 0, log.join('\n'));
});

test('swiftlet deploy serves the page only with --ui', async () => {
  for (const withUi of [true, false]) {
    const { child, url, log } = await start(['deploy', ...MODEL_ARGS, '--port', '0', ...(withUi ? ['--ui'] : [])], (line) => / on (http:\/\/\S+) \(OpenAI API/.exec(line)?.[1] ?? null);
    try {
      const page = await fetch(`${url}/`);
      assert.equal(page.status, withUi ? 200 : 404);
      assert.equal(log.some((line) => line.includes('web chat at')), withUi);
    } finally {
      child.kill('SIGTERM');
    }
    await once(child, 'exit');
  }
});

test('swiftlet app-ui --help lists the model flags and the port', () => {
  const result = spawnSync(process.execPath, [...cliCommand(), 'app-ui', '--help'], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /usage: swiftlet app-ui/);
  for (const flag of ['--model', '--lora-modules', '--port V', '--api-key']) assert.ok(result.stdout.includes(flag), flag);
  assert.match(result.stdout, /\[default: 7860\]/);
});
