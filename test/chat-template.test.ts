import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { ChatTemplate, ChatTemplateError, type TemplateTokenizer } from '../src/chat/template.js';
import { loadTokenizer, type Tokenizer } from '../src/model/tokenizer.js';
import { modelDir, reference } from './helpers/reference.js';

const chats = [...reference.chat, ...reference.lora.a.chat];

/** A stand-in tokenizer for templates that only need token strings and a config. */
function fakeTokenizer(config: Record<string, unknown> = {}): TemplateTokenizer {
  return { bosToken: '<s>', eosToken: '</s>', padToken: undefined, config };
}

describe('ChatTemplate from the fixture model', () => {
  let tokenizer: Tokenizer;
  let template: ChatTemplate;

  before(async () => {
    tokenizer = await loadTokenizer(modelDir);
    const loaded = await ChatTemplate.fromDir(modelDir, tokenizer);
    assert.ok(loaded !== undefined);
    template = loaded;
  });

  test('every fixture conversation renders to its prompt_text and encodes to its prompt_ids', () => {
    for (const chat of chats) {
      const text = template.render(chat.messages);
      assert.equal(text, chat.prompt_text);
      assert.deepEqual(tokenizer.encode(text, { addSpecialTokens: false }), chat.prompt_ids);
    }
  });

  test('the built-in qwen template renders the fixtures identically', () => {
    const qwen = ChatTemplate.builtin('qwen', tokenizer);
    for (const chat of chats) assert.equal(qwen.render(chat.messages), chat.prompt_text);
  });

  test('without a generation prompt the text ends after the last message', () => {
    const messages = [{ role: 'user', content: 'hi' }];
    assert.equal(
      template.render(messages, { addGenerationPrompt: false }),
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n',
    );
  });
});

describe('ChatTemplate sources and options', () => {
  test('chatml has no default system prompt', () => {
    const chatml = ChatTemplate.builtin('chatml', fakeTokenizer());
    assert.equal(chatml.render([{ role: 'user', content: 'hi' }]), '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
  });

  test('llama3 puts BOS once and trims content', () => {
    const llama3 = ChatTemplate.builtin('llama3', fakeTokenizer());
    const text = llama3.render([
      { role: 'system', content: 'Be brief. ' },
      { role: 'user', content: ' hi' },
    ]);
    assert.equal(
      text,
      '<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  test('a list of named templates: default, tool_use when tools are given, or one by name', () => {
    const template = ChatTemplate.fromTokenizerConfig(
      fakeTokenizer({
        chat_template: [
          { name: 'default', template: 'D{{ messages | length }}' },
          { name: 'tool_use', template: 'T{{ tools[0].function.name }}' },
          { name: 'rag', template: 'R' },
        ],
      }),
    );
    assert.ok(template !== undefined);
    assert.deepEqual(template.names, ['default', 'tool_use', 'rag']);
    const messages = [{ role: 'user', content: 'x' }];
    assert.equal(template.render(messages), 'D1');
    assert.equal(template.render(messages, { tools: [{ type: 'function', function: { name: 'f' } }] }), 'Tf');
    assert.equal(template.render(messages, { templateName: 'rag' }), 'R');
    assert.throws(() => template.render(messages, { templateName: 'nope' }), ChatTemplateError);
  });

  test('a config without chat_template gives none; a malformed one is an error', () => {
    assert.equal(ChatTemplate.fromTokenizerConfig(fakeTokenizer()), undefined);
    assert.throws(() => ChatTemplate.fromTokenizerConfig(fakeTokenizer({ chat_template: 3 })), ChatTemplateError);
    assert.throws(() => ChatTemplate.fromTokenizerConfig(fakeTokenizer({ chat_template: '{% if %}' })), ChatTemplateError);
  });

  test('special tokens, kwargs and tools reach the template; kwargs cannot replace messages', () => {
    const template = new ChatTemplate(
      new Map([['default', '{{ bos_token }}|{{ eos_token }}|{{ enable_thinking }}|{{ messages[0].content }}|{{ tools is none }}']]),
      fakeTokenizer(),
    );
    const messages = [{ role: 'user', content: 'm' }];
    assert.equal(template.render(messages, { kwargs: { enable_thinking: false, messages: [] } }), '<s>|</s>|false|m|true');
  });

  test('raise_exception in a template becomes a ChatTemplateError with its message', () => {
    const template = new ChatTemplate(new Map([['default', "{{ raise_exception('roles must alternate') }}"]]), fakeTokenizer());
    assert.throws(() => template.render([]), /roles must alternate/);
    assert.throws(() => template.render([]), ChatTemplateError);
  });

  test('chat_template.jinja in the model directory wins over tokenizer_config.json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swiftlet-template-'));
    try {
      writeFileSync(join(dir, 'chat_template.jinja'), 'J{{ messages[0].content }}');
      const template = await ChatTemplate.fromDir(dir, fakeTokenizer({ chat_template: 'C' }));
      assert.equal(template?.render([{ role: 'user', content: 'x' }]), 'Jx');
      rmSync(join(dir, 'chat_template.jinja'));
      assert.equal((await ChatTemplate.fromDir(dir, fakeTokenizer({ chat_template: 'C' })))?.render([]), 'C');
      assert.equal(await ChatTemplate.fromDir(dir, fakeTokenizer()), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
