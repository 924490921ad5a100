/**
 * Structured outputs over HTTP, against a live server on the bundled demo model: the openai
 * client's `chat.completions.parse` with a zod schema, vLLM's `structured_outputs` and
 * `guided_*` fields on both endpoints, and a 400 naming the field for every bad spec.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { postJson, startLiveServer, type LiveServer } from './helpers/live-server.js';
import { repoRoot } from './helpers/paths.js';

const MODEL = 'demo';

let live: LiveServer;
before(async () => {
  live = await startLiveServer({ model: join(repoRoot, 'models', 'demo'), servedModelName: MODEL, loraModules: [] });
});
after(() => live.close());

const messages = [{ role: 'user' as const, content: 'Describe a person as JSON.' }];

interface ErrorReply {
  error: { type: string; param: string | null; message: string };
}

async function expect400(path: string, body: Record<string, unknown>, param: string): Promise<void> {
  const reply = await postJson(`${live.url}${path}`, { model: MODEL, max_tokens: 8, ...body });
  assert.equal(reply.status, 400, `${JSON.stringify(body)}: ${reply.text}`);
  const { error } = reply.json as ErrorReply;
  assert.equal(error.param, param, `${JSON.stringify(body)}: ${reply.text}`);
}

describe('structured outputs over HTTP (demo model)', () => {
  test('openai chat.completions.parse with a zod schema gives a parsed, valid object at temperature 1', async () => {
    const person = z.object({ name: z.string(), age: z.number().int(), hobbies: z.array(z.string()) });
    for (const seed of [1, 2]) {
      const completion = await live.client.chat.completions.parse({
        model: MODEL,
        messages,
        response_format: zodResponseFormat(person, 'person'),
        temperature: 1,
        seed,
        max_tokens: 200,
      });
      const choice = completion.choices[0];
      assert.equal(choice?.finish_reason, 'stop', choice?.message.content ?? '');
      assert.ok(person.safeParse(choice?.message.parsed).success, choice?.message.content ?? '');
    }
  });

  test('chat: response_format json_object, structured_outputs and guided_* constrain the output', async () => {
    const object = await live.client.chat.completions.create({ model: MODEL, messages, response_format: { type: 'json_object' }, temperature: 1, seed: 3, max_tokens: 120 });
    const value: unknown = JSON.parse(object.choices[0]?.message.content ?? '');
    assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value));

    const choice = await postJson(`${live.url}/v1/chat/completions`, { model: MODEL, messages, structured_outputs: { choice: ['red', 'green'] }, temperature: 1, n: 3, seed: 4 });
    const texts = (choice.json as { choices: { message: { content: string } }[] }).choices.map((c) => c.message.content);
    assert.equal(texts.length, 3);
    for (const text of texts) assert.ok(['red', 'green'].includes(text), text);

    const regex = await postJson(`${live.url}/v1/chat/completions`, { model: MODEL, messages, guided_regex: '\\d{3}-[a-z]{2}', temperature: 1, seed: 5 });
    assert.match((regex.json as { choices: { message: { content: string } }[] }).choices[0]?.message.content ?? '', /^\d{3}-[a-z]{2}$/);
  });

  test('completions: structured_outputs and guided_* constrain every prompt\'s output', async () => {
    const reply = await live.client.completions.create({
      model: MODEL,
      prompt: ['The answer:', 'Maybe:'],
      temperature: 1,
      seed: 6,
      max_tokens: 60,
      // vLLM's extension field, which the openai client passes through.
      ...({ structured_outputs: { json: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] } } } as object),
    });
    assert.equal(reply.choices.length, 2);
    for (const choice of reply.choices) assert.equal(typeof (JSON.parse(choice.text) as { ok: unknown }).ok, 'boolean', choice.text);

    const grammar = await postJson(`${live.url}/v1/completions`, { model: MODEL, prompt: 'x', guided_grammar: 'root ::= "a" ("b" | "c")', temperature: 1, seed: 7 });
    assert.match((grammar.json as { choices: { text: string }[] }).choices[0]?.text ?? '', /^a[bc]$/);
  });

  test('a bad spec is a 400 naming its field, on both endpoints', async () => {
    for (const path of ['/v1/chat/completions', '/v1/completions']) {
      const input = path === '/v1/completions' ? { prompt: 'x' } : { messages };
      await expect400(path, { ...input, response_format: { type: 'bogus' } }, 'response_format.type');
      await expect400(path, { ...input, structured_outputs: { regex: '(unclosed' } }, 'structured_outputs');
      await expect400(path, { ...input, structured_outputs: { regex: 'a', choice: ['b'] } }, 'structured_outputs');
      await expect400(path, { ...input, guided_json: 'not json' }, 'guided_json');
      await expect400(path, { ...input, guided_grammar: 'root ::= missing' }, 'guided_grammar');
      await expect400(path, { ...input, guided_regex: 'a', guided_choice: ['b'] }, 'response_format');
    }
    await expect400('/v1/chat/completions', { messages, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { a: { type: 'nonsense' } } } } } }, 'response_format.json_schema.schema');
  });

  test('a bad spec\'s 400 is typed invalid_request_error', async () => {
    const reply = await postJson(`${live.url}/v1/chat/completions`, { model: MODEL, messages, guided_regex: '[' });
    assert.equal(reply.status, 400);
    assert.equal((reply.json as ErrorReply).error.type, 'invalid_request_error');
  });
});
