/**
 * Tool-call parsers (hermes, llama3_json) and reasoning parsers (qwen3, deepseek_r1): streamed
 * deltas in OpenAI's shape whatever the split of the text, and the same result whole.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createReasoningParser } from '../src/reasoning/registry.js';
import { extractReasoning } from '../src/reasoning/think-parser.js';
import { RequiredCallsParser } from '../src/protocol/chat-output/forced-calls.js';
import { createToolCallParser } from '../src/tools/registry.js';
import { extractToolCalls, type ToolCallDelta, type ToolCallParser } from '../src/tools/types.js';

function counterIds(): () => string {
  let next = 0;
  return () => `call_${next++}`;
}

/** Every way of cutting `text` that tests care about: one piece, each character, and fixed-size pieces. */
function splits(text: string): string[][] {
  const pieces = (size: number): string[] => Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size));
  return [[text], pieces(1), pieces(3), pieces(7)];
}

interface Streamed {
  content: string;
  deltas: ToolCallDelta[];
}

function stream(parserName: string, pieces: string[]): Streamed {
  return streamThrough(createToolCallParser(parserName, counterIds()), pieces);
}

function streamThrough(parser: ToolCallParser, pieces: string[]): Streamed {
  const out: Streamed = { content: '', deltas: [] };
  for (const delta of [...pieces.map((p) => parser.push(p)), parser.finish()]) {
    out.content += delta.content;
    out.deltas.push(...delta.toolCalls);
  }
  return out;
}

/** OpenAI's streaming contract: per call, the first delta has id, type, name and arguments ""; later ones only argument text. */
function assertOpenAIShape(deltas: ToolCallDelta[]): { name: string; arguments: string }[] {
  const calls: { name: string; arguments: string }[] = [];
  for (const delta of deltas) {
    const call = calls[delta.index];
    if (call === undefined) {
      assert.equal(delta.index, calls.length, 'calls start in index order');
      assert.deepEqual(delta, { index: delta.index, id: `call_${delta.index}`, type: 'function', function: { name: delta.function.name, arguments: '' } });
      calls.push({ name: delta.function.name as string, arguments: '' });
    } else {
      assert.deepEqual(Object.keys(delta).sort(), ['function', 'index']);
      assert.deepEqual(Object.keys(delta.function), ['arguments']);
      assert.notEqual(delta.function.arguments, '');
      call.arguments += delta.function.arguments;
    }
  }
  return calls;
}

const hermesOutput =
  'Let me check both cities.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius", "note": "a } and a \\"quote\\""}}\n</tool_call>\n<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>';

describe('hermes', () => {
  test('streamed in any split: content first, then each call as OpenAI streams it', () => {
    for (const pieces of splits(hermesOutput)) {
      const { content, deltas } = stream('hermes', pieces);
      assert.equal(content, 'Let me check both cities.\n');
      const calls = assertOpenAIShape(deltas);
      assert.deepEqual(
        calls.map((c) => ({ name: c.name, arguments: JSON.parse(c.arguments) as unknown })),
        [
          { name: 'get_weather', arguments: { city: 'Paris', unit: 'celsius', note: 'a } and a "quote"' } },
          { name: 'get_time', arguments: {} },
        ],
      );
    }
  });

  test('non-streamed extraction: the message OpenAI returns', () => {
    const extracted = extractToolCalls(createToolCallParser('hermes', counterIds()), '<tool_call>\n{"name": "f", "arguments": {"x": 1}}\n</tool_call>');
    assert.deepEqual(extracted, { content: null, toolCalls: [{ id: 'call_0', type: 'function', function: { name: 'f', arguments: '{"x": 1}' } }] });
  });

  test('no call: all content, a lone "<" is not held forever; a broken call stays content', () => {
    assert.deepEqual(stream('hermes', ['a < b', ' <tool']), { content: 'a < b <tool', deltas: [] });
    const broken = extractToolCalls(createToolCallParser('hermes', counterIds()), 'x<tool_call>{"name": oops}</tool_call>');
    assert.deepEqual(broken, { content: 'x<tool_call>{"name": oops}', toolCalls: [] });
  });

  test('arguments before the name: sent whole at the close', () => {
    const { deltas } = stream('hermes', ['<tool_call>{"arguments": {"a": [1]}, "name": "g"}</tool_call>']);
    assert.deepEqual(deltas, [
      { index: 0, id: 'call_0', type: 'function', function: { name: 'g', arguments: '' } },
      { index: 0, function: { arguments: '{"a":[1]}' } },
    ]);
  });

  test('an unfinished call at the end (max_tokens) still closes what it has', () => {
    const { deltas } = stream('hermes', ['<tool_call>{"name": "f", "arguments": {"x": "ab']);
    assert.deepEqual(assertOpenAIShape(deltas), [{ name: 'f', arguments: '{"x": "ab' }]);
  });
});

describe('llama3_json', () => {
  const output = '<|python_tag|>{"name": "search", "parameters": {"q": "llamas {and} alpacas"}}; {"name": "lookup", "parameters": {"id": 7}}';

  test('streamed in any split: calls after the python tag, separated by ";"', () => {
    for (const pieces of splits(output)) {
      const { content, deltas } = stream('llama3_json', pieces);
      assert.equal(content, '');
      assert.deepEqual(
        assertOpenAIShape(deltas).map((c) => ({ name: c.name, arguments: JSON.parse(c.arguments) as unknown })),
        [
          { name: 'search', arguments: { q: 'llamas {and} alpacas' } },
          { name: 'lookup', arguments: { id: 7 } },
        ],
      );
    }
  });

  test('a bare JSON call counts; text that does not start with "{" is content', () => {
    for (const pieces of splits(' {"name": "f", "parameters": {}}')) assert.equal(assertOpenAIShape(stream('llama3_json', pieces).deltas).length, 1);
    for (const pieces of splits('The answer is {"a": 1}.')) assert.deepEqual(stream('llama3_json', pieces), { content: 'The answer is {"a": 1}.', deltas: [] });
  });
});

describe('chatglm3', () => {
  // NOTE: as ChatGLM3 writes a call (its openai_api_demo's example): the name line, then a code block, with SentencePiece's space before the fence.
  const call = "get_current_weather\n ```python\ntool_call(location='Boston, MA', unit=\"celsius\", days=[1, 2], detail={'wind': True, 'rain': None}, ratio=-0.5)\n```";

  test('a named turn is one call, its Python keyword arguments as JSON, in any split', () => {
    for (const pieces of splits(call)) {
      const { content, deltas } = stream('chatglm3', pieces);
      assert.equal(content, '');
      assert.deepEqual(
        assertOpenAIShape(deltas).map((c) => ({ name: c.name, arguments: JSON.parse(c.arguments) as unknown })),
        [{ name: 'get_current_weather', arguments: { location: 'Boston, MA', unit: 'celsius', days: [1, 2], detail: { wind: true, rain: null }, ratio: -0.5 } }],
      );
    }
  });

  test('an answer (empty metadata line) streams as content without that line', () => {
    const streamed = stream('chatglm3', ['\nIt is', ' sunny.']);
    assert.deepEqual(streamed, { content: 'It is sunny.', deltas: [] });
    const parser = createToolCallParser('chatglm3', counterIds());
    assert.equal(parser.push('\nIt is').content, 'It is', 'content streams before the reply ends');
  });

  test('a JSON body is a call too; a named turn whose body is not a call stays content, whole', () => {
    const json = extractToolCalls(createToolCallParser('chatglm3', counterIds()), 'search\n```\n{"q": "glm"}\n```');
    assert.deepEqual(json, { content: null, toolCalls: [{ id: 'call_0', type: 'function', function: { name: 'search', arguments: '{"q":"glm"}' } }] });
    const notCall = 'interpreter\n```python\nprint(open("x").read())\n```';
    assert.deepEqual(extractToolCalls(createToolCallParser('chatglm3', counterIds()), notCall), { content: notCall, toolCalls: [] });
  });
});

describe('qwen_react', () => {
  const call = 'Thought: I should look up the weather.\nAction: get_weather\nAction Input: {"city": "Paris"}\nObservation:';

  test('Action / Action Input is a call, its thought the content, whatever the split', () => {
    for (const pieces of splits(call)) {
      const { content, deltas } = stream('qwen_react', pieces);
      assert.equal(content, 'I should look up the weather.');
      assert.deepEqual(assertOpenAIShape(deltas), [{ name: 'get_weather', arguments: '{"city": "Paris"}' }]);
    }
    const withoutObservation = extractToolCalls(createToolCallParser('qwen_react', counterIds()), 'Thought: x\nAction: f\nAction Input: {}');
    assert.deepEqual(withoutObservation.toolCalls.map((c) => [c.function.name, c.function.arguments]), [['f', '{}']]);
  });

  test('an answer is what follows the last Final Answer; plain text stays as it is', () => {
    const answer = 'Thought: I now know the final answer.\nFinal Answer: It is 12 degrees.';
    assert.deepEqual(extractToolCalls(createToolCallParser('qwen_react', counterIds()), answer), { content: 'It is 12 degrees.', toolCalls: [] });
    assert.deepEqual(stream('qwen_react', ['Hello', ' there']), { content: 'Hello there', deltas: [] });
  });
});

test('an unknown tool call parser names the known ones', () => {
  assert.throws(() => createToolCallParser('nope'), /unknown tool call parser 'nope' \(known: hermes, llama3_json, chatglm3, qwen_react\)/);
});

describe('tool_choice "required" (the grammar\'s array of calls)', () => {
  const output = '[{"name": "search", "parameters": {"q": "llamas [and] {alpacas}"}}, {"name": "lookup", "parameters": {"id": 7}}]';

  test('streamed in any split, each call as OpenAI streams it', () => {
    for (const pieces of splits(output)) {
      const { content, deltas } = streamThrough(new RequiredCallsParser(counterIds()), pieces);
      assert.equal(content, '');
      assert.deepEqual(
        assertOpenAIShape(deltas).map((c) => ({ name: c.name, arguments: JSON.parse(c.arguments) as unknown })),
        [
          { name: 'search', arguments: { q: 'llamas [and] {alpacas}' } },
          { name: 'lookup', arguments: { id: 7 } },
        ],
      );
    }
  });

  test('a call arrives as it is written: the name when its arguments begin, then their text, before the list ends', () => {
    const parser = new RequiredCallsParser(counterIds());
    const upToName = output.indexOf('{"q"');
    const header = parser.push(output.slice(0, upToName)).toolCalls;
    assert.deepEqual(header, [{ index: 0, id: 'call_0', type: 'function', function: { name: 'search', arguments: '' } }]);
    const midArguments = output.indexOf('llamas') + 3;
    assert.deepEqual(parser.push(output.slice(upToName, midArguments)).toolCalls, [{ index: 0, function: { arguments: '{"q": "lla' } }]);
  });

  test('text that is not a list of calls stays content', () => {
    for (const text of ['Sure, calling it now.', '[]', '[1, 2]']) {
      for (const pieces of splits(text)) assert.deepEqual(streamThrough(new RequiredCallsParser(counterIds()), pieces), { content: text, deltas: [] });
    }
  });
});

describe('reasoning parsers', () => {
  function streamReasoning(name: string, pieces: string[]): { reasoning: string; content: string } {
    const parser = createReasoningParser(name);
    const out = { reasoning: '', content: '' };
    for (const delta of [...pieces.map((p) => parser.push(p)), parser.finish()]) {
      out.reasoning += delta.reasoning;
      out.content += delta.content;
    }
    return out;
  }

  test('qwen3: <think>…</think> then the answer, in any split', () => {
    for (const pieces of splits('<think>\nThe user wants 2+2.\n</think>\n\nIt is 4.')) {
      assert.deepEqual(streamReasoning('qwen3', pieces), { reasoning: '\nThe user wants 2+2.\n', content: '\n\nIt is 4.' });
    }
  });

  test('qwen3 without thinking (enable_thinking=false): all content, reasoning_content null', () => {
    assert.deepEqual(extractReasoning(createReasoningParser('qwen3'), 'Just 4.'), { reasoning: null, content: 'Just 4.' });
    assert.deepEqual(streamReasoning('qwen3', splits('a <think> b')[1] as string[]), { reasoning: '', content: 'a <think> b' });
  });

  test('deepseek_r1: reasoning from the start (the prompt opened <think>) until </think>', () => {
    for (const pieces of splits('Hmm, 2+2.</think>4')) assert.deepEqual(streamReasoning('deepseek_r1', pieces), { reasoning: 'Hmm, 2+2.', content: '4' });
    assert.deepEqual(extractReasoning(createReasoningParser('deepseek_r1'), '<think>x</think>y'), { reasoning: 'x', content: 'y' });
    assert.deepEqual(extractReasoning(createReasoningParser('deepseek_r1'), 'cut off mid-thought'), { reasoning: 'cut off mid-thought', content: null });
  });
});
