/** ChatGLM3's `tool_call(...)` Python literals: read as JSON values, and JSON values written back as `repr` writes them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pythonLiteral, toolCallArguments, toolCallCode } from '../src/tools/python-literal.js';

test('keyword arguments of every literal kind, with escapes, become JSON values', () => {
  const code = String.raw`tool_call(a='it\'s', b="say \"hi\"\n", c=(1, 2.5, -3e2), d={'k': [True, False, None]}, e='\u00e9', f=[],)`;
  assert.deepEqual(toolCallArguments(code), { a: "it's", b: 'say "hi"\n', c: [1, 2.5, -300], d: { k: [true, false, null] }, e: 'é', f: [] });
  assert.deepEqual(toolCallArguments('tool_call()'), {});
});

test('anything but a call of literals is refused, never evaluated', () => {
  for (const code of ['tool_call(x=open("f"))', 'other(x=1)', 'tool_call(x=1) + 1', "tool_call(x='open)", 'tool_call(1)']) {
    assert.equal(toolCallArguments(code), null, code);
  }
});

test('JSON values written as Python literals read back the same', () => {
  const args = { city: "Xi'an", note: 'a "b"\tc', n: 3, x: 0.25, ok: true, none: null, list: [1, 'two'], nested: { k: false } };
  assert.equal(pythonLiteral("Xi'an"), `"Xi'an"`, 'repr picks double quotes for a single quote');
  assert.equal(pythonLiteral('both \' and "'), String.raw`'both \' and "'`);
  assert.equal(toolCallCode({ location: 'Beijing', unit: 'celsius' }), "tool_call(location='Beijing', unit='celsius')");
  assert.deepEqual(toolCallArguments(toolCallCode(args)), args);
});
