import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NO_CHAT_AGENT } from '../src/protocol/chat-agent-options.js';
import { parseChatAgentRequest } from '../src/protocol/chat-agent-request.js';
import { OpenAIError } from '../src/protocol/openai-error.js';

const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }];
const messages = [{ role: 'user', content: 'x' }];
const auto = { enableAutoToolChoice: true, toolCallParser: 'hermes', reasoningParser: 'qwen3' };

test('tool modes as vLLM decides them', () => {
  assert.deepEqual(parseChatAgentRequest({ messages, tools }, auto).toolMode, { kind: 'auto', parser: 'hermes' });
  assert.deepEqual(parseChatAgentRequest({ messages, tools }, NO_CHAT_AGENT).toolMode, { kind: 'text' }, 'tools only reach the template');
  assert.deepEqual(parseChatAgentRequest({ messages, tools, tool_choice: 'none' }, auto).toolMode, { kind: 'text' });
  assert.deepEqual(parseChatAgentRequest({ messages, tools, tool_choice: 'required' }, NO_CHAT_AGENT).toolMode, { kind: 'required' });
  const named = parseChatAgentRequest({ messages, tools, tool_choice: { type: 'function', function: { name: 'f' } } }, auto);
  assert.deepEqual([named.toolMode, named.reasoningParser], [{ kind: 'named', name: 'f' }, null]);
  assert.equal(parseChatAgentRequest({ messages }, auto).reasoningParser, 'qwen3');
});

test('"auto" without --enable-auto-tool-choice is a 400 on tool_choice', () => {
  assert.throws(
    () => parseChatAgentRequest({ messages, tools, tool_choice: 'auto' }, NO_CHAT_AGENT),
    (error: unknown) => error instanceof OpenAIError && error.status === 400 && error.param === 'tool_choice' && /enable-auto-tool-choice/.test(error.message),
  );
});
