/** A live server with tool calling and reasoning on (hermes, qwen3) and a chat template that renders tools. */
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import type OpenAI from 'openai';
import { startLiveServer, type LiveServer } from './live-server.js';
import { withScript } from './scripted-output.js';

const TOOLS_TEMPLATE = fileURLToPath(new URL('../../../test/fixtures/tools-chat-template.jinja', import.meta.url));

function startAgentServer(): Promise<LiveServer> {
  return startLiveServer({ chatTemplate: TOOLS_TEMPLATE }, { agent: { enableAutoToolChoice: true, toolCallParser: 'hermes', reasoningParser: 'qwen3' } });
}

/** A test file's agent server, usable inside its tests. */
export interface AgentServer {
  readonly url: string;
  readonly client: OpenAI;
  /** Runs `run` with the model's output scripted to `text` (helpers/scripted-output.ts). */
  withScript<T>(text: string, run: () => Promise<T>): Promise<T>;
}

/** Starts the agent server before the calling file's tests and closes it after them. */
export function useAgentServer(): AgentServer {
  let live: LiveServer | null = null;
  before(async () => {
    live = await startAgentServer();
  });
  after(async () => {
    await live?.close();
  });
  const started = (): LiveServer => {
    if (live === null) throw new Error('the agent server is started in before()');
    return live;
  };
  return {
    get url() {
      return started().url;
    },
    get client() {
      return started().client;
    },
    withScript: (text, run) => withScript(started().host, text, run),
  };
}

export const weatherTool: OpenAI.ChatCompletionFunctionTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};

/** What a hermes model says to call weatherTool, after a little content. */
export const WEATHER_CALL_TEXT = 'Let me check.<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>';
