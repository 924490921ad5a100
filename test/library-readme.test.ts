/**
 * The README's `## Library` examples run as written: each ```ts block importing 'swiftlet'
 * is run (with the import pointed at this checkout, and the client's server address at a live
 * demo-model server on a free port) and what it prints must equal the ```text block after it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startLiveServer, type LiveServer } from './helpers/live-server.js';
import { repoRoot } from './helpers/paths.js';

const run = promisify(execFile);
const README_SERVER = 'http://127.0.0.1:8000';

/** From dist/test (npm test) the compiled entry; from test/ (tsx) the source through tsx. */
const isCompiled = fileURLToPath(import.meta.url).endsWith('.js');
const entry = isCompiled ? join(repoRoot, 'dist', 'src', 'index.js') : join(repoRoot, 'src', 'index.ts');
const nodeArgs = isCompiled ? [] : ['--import', 'tsx'];

interface Example {
  code: string;
  output: string;
}

function libraryExamples(): Example[] {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Library\n');
  assert.ok(start >= 0, 'README.md has a ## Library section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  const blocks = [...section.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1] ?? '', body: m[2] ?? '' }));
  const examples: Example[] = [];
  blocks.forEach((block, i) => {
    if (block.lang !== 'ts' || !block.body.includes("from 'swiftlet'")) return;
    const next = blocks[i + 1];
    assert.equal(next?.lang, 'text', 'each example is followed by a ```text block of what it prints');
    examples.push({ code: block.body, output: next?.body ?? '' });
  });
  return examples;
}

let live: LiveServer;
let workDir: string;

before(async () => {
  // NOTE: what `swiftlet deploy` serves with no flags: the bundled demo model under its own name.
  live = await startLiveServer({ model: undefined, servedModelName: undefined, loraModules: [] });
  workDir = mkdtempSync(join(tmpdir(), 'swiftlet-readme-'));
});

after(async () => {
  await live.close();
});

test('the README library examples print what the README says', async () => {
  const examples = libraryExamples();
  assert.ok(examples.length >= 2, 'an Engine and a Client example');
  assert.ok(examples.some((e) => e.code.includes('Engine.load')) && examples.some((e) => e.code.includes('new Client')));
  for (const [i, example] of examples.entries()) {
    const code = example.code.replaceAll("from 'swiftlet'", `from '${pathToFileURL(entry).href}'`).replaceAll(README_SERVER, live.url);
    const file = join(workDir, `example-${i}.mjs`);
    writeFileSync(file, code);
    // NOTE: async, so the live server in this process can answer the client example.
    const { stdout } = await run(process.execPath, [...nodeArgs, file], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(stdout, example.output, `README example ${i + 1} (${example.code.split('\n')[0]})`);
  }
});
