/**
 * Issue 18: nothing on the event loop scales with the request. A 20 MB prompt (under the
 * 32 MiB body limit) is refused by its length with a clear 400 before it is tokenized, on
 * completions, chat and /tokenize, while /health keeps answering in under 0.5 s; the longest
 * prompt that bound lets through is tokenized in a worker thread, /health answering meanwhile.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MODEL_DIR, postJson } from './helpers/live-server.js';
import { repoRoot } from './helpers/paths.js';
import { MAX_CHARS_PER_TOKEN } from '../src/protocol/prompt-size.js';

/** NOTE: the server runs in its own process, so the test's own 20 MB upload does not stall it. */
let server: ChildProcess;
const live = { url: '', maxModelLen: 0 };

before(async () => {
  server = spawn(process.execPath, [join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'deploy', '--model', MODEL_DIR, '--port', '0', '--kv-cache-memory', '64MiB', '--device', 'cpu'], { stdio: ['ignore', 'ignore', 'pipe'] });
  live.url = await new Promise<string>((resolve, reject) => {
    let log = '';
    server.stderr?.on('data', (data: Buffer) => {
      log += data.toString();
      const match = /on (http:\/\/[^ ]+) \(OpenAI API/.exec(log);
      if (match) resolve(match[1] as string);
    });
    server.on('exit', () => reject(new Error(`the server exited:\n${log}`)));
  });
  // NOTE: a first request warms the server's code paths, so the timings below are the steady state.
  await fetch(`${live.url}/health`);
  const warm = await postJson(`${live.url}/tokenize`, { prompt: 'warm up' });
  live.maxModelLen = (warm.json as { max_model_len: number }).max_model_len;
});

after(() => {
  server?.kill('SIGKILL');
});

const HUGE = 'swiftlet '.repeat(20 * 1024 * 1024 / 9);

/** The slowest /health answer while `work` runs, in seconds. */
async function slowestHealthDuring(work: Promise<unknown>): Promise<number> {
  let isDone = false;
  void work.finally(() => (isDone = true));
  let slowest = 0;
  while (!isDone) {
    const started = performance.now();
    const response = await fetch(`${live.url}/health`);
    assert.equal(response.status, 200);
    slowest = Math.max(slowest, (performance.now() - started) / 1000);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return slowest;
}

for (const [path, body, param] of [
  ['/v1/completions', { prompt: HUGE, max_tokens: 1 }, 'prompt'],
  ['/v1/chat/completions', { messages: [{ role: 'user', content: HUGE }], max_tokens: 1 }, 'messages'],
  ['/tokenize', { prompt: HUGE }, 'prompt'],
  ['/tokenize', { messages: [{ role: 'user', content: HUGE }] }, 'messages'],
] as const) {
  test(`a 20 MB prompt to ${path} (${param}) is a 400 and /health answers within 0.5 s`, async () => {
    const request = postJson(`${live.url}${path}`, body);
    const slowest = await slowestHealthDuring(request);
    const { status, json } = await request;
    assert.equal(status, 400);
    const error = (json as { error: { message: string; param: string } }).error;
    assert.equal(error.param, param);
    assert.match(error.message, /characters: more than this model's maximum context/);
    assert.ok(slowest < 0.5, `/health took ${slowest.toFixed(3)} s`);
  });
}

/** Just under the length bound of maxModelLen * MAX_CHARS_PER_TOKEN characters (room left for a chat template's own text). */
function longestAccepted(): string {
  const limit = live.maxModelLen * MAX_CHARS_PER_TOKEN - 1024;
  return 'swiftlet '.repeat(Math.floor(limit / 9));
}

for (const [path, makeBody, wantStatus] of [
  ['/tokenize', () => ({ prompt: longestAccepted() }), 200],
  ['/tokenize', () => ({ messages: [{ role: 'user', content: longestAccepted() }] }), 200],
  ['/v1/completions', () => ({ prompt: longestAccepted(), max_tokens: 1 }), 400],
] as const) {
  test(`the longest prompt the bound accepts, to ${path}, is tokenized while /health answers within 0.5 s`, async () => {
    const body = makeBody();
    const request = postJson(`${live.url}${path}`, body);
    const slowest = await slowestHealthDuring(request);
    const { status, json } = await request;
    assert.equal(status, wantStatus, JSON.stringify(json).slice(0, 300));
    if (status === 200) assert.ok((json as { count: number }).count > live.maxModelLen, 'the whole text was tokenized');
    else assert.match((json as { error: { message: string } }).error.message, /maximum context length/);
    assert.ok(slowest < 0.5, `/health took ${slowest.toFixed(3)} s`);
  });
}
