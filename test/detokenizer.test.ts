import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { IncrementalDetokenizer } from '../src/engine/detokenizer.js';
import { loadTokenizer, type Tokenizer } from '../src/model/tokenizer.js';
import { modelDir, reference } from './helpers/reference.js';

const generations = [...reference.chat, ...reference.raw, ...reference.lora.a.chat, ...reference.lora.a.raw];

/** GPT-2's byte-to-character map, which spells every byte as one printable vocabulary entry. */
function byteLevelCharacter(byte: number): string {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  if (printable(byte)) return String.fromCodePoint(byte);
  let shifted = 0;
  for (let b = 0; b < byte; b++) if (!printable(b)) shifted++;
  return String.fromCodePoint(256 + shifted);
}

/** Streams `ids` in chunks of `chunkSize`, then flushes; returns every piece emitted. */
function stream(detokenizer: IncrementalDetokenizer, ids: readonly number[], chunkSize = 1): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < ids.length; i += chunkSize) pieces.push(detokenizer.push(ids.slice(i, i + chunkSize)));
  pieces.push(detokenizer.flush());
  return pieces;
}

describe('IncrementalDetokenizer', () => {
  let tokenizer: Tokenizer;
  /** One token per UTF-8 byte of `text`: the worst split a byte-level model can produce. */
  let byteTokens: (text: string) => number[];

  before(async () => {
    tokenizer = await loadTokenizer(modelDir);
    byteTokens = (text) =>
      [...Buffer.from(text, 'utf8')].map((byte) => {
        const id = tokenizer.tokenToId(byteLevelCharacter(byte));
        assert.ok(id !== undefined, `no token for byte ${byte}`);
        return id;
      });
  });

  test('streaming every fixture output, token by token or in chunks, gives its text', () => {
    for (const generation of generations) {
      for (const chunkSize of [1, 3, 1000]) {
        const detokenizer = new IncrementalDetokenizer(tokenizer, generation.prompt_ids, true);
        assert.equal(stream(detokenizer, generation.output_ids, chunkSize).join(''), generation.text);
      }
    }
  });

  test('with special tokens kept, the stream equals the full decode', () => {
    for (const generation of reference.chat) {
      const ids = [...generation.output_ids, 151645];
      const detokenizer = new IncrementalDetokenizer(tokenizer, generation.prompt_ids, false);
      assert.equal(stream(detokenizer, ids).join(''), tokenizer.decode(ids));
    }
  });

  test('Chinese and emoji split one byte per token never show half a character', () => {
    const text = '你好,世界!🚀 Ünïcödé 👩‍👩‍👧 杭州市。';
    const detokenizer = new IncrementalDetokenizer(tokenizer, tokenizer.encode('prompt:'), true);
    const pieces = stream(detokenizer, byteTokens(text));
    for (const piece of pieces) assert.ok(!piece.includes('\uFFFD'), `emitted ${JSON.stringify(piece)}`);
    assert.equal(pieces.join(''), text);
    // Each character arrives with its last byte, not later.
    assert.equal(pieces.slice(0, 3).join(''), '你');
  });

  test('flush emits an unfinished character as U+FFFD, as a full decode does', () => {
    const start = tokenizer.encode('go ');
    const unfinished = byteTokens('🚀').slice(0, 2);
    const ids = [...start, ...unfinished];
    const detokenizer = new IncrementalDetokenizer(tokenizer, [], true);
    assert.equal(detokenizer.push(start), 'go ');
    assert.equal(detokenizer.push(unfinished), '');
    assert.equal(detokenizer.flush(), '\uFFFD');
    assert.equal(tokenizer.decode(ids), 'go \uFFFD');
    assert.equal(detokenizer.flush(), '');
  });

  test('a prompt ending mid-character does not lend the output its first bytes', () => {
    const bytes = byteTokens('你');
    const prompt = [...tokenizer.encode('x'), ...bytes.slice(0, 1)];
    const output = bytes.slice(1);
    const detokenizer = new IncrementalDetokenizer(tokenizer, prompt, true);
    assert.equal(stream(detokenizer, output).join(''), tokenizer.decode(output));
  });

  test('a long run of invalid bytes or skipped special tokens stays a bounded window', () => {
    const continuationByte = byteTokens('你')[1];
    assert.ok(continuationByte !== undefined);
    const ids = [
      ...Array<number>(200).fill(continuationByte),
      ...tokenizer.encode('ok'),
      ...Array<number>(200).fill(151645),
      ...tokenizer.encode(' done'),
    ];
    const detokenizer = new IncrementalDetokenizer(tokenizer, [], true);
    const pieces = stream(detokenizer, ids);
    assert.equal(pieces.join(''), tokenizer.decode(ids, { skipSpecialTokens: true }));
    assert.ok(pieces.slice(0, 100).join('').length > 0, 'invalid bytes were withheld without bound');
  });

  test('cost per token does not grow with the length of the output', (t) => {
    const ids = tokenizer.encode('The quick brown fox jumps over the lazy dog. 敏捷的棕色狐狸跳过了懒狗。🦊 '.repeat(400));
    const timePerToken = (count: number) => {
      const detokenizer = new IncrementalDetokenizer(tokenizer, [], true);
      const start = performance.now();
      for (const id of ids.slice(0, count)) detokenizer.push([id]);
      return ((performance.now() - start) * 1000) / count;
    };
    timePerToken(2000);
    const short = timePerToken(2000);
    const long = timePerToken(ids.length);
    t.diagnostic(`push: ${short.toFixed(2)} µs/token over 2000 tokens, ${long.toFixed(2)} µs/token over ${ids.length}`);
    assert.ok(long < short * 3, `per-token cost grew from ${short} to ${long} µs`);
  });
});
