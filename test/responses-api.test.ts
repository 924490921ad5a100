/**
 * `/v1/responses` through the openai client on a live server with tool calling on: text and
 * function calls, whole and streamed (OpenAI's event sequence), a function-call round trip in
 * `input`, and the refusal of stored state. The model's text is scripted.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type OpenAI from 'openai';
import { useAgentServer, WEATHER_CALL_TEXT, weatherTool } from './helpers/agent-server.js';
import { MODEL_NAME, postJson } from './helpers/live-server.js';

const server = useAgentServer();
const { withScript } = server;

const tool: OpenAI.Responses.FunctionTool = { type: 'function', name: 'get_weather', description: 'Weather in a city', parameters: weatherTool.function.parameters ?? null, strict: false };

test('text, not streamed: output_text, usage, store false', async () => {
  const response = await withScript('Hello there.', () => server.client.responses.create({ model: MODEL_NAME, input: 'hi', instructions: 'Be brief.', max_output_tokens: 20 }));
  assert.equal(response.object, 'response');
  assert.equal(response.status, 'completed');
  assert.equal(response.output_text, 'Hello there.');
  assert.equal((response as unknown as { store: boolean }).store, false);
  assert.ok((response.usage?.input_tokens ?? 0) > 0);
  assert.equal(response.usage?.output_tokens, 4, 'three text tokens and EOS');
});

test('a function call, not streamed: a function_call item with call_id, name and arguments', async () => {
  const response = await withScript(WEATHER_CALL_TEXT, () => server.client.responses.create({ model: MODEL_NAME, input: 'Weather in Paris?', tools: [tool], max_output_tokens: 60 }));
  const types = response.output.map((item) => item.type);
  assert.deepEqual(types, ['message', 'function_call']);
  const call = response.output[1] as OpenAI.Responses.ResponseFunctionToolCall;
  assert.equal(call.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris' });
  assert.match(call.call_id, /^call_/);
  assert.equal(response.output_text, 'Let me check.');
});

test('streamed: created, items added, text and argument deltas, items done, completed with the whole response', async () => {
  const events = await withScript(WEATHER_CALL_TEXT, async () => {
    const out: OpenAI.Responses.ResponseStreamEvent[] = [];
    const stream = await server.client.responses.create({ model: MODEL_NAME, input: 'Weather in Paris?', tools: [tool], max_output_tokens: 60, stream: true });
    for await (const event of stream) out.push(event);
    return out;
  });
  assert.deepEqual(events.map((event) => event.sequence_number), events.map((_, i) => i));
  assert.equal(events[0]?.type, 'response.created');
  const last = events.at(-1);
  assert.ok(last?.type === 'response.completed');
  const text = events.flatMap((event) => (event.type === 'response.output_text.delta' ? [event.delta] : [])).join('');
  assert.equal(text, 'Let me check.');
  const args = events.flatMap((event) => (event.type === 'response.function_call_arguments.delta' ? [event.delta] : [])).join('');
  assert.deepEqual(JSON.parse(args), { city: 'Paris' });
  const kinds = events.map((event) => event.type).filter((type) => type.startsWith('response.output_item'));
  assert.deepEqual(kinds, ['response.output_item.added', 'response.output_item.done', 'response.output_item.added', 'response.output_item.done']);
  const done = last.response.output[1] as OpenAI.Responses.ResponseFunctionToolCall;
  assert.deepEqual([done.name, done.arguments, done.status], ['get_weather', args, 'completed']);
  assert.ok((last.response.usage?.output_tokens ?? 0) > 0);
});

test('a round trip: function_call and function_call_output items in input reach the template as tool turns', async () => {
  const response = await withScript('It is 21 degrees.', () =>
    server.client.responses.create({
      model: MODEL_NAME,
      tools: [tool],
      input: [
        { role: 'user', content: 'Weather in Paris?' },
        { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'function_call_output', call_id: 'call_1', output: '{"temperature": 21}' },
      ],
      max_output_tokens: 20,
    }),
  );
  assert.equal(response.output_text, 'It is 21 degrees.');
  const plain = await withScript('x', () => server.client.responses.create({ model: MODEL_NAME, tools: [tool], input: 'Weather in Paris?', max_output_tokens: 5 }));
  assert.ok((response.usage?.input_tokens ?? 0) > (plain.usage?.input_tokens ?? 0) + 10, 'the call and its output are in the prompt');
});

test('previous_response_id is a 400 (nothing is stored); a wrong input is a 400 naming it', async () => {
  const stored = await postJson(`${server.url}/v1/responses`, { model: MODEL_NAME, input: 'hi', previous_response_id: 'resp_1' });
  assert.equal(stored.status, 400);
  assert.equal((stored.json as { error: { param: string } }).error.param, 'previous_response_id');
  const wrong = await postJson(`${server.url}/v1/responses`, { model: MODEL_NAME, input: 42 });
  assert.equal(wrong.status, 400);
  assert.equal((wrong.json as { error: { param: string } }).error.param, 'input');
});
