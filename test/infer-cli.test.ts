/**
 * `swiftlet infer` through the built CLI in a child process with piped stdin (no TTY): the
 * chat streams answers equal to the library's for the same conversation (history, /system,
 * /clear, multi-line input), Ctrl-C (SIGINT) stops an answer and the session goes on, and
 * at an empty prompt it quits; `--dataset` answers a JSONL file in one batch with a progress
 * bar and writes the input lines back with `response` and the updated conversation. With no
 * `--model` it is the bundled demo model, which answers the classic questions.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Engine, type History, type InferRequest } from '../src/index.js';
import { repoRoot } from './helpers/paths.js';
import { loraDir, modelDir, reference } from './helpers/reference.js';

const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const MODEL_FLAGS = ['--model', modelDir, '--device', 'cpu', '--kv-cache-memory', '64MiB', '--lora-modules', `a=${loraDir}`];

interface Child {
  process: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  /** Resolves once `check` holds for the output so far. */
  waitFor: (check: (stdout: string, stderr: string) => boolean, what: string, timeoutMs?: number) => Promise<void>;
  exited: Promise<number | null>;
}

function startInfer(args: string[], modelFlags = MODEL_FLAGS): Child {
  const child = spawn(process.execPath, [cli, 'infer', ...modelFlags, ...args], { cwd: repoRoot });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((listener) => listener());
  child.stdout.setEncoding('utf8').on('data', (text: string) => ((stdout += text), notify()));
  child.stderr.setEncoding('utf8').on('data', (text: string) => ((stderr += text), notify()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => (notify(), resolve(code))));
  return {
    process: child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitFor: (check, what, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(listener);
          reject(new Error(`timed out waiting for ${what}\nstdout: ${JSON.stringify(stdout)}\nstderr: ${stderr}`));
        }, timeoutMs);
        const listener = () => {
          if (!check(stdout, stderr) && child.exitCode === null) return;
          clearTimeout(timer);
          listeners.delete(listener);
          if (check(stdout, stderr)) resolve();
          else reject(new Error(`exited (${child.exitCode}) before ${what}\nstdout: ${JSON.stringify(stdout)}\nstderr: ${stderr}`));
        };
        listeners.add(listener);
        listener();
      }),
  };
}

let engine: Engine;
let workDir: string;

before(async () => {
  engine = await Engine.load({ model: modelDir, device: 'cpu', kvCacheMemory: '64MiB', loraModules: { a: loraDir } });
  workDir = mkdtempSync(join(tmpdir(), 'swiftlet-infer-'));
});

after(async () => {
  await engine.close();
});

test('chat over piped stdin: streamed answers, history, /system, /clear, multi-line input, /exit', async () => {
  const config = { maxTokens: 10, temperature: 0, model: 'a' };
  const ask = async (request: InferRequest) => (await engine.chat(request, config)).response;
  // The conversation the session should hold, computed through the library.
  const a1 = await ask({ query: '你好!' });
  const a2 = await ask({ query: '浙江的省会在哪?', history: [['你好!', a1]] });
  const a3 = await ask({ query: 'line one\nline two' });
  const history: History = [['line one\nline two', a3]];
  const a4 = await ask({ query: 'who are\nyou?', history, system: 'You are a terse assistant.' });
  const a5 = await ask({ query: 'inline block', history: [...history, ['who are\nyou?', a4]], system: 'You are a terse assistant.' });
  assert.equal(new Set([a1, a2, a3, a4, a5]).size, 5, 'the turns should differ, or the test proves little');

  const child = startInfer(['--adapter', 'a', '--max-tokens', '10', '--temperature', '0']);
  child.process.stdin.end(
    ['你好!', '浙江的省会在哪?', '/clear', '"""', 'line one', 'line two', '"""', '/system You are a terse assistant.', 'who are\\', 'you?', '"""inline block"""', '/exit', 'never sent'].join('\n') + '\n',
  );
  assert.equal(await child.exited, 0, child.stderr());
  const expected = `<<< ${a1}\n\n<<< ${a2}\n\n<<< <<< ... ... ... ${a3}\n\n<<< <<< ... ${a4}\n\n<<< ${a5}\n\n<<< `;
  assert.equal(child.stdout(), expected);
  assert.match(child.stderr(), /\(conversation cleared\)/);
  assert.match(child.stderr(), /\(system prompt: You are a terse assistant\.\)/);
});

test('Ctrl-C stops the answer being written and the session goes on; at an empty prompt it quits', async () => {
  const child = startInfer(['--temperature', '0', '--max-tokens', '3000', '--adapter', 'a']);
  child.process.stdin.write('你好!\n');
  await child.waitFor((stdout) => stdout.length > '<<< '.length + 20, 'the answer to start');
  child.process.kill('SIGINT');
  await child.waitFor((stdout) => stdout.includes('\n[stopped]\n\n<<< '), 'the answer to stop');
  child.process.stdin.write('/system be brief\n');
  await child.waitFor((_, stderr) => stderr.includes('(system prompt: be brief)'), 'the next command to run');
  assert.equal(child.process.exitCode, null, 'the session should still run');
  child.process.kill('SIGINT');
  assert.equal(await child.exited, 0);
  // NOTE: far fewer than the 3000 tokens asked for were written.
  assert.ok(child.stdout().length < 3000, `${child.stdout().length} characters written`);
});

test('--dataset: every line answered in one batch, written back with response and the updated conversation', async () => {
  const input = join(workDir, 'data.jsonl');
  const [first, second, third, fourth] = reference.chat;
  assert.ok(first && second && third && fourth);
  const lines = [
    { messages: first.messages },
    { query: second.messages[0]?.content, response: 'a label', id: 7 },
    { messages: [...third.messages, { role: 'assistant', content: 'reference answer' }] },
    { system: fourth.messages[0]?.content, query: fourth.messages[1]?.content, history: [] },
    { query: third.messages[2]?.content, history: [[third.messages[0]?.content, third.messages[1]?.content]] },
    { neither: true },
  ];
  writeFileSync(input, `${lines.map((line) => JSON.stringify(line)).join('\n')}\nnot json\n`);
  const child = startInfer(['--dataset', input, '--temperature', '0', '--max-tokens', '48']);
  child.process.stdin.end();
  assert.equal(await child.exited, 1, 'two lines fail, so the exit code says so');
  assert.match(child.stderr(), /infer \[#+\] 7\/7 100% \| [\d.]+ tok\/s \| elapsed \d\d:\d\d \| ETA 00:00/);
  assert.match(child.stderr(), /7 lines \(2 failed\)/);

  const results = readFileSync(join(workDir, 'data.infer.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, any>);
  assert.equal(results.length, 7);
  const [r0, r1, r2, r3, r4, r5, r6] = results;
  assert.equal(r0?.['response'], first.text);
  assert.deepEqual(r0?.['messages'], [...first.messages, { role: 'assistant', content: first.text }]);
  assert.equal(r1?.['response'], second.text);
  assert.deepEqual(r1?.['history'], [[second.messages[0]?.content, second.text]]);
  assert.equal(r1?.['labels'], 'a label');
  assert.equal(r1?.['id'], 7);
  assert.equal(r2?.['response'], third.text);
  assert.equal(r2?.['labels'], 'reference answer');
  assert.deepEqual(r2?.['messages'], [...third.messages, { role: 'assistant', content: third.text }]);
  assert.equal(r3?.['response'], fourth.text);
  assert.equal(r3?.['system'], fourth.messages[0]?.content);
  assert.equal(r4?.['response'], third.text);
  assert.equal(r4?.['history']?.length, 2);
  assert.match(r5?.['error'], /line 6: expected `messages`/);
  assert.match(r6?.['error'], /line 7: not valid JSON/);
});

test('with no --model it chats with the bundled demo model', async () => {
  const child = startInfer(['--temperature', '0', '--kv-cache-memory', '64MiB', '--device', 'cpu'], []);
  child.process.stdin.end('浙江的省会在哪?\n这有什么好吃的？\n');
  assert.equal(await child.exited, 0, child.stderr());
  assert.equal(child.stdout(), '<<< 浙江的省会是杭州。\n\n<<< 杭州有西湖醋鱼、东坡肉和龙井虾仁，都很好吃。\n\n<<< ');
  assert.match(child.stderr(), /chatting with swiftlet-demo/);
});
