/**
 * Tensor parallelism over processes on the CPU (src/runtime/distributed/): rank 0 in this
 * process behind the API, rank 1 a `swiftlet deploy --node-rank 1` child, the tiny-qwen2 fixture
 * split in two. Greedy outputs equal one process's and logprobs stay within the fixture's
 * tolerance, base model and adapter; the leader's shutdown stops its follower; a killed follower
 * fails requests with a clear error and /health says why, without a hang; bad group flags and
 * an absent peer are one-line errors. Where two GPUs are visible, the same group on CUDA (one GPU
 * per process, NCCL from ncclCommInitRank) answers as one process with -tp 2 over both.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import type OpenAI from 'openai';
import { cudaAvailability, loadCudaAddon } from '../src/runtime/cuda/native.js';
import type { GroupOptions } from '../src/runtime/distributed/group-options.js';
import { cliCommand } from './helpers/cli-command.js';
import { ADAPTER_NAME, MODEL_DIR, MODEL_NAME, reference, startLiveServer, type LiveServer } from './helpers/live-server.js';
import { repoRoot } from './helpers/paths.js';
import { LOGPROB_TOLERANCE } from './helpers/reference.js';

const MAX_TOKENS = 8;
/** How rank 0 words a lost rank 1: seen by its control connection, or by the all-reduce it was in. */
const RANK_1_LOST = /tensor-parallel (rank 1 disconnected|group: rank 1)/;
const TIMEOUT_S = 30;
/** bf16 on the GPU: two reductions of the same sums may round apart (test/cuda.test.ts's tolerance). */
const CUDA_LOGPROB_TOLERANCE = 5e-2;

type Device = 'cpu' | 'cuda';

function twoGpusSkip(): string | false {
  const availability = cudaAvailability();
  if (!availability.available) return `CUDA unavailable: ${availability.reason}`;
  return loadCudaAddon().deviceCount() >= 2 ? false : 'fewer than 2 GPUs visible';
}

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

/** `swiftlet deploy` as a rank of a 2-process group (its stderr kept for the failure message and the checks); on CUDA it takes the second GPU. */
function startRank(args: string[], device: Device = 'cpu'): Follower {
  const child = spawn(process.execPath, [...cliCommand(), 'deploy', '--model', MODEL_DIR, '--device', device, '-tp', '2', '--nnodes', '2', '--num-threads', '1', ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: device === 'cuda' ? { ...process.env, CUDA_VISIBLE_DEVICES: cudaDeviceOf(1) } : process.env,
  });
  const log: string[] = [];
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => log.push(line));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, log, exited };
}

/** The ordinal of this process's `index`-th visible GPU, as a child's CUDA_VISIBLE_DEVICES. */
function cudaDeviceOf(index: number): string {
  const visible = process.env['CUDA_VISIBLE_DEVICES'];
  return visible === undefined ? String(index) : (visible.split(',')[index] ?? String(index));
}

/** A 2-process group: the follower child and this process's leader (first visible GPU on CUDA) behind a live server. */
async function startGroup(device: Device = 'cpu'): Promise<{ leader: LiveServer; follower: Follower }> {
  const port = await freePort();
  const follower = startRank(['--node-rank', '1', '--master-port', String(port), '--rendezvous-timeout', String(TIMEOUT_S)], device);
  const leader = await startLiveServer({ device, tensorParallelSize: 2, group: groupAt(port, 0), numThreads: 1, ...(device === 'cuda' ? { kvCacheBytes: 0 } : {}) });
  return { leader, follower };
}

/** Same greedy text as the peer's, logprobs within `tolerance`. */
function assertSameAnswers(got: Answer[], expected: Answer[], tolerance: number): void {
  got.forEach((answer, i) => {
    const want = expected[i] as Answer;
    assert.equal(answer.text, want.text, `prompt ${i}`);
    assert.equal(answer.logprobs.length, want.logprobs.length);
    answer.logprobs.forEach((logprob, t) => assert.ok(Math.abs(logprob - (want.logprobs[t] as number)) <= tolerance, `prompt ${i} token ${t}: ${logprob} vs ${want.logprobs[t]}`));
  });
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

/** The peer's answers: a server started for them and closed (so a GPU-only run never loads the CPU addon). */
async function answersOf(model: Parameters<typeof startLiveServer>[0]): Promise<Answer[]> {
  const server = await startLiveServer(model);
  try {
    return await answers(server.client);
  } finally {
    await server.close();
  }
}

test('two processes with TP=2 answer as one process: greedy text identical, logprobs within the fixture tolerance; closing the leader stops the follower', async () => {
  const expected = await answersOf({ numThreads: 1 });
  const { leader, follower } = await startGroup();
  try {
    assertSameAnswers(await answers(leader.client), expected, LOGPROB_TOLERANCE);
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
    // NOTE: killed while a long request decodes, so the kill usually lands inside a step's all-reduce.
    const long: OpenAI.CompletionCreateParamsStreaming & { ignore_eos: boolean } = { model: MODEL_NAME, prompt: 'warm', max_tokens: 2000, ignore_eos: true, temperature: 0, stream: true };
    const stream = await leader.client.completions.create(long);
    const reading = (async () => {
      for await (const chunk of stream) if (chunk.choices[0]?.text && follower.child.exitCode === null) follower.child.kill('SIGKILL');
    })();
    await assert.rejects(reading, RANK_1_LOST);
    await follower.exited;
    await assert.rejects(answer(leader.client, MODEL_NAME, reference.raw[1]?.prompt ?? ''), RANK_1_LOST);
    const res = await fetch(`${leader.url}/health`);
    assert.equal(res.status, 503);
    const body = (await res.json()) as { replicas: { healthy: boolean; reason: string | null }[] };
    assert.match(body.replicas[0]?.reason ?? '', RANK_1_LOST);
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

test('on CUDA, two processes with one GPU each (ncclCommInitRank) answer as one process with -tp 2 over both GPUs', { skip: twoGpusSkip() }, async () => {
  const expected = await answersOf({ device: 'cuda', tensorParallelSize: 2, kvCacheBytes: 0, gpuMemoryUtilization: 0.3 });
  const { leader, follower } = await startGroup('cuda');
  try {
    assertSameAnswers(await answers(leader.client), expected, CUDA_LOGPROB_TOLERANCE);
  } finally {
    await leader.close();
  }
  assert.equal(await follower.exited, 0, follower.log.join('\n'));
});
