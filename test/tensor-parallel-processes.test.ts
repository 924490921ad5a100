/**
 * Tensor parallelism over processes on the CPU (src/runtime/distributed/): rank 0 in this
 * process behind the API, rank 1 a `swiftlet deploy --node-rank 1` child, the tiny-qwen2 fixture
 * split in two. Greedy outputs equal one process's and logprobs stay within the fixture's
 * tolerance, base model and adapter; the leader's shutdown stops its follower; a killed follower
 * fails requests with a clear error and /health says why, without a hang; bad group flags and
 * an absent peer are one-line errors.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import type OpenAI from 'openai';
import type { GroupOptions } from '../src/runtime/distributed/group-options.js';
import { cliCommand } from './helpers/cli-command.js';
import { ADAPTER_NAME, MODEL_DIR, MODEL_NAME, reference, startLiveServer, type LiveServer } from './helpers/live-server.js';
import { repoRoot } from './helpers/paths.js';
import { LOGPROB_TOLERANCE } from './helpers/reference.js';

const MAX_TOKENS = 8;
const TIMEOUT_S = 30;

interface Follower {
  child: ChildProcess;
  log: string[];
  exited: Promise<number | null>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function groupAt(masterPort: number, rank: number, timeoutS = TIMEOUT_S): GroupOptions {
  return { size: 2, rank, masterAddr: '127.0.0.1', masterPort, timeoutMs: timeoutS * 1000 };
}

/** `swiftlet deploy` as a rank of a 2-process group (its stderr kept for the failure message and the checks). */
function startRank(args: string[]): Follower {
  const child = spawn(process.execPath, [...cliCommand(), 'deploy', '--model', MODEL_DIR, '--device', 'cpu', '-tp', '2', '--nnodes', '2', '--num-threads', '1', ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const log: string[] = [];
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => log.push(line));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, log, exited };
}

/** A 2-process group: the follower child and this process's leader behind a live server. */
async function startGroup(): Promise<{ leader: LiveServer; follower: Follower }> {
  const port = await freePort();
  const follower = startRank(['--node-rank', '1', '--master-port', String(port), '--rendezvous-timeout', String(TIMEOUT_S)]);
  const leader = await startLiveServer({ tensorParallelSize: 2, group: groupAt(port, 0), numThreads: 1 });
  return { leader, follower };
}

interface Answer {
  text: string;
  logprobs: number[];
}

async function answer(client: OpenAI, model: string, prompt: string): Promise<Answer> {
  const completion = await client.completions.create({ model, prompt, max_tokens: MAX_TOKENS, temperature: 0, logprobs: 0 });
  const choice = completion.choices[0];
  return { text: choice?.text ?? '', logprobs: (choice?.logprobs?.token_logprobs ?? []).map(Number) };
}

function answers(client: OpenAI): Promise<Answer[]> {
  return Promise.all([
    ...reference.raw.map((ref) => answer(client, MODEL_NAME, ref.prompt)),
    ...reference.lora.a.raw.map((ref) => answer(client, ADAPTER_NAME, ref.prompt)),
  ]);
}

let single: LiveServer;

before(async () => {
  single = await startLiveServer({ numThreads: 1 });
});

after(async () => {
  await single.close();
});

test('two processes with TP=2 answer as one process: greedy text identical, logprobs within the fixture tolerance; closing the leader stops the follower', async () => {
  const { leader, follower } = await startGroup();
  try {
    const [expected, got] = [await answers(single.client), await answers(leader.client)];
    got.forEach((answer, i) => {
      const want = expected[i] as Answer;
      assert.equal(answer.text, want.text, `prompt ${i}`);
      assert.equal(answer.logprobs.length, want.logprobs.length);
      answer.logprobs.forEach((logprob, t) => assert.ok(Math.abs(logprob - (want.logprobs[t] as number)) <= LOGPROB_TOLERANCE, `prompt ${i} token ${t}: ${logprob} vs ${want.logprobs[t]}`));
    });
    assert.equal((await fetch(`${leader.url}/health`)).status, 200);
  } finally {
    await leader.close();
  }
  assert.equal(await follower.exited, 0, follower.log.join('\n'));
  assert.match(follower.log.join('\n'), /stopped by rank 0/);
});

test('a killed follower fails the leader\'s requests with a clear error and /health reports it, without a hang', async () => {
  const { leader, follower } = await startGroup();
  try {
    await answer(leader.client, MODEL_NAME, 'warm');
    follower.child.kill('SIGKILL');
    await follower.exited;
    await assert.rejects(answer(leader.client, MODEL_NAME, reference.raw[1]?.prompt ?? ''), /tensor-parallel/);
    const res = await fetch(`${leader.url}/health`);
    assert.equal(res.status, 503);
    const body = (await res.json()) as { replicas: { healthy: boolean; reason: string | null }[] };
    assert.match(body.replicas[0]?.reason ?? '', /tensor-parallel rank 1 disconnected|tensor-parallel group: rank 1/);
  } finally {
    await leader.close();
  }
});

test('group flags: a rank out of range, and a leader nobody joins or a follower with no leader, end in one line', async () => {
  const outOfRange = startRank(['--node-rank', '2']);
  assert.equal(await outOfRange.exited, 2);
  assert.deepEqual(outOfRange.log, ['swiftlet deploy: --node-rank 2 is out of range: --nnodes 2 has ranks 0..1']);

  const port = await freePort();
  const alone = startRank(['--node-rank', '1', '--master-port', String(port), '--rendezvous-timeout', '1']);
  assert.equal(await alone.exited, 1);
  assert.deepEqual(alone.log, [`swiftlet deploy: tensor-parallel rank 1: cannot reach the leader at 127.0.0.1:${port} within 1 s`]);

  await assert.rejects(startLiveServer({ tensorParallelSize: 2, group: groupAt(port, 0, 1), numThreads: 1 }), /1 of 1 rank\(s\) did not connect to port \d+ within 1 s/);
});
