/**
 * Qwen v1's `qwen.tiktoken` as llama.cpp's byte-level BPE (`gpt2`) keys. tiktoken has ranks,
 * not merges: the merge that makes a token is found by running BPE on its bytes with the
 * lower-ranked tokens only, which must end in exactly two parts (as llama.cpp's converter
 * derives them). Merges are listed in rank order, so llama.cpp's merge priority is tiktoken's.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelLoadError } from '../errors.js';
import { bytesToByteLevel } from '../tokenizers/byte-level.js';
import { QWEN_ENDOFTEXT, QWEN_TIKTOKEN_FILE, SPECIAL_START_ID, SPECIAL_TOKENS } from '../tokenizers/qwen-tiktoken.js';
import type { ModelSpec } from '../spec.js';
import type { GgufBuilder } from './gguf-file.js';
import type { TokenizerMetadataOptions } from './tokenizer-metadata.js';
import { GgufVocabulary, TOKEN_TYPE } from './vocabulary.js';

/** tokenization_qwen.py's split pattern is the one llama.cpp knows as Qwen2's. */
const QWEN_PRE_TOKENIZER = 'qwen2';

/** Token bytes as a latin1 string (one char a byte), so that they key a Map and concatenate cheaply. */
type ByteString = string;

/** qwen.tiktoken's `base64(token bytes) rank` lines, in rank order. */
export function readTiktokenRanks(text: string, path: string): ByteString[] {
  const tokens: ByteString[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [encoded, rank] = line.split(' ');
    if (encoded === undefined || Number(rank) !== tokens.length) throw new ModelLoadError(`${path}: line "${line}" is not "base64 rank" in rank order`);
    tokens.push(Buffer.from(encoded, 'base64').toString('latin1'));
  }
  return tokens;
}

/** The two tokens whose merge makes `token`: BPE over its bytes with the tokens ranked below `rank`. */
export function mergeOf(token: ByteString, rank: number, ranks: ReadonlyMap<ByteString, number>): [ByteString, ByteString] {
  const parts = [...token];
  for (;;) {
    let best = -1;
    let bestRank = rank;
    for (let i = 0; i + 1 < parts.length; i++) {
      const pairRank = ranks.get(parts[i]! + parts[i + 1]!);
      if (pairRank !== undefined && pairRank < bestRank) {
        best = i;
        bestRank = pairRank;
      }
    }
    if (best < 0) break;
    parts.splice(best, 2, parts[best]! + parts[best + 1]!);
  }
  if (parts.length !== 2) throw new ModelLoadError(`GGUF export: tiktoken token of rank ${rank} is not one merge of two lower-ranked tokens`);
  return [parts[0]!, parts[1]!];
}

function byteLevel(token: ByteString): string {
  return bytesToByteLevel(Buffer.from(token, 'latin1'));
}

/** Sets the `tokenizer.*` keys from `qwen.tiktoken` in `dir` and tokenization_qwen.py's special tokens. */
export function setQwenTiktokenMetadata(gguf: GgufBuilder, dir: string, spec: ModelSpec, options: TokenizerMetadataOptions = {}): void {
  const path = join(dir, QWEN_TIKTOKEN_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ModelLoadError(`GGUF export: ${dir} has no readable ${QWEN_TIKTOKEN_FILE}: ${(error as Error).message}`);
  }
  const ranked = readTiktokenRanks(text, path);
  const ranks = new Map(ranked.map((token, rank) => [token, rank]));
  const vocabulary = new GgufVocabulary(spec.vocabSize);
  const merges: string[] = [];
  ranked.forEach((token, rank) => {
    vocabulary.place(rank, byteLevel(token));
    if (token.length > 1) merges.push(mergeOf(token, rank, ranks).map(byteLevel).join(' '));
  });
  SPECIAL_TOKENS.forEach((token, index) => vocabulary.place(SPECIAL_START_ID + index, token, TOKEN_TYPE.control));
  const endOfText = SPECIAL_START_ID + SPECIAL_TOKENS.indexOf(QWEN_ENDOFTEXT);

  gguf.set('tokenizer.ggml.model', { type: 'string', value: 'gpt2' });
  gguf.set('tokenizer.ggml.pre', { type: 'string', value: options.tokenizerPre ?? QWEN_PRE_TOKENIZER });
  gguf.set('tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: vocabulary.list() });
  gguf.set('tokenizer.ggml.token_type', { type: 'array', itemType: 'int32', value: vocabulary.types });
  gguf.set('tokenizer.ggml.merges', { type: 'array', itemType: 'string', value: merges });
  // NOTE: <|endoftext|> is every one of Qwen v1's special roles; its tokenizer adds no BOS or EOS.
  for (const key of ['bos', 'eos', 'unknown']) gguf.set(`tokenizer.ggml.${key}_token_id`, { type: 'uint32', value: endOfText });
  gguf.set('tokenizer.ggml.add_bos_token', { type: 'bool', value: false });
  gguf.set('tokenizer.ggml.add_eos_token', { type: 'bool', value: false });
}
