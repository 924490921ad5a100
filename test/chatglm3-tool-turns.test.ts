/**
 * OpenAI tool conversations in ChatGLM3's roles, as its openai_api_demo's process_chatglm_messages
 * maps them (the demo's own example conversation), and through the server's prompt path: tools as
 * the system message, a tool result as an `<|observation|>` turn.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseFlags } from '../src/cli/args.js';
import { MODEL_FLAGS, modelOptionsFrom } from '../src/cli/model-flags.js';
import { chatGlm3ToolTurns } from '../src/chat/chatglm3-tool-turns.js';
import { templateToolTurns } from '../src/chat/tool-turns.js';
import { ModelHost } from '../src/host/model-host.js';
import { chatPrompt } from '../src/protocol/prepare.js';
import { fixtureDir } from './helpers/paths.js';

const weather = { name: 'get_current_weather', description: 'Get the current weather in a given location.', parameters: { type: 'object', properties: { location: { type: 'string' } } } };

// The demo's example conversation, as an OpenAI client sends it.
const conversation = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: '波士顿天气如何？' },
  { role: 'assistant', content: null, tool_calls: [{ id: 'call_0', type: 'function', function: { name: 'get_current_weather', arguments: '{"location": "Beijing", "unit": "celsius"}' } }] },
  { role: 'tool', tool_call_id: 'call_0', content: '{"temperature": "12", "unit": "celsius", "description": "Sunny"}' },
];

test('tools, calls and results become the demo\'s ChatGLM3 messages', () => {
  const turns = chatGlm3ToolTurns(templateToolTurns(conversation), [{ type: 'function', function: weather }]);
  assert.deepEqual(turns, [
    { role: 'system', content: 'Answer the following questions as best as you can. You have access to the following tools:', tools: [weather] },
    { role: 'user', content: '波士顿天气如何？' },
    { role: 'assistant', metadata: 'get_current_weather', content: "```python\ntool_call(location='Beijing', unit='celsius')\n```" },
    { role: 'observation', content: '{"temperature": "12", "unit": "celsius", "description": "Sunny"}' },
  ]);
});

test('without tools the system message stays; several calls of one turn are one turn each', () => {
  const calls = [1, 2].map((n) => ({ type: 'function', function: { name: `f${n}`, arguments: { n } } }));
  const turns = chatGlm3ToolTurns([{ role: 'system', content: 's' }, { role: 'assistant', content: 'Calling both.', tool_calls: calls }], undefined);
  assert.deepEqual(turns, [
    { role: 'system', content: 's' },
    { role: 'assistant', content: 'Calling both.' },
    { role: 'assistant', metadata: 'f1', content: '```python\ntool_call(n=1)\n```' },
    { role: 'assistant', metadata: 'f2', content: '```python\ntool_call(n=2)\n```' },
  ]);
});

let host: ModelHost;
before(async () => {
  const { flags } = parseFlags(['--model', join(fixtureDir, 'tiny-chatglm3'), '--device', 'cpu', '--kv-cache-memory', '4MiB'], MODEL_FLAGS);
  host = await ModelHost.load(modelOptionsFrom(flags));
});
after(() => host.dispose());

test('the server\'s chat prompt: the tools system turn, the call, the result as an observation, then the assistant', async () => {
  const { text } = await chatPrompt({ messages: conversation, tools: [{ type: 'function', function: weather }] } as Parameters<typeof chatPrompt>[0], host.promptContext());
  const roles = [...text.matchAll(/<\|(system|user|assistant|observation)\|>/g)].map((m) => m[1]);
  assert.deepEqual(roles, ['system', 'user', 'assistant', 'observation', 'assistant']);
  assert.ok(text.includes('"name": "get_current_weather"'), 'the tool definitions are in the system turn, as JSON');
  assert.ok(text.includes("get_current_weather\n ```python\ntool_call(location='Beijing', unit='celsius')"), 'the call as ChatGLM3 writes it');
  assert.ok(!text.includes('You are a helpful assistant.'), 'the caller\'s system message gives way to the tools one');
});
