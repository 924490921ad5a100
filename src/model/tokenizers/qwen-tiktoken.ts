/**
 * Qwen v1's tokenizer (`QWenTokenizer`): byte-level BPE ranks from `qwen.tiktoken`, run by the
 * `tiktoken` package (tiktoken's own Rust core as WASM), with tokenization_qwen.py's split
 * pattern and special tokens. Text is NFC-normalised first and special-token text in it is
 * encoded as the special token, both as the reference does.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tiktoken } from 'tiktoken/lite';
import { ModelLoadError } from '../errors.js';
import { byteLevelToBytes, bytesToByteLevel } from './byte-level.js';
import { configTokens } from './config-tokens.js';
import type { DecodeOptions, EncodeOptions, Tokenizer, TokenizerConfig } from './types.js';

export const QWEN_TIKTOKEN_FILE = 'qwen.tiktoken';

/** tokenization_qwen.py's PAT_STR. */
const SPLIT_PATTERN = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

/** NOTE: fixed ids, not "after the ranks", as the current tokenization_qwen.py numbers them. */
export const SPECIAL_START_ID = 151643;
const NUM_EXTRA_TOKENS = 205;
export const QWEN_ENDOFTEXT = '<|endoftext|>';
export const QWEN_IM_START = '<|im_start|>';
export const QWEN_IM_END = '<|im_end|>';
export const SPECIAL_TOKENS: readonly string[] = [
  QWEN_ENDOFTEXT,
  QWEN_IM_START,
  QWEN_IM_END,
  ...Array.from({ length: NUM_EXTRA_TOKENS }, (_, index) => `<|extra_${index}|>`),
];

export class QwenTiktokenTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  readonly padToken: string | undefined;
  readonly bosTokenId: number | undefined;
  readonly eosTokenId: number | undefined;
  readonly padTokenId: number | undefined;
  readonly config: Readonly<TokenizerConfig>;

  private readonly encoding: Tiktoken;
  private readonly specialIds: ReadonlyMap<string, number>;
  private readonly utf8 = new TextDecoder('utf-8');

  /** `ranks` is the text of qwen.tiktoken: one `base64(token bytes) rank` per line. */
  constructor(ranks: string, config: TokenizerConfig) {
    this.specialIds = new Map(SPECIAL_TOKENS.map((token, index) => [token, SPECIAL_START_ID + index]));
    this.encoding = new Tiktoken(ranks, Object.fromEntries(this.specialIds), SPLIT_PATTERN);
    this.vocabSize = SPECIAL_START_ID + SPECIAL_TOKENS.length;
    this.config = config;
    ({ bosToken: this.bosToken, eosToken: this.eosToken, padToken: this.padToken } = configTokens(config));
    this.bosTokenId = this.tokenIdOf(this.bosToken);
    this.eosTokenId = this.tokenIdOf(this.eosToken);
    this.padTokenId = this.tokenIdOf(this.padToken);
  }

  static async fromDir(dir: string, config: TokenizerConfig): Promise<QwenTiktokenTokenizer> {
    const path = join(dir, QWEN_TIKTOKEN_FILE);
    let ranks: string;
    try {
      ranks = await readFile(path, 'utf8');
    } catch (error) {
      throw new ModelLoadError(`${dir}: a QWenTokenizer needs ${QWEN_TIKTOKEN_FILE}: ${(error as Error).message}`);
    }
    try {
      return new QwenTiktokenTokenizer(ranks, config);
    } catch (error) {
      throw new ModelLoadError(`${path}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Qwen adds no prefix tokens, so `addSpecialTokens` changes nothing. */
  encode(text: string, _options: EncodeOptions = {}): number[] {
    return Array.from(this.encoding.encode(text.normalize('NFC'), 'all', []));
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    // NOTE: tokenization_qwen.py's skip_special_tokens keeps only ids below <|endoftext|>.
    const limit = options.skipSpecialTokens === true ? SPECIAL_START_ID : this.vocabSize;
    const kept = ids.filter((id) => id >= 0 && id < limit);
    if (kept.length === 0) return '';
    return this.utf8.decode(this.encoding.decode(Uint32Array.from(kept)));
  }

  /** Special tokens as their text, the others in GPT-2's byte-level spelling (Qwen2's tokenizer.json spells them so too). */
  idToToken(id: number): string | undefined {
    if (id < 0 || id >= this.vocabSize) return undefined;
    if (this.isSpecial(id)) return SPECIAL_TOKENS[id - SPECIAL_START_ID];
    return bytesToByteLevel(this.encoding.decode_single_token_bytes(id));
  }

  decodeToken(id: number): string {
    return this.decode([id]);
  }

  tokenToId(token: string): number | undefined {
    const special = this.specialIds.get(token);
    if (special !== undefined) return special;
    const bytes = byteLevelToBytes(token);
    if (bytes === undefined) return undefined;
    try {
      return this.encoding.encode_single_token(bytes);
    } catch {
      return undefined;
    }
  }

  isSpecial(id: number): boolean {
    return id >= SPECIAL_START_ID && id < this.vocabSize;
  }

  private tokenIdOf(token: string | undefined): number | undefined {
    return token === undefined ? undefined : this.tokenToId(token);
  }
}
