/**
 * Qwen v1's ReAct prompt for tool conversations against what its openai_api.py builds for the
 * same conversations (test/fixtures/qwen-react-prompts.json), and through the server's prompt
 * path: with tools the ReAct prompt, without them the chat template's plain ChatML.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseFlags } from '../src/cli/args.js';
import { MODEL_FLAGS, modelOptionsFrom } from '../src/cli/model-flags.js';
import { ConversationError, type ChatMessage } from '../src/chat/conversation.js';
import { pythonJsonDumps } from '../src/chat/python-json.js';
import { qwenReactPrompt } from '../src/chat/qwen-react-prompt.js';
import { templateToolTurns } from '../src/chat/tool-turns.js';
import { ModelHost } from '../src/host/model-host.js';
import { chatPrompt, prepareChat } from '../src/protocol/prepare.js';
import { fixtureDir } from './helpers/paths.js';

interface ReactCase {
  name: string;
  tools: unknown[];
  messages: ChatMessage[];
  prompt: string;
}

const { cases } = JSON.parse(readFileSync(join(fixtureDir, 'qwen-react-prompts.json'), 'utf8')) as { cases: ReactCase[] };

describe("Qwen v1 ReAct prompt, as openai_api.py's parse_messages and make_context build it", () => {
  for (const c of cases) {
    test(c.name, () => {
      // NOTE: the server hands the builder its messages after templateToolTurns (arguments parsed).
      assert.equal(qwenReactPrompt(templateToolTurns(c.messages), c.tools), c.prompt);
    });
  }

  test('several calls of one assistant turn: each call followed by its own result, matched by id', () => {
    const tools = cases[0]!.tools;
    const call = (id: string, city: string) => ({ id, type: 'function', function: { name: 'get_current_weather', arguments: { location: city } } });
    const prompt = qwenReactPrompt(
      [
        { role: 'user', content: 'Boston and Paris?' },
        { role: 'assistant', content: 'Both.', tool_calls: [call('a', 'Boston'), call('b', 'Paris')] },
        { role: 'tool', tool_call_id: 'b', content: 'Paris: 18' },
        { role: 'tool', tool_call_id: 'a', content: 'Boston: 22' },
      ],
      tools,
    );
    assert.ok(
      prompt?.endsWith(
        '<|im_start|>assistant\nThought: Both.\nAction: get_current_weather\nAction Input: {"location": "Boston"}\nObservation: Boston: 22\n' +
          'Thought: \nAction: get_current_weather\nAction Input: {"location": "Paris"}\nObservation: Paris: 18\nThought:',
      ),
      prompt,
    );
  });

  test('no tools: undefined (the chat template renders the conversation); a tool result without its call: a ConversationError', () => {
    assert.equal(qwenReactPrompt([{ role: 'user', content: 'hi' }], undefined), undefined);
    assert.equal(qwenReactPrompt([{ role: 'user', content: 'hi' }], []), undefined);
    assert.throws(() => qwenReactPrompt([{ role: 'user', content: 'hi' }, { role: 'tool', content: 'x' }], cases[0]!.tools), ConversationError);
    assert.throws(() => qwenReactPrompt([{ role: 'system', content: 's' }], cases[0]!.tools), /at least one user message/);
  });

  test("python-style JSON: json.dumps' separators, non-ASCII kept", () => {
    assert.equal(pythonJsonDumps({ a: [1, 'é', null], b: { c: true } }), '{"a": [1, "é", null], "b": {"c": true}}');
  });
});

describe('the server prompt of tiny-qwen1', () => {
  let host: ModelHost;
  before(async () => {
    const { flags } = parseFlags(['--model', join(fixtureDir, 'tiny-qwen1'), '--device', 'cpu', '--kv-cache-memory', '4MiB'], MODEL_FLAGS);
    host = await ModelHost.load(modelOptionsFrom(flags));
  });
  after(() => host.dispose());

  test('with tools: the ReAct prompt, its ids the tokenizer\'s of that text; without: plain ChatML from the template', async () => {
    const c = cases[1]!;
    const withTools = await chatPrompt({ messages: c.messages, tools: c.tools } as Parameters<typeof chatPrompt>[0], host.promptContext());
    assert.equal(withTools.text, c.prompt);
    assert.deepEqual(withTools.ids, host.promptContext().tokenizer.encode(c.prompt));
    const plain = await chatPrompt({ messages: [{ role: 'user', content: 'hi' }] } as Parameters<typeof chatPrompt>[0], host.promptContext());
    assert.equal(plain.text, '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
  });

  test("with tools the request stops at 'Observation:' (as Qwen v1's openai_api.py), keeping its own stops; without, nothing is added", async () => {
    const c = cases[1]!;
    type Body = Parameters<typeof prepareChat>[0];
    const context = host.promptContext();
    const withTools = await prepareChat({ messages: c.messages, tools: c.tools, max_tokens: 8 } as Body, context);
    assert.deepEqual(withTools.params.stop, ['Observation:']);
    const ownStops = await prepareChat({ messages: c.messages, tools: c.tools, stop: ['END', 'Observation:'], max_tokens: 8 } as Body, context);
    assert.deepEqual(ownStops.params.stop, ['END', 'Observation:']);
    const oneStop = await prepareChat({ messages: c.messages, tools: c.tools, stop: 'END', max_tokens: 8 } as Body, context);
    assert.deepEqual(oneStop.params.stop, ['END', 'Observation:']);
    const plain = await prepareChat({ messages: [{ role: 'user', content: 'hi' }], stop: 'END', max_tokens: 8 } as Body, context);
    assert.deepEqual(plain.params.stop, ['END']);
  });
});
