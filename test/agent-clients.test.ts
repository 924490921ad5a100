/**
 * The agent clients people use, against a live server with tool calling on: the Vercel AI SDK
 * (`ai` + `@ai-sdk/openai-compatible`) and LangChain (`@langchain/openai`). The model's text is
 * scripted (helpers/scripted-output.ts), so what is checked is that each client reads our
 * responses and streams as it reads OpenAI's: tool calls, structured outputs in each of their
 * modes. (That a grammar keeps a real model's output valid is structured outputs' own test.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { ChatOpenAI } from '@langchain/openai';
import { generateObject, generateText, jsonSchema, streamText, tool } from 'ai';
import { useAgentServer, WEATHER_CALL_TEXT, weatherTool } from './helpers/agent-server.js';
import { MODEL_NAME } from './helpers/live-server.js';

const server = useAgentServer();
const { withScript } = server;

const citySchema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false } as const;
const CITY_JSON = '{"city": "Paris"}';

function aiSdkModel() {
  return createOpenAICompatible({ name: 'swiftlet', baseURL: `${server.url}/v1`, apiKey: 'unused', supportsStructuredOutputs: true })(MODEL_NAME);
}

function aiSdkTools() {
  return { get_weather: tool({ description: 'Weather in a city', inputSchema: jsonSchema<{ city: string }>(citySchema) }) };
}

function langChainModel(): ChatOpenAI {
  return new ChatOpenAI({ model: MODEL_NAME, apiKey: 'unused', configuration: { baseURL: `${server.url}/v1` }, maxTokens: 60, temperature: 0, maxRetries: 0 });
}

test('AI SDK generateText with tools: the call arrives as a tool call with its parsed input', async () => {
  const result = await withScript(WEATHER_CALL_TEXT, () =>
    generateText({ model: aiSdkModel(), prompt: 'Weather in Paris?', tools: aiSdkTools(), maxOutputTokens: 60 }),
  );
  assert.equal(result.toolCalls.length, 1);
  assert.equal(result.toolCalls[0]?.toolName, 'get_weather');
  assert.deepEqual(result.toolCalls[0]?.input, { city: 'Paris' });
  assert.equal(result.finishReason, 'tool-calls');
});

test('AI SDK streamText with tools: the streamed call is assembled, text deltas come through', async () => {
  const { calls, text } = await withScript(WEATHER_CALL_TEXT, async () => {
    const result = streamText({ model: aiSdkModel(), prompt: 'Weather in Paris?', tools: aiSdkTools(), maxOutputTokens: 60 });
    let streamed = '';
    for await (const part of result.fullStream) {
      if (part.type === 'text-delta') streamed += part.text;
      if (part.type === 'error') throw part.error;
    }
    return { calls: await result.toolCalls, text: streamed };
  });
  assert.equal(text, 'Let me check.');
  assert.deepEqual(calls.map((call) => [call.toolName, call.input]), [['get_weather', { city: 'Paris' }]]);
});

test('AI SDK generateObject reads a json_schema answer', async () => {
  const result = await withScript(CITY_JSON, () =>
    generateObject({ model: aiSdkModel(), prompt: 'A city as JSON', schema: jsonSchema<{ city: string }>(citySchema), maxOutputTokens: 30 }),
  );
  assert.deepEqual(result.object, { city: 'Paris' });
});

test('LangChain bindTools: tool_calls with parsed args', async () => {
  const message = await withScript(WEATHER_CALL_TEXT, () => langChainModel().bindTools([weatherTool]).invoke('Weather in Paris?'));
  assert.deepEqual(message.tool_calls?.map((call) => [call.name, call.args]), [['get_weather', { city: 'Paris' }]]);
  assert.match(message.tool_calls?.[0]?.id ?? '', /^call_/);
});

for (const method of ['functionCalling', 'jsonMode', 'jsonSchema'] as const) {
  test(`LangChain withStructuredOutput, method ${method}`, async () => {
    const parsed = await withScript(CITY_JSON, () =>
      langChainModel().withStructuredOutput<{ city: string }>({ ...citySchema, title: 'city', description: 'A city' }, { method, name: 'city' }).invoke('A city as JSON'),
    );
    assert.deepEqual(parsed, { city: 'Paris' });
  });
}
