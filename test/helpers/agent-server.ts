/** A live server with tool calling and reasoning on (hermes, qwen3) and a chat template that renders tools. */
import { fileURLToPath } from 'node:url';
import type OpenAI from 'openai';
import { startLiveServer, type LiveServer } from './live-server.js';

const TOOLS_TEMPLATE = fileURLToPath(new URL('../../../test/fixtures/tools-chat-template.jinja', import.meta.url));

export function startAgentServer(): Promise<LiveServer> {
  return startLiveServer({ chatTemplate: TOOLS_TEMPLATE }, { agent: { enableAutoToolChoice: true, toolCallParser: 'hermes', reasoningParser: 'qwen3' } });
}

export const weatherTool: OpenAI.ChatCompletionFunctionTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};

/** What a hermes model says to call weatherTool, after a little content. */
export const WEATHER_CALL_TEXT = 'Let me check.<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>';
