/**
 * ChatGLM3's tokenizer (`ChatGLMTokenizer`): SentencePiece BPE from `tokenizer.model` plus nine
 * special tokens numbered after its pieces (`[MASK]`, `[gMASK]`, `[sMASK]`, `sop`, `eop` and
 * the role tokens), as tokenization_chatglm.py defines them. Encoding with special tokens puts
 * `[gMASK]sop` first; special-token text inside the input stays text. Decoding follows
 * transformers' path for it (DecodePieces over the token strings): special tokens appear as
 * their text, `<s>`, `</s>` and `<unk>` as nothing.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelLoadError } from '../errors.js';
import { PieceType, readSentencePieceModel } from './sentencepiece-model.js';
import { SentencePieceBpe } from './sentencepiece.js';
import type { DecodeOptions, EncodeOptions, Tokenizer, TokenizerConfig } from './types.js';

export const SENTENCEPIECE_FILE = 'tokenizer.model';

export const CHATGLM_ROLE_TOKENS = ['<|system|>', '<|user|>', '<|assistant|>', '<|observation|>'] as const;
export type ChatGlmRole = 'system' | 'user' | 'assistant' | 'observation';
export const SPECIAL_TOKENS: readonly string[] = ['[MASK]', '[gMASK]', '[sMASK]', 'sop', 'eop', ...CHATGLM_ROLE_TOKENS];
/** What build_inputs_with_special_tokens puts before every input. */
const PREFIX_TOKENS = ['[gMASK]', 'sop'] as const;

/** The names tokenization_chatglm.py hard-codes for transformers' special tokens (`<pad>` is `<unk>`). */
const EOS_TOKEN = '</s>';
const PAD_TOKEN = '<unk>';

export class ChatGlmTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosToken = undefined;
  readonly eosToken = EOS_TOKEN;
  readonly padToken = PAD_TOKEN;
  readonly bosTokenId = undefined;
  readonly eosTokenId: number | undefined;
  readonly padTokenId: number | undefined;
  readonly config: Readonly<TokenizerConfig>;
  /** `[gMASK]`, `sop`: the start of every prompt. */
  readonly prefixIds: readonly number[];

  private readonly specialIds: ReadonlyMap<string, number>;

  constructor(
    private readonly model: SentencePieceBpe,
    config: TokenizerConfig,
  ) {
    this.specialIds = new Map(SPECIAL_TOKENS.map((token, index) => [token, model.numPieces + index]));
    this.vocabSize = model.numPieces + SPECIAL_TOKENS.length;
    this.config = config;
    this.prefixIds = PREFIX_TOKENS.map((token) => this.specialIds.get(token)!);
    this.eosTokenId = model.pieceToId(EOS_TOKEN);
    this.padTokenId = model.pieceToId(PAD_TOKEN);
  }

  static async fromDir(dir: string, config: TokenizerConfig): Promise<ChatGlmTokenizer> {
    const path = join(dir, SENTENCEPIECE_FILE);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (error) {
      throw new ModelLoadError(`${dir}: a ChatGLMTokenizer needs ${SENTENCEPIECE_FILE}: ${(error as Error).message}`);
    }
    try {
      return new ChatGlmTokenizer(new SentencePieceBpe(readSentencePieceModel(bytes)), config);
    } catch (error) {
      throw new ModelLoadError(`${path}: ${(error as Error).message}`);
    }
  }

  /** The id of `[gMASK]`, `sop`, `<|user|>` and the other tokens tokenization_chatglm.py adds. */
  specialId(token: string): number {
    const id = this.specialIds.get(token);
    if (id === undefined) throw new Error(`${token} is not a ChatGLM special token`);
    return id;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const ids = this.model.encode(text);
    return options.addSpecialTokens === false ? ids : [...this.prefixIds, ...ids];
  }

  /**
   * NOTE: skipSpecialTokens also leaves out the nine added tokens (transformers would print
   * them), so that a reply never shows `<|user|>` or `[gMASK]`.
   */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const skipSpecial = options.skipSpecialTokens === true;
    // NOTE: tokenization_chatglm.py spells <unk>, <s> and </s> as '' (SentencePiece alone would print <unk> as ' ⁇ ').
    const kept = ids.filter((id) => id >= 0 && id < this.vocabSize && !this.isSentencePieceSpecial(id) && !(skipSpecial && this.isAddedSpecial(id)));
    return this.model.decode(kept, (id) => SPECIAL_TOKENS[id - this.model.numPieces]);
  }

  idToToken(id: number): string | undefined {
    if (this.isAddedSpecial(id)) return SPECIAL_TOKENS[id - this.model.numPieces];
    return this.model.pieces[id]?.piece;
  }

  decodeToken(id: number): string {
    return this.decode([id]);
  }

  tokenToId(token: string): number | undefined {
    return this.specialIds.get(token) ?? this.model.pieceToId(token);
  }

  /** The added tokens and SentencePiece's control and unknown pieces. */
  isSpecial(id: number): boolean {
    return this.isAddedSpecial(id) || this.isSentencePieceSpecial(id);
  }

  private isSentencePieceSpecial(id: number): boolean {
    const type = this.model.pieces[id]?.type;
    return type === PieceType.Control || type === PieceType.Unknown;
  }

  private isAddedSpecial(id: number): boolean {
    return id >= this.model.numPieces && id < this.vocabSize;
  }
}
