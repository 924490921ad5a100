/**
 * Issue 2's acceptance through the public command: `swiftlet run-batch` on the fixture model
 * reproduces transformers' greedy tokens, teacher-forced logprobs and top-5, for the base
 * model and a LoRA adapter, and answers bad lines with error lines while the rest still run.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { repoRoot } from './helpers/paths.js';
import { assertGreedyMatches, LOGPROB_TOLERANCE, loraDir, modelDir, reference, type ReferenceLogprobs } from './helpers/reference.js';

const run = promisify(execFile);
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

type Json = Record<string, any>;

function line(customId: string, url: string, body: Json): string {
  return JSON.stringify({ custom_id: customId, method: 'POST', url, body });
}

/** Teacher forcing: echo the sequence with logprobs; one new token gives `next_top`. */
function teacherForced(customId: string, ids: number[], model?: string): string {
  return line(customId, '/v1/completions', { model, prompt: ids, max_tokens: 1, temperature: 0, echo: true, logprobs: 5, return_tokens_as_token_ids: true });
}

function tokenIdOf(token: string): number {
  const match = /^token_id:(\d+)$/.exec(token);
  assert.ok(match, `expected a token_id:N token, got ${token}`);
  return Number(match[1]);
}

/** Top entries of a completions top_logprobs dict, best first, as [id, logprob]. */
function topOf(dict: Record<string, number>, k: number): [number, number][] {
  return Object.entries(dict)
    .map(([token, lp]): [number, number] => [tokenIdOf(token), lp])
    .sort((a, b) => b[1] - a[1])
    .slice(0, k);
}

function assertTopClose(actual: [number, number][], expected: [number, number][], label: string): void {
  for (const [i, [id, lp]] of expected.entries()) {
    const [actualId, actualLp] = actual[i] ?? [NaN, NaN];
    assert.ok(Math.abs(actualLp - lp) <= LOGPROB_TOLERANCE, `${label} top[${i}]: logprob ${actualLp}, expected ${lp}`);
    // NOTE: near-ties may swap places; the logprob check above already bounds them.
    if (actualId !== id) assert.ok(Math.abs((expected[i + 1]?.[1] ?? -Infinity) - lp) <= 2 * LOGPROB_TOLERANCE || Math.abs((expected[i - 1]?.[1] ?? -Infinity) - lp) <= 2 * LOGPROB_TOLERANCE, `${label} top[${i}]: token ${actualId}, expected ${id}`);
  }
}

function checkTeacherForced(body: Json, ref: ReferenceLogprobs, label: string): void {
  const logprobs = body['choices'][0]['logprobs'];
  const n = ref.ids.length;
  assert.deepEqual(logprobs.tokens.slice(0, n).map(tokenIdOf), ref.ids, `${label}: echoed tokens`);
  assert.equal(logprobs.token_logprobs[0], null, `${label}: the first prompt token has no logprob`);
  for (const [i, position] of ref.positions.entries()) {
    const actual = logprobs.token_logprobs[i + 1] as number;
    assert.ok(Math.abs(actual - position.logprob) <= LOGPROB_TOLERANCE, `${label} position ${i}: logprob ${actual}, expected ${position.logprob}`);
    assertTopClose(topOf(logprobs.top_logprobs[i + 1], 5), position.top, `${label} position ${i}`);
  }
  assertTopClose(topOf(logprobs.top_logprobs[n], 5), ref.next_top, `${label} next`);
}

describe('swiftlet run-batch on the fixture model', () => {
  const results = new Map<string, Json>();
  const lines: string[] = [];
  reference.chat.forEach((c, i) => lines.push(line(`chat-${i}`, '/v1/chat/completions', { messages: c.messages, max_tokens: 48, temperature: 0, logprobs: true, top_logprobs: 2, return_tokens_as_token_ids: true })));
  reference.raw.forEach((r, i) => lines.push(line(`raw-${i}`, '/v1/completions', { prompt: r.prompt, max_tokens: 32, temperature: 0 })));
  reference.logprobs.forEach((l, i) => lines.push(teacherForced(`tf-${i}`, l.ids)));
  reference.lora.a.chat.forEach((c, i) => lines.push(line(`lora-chat-${i}`, '/v1/chat/completions', { model: 'lora-a', messages: c.messages, max_tokens: 48, temperature: 0 })));
  reference.lora.a.raw.forEach((r, i) => lines.push(line(`lora-raw-${i}`, '/v1/completions', { model: 'lora-a', prompt: r.prompt_ids, max_tokens: 32, temperature: 0, logprobs: 0, return_tokens_as_token_ids: true })));
  reference.lora.a.logprobs.forEach((l, i) => lines.push(teacherForced(`lora-tf-${i}`, l.ids, 'lora-a')));
  lines.push('{"custom_id": "broken", "method": "POST", ');
  lines.push(line('bad-url', '/v1/audio/speech', { input: 'x' }));
  lines.push(line('embedding', '/v1/embeddings', { input: ['hello', 'world'], dimensions: 8 }));
  lines.push(line('negative-max-tokens', '/v1/completions', { prompt: 'hi', max_tokens: -1 }));
  lines.push(line('unknown-model', '/v1/completions', { model: 'nope', prompt: 'hi' }));
  lines.push(line('seeded', '/v1/completions', { prompt: 'The quick brown fox', max_tokens: 8, temperature: 1, seed: 7 }));
  lines.push(line('seeded-again', '/v1/completions', { prompt: 'The quick brown fox', max_tokens: 8, temperature: 1, seed: 7 }));
  lines.push(line('prompt-logprobs', '/v1/completions', { prompt: reference.logprobs[0]!.ids, max_tokens: 1, temperature: 0, prompt_logprobs: 5 }));
  lines.push(line('stopped', '/v1/completions', { prompt: reference.raw[0]!.prompt, max_tokens: 32, temperature: 0, stop: [' ->'] }));

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swiftlet-batch-'));
    const input = join(dir, 'in.jsonl');
    const output = join(dir, 'out.jsonl');
    writeFileSync(input, lines.join('\n') + '\n');
    const finished = run(process.execPath, [cli, 'run-batch', '-i', input, '-o', output, '--model', modelDir, '--lora-modules', `lora-a=${loraDir}`, '--kv-cache-memory', '64MiB', '--device', 'cpu'], { timeout: 300_000 });
    // NOTE: some lines are bad on purpose, so the exit status is 1 (src/cli/exit-status.ts).
    await assert.rejects(finished, (error: { code?: number }) => error.code === 1);
    const out = readFileSync(output, 'utf8').trim().split('\n').map((text) => JSON.parse(text) as Json);
    assert.equal(out.length, lines.length, 'one output line per input line');
    for (const entry of out) results.set(entry['custom_id'] ?? 'broken', entry);
  });

  const body = (id: string): Json => {
    const entry = results.get(id);
    assert.ok(entry, `no output for ${id}`);
    assert.equal(entry['error'], null, `${id} failed: ${JSON.stringify(entry['error'])}`);
    assert.equal(entry['response']['status_code'], 200);
    return entry['response']['body'];
  };

  test('chat prompts give transformers\' greedy tokens, with usage', () => {
    reference.chat.forEach((ref, i) => {
      const b = body(`chat-${i}`);
      const choice = b['choices'][0];
      assert.equal(b['object'], 'chat.completion');
      assertGreedyMatches(choice['logprobs']['content'].map((t: Json) => tokenIdOf(t['token'])), ref, `chat-${i}`);
      assert.equal(choice['message']['content'], ref.text);
      assert.equal(choice['finish_reason'], ref.finish_reason);
      assert.deepEqual(b['usage'], { prompt_tokens: ref.prompt_ids.length, completion_tokens: 48, total_tokens: ref.prompt_ids.length + 48, prompt_tokens_details: b['usage']['prompt_tokens_details'] });
      assert.equal(choice['logprobs']['content'][0]['top_logprobs'].length, 2);
    });
  });

  test('completion prompts give transformers\' greedy text', () => {
    reference.raw.forEach((ref, i) => {
      const choice = body(`raw-${i}`)['choices'][0];
      assert.equal(choice['text'], ref.text, `raw-${i}`);
      assert.equal(choice['finish_reason'], 'length');
    });
  });

  test('teacher-forced logprobs and top-5 within 1e-3 (echo + logprobs)', () => {
    reference.logprobs.forEach((ref, i) => checkTeacherForced(body(`tf-${i}`), ref, `tf-${i} (${ref.ids.length} tokens)`));
  });

  test('a LoRA adapter named in body.model reproduces peft\'s outputs', () => {
    reference.lora.a.chat.forEach((ref, i) => assert.equal(body(`lora-chat-${i}`)['choices'][0]['message']['content'], ref.text, `lora-chat-${i}`));
    reference.lora.a.raw.forEach((ref, i) => {
      const tokens = body(`lora-raw-${i}`)['choices'][0]['logprobs']['tokens'] as string[];
      assertGreedyMatches(tokens.map(tokenIdOf), ref, `lora-raw-${i}`);
    });
    reference.lora.a.logprobs.forEach((ref, i) => checkTeacherForced(body(`lora-tf-${i}`), ref, `lora-tf-${i}`));
  });

  test('an embeddings line answers as /v1/embeddings does', () => {
    const b = body('embedding');
    assert.deepEqual(b['data'].map((entry: Json) => [entry['index'], entry['embedding'].length]), [[0, 8], [1, 8]]);
    const norm = Math.hypot(...(b['data'][0]['embedding'] as number[]));
    assert.ok(Math.abs(norm - 1) < 1e-5);
  });

  test('bad lines get error lines naming the problem; the others run', () => {
    const expectations: [string, number, RegExp][] = [
      ['broken', 400, /not valid JSON/],
      ['bad-url', 400, /url must be one of/],
      ['negative-max-tokens', 400, /max_tokens/],
      ['unknown-model', 404, /nope/],
    ];
    for (const [id, status, message] of expectations) {
      const entry = results.get(id);
      assert.ok(entry, `no output for ${id}`);
      assert.equal(entry['response']['status_code'], status, id);
      assert.match(entry['error']['message'], message, id);
      assert.match(entry['response']['body']['error']['message'], message, id);
    }
  });

  test('prompt_logprobs come back in vLLM\'s shape, matching transformers', () => {
    const ref = reference.logprobs[0]!;
    const entries = body('prompt-logprobs')['choices'][0]['prompt_logprobs'] as (Record<string, { logprob: number; rank: number | null }> | null)[];
    assert.equal(entries.length, ref.ids.length);
    assert.equal(entries[0], null);
    ref.positions.forEach((position, i) => {
      const entry = entries[i + 1]!;
      assert.ok(Math.abs(entry[String(position.token)]!.logprob - position.logprob) <= LOGPROB_TOLERANCE, `position ${i}`);
      assert.equal(entry[String(position.top[0]![0])]!.rank, 1);
    });
  });

  test('a seed reproduces a sampled completion; stop strings end it', () => {
    assert.equal(body('seeded')['choices'][0]['text'], body('seeded-again')['choices'][0]['text']);
    const stopped = body('stopped')['choices'][0];
    assert.equal(stopped['finish_reason'], 'stop');
    assert.equal(stopped['stop_reason'], ' ->');
    assert.equal(stopped['text'], reference.raw[0]!.text.split(' ->')[0]);
  });
});
