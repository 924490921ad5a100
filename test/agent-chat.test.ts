/**
 * Tool calls and reasoning through a live server (--enable-auto-tool-choice
 * --tool-call-parser hermes --reasoning-parser qwen3), driven by the openai client: the model's
 * text is scripted (helpers/scripted-output.ts) so the server's parsing, OpenAI's response and
 * stream shapes, and the template's view of tool turns are what is checked. Also the OpenAI
 * error shape, x-request-id and `usage: null` chunks.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type OpenAI from 'openai';
import { useAgentServer, WEATHER_CALL_TEXT as CALL_TEXT, weatherTool } from './helpers/agent-server.js';
import { MODEL_NAME, postJson } from './helpers/live-server.js';

const server = useAgentServer();
const { withScript } = server;

test('a hermes call becomes message.tool_calls with finish_reason "tool_calls"; plain text has no tool_calls key', async () => {
  const completion = await withScript(CALL_TEXT, () =>
    server.client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [weatherTool], max_tokens: 60 }),
  );
  const choice = completion.choices[0];
  assert.ok(choice);
  assert.equal(choice.finish_reason, 'tool_calls');
  assert.equal(choice.message.content, 'Let me check.');
  const call = choice.message.tool_calls?.[0];
  assert.ok(call && call.type === 'function');
  assert.match(call.id, /^call_[A-Za-z0-9]{24}$/);
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });

  const plain = await withScript('Sunny, I think.', () =>
    server.client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'hi' }], tools: [weatherTool], max_tokens: 20 }),
  );
  assert.equal(plain.choices[0]?.message.content, 'Sunny, I think.');
  assert.equal(plain.choices[0]?.finish_reason, 'stop');
  assert.ok(!('tool_calls' in (plain.choices[0]?.message ?? {})), JSON.stringify(plain.choices[0]?.message));
});

test('tool_choice "none" leaves the call text as content', async () => {
  const completion = await withScript(CALL_TEXT, () =>
    server.client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'x' }], tools: [weatherTool], tool_choice: 'none', max_tokens: 60 }),
  );
  assert.equal(completion.choices[0]?.message.content, CALL_TEXT);
  assert.equal(completion.choices[0]?.finish_reason, 'stop');
});

test('streamed: the first call delta has id, type and name, then argument fragments; every chunk has usage null until the last', async () => {
  const stream = await withScript(CALL_TEXT, async () => {
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    const response = await server.client.chat.completions.create({
      model: MODEL_NAME,
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [weatherTool],
      max_tokens: 60,
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const chunk of response) chunks.push(chunk);
    return chunks;
  });
  const last = stream.at(-1);
  assert.ok(last?.usage && last.usage.completion_tokens > 0);
  for (const chunk of stream.slice(0, -1)) assert.equal(chunk.usage, null, JSON.stringify(chunk));
  const deltas = stream.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
  const first = deltas[0];
  assert.ok(first);
  assert.equal(first.index, 0);
  assert.equal(first.type, 'function');
  assert.equal(first.function?.name, 'get_weather');
  assert.equal(first.function?.arguments, '');
  assert.match(first.id ?? '', /^call_/);
  for (const later of deltas.slice(1)) assert.deepEqual([later.id, later.function?.name, later.index], [undefined, undefined, 0]);
  assert.deepEqual(JSON.parse(deltas.map((d) => d.function?.arguments ?? '').join('')), { city: 'Paris' });
  const content = stream.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
  assert.equal(content, 'Let me check.');
  assert.equal(stream.find((chunk) => chunk.choices[0]?.finish_reason)?.choices[0]?.finish_reason, 'tool_calls');
});

test('reasoning: <think> becomes reasoning_content, whole and streamed', async () => {
  const text = '<think>The user greets.</think>Hello!';
  const completion = await withScript(text, () => server.client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'hi' }], max_tokens: 30 }));
  const message = completion.choices[0]?.message as unknown as Record<string, unknown>;
  assert.equal(message['reasoning_content'], 'The user greets.');
  assert.equal(message['content'], 'Hello!');

  const chunks = await withScript(text, async () => {
    const out: Record<string, unknown>[] = [];
    const response = await server.client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'hi' }], max_tokens: 30, stream: true });
    for await (const chunk of response) out.push(chunk.choices[0]?.delta as unknown as Record<string, unknown>);
    return out;
  });
  assert.equal(chunks.map((delta) => (delta['reasoning_content'] as string | undefined) ?? '').join(''), 'The user greets.');
  assert.equal(chunks.map((delta) => (delta['content'] as string | undefined) ?? '').join(''), 'Hello!');
});

test('the tool-result turn: assistant content null with tool_calls, then role tool, reach the template with arguments as an object', async () => {
  const messages = [
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: '{"temperature": 21}' },
  ];
  const tokenized = await postJson(`${server.url}/tokenize`, { model: MODEL_NAME, messages, tools: [weatherTool] });
  assert.equal(tokenized.status, 200, tokenized.text);
  const ids = (tokenized.json as { tokens: number[] }).tokens;
  const prompt = ((await postJson(`${server.url}/detokenize`, { model: MODEL_NAME, tokens: ids })).json as { prompt: string }).prompt;
  assert.ok(prompt.includes('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'), prompt);
  assert.ok(prompt.includes('<tool_response>\n{"temperature": 21}\n</tool_response>'), prompt);
  assert.ok(prompt.includes('"name": "get_weather"') && prompt.includes('<tools>'), 'the tools reach the template');
  const completion = await withScript('It is 21 degrees.', () =>
    server.client.chat.completions.create({ model: MODEL_NAME, messages: messages as OpenAI.ChatCompletionMessageParam[], tools: [weatherTool], max_tokens: 20 }),
  );
  assert.equal(completion.choices[0]?.message.content, 'It is 21 degrees.');
});

test('tools are validated: a wrong type or a tool_choice naming no tool is a 400 in OpenAI\'s error shape', async () => {
  const oops = await postJson(`${server.url}/v1/chat/completions`, { model: MODEL_NAME, messages: [{ role: 'user', content: 'x' }], tools: 'oops' });
  assert.equal(oops.status, 400);
  assert.deepEqual(Object.keys((oops.json as { error: object }).error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal((oops.json as { error: { type: string; param: string } }).error.type, 'invalid_request_error');
  assert.equal((oops.json as { error: { param: string } }).error.param, 'tools');
  const unnamed = await postJson(`${server.url}/v1/chat/completions`, {
    model: MODEL_NAME,
    messages: [{ role: 'user', content: 'x' }],
    tools: [weatherTool],
    tool_choice: { type: 'function', function: { name: 'nope' } },
  });
  assert.equal(unnamed.status, 400);
  assert.equal((unnamed.json as { error: { param: string } }).error.param, 'tool_choice');
  const badCall = await postJson(`${server.url}/v1/chat/completions`, {
    model: MODEL_NAME,
    messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f' } }] }],
  });
  assert.equal(badCall.status, 400);
  assert.match((badCall.json as { error: { param: string } }).error.param, /^messages\.0\.tool_calls/);
});

test('errors: not_found_error with code model_not_found; x-request-id echoed, else generated', async () => {
  const missing = await postJson(`${server.url}/v1/chat/completions`, { model: 'nope', messages: [{ role: 'user', content: 'x' }] }, { 'x-request-id': 'my-id-1' });
  assert.equal(missing.status, 404);
  assert.deepEqual((missing.json as { error: object }).error, { message: 'The model `nope` does not exist.', type: 'not_found_error', param: 'model', code: 'model_not_found' });
  assert.equal(missing.headers.get('x-request-id'), 'my-id-1');
  const ok = await fetch(`${server.url}/v1/models`);
  assert.match(ok.headers.get('x-request-id') ?? '', /^req_[0-9a-f]{32}$/);
});
