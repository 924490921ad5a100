/**
 * One family's fixture (test/fixtures/<name>/ and <name>.ref.json, computed with the family's
 * remote code in transformers) checked on the CPU: teacher-forced logprobs and top-5 within 1e-3
 * and greedy tokens through the runner, then chat prompt ids, stop ids and greedy outputs
 * through the model host and OpenAIService (the path deploy and run-batch take).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseFlags } from '../../src/cli/args.js';
import { MODEL_FLAGS, modelOptionsFrom } from '../../src/cli/model-flags.js';
import { ModelHost } from '../../src/host/model-host.js';
import { OpenAIService, type ServiceResult } from '../../src/host/openai-service.js';
import { chatPrompt } from '../../src/protocol/prepare.js';
import { createRunner } from '../../src/runtime/create-runner.js';
import type { ModelRunner } from '../../src/runtime/types.js';
import { checkGreedy, checkTeacherForced, generateGreedy, teacherForced } from './cpu-reference.js';
import { fixtureDir } from './paths.js';
import { assertGreedyMatches, LOGPROB_TOLERANCE, type Reference } from './reference.js';

export type FamilyReference = Omit<Reference, 'lora'>;

export function familyReference(name: string): FamilyReference {
  return JSON.parse(readFileSync(join(fixtureDir, `${name}.ref.json`), 'utf8')) as FamilyReference;
}

type Json = Record<string, any>;

const API_ROLES: ReadonlySet<string> = new Set(['system', 'user', 'assistant']);

function jsonOf(result: ServiceResult): Json {
  assert.equal(result.kind, 'json');
  return result.kind === 'json' ? result.body : {};
}

function tokenIdOf(token: string): number {
  const match = /^token_id:(\d+)$/.exec(token);
  assert.ok(match, `expected a token_id:N token, got ${token}`);
  return Number(match[1]);
}

export function familyReferenceSuite(name: string): void {
  const modelDir = join(fixtureDir, name);
  const reference = familyReference(name);
  const teacherForcedRefs = reference.logprobs;

  describe(`${name}: the runner against the reference`, () => {
    let runner: ModelRunner;
    before(async () => {
      runner = await createRunner({ modelDir, device: 'cpu', kvCacheBytes: 16 << 20, maxLoras: 0, maxLoraRank: 0 });
    });
    after(() => runner.dispose());

    test('teacher-forced logprobs and top-5 within 1e-3, all sequences in one step', async () => {
      assert.ok(teacherForcedRefs.length >= 2);
      const checked = checkTeacherForced(await teacherForced(runner, teacherForcedRefs), teacherForcedRefs, name);
      assert.equal(checked, teacherForcedRefs.reduce((n, r) => n + r.ids.length, 0));
    });

    test('greedy chat and completion tokens identical, sequences joining mid-flight', async () => {
      const refs = [...reference.chat, ...reference.raw];
      checkGreedy(await generateGreedy(runner, refs, [], 2), refs, name);
    });
  });

  describe(`${name}: the model host and OpenAIService`, () => {
    let host: ModelHost;
    let service: OpenAIService;
    before(async () => {
      const { flags } = parseFlags(['--model', modelDir, '--device', 'cpu', '--kv-cache-memory', '16MiB'], MODEL_FLAGS);
      host = await ModelHost.load(modelOptionsFrom(flags));
      service = new OpenAIService(host);
    });
    after(() => host.dispose());

    test('chat prompts are the reference chat code\'s ids, token for token', async () => {
      for (const ref of reference.chat) assert.deepEqual((await chatPrompt({ messages: ref.messages }, host.promptContext())).ids, ref.prompt_ids);
    });

    test('generation ends at the family\'s chat stop tokens as well as at eos', () => {
      assert.deepEqual([...host.engine.config.eosTokenIds].sort(), [...reference.eos].sort());
    });

    test('chat completions give the reference\'s greedy tokens', async () => {
      // NOTE: ChatGLM3's `observation` role has no place in the OpenAI API; the runner suite covers those chats.
      const apiChats = reference.chat.filter((ref) => ref.messages.every((m) => API_ROLES.has(m.role)));
      assert.ok(apiChats.length > 0);
      for (const [i, ref] of apiChats.entries()) {
        const body = jsonOf(await service.chat({ messages: ref.messages, max_tokens: ref.output_ids.length, temperature: 0, logprobs: true, return_tokens_as_token_ids: true }));
        const choice = body['choices'][0];
        assertGreedyMatches(choice['logprobs']['content'].map((t: Json) => tokenIdOf(t['token'])), ref, `${name} chat ${i}`);
        assert.equal(body['usage']['prompt_tokens'], ref.prompt_ids.length);
        assert.equal(choice['finish_reason'], ref.finish_reason);
      }
    });

    test('completions echo teacher-forced logprobs within 1e-3', async () => {
      const ref = teacherForcedRefs.at(-1)!;
      const body = jsonOf(await service.completion({ prompt: ref.ids, max_tokens: 1, temperature: 0, echo: true, logprobs: 1, return_tokens_as_token_ids: true }));
      const logprobs = body['choices'][0]['logprobs'];
      ref.positions.forEach((position, i) => {
        const actual = logprobs['token_logprobs'][i + 1] as number;
        assert.ok(Math.abs(actual - position.logprob) <= LOGPROB_TOLERANCE, `${name} position ${i}: ${actual} vs ${position.logprob}`);
      });
      assert.equal(tokenIdOf(logprobs['tokens'][ref.ids.length]), ref.next_top[0]![0]);
    });
  });
}
