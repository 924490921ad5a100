/**
 * Issue 18: run-batch never loses data. An output that is the input, or that cannot be
 * written, is refused in one line before the model loads; results are written as they
 * finish, so SIGINT keeps them and `--resume` completes the file with each custom_id once;
 * error line numbers count blank lines; a run where lines failed exits 1 (as infer --dataset).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './helpers/paths.js';
import { modelDir } from './helpers/reference.js';

const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const MODEL_ARGS = ['--model', modelDir, '--kv-cache-memory', '64MiB', '--device', 'cpu'];

interface Finished {
  code: number | null;
  stderr: string;
}

/** Runs the command; `poll`, if given, is called every 50 ms while it runs. */
function runBatch(args: string[], poll?: (child: ReturnType<typeof spawn>) => void): Promise<Finished> {
  const child = spawn(process.execPath, [cli, 'run-batch', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
  const timer = poll === undefined ? undefined : setInterval(() => poll(child), 50);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearInterval(timer);
      resolve({ code, stderr });
    }),
  );
}

function request(customId: string, maxTokens: number): string {
  return JSON.stringify({ custom_id: customId, method: 'POST', url: '/v1/completions', body: { prompt: `request ${customId}`, max_tokens: maxTokens, temperature: 0, ignore_eos: true } });
}

function resultIds(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').filter((text) => text !== '').map((text) => (JSON.parse(text) as { custom_id: string }).custom_id);
}

/** A refusal: exit 2, one line on stderr, and the model never loaded. */
function assertRefusedEarly(result: Finished, message: RegExp): void {
  assert.equal(result.code, 2, result.stderr);
  assert.equal(result.stderr.trim().split('\n').length, 1, `one line, got: ${result.stderr}`);
  assert.match(result.stderr, message);
  assert.doesNotMatch(result.stderr, /loaded|Error:|\n\s+at /);
}

test('an output that resolves to the input is refused and the input left intact', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swiftlet-batch-same-'));
  const input = join(dir, 'in.jsonl');
  const content = `${request('a', 4)}\n${request('b', 4)}\n`;
  writeFileSync(input, content);
  symlinkSync(input, join(dir, 'link.jsonl'));
  for (const output of [input, join(dir, '.', 'in.jsonl'), join(dir, 'link.jsonl')]) {
    assertRefusedEarly(await runBatch(['-i', input, '-o', output, ...MODEL_ARGS]), /is the input file/);
    assert.equal(readFileSync(input, 'utf8'), content);
  }
});

test('an unwritable output is one line and a non-zero exit, before the model loads', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swiftlet-batch-out-'));
  const input = join(dir, 'in.jsonl');
  writeFileSync(input, `${request('a', 4)}\n`);
  mkdirSync(join(dir, 'a-directory'));
  writeFileSync(join(dir, 'done.jsonl'), 'previous results\n');
  const cases: [string, RegExp][] = [
    [join(dir, 'missing', 'out.jsonl'), /no such directory/],
    [join(dir, 'a-directory'), /is a directory/],
    ['/dev/full', /not a regular file/],
    [join(dir, 'done.jsonl'), /already holds results: --resume .* or --overwrite/],
  ];
  // NOTE: permissions do not bind root, so the read-only case runs only for other users.
  if (process.getuid?.() !== 0) {
    const readOnly = join(dir, 'read-only');
    mkdirSync(readOnly);
    chmodSync(readOnly, 0o555);
    cases.push([join(readOnly, 'out.jsonl'), /not writable/]);
  }
  for (const [output, message] of cases) assertRefusedEarly(await runBatch(['-i', input, '-o', output, ...MODEL_ARGS]), message);
  assert.equal(readFileSync(join(dir, 'done.jsonl'), 'utf8'), 'previous results\n');
  assert.ok(!existsSync(join(dir, 'missing')));
});

test('SIGINT keeps the finished results and prints a summary; --resume answers each custom_id once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swiftlet-batch-resume-'));
  const input = join(dir, 'in.jsonl');
  const output = join(dir, 'out.jsonl');
  const ids = Array.from({ length: 8 }, (_, i) => `req-${i}`);
  // NOTE: the short ones finish at once; the long ones are still running when SIGINT comes.
  writeFileSync(input, ids.map((id, i) => request(id, i % 2 === 0 ? 2 : 4000)).join('\n') + '\n');
  let isSent = false;
  const interrupted = await runBatch(['-i', input, '-o', output, '--max-model-len', '4096', ...MODEL_ARGS], (child) => {
    if (isSent || !existsSync(output) || resultIds(output).length < 4) return;
    isSent = true;
    child.kill('SIGINT');
  });
  assert.equal(interrupted.code, 130, interrupted.stderr);
  assert.match(interrupted.stderr, /interrupted by SIGINT: 4 of 8 requests answered.*--resume/);
  const kept = readFileSync(output, 'utf8');
  assert.ok(kept.endsWith('\n'), 'no torn line');
  assert.deepEqual(resultIds(output).sort(), ['req-0', 'req-2', 'req-4', 'req-6']);

  // The long ones get short budgets this time (same custom_ids): only they run.
  writeFileSync(input, ids.map((id) => request(id, 2)).join('\n') + '\n');
  const resumed = await runBatch(['-i', input, '-o', output, '--resume', ...MODEL_ARGS]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /8 requests \(0 failed, 4 already answered\)/);
  assert.match(resumed.stderr, /run-batch \[#+\] 4\/4 100%/, 'a progress line on a non-terminal');
  assert.deepEqual(resultIds(output), ids, 'each custom_id once, in input order');
  for (const line of kept.trim().split('\n')) assert.ok(readFileSync(output, 'utf8').includes(line), 'earlier results kept as they were');
});

test('error lines count blank lines; a run whose lines all failed exits 1', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swiftlet-batch-lines-'));
  const input = join(dir, 'in.jsonl');
  const output = join(dir, 'out.jsonl');
  writeFileSync(input, `\n\n{"custom_id": "broken"\n\n${JSON.stringify({ custom_id: 'x', method: 'GET', url: '/v1/completions', body: {} })}\n`);
  const result = await runBatch(['-i', input, '-o', output, ...MODEL_ARGS]);
  assert.equal(result.code, 1, result.stderr);
  const errors = readFileSync(output, 'utf8').trim().split('\n').map((text) => (JSON.parse(text) as { error: { message: string } }).error.message);
  assert.match(errors[0]!, /^line 3: not valid JSON/);
  assert.match(errors[1]!, /^line 5: method must be "POST"/);
});
