/**
 * What every tokenizer kind offers the rest of swiftlet (engine, detokenizer, chat templates,
 * OpenAI rendering): text to ids and back, special tokens, and its tokenizer_config.json.
 * The kinds: `tokenizer.json` (model/tokenizer.ts), Qwen v1's `qwen.tiktoken`
 * (qwen-tiktoken.ts) and ChatGLM3's SentencePiece `tokenizer.model` (chatglm.ts).
 */

export type TokenizerConfig = Record<string, unknown>;

export interface EncodeOptions {
  /** Let the tokenizer add its prefix tokens (BOS, ChatGLM's `[gMASK]sop`); defaults to true, as in transformers. Chat prompts pass false. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave out tokens marked special; defaults to false, as in transformers. */
  skipSpecialTokens?: boolean;
}

export interface Tokenizer {
  /** Number of token ids the tokenizer knows (may be fewer than the model's embedding rows). */
  readonly vocabSize: number;
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  readonly padToken: string | undefined;
  readonly bosTokenId: number | undefined;
  readonly eosTokenId: number | undefined;
  readonly padTokenId: number | undefined;
  /** The whole `tokenizer_config.json`, for the chat template and anything else that reads it. */
  readonly config: Readonly<TokenizerConfig>;

  encode(text: string, options?: EncodeOptions): number[];
  /** NOTE: ids past the vocabulary (a model's padded embedding rows) decode to nothing. */
  decode(ids: readonly number[], options?: DecodeOptions): string;
  /** The vocabulary entry itself (byte-level BPE spells a leading space `Ġ`, SentencePiece `▁`). */
  idToToken(id: number): string | undefined;
  /** The text of one token alone, as vLLM reports it in logprobs: half a character decodes to U+FFFD. */
  decodeToken(id: number): string;
  tokenToId(token: string): number | undefined;
  isSpecial(id: number): boolean;
}
