/**
 * Structured outputs against the tiny-qwen2 tokenizer (Qwen2's 151k vocabulary): random walks
 * that take only allowed tokens must always end, within the token budget, in text that the
 * spec accepts; and the cost of filling 32 sequences' masks, measured.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { applyTokenBitmask, isAllowed } from '../src/engine/structured/bitmask.js';
import { StructuredOutputCompiler, type CompiledGrammar } from '../src/engine/structured/compiler.js';
import type { GrammarMatcher } from '../src/engine/structured/grammar-matcher.js';
import type { StructuredOutputSpec } from '../src/engine/structured/spec.js';
import { StepBitmask } from '../src/engine/structured/step-bitmask.js';
import { vocabularyFromTokenizerJson } from '../src/engine/structured/vocabulary.js';
import { GrammarError } from '../src/engine/structured/xgrammar-module.js';
import { loadTokenizer, type Tokenizer } from '../src/model/tokenizer.js';
import { agentChatRequestSchema } from '../src/protocol/agent-schemas.js';
import { structuredOutputSpecOf } from '../src/protocol/structured-output-request.js';
import { fixtureDir } from './helpers/paths.js';
import { seededRandom } from './helpers/seeded-random.js';

const modelDir = join(fixtureDir, 'tiny-qwen2');
const NUM_LOGITS = 151936;
const STOP_TOKEN_IDS = [151645, 151643];
const TOKEN_BUDGET = 160;

/** mulberry32: a seeded walk, so a failure names a reproducible seed. */

function popcount(word: number): number {
  let v = word - ((word >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

/** A uniformly random allowed token: what a random-weight model at temperature 1 roughly does. */
function randomAllowed(mask: Uint32Array, random: () => number): number {
  let total = 0;
  for (const word of mask) total += popcount(word);
  assert.ok(total > 0, 'the mask allows no token');
  let k = Math.floor(random() * total);
  for (let w = 0; w < mask.length; w++) {
    const count = popcount(mask[w] as number);
    if (k >= count) {
      k -= count;
      continue;
    }
    for (let bit = 0; bit < 32; bit++) if (isAllowed(mask, w * 32 + bit) && k-- === 0) return w * 32 + bit;
  }
  throw new Error('unreachable');
}

interface Walk {
  text: string;
  numTokens: number;
}

async function walk(matcher: GrammarMatcher, tokenizer: Tokenizer, numWords: number, seed: number): Promise<Walk> {
  const random = seededRandom(seed);
  const mask = new Uint32Array(numWords);
  const ids: number[] = [];
  while (!matcher.isTerminated()) {
    assert.ok(ids.length < TOKEN_BUDGET, `seed ${seed}: no end within ${TOKEN_BUDGET} tokens: ${JSON.stringify(tokenizer.decode(ids))}`);
    await matcher.fillNextTokenBitmask(mask);
    const id = randomAllowed(mask, random);
    assert.ok(matcher.acceptToken(id), `seed ${seed}: an allowed token ${id} was rejected`);
    ids.push(id);
  }
  assert.ok(STOP_TOKEN_IDS.includes(ids.at(-1) as number));
  return { text: tokenizer.decode(ids.slice(0, -1)), numTokens: ids.length };
}

const personSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    age: { type: 'integer' },
    role: { enum: ['admin', 'user'] },
    tags: { type: 'array', items: { type: 'string' } },
    address: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
    score: { type: ['number', 'null'] },
  },
  required: ['name', 'age', 'role', 'tags', 'address'],
  additionalProperties: false,
};

/** Checks exactly what personSchema says (a schema validator is not among the dependencies). */
function isPerson(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  const allowedKeys = new Set(Object.keys(personSchema.properties));
  if (!Object.keys(v).every((key) => allowedKeys.has(key))) return false;
  const address = v.address as Record<string, unknown> | null;
  return (
    typeof v.name === 'string' &&
    Number.isInteger(v.age) &&
    (v.role === 'admin' || v.role === 'user') &&
    Array.isArray(v.tags) &&
    v.tags.every((tag) => typeof tag === 'string') &&
    typeof address === 'object' &&
    address !== null &&
    typeof address.city === 'string' &&
    Object.keys(address).length === 1 &&
    (!('score' in v) || v.score === null || typeof v.score === 'number')
  );
}

/** Balanced parentheses around digits, as the EBNF case's grammar says. */
function isBalancedExpression(text: string): boolean {
  let depth = 0;
  for (const c of text) {
    if (c === '(') depth++;
    else if (c === ')' && --depth < 0) return false;
    else if (!/[0-9+(\)]/.test(c)) return false;
  }
  return depth === 0 && /^(\(*[0-9]+\)*)(\+\(*[0-9]+\)*)*$/.test(text);
}

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'], additionalProperties: false },
  },
};
const timeTool = { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {}, additionalProperties: false } } };

/** The spec the protocol resolves a tool_choice to, as the host would compile it. */
function toolChoiceSpec(toolChoice: unknown): StructuredOutputSpec {
  const spec = structuredOutputSpecOf(agentChatRequestSchema.parse({ tools: [weatherTool, timeTool], tool_choice: toolChoice }));
  assert.ok(spec !== null);
  return spec;
}

function isWeatherArguments(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const args = value as Record<string, unknown>;
  return typeof args.city === 'string' && (!('days' in args) || Number.isInteger(args.days)) && Object.keys(args).every((k) => k === 'city' || k === 'days');
}

function isRequiredToolCalls(value: unknown): boolean {
  if (!Array.isArray(value) || value.length === 0) return false;
  return value.every((call: { name?: unknown; parameters?: unknown }) =>
    call.name === 'get_weather'
      ? isWeatherArguments(call.parameters)
      : call.name === 'get_time' && typeof call.parameters === 'object' && call.parameters !== null && Object.keys(call.parameters).length === 0,
  );
}

const cases: { name: string; spec: StructuredOutputSpec; isValid: (text: string) => boolean }[] = [
  {
    name: 'json_schema',
    spec: { kind: 'json_schema', schema: personSchema },
    isValid: (text) => isPerson(JSON.parse(text)),
  },
  {
    name: 'json_object',
    spec: { kind: 'json_object' },
    isValid: (text) => {
      const value: unknown = JSON.parse(text);
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    },
  },
  {
    name: 'regex',
    spec: { kind: 'regex', pattern: '[a-z]{2,6}-[0-9]{3}( (ok|fail))?' },
    isValid: (text) => /^[a-z]{2,6}-[0-9]{3}( (ok|fail))?$/.test(text),
  },
  {
    name: 'choice',
    spec: { kind: 'choice', choices: ['yes', 'no', 'maybe "so"', 'Ünïcode ✓'] },
    isValid: (text) => ['yes', 'no', 'maybe "so"', 'Ünïcode ✓'].includes(text),
  },
  {
    name: 'tool_choice named (get_weather)',
    spec: toolChoiceSpec({ type: 'function', function: { name: 'get_weather' } }),
    isValid: (text) => isWeatherArguments(JSON.parse(text)),
  },
  {
    name: 'tool_choice required',
    spec: toolChoiceSpec('required'),
    isValid: (text) => isRequiredToolCalls(JSON.parse(text)),
  },
  {
    name: 'EBNF grammar',
    spec: { kind: 'grammar', ebnf: 'root ::= expr\nexpr ::= term ("+" term)*\nterm ::= [0-9]+ | "(" expr ")"' },
    isValid: isBalancedExpression,
  },
];

describe('structured outputs (xgrammar) on the tiny-qwen2 vocabulary', () => {
  let tokenizer: Tokenizer;
  let compiler: StructuredOutputCompiler;

  before(async () => {
    tokenizer = await loadTokenizer(modelDir);
    const tokenizerJson = JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
    compiler = await StructuredOutputCompiler.create(vocabularyFromTokenizerJson(tokenizerJson, NUM_LOGITS, STOP_TOKEN_IDS));
  });

  for (const { name, spec, isValid } of cases) {
    test(`${name}: random walks over allowed tokens always end in valid text within the budget`, async (t) => {
      const start = performance.now();
      const grammar = await compiler.compile(spec);
      t.diagnostic(`compile: ${(performance.now() - start).toFixed(0)} ms`);
      const lengths: number[] = [];
      for (let seed = 1; seed <= 24; seed++) {
        const matcher = await grammar.createMatcher(TOKEN_BUDGET);
        const { text, numTokens } = await walk(matcher, tokenizer, compiler.numWords, seed);
        matcher.dispose();
        assert.ok(isValid(text), `seed ${seed}: ${JSON.stringify(text)}`);
        lengths.push(numTokens);
      }
      t.diagnostic(`tokens per walk: ${lengths.join(' ')}`);
    });
  }

  test('a compiled spec is cached; a bad grammar is a GrammarError with xgrammar\'s message, and the engine goes on', async () => {
    const spec: StructuredOutputSpec = { kind: 'choice', choices: ['a', 'b'] };
    assert.equal(await compiler.compile(spec), await compiler.compile(spec));
    await assert.rejects(compiler.compile({ kind: 'grammar', ebnf: 'root ::= undefined_rule' }), (error: unknown) => {
      assert.ok(error instanceof GrammarError);
      assert.match(error.message, /undefined_rule/);
      return true;
    });
    await assert.rejects(compiler.compile({ kind: 'choice', choices: [] }), GrammarError);
    const matcher = await (await compiler.compile({ kind: 'regex', pattern: 'ok' })).createMatcher(null);
    const walked = await walk(matcher, tokenizer, compiler.numWords, 7);
    assert.equal(walked.text, 'ok');
  });

  test('whitespace-only tokens stop after the limit; rollback restores the state', async () => {
    const grammar = await compiler.compile({ kind: 'json_schema', schema: { type: 'object', properties: { a: { type: 'integer' } } } });
    const matcher = await grammar.createMatcher(null);
    const mask = new Uint32Array(compiler.numWords);
    const space = tokenizer.encode(' ', { addSpecialTokens: false })[0] as number;
    assert.ok(matcher.acceptToken(tokenizer.encode('{', { addSpecialTokens: false })[0] as number));
    for (let i = 0; i < 4; i++) {
      await matcher.fillNextTokenBitmask(mask);
      assert.ok(isAllowed(mask, space), `space ${i + 1} allowed`);
      assert.ok(matcher.acceptToken(space));
    }
    await matcher.fillNextTokenBitmask(mask);
    assert.ok(!isAllowed(mask, space), 'a fifth whitespace token in a row is masked');
    matcher.rollback(1);
    await matcher.fillNextTokenBitmask(mask);
    assert.ok(isAllowed(mask, space));
    assert.equal(matcher.numAcceptedTokens, 4);
    const logits = new Float32Array(NUM_LOGITS);
    applyTokenBitmask(logits, mask);
    assert.equal(logits[space], 0);
    assert.equal(logits[tokenizer.encode('x', { addSpecialTokens: false })[0] as number], Number.NEGATIVE_INFINITY);
    matcher.dispose();
  });

  test('a step\'s bitmask: rows for constrained sequences, all ones and flag 0 for the rest, none when no grammar', async () => {
    const step = new StepBitmask(compiler.numWords);
    assert.equal(await step.fill([null, null]), null);
    const matcher = await (await compiler.compile({ kind: 'choice', choices: ['yes', 'no'] })).createMatcher(null);
    const view = await step.fill([null, matcher]);
    assert.ok(view !== null);
    assert.deepEqual([...view.hasBitmask], [0, 1]);
    const row = (s: number): Uint32Array => view.bitmask.subarray(s * compiler.numWords, (s + 1) * compiler.numWords);
    assert.ok(row(0).every((word) => word === 0xffffffff));
    const yes = tokenizer.encode('yes', { addSpecialTokens: false })[0] as number;
    assert.ok(isAllowed(row(1), yes));
    assert.ok(!isAllowed(row(1), tokenizer.encode('maybe', { addSpecialTokens: false })[0] as number));
    matcher.dispose();
  });

  test('mask cost: 32 sequences of a JSON schema, one fill per sequence per step', async (t) => {
    const grammar: CompiledGrammar = await compiler.compile({ kind: 'json_schema', schema: personSchema });
    const numSeqs = 32;
    const matchers = await Promise.all(Array.from({ length: numSeqs }, () => grammar.createMatcher(null)));
    const bitmask = new Uint32Array(numSeqs * compiler.numWords);
    const random = seededRandom(42);
    const stepMs: number[] = [];
    for (let step = 0; step < 40; step++) {
      const start = performance.now();
      for (let s = 0; s < numSeqs; s++) if (!(matchers[s] as GrammarMatcher).isTerminated()) await (matchers[s] as GrammarMatcher).fillNextTokenBitmask(bitmask, s);
      stepMs.push(performance.now() - start);
      for (let s = 0; s < numSeqs; s++) {
        const matcher = matchers[s] as GrammarMatcher;
        if (matcher.isTerminated()) continue;
        matcher.acceptToken(randomAllowed(bitmask.subarray(s * compiler.numWords, (s + 1) * compiler.numWords), random));
      }
    }
    stepMs.sort((a, b) => a - b);
    const at = (q: number): string => (stepMs[Math.floor(q * (stepMs.length - 1))] as number).toFixed(2);
    t.diagnostic(`32-sequence mask fill per step: median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${at(1)} ms`);
    for (const matcher of matchers) matcher.dispose();
    assert.ok(Number(at(0.5)) < 100, 'a step\'s masks take under 100 ms even on this shared machine');
  });
});
