/**
 * The library's structuredOutputs option, shared by the in-process Engine and the Client tests:
 * each constraint holds on a random-weight model at temperature 1 (whole and streamed), and a
 * spec that is malformed or does not compile is refused naming `structured_outputs`.
 */
import assert from 'node:assert/strict';
import type { InferBackend, InferStreamChunk, RequestConfig } from '../../src/index.js';

const SEEDS = [1, 2];
const SAMPLED: RequestConfig = { temperature: 1, maxTokens: 60 };

async function answers(backend: InferBackend, structuredOutputs: RequestConfig['structuredOutputs']): Promise<string[]> {
  const all = await Promise.all(SEEDS.map((seed) => backend.infer([{ query: 'Answer:' }], { ...SAMPLED, seed, structuredOutputs })));
  return all.flat().map((answer) => answer.response);
}

/** `isRefusal(error)`: the backend's error for a bad request on structured_outputs. */
export async function checkStructuredOutputs(backend: InferBackend, isRefusal: (error: unknown) => boolean): Promise<void> {
  const choices = ['yes', 'no', 'maybe later'];
  for (const answer of await answers(backend, { choice: choices })) assert.ok(choices.includes(answer), answer);
  const pattern = '[A-Z][a-z]{1,5}-\\d{2}';
  for (const answer of await answers(backend, { regex: pattern })) assert.match(answer, new RegExp(`^${pattern}$`));
  const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false };
  for (const answer of await answers(backend, { json: schema })) assert.equal(typeof (JSON.parse(answer) as { ok: unknown }).ok, 'boolean', answer);
  for (const answer of await answers(backend, { jsonObject: true })) assert.equal(typeof JSON.parse(answer), 'object', answer);

  let last: InferStreamChunk | null = null;
  for await (const chunk of backend.inferStream({ query: 'Answer:' }, { ...SAMPLED, seed: 3, structuredOutputs: { choice: choices } })) last = chunk;
  assert.ok(choices.includes(last?.response ?? ''), `streamed: ${last?.response}`);

  await assert.rejects(backend.infer([{ query: 'x' }], { structuredOutputs: { grammar: 'root ::= missing_rule' } }), isRefusal);
  await assert.rejects(backend.infer([{ query: 'x' }], { structuredOutputs: { regex: 'a', choice: ['b'] } }), isRefusal);
}
