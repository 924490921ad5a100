/**
 * The bundled demo model as an agent's model, through a live `swiftlet deploy` (no --model)
 * with --enable-auto-tool-choice --tool-call-parser hermes: it calls a tool offered for a
 * capital question, answers the tool's result in a sentence, and answers in JSON when
 * response_format asks for it or the question does. scripts/train-demo-model.py checks the
 * same answers after training.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { deploy, killDeployed, type Deployed } from './helpers/deploy-child.js';

const MODEL = 'swiftlet-demo';

/** The tools as the training script offers them (same descriptions, same key order). */
const capitalTool: OpenAI.ChatCompletionFunctionTool = {
  type: 'function',
  function: {
    name: 'get_capital',
    description: 'Get the capital city of a province of China',
    parameters: { type: 'object', properties: { province: { type: 'string', description: 'The province, e.g. 浙江 or Zhejiang' } }, required: ['province'] },
  },
};
const foodTool: OpenAI.ChatCompletionFunctionTool = {
  type: 'function',
  function: {
    name: 'get_food',
    description: 'Get famous local dishes of a city',
    parameters: { type: 'object', properties: { city: { type: 'string', description: 'The city, e.g. 杭州' } }, required: ['city'] },
  },
};


let deployed: Deployed | undefined;
let client: OpenAI;
before(async () => {
  deployed = await deploy(['--host', '127.0.0.1', '--port', '0', '--device', 'cpu', '--kv-cache-memory', '64MiB', '--enable-auto-tool-choice', '--tool-call-parser', 'hermes']);
  client = new OpenAI({ baseURL: `${deployed.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(() => {
  if (deployed) killDeployed(deployed);
});

function ask(messages: OpenAI.ChatCompletionMessageParam[], extra: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming> = {}) {
  return client.chat.completions.create({ model: MODEL, messages, temperature: 0, max_tokens: 80, ...extra });
}

test('offered tools, a capital question gets a get_capital call naming the province, and its result an answer', async () => {
  const question: OpenAI.ChatCompletionMessageParam = { role: 'user', content: '浙江的省会在哪?' };
  const first = await ask([question], { tools: [capitalTool, foodTool] });
  const choice = first.choices[0];
  assert.ok(choice);
  assert.equal(choice.finish_reason, 'tool_calls', JSON.stringify(choice.message));
  const call = choice.message.tool_calls?.[0];
  assert.ok(call && call.type === 'function');
  assert.equal(call.function.name, 'get_capital');
  assert.deepEqual(JSON.parse(call.function.arguments), { province: '浙江' });

  const english = await ask([{ role: 'user', content: 'What is the capital of Sichuan?' }], { tools: [capitalTool] });
  const englishCall = english.choices[0]?.message.tool_calls?.[0];
  assert.ok(englishCall && englishCall.type === 'function');
  assert.deepEqual(JSON.parse(englishCall.function.arguments), { province: 'Sichuan' });

  const answered = await ask(
    [question, { role: 'assistant', content: null, tool_calls: [call] }, { role: 'tool', tool_call_id: call.id, content: '{"capital": "杭州"}' }],
    { tools: [capitalTool, foodTool] },
  );
  assert.equal(answered.choices[0]?.finish_reason, 'stop');
  assert.equal(answered.choices[0]?.message.content, '浙江的省会是杭州。');
});

test('offered tools, a greeting is answered in text', async () => {
  const completion = await ask([{ role: 'user', content: 'hello' }], { tools: [capitalTool, foodTool] });
  assert.equal(completion.choices[0]?.finish_reason, 'stop');
  assert.match(completion.choices[0]?.message.content ?? '', /^Hello!/);
});

test('response_format json_schema gets JSON naming the capital', async () => {
  const schema = {
    type: 'object',
    properties: { province: { type: 'string' }, capital: { type: 'string' } },
    required: ['province', 'capital'],
    additionalProperties: false,
  };
  const completion = await ask([{ role: 'user', content: '浙江的省会在哪?' }], {
    response_format: { type: 'json_schema', json_schema: { name: 'capital', strict: true, schema } },
  });
  assert.deepEqual(JSON.parse(completion.choices[0]?.message.content ?? ''), { province: '浙江', capital: '杭州' });
});

test('asked for JSON in the question or the system prompt, it answers JSON', async () => {
  const asked = async (messages: OpenAI.ChatCompletionMessageParam[]) => JSON.parse((await ask(messages)).choices[0]?.message.content ?? '') as unknown;
  assert.deepEqual(await asked([{ role: 'user', content: 'What is the capital of Sichuan? Answer in JSON.' }]), { province: 'Sichuan', capital: 'Chengdu' });
  assert.deepEqual(await asked([{ role: 'user', content: '浙江的省会在哪? 请用JSON回答。' }]), { province: '浙江', capital: '杭州' });
  assert.deepEqual(
    await asked([{ role: 'system', content: 'Answer in JSON.' }, { role: 'user', content: '广东的省会是哪里？' }]),
    { province: '广东', capital: '广州' },
  );
});
