import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConversationError, flattenContent, swiftToMessages, type ChatMessage } from '../src/chat/conversation.js';
import { ChatTemplate } from '../src/chat/template.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import { modelDir, reference } from './helpers/reference.js';

describe('SWIFT query/history to messages', () => {
  test('history turns become user/assistant pairs before the query', () => {
    const messages = swiftToMessages({
      system: 'Be terse.',
      history: [['浙江的省会在哪?', '浙江省会是杭州市。']],
      query: '这有什么好吃的',
    });
    assert.deepEqual(messages, [
      { role: 'system', content: 'Be terse.' },
      { role: 'user', content: '浙江的省会在哪?' },
      { role: 'assistant', content: '浙江省会是杭州市。' },
      { role: 'user', content: '这有什么好吃的' },
    ]);
  });

  test('no system leaves the template its default; an empty one is kept', () => {
    assert.deepEqual(swiftToMessages({ query: 'q' }), [{ role: 'user', content: 'q' }]);
    assert.deepEqual(swiftToMessages({ query: 'q', history: null, system: null }), [{ role: 'user', content: 'q' }]);
    assert.deepEqual(swiftToMessages({ query: 'q', system: '' })[0], { role: 'system', content: '' });
  });

  test('the fixture multi-turn conversation in SWIFT form renders to the same prompt', async () => {
    const dir = modelDir;
    const multiTurn = reference.chat.find((chat) => chat.messages.length === 3);
    assert.ok(multiTurn !== undefined);
    const template = await ChatTemplate.fromDir(dir, await loadTokenizer(dir));
    const messages = swiftToMessages({ history: [['浙江的省会在哪?', '浙江省会是杭州市。']], query: '这有什么好吃的' });
    assert.equal(template?.render(messages), multiTurn.prompt_text);
  });

  test('a malformed history turn is a ConversationError naming it', () => {
    const history = [['q', 'a'], ['only one']] as unknown as [string, string][];
    assert.throws(() => swiftToMessages({ query: 'q', history }), (error: unknown) => {
      return error instanceof ConversationError && error.message.includes('history[1]');
    });
  });
});

describe('content parts to strings', () => {
  test('text parts are joined by newlines; string content is untouched', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'sys' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'first' },
          { type: 'text', text: 'second' },
        ],
        name: 'alice',
      },
    ];
    assert.deepEqual(flattenContent(messages), [
      { role: 'system', content: 'sys' },
      { role: 'user', content: 'first\nsecond', name: 'alice' },
    ]);
  });

  test('a non-text part is refused, not dropped', () => {
    const messages: ChatMessage[] = [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }];
    assert.throws(() => flattenContent(messages), /messages\[0\]\.content\[0\]: part type 'image_url'/);
  });
});
