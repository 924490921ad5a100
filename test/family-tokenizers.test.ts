/**
 * Qwen v1 (qwen.tiktoken) and ChatGLM3 (SentencePiece) tokenizers and chat prompts against what
 * their reference code computes (test/fixtures/tiny-*.ref.json `tokenizer`: tokenization_qwen.py,
 * tokenization_chatglm.py, qwen_generation_utils.make_context, build_chat_input), and streamed
 * decoding through the engine's incremental detokenizer.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { ChatTemplate } from '../src/chat/template.js';
import { buildChatGlm3Input } from '../src/chat/chatglm3-input.js';
import type { ChatMessage } from '../src/chat/conversation.js';
import { chatStopTokenIds } from '../src/chat/stop-tokens.js';
import { IncrementalDetokenizer } from '../src/engine/detokenizer.js';
import { loadTokenizer, type Tokenizer } from '../src/model/tokenizer.js';
import { ChatGlmTokenizer } from '../src/model/tokenizers/chatglm.js';
import { QwenTiktokenTokenizer } from '../src/model/tokenizers/qwen-tiktoken.js';
import { fixtureDir } from './helpers/paths.js';

interface EncodeCase {
  text: string;
  ids: number[];
  ids_no_special?: number[];
  decoded: string;
  decoded_skip_special: string;
}
interface ChatCase {
  messages: ChatMessage[];
  prompt_text: string;
  prompt_ids: number[];
}
interface FamilyReference {
  eos: number[];
  tokenizer: { vocab_size: number; encode: EncodeCase[]; chat: ChatCase[] };
  chat: { output_ids: number[] }[];
  raw: { output_ids: number[] }[];
}

function referenceOf(name: string): FamilyReference {
  return JSON.parse(readFileSync(join(fixtureDir, `${name}.ref.json`), 'utf8')) as FamilyReference;
}

function streamed(tokenizer: Tokenizer, promptIds: number[], ids: number[]): string {
  const detokenizer = new IncrementalDetokenizer(tokenizer, promptIds, true);
  return ids.map((id) => detokenizer.push([id])).join('') + detokenizer.flush();
}

describe('Qwen v1 tokenizer (qwen.tiktoken)', () => {
  const reference = referenceOf('tiny-qwen1');
  let tokenizer: Tokenizer;
  before(async () => {
    tokenizer = await loadTokenizer(join(fixtureDir, 'tiny-qwen1'));
  });

  test('tokenizer_class QWenTokenizer loads the tiktoken kind with the reference vocabulary size', () => {
    assert.ok(tokenizer instanceof QwenTiktokenTokenizer);
    assert.equal(tokenizer.vocabSize, reference.tokenizer.vocab_size);
  });

  test('encodes and decodes the mixed corpus exactly as tokenization_qwen.py', () => {
    for (const entry of reference.tokenizer.encode) {
      assert.deepEqual(tokenizer.encode(entry.text), entry.ids, JSON.stringify(entry.text));
      assert.equal(tokenizer.decode(entry.ids), entry.decoded);
      assert.equal(tokenizer.decode(entry.ids, { skipSpecialTokens: true }), entry.decoded_skip_special);
    }
  });

  test('token strings are byte-level, special tokens by name, and map back to their ids', () => {
    assert.equal(tokenizer.idToToken(220), 'Ġ');
    assert.equal(tokenizer.idToToken(151645), '<|im_end|>');
    assert.equal(tokenizer.tokenToId('<|extra_204|>'), 151850);
    for (const id of [0, 198, 108386, 151642]) assert.equal(tokenizer.tokenToId(tokenizer.idToToken(id)!), id);
    assert.ok(tokenizer.isSpecial(151643) && !tokenizer.isSpecial(151642));
  });

  test("the built-in 'qwen' template renders make_context's ChatML token for token", () => {
    const template = ChatTemplate.builtin('qwen', tokenizer);
    for (const chat of reference.tokenizer.chat) {
      const text = template.render(chat.messages);
      assert.equal(text, chat.prompt_text);
      assert.deepEqual(tokenizer.encode(text, { addSpecialTokens: false }), chat.prompt_ids);
    }
    const withoutSystem = reference.tokenizer.chat[0]!.messages.filter((message) => message.role !== 'system');
    assert.equal(template.render(withoutSystem), reference.tokenizer.chat[0]!.prompt_text, 'the default system prompt is chat()\'s');
  });

  test('chat stops at <|endoftext|>, <|im_end|> and <|im_start|>', () => {
    assert.deepEqual(new Set(chatStopTokenIds(tokenizer)), new Set(reference.eos));
  });

  test('the incremental detokenizer streams the reference generations as one decode does', () => {
    for (const { output_ids } of [...reference.chat, ...reference.raw]) {
      assert.equal(streamed(tokenizer, [], output_ids), tokenizer.decode(output_ids, { skipSpecialTokens: true }));
    }
  });
});

describe('ChatGLM3 tokenizer (SentencePiece tokenizer.model)', () => {
  const reference = referenceOf('tiny-chatglm3');
  let tokenizer: ChatGlmTokenizer;
  before(async () => {
    const loaded = await loadTokenizer(join(fixtureDir, 'tiny-chatglm3'));
    assert.ok(loaded instanceof ChatGlmTokenizer);
    tokenizer = loaded;
  });

  test('has the reference vocabulary size, prefix tokens and special tokens after the pieces', () => {
    assert.equal(tokenizer.vocabSize, reference.tokenizer.vocab_size);
    assert.deepEqual(tokenizer.prefixIds, [64790, 64792]);
    assert.equal(tokenizer.specialId('<|user|>'), 64795);
    assert.equal(tokenizer.eosTokenId, 2);
  });

  test('encodes the mixed corpus exactly as tokenization_chatglm.py, with and without [gMASK]sop', () => {
    for (const entry of reference.tokenizer.encode) {
      assert.deepEqual(tokenizer.encode(entry.text), entry.ids, JSON.stringify(entry.text));
      assert.deepEqual(tokenizer.encode(entry.text, { addSpecialTokens: false }), entry.ids_no_special);
    }
  });

  test('decodes as transformers does, special tokens as text unless skipped', () => {
    for (const entry of reference.tokenizer.encode) assert.equal(tokenizer.decode(entry.ids), entry.decoded, JSON.stringify(entry.text));
    assert.equal(tokenizer.decode([64790, 64792, 13755], { skipSpecialTokens: true }), 'Hello');
    assert.equal(tokenizer.decode([2, 0, 1, 30910, 13, 24954]), '\n hello', 'control pieces are invisible; the dummy-prefix space goes once');
  });

  test('characters outside the vocabulary go through byte pieces and stream back whole', () => {
    const text = 'ok 𐍈𐌰 ok';
    const ids = tokenizer.encode(text, { addSpecialTokens: false });
    assert.ok(ids.some((id) => id >= 3 && id < 259), 'byte fallback pieces');
    assert.equal(tokenizer.decode(ids), text);
    assert.equal(streamed(tokenizer, [], ids), text);
  });

  test('build_chat_input token for token, its decoded text as the reference prints it', () => {
    for (const chat of reference.tokenizer.chat) {
      const ids = buildChatGlm3Input(tokenizer, chat.messages);
      assert.deepEqual(ids, chat.prompt_ids, JSON.stringify(chat.messages));
      assert.equal(tokenizer.decode(ids), chat.prompt_text);
    }
  });

  test('an unknown role is refused', () => {
    assert.throws(() => buildChatGlm3Input(tokenizer, [{ role: 'tool', content: 'x' }]), /role 'tool' is not one ChatGLM3 knows/);
  });

  test('chat stops at </s>, <|user|> and <|observation|>', () => {
    assert.deepEqual(new Set(chatStopTokenIds(tokenizer)), new Set(reference.eos));
  });

  test('the incremental detokenizer streams the reference generations as one decode does', () => {
    for (const { output_ids } of [...reference.chat, ...reference.raw]) {
      assert.equal(streamed(tokenizer, [64796], output_ids), tokenizer.decode(output_ids, { skipSpecialTokens: true }));
    }
  });
});
