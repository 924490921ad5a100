import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { ModelLoadError } from '../src/model/errors.js';
import { JsonTokenizer, loadTokenizer, type Tokenizer } from '../src/model/tokenizer.js';
import { fixtureDir } from './helpers/paths.js';
import { modelDir, reference } from './helpers/reference.js';

const allGenerations = [...reference.chat, ...reference.raw, ...reference.lora.a.chat, ...reference.lora.a.raw];

describe('Tokenizer (Qwen3 byte-level BPE)', () => {
  let tokenizer: Tokenizer;

  before(async () => {
    tokenizer = await loadTokenizer(modelDir);
  });

  test('loads the 11 MB tokenizer.json in well under a few seconds', async (t) => {
    const start = performance.now();
    await loadTokenizer(modelDir);
    const elapsedMs = performance.now() - start;
    t.diagnostic(`loadTokenizer: ${elapsedMs.toFixed(0)} ms`);
    assert.ok(elapsedMs < 5000, `took ${elapsedMs} ms`);
  });

  test('chat prompt texts encode to the reference ids without added special tokens', () => {
    for (const chat of [...reference.chat, ...reference.lora.a.chat]) {
      assert.ok(chat.prompt_text !== undefined);
      assert.deepEqual(tokenizer.encode(chat.prompt_text, { addSpecialTokens: false }), chat.prompt_ids);
    }
  });

  test('raw prompts encode to the reference ids (Qwen adds no BOS either way)', () => {
    for (const raw of [...reference.raw, ...reference.lora.a.raw]) {
      assert.ok(raw.prompt !== undefined);
      assert.deepEqual(tokenizer.encode(raw.prompt), raw.prompt_ids);
      assert.deepEqual(tokenizer.encode(raw.prompt, { addSpecialTokens: false }), raw.prompt_ids);
    }
  });

  test('decoding every reference output skipping special tokens gives its text', () => {
    for (const generation of allGenerations) {
      assert.equal(tokenizer.decode(generation.output_ids, { skipSpecialTokens: true }), generation.text);
    }
  });

  test('special tokens come from tokenizer_config.json', () => {
    assert.equal(tokenizer.vocabSize, 151669);
    assert.equal(tokenizer.eosToken, '<|im_end|>');
    assert.equal(tokenizer.eosTokenId, 151645);
    assert.equal(tokenizer.padToken, '<|endoftext|>');
    assert.equal(tokenizer.padTokenId, 151643);
    assert.equal(tokenizer.bosToken, undefined);
    assert.equal(tokenizer.bosTokenId, undefined);
    assert.ok(tokenizer.isSpecial(151645));
    assert.ok(tokenizer.isSpecial(151643));
    // <tool_call> is an added token but not a special one: decode keeps it.
    assert.ok(!tokenizer.isSpecial(151657));
    assert.equal(tokenizer.decode([151657], { skipSpecialTokens: true }), '<tool_call>');
  });

  test('decode keeps special tokens unless asked to skip them', () => {
    const ids = [...tokenizer.encode('Hi'), 151645];
    assert.equal(tokenizer.decode(ids), 'Hi<|im_end|>');
    assert.equal(tokenizer.decode(ids, { skipSpecialTokens: true }), 'Hi');
  });

  test('ids past the vocabulary (padded embedding rows) and empty input decode to nothing', () => {
    assert.equal(tokenizer.decode([]), '');
    assert.equal(tokenizer.decode([151700, 151935]), '');
    assert.equal(tokenizer.decode([...tokenizer.encode('a'), 151935]), 'a');
  });

  test('idToToken gives the vocabulary entry, decodeToken its text', () => {
    const [fox] = tokenizer.encode(' fox');
    assert.ok(fox !== undefined);
    assert.equal(tokenizer.idToToken(fox), 'Ġfox');
    assert.equal(tokenizer.decodeToken(fox), ' fox');
    assert.equal(tokenizer.tokenToId('Ġfox'), fox);
    assert.equal(tokenizer.decodeToken(151645), '<|im_end|>');
    // The byte-level token for the lone byte 0xE4 (the start of a CJK character).
    const leadByte = tokenizer.tokenToId('ä');
    assert.ok(leadByte !== undefined);
    assert.equal(tokenizer.decodeToken(leadByte), '\uFFFD');
    assert.equal(tokenizer.idToToken(151700), undefined);
  });

  test('encodes a 1,200-token prompt quickly', (t) => {
    const longIds = reference.logprobs.find((entry) => entry.ids.length === 1200)?.ids;
    assert.ok(longIds !== undefined);
    const text = tokenizer.decode(longIds);
    const start = performance.now();
    const ids = tokenizer.encode(text, { addSpecialTokens: false });
    const elapsedMs = performance.now() - start;
    t.diagnostic(`encode of ${ids.length} tokens: ${elapsedMs.toFixed(1)} ms`);
    assert.equal(tokenizer.decode(ids), text);
    assert.ok(elapsedMs < 500, `took ${elapsedMs} ms`);
  });

  test('clean_up_tokenization_spaces is ignored for BPE unless forced, as in transformers 5', () => {
    const tokenizerJson = JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
    const ids = tokenizer.encode('x != y , z');
    const asked = new JsonTokenizer(tokenizerJson, { clean_up_tokenization_spaces: true });
    assert.equal(asked.decode(ids), 'x != y , z');
    const forced = new JsonTokenizer(tokenizerJson, {
      clean_up_tokenization_spaces: true,
      clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output: true,
    });
    assert.equal(forced.decode(ids), 'x!= y, z');
  });

  test('a directory without tokenizer.json is a ModelLoadError', async () => {
    await assert.rejects(loadTokenizer(fixtureDir), ModelLoadError);
  });
});
