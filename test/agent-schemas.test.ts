/** Tools and structured-output request fields: OpenAI's 400s naming the field, and the spec each resolves to. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { agentChatRequestSchema, agentFieldProblem, agentMessageFields, type AgentChatFields } from '../src/protocol/agent-schemas.js';
import { fromZodError } from '../src/protocol/errors.js';
import { chatCompletionRequestSchema, chatMessageSchema } from '../src/protocol/schemas.js';
import { structuredOutputSpecOf } from '../src/protocol/structured-output-request.js';

/** How the lead would wire it: the existing chat schema plus the agent fields. */
const chatSchema = chatCompletionRequestSchema.extend(agentChatRequestSchema.shape);
const base = { messages: [{ role: 'user', content: 'hi' }] };
const weather = { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } };

function problemOf(body: Record<string, unknown>): { param: string | null; message: string } | null {
  const parsed = chatSchema.safeParse({ ...base, ...body });
  if (!parsed.success) {
    const error = fromZodError(parsed.error);
    return { param: error.param, message: error.message };
  }
  const problem = agentFieldProblem(parsed.data);
  return problem === null ? null : { param: problem[0], message: problem[1] };
}

function parse(body: Record<string, unknown>): AgentChatFields {
  return chatSchema.parse({ ...base, ...body });
}

describe('validation as OpenAI does it: a 400 naming the field', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['response_format of an unknown type', { response_format: { type: 'bogus' } }, 'response_format.type'],
    ['response_format not an object', { response_format: 'json' }, 'response_format'],
    ['json_schema without a name', { response_format: { type: 'json_schema', json_schema: { schema: {} } } }, 'response_format.json_schema.name'],
    ['tools not an array', { tools: 'oops' }, 'tools'],
    ['tools empty', { tools: [] }, 'tools'],
    ['a tool of another type', { tools: [{ type: 'retrieval', function: { name: 'f' } }] }, 'tools.0.type'],
    ['a function name with a space', { tools: [{ type: 'function', function: { name: 'get weather' } }] }, 'tools.0.function.name'],
    ['parameters not an object', { tools: [{ type: 'function', function: { name: 'f', parameters: 'x' } }] }, 'tools.0.function.parameters'],
    ['tool_choice not a known value', { tools: [weather], tool_choice: 'sometimes' }, 'tool_choice'],
    ['tool_choice without tools', { tool_choice: 'auto' }, 'tool_choice'],
    ['a named tool_choice not among tools', { tools: [weather], tool_choice: { type: 'function', function: { name: 'nope' } } }, 'tool_choice'],
    ['parallel_tool_calls not a boolean', { parallel_tool_calls: 'yes' }, 'parallel_tool_calls'],
    ['two constraints at once', { response_format: { type: 'json_object' }, guided_regex: 'a+' }, 'response_format'],
    ['structured_outputs with two kinds', { structured_outputs: { regex: 'a', choice: ['b'] } }, 'structured_outputs'],
    ['structured_outputs with none', { structured_outputs: {} }, 'structured_outputs'],
    ['guided_choice empty', { guided_choice: [] }, 'guided_choice'],
  ];
  for (const [name, body, param] of cases) {
    test(name, () => assert.equal(problemOf(body)?.param, param, JSON.stringify(problemOf(body))));
  }

  test('the bogus response_format says what is supported', () => {
    assert.match(problemOf({ response_format: { type: 'bogus' } })?.message ?? '', /Supported values are: 'text', 'json_object' and 'json_schema'/);
  });

  test('valid requests pass', () => {
    for (const body of [
      { response_format: { type: 'text' } },
      { response_format: { type: 'json_schema', json_schema: { name: 'person', schema: { type: 'object' }, strict: true } } },
      { tools: [weather], tool_choice: 'auto', parallel_tool_calls: false },
      { tools: [weather], tool_choice: { type: 'function', function: { name: 'get_weather' } } },
      { tools: [weather], tool_choice: 'none', response_format: { type: 'json_object' } },
      { structured_outputs: { choice: ['a', 'b'] } },
    ]) {
      assert.equal(problemOf(body), null, JSON.stringify(body));
    }
  });
});

describe('the spec each field resolves to', () => {
  test('response_format, structured_outputs and guided_*', () => {
    assert.equal(structuredOutputSpecOf(parse({})), null);
    assert.equal(structuredOutputSpecOf(parse({ response_format: { type: 'text' } })), null);
    assert.deepEqual(structuredOutputSpecOf(parse({ response_format: { type: 'json_object' } })), { kind: 'json_object' });
    assert.deepEqual(structuredOutputSpecOf(parse({ response_format: { type: 'json_schema', json_schema: { name: 'p', schema: { type: 'integer' } } } })), {
      kind: 'json_schema',
      schema: { type: 'integer' },
    });
    assert.deepEqual(structuredOutputSpecOf(parse({ structured_outputs: { json: '{"type": "string"}' } })), { kind: 'json_schema', schema: { type: 'string' } });
    assert.deepEqual(structuredOutputSpecOf(parse({ structured_outputs: { regex: '\\d+' } })), { kind: 'regex', pattern: '\\d+' });
    assert.deepEqual(structuredOutputSpecOf(parse({ structured_outputs: { grammar: 'root ::= "a"' } })), { kind: 'grammar', ebnf: 'root ::= "a"' });
    assert.deepEqual(structuredOutputSpecOf(parse({ structured_outputs: { json_object: true } })), { kind: 'json_object' });
    assert.deepEqual(structuredOutputSpecOf(parse({ guided_json: { type: 'boolean' } })), { kind: 'json_schema', schema: { type: 'boolean' } });
    assert.deepEqual(structuredOutputSpecOf(parse({ guided_choice: ['x', 'y'] })), { kind: 'choice', choices: ['x', 'y'] });
    assert.deepEqual(structuredOutputSpecOf(parse({ guided_regex: 'a|b' })), { kind: 'regex', pattern: 'a|b' });
    assert.deepEqual(structuredOutputSpecOf(parse({ guided_grammar: 'root ::= "b"' })), { kind: 'grammar', ebnf: 'root ::= "b"' });
    assert.throws(() => structuredOutputSpecOf(parse({ guided_json: '{not json' })), (error: { param?: string; status?: number }) => error.param === 'guided_json' && error.status === 400);
  });

  test('tool_choice: named is the function\'s parameters; required an array of {name, parameters}; auto and none constrain nothing', () => {
    const tools = [weather, { type: 'function', function: { name: 'get_time' } }];
    assert.deepEqual(structuredOutputSpecOf(parse({ tools, tool_choice: { type: 'function', function: { name: 'get_weather' } } })), {
      kind: 'json_schema',
      schema: weather.function.parameters,
    });
    const required = structuredOutputSpecOf(parse({ tools, tool_choice: 'required', parallel_tool_calls: false }));
    assert.deepEqual(required, {
      kind: 'json_schema',
      schema: {
        type: 'array',
        minItems: 1,
        maxItems: 1,
        items: {
          anyOf: [
            { type: 'object', properties: { name: { const: 'get_weather' }, parameters: weather.function.parameters }, required: ['name', 'parameters'], additionalProperties: false },
            { type: 'object', properties: { name: { const: 'get_time' }, parameters: { type: 'object' } }, required: ['name', 'parameters'], additionalProperties: false },
          ],
        },
      },
    });
    assert.equal(structuredOutputSpecOf(parse({ tools, tool_choice: 'auto' })), null);
    assert.equal(structuredOutputSpecOf(parse({ tools })), null);
  });
});

test('agent message fields: an assistant turn with content null and tool_calls, a tool result', () => {
  const messageSchema = chatMessageSchema.extend(agentMessageFields);
  const messages = z.array(messageSchema).parse([
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: '{"temp": 21}' },
  ]);
  assert.equal(messages[0]?.tool_calls?.[0]?.function.name, 'get_weather');
  assert.equal(messages[1]?.tool_call_id, 'call_1');
});
