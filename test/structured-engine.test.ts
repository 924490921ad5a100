/**
 * Structured outputs end to end through the engine and the CPU runner on the random-weight
 * tiny-qwen2 fixture (Qwen's 151k vocabulary) at temperature 1: whatever such a model would
 * say, the mask makes every sample (several seeds, n > 1) finish with 'stop' inside its budget
 * in text the spec accepts; named and required tool choices give valid arguments; and the
 * step's mask is what the samplers obey (logprobs of the masked distribution).
 * SWIFTLET_TEST_DEVICE=cuda runs it all on the GPU.
 */
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import { parseFlags } from '../src/cli/args.js';
import { MODEL_FLAGS, modelOptionsFrom } from '../src/cli/model-flags.js';
import { InvalidRequestError } from '../src/engine/errors.js';
import { accumulateOutputs, type CompletionOutput, type RequestOutput } from '../src/engine/output.js';
import { SamplingParams, type SamplingParamsInit } from '../src/engine/sampling-params.js';
import type { StructuredOutputSpec } from '../src/engine/structured/spec.js';
import { ModelHost } from '../src/host/model-host.js';
import { agentChatRequestSchema } from '../src/protocol/agent-schemas.js';
import { structuredOutputSpecOf } from '../src/protocol/structured-output-request.js';
import { modelDir } from './helpers/reference.js';

const DEVICE = process.env['SWIFTLET_TEST_DEVICE'] ?? 'cpu';
const SEEDS = [1, 2, 3];
const MAX_TOKENS = 120;

const person = z.object({
  name: z.string(),
  age: z.number().int(),
  pets: z.array(z.object({ kind: z.enum(['cat', 'dog']), legs: z.number() })),
  nickname: z.string().nullable(),
});

const weatherArgs = z.object({ city: z.string(), unit: z.enum(['celsius', 'fahrenheit']) });
const timeArgs = z.object({ zone: z.string() });
const tools = [
  { type: 'function', function: { name: 'get_weather', parameters: z.toJSONSchema(weatherArgs) } },
  { type: 'function', function: { name: 'get_time', parameters: z.toJSONSchema(timeArgs) } },
];

let host: ModelHost;
before(async () => {
  const { flags } = parseFlags(['--model', modelDir, '--device', DEVICE, '--kv-cache-memory', '32MiB'], MODEL_FLAGS);
  host = await ModelHost.load(modelOptionsFrom(flags));
});
after(() => host.dispose());

let nextId = 0;
async function generate(spec: StructuredOutputSpec, init: SamplingParamsInit): Promise<RequestOutput> {
  const params = new SamplingParams({ temperature: 1, maxTokens: MAX_TOKENS, ...init, structuredOutput: spec });
  const deltas: RequestOutput[] = [];
  const promptTokenIds = host.tokenizer.encode('Answer in JSON:', { addSpecialTokens: false });
  for await (const delta of host.engine.add({ requestId: `s${nextId++}`, promptTokenIds, params })) deltas.push(delta);
  return accumulateOutputs(deltas);
}

/** Every sample of every seed: finished by its grammar ('stop'), within the budget. */
async function samples(spec: StructuredOutputSpec, n = 2): Promise<CompletionOutput[]> {
  const outputs: CompletionOutput[] = [];
  for (const seed of SEEDS) {
    const result = await generate(spec, { seed, n });
    assert.equal(result.outputs.length, n);
    for (const out of result.outputs) {
      assert.equal(out.finishReason, 'stop', `seed ${seed}: ${JSON.stringify(out.text)} did not finish`);
      assert.ok(out.tokenIds.length <= MAX_TOKENS);
      outputs.push(out);
    }
  }
  return outputs;
}

function parsedWith<T>(schema: z.ZodType<T>, text: string): T {
  const result = schema.safeParse(JSON.parse(text));
  assert.ok(result.success, `${JSON.stringify(text)} does not validate: ${result.success ? '' : result.error.message}`);
  return result.data;
}

function toolSpec(fields: Record<string, unknown>): StructuredOutputSpec {
  const spec = structuredOutputSpecOf(agentChatRequestSchema.parse({ tools, ...fields }));
  assert.ok(spec !== null);
  return spec;
}

describe(`structured outputs through the engine (${DEVICE}, random weights, temperature 1)`, () => {
  test('choice: every sample is exactly one of the choices', async () => {
    const choices = ['yes', 'no', 'maybe later'];
    for (const out of await samples({ kind: 'choice', choices })) assert.ok(choices.includes(out.text), out.text);
  });

  test('regex: every sample matches the whole pattern', async () => {
    const pattern = '[A-Z][a-z]{1,6}-\\d{2,4}';
    for (const out of await samples({ kind: 'regex', pattern })) assert.match(out.text, new RegExp(`^${pattern}$`));
  });

  test('json_schema: every sample parses and validates, and the samples differ', async () => {
    const outputs = await samples({ kind: 'json_schema', schema: z.toJSONSchema(person) });
    for (const out of outputs) parsedWith(person, out.text);
    assert.ok(new Set(outputs.map((out) => out.text)).size > 1, 'random weights at temperature 1 give different samples');
  });

  test('json_object: every sample is a JSON object', async () => {
    for (const out of await samples({ kind: 'json_object' }, 1)) {
      const value: unknown = JSON.parse(out.text);
      assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), out.text);
    }
  });

  test('a named tool choice gives that function\'s arguments, valid for its parameters', async () => {
    const spec = toolSpec({ tool_choice: { type: 'function', function: { name: 'get_weather' } } });
    for (const out of await samples(spec)) parsedWith(weatherArgs, out.text);
  });

  test('tool_choice required gives a list of calls, each valid for its own tool', async () => {
    const call = z.discriminatedUnion('name', [
      z.object({ name: z.literal('get_weather'), parameters: weatherArgs }),
      z.object({ name: z.literal('get_time'), parameters: timeArgs }),
    ]);
    for (const out of await samples(toolSpec({ tool_choice: 'required', parallel_tool_calls: false }))) {
      const calls = parsedWith(z.array(call).length(1), out.text);
      assert.ok(calls.length === 1);
    }
  });

  test('logprobs are of the masked distribution: only allowed tokens are finite, and they hold all the mass', async () => {
    const choices = ['alpha', 'beta'];
    const result = await generate({ kind: 'choice', choices }, { seed: 7, logprobs: 20 });
    const first = result.outputs[0]?.logprobs?.[0];
    assert.ok(first);
    const finite = first.top.filter(([, logprob]) => Number.isFinite(logprob));
    assert.ok(finite.length >= 2 && finite.length < first.top.length, `top ${JSON.stringify(first.top)}`);
    for (const [id] of finite) {
      const text = host.tokenizer.decode([id], { skipSpecialTokens: false });
      assert.ok(choices.some((choice) => choice.startsWith(text)), `token ${JSON.stringify(text)} cannot start a choice`);
    }
    const mass = finite.reduce((sum, [, logprob]) => sum + Math.exp(logprob), 0);
    assert.ok(Math.abs(mass - 1) < 1e-3, `the allowed tokens hold all the mass, got ${mass}`);
  });

  test('a spec that does not compile is an InvalidRequestError, from compileStructuredOutput and add()', async () => {
    const bad: StructuredOutputSpec = { kind: 'grammar', ebnf: 'root ::= undefined_rule' };
    await assert.rejects(host.engine.compileStructuredOutput(bad), InvalidRequestError);
    await assert.rejects(generate(bad, {}), InvalidRequestError);
    const fine = await generate({ kind: 'choice', choices: ['ok'] }, { seed: 1 });
    assert.equal(fine.outputs[0]?.text, 'ok', 'the engine goes on after a bad spec');
  });

  test('masks filled while the forward pass runs give exactly the tokens of masks filled before the step', async (t) => {
    // NOTE: one step thread leaves the JS thread a core, so the CPU runner takes late masks.
    const { flags } = parseFlags(['--model', modelDir, '--device', DEVICE, '--kv-cache-memory', '32MiB', '--num-threads', '1'], MODEL_FLAGS);
    const lateHost = await ModelHost.load(modelOptionsFrom(flags));
    t.after(() => lateHost.dispose());
    const runner = lateHost.runner;
    const executeLate = runner.executeWithLateBitmask;
    if (availableParallelism() === 1 && executeLate === undefined) return t.skip('one core: the CPU runner fills masks before the step');
    assert.ok(executeLate, 'the runner fills masks while the forward pass runs');
    const spec: StructuredOutputSpec = { kind: 'json_schema', schema: z.toJSONSchema(person) };
    const promptTokenIds = lateHost.tokenizer.encode('Answer in JSON:', { addSpecialTokens: false });
    const tokensOf = async (tag: string): Promise<number[][]> => {
      const outputs = await Promise.all(SEEDS.map(async (seed) => {
        const deltas: RequestOutput[] = [];
        const params = new SamplingParams({ temperature: 1, maxTokens: MAX_TOKENS, seed, n: 2, structuredOutput: spec });
        for await (const delta of lateHost.engine.add({ requestId: `${tag}-${seed}`, promptTokenIds, params })) deltas.push(delta);
        return accumulateOutputs(deltas).outputs.map((out) => out.tokenIds);
      }));
      return outputs.flat();
    };
    const late = await tokensOf('late');
    runner.executeWithLateBitmask = undefined;
    try {
      assert.deepEqual(await tokensOf('early'), late);
    } finally {
      runner.executeWithLateBitmask = executeLate;
    }
  });

  test('an aborted constrained request frees its blocks, mid-compile or mid-generation', async () => {
    const used = host.engine.stats().numKvBlocksUsed;
    const params = new SamplingParams({ temperature: 1, maxTokens: MAX_TOKENS, seed: 3, n: 2, structuredOutput: { kind: 'json_schema', schema: { type: 'object', properties: { z: { type: 'string' } } } } });
    const promptTokenIds = host.tokenizer.encode('{', { addSpecialTokens: false });
    const atOnce = host.engine.add({ requestId: 'abort-now', promptTokenIds, params });
    assert.ok(host.engine.abort('abort-now'));
    const early: RequestOutput[] = [];
    for await (const delta of atOnce) early.push(delta);
    assert.ok(accumulateOutputs(early).outputs.every((out) => out.finishReason === 'abort'));

    const later = host.engine.add({ requestId: 'abort-later', promptTokenIds, params });
    const deltas: RequestOutput[] = [];
    for await (const delta of later) {
      deltas.push(delta);
      if (deltas.length === 2) host.engine.abort('abort-later');
    }
    assert.ok(accumulateOutputs(deltas).outputs.every((out) => out.finishReason === 'abort'));
    assert.equal(host.engine.stats().numKvBlocksUsed, used);
  });
});
